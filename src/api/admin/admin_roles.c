/* The administration API, part two (docs/admin-api.md): role definitions and assignments. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "api/roles.h"
#include "vault/assignments.h"
#include "vault/principals.h"

int admin_roles_list(struct api_call *c)
{
	const struct role_def *t = NULL;
	const char *names[64];
	json_t *items = json_array(), *perms, *r;
	size_t n, i, j, k;

	if (items == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	t = roles_table(&n);
	for (i = 0; i < n; i++) {
		k = roles_perm_names(t[i].perms, names, sizeof(names) / sizeof(names[0]));
		perms = json_array();
		for (j = 0; perms != NULL && j < k; j++)
			json_array_append_new(perms, json_string(names[j]));
		r = json_pack("{s:s, s:s, s:s, s:s, s:o, s:[s]}", "id", t[i].id, "name", t[i].name,
			      "shortName", t[i].short_name, "description", t[i].description,
			      "permissions", perms ? perms : json_array(), "scopes",
			      t[i].deployment_only ? "deployment" : "vault");
		if (r == NULL || json_array_append_new(items, r) != 0) {
			json_decref(items);
			return kl_fail(&c->err, KL_ENOMEM, "out of memory");
		}
	}
	return api_reply_json(c, 200, json_pack("{s:o}", "value", items));
}

static json_t *assignment_json(struct api_call *c, const struct assignment *a)
{
	const struct role_def *rd = roles_find(a->role_id);
	struct principal p;
	char scope[VAULT_NAME_MAX + 16];
	json_t *j;
	struct kl_err err = { 0 };

	if (principal_get(c->ctx->core, a->principal_id, &p, &err) != 0)
		snprintf(p.name, sizeof(p.name), "%s", "");	/* being deleted */
	snprintf(scope, sizeof(scope), a->vault[0] ? "/vaults/%s" : "/", a->vault);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "id", a->id, "principalId",
		      a->principal_id, "principalName", p.name, "role", rd ? rd->name : a->role_id,
		      "roleDefinitionId", a->role_id, "scope", scope, "created", (json_int_t)a->created);
	if (j != NULL && a->vault[0])
		json_object_set_new(j, "vault", json_string(a->vault));
	if (j == NULL)
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
	return j;
}

int admin_assignment_create(struct api_call *c)
{
	const char *who = NULL, *role = NULL, *vault = NULL;
	const struct role_def *rd;
	struct assignment a;
	struct principal p;
	json_t *body = NULL;
	int rc = -1;

	memset(&a, 0, sizeof(a));
	if (body_object(c->req, &body, &c->err) != 0 ||
	    body_opt_string(body, "principal", &who, &c->err) != 0 ||
	    body_opt_string(body, "role", &role, &c->err) != 0 ||
	    body_opt_string(body, "vault", &vault, &c->err) != 0)
		goto out;
	if (who == NULL || role == NULL) {
		kl_fail(&c->err, KL_EINVAL, "A role assignment needs a principal and a role.");
		goto out;
	}
	if ((rd = roles_find(role)) == NULL) {
		kl_fail(&c->err, KL_EINVAL, "Unknown role '%.64s': GET /kluis/v1/roleDefinitions lists "
			"them.", role);
		goto out;
	}
	if (rd->deployment_only && vault != NULL && *vault != '\0') {
		kl_fail(&c->err, KL_EINVAL, "The role '%s' can only be assigned on the deployment "
			"(leave out vault).", rd->name);
		goto out;
	}
	if (vault != NULL && (*vault == '\0' || strlen(vault) > VAULT_NAME_MAX)) {
		kl_fail_az(&c->err, KL_ENOTFOUND, "VaultNotFound", NULL, "The vault '%.64s' was not "
			   "found.", vault);
		goto out;
	}
	if (principal_get(c->ctx->core, who, &p, &c->err) != 0)
		goto out;
	memcpy(a.principal_id, p.id, sizeof(a.principal_id));
	snprintf(a.role_id, sizeof(a.role_id), "%s", rd->id);
	if (vault != NULL)
		snprintf(a.vault, sizeof(a.vault), "%s", vault);
	if (assignment_create(c->ctx->core, &a, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 201, assignment_json(c, &a));
out:
	json_decref(body);
	return rc;
}

struct assignment_list {
	struct api_call *c;
	json_t *items;
};

static int add_assignment(void *arg, const struct assignment *a, struct kl_err *err)
{
	struct assignment_list *l = arg;
	json_t *j = assignment_json(l->c, a);

	if (j == NULL || json_array_append_new(l->items, j) != 0)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

int admin_assignments_list(struct api_call *c)
{
	struct assignment_list l = { .c = c, .items = json_array() };
	const char *vault = api_query(c->req, "vault"), *who = api_query(c->req, "principal");
	char lvault[VAULT_NAME_MAX + 1] = "";
	struct principal p;
	size_t i;

	if (l.items == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	if (who != NULL && principal_get(c->ctx->core, who, &p, &c->err) != 0)
		goto fail;
	if (vault != NULL) {
		for (i = 0; vault[i] != '\0' && i < VAULT_NAME_MAX; i++)
			lvault[i] = (vault[i] >= 'A' && vault[i] <= 'Z') ? (char)(vault[i] + 32) : vault[i];
		lvault[i] = '\0';
		if (!vault_name_is_valid_vault(vault)) {
			kl_fail_az(&c->err, KL_ENOTFOUND, "VaultNotFound", NULL,
				   "The vault '%.64s' was not found.", vault);
			goto fail;
		}
	}
	if (assignment_each(c->ctx->core, vault ? lvault : NULL, who ? p.id : NULL, add_assignment, &l,
			    &c->err) != 0)
		goto fail;
	return api_reply_json(c, 200, json_pack("{s:o}", "value", l.items));
fail:
	json_decref(l.items);
	return -1;
}

int admin_assignment_get(struct api_call *c)
{
	struct assignment a;

	if (assignment_get(c->ctx->core, api_param(c, 0), &a, &c->err) != 0)
		return -1;
	return api_reply_json(c, 200, assignment_json(c, &a));
}

int admin_assignment_delete(struct api_call *c)
{
	struct assignment a;

	if (assignment_delete(c->ctx->core, api_param(c, 0), &a, &c->err) != 0)
		return -1;
	return api_reply_json(c, 200, assignment_json(c, &a));
}
