/* kluis access tokens (identity.h, access tokens): the identity configuration, what a resource
 * names (data or management plane), issuing a token for a grant and verifying one on every
 * request: signature by a signing key of the store, times, tenant, audience, and the principal
 * and the credential it came from still there, so that a deletion or a revocation stops the
 * token at once on every node. Never writes to the store; never logs or quotes a token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto/rand.h"
#include "crypto/token.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/log.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"

#define KID_PREFIX "kl-"
#define HEADER_MAX 1024	/* base64url bytes of a header worth decoding in identity_token_is_ours */

static const char *const data_hosts[] = { "vault.azure.net" };
static const char *const mgmt_hosts[] = { "management.azure.com", "management.core.windows.net" };

void identity_configure(struct vault_core *core, const struct identity_config *cfg)
{
	if (!lower_copy(core->id_dns_suffix, sizeof(core->id_dns_suffix),
			cfg->dns_suffix != NULL ? cfg->dns_suffix : ""))
		core->id_dns_suffix[0] = '\0';
	core->id_lifetime_s = cfg->lifetime_s > 0 ? cfg->lifetime_s : IDENTITY_LIFETIME_DEFAULT_S;
}

static bool host_in(const char *host, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(host, list[i]) == 0)
			return true;
	return false;
}

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* The deployment's suffix without a port ("vault.localhost:8443" names the host vault.localhost). */
static bool under_suffix(const struct vault_core *core, const char *host)
{
	const char *suffix = core->id_dns_suffix, *colon = strchr(suffix, ':');
	size_t slen = colon != NULL ? (size_t)(colon - suffix) : strlen(suffix), hlen = strlen(host);

	if (slen == 0 || hlen < slen || strncmp(host + hlen - slen, suffix, slen) != 0)
		return false;
	return hlen == slen || host[hlen - slen - 1] == '.';
}

enum identity_audience identity_audience_of(const struct vault_core *core, const char *resource,
					    char *norm)
{
	char buf[IDENTITY_RESOURCE_MAX + 16], host[IDENTITY_RESOURCE_MAX + 1];
	char out[IDENTITY_RESOURCE_MAX + 32];
	size_t len, i, h = 0;
	const char *p, *port = NULL;
	bool default_port = false;
	enum identity_audience a = IDENTITY_AUD_ANY;

	norm[0] = '\0';
	if (resource == NULL || (len = strlen(resource)) > IDENTITY_RESOURCE_MAX + 9)
		return IDENTITY_AUD_ANY;
	memcpy(buf, resource, len + 1);
	if (len >= 9 && strcmp(buf + len - 9, "/.default") == 0)
		buf[len -= 9] = '\0';
	while (len > 0 && buf[len - 1] == '/')
		buf[--len] = '\0';
	if (len > IDENTITY_RESOURCE_MAX || strncasecmp(buf, "https://", 8) != 0)
		return IDENTITY_AUD_ANY;
	for (p = buf + 8; *p != '\0' && *p != ':'; p++) {
		char c = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;

		if (!is_host_char(c))
			return IDENTITY_AUD_ANY;	/* a path, a query, user info: not a resource */
		host[h++] = c;
	}
	host[h] = '\0';
	if (*p == ':') {
		port = p + 1;
		for (i = 0; port[i] != '\0'; i++)
			if (port[i] < '0' || port[i] > '9' || i >= 5)
				return IDENTITY_AUD_ANY;
		if (i == 0)
			return IDENTITY_AUD_ANY;
		default_port = strcmp(port, "443") == 0;
	}
	if (h == 0 || host[0] == '.' || host[h - 1] == '.')
		return IDENTITY_AUD_ANY;
	/* Azure's own names with the default port, or the deployment's suffix with any port. */
	if ((port == NULL || default_port) &&
	    host_in(host, data_hosts, sizeof(data_hosts) / sizeof(data_hosts[0])))
		a = IDENTITY_AUD_DATA;
	else if ((port == NULL || default_port) &&
		 host_in(host, mgmt_hosts, sizeof(mgmt_hosts) / sizeof(mgmt_hosts[0])))
		a = IDENTITY_AUD_MGMT;
	else if (under_suffix(core, host))
		a = IDENTITY_AUD_DATA;
	if (a == IDENTITY_AUD_ANY)
		return a;
	/* Management tokens carry Azure's form, with the trailing slash. */
	snprintf(out, sizeof(out), "https://%s%s%s%s", host,
		 port != NULL && !default_port ? ":" : "", port != NULL && !default_port ? port : "",
		 a == IDENTITY_AUD_MGMT ? "/" : "");
	if ((len = strlen(out)) > IDENTITY_RESOURCE_MAX)
		return IDENTITY_AUD_ANY;
	memcpy(norm, out, len + 1);
	return a;
}

