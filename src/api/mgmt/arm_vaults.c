/* Handlers of the management plane: Microsoft.KeyVault/vaults as Resource Manager serves it. A
 * vault is found only under the subscription and resource group it was created in; names are
 * unique in the deployment. A create answers 201 and an update 200, both with
 * provisioningState "Succeeded", which ends the SDKs' long-running-operation pollers at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "api/mgmt/arm.h"
#include "util/json.h"
#include "vault/core.h"

#define ARM_PAGE_MAX 1000

static int not_found(struct api_call *c, const char *name, const char *rg)
{
	return kl_fail_az(&c->err, KL_ENOTFOUND, "ResourceNotFound", NULL,
			  "The Resource 'Microsoft.KeyVault/vaults/%.64s' under resource group '%.90s' "
			  "was not found.", name, rg);
}

static int check_labels(struct api_call *c, const char *sub, const char *rg)
{
	if (!arm_label_is_valid(sub, VAULT_SUB_MAX, false))
		return kl_fail_az(&c->err, KL_EINVAL, "InvalidSubscriptionId", NULL,
				  "The provided subscription identifier '%.64s' is malformed or invalid.",
				  sub);
	if (rg != NULL && !arm_label_is_valid(rg, VAULT_RG_MAX, true))
		return kl_fail_az(&c->err, KL_EINVAL, "InvalidResourceGroup", NULL,
				  "The resource group name '%.90s' is invalid.", rg);
	return 0;
}

static bool labels_match(const struct api_call *c, const struct vault_info *vi, const char *sub,
			 const char *rg)
{
	return strcasecmp(arm_vault_sub(c, vi), sub) == 0 && (rg == NULL || strcasecmp(arm_vault_rg(vi), rg) == 0);
}

int arm_vault_of_path(struct api_call *c, struct vault_info *vi, uint64_t *version)
{
	const char *sub = api_param(c, 0), *rg = api_param(c, 1), *name = api_param(c, 2);

	if (check_labels(c, sub, rg) != 0)
		return -1;
	if (vaults_get(c->ctx->core, name, false, vi, version, &c->err) != 0) {
		if (c->err.code == KL_ENOTFOUND)
			return not_found(c, name, rg);
		return -1;
	}
	if (!labels_match(c, vi, sub, rg))
		return not_found(c, name, rg);
	return 0;
}

int arm_vault_get(struct api_call *c)
{
	struct vault_info vi;
	int rc;

	vault_info_init(&vi);
	rc = arm_vault_of_path(c, &vi, NULL);
	if (rc == 0)
		rc = api_reply_json(c, 200, arm_vault_json(c, &vi));
	vault_info_clear(&vi);
	return rc;
}

/* Replies with the vault as stored now. */
static int reply_vault(struct api_call *c, int status, const char *name)
{
	struct vault_info vi;
	int rc;

	vault_info_init(&vi);
	rc = vaults_get(c->ctx->core, name, false, &vi, NULL, &c->err);
	if (rc == 0)
		rc = api_reply_json(c, status, arm_vault_json(c, &vi));
	vault_info_clear(&vi);
	return rc;
}

