/* The administration API, part four (docs/admin-api.md, docs/deploy.md "Promotion"): this node's
 * region, the regions' epoch and the write fence as this node sees them, the promotion of this
 * node's region when the primary region is lost for good, and a planned switchover to it
 * (vault/fence.h). */
#include <inttypes.h>
#include <time.h>

#include "api/internal.h"
#include "vault/fence.h"

/* Unix ms as RFC 3339 UTC with milliseconds, or null when unknown (< 0). */
static json_t *time_json(int64_t ms)
{
	char out[80];	/* ample for any int the format could print */
	struct tm tm;
	time_t s = (time_t)(ms / 1000);

	if (ms <= 0 || gmtime_r(&s, &tm) == NULL)
		return json_null();
	snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(out);
}

static json_t *epoch_json(const struct vault_epoch *e)
{
	return json_pack("{s:I, s:s?, s:o}", "epoch", (json_int_t)e->epoch, "region",
			 e->region[0] != '\0' ? e->region : NULL, "promotedAt",
			 time_json(e->promoted_at_ms));
}

static json_t *seconds_json(int64_t ms)
{
	return ms < 0 ? json_null() : json_real((double)ms / 1000.0);
}

int admin_region_get(struct api_call *c)
{
	struct vault_region_status s;
	json_t *j;

	if (vault_region_status(c->ctx->core, &s, &c->err) != 0)
		return -1;
	j = json_pack("{s:s, s:o, s:b, s:s}", "region", s.region, "epoch", epoch_json(&s.epoch),
		      "fenced", s.fenced, "storageRole", s.standby ? "standby" : "primary");
	if (j != NULL && s.peer)
		json_object_set_new(j, "writeLease", json_boolean(s.leased));
	if (j != NULL && s.standby)
		json_object_set_new(j, "replication", json_pack("{s:b, s:o, s:o}", "streaming",
				    s.streaming, "lagSeconds", seconds_json(s.lag_ms),
				    "lastReplayedAt", time_json(s.replayed_at_ms)));
	if (j != NULL && s.peer)
		json_object_set_new(j, "peer", !s.peer_reachable ? json_pack("{s:b}", "reachable", 0)
				    : json_pack("{s:b, s:s, s:b, s:o}", "reachable", 1,
						"storageRole", s.peer_primary ? "primary" : "standby",
						"replayPaused", s.peer_paused, "epoch",
						epoch_json(&s.peer_epoch)));
	return api_reply_json(c, 200, j);
}

/* {"force": bool, "dryRun": bool}, both optional; an empty body is {}. The answer says what may
 * have been lost: transactions of the old primary region after lastReplayedAt. */
int admin_region_promote(struct api_call *c)
{
	struct vault_promotion p;
	json_t *body = NULL;
	bool force, dry_run;
	int rc = -1;

	if ((c->req->body.len > 0 && body_object(c->req, &body, &c->err) != 0) ||
	    body_opt_bool(body, "force", &force, &c->err) != 0 ||
	    body_opt_bool(body, "dryRun", &dry_run, &c->err) != 0 ||
	    vault_promote(c->ctx->core, force, dry_run, &p, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, json_pack("{s:b, s:o, s:{s:o, s:o, s:b}, s:f}", "dryRun",
		dry_run, "epoch", epoch_json(&p.epoch), "mayBeLost", "after",
		time_json(p.replayed_at_ms), "lagSeconds", seconds_json(p.lag_ms), "streaming",
		p.streaming, "tookSeconds", (double)p.took_ms / 1000.0));
out:
	json_decref(body);
	return rc;
}

/* {"dryRun": bool}, optional; an empty body is {}. Nothing acknowledged is lost: the answer says
 * how long the deployment's writes were refused. */
int admin_region_switchover(struct api_call *c)
{
	struct vault_switchover sw;
	json_t *body = NULL;
	bool dry_run;
	int rc = -1;

	if ((c->req->body.len > 0 && body_object(c->req, &body, &c->err) != 0) ||
	    body_opt_bool(body, "dryRun", &dry_run, &c->err) != 0 ||
	    vault_switchover(c->ctx->core, dry_run, &sw, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, json_pack("{s:b, s:o, s:f, s:f}", "dryRun", dry_run, "epoch",
		epoch_json(&sw.epoch), "writesPausedSeconds", (double)sw.paused_ms / 1000.0,
		"tookSeconds", (double)sw.took_ms / 1000.0));
out:
	json_decref(body);
	return rc;
}
