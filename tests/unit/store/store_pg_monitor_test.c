/* The store asks pg_auto_failover's monitor about each new connection (store_pg_monitor.c), here
 * against a real monitor: the pgautofailover extension that `pg_autoctl create monitor` installs,
 * in the test's own server (pg_fixture.h), driven through the same functions its keepers call
 * (register_node, node_active, perform_failover). The store's server is node A; node B is a
 * second registration at an address nothing listens on, so the monitor's health checks are off
 * and the test sets both nodes healthy itself, as the health check worker would.
 *
 * What a user of a pg_auto_failover deployment relies on: while the monitor fails over from A,
 * A taking writes (as pg_auto_failover 2.0's keeper lets a killed primary do, restarted without
 * synchronous replication) gets none from kluisd, since the demotion would rewind them; a write
 * waiting through that rides on and lands once A is the primary again; and a monitor that is down
 * or does not know the server is not in the way. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "store/store_pg.h"

#define MONITOR_DB "pg_auto_failover"

static struct pg_fixture fx;
static char monitor[256];	/* the monitor, as the store reaches it: role autoctl_node */
static int node_a, node_b;	/* the monitor's ids of the two nodes; 0: not registered */

/* Runs sql on the monitor's database as the superuser; the first value of the first row, if any,
 * into out. */
static void mon(const char *sql, char *out, size_t n)
{
	char ci[320];
	PGconn *c;
	PGresult *r;

	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=" PG_FIXTURE_USER " dbname=" MONITOR_DB
		 " sslmode=disable", fx.port);
	c = PQconnectdb(ci);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "monitor: %s: %s", sql, PQerrorMessage(c));
	assert_true(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK);
	if (out != NULL) {
		assert_true(PQntuples(r) >= 1);
		snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	PQfinish(c);
}

static int register_node(int port)
{
	char sql[256], id[32];

	snprintf(sql, sizeof(sql), "SELECT assigned_node_id FROM pgautofailover.register_node("
		 "'default', '127.0.0.1', %d, 'postgres', sysidentifier => 42)", port);
	mon(sql, id, sizeof(id));
	mon("UPDATE pgautofailover.node SET health = 1", NULL, 0);
	return atoi(id);
}

/* The node's keeper reports that it reached state. */
static void report(int node, const char *state)
{
	char sql[256], goal[32];

	snprintf(sql, sizeof(sql), "SELECT assigned_group_state FROM pgautofailover.node_active("
		 "'default', %d, 0, '%s', true, 1, '0/3000000', 'quorum')", node, state);
	mon(sql, goal, sizeof(goal));
}

/* The monitor's goal for node into goal; whether the node has reported reaching it. */
static bool goal_of(int node, char *goal, size_t n)
{
	char sql[160], reached[8];

	snprintf(sql, sizeof(sql), "SELECT goalstate FROM pgautofailover.node WHERE nodeid = %d",
		 node);
	mon(sql, goal, n);
	snprintf(sql, sizeof(sql), "SELECT goalstate = reportedstate FROM pgautofailover.node "
		 "WHERE nodeid = %d", node);
	mon(sql, reached, sizeof(reached));
	return strcmp(reached, "t") == 0;
}

/* Both keepers report reaching their goals, round after round, until the monitor's goals are
 * a_goal for A and b_goal for B; with reached, until both nodes have reported reaching them. */
static void drive_until(const char *a_goal, const char *b_goal, bool reached)
{
	char a[32], b[32];
	bool a_reached, b_reached;
	int round;

	for (round = 0; round < 20; round++) {
		a_reached = goal_of(node_a, a, sizeof(a));
		b_reached = goal_of(node_b, b, sizeof(b));
		if (strcmp(a, a_goal) == 0 && strcmp(b, b_goal) == 0 &&
		    (!reached || (a_reached && b_reached)))
			break;
		report(node_a, a);
		report(node_b, b);
	}
	if (strcmp(a, a_goal) != 0 || strcmp(b, b_goal) != 0)
		fprintf(stderr, "monitor: goals %s/%s, wanted %s/%s\n", a, b, a_goal, b_goal);
	assert_string_equal(a, a_goal);
	assert_string_equal(b, b_goal);
}

static struct store *open_store(const char *monitor_ci, unsigned wait_ms)
{
	struct kl_err err = { 0 };
	struct store *st = store_pg_open(fx.conninfo, 2, &err);

	if (st == NULL)
		fprintf(stderr, "store_pg_open: %s\n", err.msg);
	assert_non_null(st);
	assert_int_equal(store_pg_set_monitor(st, monitor_ci, "default", &err), 0);
	store_pg_set_failover_wait(st, wait_ms);
	return st;
}

