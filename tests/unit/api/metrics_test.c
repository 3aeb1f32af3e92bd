/* api/metrics: the class of every route, the counters, and the text exposition: every sample line
 * well-formed, histograms cumulative with _count equal to the +Inf bucket, the node's gauges, and
 * exact counts under concurrent observers. */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/metrics.h"

static const struct route *route_named(const char *method, const char *op)
{
	size_t n, i;
	const struct route *t = routes_table(&n);

	for (i = 0; i < n; i++)
		if (strcmp(t[i].op, op) == 0 && strcmp(t[i].method, method) == 0)
			return &t[i];
	fail_msg("no route %s %s", method, op);
	return NULL;
}

static struct metrics_node node_primary(void)
{
	struct metrics_node n = {
		.version = "0.1.0",
		.region = "local",
		.storage = "lmdb",
		.storage_role = "primary",
		.is_writable = true,
		.replication_lag_s = -1,
		.keycache_hits = 5,
		.keycache_misses = 2,
		.authcache_hits = 40,
		.authcache_misses = 3,
	};
	return n;
}

/* The rendered exposition, checked line by line against the text format's grammar. */
static char *render(const struct metrics *m, const struct metrics_node *node)
{
	struct buf out;
	struct kl_err err = { 0 };
	regex_t sample, comment;
	char *text, *line, *save = NULL, *copy;

	buf_init(&out, 1u << 20);
	assert_int_equal(metrics_render(m, node, &out, &err), 0);
	text = strdup(buf_cstr(&out));
	buf_clear(&out);
	assert_int_equal(regcomp(&sample,
				 "^[a-zA-Z_:][a-zA-Z0-9_:]*"			/* name */
				 "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|"	/* labels */
				 "\\\\[\"\\\\n])*\",?)*\\})?"
				 " (-?[0-9]+(\\.[0-9]+)?|\\+Inf|NaN)$",		/* value */
				 REG_EXTENDED | REG_NOSUB),
			 0);
	assert_int_equal(regcomp(&comment, "^# (HELP|TYPE) [a-z_]+ .+$", REG_EXTENDED | REG_NOSUB),
			 0);
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	copy = strdup(text);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (regexec(line[0] == '#' ? &comment : &sample, line, 0, NULL, 0) != 0)
			fail_msg("not a valid exposition line: '%s'", line);
	free(copy);
	regfree(&sample);
	regfree(&comment);
	return text;
}

static void assert_has(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	if (strstr(text, want) == NULL)
		fail_msg("missing line '%s' in:\n%s", line, text);
}

static void test_route_classes(void **state)
{
	size_t n, i;
	const struct route *t = routes_table(&n);

	(void)state;
	for (i = 0; i < n; i++)	/* every route has a class of its own kind */
		assert_true(metrics_class(&t[i]) != MC_UNKNOWN);
	assert_int_equal(metrics_class(NULL), MC_UNKNOWN);
	assert_int_equal(metrics_class(route_named("GET", "Health")), MC_HEALTH);
	assert_int_equal(metrics_class(route_named("GET", "GetMetrics")), MC_HEALTH);
	assert_int_equal(metrics_class(route_named("GET", "GetSecret")), MC_SECRET_READ);
	assert_int_equal(metrics_class(route_named("GET", "GetDeletedSecrets")), MC_SECRET_READ);
	assert_int_equal(metrics_class(route_named("POST", "BackupSecret")), MC_SECRET_READ);
	assert_int_equal(metrics_class(route_named("PUT", "SetSecret")), MC_SECRET_WRITE);
	assert_int_equal(metrics_class(route_named("DELETE", "PurgeDeletedSecret")),
			 MC_SECRET_WRITE);
	assert_int_equal(metrics_class(route_named("GET", "GetKey")), MC_KEY_READ);
	assert_int_equal(metrics_class(route_named("POST", "CreateKey")), MC_KEY_WRITE);
	assert_int_equal(metrics_class(route_named("PUT", "UpdateKeyRotationPolicy")),
			 MC_KEY_WRITE);
	assert_int_equal(metrics_class(route_named("GET", "GetCertificate")), MC_CERT_READ);
	assert_int_equal(metrics_class(route_named("GET", "GetCertificateIssuers")), MC_CERT_READ);
	assert_int_equal(metrics_class(route_named("POST", "CreateCertificate")), MC_CERT_WRITE);
	assert_int_equal(metrics_class(route_named("PUT", "SetCertificateContacts")), MC_CERT_WRITE);
	assert_int_equal(metrics_class(route_named("POST", "Sign")), MC_CRYPTO);
	assert_int_equal(metrics_class(route_named("POST", "UnwrapKey")), MC_CRYPTO);
	assert_int_equal(metrics_class(route_named("POST", "GetRandomBytes")), MC_CRYPTO);
	assert_int_equal(metrics_class(route_named("PUT", "VaultsCreateOrUpdate")), MC_MANAGEMENT);
	assert_int_equal(metrics_class(route_named("GET", "SecretsGet")), MC_MANAGEMENT);
	assert_int_equal(metrics_class(route_named("POST", "CreatePrincipal")), MC_ADMIN);
	assert_int_equal(metrics_class(route_named("GET", "GetDeployment")), MC_ADMIN);
	assert_string_equal(metrics_class_name(MC_SECRET_READ), "secret-read");
	assert_string_equal(metrics_class_name(MC_COUNT), "unknown");
}