int accesstoken_subject_id(const char *subject, char out[33], struct kl_err *err)
{
	unsigned char d[TOKEN_DIGEST_LEN];

	if (token_digest(subject, strlen(subject), d, err) != 0)
		return -1;
	hex_encode(d, 16, out);
	return 0;
}

static bool kind_is_valid(int k)
{
	return k == IDENTITY_CRED_TOKEN || k == IDENTITY_CRED_SECRET || k == IDENTITY_CRED_CERT ||
	       k == IDENTITY_CRED_FEDERATED;
}

/* cnf {"x5t#S256": base64url of the certificate's SHA-256} from its lowercase hex. */
static json_t *cnf_of(const char *hex, struct kl_err *err)
{
	unsigned char d[32];
	struct buf b64;
	json_t *cnf = NULL;
	size_t i;

	buf_init(&b64, 64);
	for (i = 0; i < 32; i++) {
		unsigned hi, lo;

		if (sscanf(hex + 2 * i, "%1x%1x", &hi, &lo) != 2) {
			kl_fail(err, KL_EINTERNAL, "a principal's certificate fingerprint is damaged");
			goto out;
		}
		d[i] = (unsigned char)(hi << 4 | lo);
	}
	if (b64url_encode(d, sizeof(d), &b64, err) != 0)
		goto out;
	if ((cnf = json_pack("{s:s}", "x5t#S256", buf_cstr(&b64))) == NULL)
		kl_fail(err, KL_ENOMEM, "out of memory");
out:
	buf_clear(&b64);
	return cnf;
}

int accesstoken_issue_at(struct vault_core *core, const struct identity_grant *g, int64_t now,
			 struct buf *token, int64_t *expires_on, struct kl_err *err)
{
	char norm[IDENTITY_RESOURCE_MAX + 1], jti[37], cred[IDENTITY_CRED_ID_MAX + 3];
	json_t *header = NULL, *claims = NULL, *cnf = NULL;
	int64_t exp = now + core->id_lifetime_s;
	int rc = -1;

