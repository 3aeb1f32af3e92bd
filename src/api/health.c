/* Health endpoints for load balancers and operators: no authentication, no api-version, never a
 * secret. /health answers 200 while the node serves, with its mode and its storage's role;
 * /health/writable answers 200 only in read-write mode on a reachable primary (503 otherwise),
 * which is what the load balancer checks on the primary region's nodes. */
#include <string.h>

#include "api/internal.h"
#include "vault/core.h"

static json_t *health_body(const struct api_call *c)
{
	const struct vault_core *core = c->ctx->core;
	bool ro = vault_core_mode(core) == VAULT_MODE_READ_ONLY;
	double lag = vault_core_replication_lag(core);
	json_t *body;

	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "status", "ok", "mode",
			 ro ? "read-only" : "read-write", "region",
			 c->ctx->cfg.region ? c->ctx->cfg.region : "local", "storage",
			 vault_core_storage(core), "storageRole", vault_core_storage_role(core),
			 "version", KLUIS_VERSION);
	/* A standby's distance from its primary: lagSeconds null when it cannot be told. */
	if (body != NULL && strcmp(vault_core_storage_role(core), "standby") == 0)
		json_object_set_new(body, "replication",
				    json_pack("{s:b, s:o}", "streaming",
					      vault_core_replication_streaming(core), "lagSeconds",
					      lag < 0 ? json_null() : json_real(lag)));
	return body;
}

int health_get(struct api_call *c)
{
	return api_reply_json(c, 200, health_body(c));
}

int health_writable(struct api_call *c)
{
	json_t *body = health_body(c);

	if (body != NULL && !vault_core_writable(c->ctx->core))
		json_object_set_new(body, "status", json_string("not-writable"));
	return api_reply_json(c, vault_core_writable(c->ctx->core) ? 200 : 503, body);
}
