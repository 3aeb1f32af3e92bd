/* Health endpoints for load balancers and operators: no authentication, no api-version, never a
 * secret. The mode is read-write on the embedded store; replication later reports more. */
#include "api/internal.h"
#include "vault/core.h"

static json_t *health_body(const struct api_call *c)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "status", "ok", "mode", "read-write",
			 "region", c->ctx->cfg.region ? c->ctx->cfg.region : "local", "storage",
			 vault_core_storage(c->ctx->core), "storageRole", "primary", "version",
			 KLUIS_VERSION);
}

int health_get(struct api_call *c)
{
	return api_reply_json(c, 200, health_body(c));
}

int health_writable(struct api_call *c)
{
	return api_reply_json(c, 200, health_body(c));
}
