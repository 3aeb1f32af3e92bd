/* authenticate.c owns the choice of check for a bearer token (authenticate.h): the admin token
 * first (constant time), then by shape: a JWT whose kid is a kluis signing key's
 * (vault/identity.h), another JWT when an OpenID issuer is trusted (crypto/jwt.h), else a kluis
 * token (vault/principals.h). The answer for any but the admin token is kept in the node's
 * credential cache (vault/authcache.h), keyed by the token's SHA-256, until a watched record
 * changes or the credential expires. It never logs a token and never caches a refusal. */
#include <stdio.h>
#include <string.h>

#include "crypto/jws.h"
#include "crypto/jwt.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/secbuf.h"
#include "vault/authcache.h"
#include "vault/authenticate.h"
#include "vault/identity.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"

/* Checks a token other than the admin token against the store: *until_s gets when the answer
 * stops being good (0: not before a watched record changes; -1: never cache it). */
static int check(struct vault_core *core, const char *tok, size_t tok_len,
		 struct principal_ref *who, int64_t *until_s, struct kl_err *err)
{
	char token_id[37];

	*until_s = -1;
	if (identity_token_is_ours(tok, tok_len)) {	/* a kluis access token (kid "kl-") */
		if (accesstoken_verify_at(core, tok, tok_len, clock_now_s(), who, until_s,
					     err) != 0) {
			/* which check failed; never the token */
			LOG_DEBUG(NULL, "%s", err->msg);
			return -1;
		}
		return 0;
	}
	if (core->oidc_keys != NULL && jwt_looks_like(tok, tok_len)) {
		char sub[JWT_SUB_MAX + 1];

		if (jwt_verify(core->oidc_keys, tok, tok_len, core->oidc_issuer,
			       core->oidc_audience, clock_now_s(), sub, until_s, err) != 0) {
			/* which check failed; never the token */
			LOG_DEBUG(NULL, "%s", err->msg);
			return -1;
		}
		if (principal_by_subject(core, sub, who, err) != 0)
			return -1;
		if (*until_s == 0)
			*until_s = -1;	/* an exp too large to hold: not cached */
		return 0;
	}
	return principal_authenticate_token(core, tok, tok_len, who, token_id, until_s, err);
}

int authenticate_bearer(struct vault_core *core, const char *tok, size_t tok_len,
			struct principal_ref *who, struct kl_err *err)
{
	unsigned char digest[TOKEN_DIGEST_LEN];
	int64_t until_s = -1;
	uint64_t epoch;
	int rc = -1;

	memset(who, 0, sizeof(*who));
	if (vault_core_token_ok(core, tok, tok_len)) {
		who->is_admin = true;
		snprintf(who->name, sizeof(who->name), "admin");
		return 0;
	}
	if (token_digest(tok, tok_len, digest, err) != 0)
		goto out;
	if (authcache_who_find(core, digest, who)) {
		rc = 0;
		goto out;
	}
	epoch = authcache_epoch(core);	/* before the reads: a change meanwhile voids the entry */
	if (check(core, tok, tok_len, who, &until_s, err) != 0)
		goto out;
	if (until_s >= 0)
		authcache_who_put(core, digest, who, until_s, epoch);
	rc = 0;
out:
	if (rc != 0)
		memset(who, 0, sizeof(*who));
	secure_wipe(digest, sizeof(digest));
	return rc;
}