int arm_vault_put(struct api_call *c)
{
	const char *sub = api_param(c, 0), *rg = api_param(c, 1), *name = api_param(c, 2);
	struct vault_info cur, in;
	json_t *body = NULL;
	uint64_t version = 0;
	bool exists, recover;
	int rc = -1;

	vault_info_init(&cur);
	vault_info_init(&in);
	if (check_labels(c, sub, rg) != 0 || body_object(c->req, &body, &c->err) != 0)
		goto out;
	if (!vault_name_is_valid_vault(name)) {
		kl_fail_az(&c->err, KL_EINVAL, "VaultNameNotValid", NULL,
			   "The vault name '%.64s' is not valid: 3 to 24 characters of letters, digits "
			   "and hyphens, starting with a letter, ending with a letter or digit, "
			   "without consecutive hyphens.", name);
		goto out;
	}
	exists = vaults_get(c->ctx->core, name, false, &cur, &version, &c->err) == 0;
	if (!exists && c->err.code != KL_ENOTFOUND)
		goto out;
	kl_err_clear(&c->err);
	if (exists && !labels_match(c, &cur, sub, rg)) {
		kl_fail_az(&c->err, KL_ECONFLICT, "VaultAlreadyExists", NULL,
			   "The vault name '%.64s' is already in use.", name);
		goto out;
	}
	if (arm_vault_from_body(c, body, false, exists ? &cur : NULL, &in, &recover) != 0)
		goto out;
	if (recover) {
		/* only where it was: its subscription and resource group */
		if (!exists && (vaults_get(c->ctx->core, name, true, &cur, NULL, &c->err) != 0 ||
				!labels_match(c, &cur, sub, rg))) {
			kl_fail_az(&c->err, KL_ENOTFOUND, "DeletedVaultNotFound", NULL,
				   "No deleted vault '%.64s' is in resource group '%.90s' of this "
				   "subscription.", name, rg);
			goto out;
		}
		if (!exists && vaults_recover(c->ctx->core, name, &c->err) != 0)
			goto out;
		rc = reply_vault(c, 200, name);
		goto out;
	}
	if (exists && strcasecmp(in.location, cur.location[0] ? cur.location : VAULT_DEFAULT_LOCATION) != 0) {
		kl_fail_az(&c->err, KL_EINVAL, "InvalidResourceLocation", NULL,
			   "The resource '%.64s' already exists in location '%.64s' in resource group "
			   "'%.90s'. A resource with the same name cannot be created in location '%.64s'.",
			   name, cur.location[0] ? cur.location : VAULT_DEFAULT_LOCATION, rg, in.location);
		goto out;
	}
	snprintf(in.name, sizeof(in.name), "%s", name);
	snprintf(in.subscription, sizeof(in.subscription), "%s", sub);
	snprintf(in.resource_group, sizeof(in.resource_group), "%s", rg);
	if (exists) {
		snprintf(in.subscription, sizeof(in.subscription), "%s", cur.subscription);
		snprintf(in.resource_group, sizeof(in.resource_group), "%s", cur.resource_group);
		if (vaults_update(c->ctx->core, &in, version, &c->err) != 0)
			goto out;
	} else if (vaults_create(c->ctx->core, &in, &c->err) != 0) {
		goto out;
	}
	rc = reply_vault(c, exists ? 200 : 201, name);
out:
	json_decref(body);
	vault_info_clear(&cur);
	vault_info_clear(&in);
	return rc;
}

int arm_vault_patch(struct api_call *c)
{
	struct vault_info cur, in;
	json_t *body = NULL;
	uint64_t version;
	bool recover;
	int rc = -1;

	vault_info_init(&cur);
	vault_info_init(&in);
	if (body_object(c->req, &body, &c->err) != 0 || arm_vault_of_path(c, &cur, &version) != 0 ||
	    arm_vault_from_body(c, body, true, &cur, &in, &recover) != 0)
		goto out;
	memcpy(in.name, cur.name, sizeof(in.name));
	memcpy(in.subscription, cur.subscription, sizeof(in.subscription));
	memcpy(in.resource_group, cur.resource_group, sizeof(in.resource_group));
	if (vaults_update(c->ctx->core, &in, version, &c->err) != 0)
		goto out;
	rc = reply_vault(c, 200, cur.name);
out:
	json_decref(body);
	vault_info_clear(&cur);
	vault_info_clear(&in);
	return rc;
}

int arm_vault_delete(struct api_call *c)
{
	struct vault_info vi;
	int rc = -1;

	vault_info_init(&vi);
	if (arm_vault_of_path(c, &vi, NULL) != 0) {
		if (c->err.code == KL_ENOTFOUND) {	/* deleting what is not there: 204 */
			kl_err_clear(&c->err);
			rc = api_reply_empty(c, 204);
		}
		goto out;
	}
	if (vaults_delete(c->ctx->core, vi.name, &c->err) == 0)
		rc = api_reply_empty(c, 200);
out:
	vault_info_clear(&vi);
	return rc;
}

int arm_access_policies_put(struct api_call *c)
{
	struct vault_info cur, in;
	json_t *body = NULL, *entries;
	uint64_t version;
	int rc = -1;

	vault_info_init(&cur);
	vault_info_init(&in);
	if (body_object(c->req, &body, &c->err) != 0 || arm_vault_of_path(c, &cur, &version) != 0)
		goto out;
	entries = json_object_get(json_object_get(body, "properties"), "accessPolicies");
	if (!json_is_array(entries)) {
		kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL,
			   "properties.accessPolicies must be an array.");
		goto out;
	}
	if (arm_set_access_policies(c, &cur, api_param(c, 3), entries, &in) != 0 ||
	    vaults_update(c->ctx->core, &in, version, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, arm_access_policies_json(c, &in));
out:
	json_decref(body);
	vault_info_clear(&cur);
	vault_info_clear(&in);
	return rc;
}

/* ---- lists ---- */

enum list_kind { LIST_SUB, LIST_RG, LIST_RESOURCES, LIST_DELETED };

struct list_scan {
	struct api_call *c;
	enum list_kind kind;
	const char *sub, *rg;
	const char *after;	/* lowercase name the page starts after; "" from the first */
	size_t max;
	json_t *items;
	char last[VAULT_NAME_MAX + 1];
	bool more;
};

