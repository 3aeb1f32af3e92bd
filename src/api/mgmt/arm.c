/* The management plane's JSON: the Vault and DeletedVault resources as Resource Manager shapes
 * them, and VaultCreateOrUpdateParameters / VaultPatchParameters into a vault_info. What the core
 * does not act on (tags, sku, tenant, access policies, network rules, the enabledFor* flags) is
 * kept as the vault's opaque properties: {"tags": {...}, "p": {...}} in compact JSON. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/mgmt/arm.h"
#include "util/json.h"
#include "vault/core.h"

#define MAX_TAGS 50
#define TAG_NAME_MAX 512
#define TAG_VALUE_MAX 256
#define MAX_POLICIES 1024
#define DEFAULT_RETENTION 90
/* From this api-version on, a new vault uses role assignments unless told otherwise. */
#define RBAC_DEFAULT_FROM "2026-02-01"

static const char *const stored_flags[] = {
	"enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment",
};

bool arm_label_is_valid(const char *s, size_t max, bool rg)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  c == '-' || (rg && (c == '_' || c == '.' || c == '(' || c == ')'));

		if (i >= max || !ok)
			return false;
	}
	return i > 0 && !(rg && s[i - 1] == '.');
}

static void iso_time(char *out, size_t n, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%S.000Z", &tm) == 0)
		snprintf(out, n, "1970-01-01T00:00:00.000Z");
}

const char *arm_host_port(const char *host)
{
	const char *p = host[0] == '[' ? strchr(host, ']') : host;
	const char *colon = p ? strrchr(p, ':') : NULL;

	return colon && strcmp(colon + 1, "443") != 0 ? colon + 1 : "";
}

const char *arm_vault_sub(const struct api_call *c, const struct vault_info *vi)
{
	return vi->subscription[0] ? vi->subscription : vault_core_tenant(c->ctx->core);
}

const char *arm_vault_rg(const struct vault_info *vi)
{
	return vi->resource_group[0] ? vi->resource_group : VAULT_DEFAULT_RG;
}

const char *arm_vault_location(const struct vault_info *vi)
{
	return vi->location[0] ? vi->location : VAULT_DEFAULT_LOCATION;
}

char *arm_vault_id(const struct api_call *c, const struct vault_info *vi)
{
	char *id = NULL;

	if (asprintf(&id, "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.KeyVault/vaults/%s",
		     arm_vault_sub(c, vi), arm_vault_rg(vi), vi->name) < 0)
		return NULL;
	return id;
}

char *arm_vault_uri(const struct api_call *c, const char *name)
{
	const char *port = arm_host_port(c->host);
	char *uri = NULL;
	size_t i;

	if (asprintf(&uri, "https://%s.%s%s%s/", name, c->ctx->cfg.dns_suffix, *port ? ":" : "", port) < 0)
		return NULL;
	for (i = 0; uri[i] != '\0'; i++)
		if (uri[i] >= 'A' && uri[i] <= 'Z')
			uri[i] = (char)(uri[i] + 32);
	return uri;
}

/* The stored properties of vi as JSON ({"tags":{}, "p":{}} when it has none). */
static json_t *props_doc(const struct vault_info *vi)
{
	json_error_t jerr;
	json_t *doc = vi->props.len
		? json_loadb((const char *)vi->props.data, vi->props.len, 0, &jerr) : NULL;

	if (!json_is_object(doc)) {
		json_decref(doc);
		doc = json_pack("{s:{}, s:{}}", "tags", "p");
	}
	if (doc != NULL && !json_is_object(json_object_get(doc, "tags")))
		json_object_set_new(doc, "tags", json_object());
	if (doc != NULL && !json_is_object(json_object_get(doc, "p")))
		json_object_set_new(doc, "p", json_object());
	return doc;
}

