/* Request metrics and their Prometheus text exposition (format 0.0.4), for GET /metrics.
 * docs/observability.md describes every metric.
 *
 * Label values come only from fixed sets: operations from the route table (and "unknown"),
 * statuses as integers from what kluis sends, classes from metrics_class(). So the number of
 * series is bounded whatever clients send.
 *
 * Thread safety: metrics_started and metrics_observe are called from every worker at once and
 * take no lock (relaxed atomic counters); metrics_render may run concurrently with them and sees
 * each counter at some recent value. */
#ifndef KLUIS_API_METRICS_H
#define KLUIS_API_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/internal.h"
#include "util/buf.h"

struct metrics;

/* The operation classes of the latency histogram, from a route's plane, class and permission. */
enum metrics_class {
	MC_HEALTH,	/* unauthenticated probes: /health, /health/writable, /metrics */
	MC_SECRET_READ,
	MC_SECRET_WRITE,
	MC_KEY_READ,
	MC_KEY_WRITE,
	MC_CERT_READ,	/* certificates, their policies, operations, contacts and issuers */
	MC_CERT_WRITE,
	MC_CRYPTO,	/* encrypt ... verify, and random bytes */
	MC_MANAGEMENT,	/* the Resource Manager plane */
	MC_ADMIN,	/* the administration API, /kluis/v1 */
	MC_IDENTITY,	/* the identity provider: discovery, keys, token endpoints */
	MC_UNKNOWN,	/* no route matched */
	MC_COUNT
};

/* The class of route r (NULL: no route matched). */
enum metrics_class metrics_class(const struct route *r);
/* Its label: "secret-read"... */
const char *metrics_class_name(enum metrics_class c);

/* Counters for the route table of routes.c, all zero. NULL when out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* A request has started (the in-flight gauge). */
void metrics_started(struct metrics *m);
/* A request started with metrics_started has been answered with status (0: none was sent) after
 * duration_us. r is its route, NULL when none matched. */
void metrics_observe(struct metrics *m, const struct route *r, int status, uint64_t duration_us);

/* The grants of kluis_identity_tokens_total: how a token request authenticated its client. */
enum metrics_grant {
	MG_CLIENT_SECRET,	/* client_secret in the form or HTTP Basic */
	MG_CLIENT_ASSERTION,	/* a JWT signed by a registered certificate */
	MG_FEDERATED,		/* a token of the trusted OpenID issuer */
	MG_MANAGED_IDENTITY,	/* a kluis token in X-IDENTITY-HEADER (GET /msi/token) */
	MG_UNKNOWN,		/* refused before the grant was known (throttled, malformed) */
	MG_COUNT
};

/* The grant named name ("client_secret"...; anything else is MG_UNKNOWN), and the name of g. */
enum metrics_grant metrics_grant_of(const char *name);
const char *metrics_grant_name(enum metrics_grant g);

/* A token request has been answered: a token issued, or refused. Lock-free. */
void metrics_token(struct metrics *m, enum metrics_grant g, bool is_issued);

/* What the renderer reports besides the request counters: a snapshot of the node. */
struct metrics_node {
	const char *version;		/* kluisd's */
	const char *region;
	const char *storage;		/* "lmdb", "postgres" */
	const char *storage_role;	/* "primary", "standby", "unreachable" */
	bool is_read_only;
	bool is_writable;		/* what /health/writable answers 200 for */
	double replication_lag_s;	/* < 0: not a standby, or unknown (no sample) */
	bool is_replication_streaming;	/* meaningful on a standby only */
	uint64_t keycache_hits, keycache_misses;
	uint64_t authcache_hits, authcache_misses;	/* vault/authcache.h */
	bool has_audit_log;
	uint64_t audit_lines, audit_failures;
	uint64_t throttle_evictions;	/* throttle.h: throttle_evictions */
};

/* Appends the whole exposition to out. KL_ENOMEM or KL_ETOOBIG from out. */
int metrics_render(const struct metrics *m, const struct metrics_node *node, struct buf *out,
		   struct kl_err *err);

#endif
