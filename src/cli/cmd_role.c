/* `kluis role ...`: role assignments (the administration API, /kluis/v1/roleAssignments).
 * The scope is a vault only when --vault is given on the command line: KLUIS_VAULT and the
 * config file's vault do not apply here, so that what a grant covers is always visible in the
 * command that made it. Role names go to the server verbatim. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/output.h"

#define ROLE_QUERY_MAX 1024

static int print_assignment(const json_t *v)
{
	static const char *const fields[] = {
		"id", "id", "principal", "principalName", "principal-id", "principalId",
		"role", "role", "role-id", "roleDefinitionId", "scope", "scope",
		"created", "@created", NULL,
	};

	return cmd_print_fields(v, fields);
}

static int print_list(const json_t *list)
{
	static const char *const head[] = { "ID", "PRINCIPAL", "ROLE", "SCOPE", "CREATED" };
	char id[64], who[128], role[128], scope[160], created[32];
	struct table *t = table_new(5, head);
	const json_t *it;
	size_t i;

	if (t == NULL)
		return client_nomem();
	json_array_foreach(json_object_get(list, "value"), i, it) {
		const char *row[] = {
			output_text(it, "id", id, sizeof(id)),
			output_text(it, "principalName", who, sizeof(who)),
			output_text(it, "role", role, sizeof(role)),
			output_text(it, "scope", scope, sizeof(scope)),
			output_time(it, "created", created, sizeof(created)),
		};

		if (table_add(t, row) != 0) {
			table_free(t);
			return client_nomem();
		}
	}
	table_print(t, stdout);
	return CLI_OK;
}

static int role_assign(struct cli *c, const struct args *a)
{
	const char *who = args_get(a, "principal"), *role = args_get(a, "role");
	const char *vault = args_get(a, "vault");	/* the flag only: see the top of the file */
	json_t *body;
	int rc;

	if (who == NULL || role == NULL)
		return cmd_usage_error("role assign needs --principal P and --role ROLE");
	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if ((body = json_pack("{s:s, s:s}", "principal", who, "role", role)) == NULL ||
	    (vault != NULL && json_object_set_new(body, "vault", json_string(vault)) != 0)) {
		json_decref(body);
		return cmd_usage_error("--principal, --role and --vault must be UTF-8 text");
	}
	rc = cmd_call_print(c, "POST",
			client_url(c->cfg.url, NULL, "kluis", "v1", "roleAssignments", NULL), body,
			print_assignment);
	json_decref(body);
	return rc;
}

static int role_list(struct cli *c, const struct args *a)
{
	const char *who = args_get(a, "principal"), *vault = args_get(a, "vault");
	struct kl_err err;
	struct buf q;
	bool ok = true;
	int rc;

	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	buf_init(&q, ROLE_QUERY_MAX);
	if (vault != NULL)
		ok = buf_append_str(&q, "vault=", &err) == 0 && http_escape(vault, &q, &err) == 0;
	if (ok && who != NULL)
		ok = buf_append_str(&q, q.len ? "&principal=" : "principal=", &err) == 0 &&
		     http_escape(who, &q, &err) == 0;
	if (!ok) {
		buf_clear(&q);
		return cmd_usage_error("--vault or --principal is too long");
	}
	rc = cmd_call_print(c, "GET",
			client_url(c->cfg.url, q.len ? buf_cstr(&q) : NULL, "kluis", "v1",
				   "roleAssignments", NULL),
			NULL, print_list);
	buf_clear(&q);
	return rc;
}

static int role_remove(struct cli *c, const struct args *a)
{
	char *url;
	int rc;

	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if ((url = client_url(c->cfg.url, NULL, "kluis", "v1", "roleAssignments", a->pos[0],
			      NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "DELETE", url, NULL, true, NULL)) == CLI_OK)
		rc = cmd_print_done(c, "removed role assignment", a->pos[0], NULL, NULL);
	free(url);
	return rc;
}

static const struct opt assign_opts[] = {
	{ "principal", 0, OPT_VALUE, "P", "the principal, by name or id" },
	{ "role", 0, OPT_VALUE, "ROLE", "role name, id or short form (secrets-user, reader...)" },
	{ NULL, 0, 0, NULL, NULL },
};
static const struct opt list_opts[] = {
	{ "principal", 0, OPT_VALUE, "P", "only this principal's assignments" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd role_cmds[] = {
	{ "assign", "role assign --principal P --role ROLE [--vault NAME]",
	  "assign a role on one vault (--vault) or on the whole deployment (no --vault)",
	  assign_opts, 0, 0, role_assign },
	{ "list", "role list [--vault NAME] [--principal P]", "list role assignments", list_opts, 0,
	  0, role_list },
	{ "remove", "role remove ID", "remove a role assignment", NULL, 1, 1, role_remove },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_role_group = {
	"role", "role assignments (the scope is a vault only with --vault on the command line)",
	role_cmds, false,
};
