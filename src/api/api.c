/* The request pipeline: host to vault, route, api-version, token and the read-only gate on the
 * head; then, with the body, authorization, the throttle and the handler; and the lifetime of
 * api_req/api_resp. The one gate every operation passes, so handlers never check credentials,
 * versions or budgets themselves. Never logs a token or a body. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/authz.h"
#include "api/internal.h"
#include "api/metrics.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "vault/authenticate.h"
#include "vault/core.h"
#include "vault/identity.h"

#define RESP_BODY_MAX (64u * 1024 * 1024)
#define RESP_BODY_RESERVE 2047	/* bytes reserved for a JSON answer before it is written */
#define HOST_MAX 255
/* The one refusal of a bearer token that does not open the vault, whatever the reason (unknown,
 * revoked, expired, or without the client certificate its principal is bound to): the same
 * text, so the same body and challenge (docs/security.md). */
#define TOKEN_NOT_VALID "AKV10001: The bearer token is not valid for this vault."

/* The data-plane api-versions kluis understands (all answer with one superset of fields). */
static const char *const api_versions[] = {
	"2015-06-01", "2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6",
	"7.3-preview", "7.4-preview.1", "7.5-preview.1", "7.6-preview.1", "7.6-preview.2",
	"2025-06-01", "2025-06-01-preview", "2025-07-01", "2025-07-01-preview", "2026-04-01",
	"2026-01-01-preview", "2026-04-01-preview",
};
#define LATEST_API_VERSION "2026-04-01"

/* The management plane's (Microsoft.KeyVault/vaults, and the generic resources list). */
static const char *const arm_api_versions[] = {
	"2015-06-01", "2015-11-01", "2016-09-01", "2016-10-01", "2018-02-14", "2018-02-14-preview",
	"2019-09-01", "2019-10-01", "2020-04-01-preview", "2021-04-01", "2021-04-01-preview",
	"2021-06-01-preview", "2021-10-01", "2021-11-01-preview", "2022-02-01-preview", "2022-07-01",
	"2022-09-01", "2022-11-01", "2023-02-01", "2023-07-01", "2023-08-01-preview",
	"2024-04-01-preview", "2024-11-01", "2024-12-01-preview", "2025-05-01", "2026-02-01",
	"2026-04-01",
	/* Microsoft.Resources' subscriptions (az 2.45 lists them with 2019-11-01) */
	"2016-06-01", "2019-06-01", "2019-11-01", "2020-01-01", "2021-01-01", "2022-12-01",
};
#define LATEST_ARM_API_VERSION "2026-02-01"

struct api_ctx *api_ctx_new(const struct api_config *cfg, struct vault_core *core,
			    struct kl_err *err)
{
	struct api_ctx *ctx = calloc(1, sizeof(*ctx));
	struct throttle_config tcfg;

