/* authenticate.c owns the choice of check for a bearer token (authenticate.h): the admin token
 * first (constant time), then by shape: a JWT whose kid is a kluis signing key's
 * (vault/identity.h), another JWT when an OpenID issuer is trusted (crypto/jwt.h), else a kluis
 * token (vault/principals.h). It holds no state and never logs a token. */
#include <stdio.h>
#include <string.h>

#include "crypto/jwt.h"
#include "util/clock.h"
#include "util/log.h"
#include "vault/authenticate.h"
#include "vault/identity.h"
#include "vault/internal.h"

int authenticate_bearer(struct vault_core *core, const char *tok, size_t tok_len,
			struct principal_ref *who, struct kl_err *err)
{
	char token_id[37];

	memset(who, 0, sizeof(*who));
	if (vault_core_token_ok(core, tok, tok_len)) {
		who->is_admin = true;
		snprintf(who->name, sizeof(who->name), "admin");
		return 0;
	}
	if (identity_token_is_ours(tok, tok_len)) {	/* a kluis access token (kid "kl-...") */
		if (identity_token_verify(core, tok, tok_len, who, err) != 0) {
			LOG_DEBUG(NULL, "%s", err->msg);	/* which check failed; never the token */
			return -1;
		}
		return 0;
	}
	if (core->oidc_keys != NULL && jwt_looks_like(tok, tok_len)) {
		char sub[JWT_SUB_MAX + 1];

		if (jwt_verify(core->oidc_keys, tok, tok_len, core->oidc_issuer, core->oidc_audience,
			       clock_now_s(), sub, err) != 0) {
			LOG_DEBUG(NULL, "%s", err->msg);	/* which check failed; never the token */
			return -1;
		}
		return principal_by_subject(core, sub, who, err);
	}
	return principal_authenticate_token(core, tok, tok_len, who, token_id, err);
}