json_t *arm_vault_json(const struct api_call *c, const struct vault_info *vi)
{
	json_t *doc = props_doc(vi), *v = NULL, *p, *sys, *pna;
	char *id = arm_vault_id(c, vi), *uri = arm_vault_uri(c, vi->name);
	char created[40], updated[40];
	const char *tenant;
	size_t i;

	if (doc == NULL || id == NULL || uri == NULL)
		goto out;
	iso_time(created, sizeof(created), vi->created);
	iso_time(updated, sizeof(updated), vi->updated);
	p = json_object_get(doc, "p");
	tenant = json_string_value(json_object_get(p, "tenantId"));
	v = json_pack("{s:s, s:s, s:s, s:s, s:O}", "id", id, "name", vi->name, "type",
		      "Microsoft.KeyVault/vaults", "location", arm_vault_location(vi), "tags",
		      json_object_get(doc, "tags"));
	sys = json_pack("{s:s, s:s, s:s, s:s}", "createdAt", created, "createdByType", "User",
			"lastModifiedAt", updated, "lastModifiedByType", "User");
	if (v == NULL || sys == NULL) {
		json_decref(sys);
		json_decref(v);
		v = NULL;
		goto out;
	}
	json_object_set_new(v, "systemData", sys);
	p = json_pack("{s:s, s:O?, s:O?}", "tenantId", tenant ? tenant : vault_core_tenant(c->ctx->core),
		      "sku", json_object_get(json_object_get(doc, "p"), "sku"), "accessPolicies",
		      json_object_get(json_object_get(doc, "p"), "accessPolicies"));
	if (p == NULL) {
		json_decref(v);
		v = NULL;
		goto out;
	}
	if (!json_is_object(json_object_get(p, "sku")))
		json_object_set_new(p, "sku", json_pack("{s:s, s:s}", "family", "A", "name", "standard"));
	if (!json_is_array(json_object_get(p, "accessPolicies")))
		json_object_set_new(p, "accessPolicies", json_array());
	for (i = 0; i < sizeof(stored_flags) / sizeof(stored_flags[0]); i++)
		json_object_set_new(p, stored_flags[i], json_boolean(json_is_true(
			json_object_get(json_object_get(doc, "p"), stored_flags[i]))));
	json_object_set_new(p, "enableSoftDelete", json_true());
	json_object_set_new(p, "softDeleteRetentionInDays", json_integer(vi->retention_days));
	json_object_set_new(p, "enableRbacAuthorization", json_boolean(vi->rbac));
	if (vi->purge_protection)
		json_object_set_new(p, "enablePurgeProtection", json_true());
	json_object_set_new(p, "vaultUri", json_string(uri));
	json_object_set_new(p, "provisioningState", json_string("Succeeded"));
	pna = json_object_get(json_object_get(doc, "p"), "publicNetworkAccess");
	json_object_set_new(p, "publicNetworkAccess", pna ? json_incref(pna) : json_string("Enabled"));
	if (json_object_get(json_object_get(doc, "p"), "networkAcls") != NULL)
		json_object_set(p, "networkAcls", json_object_get(json_object_get(doc, "p"), "networkAcls"));
	json_object_set_new(v, "properties", p);
out:
	json_decref(doc);
	free(id);
	free(uri);
	return v;
}

json_t *arm_deleted_vault_json(const struct api_call *c, const struct vault_info *vi)
{
	json_t *doc = props_doc(vi), *v = NULL;
	char *vid = arm_vault_id(c, vi), *id = NULL;
	char deleted[40], purge[40];

	if (doc == NULL || vid == NULL ||
	    asprintf(&id, "/subscriptions/%s/providers/Microsoft.KeyVault/locations/%s/deletedVaults/%s",
		     arm_vault_sub(c, vi), arm_vault_location(vi), vi->name) < 0) {
		id = NULL;
		goto out;
	}
	iso_time(deleted, sizeof(deleted), vi->deleted_date);
	iso_time(purge, sizeof(purge), vi->scheduled_purge);
	v = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:O, s:b}}", "id", id, "name", vi->name,
		      "type", "Microsoft.KeyVault/deletedVaults", "properties", "vaultId", vid,
		      "location", arm_vault_location(vi), "deletionDate", deleted, "scheduledPurgeDate", purge,
		      "tags", json_object_get(doc, "tags"), "purgeProtectionEnabled",
		      vi->purge_protection);
out:
	json_decref(doc);
	free(vid);
	free(id);
	return v;
}

json_t *arm_vault_item_json(const struct api_call *c, const struct vault_info *vi)
{
	json_t *doc = props_doc(vi), *v = NULL;
	char *id = arm_vault_id(c, vi);

	if (doc != NULL && id != NULL)
		v = json_pack("{s:s, s:s, s:s, s:s, s:O}", "id", id, "name", vi->name, "type",
			      "Microsoft.KeyVault/vaults", "location", arm_vault_location(vi), "tags",
			      json_object_get(doc, "tags"));
	json_decref(doc);
	free(id);
	return v;
}

/* ---- request bodies ---- */

#define BAD(c, ...) kl_fail_az(&(c)->err, KL_EINVAL, "BadRequest", NULL, __VA_ARGS__)