	if (ctx == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	ctx->cfg = *cfg;
	ctx->core = core;
	ctx->max_body = cfg->max_body ? cfg->max_body : API_DEFAULT_MAX_BODY;
	if (cfg->throttle != NULL)
		tcfg = *cfg->throttle;
	else
		throttle_config_default(&tcfg);
	ctx->cfg.throttle = NULL;	/* copied into ctx->throttle */
	if ((ctx->metrics = metrics_new()) == NULL ||
	    (ctx->throttle = throttle_new(&tcfg, err)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		api_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void api_ctx_free(struct api_ctx *ctx)
{
	if (ctx != NULL) {
		metrics_free(ctx->metrics);
		throttle_free(ctx->throttle);
	}
	free(ctx);
}

size_t api_ctx_max_body(const struct api_ctx *ctx)
{
	return ctx->max_body;
}

int api_req_init(const struct api_ctx *ctx, struct api_req *req, struct kl_err *err)
{
	memset(req, 0, sizeof(*req));
	arena_init(&req->arena);
	buf_init_secret(&req->body, ctx->max_body);
	(void)err;
	vault_core_request_id(ctx->core, req->request_id);
	req->region = ctx->cfg.region != NULL ? ctx->cfg.region : "local";
	req->start_us = clock_mono_us();
	metrics_started(ctx->metrics);
	return 0;
}

int api_req_add_query(struct api_req *req, const char *name, const char *value,
		      struct kl_err *err)
{
	struct api_param *p;

	if (req->n_query >= API_MAX_QUERY) {
		req->query_overflow = true;
		return 0;
	}
	p = &req->query[req->n_query];
	p->name = arena_strdup(&req->arena, name ? name : "");
	p->value = arena_strdup(&req->arena, value ? value : "");
	if (p->name == NULL || p->value == NULL) {
		p->name = p->value = NULL;
		return kl_fail(err, KL_ENOMEM, "out of memory");
	}
	req->n_query++;
	return 0;
}

/* A string of the request: wiped; freed unless its arena holds it (freed with the arena). */
static void release(struct api_req *req, char *s, bool is_secret)
{
	if (s == NULL)
		return;
	if (is_secret)
		secure_wipe(s, strlen(s));
	if (!arena_owns(&req->arena, s))
		free(s);
}

void api_req_free(struct api_req *req)
{
	size_t i;

	for (i = 0; i < req->n_query; i++) {
		release(req, req->query[i].name, false);
		release(req, req->query[i].value, true);
	}
	release(req, req->path, false);
	release(req, req->host, false);
	release(req, req->authorization, true);
	release(req, req->identity_header, true);
	release(req, req->client_request_id, false);
	release(req, req->content_type, false);
	buf_clear(&req->body);
	arena_free(&req->arena);	/* wipes all of it */
	memset(req->method, 0, sizeof(*req) - offsetof(struct api_req, method));
}

void api_resp_init(struct api_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	buf_init_secret(&resp->body, RESP_BODY_MAX);
}

void api_resp_free(struct api_resp *resp)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		if (!resp->headers[i].in_arena)
			free(resp->headers[i].value);
	buf_clear(&resp->body);
	memset(resp, 0, sizeof(*resp));
}

void api_resp_header(struct api_resp *resp, const char *name, const char *value)
{
	size_t i;
	char *copy;

	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			break;
	if (i == API_MAX_RESP_HEADERS) {
		LOG_WARN(NULL, "dropping response header %s: too many", name);
		return;
	}
	copy = resp->arena != NULL ? arena_strdup(resp->arena, value) : strdup(value);
	if (copy == NULL) {
		LOG_WARN(NULL, "dropping response header %s: out of memory", name);
		return;
	}
	if (i < resp->n_headers) {
		if (!resp->headers[i].in_arena)
			free(resp->headers[i].value);
	} else {
		resp->n_headers++;
	}
	resp->headers[i].name = name;
	resp->headers[i].value = copy;
	resp->headers[i].in_arena = resp->arena != NULL;
}

const char *api_query(const struct api_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_query; i++)
		if (strcmp(req->query[i].name, name) == 0)
			return req->query[i].value;
	return NULL;
}

const char *api_name_param(struct api_call *c, const char *kind)
{
	const char *name = c->st->n_params > 0 ? c->st->params[0] : "";

	if (!vault_name_is_valid_object(name)) {
		kl_fail(&c->err, KL_EINVAL, "The %s name '%.64s' is not valid: names are 1 to 127 "
			"characters of letters, digits and hyphens.", kind, name);
		return NULL;
	}
	return name;
}

const char *api_version_param(struct api_call *c)
{
	return api_param(c, 1);
}

const char *api_param(const struct api_call *c, size_t i)
{
	return c->st->n_params > i ? c->st->params[i] : "";
}

/* Printable ASCII without quotes or backslashes: safe to echo in a header or a URL authority. */
static bool is_safe_header_text(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

bool api_host_is_valid(const char *h)
{
	size_t i;

	if (h == NULL || *h == '\0')
		return false;
	for (i = 0; h[i] != '\0'; i++) {
		char ch = h[i];

		if (i >= HOST_MAX || !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				       (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == ':' ||
				       ch == '[' || ch == ']'))
			return false;
	}
	return true;
}

/* The host part of an authority (no port), lowercased, into out. */
static void authority_host(const char *authority, char *out, size_t n)
{
	const char *end;
	size_t len, i;

	if (authority[0] == '[') {
		end = strchr(authority, ']');
		len = end ? (size_t)(end - authority) + 1 : strlen(authority);
	} else {
		end = strrchr(authority, ':');
		len = end ? (size_t)(end - authority) : strlen(authority);
	}
	if (len >= n)
		len = n - 1;
	for (i = 0; i < len; i++)
		out[i] = (authority[i] >= 'A' && authority[i] <= 'Z') ? (char)(authority[i] + 32)
								      : authority[i];
	out[len] = '\0';
}

/* The port of an authority, "" when none. */
static const char *authority_port(const char *authority)
{
	const char *p = authority[0] == '[' ? strchr(authority, ']') : authority;
	const char *colon = p ? strrchr(p, ':') : NULL;

	return colon ? colon + 1 : "";
}

/* Which vault the authority names: NAME.SUFFIX is NAME, anything else the default vault. */
static int vault_of_host(const struct api_ctx *ctx, const char *authority, struct arena *arena,
			 char **out, struct kl_err *err)
{
	char host[HOST_MAX + 1];
	const char *suffix = ctx->cfg.dns_suffix;
	size_t hl, sl = strlen(suffix);
	const char *name = ctx->cfg.default_vault;
	char label[HOST_MAX + 1] = "";

	authority_host(authority, host, sizeof(host));
	hl = strlen(host);
	/* "NAME.SUFFIX." is the same DNS name as "NAME.SUFFIX" (fully qualified): it must address
	 * vault NAME, not fall through to the default vault under a URL that names NAME. */
	if (hl > 0 && host[hl - 1] == '.')
		host[--hl] = '\0';
	if (hl > sl + 1 && host[hl - sl - 1] == '.' && strcasecmp(host + hl - sl, suffix) == 0) {
		memcpy(label, host, hl - sl - 1);
		label[hl - sl - 1] = '\0';
		if (strchr(label, '.') != NULL)
			return kl_fail_az(err, KL_ENOTFOUND, "VaultNotFound", NULL,
					  "No vault is addressed by the host %.64s.", host);
		name = label;
	}
	if ((*out = arena_strdup(arena, name)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

void api_resp_challenge(const struct api_ctx *ctx, const struct api_req *req, const char *host,
			struct api_resp *resp, const char *message)
{
	struct kl_err err;
	char value[1024];
	const char *port = authority_port(host);
	bool arm = req->state != NULL && req->state->route != NULL &&
		   req->state->plane == PLANE_ARM;

	/* Resource Manager's code for a missing or bad token; the data plane's otherwise. */
	kl_fail_az(&err, KL_EUNAUTH, arm ? "InvalidAuthenticationToken" : "Unauthorized", NULL, "%s",
		   message);
	api_resp_error(resp, &err);
	/* The SDKs check that the vault host ends with "." + the resource's host (and port, in
	 * Python), and take the tenant from the authorization URL's path. */
	snprintf(value, sizeof(value), "Bearer authorization=\"https://%s/%s\", resource=\"https://%s%s%s\"",
		 host, vault_core_tenant(ctx->core), ctx->cfg.dns_suffix, *port && strcmp(port, "443") ? ":" : "",
		 *port && strcmp(port, "443") ? port : "");
	api_resp_header(resp, "WWW-Authenticate", value);
	api_resp_finish(req, resp);
}

static bool resp_has_header(const struct api_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return true;
	return false;
}

void api_resp_finish(const struct api_req *req, struct api_resp *resp)
{
	api_resp_header(resp, "x-ms-request-id", req->request_id);
	if (req->client_request_id != NULL && is_safe_header_text(req->client_request_id, 256))
		api_resp_header(resp, "x-ms-client-request-id", req->client_request_id);
	api_resp_header(resp, "x-ms-keyvault-service-version", "kluis-" KLUIS_VERSION);
	/* Azure's name for it: tells a client (and a failover drill) which region answered. */
	if (req->region != NULL)
		api_resp_header(resp, "x-ms-keyvault-region", req->region);
	if (!resp_has_header(resp, "Cache-Control"))	/* a token's answer says no-store */
		api_resp_header(resp, "Cache-Control", "no-cache");
	if (resp->body.len > 0 && !resp_has_header(resp, "Content-Type"))
		api_resp_header(resp, "Content-Type", "application/json; charset=utf-8");
}

int api_reply_json(struct api_call *c, int status, json_t *body)
{
	int rc;

	/* A part jansson could not allocate is left out by json_object_set_new without a word: a
	 * reply built while the request's arena refused anything is not sent. */
	if (body == NULL || c->req->arena.failed) {
		json_decref(body);
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	}
	buf_reset(&c->resp->body);
	/* One allocation for most answers instead of one per doubling from 64 bytes. */
	if (buf_reserve(&c->resp->body, RESP_BODY_RESERVE, &c->err) != 0) {
		json_decref(body);
		return -1;
	}
	rc = json_util_dump(body, &c->resp->body, &c->err);
	json_decref(body);
	if (rc == 0)
		c->resp->status = status;
	return rc;
}

int api_reply_empty(struct api_call *c, int status)
{
	buf_reset(&c->resp->body);
	c->resp->status = status;
	return 0;
}

static bool api_version_known(const char *v, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], v) == 0)
			return true;
	return false;
}

/* The api-version the plane of route r needs: 0, or -1 with err set. */
static int check_api_version(const struct api_req *req, enum route_plane plane, struct kl_err *err)
{
	const char *version = api_query(req, "api-version");

	if (plane == PLANE_ADMIN)
		return 0;	/* versioned by its path, /kluis/v1 */
	if (plane == PLANE_ARM) {
		if (version == NULL || *version == '\0')
			return kl_fail_az(err, KL_EINVAL, "MissingApiVersionParameter", NULL,
					  "The api-version query parameter (?api-version=) is required "
					  "for all requests.");
		if (!api_version_known(version, arm_api_versions,
				       sizeof(arm_api_versions) / sizeof(arm_api_versions[0])))
			return kl_fail_az(err, KL_EINVAL, "InvalidApiVersionParameter", NULL,
					  "The api-version '%.32s' is invalid. The supported versions "
					  "include '" LATEST_ARM_API_VERSION "'.", version);
		return 0;
	}
	if (version == NULL || *version == '\0')
		return kl_fail_az(err, KL_EINVAL, "BadParameter", NULL,
				  "The api-version query parameter is missing. Consider using the latest "
				  "supported version (" LATEST_API_VERSION ").");
	if (!api_version_known(version, api_versions, sizeof(api_versions) / sizeof(api_versions[0])))
		return kl_fail_az(err, KL_EINVAL, "BadParameter", NULL,
				  "The specified version (%.32s) is not recognized. Consider using the "
				  "latest supported version (" LATEST_API_VERSION ").", version);
	return 0;
}

/* The bearer token of an Authorization header, or NULL. */
static const char *bearer_token(const char *authz, size_t *len)
{
	const char *t;

	if (authz == NULL || strncasecmp(authz, "Bearer ", 7) != 0)
		return NULL;
	t = authz + 7;
	while (*t == ' ')
		t++;
	*len = strlen(t);
	while (*len > 0 && t[*len - 1] == ' ')
		(*len)--;
	return *len > 0 ? t : NULL;
}

/* Two certificate fingerprints (64 hex digits each; "" for none) are the same: no secret, but
 * compared without an early exit anyway. */
static bool same_fingerprint(const char *bound, const char *presented)
{
	unsigned char diff = 0;
	size_t i;

	if (strlen(presented) != PRINCIPAL_CERT_HEX || strlen(bound) != PRINCIPAL_CERT_HEX)
		return false;
	for (i = 0; i < PRINCIPAL_CERT_HEX; i++)
		diff |= (unsigned char)(bound[i] ^ presented[i]);
	return diff == 0;
}

static const char *request_host(const struct api_req *req)
{
	return api_host_is_valid(req->host) ? req->host : "localhost";
}

/* A data-plane access token works on the data plane only; a management-plane one everywhere else
 * (Resource Manager, the admin API); every other credential everywhere. */
static bool audience_fits(int audience, enum route_plane plane)
{
	switch (audience) {
	case IDENTITY_AUD_DATA:
		return plane == PLANE_DATA;
	case IDENTITY_AUD_MGMT:
		return plane != PLANE_DATA;
	default:
		return true;
	}
}

static int begin(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
	const struct route *r;
	struct api_state *st;
	const char *tok;
	struct principal_ref who;
	struct kl_err err = { 0 };
	size_t tok_len = 0;
	int rc;

	if ((st = arena_alloc(&req->arena, sizeof(*st))) == NULL) {
		kl_fail(&err, KL_ENOMEM, "out of memory");
		goto fail;
	}
	memset(st, 0, sizeof(*st));
	req->state = st;
	rc = routes_match(req, st, &r, &err);
	st->route = r;
	st->plane = r != NULL ? route_plane_of(r) : PLANE_PUBLIC;
	if (rc != 0)
		goto fail;
	if (r->cls == ROUTE_PUBLIC)
		return 0;
	if (st->plane == PLANE_IDENTITY)	/* public: each endpoint checks its client */
		return identity_begin(ctx, req, resp);
	if (req->host != NULL && !api_host_is_valid(req->host)) {
		kl_fail(&err, KL_EINVAL, "The Host header is not valid.");
		goto fail;
	}
	if (req->query_overflow) {
		kl_fail(&err, KL_EINVAL, "Too many query parameters (at most %d).", API_MAX_QUERY);
		goto fail;
	}
	if (check_api_version(req, st->plane, &err) != 0)
		goto fail;
	tok = bearer_token(req->authorization, &tok_len);
	if (tok == NULL) {
		api_resp_challenge(ctx, req, request_host(req), resp,
				   "AKV10000: Request is missing a Bearer or PoP token.");
		return -1;
	}
	if (authenticate_bearer(ctx->core, tok, tok_len, &who, &err) != 0) {
		if (err.code != KL_EUNAUTH)
			goto fail;	/* the store failed: not the client's fault */
		api_resp_challenge(ctx, req, request_host(req), resp, TOKEN_NOT_VALID);
		return -1;
	}
	/* The second factor of a principal bound to a client certificate (principals.h). Refused
	 * exactly as a token that is not valid at all: the answer must not tell whoever holds a
	 * stolen token that it is live and lacks only its certificate; the reason is logged. */
	if (who.client_cert[0] != '\0' &&
	    !same_fingerprint(who.client_cert, req->client_cert)) {
		LOG_INFO(req->request_id, "principal %.64s presented its token without its client "
			 "certificate", who.name);
		api_resp_challenge(ctx, req, request_host(req), resp, TOKEN_NOT_VALID);
		return -1;
	}
	/* An access token opens the plane its audience names only (vault/identity.h). */
	if (!audience_fits(who.audience, st->plane)) {
		LOG_INFO(req->request_id, "principal %.64s presented an access token for another plane",
			 who.name);
		api_resp_challenge(ctx, req, request_host(req), resp,
				   "AKV10022: Invalid audience: the access token is for another "
				   "resource.");
		return -1;
	}
	st->who = who;	/* authenticated: kept whole for dispatch, the handlers and the audit */
	/* The read-only gate: the route table's class decides, before anything touches storage. */
	if ((r->cls == ROUTE_WRITE || r->cls == ROUTE_ADMIN) &&
	    vault_core_mode(ctx->core) == VAULT_MODE_READ_ONLY) {
		if (vault_core_fenced(ctx->core))
			kl_fail_az(&err, KL_EREADONLY, "VaultIsReadOnly", "RegionalFailover",
				   "The vault is read-only here: another region has taken over its "
				   "writes. Retry the change: it goes to that region.");
		else
			kl_fail_az(&err, KL_EREADONLY, "VaultIsReadOnly", "RegionalFailover",
				   "The vault is read-only: its region has failed over to this one, "
				   "which serves reads and cryptographic operations only. Retry the "
				   "change later.");
		goto fail;
	}
	if (st->plane != PLANE_DATA)
		return 0;
	if (vault_of_host(ctx, request_host(req), &req->arena, &st->vault_name, &err) != 0)
		goto fail;
	return 0;
fail:
	api_resp_error(resp, &err);
	api_resp_finish(req, resp);
	return -1;
}

const struct route *api_req_route(const struct api_req *req)
{
	return req->state != NULL ? req->state->route : NULL;
}

const struct principal_ref *api_req_who(const struct api_req *req)
{
	static const struct principal_ref nobody;

	return req->state != NULL ? &req->state->who : &nobody;
}

const char *api_req_vault(const struct api_req *req)
{
	return req->state != NULL ? req->state->vault_name : NULL;
}

/* The request's arena is the thread's current one while api/ works on it: jansson's memory
 * comes from it (util/json.c), and no json_t outlives the call. */
int api_begin(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
	struct arena *prev = arena_enter(&req->arena);
	int rc;

	resp->arena = &req->arena;
	rc = begin(ctx, req, resp);
	arena_leave(prev);
	return rc;
}

static void dispatch(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);

void api_dispatch(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
	struct arena *prev = arena_enter(&req->arena);

	resp->arena = &req->arena;
	dispatch(ctx, req, resp);
	arena_leave(prev);
}

static void dispatch(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
	static const struct principal_ref nobody;
	struct api_state *st = req->state;
	const struct route *r = st != NULL ? st->route : NULL;
	struct api_call c = { .ctx = ctx, .st = st, .req = req, .resp = resp };
	uint64_t t0 = clock_mono_us();
	int rc = -1;

	c.who = st != NULL ? &st->who : &nobody;
	c.host = request_host(req);
	c.api_version = api_query(req, "api-version");
	if (r == NULL) {
		kl_fail(&c.err, KL_EINTERNAL, "request dispatched without a route");
		goto out;
	}
	if (st->plane == PLANE_DATA &&
	    vault_open(ctx->core, st->vault_name, &c.vault, &c.err) != 0)
		goto out;
	if (authz_check(&c, r) != 0 || throttle_gate_admit(&c, r) != 0)
		goto out;
	rc = r->handler(&c);
	throttle_gate_settle(&c, r);
out:
	if (rc != 0 && r != NULL && st->plane == PLANE_IDENTITY) {
		identity_reply_error(&c);	/* OAuth's shape, Retry-After included */
	} else if (rc != 0) {
		api_resp_error(resp, &c.err);
		if (c.retry_after_s > 1) {
			char secs[16];

			snprintf(secs, sizeof(secs), "%u", c.retry_after_s);
			api_resp_header(resp, "Retry-After", secs);
		}
		if (resp->status >= 500)
			LOG_WARN(req->request_id, "%s failed: %s", r ? r->op : "-", c.err.msg);
	}
	api_resp_finish(req, resp);
	LOG_DEBUG(req->request_id, "%s %s %d %lluus", req->method, r ? r->op : "-", resp->status,
		  (unsigned long long)(clock_mono_us() - t0));
}
