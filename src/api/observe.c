/* What the operators see of each request: the end of a request (api_req_done), turned into its
 * audit line (audit.c formats, util/logfile writes) and its counts (metrics.c), and GET /metrics,
 * which renders them with a snapshot of the node. Chooses which parts of a request may be
 * audited: never a header but x-ms-client-request-id, never the query, a token or a body. */
#include <string.h>
#include <strings.h>

#include "api/audit.h"
#include "api/internal.h"
#include "api/metrics.h"
#include "util/clock.h"
#include "util/logfile.h"
#include "vault/core.h"

/* Where a route names its vault, object and version among its path parameters. */
struct targets {
	const char *vault, *object, *version;
};

/* The data plane addresses the vault by host and the object as {name}; the management plane and
 * the admin API name the vault {name} and objects {secret}, {key} or {id}. Other parameters
 * (subscription, resource group, location, a token's id) are not audited. */
static void find_targets(const struct api_state *st, struct targets *t)
{
	const struct route *r = st->route;
	bool is_data = st->plane == PLANE_DATA;
	const char *p = r->path, *end;
	size_t i = 0, len;

	memset(t, 0, sizeof(*t));
	if (is_data)
		t->vault = st->vault_name;
	for (; (p = strchr(p, '{')) != NULL && i < st->n_params; p = end, i++) {
		if ((end = strchr(p, '}')) == NULL)
			break;
		len = (size_t)(end - p - 1);
		if (len == 4 && strncmp(p + 1, "name", 4) == 0)
			*(is_data ? &t->object : &t->vault) = st->params[i];
		else if (strncmp(p + 1, "version", 7) == 0)
			t->version = st->params[i];
		else if ((len == 6 && strncmp(p + 1, "secret", 6) == 0) ||
			 (len == 3 && strncmp(p + 1, "key", 3) == 0) ||
			 (len == 2 && strncmp(p + 1, "id", 2) == 0))
			t->object = st->params[i];
	}
}

/* "OK", the Azure error code the answer carries (x-ms-error-code), or a code for its status. */
static const char *result_of(const struct api_resp *resp, int status)
{
	size_t i;

	if (status == 0)
		return "NoResponse";
	if (status < 400)
		return "OK";
	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, "x-ms-error-code") == 0)
			return resp->headers[i].value;
	return status == 503 ? "ServiceUnavailable" : status >= 500 ? "InternalError" : "Error";
}

void api_req_done(struct api_ctx *ctx, const struct api_req *req, const struct api_resp *resp,
		  int status)
{
	const struct api_state *st = req->state;
	const struct route *r = api_req_route(req);
	const struct principal_ref *who = api_req_who(req);
	uint64_t now = clock_mono_us();
	uint64_t duration_us = now > req->start_us ? now - req->start_us : 0;
	struct audit_event ev;
	struct targets t = { 0 };
	char line[AUDIT_LINE_MAX];
	size_t len;

	metrics_observe(ctx->metrics, r, status, duration_us);
	if (req->token_grant != NULL)
		metrics_token(ctx->metrics, metrics_grant_of(req->token_grant),
			      req->is_token_issued && status == 200);
	if (ctx->cfg.audit == NULL)
		return;
	if (r != NULL)
		find_targets(st, &t);
	memset(&ev, 0, sizeof(ev));
	ev.time_ms = clock_now_ms();
	ev.request_id = req->request_id;
	ev.client_request_id = req->client_request_id;
	ev.client_addr = req->client_addr;
	ev.method = req->method;
	ev.operation = r != NULL ? r->op : "unknown";
	ev.is_authenticated = who->is_admin || who->id[0] != '\0';
	ev.is_admin = who->is_admin;
	ev.principal_id = who->id;
	ev.principal_name = who->name;
	ev.vault = t.vault;
	ev.object = t.object;
	ev.version = t.version;
	ev.status = status;
	ev.result = result_of(resp, status);
	ev.duration_us = duration_us;
	ev.region = req->region != NULL ? req->region : "local";
	ev.is_read_only = vault_core_mode(ctx->core) == VAULT_MODE_READ_ONLY;
	ev.grant = req->token_grant;
	ev.resource = req->token_resource;
	ev.is_token_issued = req->is_token_issued && status == 200;
	len = audit_format(&ev, line);
	logfile_write(ctx->cfg.audit, line, len);	/* a failure is counted and warned there */
}

int metrics_get(struct api_call *c)
{
	const struct vault_core *core = c->ctx->core;
	struct metrics_node node = { 0 };

	node.version = KLUIS_VERSION;
	node.region = c->ctx->cfg.region != NULL ? c->ctx->cfg.region : "local";
	node.storage = vault_core_storage(core);
	node.storage_role = vault_core_storage_role(core);
	node.is_read_only = vault_core_mode(core) == VAULT_MODE_READ_ONLY;
	node.is_writable = vault_core_writable(core);
	node.replication_lag_s = vault_core_replication_lag(core);
	node.is_replication_streaming = vault_core_replication_streaming(core);
	vault_core_keycache_stats(core, &node.keycache_hits, &node.keycache_misses);
	vault_core_authcache_stats(core, &node.authcache_hits, &node.authcache_misses);
	node.throttle_evictions = throttle_evictions(c->ctx->throttle);
	if (c->ctx->cfg.audit != NULL) {
		node.has_audit_log = true;
		logfile_stats(c->ctx->cfg.audit, &node.audit_lines, &node.audit_failures);
	}
	buf_reset(&c->resp->body);
	if (metrics_render(c->ctx->metrics, &node, &c->resp->body, &c->err) != 0)
		return -1;
	c->resp->status = 200;
	api_resp_header(c->resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	return 0;
}

void api_audit_job_event(void *arg, const struct vault_job_event *ev)
{
	struct api_ctx *ctx = arg;
	struct audit_event a;
	char line[AUDIT_LINE_MAX], id[37];
	size_t len;

	if (ctx == NULL || ctx->cfg.audit == NULL)
		return;
	vault_core_request_id(ctx->core, id);
	memset(&a, 0, sizeof(a));
	a.time_ms = clock_now_ms();
	a.request_id = id;
	a.client_addr = "";
	a.method = "JOB";
	a.operation = ev->operation;
	a.is_authenticated = true;
	a.principal_id = "";
	a.principal_name = "kluis-jobs";
	a.vault = ev->vault;
	a.object = ev->object;
	a.version = ev->version;
	a.result = ev->result;
	a.region = ctx->cfg.region != NULL ? ctx->cfg.region : "local";
	a.is_read_only = vault_core_mode(ctx->core) == VAULT_MODE_READ_ONLY;
	len = audit_format(&a, line);
	logfile_write(ctx->cfg.audit, line, len);
}
