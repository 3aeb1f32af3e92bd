/* Authorization: may the caller do this operation here? The deployment administrator may do
 * everything; a principal gets the union of the permissions of its roles on the vault and on the
 * deployment, or, on a vault that uses access policies, what its access policy entries grant.
 * What a principal holds on a vault (and its deployment-wide roles) is kept in the node's rights
 * cache (vault/authcache.h), so a request in the steady state reads no role assignment and no
 * vault record. Denials are 403 with the service's message shape, never 401 (a 401 makes the
 * SDKs fetch a new token and retry). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/authz.h"
#include "api/roles.h"
#include "util/json.h"
#include "vault/assignments.h"
#include "vault/authcache.h"
#include "vault/vaults.h"

/* The union of the permissions of the roles principal holds on vault (lowercase; "" or NULL:
 * deployment scope only). */
static int role_perms(struct api_call *c, const char *vault, uint64_t *perms)
{
	char roles[ASSIGN_ROLES_MAX * 2][ASSIGN_ROLE_MAX + 1];
	const struct role_def *rd;
	size_t n, i;

	*perms = 0;
	if (assignment_roles(c->ctx->core, vault, c->who->id, roles, sizeof(roles) / sizeof(roles[0]),
			     &n, &c->err) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if ((rd = roles_find(roles[i])) != NULL)
			*perms |= rd->perms;
	return 0;
}

/* role_perms on the deployment scope, through the rights cache. */
static int deployment_perms(struct api_call *c, uint64_t *perms)
{
	struct vault_core *core = c->ctx->core;
	uint64_t epoch;

	if (authcache_rights_find(core, c->who->id, AUTHCACHE_SCOPE_DEPLOYMENT, perms))
		return 0;
	epoch = authcache_epoch(core);	/* before the reads: a change meanwhile voids the entry */
	if (role_perms(c, "", perms) != 0)
		return -1;
	authcache_rights_put(core, c->who->id, AUTHCACHE_SCOPE_DEPLOYMENT, *perms, epoch);
	return 0;
}

struct policy_name {
	const char *name;
	uint64_t perms;
};

static const struct policy_name key_policy[] = {
	{ "get", PERM_BIT(PERM_KEY_GET) }, { "list", PERM_BIT(PERM_KEY_LIST) },
	{ "create", PERM_BIT(PERM_KEY_CREATE) }, { "import", PERM_BIT(PERM_KEY_IMPORT) },
	{ "update", PERM_BIT(PERM_KEY_UPDATE) }, { "delete", PERM_BIT(PERM_KEY_DELETE) },
	{ "backup", PERM_BIT(PERM_KEY_BACKUP) }, { "restore", PERM_BIT(PERM_KEY_RESTORE) },
	{ "recover", PERM_BIT(PERM_KEY_RECOVER) }, { "purge", PERM_BIT(PERM_KEY_PURGE) },
	{ "encrypt", PERM_BIT(PERM_KEY_ENCRYPT) }, { "decrypt", PERM_BIT(PERM_KEY_DECRYPT) },
	{ "wrapKey", PERM_BIT(PERM_KEY_WRAP) }, { "unwrapKey", PERM_BIT(PERM_KEY_UNWRAP) },
	{ "sign", PERM_BIT(PERM_KEY_SIGN) }, { "verify", PERM_BIT(PERM_KEY_VERIFY) },
	{ "release", PERM_BIT(PERM_KEY_RELEASE) }, { "rotate", PERM_BIT(PERM_KEY_ROTATE) },
	{ "getrotationpolicy", PERM_BIT(PERM_KEY_GET_POLICY) },
	{ "setrotationpolicy", PERM_BIT(PERM_KEY_SET_POLICY) },
};

static const struct policy_name secret_policy[] = {
	{ "get", PERM_BIT(PERM_SECRET_GET) }, { "list", PERM_BIT(PERM_SECRET_LIST) },
	{ "set", PERM_BIT(PERM_SECRET_SET) }, { "delete", PERM_BIT(PERM_SECRET_DELETE) },
	{ "backup", PERM_BIT(PERM_SECRET_BACKUP) }, { "restore", PERM_BIT(PERM_SECRET_RESTORE) },
	{ "recover", PERM_BIT(PERM_SECRET_RECOVER) }, { "purge", PERM_BIT(PERM_SECRET_PURGE) },
};

#define ISSUERS_ALL (PERM_BIT(PERM_CERT_ISSUERS_GET) | PERM_BIT(PERM_CERT_ISSUERS_LIST) | \
		     PERM_BIT(PERM_CERT_ISSUERS_SET) | PERM_BIT(PERM_CERT_ISSUERS_DELETE))

