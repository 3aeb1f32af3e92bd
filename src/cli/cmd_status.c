/* `kluis status`: the health of the configured node and of each --node, from GET /health
 * (no token: the endpoint is public, and a token would be sent to hosts named on the command
 * line only for this). An unreachable node is a row, not an abort; it makes the exit status 3. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/output.h"
#include "util/json.h"

/* One node's health as a JSON object: the server's answer plus "node", or {"node","status":
 * "unreachable"}. *rc is raised to CLI_EUNREACH or CLI_EFAIL as fits. NULL when out of memory. */
static json_t *node_health(struct cli *c, const char *node, int *rc)
{
	struct http_resp resp = { 0 };
	struct kl_err err;
	json_t *h = NULL;
	char *url;
	size_t n = strlen(node);

	while (n > 0 && node[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s/health", (int)n, node) < 0)
		return NULL;
	if (http_request(c->http, "GET", url, NULL, NULL, &resp) != 0) {
		*rc = CLI_EUNREACH;
		h = json_pack("{s:s%, s:s}", "node", node, n, "status", "unreachable");
		goto out;
	}
	if (resp.body.len > 0)
		h = json_util_parse(resp.body.data, resp.body.len, &err);
	if (!json_is_object(h)) {
		json_decref(h);
		h = json_object();
	}
	if (resp.status != 200) {
		if (*rc == CLI_OK)
			*rc = CLI_EFAIL;
		if (json_object_get(h, "status") == NULL)
			json_object_set_new(h, "status", json_sprintf("HTTP %ld", resp.status));
	}
	if (h != NULL && json_object_set_new(h, "node", json_stringn(node, n)) != 0) {
		json_decref(h);
		h = NULL;
	}
out:
	http_resp_clear(&resp);
	free(url);
	return h;
}

static int print_table(const json_t *list)
{
	static const char *const head[] = {
		"NODE", "STATUS", "MODE", "REGION", "STORAGE", "ROLE", "LAG",
	};
	char node[256], st[64], mode[32], region[64], storage[32], role[32], lag[32];
	struct table *t = table_new(7, head);
	const json_t *h;
	size_t i;

	if (t == NULL)
		return client_nomem();
	json_array_foreach(json_object_get(list, "value"), i, h) {
		const char *row[] = {
			output_text(h, "node", node, sizeof(node)),
			output_text(h, "status", st, sizeof(st)),
			output_text(h, "mode", mode, sizeof(mode)),
			output_text(h, "region", region, sizeof(region)),
			output_text(h, "storage", storage, sizeof(storage)),
			output_text(h, "storageRole", role, sizeof(role)),
			output_text(h, "replicationLagSeconds", lag, sizeof(lag)),
		};

		if (table_add(t, row) != 0) {
			table_free(t);
			return client_nomem();
		}
	}
	table_print(t, stdout);
	return CLI_OK;
}

static int add_node(struct cli *c, json_t *list, const char *node, int *rc)
{
	json_t *h = node_health(c, node, rc);

	return h != NULL && json_array_append_new(list, h) == 0 ? 0 : -1;
}

static int status_run(struct cli *c, const struct args *a)
{
	json_t *list = json_array(), *wrap = NULL;
	const char *node;
	size_t it = 0;
	int rc = CLI_OK, prc;
	bool ok = list != NULL;

	if (c->cfg.url == NULL && !args_has(a, "node")) {
		json_decref(list);
		return client_need_url(c);
	}
	if (ok && c->cfg.url != NULL)
		ok = add_node(c, list, c->cfg.url, &rc) == 0;
	while (ok && (node = args_next(a, "node", &it)) != NULL)
		ok = add_node(c, list, node, &rc) == 0;
	if (!ok || (wrap = json_pack("{s:o}", "value", list)) == NULL) {
		json_decref(list);
		return client_nomem();
	}
	prc = cmd_print(c, wrap, print_table);
	json_decref(wrap);
	return prc != CLI_OK ? prc : rc;
}

static const struct opt status_opts[] = {
	{ "node", 0, OPT_VALUE, "URL", "also ask this node (repeatable)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd status_cmd[] = {
	{ "status", "status [--node URL ...]",
	  "the health of the node at --url and of each --node (exit 3 if one is unreachable)",
	  status_opts, 0, 0, status_run },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_status_group = {
	"status", "the health of kluisd nodes", status_cmd, true,
};
