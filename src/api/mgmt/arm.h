/* The management plane's resource JSON (arm.c) for its handlers (arm_vaults.c, arm_objects.c,
 * arm_metadata.c) and for the admin API's vault reads (admin/admin.c), which answer in the same
 * Vault shape. */
#ifndef KLUIS_API_ARM_H
#define KLUIS_API_ARM_H

#include <stdbool.h>

#include "api/internal.h"
#include "vault/vaults.h"

/* Subscription labels: letters, digits, '-'; resource groups also '_', '.', '(', ')' (not
 * ending in '.'). 1 to max characters. */
bool arm_label_is_valid(const char *s, size_t max, bool rg);

/* The port of the authority host ("" when none or 443). */
const char *arm_host_port(const char *host);

/* The live vault named by the path parameters (sub, rg, name, ...), or 404 ResourceNotFound;
 * *version (may be NULL) is its store version. */
int arm_vault_of_path(struct api_call *c, struct vault_info *vi, uint64_t *version);

/* The labels of vi, with the defaults of vaults made before the management plane (the
 * deployment's tenant as subscription, VAULT_DEFAULT_RG, VAULT_DEFAULT_LOCATION). */
const char *arm_vault_sub(const struct api_call *c, const struct vault_info *vi);
const char *arm_vault_rg(const struct vault_info *vi);
const char *arm_vault_location(const struct vault_info *vi);

/* /subscriptions/S/resourceGroups/RG/providers/Microsoft.KeyVault/vaults/NAME (malloc'd). */
char *arm_vault_id(const struct api_call *c, const struct vault_info *vi);
/* https://name.SUFFIX[:PORT]/ with the port the client used (malloc'd). */
char *arm_vault_uri(const struct api_call *c, const char *name);

json_t *arm_vault_json(const struct api_call *c, const struct vault_info *vi);
json_t *arm_deleted_vault_json(const struct api_call *c, const struct vault_info *vi);
/* {id, name, type, location, tags}: the generic resources list's item. */
json_t *arm_vault_item_json(const struct api_call *c, const struct vault_info *vi);
json_t *arm_access_policies_json(const struct api_call *c, const struct vault_info *vi);

/* Fills out (labels aside) from a PUT (is_patch false) or PATCH body, on top of cur (NULL for a
 * new vault): absent fields keep their value. *recover is set, and nothing else, for a PUT with
 * createMode "recover". 400 with c->err for anything malformed. */
int arm_vault_from_body(struct api_call *c, json_t *body, bool is_patch,
			const struct vault_info *cur, struct vault_info *out, bool *recover);

/* out = cur with its access policies changed by kind (add, replace, remove) and entries. */
int arm_set_access_policies(struct api_call *c, const struct vault_info *cur, const char *kind,
			    json_t *entries, struct vault_info *out);

#endif
