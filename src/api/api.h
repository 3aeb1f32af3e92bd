/* The boundary between the HTTP server and the API: a request as plain data in, a response as
 * plain data out. http/ fills api_req and writes api_resp; api/ never sees a socket.
 *
 * A request is handled in two phases so that nothing of an unauthenticated body is kept:
 * api_begin() runs on the headers alone (route, api-version, token); only when it says go on
 * does http/ read the body, then api_dispatch() runs the operation.
 * Thread safety: api_ctx is shared by every worker and read-only after api_ctx_new(). */
#ifndef KLUIS_API_API_H
#define KLUIS_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"

struct vault_core;
struct logfile;
struct api_state;
struct throttle_config;

#define API_MAX_QUERY 16	  /* query parameters kept; more is a 400 */
#define API_MAX_RESP_HEADERS 12
#define API_MAX_PARAMS 6	  /* path parameters of one route */
#define API_DEFAULT_MAX_BODY (1024 * 1024)

struct api_param {
	char *name;		/* percent-decoded */
	char *value;		/* percent-decoded; "" when the parameter had no '=' */
};

struct api_header {
	const char *name;	/* static string */
	char *value;		/* owned by the response */
	bool in_arena;		/* value lives in the response's arena: never freed alone */
};

struct api_req {
	/* The request's memory (util/arena.h): its strings below, its path parameters, its
	 * response's headers, and jansson's memory while api/ works on it; wiped and freed by
	 * api_req_free. Strings set by a caller with malloc are freed with free. */
	struct arena arena;
	char method[16];
	char *path;		/* as received, before any '?', percent-decoded, "//" kept */
	struct api_param query[API_MAX_QUERY];
	size_t n_query;
	bool query_overflow;	/* more than API_MAX_QUERY parameters were sent */
	char *host;		/* Host header, NULL when absent */
	char *authorization;	/* Authorization header, NULL when absent; wiped on free */
	char *identity_header;	/* X-IDENTITY-HEADER (the App Service managed identity route's
				 * secret: a kluis token), NULL when absent; wiped on free */
	char *client_request_id; /* x-ms-client-request-id, NULL when absent */
	char *content_type;
	struct buf body;	/* wiping buffer, ceiling api_ctx max body */
	char request_id[37];	/* x-ms-request-id of this request, set by api_req_init */
	char client_addr[64];	/* "ip:port" of the peer, for logs */
	char client_cert[65];	/* SHA-256 (hex) of the TLS client certificate, set by http/ only
				 * when it verified against --client-ca; "" otherwise */
	uint64_t start_us;	/* monotonic, set by api_req_init: the audit line's duration */
	const char *region;	/* this node's region, for x-ms-keyvault-region; set by api_req_init */
	/* api/'s own request object (api/internal.h: the route and its plane, the vault name, the
	 * path parameters, the principal), in the arena; made by api_begin, opaque to http/. NULL
	 * until then. */
	struct api_state *state;
	/* Set by the identity provider's token endpoints, for the audit line and /metrics. */
	const char *token_grant;	/* static: "client_secret", "client_assertion", "federated",
					 * "managed_identity", "unknown"; NULL: no token request */
	bool is_token_issued;
	char token_resource[256];	/* the resource asked for (cut); "" when none */
};

struct api_resp {
	int status;		/* 0 until set */
	struct buf body;	/* JSON, or empty */
	struct api_header headers[API_MAX_RESP_HEADERS];
	size_t n_headers;
	struct arena *arena;	/* the request's, set by api_begin: header copies go there;
				 * NULL: malloc */
};

struct api_config {
	const char *dns_suffix;		/* "vault.localhost" */
	const char *default_vault;	/* vault for hosts outside dns_suffix */
	size_t max_body;		/* bytes; 0 means API_DEFAULT_MAX_BODY */
	const char *region;		/* reported on /health; NULL for "local" */
	struct logfile *audit;		/* the audit log (util/logfile.h); NULL: none */
	const struct throttle_config *throttle;	/* api/throttle.h, copied; NULL: the defaults */
};

struct api_ctx;

/* ctx keeps pointers to cfg's strings and to core: they must outlive it. */
struct api_ctx *api_ctx_new(const struct api_config *cfg, struct vault_core *core,
			    struct kl_err *err);
void api_ctx_free(struct api_ctx *ctx);
struct vault_job_event;
/* Writes a background job's event (vault_core_on_job_event) to ctx's audit log as one line whose
 * method is "JOB" and whose principal is the deployment's jobs. For vault_core_on_job_event. */
void api_audit_job_event(void *ctx, const struct vault_job_event *ev);
size_t api_ctx_max_body(const struct api_ctx *ctx);

/* Sets up an empty request: a fresh request id, a body buffer with the context's ceiling, its
 * start time. Counts it as in flight until api_req_done. */
int api_req_init(const struct api_ctx *ctx, struct api_req *req, struct kl_err *err);
/* The request has been answered with status, whose response is resp (status 0: the connection
 * ended before any answer was queued; resp is then ignored). Writes its audit line and counts it
 * in the metrics. http/ calls it exactly once per api_req_init, as soon as the answer is queued,
 * so an answer a client has seen is already audited. Thread-safe, lock-free but for the audit
 * log's single write(2). */
void api_req_done(struct api_ctx *ctx, const struct api_req *req, const struct api_resp *resp,
		  int status);
/* Adds a decoded query parameter (copied). Past API_MAX_QUERY it sets query_overflow. */
int api_req_add_query(struct api_req *req, const char *name, const char *value,
		      struct kl_err *err);
/* Frees and wipes everything the request holds, its arena included; the struct can then be
 * discarded. Its response's headers may live in the arena: use them no more. */
void api_req_free(struct api_req *req);

void api_resp_init(struct api_resp *resp);
void api_resp_free(struct api_resp *resp);
/* Adds a header; the value is copied. Ignored (logged) past API_MAX_RESP_HEADERS. */
void api_resp_header(struct api_resp *resp, const char *name, const char *value);
/* Replaces resp with the Azure-style error for err (status, JSON body, Retry-After where due). */
void api_resp_error(struct api_resp *resp, const struct kl_err *err);

/* Phase 1, headers only. Returns 0 when the body should be read and api_dispatch called, or -1
 * when resp already holds the final answer (unknown route, bad api-version, missing or bad
 * token, /health...). Also called for requests without a body. */
int api_begin(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);

/* Phase 2, the whole body read. Always fills resp, including x-ms-request-id and the echoed
 * x-ms-client-request-id. */
void api_dispatch(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp);

/* Headers every response carries (x-ms-request-id, echoed client id, Content-Type when there is
 * a body, Cache-Control). api_begin and api_dispatch call it; http/ calls it for answers it
 * makes itself (413 before the body is read). */
void api_resp_finish(const struct api_req *req, struct api_resp *resp);

#endif