static int list_one(void *arg, const struct vault_info *vi, struct kl_err *err)
{
	struct list_scan *s = arg;
	json_t *item;

	if (!labels_match(s->c, vi, s->sub, s->kind == LIST_RG ? s->rg : NULL) ||
	    strcasecmp(vi->name, s->after) <= 0)
		return 0;
	if (json_array_size(s->items) >= s->max) {
		s->more = true;
		return 1;
	}
	item = s->kind == LIST_DELETED ? arm_deleted_vault_json(s->c, vi)
	     : s->kind == LIST_RESOURCES ? arm_vault_item_json(s->c, vi) : arm_vault_json(s->c, vi);
	if (item == NULL || json_array_append_new(s->items, item) != 0)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	snprintf(s->last, sizeof(s->last), "%s", vi->name);
	return 0;
}

/* Percent-encodes s for a query value (malloc'd; NULL when out of memory). */
static char *query_escape(const char *s)
{
	static const char hexd[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '/') {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hexd[ch >> 4];
			*o++ = hexd[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

/* The resource type a generic list's $filter asks for: true when it may include vaults. */
static bool filter_wants_vaults(const char *filter)
{
	const char *t;

	if (filter == NULL || *filter == '\0')
		return true;
	t = strcasestr(filter, "resourceType eq '");
	if (t == NULL)
		return true;	/* filters on other fields: kluis lists its vaults */
	return strncasecmp(t + 17, "Microsoft.KeyVault/vaults'", 26) == 0;
}

static int list(struct api_call *c, enum list_kind kind)
{
	struct list_scan s = { .c = c, .kind = kind, .sub = api_param(c, 0), .rg = api_param(c, 1) };
	const char *top = api_query(c->req, "$top"), *skip = api_query(c->req, "$skiptoken");
	json_t *page;
	char *link = NULL, *path = NULL;
	long n;

	if (check_labels(c, s.sub, kind == LIST_RG ? s.rg : NULL) != 0)
		return -1;
	s.max = ARM_PAGE_MAX;
	if (top != NULL && *top != '\0') {
		char *end;

		n = strtol(top, &end, 10);
		if (*end != '\0' || n < 1)
			return kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL,
					  "$top must be a positive integer.");
		s.max = n < ARM_PAGE_MAX ? (size_t)n : ARM_PAGE_MAX;
	}
	s.after = skip != NULL ? skip : "";
	if ((s.items = json_array()) == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	if ((kind != LIST_RESOURCES || filter_wants_vaults(api_query(c->req, "$filter"))) &&
	    vaults_each(c->ctx->core, kind == LIST_DELETED, list_one, &s, &c->err) != 0) {
		json_decref(s.items);
		return -1;
	}
	page = json_pack("{s:o}", "value", s.items);
	if (page == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	if (s.more) {
		char *filter = NULL;
		const char *f = api_query(c->req, "$filter");

		if (f != NULL)
			filter = query_escape(f);
		path = strdup(c->req->path);
		if (path == NULL || asprintf(&link, "https://%s%s?api-version=%s&$top=%zu&$skiptoken=%s%s%s",
					     c->host, path, c->api_version, s.max, s.last,
					     filter ? "&$filter=" : "", filter ? filter : "") < 0)
			link = NULL;
		free(filter);
		json_object_set_new(page, "nextLink", link ? json_string(link) : json_null());
	}
	free(link);
	free(path);
	return api_reply_json(c, 200, page);
}

int arm_vaults_list_sub(struct api_call *c)
{
	return list(c, LIST_SUB);
}

int arm_vaults_list_rg(struct api_call *c)
{
	return list(c, LIST_RG);
}

int arm_resources_list(struct api_call *c)
{
	return list(c, LIST_RESOURCES);
}

int arm_deleted_list(struct api_call *c)
{
	return list(c, LIST_DELETED);
}

/* ---- deleted vaults ---- */

/* The deleted vault named by (sub, location, name). */
static int load_deleted(struct api_call *c, struct vault_info *vi)
{
	const char *sub = api_param(c, 0), *loc = api_param(c, 1), *name = api_param(c, 2);

	if (check_labels(c, sub, NULL) != 0)
		return -1;
	if (vaults_get(c->ctx->core, name, true, vi, NULL, &c->err) != 0)
		return -1;
	if (!labels_match(c, vi, sub, NULL) || strcasecmp(arm_vault_location(vi), loc) != 0)
		return kl_fail_az(&c->err, KL_ENOTFOUND, "DeletedVaultNotFound", NULL,
				  "The deleted vault '%.64s' was not found in location '%.64s'.", name, loc);
	return 0;
}

int arm_deleted_get(struct api_call *c)
{
	struct vault_info vi;
	int rc;

	vault_info_init(&vi);
	rc = load_deleted(c, &vi);
	if (rc == 0)
		rc = api_reply_json(c, 200, arm_deleted_vault_json(c, &vi));
	vault_info_clear(&vi);
	return rc;
}

int arm_deleted_purge(struct api_call *c)
{
	struct vault_info vi;
	int rc = -1;

	vault_info_init(&vi);
	if (load_deleted(c, &vi) == 0 && vaults_purge(c->ctx->core, vi.name, &c->err) == 0)
		rc = api_reply_empty(c, 200);
	vault_info_clear(&vi);
	return rc;
}

/* ---- the provider's operations ---- */

int arm_operations_list(struct api_call *c)
{
	static const char *const ops[][2] = {
		{ "Microsoft.KeyVault/vaults/read", "View the properties of a key vault" },
		{ "Microsoft.KeyVault/vaults/write", "Create a new key vault or update an existing one" },
		{ "Microsoft.KeyVault/vaults/delete", "Delete a key vault" },
		{ "Microsoft.KeyVault/vaults/accessPolicies/write", "Update the access policies of a key vault" },
		{ "Microsoft.KeyVault/deletedVaults/read", "View the properties of soft-deleted key vaults" },
		{ "Microsoft.KeyVault/locations/deletedVaults/purge/action", "Purge a soft-deleted key vault" },
		{ "Microsoft.KeyVault/checkNameAvailability/read", "Check that a key vault name is valid and unused" },
		{ "Microsoft.KeyVault/vaults/secrets/read", "View the properties of a secret, not its value" },
		{ "Microsoft.KeyVault/vaults/secrets/write", "Create a new secret or update an existing one" },
		{ "Microsoft.KeyVault/vaults/keys/read", "List the keys of a vault or read a key" },
		{ "Microsoft.KeyVault/vaults/keys/write", "Create a key if it does not exist" },
	};
	json_t *items = json_array(), *op;
	size_t i;

	for (i = 0; items != NULL && i < sizeof(ops) / sizeof(ops[0]); i++) {
		op = json_pack("{s:s, s:b, s:{s:s, s:s, s:s, s:s}, s:s}", "name", ops[i][0], "isDataAction", 0,
			       "display", "provider", "Microsoft Key Vault", "resource", "Key Vault",
			       "operation", ops[i][1], "description", ops[i][1], "origin", "user,system");
		if (op == NULL || json_array_append_new(items, op) != 0) {
			json_decref(items);
			items = NULL;
		}
	}
	if (items == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	return api_reply_json(c, 200, json_pack("{s:o}", "value", items));
}

/* ---- name check ---- */

int arm_check_name(struct api_call *c)
{
	struct vault_info vi;
	json_t *body = NULL, *res = NULL;
	const char *name, *type;
	bool live, deleted;
	int rc = -1;

	vault_info_init(&vi);
	if (check_labels(c, api_param(c, 0), NULL) != 0 || body_object(c->req, &body, &c->err) != 0)
		goto out;
	name = json_string_value(json_object_get(body, "name"));
	type = json_string_value(json_object_get(body, "type"));
	if (name == NULL || type == NULL || strcasecmp(type, "Microsoft.KeyVault/vaults") != 0) {
		kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL,
			   "The body needs a name and the type 'Microsoft.KeyVault/vaults'.");
		goto out;
	}
	if (!vault_name_is_valid_vault(name)) {
		res = json_pack("{s:b, s:s, s:s}", "nameAvailable", 0, "reason", "AccountNameInvalid",
				"message", "Vault names are 3 to 24 characters of letters, digits and "
				"hyphens, start with a letter, end with a letter or digit, and have no "
				"consecutive hyphens.");
	} else {
		live = vaults_get(c->ctx->core, name, false, &vi, NULL, &c->err) == 0;
		kl_err_clear(&c->err);
		deleted = !live && vaults_get(c->ctx->core, name, true, &vi, NULL, &c->err) == 0;
		kl_err_clear(&c->err);
		if (!live && !deleted && vault_core_vault_exists(c->ctx->core, name, &c->err) == 1)
			deleted = true;	/* being purged */
		kl_err_clear(&c->err);
		if (live || deleted)
			res = json_pack("{s:b, s:s, s:s}", "nameAvailable", 0, "reason", "AlreadyExists",
					"message", live ? "The vault name is already in use."
							: "A deleted vault holds this name: recover or "
							  "purge it first.");
		else
			res = json_pack("{s:b}", "nameAvailable", 1);
	}
	rc = api_reply_json(c, 200, res);
out:
	json_decref(body);
	vault_info_clear(&vi);
	return rc;
}
