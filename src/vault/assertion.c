/* Client assertions (identity.h, identity_assertion_check): a JWT a client signs with the key of
 * a certificate registered for it (found by its x5t or x5t#S256 thumbprint through
 * identity_cert_find), or a token of the trusted OpenID issuer whose subject is mapped to the
 * client (a federated credential, checked by jwt_verify). A certificate assertion is single-use:
 * its (iss, jti) is noted in the replay register. Never logs or quotes an assertion; every refusal
 * says which check failed and nothing of the token's content. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/jws.h"
#include "crypto/jwt.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/log.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"

#define URL_MAX 2048
#define JTI_MAX 256

static int refuse(struct kl_err *err, const char *why)
{
	return kl_fail_az(err, KL_EUNAUTH, "InvalidClientAssertion", NULL,
			  "The client assertion was refused: %s.", why);
}

/* An https URL in the form compared for aud: lowercase, no default port, no trailing slash.
 * false when it does not fit. */
static bool url_norm(const char *in, char *out, size_t n)
{
	size_t len = strlen(in), i, o = 0;
	const char *host, *end;

	if (len >= n || strncasecmp(in, "https://", 8) != 0)
		return false;
	host = in + 8;
	end = host + strcspn(host, "/");
	for (i = 0; i < len; i++) {
		const char *p = in + i;

		/* ":443" closing the authority is the default port */
		if (p + 4 == end && strncmp(p, ":443", 4) == 0) {
			i += 3;
			continue;
		}
		out[o++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
	}
	while (o > 8 && out[o - 1] == '/')
		o--;
	out[o] = '\0';
	return true;
}

static bool aud_is(json_t *aud, const char *want)
{
	char a[URL_MAX];
	json_t *v;
	size_t i;

	if (json_is_string(aud))
		return url_norm(json_string_value(aud), a, sizeof(a)) && strcmp(a, want) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && url_norm(json_string_value(v), a, sizeof(a)) &&
		    strcmp(a, want) == 0)
			return true;
	return false;
}

/* The header's thumbprint: x5t#S256 (32 bytes) preferred, else x5t (20; padding allowed). */
static int thumbprint(json_t *header, struct buf *thumb, struct kl_err *err)
{
	const char *s256 = json_string_value(json_object_get(header, "x5t#S256"));
	const char *s1 = json_string_value(json_object_get(header, "x5t"));
	const char *t = s256 != NULL ? s256 : s1;
	struct kl_err derr = { 0 };

	if (t == NULL || strlen(t) > 64 || b64url_decode(t, strlen(t), thumb, &derr) != 0 ||
	    thumb->len != (s256 != NULL ? 32u : 20u))
		return refuse(err, "its x5t or x5t#S256 is not a certificate thumbprint");
	return 0;
}

