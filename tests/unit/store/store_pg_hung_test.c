/* A PostgreSQL server that hangs instead of dying (store_pg_hung.c), against a real server this
 * test starts itself (pg_fixture.h) and then freezes with SIGSTOP, postmaster and backends, their
 * sockets open: a read, a write and the role poll on the store each return within a bounded time
 * (the connection cut at its limit, then the failover wait, then a connect that times out)
 * instead of waiting for as long as the server stays frozen; the store serves again once the
 * server is thawed, and a write it answered "not applied" was not applied. A slow answer within
 * the limit is not cut.
 *
 * Each call under test runs in a thread of its own; a call still running well past its bound
 * (as before the watcher: forever) thaws the server so that it ends, and fails the test. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "store/store_pg.h"

/* What one call may take against a frozen server: the read's limit (3 s) or the write's (6 s), a
 * connect attempt's timeout (3 s), and slack for a loaded machine. */
#define READ_BOUND_MS 9000
#define WRITE_BOUND_MS 14000
#define GIVE_UP_MS 40000	/* past this the call counts as hung: the server is thawed */

static struct pg_fixture fx;

enum call_kind { CALL_GET, CALL_PUT, CALL_ROLE };

struct call {
	struct store *st;
	enum call_kind kind;
	const char *key, *val;
	int rc;
	enum kl_errc code;
	uint64_t took_ms;
	bool done;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void *run_call(void *arg)
{
	struct call *c = arg;
	struct kl_err err = { 0 };
	enum store_role role;
	uint64_t t0 = mono_ms(), version;
	struct buf b;

	buf_init(&b, 4096);
	if (c->kind == CALL_GET)
		c->rc = store_get(c->st, c->key, strlen(c->key), &b, &version, &err);
	else if (c->kind == CALL_PUT)
		c->rc = store_put(c->st, c->key, strlen(c->key), c->val, strlen(c->val), &err);
	else
		c->rc = store_role(c->st, &role, NULL, &err);
	buf_clear(&b);
	pthread_mutex_lock(&c->mu);
	c->code = err.code;
	c->took_ms = mono_ms() - t0;
	c->done = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Runs the call in a thread while the server is frozen; thaws it when the call is done, or when
 * it has run GIVE_UP_MS (then the call is reported as hung). */
static void call_frozen(struct call *c)
{
	struct timespec until;
	pthread_t t;

	c->done = false;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	assert_int_equal(pg_fixture_signal(&fx, "data", SIGSTOP), 0);
	assert_int_equal(pthread_create(&t, NULL, run_call, c), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += GIVE_UP_MS / 1000;
	pthread_mutex_lock(&c->mu);
	while (!c->done && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
		;
	pthread_mutex_unlock(&c->mu);
	assert_int_equal(pg_fixture_signal(&fx, "data", SIGCONT), 0);
	pthread_join(t, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

static struct store *open_store(void)
{
	struct kl_err err = { 0 };
	struct store *st = store_pg_open(fx.conninfo, 4, &err);

	if (st == NULL)
		fprintf(stderr, "store_pg_open: %s\n", err.msg);
	assert_non_null(st);
	store_pg_set_failover_wait(st, 1000);
	return st;
}

static void expect_stored(struct store *st, const char *key, const char *val)
{
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t version;

	buf_init(&b, 4096);
	assert_int_equal(store_get(st, key, strlen(key), &b, &version, &err), 0);
	assert_int_equal(b.len, strlen(val));
	assert_memory_equal(b.data, val, b.len);
	buf_clear(&b);
}

static void test_read_on_a_frozen_server_ends(void **state)
{
	struct store *st = open_store();
	struct kl_err err = { 0 };
	struct call c = { .st = st, .kind = CALL_GET, .key = "h/read" };

	(void)state;
	assert_int_equal(store_put(st, "h/read", 6, "before", 6, &err), 0);
	expect_stored(st, "h/read", "before");	/* a pooled connection to the server */
	call_frozen(&c);
	assert_true(c.took_ms < GIVE_UP_MS);	/* else it hung until the thaw */
	assert_int_equal(c.rc, -1);
	assert_int_equal(c.code, KL_EUNAVAIL);
	assert_true(c.took_ms < READ_BOUND_MS);
	assert_true(store_pg_hung_cuts(st) >= 1);
	expect_stored(st, "h/read", "before");	/* thawed: served again */
	store_close(st);
}

static void test_write_on_a_frozen_server_ends(void **state)
{
	struct store *st = open_store();
	struct kl_err err = { 0 };
	struct call c = { .st = st, .kind = CALL_PUT, .key = "h/write", .val = "during" };
	struct buf b;
	uint64_t version;
	int rc;

	(void)state;
	expect_stored(st, "h/read", "before");
	call_frozen(&c);
	assert_true(c.took_ms < GIVE_UP_MS);
	assert_int_equal(c.rc, -1);
	/* its pipeline reached the frozen server's socket: applied or not is unknown, unless the
	 * store settled it "not applied" (KL_EUNAVAIL), which must then hold */
	assert_true(c.code == KL_EOUTCOME || c.code == KL_EUNAVAIL);
	assert_true(c.took_ms < WRITE_BOUND_MS);
	buf_init(&b, 4096);
	rc = store_get(st, "h/write", 7, &b, &version, &err);
	if (c.code == KL_EUNAVAIL)
		assert_true(rc == -1 && err.code == KL_ENOTFOUND);
	buf_clear(&b);
	kl_err_clear(&err);
	assert_int_equal(store_put(st, "h/write", 7, "after", 5, &err), 0);
	expect_stored(st, "h/write", "after");
	store_close(st);
}

static void test_role_poll_on_a_frozen_server_ends(void **state)
{
	struct store *st = open_store();
	struct call c = { .st = st, .kind = CALL_ROLE };

	(void)state;
	expect_stored(st, "h/read", "before");
	call_frozen(&c);
	assert_true(c.took_ms < GIVE_UP_MS);
	assert_int_equal(c.rc, -1);
	assert_true(c.took_ms < READ_BOUND_MS);
	store_close(st);
}

/* A statement that waits 2 s on a lock (within the read's 3 s limit) is answered, not cut. */
static void test_slow_answer_within_the_limit_is_not_cut(void **state)
{
	struct store *st = open_store();
	struct call c = { .st = st, .kind = CALL_GET, .key = "h/read" };
	char ci[128];
	PGconn *lock;
	pthread_t t;

	(void)state;
	expect_stored(st, "h/read", "before");
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%d dbname=postgres user=%s", fx.port,
		 PG_FIXTURE_USER);
	lock = PQconnectdb(ci);
	assert_int_equal(PQstatus(lock), CONNECTION_OK);
	PQclear(PQexec(lock, "BEGIN; LOCK TABLE kluis_kv IN ACCESS EXCLUSIVE MODE"));
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	assert_int_equal(pthread_create(&t, NULL, run_call, &c), 0);
	sleep(2);
	PQclear(PQexec(lock, "COMMIT"));
	PQfinish(lock);
	pthread_join(t, NULL);
	assert_int_equal(c.rc, 0);
	assert_int_equal(store_pg_hung_cuts(st), 0);
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_on_a_frozen_server_ends),
		cmocka_unit_test(test_write_on_a_frozen_server_ends),
		cmocka_unit_test(test_role_poll_on_a_frozen_server_ends),
		cmocka_unit_test(test_slow_answer_within_the_limit_is_not_cut),
	};
	int failed = 1;

	if (pg_fixture_start(&fx) != 0) {
		fprintf(stderr, "cannot start a PostgreSQL server for the test\n");
		goto out;
	}
	failed = cmocka_run_group_tests_name("a hung PostgreSQL server", tests, NULL, NULL);
out:
	pg_fixture_stop(&fx);
	return failed == 0 ? 0 : 1;
}
