/* metrics.c owns the request counters behind GET /metrics and their text exposition (metrics.h).
 * The hot path, metrics_observe, is a handful of relaxed atomic additions: a lock-free table of
 * (operation, status) counters, one histogram per operation class, the throttled counter. It must
 * never take a lock, never allocate while counting, and never make a label value from client
 * text: labels come from the route table and from integers. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/metrics.h"
#include "util/clock.h"

/* (operation, status) series: at most about 90 operations times the 15 statuses kluis sends, so
 * a table of 4096 never fills; if it ever did, observations are counted as dropped. */
#define SERIES_SLOTS 4096u
#define STATUS_LIMIT 1000u	/* statuses are 0 (none sent) or 100-999 */

/* Latency bucket bounds, microseconds, with their labels in seconds: a GET of a secret takes some
 * tens of microseconds, an RSA-4096 key creation can take seconds. */
static const uint64_t bucket_us[] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
static const char *const bucket_le[] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25", "0.5", "1", "2.5", "5", "10",
};
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))
_Static_assert(sizeof(bucket_us) / sizeof(bucket_us[0]) ==
	       sizeof(bucket_le) / sizeof(bucket_le[0]), "bucket bounds and labels differ");

static const char *const class_names[MC_COUNT] = {
	[MC_HEALTH] = "health",
	[MC_SECRET_READ] = "secret-read",
	[MC_SECRET_WRITE] = "secret-write",
	[MC_KEY_READ] = "key-read",
	[MC_KEY_WRITE] = "key-write",
	[MC_CERT_READ] = "certificate-read",
	[MC_CERT_WRITE] = "certificate-write",
	[MC_CRYPTO] = "crypto",
	[MC_MANAGEMENT] = "management",
	[MC_ADMIN] = "admin",
	[MC_IDENTITY] = "identity",
	[MC_UNKNOWN] = "unknown",
};

static const char *const grant_names[MG_COUNT] = {
	[MG_CLIENT_SECRET] = "client_secret",
	[MG_CLIENT_ASSERTION] = "client_assertion",
	[MG_FEDERATED] = "federated",
	[MG_MANAGED_IDENTITY] = "managed_identity",
	[MG_UNKNOWN] = "unknown",
};

struct series {
	_Atomic uint32_t key;	/* (operation + 1) * STATUS_LIMIT + status; 0: free */
	_Atomic uint64_t count;
};

struct histogram {
	_Atomic uint64_t buckets[N_BUCKETS + 1];	/* per bucket, not cumulative; last: +Inf */
	_Atomic uint64_t sum_us;
};

struct metrics {
	const struct route *routes;
	size_t n_routes;
	uint16_t *op_of_route;		/* route index -> operation index */
	const char **op_names;		/* distinct operation names, table order; last "unknown" */
	size_t n_ops;
	struct series series[SERIES_SLOTS];
	struct histogram hist[MC_COUNT];
	_Atomic int64_t in_flight;
	_Atomic uint64_t throttled;
	_Atomic uint64_t dropped;
	_Atomic uint64_t tokens[MG_COUNT][2];	/* [grant][issued] */
	int64_t start_s;
};

enum metrics_class metrics_class(const struct route *r)
{
	if (r == NULL)
		return MC_UNKNOWN;
	switch (route_plane_of(r)) {
	case PLANE_PUBLIC:
		return MC_HEALTH;
	case PLANE_ARM:
		return MC_MANAGEMENT;
	case PLANE_ADMIN:
		return MC_ADMIN;
	case PLANE_IDENTITY:
		return MC_IDENTITY;
	case PLANE_DATA:
		break;
	}
	if (r->cls == ROUTE_CRYPTO)
		return MC_CRYPTO;
	if (r->perm >= PERM_SECRET_GET && r->perm <= PERM_SECRET_PURGE)
		return r->cls == ROUTE_READ ? MC_SECRET_READ : MC_SECRET_WRITE;
	if (r->perm >= PERM_CERT_GET && r->perm <= PERM_CERT_ISSUERS_DELETE)
		return r->cls == ROUTE_READ ? MC_CERT_READ : MC_CERT_WRITE;
	return r->cls == ROUTE_READ ? MC_KEY_READ : MC_KEY_WRITE;
}

