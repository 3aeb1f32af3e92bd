/* `kluis vault ...`: the vaults of the deployment. Reads use the administration API
 * (/kluis/v1/vaults); create and delete use the management plane, Resource Manager's
 * Microsoft.KeyVault/vaults, with the subscription and resource group kluisd reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/output.h"

#define ARM_QUERY "api-version=" CLI_ARM_API_VERSION

/* enablePurgeProtection is absent (null) until someone turns it on, as in Azure. */
static const char *purge_text(const json_t *v)
{
	return json_is_true(output_path(v, "properties.enablePurgeProtection")) ? "true" : "false";
}

static int print_vault(const json_t *v)
{
	char purge[8] = "=";
	const char *fields[] = {
		"name", "name", "location", "location", "uri", "properties.vaultUri",
		"retention-days", "properties.softDeleteRetentionInDays", "purge-protection", purge,
		"rbac", "properties.enableRbacAuthorization", "tenant", "properties.tenantId",
		"state", "properties.provisioningState", "created", "systemData.createdAt",
		"id", "id", NULL,
	};

	snprintf(purge + 1, sizeof(purge) - 1, "%s", purge_text(v));
	return cmd_print_fields(v, fields);
}

static int print_vaults(const json_t *list)
{
	static const char *const head[] = {
		"NAME", "LOCATION", "URI", "RETENTION", "PURGE-PROTECTION", "RBAC",
	};
	char name[128], loc[64], uri[256], ret[16], rbac[8];
	struct table *t = table_new(6, head);
	const json_t *it;
	size_t i;

	if (t == NULL)
		return client_nomem();
	json_array_foreach(json_object_get(list, "value"), i, it) {
		const char *row[] = {
			output_text(it, "name", name, sizeof(name)),
			output_text(it, "location", loc, sizeof(loc)),
			output_text(it, "properties.vaultUri", uri, sizeof(uri)),
			output_text(it, "properties.softDeleteRetentionInDays", ret, sizeof(ret)),
			purge_text(it),
			output_text(it, "properties.enableRbacAuthorization", rbac, sizeof(rbac)),
		};

		if (table_add(t, row) != 0) {
			table_free(t);
			return client_nomem();
		}
	}
	table_print(t, stdout);
	return CLI_OK;
}

/* GET url and print the answer with table. */
static int get_print(struct cli *c, char *url, int (*table)(const json_t *v))
{
	json_t *out = NULL;
	int rc;

	if (url == NULL)
		return client_nomem();
	if ((rc = client_call(c, "GET", url, NULL, true, &out)) == CLI_OK)
		rc = cmd_print(c, out, table);
	json_decref(out);
	free(url);
	return rc;
}

static int vault_list(struct cli *c, const struct args *a)
{
	int rc = client_need_url(c);

	(void)a;
	if (rc != CLI_OK)
		return rc;
	return get_print(c, client_url(c->cfg.url, NULL, "kluis", "v1", "vaults", NULL),
			 print_vaults);
}

static int vault_show(struct cli *c, const struct args *a)
{
	int rc = client_need_url(c);

	if (rc != CLI_OK)
		return rc;
	return get_print(c, client_url(c->cfg.url, NULL, "kluis", "v1", "vaults", a->pos[0], NULL),
			 print_vault);
}

/* The body of the PUT: Azure's VaultCreateOrUpdateParameters. */
static int create_body(const struct args *a, const char *tenant, json_t **out)
{
	const char *days = args_get(a, "retention-days"), *loc = args_get(a, "location");
	json_t *body, *props;
	char *end;
	long n = 0;

	*out = NULL;
	if (days != NULL && ((n = strtol(days, &end, 10)) <= 0 || *end != '\0' || n > 100000))
		return cmd_usage_error("--retention-days wants a number of days (7 to 90)");
	body = json_pack("{s:s, s:{s:s, s:{s:s, s:s}, s:b, s:[]}}", "location", loc ? loc : "local",
			 "properties", "tenantId", tenant, "sku", "family", "A", "name", "standard",
			 "enableRbacAuthorization", !args_has(a, "access-policies"),
			 "accessPolicies");
	if (body == NULL)
		return cmd_usage_error("--location must be UTF-8 text");
	props = json_object_get(body, "properties");
	if ((days != NULL &&
	     json_object_set_new(props, "softDeleteRetentionInDays", json_integer(n)) != 0) ||
	    (args_has(a, "purge-protection") &&
	     json_object_set_new(props, "enablePurgeProtection", json_true()) != 0)) {
		json_decref(body);
		return client_nomem();
	}
	*out = body;
	return CLI_OK;
}