static void test_counters_and_histograms(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_node node = node_primary();
	const struct route *get = route_named("GET", "GetSecret");
	size_t n;
	const struct route *t = routes_table(&n);
	char *text;
	int i;

	(void)state;
	assert_non_null(m);
	for (i = 0; i < 7; i++)
		metrics_started(m);
	metrics_observe(m, get, 200, 50);	/* 50 us */
	metrics_observe(m, get, 200, 300);
	metrics_observe(m, get, 200, 2000000);	/* 2 s */
	metrics_observe(m, get, 404, 100);	/* on a bound: le is inclusive */
	metrics_observe(m, NULL, 404, 10);
	metrics_observe(m, route_named("POST", "Sign"), 429, 10);
	/* Both GetKeyAttestation routes (with and without a version) are one operation. */
	for (i = 0; (size_t)i < n; i++)
		if (strcmp(t[i].op, "GetKeyAttestation") == 0)
			metrics_started(m), metrics_observe(m, &t[i], 200, 1);
	text = render(m, &node);
	assert_has(text, "kluis_requests_total{operation=\"GetSecret\",status=\"200\"} 3");
	assert_has(text, "kluis_requests_total{operation=\"GetSecret\",status=\"404\"} 1");
	assert_has(text, "kluis_requests_total{operation=\"unknown\",status=\"404\"} 1");
	assert_has(text, "kluis_requests_total{operation=\"Sign\",status=\"429\"} 1");
	assert_has(text, "kluis_requests_total{operation=\"GetKeyAttestation\",status=\"200\"} 2");
	assert_null(strstr(text, "operation=\"SetSecret\""));	/* never seen: no series */
#define BUCKET "kluis_request_duration_seconds_bucket{class=\"secret-read\",le="
	assert_has(text, BUCKET "\"0.0001\"} 2");
	assert_has(text, BUCKET "\"0.0005\"} 3");
	assert_has(text, BUCKET "\"1\"} 3");
	assert_has(text, BUCKET "\"2.5\"} 4");
	assert_has(text, BUCKET "\"+Inf\"} 4");
#undef BUCKET
	assert_has(text, "kluis_request_duration_seconds_sum{class=\"secret-read\"} 2.000450");
	assert_has(text, "kluis_request_duration_seconds_count{class=\"secret-read\"} 4");
	assert_has(text, "kluis_request_duration_seconds_count{class=\"unknown\"} 1");
	assert_has(text, "kluis_request_duration_seconds_count{class=\"key-write\"} 0");
	assert_has(text, "kluis_requests_in_flight 1");
	assert_has(text, "kluis_throttled_requests_total 1");
	assert_has(text, "# TYPE kluis_request_duration_seconds histogram");
	assert_has(text, "# TYPE kluis_requests_total counter");
	free(text);
	metrics_free(m);
	metrics_free(NULL);
}