static bool number_in(json_t *v, double *out)
{
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

/* The claims of a certificate assertion, its signature already checked. */
static int check_claims(json_t *c, const char *client_id, const struct principal_ref *who,
			const char *token_url, int64_t now, const char **jti, double *exp,
			struct kl_err *err)
{
	const char *iss = json_string_value(json_object_get(c, "iss"));
	const char *sub = json_string_value(json_object_get(c, "sub"));
	char want[URL_MAX];
	json_t *nbf = json_object_get(c, "nbf"), *iat = json_object_get(c, "iat");
	double t;

	*jti = json_string_value(json_object_get(c, "jti"));
	if (iss == NULL || sub == NULL || strcmp(iss, sub) != 0 ||
	    (strcmp(iss, client_id) != 0 && strcmp(iss, who->id) != 0))
		return refuse(err, "iss and sub must both be the client id");
	if (!url_norm(token_url, want, sizeof(want)) || !aud_is(json_object_get(c, "aud"), want))
		return refuse(err, "aud is not this token endpoint");
	if (!number_in(json_object_get(c, "exp"), exp) || *exp + IDENTITY_SKEW_S <= (double)now)
		return refuse(err, "it expired, or has no exp");
	if (*exp > (double)(now + IDENTITY_ASSERTION_MAX_S + IDENTITY_SKEW_S))
		return refuse(err, "its exp is too far ahead");
	if (nbf != NULL && (!number_in(nbf, &t) || t - IDENTITY_SKEW_S > (double)now))
		return refuse(err, "it is not valid yet (nbf)");
	if (iat != NULL && (!number_in(iat, &t) || t - IDENTITY_SKEW_S > (double)now))
		return refuse(err, "it was issued in the future (iat)");
	if (*jti == NULL || (*jti)[0] == '\0' || strlen(*jti) > JTI_MAX)
		return refuse(err, "it has no usable jti");
	return 0;
}

static int check_certificate(struct vault_core *core, const char *client_id, const char *tok,
			     const struct jws_parts *p, const char *token_url, int64_t now,
			     struct principal_ref *who, char *cred_id, struct kl_err *err)
{
	const char *alg = json_string_value(json_object_get(p->header, "alg")), *jti;
	struct kl_err verr = { 0 };
	struct buf thumb, der;
	bool valid = false;
	double exp = 0;
	int rc = -1;

	buf_init(&thumb, 64);
	buf_init(&der, 64 * 1024);
	if (thumbprint(p->header, &thumb, err) != 0)
		goto out;
	if (identity_cert_find(core, client_id, thumb.data, thumb.len, who, cred_id, &der, err) != 0) {
		if (err->code == KL_EUNAUTH)
			refuse(err, "no live certificate of the client has its thumbprint");
		goto out;	/* PrincipalNotFound, or a store failure, as they are */
	}
	if (jws_verify_cert(der.data, der.len, alg, tok, p, &valid, &verr) != 0) {
		refuse(err, "its alg is not RS256, PS256 or ES256 for the certificate's key");
		goto out;
	}
	if (!valid) {
		refuse(err, "the signature does not verify with the certificate");
		goto out;
	}
	if (check_claims(p->claims, client_id, who, token_url, now, &jti, &exp, err) != 0)
		goto out;
	if (replay_note_at(core, json_string_value(json_object_get(p->claims, "iss")), jti,
			   (int64_t)exp, now, err) != 0) {
		if (err->code == KL_ECONFLICT)
			refuse(err, "it was used before (jti)");
		else if (err->code == KL_EINVAL)
			refuse(err, "its iss or jti is too long");
		goto out;
	}
	rc = 0;
out:
	buf_clear(&thumb);
	buf_clear(&der);
	return rc;
}

static int check_federated(struct vault_core *core, const char *client_id, const char *tok,
			   size_t len, int64_t now, struct principal_ref *who, char *cred_id,
			   struct kl_err *err)
{
	char sub[JWT_SUB_MAX + 1], sid[33];
	struct principal p;
	int rc = -1;

	if (principal_get(core, client_id, &p, err) != 0)
		goto out;	/* PrincipalNotFound */
	if (core->oidc_keys == NULL) {
		refuse(err, "it names no certificate (x5t) and no OpenID issuer is trusted");
		goto out;
	}
	if (jwt_verify(core->oidc_keys, tok, len, core->oidc_issuer, core->oidc_audience, now, sub,
		       NULL, err) != 0) {
		char why[200];

		snprintf(why, sizeof(why), "as a federated token: %.150s", err->msg);
		refuse(err, why);
		goto out;
	}
	if (principal_by_subject(core, sub, who, err) != 0) {
		if (err->code == KL_EUNAUTH)
			refuse(err, "no principal has the federated token's subject");
		goto out;
	}
	if (strcmp(who->id, p.id) != 0) {
		refuse(err, "the federated token's subject belongs to another principal");
		goto out;
	}
	if (accesstoken_subject_id(sub, sid, err) != 0)
		goto out;
	snprintf(cred_id, IDENTITY_CRED_ID_MAX + 1, "%s", sid);
	rc = 0;
out:
	if (rc != 0)
		memset(who, 0, sizeof(*who));
	return rc;
}

/* Does the (unverified) iss name the trusted OpenID issuer? Only chooses the check. */
static bool is_from_oidc_issuer(const struct vault_core *core, const struct jws_parts *p)
{
	const char *iss = json_string_value(json_object_get(p->claims, "iss"));

	return core->oidc_keys != NULL && core->oidc_issuer != NULL && iss != NULL &&
	       strcmp(iss, core->oidc_issuer) == 0;
}

int assertion_check_at(struct vault_core *core, const char *client_id, const char *assertion,
		       size_t len, const char *token_url, int64_t now, struct principal_ref *who,
		       enum identity_cred_kind *kind, char *cred_id, struct kl_err *err)
{
	struct kl_err perr = { 0 };
	struct jws_parts parts;
	struct principal p;
	int rc = -1;

	memset(who, 0, sizeof(*who));
	cred_id[0] = '\0';
	jws_parts_init(&parts);

	if (client_id == NULL || client_id[0] == '\0' || token_url == NULL) {
		refuse(err, "no client id");
		goto out;
	}
	/* An unknown client is that whatever it sent (the token endpoint says unauthorized_client). */
	if (principal_get(core, client_id, &p, err) != 0)
		goto out;
	if (jws_parse(assertion, len, &parts, &perr) != 0) {
		refuse(err, "it is not a compact JWS");
		goto out;
	}
	/* A certificate's JWT names the certificate in its header; so do some issuers' tokens
	 * (GitHub's, Entra ID's), which say whose they are in iss (checked after the signature). */
	if (!is_from_oidc_issuer(core, &parts) &&
	    (json_object_get(parts.header, "x5t#S256") != NULL ||
	     json_object_get(parts.header, "x5t") != NULL)) {
		*kind = IDENTITY_CRED_CERT;
		rc = check_certificate(core, client_id, assertion, &parts, token_url, now, who,
				       cred_id, err);
	} else {
		*kind = IDENTITY_CRED_FEDERATED;
		rc = check_federated(core, client_id, assertion, len, now, who, cred_id, err);
	}
	if (rc != 0) {
		memset(who, 0, sizeof(*who));
		cred_id[0] = '\0';
		LOG_DEBUG(NULL, "client assertion of '%.64s': %s", client_id, err->msg);
	}
out:
	jws_parts_clear(&parts);
	return rc;
}

int identity_assertion_check(struct vault_core *core, const char *client_id, const char *assertion,
			     size_t len, const char *token_url, struct principal_ref *who,
			     enum identity_cred_kind *kind, char *cred_id, struct kl_err *err)
{
	return assertion_check_at(core, client_id, assertion, len, token_url, clock_now_s(), who,
				  kind, cred_id, err);
}