static void expect_put(struct store *st, const char *key, int rc, enum kl_errc code)
{
	struct kl_err err = { 0 };

	assert_int_equal(store_put(st, key, strlen(key), "v", 1, &err), rc);
	assert_int_equal(err.code, code);
}

/* Whether key is in the table, asked of the server directly. */
static bool stored(const char *key)
{
	char sql[256], n[16];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM kluis_kv WHERE key = '%s'::bytea", key);
	assert_int_equal(pg_fixture_query(fx.port, sql, n, sizeof(n)), 0);
	return strcmp(n, "1") == 0;
}

static void test_unknown_server_is_used(void **state)
{
	struct store *st = open_store(monitor, 0);

	(void)state;
	expect_put(st, "m/unknown", 0, KL_OK);
	store_close(st);
}

static void test_unreachable_monitor_is_not_in_the_way(void **state)
{
	char ci[256];
	struct store *st;

	(void)state;
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d user=autoctl_node dbname=" MONITOR_DB
		 " sslmode=disable", pg_fixture_free_port());
	st = open_store(ci, 0);
	expect_put(st, "m/no-monitor", 0, KL_OK);
	store_close(st);
}

static void test_primary_is_used(void **state)
{
	struct store *st;
	(void)state;
	node_a = register_node(fx.port);
	report(node_a, "single");
	node_b = register_node(pg_fixture_free_port());
	drive_until("primary", "secondary", true);
	st = open_store(monitor, 0);
	expect_put(st, "m/primary", 0, KL_OK);
	store_close(st);
}

static void test_server_failed_over_from_takes_no_writes(void **state)
{
	struct store *st;

	(void)state;
	mon("SELECT pgautofailover.perform_failover('default', 0)", NULL, 0);
	drive_until("draining", "prepare_promotion", false);
	st = open_store(monitor, 500);
	expect_put(st, "m/draining", -1, KL_EUNAVAIL);
	store_close(st);
	drive_until("demote_timeout", "stop_replication", false);
	st = open_store(monitor, 500);
	expect_put(st, "m/demote", -1, KL_EUNAVAIL);
	store_close(st);
	assert_false(stored("m/draining"));
	assert_false(stored("m/demote"));
}

struct put_call {
	struct store *st;
	int rc;
	enum kl_errc code;
};

static void *run_put(void *arg)
{
	struct put_call *p = arg;
	struct kl_err err = { 0 };

	p->rc = store_put(p->st, "m/rides", 7, "v", 1, &err);
	p->code = err.code;
	return NULL;
}

/* A fails over back to itself: B's promotion completes, A rejoins as its standby, then the
 * operator fails over again and A is promoted. A write that waits meanwhile lands once A's goal
 * takes writes again. */
static void test_write_rides_through_until_a_is_primary_again(void **state)
{
	struct put_call p = { .st = open_store(monitor, 20000) };
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, run_put, &p), 0);
	drive_until("secondary", "primary", true);
	assert_false(stored("m/rides"));
	mon("SELECT pgautofailover.perform_failover('default', 0)", NULL, 0);
	drive_until("wait_primary", "demoted", false);
	pthread_join(t, NULL);
	assert_int_equal(p.rc, 0);
	assert_true(stored("m/rides"));
	store_close(p.st);
}

static int install_monitor(void **state)
{
	(void)state;
	mon("CREATE EXTENSION pgautofailover CASCADE", NULL, 0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_server_is_used),
		cmocka_unit_test(test_unreachable_monitor_is_not_in_the_way),
		cmocka_unit_test(test_primary_is_used),
		cmocka_unit_test(test_server_failed_over_from_takes_no_writes),
		cmocka_unit_test(test_write_rides_through_until_a_is_primary_again),
	};
	int failed = 1;

	if (pg_fixture_start(&fx) != 0 ||
	    pg_fixture_sql(fx.port, "ALTER SYSTEM SET shared_preload_libraries = 'pgautofailover'") !=
		    0 ||
	    pg_fixture_ctl(&fx, "restart") != 0 ||
	    pg_fixture_sql(fx.port, "ALTER SYSTEM SET pgautofailover.enable_health_checks = off") !=
		    0 ||
	    pg_fixture_ctl(&fx, "restart") != 0 ||
	    pg_fixture_sql(fx.port, "CREATE DATABASE " MONITOR_DB) != 0) {
		fprintf(stderr, "cannot start a PostgreSQL server with a monitor for the test\n");
		goto out;
	}
	snprintf(monitor, sizeof(monitor), "host=127.0.0.1 port=%d user=autoctl_node dbname="
		 MONITOR_DB " sslmode=disable", fx.port);
	failed = cmocka_run_group_tests_name("pg_auto_failover's monitor", tests,
					    install_monitor, NULL);
out:
	pg_fixture_stop(&fx);
	return failed == 0 ? 0 : 1;
}