static const struct policy_name cert_policy[] = {
	{ "get", PERM_BIT(PERM_CERT_GET) }, { "list", PERM_BIT(PERM_CERT_LIST) },
	{ "create", PERM_BIT(PERM_CERT_CREATE) }, { "import", PERM_BIT(PERM_CERT_IMPORT) },
	{ "update", PERM_BIT(PERM_CERT_UPDATE) }, { "delete", PERM_BIT(PERM_CERT_DELETE) },
	{ "recover", PERM_BIT(PERM_CERT_RECOVER) }, { "purge", PERM_BIT(PERM_CERT_PURGE) },
	{ "backup", PERM_BIT(PERM_CERT_BACKUP) }, { "restore", PERM_BIT(PERM_CERT_RESTORE) },
	{ "managecontacts", PERM_BIT(PERM_CERT_CONTACTS) },
	{ "getissuers", PERM_BIT(PERM_CERT_ISSUERS_GET) },
	{ "listissuers", PERM_BIT(PERM_CERT_ISSUERS_LIST) },
	{ "setissuers", PERM_BIT(PERM_CERT_ISSUERS_SET) },
	{ "deleteissuers", PERM_BIT(PERM_CERT_ISSUERS_DELETE) },
	{ "manageissuers", ISSUERS_ALL },
};

static uint64_t policy_list(json_t *names, const struct policy_name *table, size_t n)
{
	uint64_t perms = 0, all = 0;
	size_t i, j;
	json_t *v;

	for (j = 0; j < n; j++)
		all |= table[j].perms;
	json_array_foreach(names, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL)
			continue;
		if (strcasecmp(s, "all") == 0)
			perms |= all;
		for (j = 0; j < n; j++)
			if (strcasecmp(s, table[j].name) == 0)
				perms |= table[j].perms;
	}
	return perms;
}

uint64_t authz_policy_perms(const struct buf *props, const char *principal_id)
{
	json_t *doc, *policies, *entry;
	json_error_t jerr;
	uint64_t perms = 0;
	size_t i;

	if (props->len == 0 || principal_id[0] == '\0')
		return 0;
	doc = json_loadb((const char *)props->data, props->len, 0, &jerr);
	policies = json_object_get(json_object_get(doc, "p"), "accessPolicies");
	json_array_foreach(policies, i, entry) {
		const char *oid = json_string_value(json_object_get(entry, "objectId"));
		json_t *p = json_object_get(entry, "permissions");
		uint64_t keys;

		if (oid == NULL || strcasecmp(oid, principal_id) != 0)
			continue;
		keys = policy_list(json_object_get(p, "keys"), key_policy,
				   sizeof(key_policy) / sizeof(key_policy[0]));
		perms |= keys | policy_list(json_object_get(p, "secrets"), secret_policy,
					    sizeof(secret_policy) / sizeof(secret_policy[0]));
		perms |= policy_list(json_object_get(p, "certificates"), cert_policy,
				     sizeof(cert_policy) / sizeof(cert_policy[0]));
		if (keys != 0)
			perms |= PERM_BIT(PERM_RNG);	/* access policies have no name for it */
	}
	json_decref(doc);
	return perms;
}

int authz_vault_perms(struct api_call *c, const struct vault_info *vi, uint64_t *perms)
{
	char lname[VAULT_NAME_MAX + 1];
	uint64_t dep;
	size_t i;

	*perms = 0;
	if (c->who->is_admin) {
		*perms = ~UINT64_C(0);
		return 0;
	}
	for (i = 0; vi->name[i] != '\0' && i < VAULT_NAME_MAX; i++)
		lname[i] = (vi->name[i] >= 'A' && vi->name[i] <= 'Z') ? (char)(vi->name[i] + 32) : vi->name[i];
	lname[i] = '\0';
	if (vi->rbac)
		return role_perms(c, lname, perms);
	/* Access policies decide on the data plane; deployment-scope roles still apply (the Kluis
	 * Administrator may do everything everywhere). */
	if (deployment_perms(c, &dep) != 0)
		return -1;
	*perms = dep | authz_policy_perms(&vi->props, c->who->id);
	return 0;
}

/* What c->who holds on the data plane of c->vault, through the rights cache. The vault is opened
 * again after the epoch is read, so that every answer the entry is made of is of that epoch or
 * later (c->vault may be older). */
