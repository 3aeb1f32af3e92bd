/* Authorization of a request by the caller's roles or the vault's access policies (authz.c). */
#ifndef KLUIS_API_AUTHZ_H
#define KLUIS_API_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include "api/internal.h"
#include "vault/vaults.h"

/* 0 when c->who may run r (on c->vault, for the data plane); -1 with c->err (403) otherwise. */
int authz_check(struct api_call *c, const struct route *r);

/* The PERM_BIT()s c->who holds on vault vi. */
int authz_vault_perms(struct api_call *c, const struct vault_info *vi, uint64_t *perms);
/* Does c->who hold anything on vi (so that the subscriptions it is in may be listed)? */
int authz_can_see_vault(struct api_call *c, const struct vault_info *vi, bool *yes);
/* May c->who read the vault resource vi itself: Reader or above on it (every right of Key Vault
 * Reader there), or the management plane's vaults/read? */
int authz_can_read_vault(struct api_call *c, const struct vault_info *vi, bool *yes);

/* What the access policy entries of a vault's properties grant principal_id. */
uint64_t authz_policy_perms(const struct buf *props, const char *principal_id);

#endif
