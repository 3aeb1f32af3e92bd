/* Who presents a bearer token: the one place that tells the kinds of credential apart (the
 * deployment's admin token, a kluis access token, a token of the trusted OpenID issuer, a kluis
 * token) and hands each to the module that checks it. No JSON, no HTTP. */
#ifndef KLUIS_VAULT_AUTHENTICATE_H
#define KLUIS_VAULT_AUTHENTICATE_H

#include <stddef.h>

#include "util/err.h"
#include "vault/principals.h"

struct vault_core;

/* 0 with *who filled (who->audience says the plane of an access token), or KL_EUNAUTH for any
 * credential that is unknown, revoked, expired or fails a check (the same error for all; the
 * server log says which check at debug level, never the token); another code when the store
 * failed. */
int authenticate_bearer(struct vault_core *core, const char *tok, size_t tok_len,
			struct principal_ref *who, struct kl_err *err);

#endif
