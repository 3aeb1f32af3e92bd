/* Transactions on PostgreSQL against a real server this test starts itself (pg_fixture.h): a
 * commit whose answer the store did not get (the connection lost while the server ran the COMMIT,
 * applied or not; the wait for a synchronous standby canceled after a local commit) is settled by
 * the store: a success when it was applied, run again exactly once when it was not, and
 * KL_EOUTCOME only when no writable server answers within the failover wait; concurrent checked
 * writers lose no update. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "store/store_pg.h"

static struct pg_fixture fx;

static int fresh_setup(void **state)
{
	*state = NULL;
	return pg_fixture_sql(fx.port, "DROP TABLE IF EXISTS kluis_kv");
}

static int close_teardown(void **state)
{
	store_close(*state);
	*state = NULL;
	return 0;
}

static struct store *fresh_store(void **state, size_t pool)
{
	struct kl_err err = { 0 };
	struct store *st = store_pg_open(fx.conninfo, pool, &err);

	if (st == NULL)
		fprintf(stderr, "store_pg_open: %s\n", err.msg);
	assert_non_null(st);
	*state = st;
	return st;
}

/* key holds val at version. */
static void expect_record(struct store *st, const char *key, const char *val, uint64_t version)
{
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t got = 0;

	buf_init(&b, 4096);
	assert_int_equal(store_get(st, key, strlen(key), &b, &got, &err), 0);
	assert_int_equal(b.len, strlen(val));
	assert_memory_equal(b.data, val, b.len);
	assert_int_equal(got, version);
	buf_clear(&b);
}

