/* The throttle's step in the request pipeline (api_dispatch, right after authorization, so that
 * neither an unauthenticated flood nor a caller without rights on a vault spends anyone's budget):
 * which budget each operation draws on, whose buckets count it, the 429 in the shape the service
 * sends, and the rest of a weighted key operation's cost once the handler knows the key. Owns no
 * state; the counters are throttle.c's. Never refuses /health, /health/writable or /metrics. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"

enum throttle_budget throttle_gate_budget(const struct route *r)
{
	switch (route_plane_of(r)) {
	case PLANE_PUBLIC:
		return THROTTLE_NONE;
	case PLANE_IDENTITY:
		return THROTTLE_IDENTITY;
	case PLANE_ARM:
	case PLANE_ADMIN:
		return r->cls == ROUTE_READ ? THROTTLE_MGMT_READ : THROTTLE_MGMT_WRITE;
	case PLANE_DATA:
		break;
	}
	switch (r->perm) {
	case PERM_SECRET_SET:	/* shared by set (a new version) and update (attributes) */
		return r->handler == secrets_set ? THROTTLE_SECRET_CREATE : THROTTLE_SECRETS;
	case PERM_SECRET_RESTORE:
		return THROTTLE_SECRET_CREATE;
	case PERM_SECRET_GET:
	case PERM_SECRET_LIST:
	case PERM_SECRET_DELETE:
	case PERM_SECRET_BACKUP:
	case PERM_SECRET_RECOVER:
	case PERM_SECRET_PURGE:
		return THROTTLE_SECRETS;
	case PERM_KEY_CREATE:
	case PERM_KEY_IMPORT:
	case PERM_KEY_ROTATE:
	case PERM_KEY_RESTORE:
	case PERM_CERT_CREATE:	/* a certificate version makes (or takes) a key version */
	case PERM_CERT_IMPORT:
	case PERM_CERT_RESTORE:
		return THROTTLE_KEY_CREATE;
	case PERM_CERT_GET:	/* the other certificate operations are vault transactions */
	case PERM_CERT_LIST:
	case PERM_CERT_UPDATE:
	case PERM_CERT_DELETE:
	case PERM_CERT_RECOVER:
	case PERM_CERT_PURGE:
	case PERM_CERT_BACKUP:
	case PERM_CERT_CONTACTS:
	case PERM_CERT_ISSUERS_GET:
	case PERM_CERT_ISSUERS_LIST:
	case PERM_CERT_ISSUERS_SET:
	case PERM_CERT_ISSUERS_DELETE:
		return THROTTLE_SECRETS;
	default:	/* every other key operation, and random bytes */
		return THROTTLE_KEYS;
	}
}

/* "read" or "write", as Resource Manager names its budgets. */
static const char *mgmt_kind(enum throttle_budget b)
{
	return b == THROTTLE_MGMT_READ ? "read" : "write";
}

/* The address part of "ip:port" or "[ip]:port" into out. */
static void client_ip(const char *addr, char *out, size_t n)
{
	const char *start = addr, *end;
	size_t len;

	if (*addr == '[') {
		start = addr + 1;
		end = strchr(start, ']');
	} else {
		end = strrchr(addr, ':');
	}
	len = end != NULL ? (size_t)(end - start) : strlen(start);
	if (len >= n)
		len = n - 1;
	memcpy(out, start, len);
	out[len] = '\0';
}

/* The identity provider's budget: one bucket per client address, before the client is known, so
 * that guessing secrets or replaying assertions is as limited as asking for tokens. */
static int admit_identity(struct api_call *c)
{
	struct throttle_verdict v;
	char ip[64];

	client_ip(c->req->client_addr, ip, sizeof(ip));
	if (throttle_admit(c->ctx->throttle, THROTTLE_IDENTITY, ip, "", c->req->start_us, &v) == 0)
		return 0;
	c->retry_after_s = v.retry_after_s;
	return kl_fail_az(&c->err, KL_ETHROTTLED, "temporarily_unavailable", NULL,
			  "Too many token requests from this client address (at most %llu per "
			  "%u s). Retry after %u seconds.", (unsigned long long)v.limit,
			  c->ctx->throttle ? throttle_config_of(c->ctx->throttle)->window_s : 0,
			  v.retry_after_s);
}

int throttle_gate_admit(struct api_call *c, const struct route *r)
{
	enum throttle_budget b = throttle_gate_budget(r);
	enum route_plane plane = route_plane_of(r);
	const char *vault = plane == PLANE_DATA && c->st->vault_name ? c->st->vault_name : "";
	/* the deployment's bootstrap administrator has no id: its name, "admin" */
	const char *actor = c->who->id[0] != '\0' ? c->who->id : c->who->name;
	struct throttle_verdict v;
	unsigned w = c->ctx->throttle ? throttle_config_of(c->ctx->throttle)->window_s : 0;

	if (plane == PLANE_IDENTITY)
		return admit_identity(c);
	if (throttle_admit(c->ctx->throttle, b, vault, c->who->id, c->req->start_us, &v) == 0)
		return 0;
	c->retry_after_s = v.retry_after_s;
	if (plane == PLANE_ARM)	/* Resource Manager's wording (its resource provider throttle) */
		return kl_fail_az(&c->err, KL_ETHROTTLED, "ResourceRequestsThrottled", NULL,
				  "Number of '%s' requests %s%.40s%s exceeded the limit of '%llu' "
				  "for time interval '%02u:%02u:%02u'. Please try again after '%u' "
				  "seconds.", mgmt_kind(b),
				  v.by_principal ? "of the caller '" : "to this deployment",
				  v.by_principal ? actor : "", v.by_principal ? "'" : "",
				  (unsigned long long)v.limit, w / 3600, w / 60 % 60, w % 60,
				  v.retry_after_s);
	/* Key Vault's own body, captured from the service; the reason for a caller's budget is
	 * kluis' (Azure counts per vault only). */
	return kl_fail_az(&c->err, KL_ETHROTTLED, "Throttled", NULL,
			  "Request was not processed because too many requests were received. "
			  "Reason: %s", v.by_principal ? "PrincipalRequestTypeLimitReached"
			  : plane == PLANE_DATA ? "VaultRequestTypeLimitReached"
			  : "DeploymentRequestTypeLimitReached");
}

void throttle_gate_note_key(struct api_call *c, const char *kty, unsigned bits)
{
	const struct route *r = c->st->route;

	if (r != NULL)
		c->key_weight = throttle_key_weight(throttle_gate_budget(r), kty, bits);
}

void throttle_gate_settle(struct api_call *c, const struct route *r)
{
	const char *vault = c->st->vault_name ? c->st->vault_name : "";

	if (c->key_weight > 1 && route_plane_of(r) == PLANE_DATA)
		throttle_charge(c->ctx->throttle, throttle_gate_budget(r), vault, c->who->id,
				c->key_weight - 1, c->req->start_us);
}
