/* Health endpoints for load balancers and operators: no authentication, no api-version, never a
 * secret. /health answers 200 while the node serves, with its mode and its storage's role;
 * /health/writable answers 200 only in read-write mode on a reachable primary (503 otherwise),
 * which is what the load balancer checks on the primary region's nodes. */
#include "api/internal.h"
#include "vault/core.h"

static json_t *health_body(const struct api_call *c)
{
	bool ro = vault_core_mode(c->ctx->core) == VAULT_MODE_READ_ONLY;

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "status", "ok", "mode",
			 ro ? "read-only" : "read-write", "region",
			 c->ctx->cfg.region ? c->ctx->cfg.region : "local", "storage",
			 vault_core_storage(c->ctx->core), "storageRole",
			 vault_core_storage_role(c->ctx->core), "version", KLUIS_VERSION);
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
