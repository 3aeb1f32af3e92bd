/* agent_cert.c owns the identity agent's certificate route: reading a PEM that holds a client
 * certificate and its private key, and trading a client assertion (RFC 7523, signed with that key,
 * header x5t#S256) for an access token at kluisd's adfs token URL. It must never log, print or
 * answer with the key or an assertion; both live in wiping memory only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/agent.h"
#include "cli/client.h"
#include "cli/cmd.h"
#include "crypto/jws.h"
#include "crypto/rand.h"
#include "crypto/x509.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/log.h"

#define ASSERTION_LIFETIME_S 600	/* as MSAL makes them */
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

int agent_cert_load(struct agent_identity *id)
{
	struct x509_chain chain;
	struct x509_info info;
	struct kl_err err = { 0 };
	unsigned char sha1[20], sha256[32];
	struct buf pem, b64;
	int rc = CLI_EFAIL;

	x509_chain_init(&chain);
	x509_info_init(&info);
	buf_init_secret(&pem, X509_UPLOAD_MAX);
	buf_init(&b64, 64);
	if ((rc = cmd_read_file(id->path, X509_UPLOAD_MAX, &pem)) != CLI_OK)
		goto out;
	rc = CLI_EFAIL;
	if (x509_parse_pem((const char *)pem.data, pem.len, NULL, false, &id->key, &chain,
			   &err) != 0 ||
	    x509_info_of(chain.der[0].data, chain.der[0].len, &info, &err) != 0) {
		fprintf(stderr, "kluis: %.200s: %s (a PEM with the private key and its "
				"certificate)\n", id->path, err.msg);
		goto out;
	}
	if (info.kty != KEYOPS_RSA && strcmp(info.crv, "P-256") != 0) {
		fprintf(stderr, "kluis: %.200s: the key must be RSA or EC P-256 (RS256 or ES256 "
				"assertions), not %s\n", id->path, info.crv);
		goto out;
	}
	if (info.not_after < clock_now_s())
		fprintf(stderr, "kluis: warning: the certificate in %.200s has expired: kluisd "
				"will refuse its assertions\n", id->path);
	if (jws_cert_thumbprints(chain.der[0].data, chain.der[0].len, sha1, sha256, &err) != 0 ||
	    b64url_encode(sha256, sizeof(sha256), &b64, &err) != 0 ||
	    b64.len >= sizeof(id->x5t_s256)) {
		fprintf(stderr, "kluis: %.200s: %s\n", id->path, err.msg);
		goto out;
	}
	memcpy(id->x5t_s256, b64.data, b64.len + 1);
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		agent_cert_free(id);
	x509_chain_clear(&chain);
	x509_info_clear(&info);
	buf_clear(&pem);
	buf_clear(&b64);
	return rc;
}

void agent_cert_free(struct agent_identity *id)
{
	keyops_free(id->key);
	id->key = NULL;
}

/* The signed assertion for client_id at token_url, into out (a wiping buffer). */
static int sign_assertion(const struct agent_identity *id, const char *token_url,
			  struct buf *out, struct kl_err *err)
{
	json_t *header = NULL, *claims = NULL;
	int64_t now = clock_now_s();
	char jti[37];
	int rc = -1;

	if (crypto_random_uuid(jti, err) != 0)
		return -1;
	header = json_pack("{s:s}", "x5t#S256", id->x5t_s256);
	claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", token_url, "iss",
			   id->client_id, "sub", id->client_id, "jti", jti, "iat", (json_int_t)now,
			   "nbf", (json_int_t)now, "exp", (json_int_t)(now + ASSERTION_LIFETIME_S));
	if (header == NULL || claims == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	rc = jws_sign(id->key, header, claims, out, err);
out:
	json_decref(header);
	json_decref(claims);
	return rc;
}

/* name=value&, the value percent-encoded. */
static int form_field(struct buf *b, const char *name, const char *value, size_t value_len,
		      struct kl_err *err)
{
	struct buf tmp;
	int rc;

	if (b->len > 0 && buf_putc(b, '&', err) != 0)
		return -1;
	if (buf_append_str(b, name, err) != 0 || buf_putc(b, '=', err) != 0)
		return -1;
	buf_init_secret(&tmp, value_len + 1);	/* http_escape reads a C string */
	rc = buf_append(&tmp, value, value_len, err) == 0 ? http_escape(buf_cstr(&tmp), b, err)
							      : -1;
	buf_clear(&tmp);
	return rc;
}

void agent_cert_fetch(struct agent *a, const struct agent_identity *id, const char *resource,
		      struct agent_answer *ans)
{
	struct http_opts o = { .content_type = "application/x-www-form-urlencoded",
			       .timeout_s = AGENT_FETCH_TIMEOUT_S };
	struct kl_err err = { 0 };
	struct buf assertion, form;
	char token_url[1024], scope[AGENT_RESOURCE_MAX + 16];
	size_t n = strlen(resource);

	buf_init_secret(&assertion, JWS_MAX_BYTES);
	buf_init_secret(&form, 4 * JWS_MAX_BYTES);
	while (n > 0 && resource[n - 1] == '/')	/* "https://management.azure.com/" */
		n--;
	snprintf(scope, sizeof(scope), "%.*s/.default", (int)n, resource);
	snprintf(token_url, sizeof(token_url), "%s/adfs/oauth2/v2.0/token", a->url);
	if (sign_assertion(id, token_url, &assertion, &err) != 0) {
		agent_refuse(ans, 500, "server_error", "cannot sign the client assertion of "
			     "%.200s: %s", id->path, err.msg);
		goto out;
	}
	if (form_field(&form, "grant_type", "client_credentials", 18, &err) != 0 ||
	    form_field(&form, "client_id", id->client_id, strlen(id->client_id), &err) != 0 ||
	    form_field(&form, "scope", scope, strlen(scope), &err) != 0 ||
	    form_field(&form, "client_assertion_type", ASSERTION_TYPE, strlen(ASSERTION_TYPE),
		       &err) != 0 ||
	    form_field(&form, "client_assertion", (const char *)assertion.data, assertion.len,
		       &err) != 0) {
		agent_refuse(ans, 500, "server_error", "out of memory");
		goto out;
	}
	agent_ask_kluisd(a, id, "POST", token_url, &form, &o, ans);
out:
	buf_clear(&assertion);
	buf_clear(&form);
}