static int vault_create(struct cli *c, const struct args *a)
{
	const char *sub = args_get(a, "subscription"), *rg = args_get(a, "resource-group");
	const char *tenant;
	json_t *dep = NULL, *body = NULL, *out = NULL;
	char *url = NULL;
	int rc;

	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if ((url = client_url(c->cfg.url, NULL, "kluis", "v1", "deployment", NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "GET", url, NULL, true, &dep)) != CLI_OK)
		goto out;
	rc = CLI_EFAIL;
	tenant = json_string_value(json_object_get(dep, "tenantId"));
	sub = sub ? sub : json_string_value(json_object_get(dep, "subscriptionId"));
	rg = rg ? rg : json_string_value(json_object_get(dep, "resourceGroup"));
	if (tenant == NULL || sub == NULL || rg == NULL) {
		fprintf(stderr, "kluis: the server did not give its tenant, subscription and "
				"resource group\n");
		goto out;
	}
	if ((rc = create_body(a, tenant, &body)) != CLI_OK)
		goto out;
	free(url);
	url = client_url(c->cfg.url, ARM_QUERY, "subscriptions", sub, "resourceGroups", rg,
			 "providers", "Microsoft.KeyVault", "vaults", a->pos[0], NULL);
	if (url == NULL) {
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_call(c, "PUT", url, body, true, &out)) == CLI_OK)
		rc = cmd_print(c, out, print_vault);
out:
	json_decref(out);
	json_decref(body);
	json_decref(dep);
	free(url);
	return rc;
}

static int vault_delete(struct cli *c, const struct args *a)
{
	json_t *v = NULL;
	const char *id;
	char *url = NULL, *del = NULL;
	int rc;

	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if ((url = client_url(c->cfg.url, NULL, "kluis", "v1", "vaults", a->pos[0], NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "GET", url, NULL, true, &v)) != CLI_OK)
		goto out;
	/* The id is a path ("/subscriptions/..."): the management plane's address of the vault. */
	if ((id = json_string_value(json_object_get(v, "id"))) == NULL || id[0] != '/') {
		fprintf(stderr, "kluis: the server did not give the vault's id\n");
		rc = CLI_EFAIL;
		goto out;
	}
	if (asprintf(&del, "%s%s?%s", c->cfg.url, id, ARM_QUERY) < 0) {
		del = NULL;
		rc = client_nomem();
		goto out;
	}
	if ((rc = client_call(c, "DELETE", del, NULL, true, NULL)) == CLI_OK)
		rc = cmd_print_done(c, "deleted vault", a->pos[0], NULL, NULL);
out:
	json_decref(v);
	free(url);
	free(del);
	return rc;
}

static const struct opt create_opts[] = {
	{ "location", 0, OPT_VALUE, "LOCATION", "the vault's location label (default: local)" },
	{ "resource-group", 0, OPT_VALUE, "RG", "resource group (default: the deployment's)" },
	{ "subscription", 0, OPT_VALUE, "SUB", "subscription id (default: the deployment's)" },
	{ "retention-days", 0, OPT_VALUE, "N", "soft-delete retention, 7 to 90 days" },
	{ "purge-protection", 0, OPT_FLAG, NULL, "turn purge protection on (cannot be undone)" },
	{ "access-policies", 0, OPT_FLAG, NULL, "use access policies instead of role assignments" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd vault_cmds[] = {
	{ "list", "vault list", "list the vaults you can see", NULL, 0, 0, vault_list },
	{ "show", "vault show NAME", "show one vault", NULL, 1, 1, vault_show },
	{ "create", "vault create NAME [--location L] [--resource-group RG] [--subscription SUB] "
		    "[--retention-days N] [--purge-protection] [--access-policies]",
	  "create a vault (role assignments govern it unless --access-policies)", create_opts, 1, 1,
	  vault_create },
	{ "delete", "vault delete NAME", "delete a vault", NULL, 1, 1, vault_delete },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_vault_group = {
	"vault", "the vaults of the deployment", vault_cmds, false,
};