static void expect_missing(struct store *st, const char *key)
{
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(store_get(st, key, strlen(key), &b, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_clear(&b);
}

struct slow_put {
	struct store *st;
	int rc;
	enum kl_errc code;
};

static void *put_outcome(void *arg)
{
	struct slow_put *p = arg;
	struct kl_err err = { 0 };

	p->rc = store_put(p->st, "outcome", 7, "v", 1, &err);
	p->code = err.code;
	return NULL;
}

/* The pid of the kluisd backend sleeping inside its COMMIT, by polling. */
static void wait_for_sleeping_commit(char *pid, size_t n)
{
	int i;

	pid[0] = '\0';
	for (i = 0; i < 1200 && pid[0] == '\0'; i++) {
		assert_int_equal(pg_fixture_query(fx.port,
						  "SELECT COALESCE(MAX(pid)::text, '') FROM "
						  "pg_stat_activity WHERE "
						  "application_name = 'kluisd' AND "
						  "wait_event = 'PgSleep'",
						  pid, n),
				 0);
		if (pid[0] == '\0')
			usleep(50 * 1000);
	}
	assert_true(pid[0] != '\0');
}

static void terminate_backend(const char *pid)
{
	char sql[96];

	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
	assert_int_equal(pg_fixture_sql(fx.port, sql), 0);
}

/* The connection is lost while the server runs the COMMIT (a deferred trigger holds the commit
 * in pg_sleep, and the backend is terminated there, so it was not applied): the store settles
 * it, finds it was not applied, and runs it again once: the put succeeds, the trigger ran twice,
 * the record is at version 1. (Before the settle: KL_EOUTCOME, handed to the caller.) */
static void test_lost_during_commit_is_settled_and_run_again(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct slow_put p = { .st = st, .rc = 0 };
	char pid[32], runs[32];
	pthread_t t;

	assert_int_equal(pg_fixture_slow_commit(fx.port, "outcome", true), 0);
	assert_int_equal(pthread_create(&t, NULL, put_outcome, &p), 0);
	wait_for_sleeping_commit(pid, sizeof(pid));
	terminate_backend(pid);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(p.rc, 0);
	assert_int_equal(pg_fixture_query(fx.port, "SELECT last_value FROM outcome_runs", runs,
					  sizeof(runs)), 0);
	assert_string_equal(runs, "2");	/* the lost run, and one more */
	expect_record(st, "outcome", "v", 1);	/* applied once */
	assert_int_equal(pg_fixture_query(fx.port, "SELECT count(*) FROM kluis_commit WHERE fence",
					  runs, sizeof(runs)), 0);
	assert_string_equal(runs, "1");	/* the lost run's marker, fenced */
	assert_int_equal(pg_fixture_sql(fx.port, "DROP TRIGGER outcome_slow ON kluis_kv"), 0);
}

/* The same loss while no server takes writes for longer than the failover wait: the store cannot
 * find out, and says so with KL_EOUTCOME instead of running the write again. */
static void test_unsettled_outcome_is_eoutcome(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct slow_put p = { .st = st, .rc = 0 };
	char pid[32];
	pthread_t t;

	store_pg_set_failover_wait(st, 500);
	assert_int_equal(pg_fixture_slow_commit(fx.port, "outcome", true), 0);
	assert_int_equal(pthread_create(&t, NULL, put_outcome, &p), 0);
	wait_for_sleeping_commit(pid, sizeof(pid));
	assert_int_equal(pg_fixture_ctl(&fx, "crash"), 0);	/* ends the session too */
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(p.rc, -1);
	assert_int_equal(p.code, KL_EOUTCOME);
	assert_int_equal(pg_fixture_ctl(&fx, "start"), 0);
	expect_missing(st, "outcome");	/* rolled back by the crash, and not run again */
	assert_int_equal(pg_fixture_sql(fx.port, "DROP TRIGGER outcome_slow ON kluis_kv"), 0);
}

/* The backend of the kluisd connection whose wait_event is event, by polling; "" when none
 * showed up. */
static void wait_for_backend(const char *event, char *pid, size_t n)
{
	char sql[256];
	int i;

	snprintf(sql, sizeof(sql),
		 "SELECT COALESCE(MAX(pid)::text, '') FROM pg_stat_activity WHERE "
		 "application_name = 'kluisd' AND wait_event = '%s'",
		 event);
	pid[0] = '\0';
	for (i = 0; i < 1200 && pid[0] == '\0'; i++) {
		assert_int_equal(pg_fixture_query(fx.port, sql, pid, n), 0);
		if (pid[0] == '\0')
			usleep(50 * 1000);
	}
}

/* A put whose COMMIT waits for a synchronous standby that never answers, its backend then hit
 * with stop ("pg_terminate_backend" or "pg_cancel_backend"); commits go back to plain (a restart)
 * before the put is joined, so that a put still waiting ends too. The put's result in *p. */
static void put_with_sync_wait_stopped(struct store *st, const char *stop, struct slow_put *p)
{
	char pid[32], sql[96];
	pthread_t t;

	p->st = st;
	p->rc = 0;
	/* a restart, not a reload: commits wait from the first one on */
	assert_int_equal(pg_fixture_sql(fx.port, "ALTER SYSTEM SET synchronous_standby_names = "
						 "'nobody'"),
			 0);
	assert_int_equal(pg_fixture_ctl(&fx, "restart"), 0);
	assert_int_equal(pthread_create(&t, NULL, put_outcome, p), 0);
	wait_for_backend("SyncRep", pid, sizeof(pid));
	if (pid[0] != '\0') {
		snprintf(sql, sizeof(sql), "SELECT %s(%s)", stop, pid);
		assert_int_equal(pg_fixture_sql(fx.port, sql), 0);
	}
	assert_int_equal(pg_fixture_sql(fx.port, "ALTER SYSTEM RESET synchronous_standby_names"), 0);
	assert_int_equal(pg_fixture_ctl(&fx, "restart"), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(pid[0] != '\0');
}

/* The other side: the COMMIT was applied (written locally, then waiting for a synchronous
 * standby that never answers) when the connection was lost. The settle's fence waits for the
 * standbys too, so it answers only once the server commits without them (the restart): the
 * marker is the write's own, the put succeeds, and the write is there once. */
static void test_lost_answer_of_an_applied_commit_is_success(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct slow_put p;

	/* the settle waits through two restarts of a busy machine: not the default 8 s */
	store_pg_set_failover_wait(st, 60000);
	put_with_sync_wait_stopped(st, "pg_terminate_backend", &p);
	assert_int_equal(p.rc, 0);
	expect_record(st, "outcome", "v", 1);	/* applied once, not twice */
}

#define COUNTERS 6
#define COUNTS 25

struct counter_writer {
	struct store *st;
	int done;	/* increments committed */
	int conflicts;
	int failures;
	enum kl_errc code;
};

/* Increments one shared counter COUNTS times, each a read and a checked write, again after a
 * conflict. */
static void *count_up(void *arg)
{
	struct counter_writer *w = arg;

	while (w->done < COUNTS && w->failures == 0) {
		struct kl_err err = { 0 };
		struct buf b;
		uint64_t v = 0;
		char out[16];
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = "ctr", .key_len = 3 },
			{ .kind = STORE_PUT, .key = "ctr", .key_len = 3, .val = out },
		};
		int rc;

		buf_init(&b, 64);
		rc = store_get(w->st, "ctr", 3, &b, &v, &err);
		buf_clear(&b);
		if (rc != 0 && err.code != KL_ENOTFOUND) {
			w->failures++;
			w->code = err.code;
			break;
		}
		snprintf(out, sizeof(out), "%llu", (unsigned long long)v + 1);
		ops[0].version = v;
		ops[1].val_len = strlen(out);
		kl_err_clear(&err);
		if (store_txn(w->st, ops, 2, &err) == 0) {
			w->done++;
		} else if (err.code == KL_ECONFLICT) {
			w->conflicts++;
		} else {
			w->failures++;
			w->code = err.code;
		}
	}
	return NULL;
}

/* Writers racing on one record: serialization failures are run again inside the store, failed
 * checks come back as conflicts, and no increment is lost or doubled. */
static void test_no_lost_update_under_concurrent_writers(void **state)
{
	struct store *st = fresh_store(state, COUNTERS);
	struct counter_writer w[COUNTERS];
	pthread_t t[COUNTERS];
	char want[16];
	int i, conflicts = 0;

	memset(w, 0, sizeof(w));
	for (i = 0; i < COUNTERS; i++) {
		w[i].st = st;
		assert_int_equal(pthread_create(&t[i], NULL, count_up, &w[i]), 0);
	}
	for (i = 0; i < COUNTERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		if (w[i].failures > 0)
			fprintf(stderr, "writer %d: %s\n", i, kl_errc_name(w[i].code));
		assert_int_equal(w[i].failures, 0);
		assert_int_equal(w[i].done, COUNTS);
		conflicts += w[i].conflicts;
	}
	snprintf(want, sizeof(want), "%d", COUNTERS * COUNTS);
	expect_record(st, "ctr", want, COUNTERS * COUNTS);
	fprintf(stderr, "%d increments, %d conflicts\n", COUNTERS * COUNTS, conflicts);
}

/* The server cancels a COMMIT's wait for a synchronous standby that never answers (here
 * pg_cancel_backend; a statement_timeout does the same): the transaction committed locally and
 * COMMIT answers success with only a warning. A failover now could lose it, so it is not
 * acknowledged as it is: it is settled, and the settle's fence, which waits for the standbys,
 * answers once the server commits without them (the restart). The put succeeds then, once.
 * (Before the warning was heard, the put succeeded at once, not durable; before the settle, it
 * failed with KL_EOUTCOME.) */
static void test_canceled_sync_wait_is_settled(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct slow_put p;

	store_pg_set_failover_wait(st, 60000);
	put_with_sync_wait_stopped(st, "pg_cancel_backend", &p);
	assert_int_equal(p.rc, 0);
	expect_record(st, "outcome", "v", 1);	/* committed locally, acknowledged once durable */
}

/* The housekeeping deletes commit markers older than fifteen minutes, whatever their number,
 * and keeps younger ones (a settle may still need them). */
static void test_maintain_deletes_old_markers(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct kl_err err = { 0 };
	char out[32];

	assert_int_equal(store_put(st, "k", 1, "v", 1, &err), 0);	/* the schema, a marker */
	assert_int_equal(pg_fixture_sql(fx.port, "DELETE FROM kluis_commit;"
				 "INSERT INTO kluis_commit (id, at) SELECT int8send(g), now() - "
				 "interval '16 minutes' FROM generate_series(1, 12000) g;"
				 "INSERT INTO kluis_commit (id, at) SELECT int8send(-g), now() - "
				 "interval '14 minutes' FROM generate_series(1, 3) g"),
			 0);
	assert_int_equal(store_maintain(st, &err), 0);
	assert_int_equal(pg_fixture_query(fx.port, "SELECT count(*) FROM kluis_commit", out,
					  sizeof(out)), 0);
	assert_string_equal(out, "3");
}

#define OWN_TEST(f) cmocka_unit_test_setup_teardown(f, fresh_setup, close_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		OWN_TEST(test_lost_during_commit_is_settled_and_run_again),
		OWN_TEST(test_unsettled_outcome_is_eoutcome),
		OWN_TEST(test_lost_answer_of_an_applied_commit_is_success),
		OWN_TEST(test_canceled_sync_wait_is_settled),
		OWN_TEST(test_no_lost_update_under_concurrent_writers),
		OWN_TEST(test_maintain_deletes_old_markers),
	};
	int failed = 1;

	if (pg_fixture_start(&fx) != 0) {
		fprintf(stderr, "cannot start a PostgreSQL server for the test\n");
		goto out;
	}
	failed = cmocka_run_group_tests_name("PostgreSQL commits", tests, NULL, NULL);
out:
	pg_fixture_stop(&fx);
	return failed == 0 ? 0 : 1;
}