static int check_tags(struct api_call *c, json_t *tags)
{
	const char *k;
	json_t *v;

	if (!json_is_object(tags))
		return BAD(c, "%s must be an object of strings.", "tags");
	if (json_object_size(tags) > MAX_TAGS)
		return BAD(c, "A resource has at most 50 tags%s.", "");
	json_object_foreach(tags, k, v) {
		if (!json_is_string(v) || strlen(k) == 0 || strlen(k) > TAG_NAME_MAX ||
		    strlen(json_string_value(v)) > TAG_VALUE_MAX)
			return BAD(c, "The tag '%.64s' is not valid: names are 1 to 512 characters, "
				   "values strings of at most 256.", k);
	}
	return 0;
}

static int check_policies(struct api_call *c, json_t *list)
{
	static const char *const kinds[] = { "keys", "secrets", "certificates", "storage" };
	json_t *e, *perms, *names, *n;
	size_t i, j, k;

	if (!json_is_array(list) || json_array_size(list) > MAX_POLICIES)
		return BAD(c, "%s must be an array of at most 1024 entries.", "accessPolicies");
	json_array_foreach(list, i, e) {
		if (!json_is_object(e) || !json_is_string(json_object_get(e, "tenantId")) ||
		    !json_is_string(json_object_get(e, "objectId")) ||
		    !json_is_object(perms = json_object_get(e, "permissions")))
			return BAD(c, "Each access policy needs tenantId, objectId and permissions%s.", "");
		if (json_object_get(e, "applicationId") != NULL &&
		    !json_is_null(json_object_get(e, "applicationId")) &&
		    !json_is_string(json_object_get(e, "applicationId")))
			return BAD(c, "%s must be a string.", "applicationId");
		for (j = 0; j < sizeof(kinds) / sizeof(kinds[0]); j++) {
			names = json_object_get(perms, kinds[j]);
			if (names == NULL || json_is_null(names))
				continue;
			if (!json_is_array(names))
				return BAD(c, "permissions.%s must be an array of strings.", kinds[j]);
			json_array_foreach(names, k, n)
				if (!json_is_string(n) || strlen(json_string_value(n)) > 64)
					return BAD(c, "permissions.%s must be an array of strings.", kinds[j]);
		}
	}
	return 0;
}

/* An optional boolean: *out unchanged when absent or null. */
static int opt_bool(struct api_call *c, json_t *obj, const char *field, bool *out)
{
	json_t *v = json_object_get(obj, field);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return BAD(c, "%s must be a boolean.", field);
	*out = json_is_true(v);
	return 0;
}

/* Sets doc.p[field] from props[field] when present (checked by check). */
static int keep_field(json_t *doc_p, json_t *props, const char *field)
{
	json_t *v = json_object_get(props, field);

	if (v == NULL)
		return 0;
	return json_object_set(doc_p, field, v);
}