static void test_node_gauges(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_node node = node_primary();
	char *text;

	(void)state;
	text = render(m, &node);
	assert_has(text, "kluis_mode{mode=\"read-write\"} 1");
	assert_has(text, "kluis_mode{mode=\"read-only\"} 0");
	assert_has(text, "kluis_writable 1");
	assert_has(text, "kluis_storage_role{role=\"primary\"} 1");
	assert_has(text, "kluis_storage_role{role=\"standby\"} 0");
	assert_has(text, "kluis_keycache_hits_total 5");
	assert_has(text, "kluis_keycache_misses_total 2");
	assert_has(text, "kluis_authcache_hits_total 40");
	assert_has(text, "kluis_authcache_misses_total 3");
	assert_has(text, "kluis_throttled_requests_total 0");
	assert_has(text, "kluis_build_info{version=\"0.1.0\"} 1");
	assert_has(text, "kluis_node_info{region=\"local\",storage=\"lmdb\"} 1");
	assert_null(strstr(text, "kluis_replication_lag_seconds"));	/* not a standby */
	assert_null(strstr(text, "kluis_replication_streaming"));
	assert_null(strstr(text, "kluis_audit_"));	/* no audit log */
	free(text);

	node.is_read_only = true;
	node.is_writable = false;
	node.storage_role = "standby";
	node.storage = "postgres";
	node.replication_lag_s = 1.5;
	node.is_replication_streaming = true;
	node.has_audit_log = true;
	node.audit_lines = 10;
	node.audit_failures = 3;
	node.region = "we\"st\\eu\nrope";	/* label values are escaped */
	text = render(m, &node);
	assert_has(text, "kluis_mode{mode=\"read-write\"} 0");
	assert_has(text, "kluis_mode{mode=\"read-only\"} 1");
	assert_has(text, "kluis_writable 0");
	assert_has(text, "kluis_storage_role{role=\"standby\"} 1");
	assert_has(text, "kluis_replication_lag_seconds 1.500");
	assert_has(text, "kluis_replication_streaming 1");
	assert_has(text, "kluis_audit_lines_total 10");
	assert_has(text, "kluis_audit_write_failures_total 3");
	assert_has(text,
		   "kluis_node_info{region=\"we\\\"st\\\\eu\\nrope\",storage=\"postgres\"} 1");
	free(text);
	metrics_free(m);
}

#define THREADS 4
#define EACH 20000

static void *observer(void *arg)
{
	struct metrics *m = arg;
	const struct route *get = route_named("GET", "GetSecret");
	int i;

	for (i = 0; i < EACH; i++) {
		metrics_started(m);
		metrics_observe(m, get, i % 2 ? 200 : 404, (uint64_t)i);
	}
	return NULL;
}

static void test_concurrent_counts_are_exact(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_node node = node_primary();
	pthread_t t[THREADS];
	char *text, want[160];
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, observer, m), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	text = render(m, &node);
	snprintf(want, sizeof(want),
		 "kluis_requests_total{operation=\"GetSecret\",status=\"200\"} %d",
		 THREADS * EACH / 2);
	assert_has(text, want);
	snprintf(want, sizeof(want),
		 "kluis_requests_total{operation=\"GetSecret\",status=\"404\"} %d",
		 THREADS * EACH / 2);
	assert_has(text, want);
	snprintf(want, sizeof(want),
		 "kluis_request_duration_seconds_count{class=\"secret-read\"} %d", THREADS * EACH);
	assert_has(text, want);
	assert_has(text, "kluis_requests_in_flight 0");
	assert_has(text, "kluis_metrics_dropped_total 0");
	free(text);
	metrics_free(m);
}

static void test_odd_statuses_stay_bounded(void **state)
{
	struct metrics *m = metrics_new();
	struct metrics_node node = node_primary();
	char *text;

	(void)state;
	metrics_started(m);
	metrics_observe(m, NULL, 0, 1);		/* the connection ended before an answer */
	metrics_started(m);
	metrics_observe(m, NULL, 12345, 1);	/* out of range: counted as 0, never a new label */
	text = render(m, &node);
	assert_has(text, "kluis_requests_total{operation=\"unknown\",status=\"0\"} 2");
	free(text);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_classes),
		cmocka_unit_test(test_counters_and_histograms),
		cmocka_unit_test(test_node_gauges),
		cmocka_unit_test(test_concurrent_counts_are_exact),
		cmocka_unit_test(test_odd_statuses_stay_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