	if (g->who == NULL || g->who->is_admin || g->who->id[0] == '\0') {
		kl_fail(err, KL_EINVAL, "access tokens are for principals only");
		goto out;
	}
	if (!kind_is_valid(g->cred_kind) || g->cred_id == NULL || g->cred_id[0] == '\0' ||
	    strlen(g->cred_id) > IDENTITY_CRED_ID_MAX || strchr(g->cred_id, ':') != NULL) {
		kl_fail(err, KL_EINVAL, "an access token needs the credential it came from");
		goto out;
	}
	if (identity_audience_of(core, g->resource, norm) == IDENTITY_AUD_ANY) {
		kl_fail_az(err, KL_EINVAL, "invalid_resource", NULL,
			   "The resource '%.128s' is not served here.", g->resource ? g->resource : "");
		goto out;
	}
	if (g->issuer == NULL || g->issuer[0] == '\0') {
		kl_fail(err, KL_EINVAL, "an access token needs an issuer");
		goto out;
	}
	snprintf(cred, sizeof(cred), "%c:%s", (char)g->cred_kind, g->cred_id);
	if (crypto_random_uuid(jti, err) != 0)
		goto out;
	header = json_object();
	claims = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
			   "aud", norm, "iss", g->issuer, "iat", (json_int_t)now, "nbf",
			   (json_int_t)now, "exp", (json_int_t)exp, "jti", jti, "sub", g->who->id,
			   "oid", g->who->id, "appid", g->who->id, "azp", g->who->id, "tid",
			   core->tenant, "ver", "2.0", "idtyp", "app", "kl_cred", cred);
	if (header == NULL || claims == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (g->who->client_cert[0] != '\0') {
		if ((cnf = cnf_of(g->who->client_cert, err)) == NULL)
			goto out;
		if (json_object_set_new(claims, "cnf", cnf) != 0) {
			kl_fail(err, KL_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (signkeys_sign(core, header, claims, token, err) != 0)
		goto out;
	*expires_on = exp;
	rc = 0;
out:
	json_decref(header);
	json_decref(claims);
	return rc;
}

int identity_token_issue(struct vault_core *core, const struct identity_grant *g, struct buf *token,
			 int64_t *expires_on, struct kl_err *err)
{
	return accesstoken_issue_at(core, g, clock_now_s(), token, expires_on, err);
}

bool identity_token_is_ours(const char *tok, size_t len)
{
	const char *dot = tok != NULL ? memchr(tok, '.', len < HEADER_MAX ? len : HEADER_MAX) : NULL;
	struct kl_err err = { 0 };
	const char *kid;
	struct buf b;
	json_t *h = NULL;
	bool ours = false;

	if (dot == NULL || dot == tok || len > JWS_MAX_BYTES || strncmp(tok, "eyJ", 3) != 0)
		return false;
	buf_init(&b, HEADER_MAX);
	if (b64url_decode(tok, (size_t)(dot - tok), &b, &err) == 0 &&
	    (h = json_util_parse(b.data, b.len, &err)) != NULL) {
		kid = json_string_value(json_object_get(h, "kid"));
		ours = kid != NULL && strncmp(kid, KID_PREFIX, strlen(KID_PREFIX)) == 0;
	}
	json_decref(h);
	buf_clear(&b);
	return ours;
}

static int refuse(struct kl_err *err, const char *why)
{
	return kl_fail(err, KL_EUNAUTH, "the access token was refused: %s", why);
}

/* Whether the credential named by kl_cred still lets principal p in; *expires_s gets its expiry
 * (0: none). */
static int cred_live(struct vault_core *core, const struct principal *p, const char *kl_cred,
		     int64_t *expires_s, struct kl_err *err)
{
	char sid[33];
	const char *id;

	*expires_s = 0;
	if (kl_cred == NULL || strlen(kl_cred) < 3 || kl_cred[1] != ':' || !kind_is_valid(kl_cred[0]) ||
	    strlen(kl_cred + 2) > IDENTITY_CRED_ID_MAX)
		return refuse(err, "no usable kl_cred");
	id = kl_cred + 2;
	switch (kl_cred[0]) {
	case IDENTITY_CRED_TOKEN:
		if (principal_token_live(core, p->id, id, expires_s, err) == 0)
			return 0;
		if (err->code == KL_EUNAUTH || err->code == KL_ENOTFOUND)
			refuse(err, "its kluis token is no longer live");
		return -1;
	case IDENTITY_CRED_FEDERATED:
		/* The subject may have been unmapped or changed since: it must still be the one. */
		if (p->subject[0] == '\0' || accesstoken_subject_id(p->subject, sid, err) != 0 ||
		    strcmp(sid, id) != 0)
			return refuse(err, "the principal's OpenID subject changed");
		return 0;
	default:	/* a client secret or certificate */
		if (identity_credential_live(core, p->id, id, expires_s, err) == 0)
			return 0;
		if (err->code == KL_EUNAUTH || err->code == KL_ENOTFOUND)
			refuse(err, "its credential was revoked, expired or removed");
		return -1;
	}
}

int accesstoken_verify_at(struct vault_core *core, const char *tok, size_t len, int64_t now,
			  struct principal_ref *who, int64_t *until_s, struct kl_err *err)
{
	char norm[IDENTITY_RESOURCE_MAX + 1];
	const char *alg, *kid, *tid, *sub, *aud;
	struct kl_err derr = { 0 };
	struct jws_parts parts;
	struct principal p;
	enum identity_audience a;
	json_t *exp, *nbf;
	int64_t cred_expires_s = 0, ignored;
	bool valid = false;
	int rc = -1;

	if (until_s == NULL)
		until_s = &ignored;
	*until_s = 0;
	memset(who, 0, sizeof(*who));
	jws_parts_init(&parts);
	if (jws_parse(tok, len, &parts, &derr) != 0) {
		refuse(err, "not a compact JWS");
		goto out;
	}
	alg = json_string_value(json_object_get(parts.header, "alg"));
	kid = json_string_value(json_object_get(parts.header, "kid"));
	if (alg == NULL || strcmp(alg, "RS256") != 0) {
		refuse(err, "not RS256");
		goto out;
	}
	if (kid == NULL || strncmp(kid, KID_PREFIX, strlen(KID_PREFIX)) != 0 ||
	    strlen(kid) > IDENTITY_KID_MAX) {
		refuse(err, "no kluis kid");
		goto out;
	}
	if (signkeys_verify(core, kid, tok, &parts, &valid, err) != 0) {
		if (err->code == KL_EUNAUTH)
			refuse(err, "no signing key has its kid");
		goto out;
	}
	if (!valid) {
		refuse(err, "the signature does not verify");
		goto out;
	}
	exp = json_object_get(parts.claims, "exp");
	nbf = json_object_get(parts.claims, "nbf");
	tid = json_string_value(json_object_get(parts.claims, "tid"));
	sub = json_string_value(json_object_get(parts.claims, "sub"));
	aud = json_string_value(json_object_get(parts.claims, "aud"));
	if (!json_is_integer(exp) || json_integer_value(exp) + IDENTITY_SKEW_S <= now) {
		refuse(err, "expired");
	} else if (!json_is_integer(nbf) || json_integer_value(nbf) - IDENTITY_SKEW_S > now) {
		refuse(err, "not valid yet");
	} else if (tid == NULL || strcmp(tid, core->tenant) != 0) {
		refuse(err, "another tenant's");
	} else if ((a = identity_audience_of(core, aud, norm)) == IDENTITY_AUD_ANY) {
		refuse(err, "an audience not served here");
	} else if (sub == NULL || principal_get(core, sub, &p, err) != 0 || strcmp(p.id, sub) != 0) {
		if (sub == NULL || err->code == KL_ENOTFOUND || err->code == KL_OK)
			refuse(err, "its principal is gone");
	} else if (cred_live(core, &p, json_string_value(json_object_get(parts.claims, "kl_cred")),
			     &cred_expires_s, err) != 0) {
		/* err says which */
	} else {
		/* exp itself, not exp + skew: a cache must never stretch a token's life */
		*until_s = (int64_t)json_integer_value(exp);
		if (cred_expires_s != 0 && cred_expires_s < *until_s)
			*until_s = cred_expires_s;
		memcpy(who->id, p.id, sizeof(who->id));
		memcpy(who->name, p.name, sizeof(who->name));
		memcpy(who->client_cert, p.client_cert, sizeof(who->client_cert));
		who->audience = (int)a;
		rc = 0;
	}
out:
	if (rc != 0)
		memset(who, 0, sizeof(*who));
	jws_parts_clear(&parts);
	return rc;
}

int identity_token_verify(struct vault_core *core, const char *tok, size_t len,
			  struct principal_ref *who, struct kl_err *err)
{
	return accesstoken_verify_at(core, tok, len, clock_now_s(), who, NULL, err);
}