const char *metrics_class_name(enum metrics_class c)
{
	return (unsigned)c < MC_COUNT ? class_names[c] : "unknown";
}

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	size_t i, j;

	if (m == NULL)
		return NULL;
	m->routes = routes_table(&m->n_routes);
	m->op_of_route = calloc(m->n_routes, sizeof(*m->op_of_route));
	m->op_names = calloc(m->n_routes + 1, sizeof(*m->op_names));
	if (m->op_of_route == NULL || m->op_names == NULL) {
		metrics_free(m);
		return NULL;
	}
	/* Routes sharing an operation name (a version in the path or not) share its series. */
	for (i = 0; i < m->n_routes; i++) {
		for (j = 0; j < m->n_ops && strcmp(m->op_names[j], m->routes[i].op) != 0; j++)
			;
		if (j == m->n_ops)
			m->op_names[m->n_ops++] = m->routes[i].op;
		m->op_of_route[i] = (uint16_t)j;
	}
	m->op_names[m->n_ops++] = "unknown";
	m->start_s = clock_now_s();
	return m;
}

void metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	free(m->op_of_route);
	free(m->op_names);
	free(m);
}

void metrics_started(struct metrics *m)
{
	atomic_fetch_add_explicit(&m->in_flight, 1, memory_order_relaxed);
}

/* The operation index of route r (the last one, "unknown", for NULL or a foreign pointer). */
static size_t op_index(const struct metrics *m, const struct route *r)
{
	if (r == NULL || r < m->routes || r >= m->routes + m->n_routes)
		return m->n_ops - 1;
	return m->op_of_route[r - m->routes];
}

static void count_series(struct metrics *m, uint32_t key)
{
	uint32_t h = (key * 2654435761u) % SERIES_SLOTS, k, expected;
	size_t i;

	for (i = 0; i < SERIES_SLOTS; i++) {
		struct series *s = &m->series[(h + i) % SERIES_SLOTS];

		k = atomic_load_explicit(&s->key, memory_order_acquire);
		if (k == 0) {
			expected = 0;
			k = atomic_compare_exchange_strong_explicit(&s->key, &expected, key,
								    memory_order_acq_rel,
								    memory_order_acquire)
				    ? key
				    : expected;
		}
		if (k == key) {
			atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
			return;
		}
	}
	atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
}

void metrics_observe(struct metrics *m, const struct route *r, int status, uint64_t duration_us)
{
	struct histogram *h = &m->hist[metrics_class(r)];
	unsigned st = status > 0 && (unsigned)status < STATUS_LIMIT ? (unsigned)status : 0;
	size_t b = 0;

	atomic_fetch_sub_explicit(&m->in_flight, 1, memory_order_relaxed);
	count_series(m, (uint32_t)((op_index(m, r) + 1) * STATUS_LIMIT + st));
	while (b < N_BUCKETS && duration_us > bucket_us[b])
		b++;
	atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, duration_us, memory_order_relaxed);
	if (st == 429)	/* every refusal by the throttle is a 429 (errors.c: KL_ETHROTTLED) */
		atomic_fetch_add_explicit(&m->throttled, 1, memory_order_relaxed);
}

enum metrics_grant metrics_grant_of(const char *name)
{
	int g;

	for (g = 0; name != NULL && g < MG_UNKNOWN; g++)
		if (strcmp(name, grant_names[g]) == 0)
			return (enum metrics_grant)g;
	return MG_UNKNOWN;
}

const char *metrics_grant_name(enum metrics_grant g)
{
	return (unsigned)g < MG_COUNT ? grant_names[g] : "unknown";
}