int arm_vault_from_body(struct api_call *c, json_t *body, bool is_patch,
			const struct vault_info *cur, struct vault_info *out, bool *recover)
{
	json_t *props = json_object_get(body, "properties"), *doc = NULL, *p, *v;
	const char *loc, *mode, *sku_name;
	bool soft = true;
	int rc = -1;
	size_t i;

	*recover = false;
	if (props != NULL && !json_is_null(props) && !json_is_object(props))
		return BAD(c, "%s must be an object.", "properties");
	if (!is_patch) {
		loc = json_string_value(json_object_get(body, "location"));
		if (loc == NULL || *loc == '\0' || strlen(loc) > VAULT_LOC_MAX)
			return kl_fail_az(&c->err, KL_EINVAL, "LocationRequired", NULL,
					  "The location property is required for this definition.");
		mode = json_string_value(json_object_get(props, "createMode"));
		if (mode != NULL && strcasecmp(mode, "recover") == 0) {
			*recover = true;
			return 0;
		}
		if (mode != NULL && strcasecmp(mode, "default") != 0)
			return BAD(c, "createMode '%.32s' is not one of default, recover.", mode);
		if (cur == NULL && !json_is_object(props))
			return BAD(c, "%s is required.", "properties");
		if (cur == NULL && (!json_is_string(json_object_get(props, "tenantId")) ||
				    !json_is_object(json_object_get(props, "sku"))))
			return BAD(c, "properties.tenantId and properties.sku are %s.", "required");
		snprintf(out->location, sizeof(out->location), "%s", loc);
	} else if (cur != NULL) {
		snprintf(out->location, sizeof(out->location), "%s", cur->location);
	}
	/* Start from what is stored (an update keeps what the request leaves out). */
	if (cur != NULL) {
		doc = props_doc(cur);
		out->retention_days = cur->retention_days;
		out->purge_protection = cur->purge_protection;
		out->rbac = cur->rbac;
	} else {
		doc = json_pack("{s:{}, s:{}}", "tags", "p");
		out->retention_days = DEFAULT_RETENTION;
		out->purge_protection = false;
		out->rbac = c->api_version != NULL && strcmp(c->api_version, RBAC_DEFAULT_FROM) >= 0 &&
			    c->api_version[0] == '2';
	}
	if (doc == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	p = json_object_get(doc, "p");
	if ((v = json_object_get(body, "tags")) != NULL && !json_is_null(v)) {
		if (check_tags(c, v) != 0)
			goto out;
		json_object_set(doc, "tags", v);
	}
	if (json_is_object(props)) {
		if ((v = json_object_get(props, "tenantId")) != NULL && !json_is_null(v) &&
		    (!json_is_string(v) || strlen(json_string_value(v)) > 64)) {
			BAD(c, "%s must be a string.", "tenantId");
			goto out;
		}
		if ((v = json_object_get(props, "sku")) != NULL && !json_is_null(v)) {
			sku_name = json_string_value(json_object_get(v, "name"));
			if (!json_is_object(v) || sku_name == NULL ||
			    (strcasecmp(sku_name, "standard") != 0 && strcasecmp(sku_name, "premium") != 0)) {
				BAD(c, "sku.name must be %s.", "standard or premium");
				goto out;
			}
			json_object_set_new(p, "sku", json_pack("{s:s, s:s}", "family", "A", "name",
					    strcasecmp(sku_name, "premium") == 0 ? "premium" : "standard"));
		}
		if ((v = json_object_get(props, "accessPolicies")) != NULL && !json_is_null(v) &&
		    check_policies(c, v) != 0)
			goto out;
		if ((v = json_object_get(props, "softDeleteRetentionInDays")) != NULL && !json_is_null(v)) {
			if (!json_is_integer(v) || json_integer_value(v) < 7 || json_integer_value(v) > 90) {
				BAD(c, "softDeleteRetentionInDays must be an integer from 7 to 90%s.", "");
				goto out;
			}
			if (cur != NULL && json_integer_value(v) != cur->retention_days) {
				BAD(c, "softDeleteRetentionInDays is fixed when a vault is created (this "
				    "one keeps %d days).", cur->retention_days);
				goto out;
			}
			out->retention_days = (int)json_integer_value(v);
		}
		if (opt_bool(c, props, "enableSoftDelete", &soft) != 0 ||
		    opt_bool(c, props, "enableRbacAuthorization", &out->rbac) != 0)
			goto out;
		if (!soft) {
			BAD(c, "Soft delete cannot be turned off%s.", "");
			goto out;
		}
		v = json_object_get(props, "enablePurgeProtection");
		if (v != NULL && !json_is_null(v)) {
			if (!json_is_boolean(v)) {
				BAD(c, "%s must be a boolean.", "enablePurgeProtection");
				goto out;
			}
			if (json_is_false(v) && out->purge_protection) {
				BAD(c, "Purge protection cannot be turned off once it is on%s.", "");
				goto out;
			}
			out->purge_protection = out->purge_protection || json_is_true(v);
		}
		for (i = 0; i < sizeof(stored_flags) / sizeof(stored_flags[0]); i++) {
			bool flag = false;

			if (opt_bool(c, props, stored_flags[i], &flag) != 0)
				goto out;
		}
		if ((v = json_object_get(props, "publicNetworkAccess")) != NULL && !json_is_null(v) &&
		    !json_is_string(v)) {
			BAD(c, "%s must be a string.", "publicNetworkAccess");
			goto out;
		}
		if ((v = json_object_get(props, "networkAcls")) != NULL && !json_is_null(v) &&
		    !json_is_object(v)) {
			BAD(c, "%s must be an object.", "networkAcls");
			goto out;
		}
		if (keep_field(p, props, "tenantId") != 0 || keep_field(p, props, "accessPolicies") != 0 ||
		    keep_field(p, props, "publicNetworkAccess") != 0 ||
		    keep_field(p, props, "networkAcls") != 0)
			goto nomem;
		for (i = 0; i < sizeof(stored_flags) / sizeof(stored_flags[0]); i++)
			if (keep_field(p, props, stored_flags[i]) != 0)
				goto nomem;
	}
	buf_reset(&out->props);
	if (json_util_dump(doc, &out->props, &c->err) != 0)
		goto out;
	rc = 0;
	goto out;
nomem:
	kl_fail(&c->err, KL_ENOMEM, "out of memory");
out:
	json_decref(doc);
	return rc;
}

/* Adds the permissions of `from` to entry (add) or takes them away (remove), per kind of
 * object; returns how many permissions the entry holds afterwards. An entry to remove that
 * names no permissions at all removes the whole entry. */
static size_t merge_permissions(json_t *entry, json_t *from, bool add)
{
	static const char *const kinds[] = { "keys", "secrets", "certificates", "storage" };
	json_t *perms = json_object_get(entry, "permissions"), *fp = json_object_get(from, "permissions");
	json_t *have, *give, *v, *h;
	size_t i, j, k, left = 0, named = 0;

	if (!json_is_object(perms)) {
		json_object_set_new(entry, "permissions", json_object());
		perms = json_object_get(entry, "permissions");
	}
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		give = json_object_get(fp, kinds[i]);
		named += json_is_array(give) ? json_array_size(give) : 0;
	}
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		have = json_object_get(perms, kinds[i]);
		give = json_object_get(fp, kinds[i]);
		if (!json_is_array(have)) {
			json_object_set_new(perms, kinds[i], json_array());
			have = json_object_get(perms, kinds[i]);
		}
		if (!add && named == 0)
			json_array_clear(have);
		json_array_foreach(give, j, v) {
			bool present = false;

			for (k = 0; k < json_array_size(have); k++) {
				h = json_array_get(have, k);
				if (strcasecmp(json_string_value(h), json_string_value(v)) == 0) {
					present = true;
					if (!add)
						json_array_remove(have, k);
					break;
				}
			}
			if (add && !present)
				json_array_append(have, v);
		}
		left += json_array_size(have);
	}
	return left;
}