static int data_perms(struct api_call *c, uint64_t *perms)
{
	struct vault_core *core = c->ctx->core;
	struct vault_info vi;
	struct vault v;
	uint64_t epoch;
	int rc = -1;

	if (authcache_rights_find(core, c->who->id, c->vault.name, perms))
		return 0;
	vault_info_init(&vi);
	epoch = authcache_epoch(core);
	if (vault_open(core, c->vault.name, &v, &c->err) != 0)
		goto out;
	if (v.rbac) {
		if (role_perms(c, v.name, perms) != 0)
			goto out;
	} else if (vaults_get(core, v.name, false, &vi, NULL, &c->err) != 0 ||
		   authz_vault_perms(c, &vi, perms) != 0) {
		goto out;
	}
	/* vaults_get read the record again: kept only when it says what vault_open did */
	if (v.rbac || !vi.rbac)
		authcache_rights_put(core, c->who->id, v.name, *perms, epoch);
	rc = 0;
out:
	vault_info_clear(&vi);
	return rc;
}

static const char *perm_action(enum route_perm p)
{
	const char *names[1];

	return roles_perm_names(PERM_BIT(p), names, 1) == 1 ? names[0] : "read";
}

int authz_check(struct api_call *c, const struct route *r)
{
	enum route_plane plane = route_plane_of(r);
	uint64_t perms = 0;
	int rc = -1;

	/* The identity provider's endpoints authenticate their clients themselves (a client
	 * secret, an assertion, a kluis token in X-IDENTITY-HEADER): no role decides. */
	if (plane == PLANE_PUBLIC || plane == PLANE_IDENTITY || c->who->is_admin)
		return 0;
	if (plane != PLANE_DATA) {
		if (r->perm == PERM_DEPLOYMENT || r->perm == PERM_MGMT_SIGNED_IN)
			return 0;	/* the handler shows only what c->who may see */
		if (deployment_perms(c, &perms) != 0)
			return -1;
		if (perms & PERM_BIT(r->perm))
			return 0;
		if (plane == PLANE_ARM)
			return kl_fail_az(&c->err, KL_EFORBIDDEN, "AuthorizationFailed", NULL,
					  "The client '%s' with object id '%s' does not have authorization "
					  "to perform action 'Microsoft.KeyVault/%s'.", c->who->name,
					  c->who->id, perm_action(r->perm));
		return kl_fail_az(&c->err, KL_EFORBIDDEN, "Forbidden", NULL,
				  "The principal '%s' is not a deployment administrator.", c->who->name);
	}
	if (data_perms(c, &perms) != 0)
		goto out;
	if (perms & PERM_BIT(r->perm)) {
		rc = 0;
		goto out;
	}
	if (c->vault.rbac)
		kl_fail_az(&c->err, KL_EFORBIDDEN, "Forbidden", "ForbiddenByRbac",
			   "Caller is not authorized to perform action on resource.\r\nCaller: "
			   "name=%s;oid=%s\r\nAction: 'Microsoft.KeyVault/vaults/%s'\r\nVault: %s\r\n",
			   c->who->name, c->who->id, perm_action(r->perm), c->vault.name);
	else
		kl_fail_az(&c->err, KL_EFORBIDDEN, "Forbidden", "ForbiddenByPolicy",
			   "The user, group or application 'name=%s;oid=%s' does not have %s permission "
			   "on key vault '%s'.", c->who->name, c->who->id, perm_action(r->perm),
			   c->vault.name);
out:
	return rc;
}

int authz_can_see_vault(struct api_call *c, const struct vault_info *vi, bool *yes)
{
	uint64_t perms;

	*yes = false;
	if (authz_vault_perms(c, vi, &perms) != 0)
		return -1;
	*yes = perms != 0;
	return 0;
}

int authz_can_read_vault(struct api_call *c, const struct vault_info *vi, bool *yes)
{
	const struct role_def *reader;
	uint64_t perms;

	*yes = false;
	if (authz_vault_perms(c, vi, &perms) != 0)
		return -1;
	/* The vault resource (its properties, access policies and all) is more than any one kind
	 * of object in it: Reader or above on the vault, that is every right Key Vault Reader has
	 * there (or the management plane's vaults/read), never the rights of one kind alone. */
	reader = roles_find("reader");
	*yes = (perms & PERM_BIT(PERM_MGMT_READ)) != 0 ||
	       (reader != NULL && (perms & reader->perms) == reader->perms);
	return 0;
}