void metrics_token(struct metrics *m, enum metrics_grant g, bool is_issued)
{
	if ((unsigned)g >= MG_COUNT)
		g = MG_UNKNOWN;
	atomic_fetch_add_explicit(&m->tokens[g][is_issued ? 1 : 0], 1, memory_order_relaxed);
}

/* --- rendering ------------------------------------------------------------------------------ */

struct row {
	uint32_t key;
	uint64_t count;
};

static int row_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct row *)a)->key, y = ((const struct row *)b)->key;

	return x < y ? -1 : x > y;
}

/* A label value as the text format wants it: backslash, quote and newline escaped. */
static int put_label_value(struct buf *out, const char *s, struct kl_err *err)
{
	int rc = 0;

	for (; rc == 0 && *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			rc = buf_putc(out, '\\', err) || buf_putc(out, *s, err) ? -1 : 0;
		else if (*s == '\n')
			rc = buf_append_str(out, "\\n", err);
		else
			rc = buf_putc(out, *s, err);
	}
	return rc;
}

static int put_header(struct buf *out, const char *name, const char *type, const char *help,
		      struct kl_err *err)
{
	return buf_printf(out, err, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_requests(const struct metrics *m, struct buf *out, struct kl_err *err)
{
	struct row *rows = malloc(SERIES_SLOTS * sizeof(*rows));
	size_t n = 0, i;
	int rc = -1;

	if (rows == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	for (i = 0; i < SERIES_SLOTS; i++) {
		uint32_t k = atomic_load_explicit(&m->series[i].key, memory_order_acquire);

		if (k != 0) {
			rows[n].key = k;
			rows[n++].count = atomic_load_explicit(&m->series[i].count,
							       memory_order_relaxed);
		}
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	if (put_header(out, "kluis_requests_total", "counter",
		       "Requests answered, by operation (the route table's name, or unknown) and "
		       "HTTP status (0: the connection ended before an answer).", err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		size_t op = rows[i].key / STATUS_LIMIT - 1;

		if (op >= m->n_ops)
			continue;	/* cannot happen: only observe writes keys */
		if (buf_printf(out, err,
			       "kluis_requests_total{operation=\"%s\",status=\"%u\"} %llu\n",
			       m->op_names[op], (unsigned)(rows[i].key % STATUS_LIMIT),
			       (unsigned long long)rows[i].count) != 0)
			goto out;
	}
	rc = 0;
out:
	free(rows);
	return rc;
}

static int render_tokens(const struct metrics *m, struct buf *out, struct kl_err *err)
{
	size_t g, o;

	if (put_header(out, "kluis_identity_tokens_total", "counter",
		       "Token requests to the identity provider, by how the client authenticated "
		       "(unknown: refused before that was known) and outcome.", err) != 0)
		return -1;
	for (g = 0; g < MG_COUNT; g++)
		for (o = 0; o < 2; o++)
			if (buf_printf(out, err, "kluis_identity_tokens_total{grant=\"%s\","
				       "outcome=\"%s\"} %llu\n", grant_names[g],
				       o ? "issued" : "refused",
				       (unsigned long long)atomic_load_explicit(
					       &m->tokens[g][o], memory_order_relaxed)) != 0)
				return -1;
	return 0;
}

static int render_histograms(const struct metrics *m, struct buf *out, struct kl_err *err)
{
	size_t c, b;

	if (put_header(out, "kluis_request_duration_seconds", "histogram",
		       "Time from a request's head to its answer being queued, by operation "
		       "class.", err) != 0)
		return -1;
	for (c = 0; c < MC_COUNT; c++) {
		const struct histogram *h = &m->hist[c];
		uint64_t cum = 0, sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);

		for (b = 0; b <= N_BUCKETS; b++) {
			cum += atomic_load_explicit(&h->buckets[b], memory_order_relaxed);
			if (buf_printf(out, err,
				       "kluis_request_duration_seconds_bucket"
				       "{class=\"%s\",le=\"%s\"} %llu\n",
				       class_names[c], b < N_BUCKETS ? bucket_le[b] : "+Inf",
				       (unsigned long long)cum) != 0)
				return -1;
		}
		/* _count is the +Inf bucket as read: the two always agree in one scrape. */
		if (buf_printf(out, err,
			       "kluis_request_duration_seconds_sum{class=\"%s\"} %llu.%06llu\n"
			       "kluis_request_duration_seconds_count{class=\"%s\"} %llu\n",
			       class_names[c], (unsigned long long)(sum_us / 1000000),
			       (unsigned long long)(sum_us % 1000000), class_names[c],
			       (unsigned long long)cum) != 0)
			return -1;
	}
	return 0;
}

/* One sample per value of a one-hot state gauge: 1 for the current value, 0 for the others. */
static int render_state(struct buf *out, const char *name, const char *label,
			const char *const *values, size_t n, const char *current,
			struct kl_err *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf_printf(out, err, "%s{%s=\"%s\"} %d\n", name, label, values[i],
			       strcmp(values[i], current) == 0) != 0)
			return -1;
	return 0;
}

static int render_node(const struct metrics *m, const struct metrics_node *node, struct buf *out,
		       struct kl_err *err)
{
	static const char *const modes[] = { "read-write", "read-only" };
	static const char *const roles[] = { "primary", "standby", "unreachable" };

	if (put_header(out, "kluis_requests_in_flight", "gauge",
		       "Requests started and not yet answered.", err) != 0 ||
	    buf_printf(out, err, "kluis_requests_in_flight %lld\n",
		       (long long)atomic_load_explicit(&m->in_flight, memory_order_relaxed)) != 0 ||
	    put_header(out, "kluis_throttled_requests_total", "counter",
		       "Requests refused by the throttle (answered 429).", err) != 0 ||
	    buf_printf(out, err, "kluis_throttled_requests_total %llu\n",
		       (unsigned long long)atomic_load_explicit(&m->throttled,
								memory_order_relaxed)) != 0 ||
	    put_header(out, "kluis_throttle_evictions_total", "counter",
		       "Live throttle buckets evicted to make room (their counts were lost).",
		       err) != 0 ||
	    buf_printf(out, err, "kluis_throttle_evictions_total %llu\n",
		       (unsigned long long)node->throttle_evictions) != 0 ||
	    put_header(out, "kluis_mode", "gauge",
		       "The node's mode: 1 for the current one (read-only on a standby database or "
		       "with --read-only).", err) != 0 ||
	    render_state(out, "kluis_mode", "mode", modes, 2,
			 node->is_read_only ? "read-only" : "read-write", err) != 0 ||
	    put_header(out, "kluis_writable", "gauge",
		       "1 in read-write mode on a reachable primary (what /health/writable "
		       "answers 200 for).", err) != 0 ||
	    buf_printf(out, err, "kluis_writable %d\n", node->is_writable) != 0 ||
	    put_header(out, "kluis_storage_role", "gauge",
		       "The storage's role as last polled: 1 for the current one.", err) != 0 ||
	    render_state(out, "kluis_storage_role", "role", roles, 3, node->storage_role, err) != 0)
		return -1;
	if (strcmp(node->storage_role, "standby") == 0 &&
	    (put_header(out, "kluis_replication_streaming", "gauge",
			"1 while this standby's WAL receiver streams from a primary.", err) != 0 ||
	     buf_printf(out, err, "kluis_replication_streaming %d\n",
			node->is_replication_streaming) != 0))
		return -1;
	if (node->replication_lag_s >= 0 &&
	    (put_header(out, "kluis_replication_lag_seconds", "gauge",
			"How far this standby's replayed data is behind its primary, as last "
			"polled; absent when not a standby or unknown.", err) != 0 ||
	     buf_printf(out, err, "kluis_replication_lag_seconds %.3f\n",
			node->replication_lag_s) != 0))
		return -1;
	if (put_header(out, "kluis_keycache_hits_total", "counter",
		       "Key operations served from the cache of parsed key versions.", err) != 0 ||
	    buf_printf(out, err, "kluis_keycache_hits_total %llu\n",
		       (unsigned long long)node->keycache_hits) != 0 ||
	    put_header(out, "kluis_keycache_misses_total", "counter",
		       "Key operations that unsealed and parsed the key version.", err) != 0 ||
	    buf_printf(out, err, "kluis_keycache_misses_total %llu\n",
		       (unsigned long long)node->keycache_misses) != 0 ||
	    put_header(out, "kluis_authcache_hits_total", "counter",
		       "Credential, rights and vault lookups answered from the node's caches.",
		       err) != 0 ||
	    buf_printf(out, err, "kluis_authcache_hits_total %llu\n",
		       (unsigned long long)node->authcache_hits) != 0 ||
	    put_header(out, "kluis_authcache_misses_total", "counter",
		       "Credential, rights and vault lookups that read the store (a change anywhere "
		       "in the deployment's principals, roles or vaults empties the caches).",
		       err) != 0 ||
	    buf_printf(out, err, "kluis_authcache_misses_total %llu\n",
		       (unsigned long long)node->authcache_misses) != 0)
		return -1;
	if (node->has_audit_log &&
	    (put_header(out, "kluis_audit_lines_total", "counter",
			"Audit log lines written.", err) != 0 ||
	     buf_printf(out, err, "kluis_audit_lines_total %llu\n",
			(unsigned long long)node->audit_lines) != 0 ||
	     put_header(out, "kluis_audit_write_failures_total", "counter",
			"Audit log lines that could not be written (disk full...).", err) != 0 ||
	     buf_printf(out, err, "kluis_audit_write_failures_total %llu\n",
			(unsigned long long)node->audit_failures) != 0))
		return -1;
	if (put_header(out, "kluis_metrics_dropped_total", "counter",
		       "Requests not counted in kluis_requests_total because its series table was "
		       "full (stays 0).", err) != 0 ||
	    buf_printf(out, err, "kluis_metrics_dropped_total %llu\n",
		       (unsigned long long)atomic_load_explicit(&m->dropped,
								memory_order_relaxed)) != 0 ||
	    put_header(out, "kluis_start_time_seconds", "gauge",
		       "When this kluisd started, Unix seconds.", err) != 0 ||
	    buf_printf(out, err, "kluis_start_time_seconds %lld\n", (long long)m->start_s) != 0 ||
	    put_header(out, "kluis_build_info", "gauge", "Always 1: the version of kluisd.",
		       err) != 0 ||
	    buf_append_str(out, "kluis_build_info{version=\"", err) != 0 ||
	    put_label_value(out, node->version, err) != 0 ||
	    buf_append_str(out, "\"} 1\n", err) != 0 ||
	    put_header(out, "kluis_node_info", "gauge",
		       "Always 1: the region this node serves and its storage backend.",
		       err) != 0 ||
	    buf_append_str(out, "kluis_node_info{region=\"", err) != 0 ||
	    put_label_value(out, node->region, err) != 0 ||
	    buf_append_str(out, "\",storage=\"", err) != 0 ||
	    put_label_value(out, node->storage, err) != 0 ||
	    buf_append_str(out, "\"} 1\n", err) != 0)
		return -1;
	return 0;
}

int metrics_render(const struct metrics *m, const struct metrics_node *node, struct buf *out,
		   struct kl_err *err)
{
	if (render_requests(m, out, err) != 0 || render_histograms(m, out, err) != 0 ||
	    render_tokens(m, out, err) != 0 || render_node(m, node, out, err) != 0)
		return -1;
	return 0;
}