int arm_set_access_policies(struct api_call *c, const struct vault_info *cur, const char *kind,
			    json_t *entries, struct vault_info *out)
{
	json_t *doc = props_doc(cur), *list, *merged = NULL, *e, *m;
	size_t i, j;
	int rc = -1;

	if (doc == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	if (check_policies(c, entries) != 0)
		goto out;
	list = json_object_get(json_object_get(doc, "p"), "accessPolicies");
	merged = json_is_array(list) ? json_deep_copy(list) : json_array();
	if (strcasecmp(kind, "replace") == 0) {
		json_decref(merged);
		merged = json_deep_copy(entries);
	} else if (strcasecmp(kind, "add") == 0 || strcasecmp(kind, "remove") == 0) {
		bool add = strcasecmp(kind, "add") == 0;

		json_array_foreach(entries, i, e) {
			const char *oid = json_string_value(json_object_get(e, "objectId"));
			bool found = false;

			json_array_foreach(merged, j, m) {
				const char *moid = json_string_value(json_object_get(m, "objectId"));

				if (moid == NULL || strcasecmp(moid, oid) != 0)
					continue;
				found = true;
				if (merge_permissions(m, e, add) == 0)
					json_array_remove(merged, j);	/* nothing left */
				break;
			}
			if (add && !found)
				json_array_append(merged, e);
		}
	} else {
		kl_fail_az(&c->err, KL_EINVAL, "BadRequest", NULL,
			   "The operation kind '%.16s' is not one of add, replace, remove.", kind);
		goto out;
	}
	if (merged == NULL || json_array_size(merged) > MAX_POLICIES) {
		BAD(c, "%s would exceed 1024 entries.", "accessPolicies");
		goto out;
	}
	json_object_set(json_object_get(doc, "p"), "accessPolicies", merged);
	memcpy(out, cur, offsetof(struct vault_info, props));
	buf_reset(&out->props);
	if (json_util_dump(doc, &out->props, &c->err) != 0)
		goto out;
	rc = 0;
out:
	json_decref(merged);
	json_decref(doc);
	return rc;
}

json_t *arm_access_policies_json(const struct api_call *c, const struct vault_info *vi)
{
	json_t *doc = props_doc(vi), *v = NULL, *list;
	char *id = arm_vault_id(c, vi), *pid = NULL;

	if (doc == NULL || id == NULL || asprintf(&pid, "%s/accessPolicies", id) < 0) {
		pid = NULL;
		goto out;
	}
	list = json_object_get(json_object_get(doc, "p"), "accessPolicies");
	v = json_pack("{s:s, s:s, s:s, s:s, s:{s:o}}", "id", pid, "name", vi->name, "type",
		      "Microsoft.KeyVault/vaults/accessPolicies", "location", arm_vault_location(vi), "properties",
		      "accessPolicies", json_is_array(list) ? json_incref(list) : json_array());
out:
	json_decref(doc);
	free(id);
	free(pid);
	return v;
}
