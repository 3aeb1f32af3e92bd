/* `kluis region ...`: the regions' epoch and write fence as the node at --url sees them, the
 * promotion of that node's region when the primary region is lost for good, and a planned
 * switchover to it (the administration API, /kluis/v1/deployment/region; docs/deploy.md). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cmd.h"

static int print_status(const json_t *v)
{
	static const char *const fields[] = {
		"region", "region", "storage-role", "storageRole", "epoch", "epoch.epoch",
		"epoch-region", "epoch.region", "promoted-at", "epoch.promotedAt", "fenced", "fenced",
		"write-lease", "writeLease", "lag-seconds", "replication.lagSeconds",
		"last-replayed-at", "replication.lastReplayedAt", "peer-reachable", "peer.reachable",
		"peer-storage-role", "peer.storageRole", "peer-epoch", "peer.epoch.epoch", NULL,
	};

	return cmd_print_fields(v, fields);
}

static int print_promotion(const json_t *v)
{
	static const char *const fields[] = {
		"dry-run", "dryRun", "epoch", "epoch.epoch", "region", "epoch.region",
		"promoted-at", "epoch.promotedAt", "may-be-lost-after", "mayBeLost.after",
		"lag-seconds", "mayBeLost.lagSeconds", "was-streaming", "mayBeLost.streaming",
		"took-seconds", "tookSeconds", NULL,
	};

	return cmd_print_fields(v, fields);
}

static int print_switchover(const json_t *v)
{
	static const char *const fields[] = {
		"dry-run", "dryRun", "epoch", "epoch.epoch", "region", "epoch.region",
		"writes-paused-seconds", "writesPausedSeconds", "took-seconds", "tookSeconds", NULL,
	};

	return cmd_print_fields(v, fields);
}

static int region_show(struct cli *c, const struct args *a)
{
	char *url;
	int rc;

	(void)a;
	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	url = client_url(c->cfg.url, NULL, "kluis", "v1", "deployment", "region", NULL);
	return cmd_call_print(c, "GET", url, NULL, print_status);
}

/* POSTs body (taken; NULL: out of memory) to /kluis/v1/deployment/region/OP and prints the
 * answer with print. */
static int region_post(struct cli *c, const char *op, json_t *body, int (*print)(const json_t *))
{
	char *url;
	int rc;

	if ((rc = client_need_url(c)) != CLI_OK) {
		json_decref(body);
		return rc;
	}
	if (body == NULL)
		return client_nomem();
	url = client_url(c->cfg.url, NULL, "kluis", "v1", "deployment", "region", op, NULL);
	rc = cmd_call_print(c, "POST", url, body, print);
	json_decref(body);
	return rc;
}

static int region_promote(struct cli *c, const struct args *a)
{
	return region_post(c, "promote", json_pack("{s:b, s:b}", "force", args_has(a, "force"),
						   "dryRun", args_has(a, "dry-run")),
			   print_promotion);
}

static int region_switchover(struct cli *c, const struct args *a)
{
	return region_post(c, "switchover", json_pack("{s:b}", "dryRun", args_has(a, "dry-run")),
			   print_switchover);
}

static const struct opt switchover_opts[] = {
	{ "dry-run", 0, OPT_FLAG, NULL, "check that a switchover could start; change nothing" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct opt promote_opts[] = {
	{ "dry-run", 0, OPT_FLAG, NULL, "check and report what may be lost; change nothing" },
	{ "force", 0, OPT_FLAG, NULL, "promote even though the other region's database still "
				      "answers as a primary" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd region_cmds[] = {
	{ "show", "region show",
	  "the node's region, the regions' epoch, its write lease and what it sees of the other "
	  "region", NULL, 0, 0, region_show },
	{ "promote", "region promote [--dry-run] [--force]",
	  "make the node's region (a standby's) the deployment's primary, after the other region "
	  "is lost for good; prints what may have been lost", promote_opts, 0, 0, region_promote },
	{ "switchover", "region switchover [--dry-run]",
	  "move the deployment's writes to the node's region (a standby's), both regions healthy: "
	  "nothing acknowledged is lost", switchover_opts, 0, 0, region_switchover },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_region_group = {
	"region", "the deployment's regions: the epoch, a promotion, a switchover (administrators)",
	region_cmds, false,
};
