/* Rules that belong to secrets alone; everything else about a secret is a versioned object
 * (vault/object.h with OBJ_SECRET). */
#ifndef KLUIS_VAULT_SECRETS_H
#define KLUIS_VAULT_SECRETS_H

#include "util/secbuf.h"
#include "vault/object.h"

#define SECRET_VALUE_MAX 25600	/* bytes of UTF-8 */

/* A secret version with its value. A disabled version is KL_EFORBIDDEN SecretDisabled. On success
 * the caller owns *value (secbuf_free wipes it) and clears *out. */
int secret_get(struct vault *v, const char *name, const char *version, struct obj *out,
	       struct secbuf **value, struct kl_err *err);

/* A deleted secret's latest version, without value; KL_EFORBIDDEN when that version is
 * disabled, as the service answers. */
int secret_get_deleted(struct vault *v, const char *name, struct obj *out, struct kl_err *err);

#endif
