/* `kluis master-key ...`: the master key's status on the node at --url and its rotation (the
 * administration API, /kluis/v1/masterKey; docs/operations.md). Key ids only: the key itself
 * never leaves the node's data directory. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cmd.h"

static int print_status(const json_t *v)
{
	static const char *const fields[] = {
		"key-id", "keyId", "previous-key-id", "previousKeyId", "node-key-id", "nodeKeyId",
		"node-key-current", "nodeKeyCurrent", NULL,
	};

	return cmd_print_fields(v, fields);
}

static int call(struct cli *c, const char *method, const char *last)
{
	json_t *out = NULL;
	char *url;
	int rc;

	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if ((url = client_url(c->cfg.url, NULL, "kluis", "v1", "masterKey", last, NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, method, url, NULL, true, &out)) == CLI_OK)
		rc = cmd_print(c, out, print_status);
	json_decref(out);
	free(url);
	return rc;
}

static int master_key_show(struct cli *c, const struct args *a)
{
	(void)a;
	return call(c, "GET", NULL);
}

static int master_key_rotate(struct cli *c, const struct args *a)
{
	(void)a;
	return call(c, "POST", "rotate");
}

static const struct cmd master_key_cmds[] = {
	{ "show", "master-key show",
	  "the key id the store wants, and whether this node's master.key is it", NULL, 0, 0,
	  master_key_show },
	{ "rotate", "master-key rotate",
	  "wrap the data key under a new master key; copy the new master.key to the other nodes",
	  NULL, 0, 0, master_key_rotate },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_master_key_group = {
	"master-key", "the master key of the deployment (administrators)", master_key_cmds, false,
};
