/* vault/object.c when the store cannot say whether a write was applied (KL_EOUTCOME), on a real
 * PostgreSQL (pg_fixture.h): commits wait for a synchronous standby that never answers, and the
 * backend waiting in one is terminated, so the commit is applied but its answer lost. A SET then
 * succeeds, once, with that version (the store settles the outcome: store_pg_settle.c); a SET
 * whose commit was not applied (terminated inside a deferred trigger) is run again by the store,
 * once: one version; and when no server answers within the failover wait, the SET fails with
 * KL_EOUTCOME and writes no version behind the caller's back. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "pg_fixture.h"
#include "store/store_pg.h"
#include "vault/object.h"
#include "vault/secrets.h"

static struct pg_fixture pg;

struct node {
	struct fixture_dir dir;
	struct store *st;	/* the core's */
	struct vault_core *core;
	struct vault v;
};

struct setter {
	struct vault *v;
	const char *name;
	struct obj out;
	int rc;
	struct kl_err err;
};

static void *set_secret(void *arg)
{
	struct setter *s = arg;
	struct obj in;

	obj_init(&in);
	obj_init(&s->out);
	in.attrs.enabled = true;
	s->rc = obj_create(s->v, OBJ_SECRET, s->name, &in, "value", 5, &s->out, &s->err);
	obj_clear(&in);
	return NULL;
}

/* Polls until a kluisd backend waits on event; its pid in pid. */
static bool wait_for_event(const char *event, char *pid, size_t n)
{
	char sql[256];
	int i;

	pid[0] = '\0';
	snprintf(sql, sizeof(sql),
		 "SELECT COALESCE(MAX(pid)::text, '') FROM pg_stat_activity WHERE "
		 "application_name = 'kluisd' AND wait_event = '%s'",
		 event);
	for (i = 0; i < 1200 && pid[0] == '\0'; i++) {
		if (pg_fixture_query(pg.port, sql, pid, n) != 0)
			return false;
		if (pid[0] == '\0')
			usleep(50 * 1000);
	}
	return pid[0] != '\0';
}

/* Terminates every kluisd backend waiting on event, once one shows up; false when none did. */
static bool terminate_waiting(const char *event)
{
	char sql[256], pid[32];

	if (!wait_for_event(event, pid, sizeof(pid)))
		return false;
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
		 "application_name = 'kluisd' AND wait_event = '%s'",
		 event);
	return pg_fixture_sql(pg.port, sql) == 0;
}

/* The number of versions of secret name in the default vault, straight from the table. */
static int versions_of(const char *name)
{
	char sql[256], out[16];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM kluis_kv WHERE key >= 'o/default/s/v/%s/'::bytea AND "
		 "key < 'o/default/s/v/%s0'::bytea",
		 name, name);
	assert_int_equal(pg_fixture_query(pg.port, sql, out, sizeof(out)), 0);
	return atoi(out);
}

static void expect_latest(struct vault *v, const char *name, const char *version)
{
	struct obj o;
	struct secbuf *s = NULL;
	struct kl_err err = { 0 };

	obj_init(&o);
	if (secret_get(v, name, NULL, &o, &s, &err) != 0)
		fail_msg("secret_get: %s", err.msg);
	assert_string_equal(o.version, version);
	secbuf_free(s);
	obj_clear(&o);
}

static void test_set_settles_an_unknown_outcome(void **state)
{
	struct node *n = *state;
	struct setter s = { .v = &n->v, .name = "applied" };
	pthread_t t;
	bool terminated;

	/* the settle waits through two restarts of a busy machine: not the default 8 s */
	store_pg_set_failover_wait(n->st, 60000);
	/* a restart, not a reload: commits wait from the first one on */
	assert_int_equal(pg_fixture_sql(pg.port, "ALTER SYSTEM SET synchronous_standby_names = "
						 "'nobody'"),
			 0);
	assert_int_equal(pg_fixture_ctl(&pg, "restart"), 0);
	assert_int_equal(pthread_create(&t, NULL, set_secret, &s), 0);
	terminated = terminate_waiting("SyncRep");
	/* back to plain commits before the join: a SET still waiting ends with the restart */
	assert_int_equal(pg_fixture_sql(pg.port, "ALTER SYSTEM RESET synchronous_standby_names"), 0);
	assert_int_equal(pg_fixture_ctl(&pg, "restart"), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(terminated);
	if (s.rc != 0)
		fail_msg("obj_create: %s %s", kl_errc_name(s.err.code), s.err.msg);
	store_pg_set_failover_wait(n->st, 8000);
	assert_int_equal(versions_of("applied"), 1);	/* applied once, not run again */
	expect_latest(&n->v, "applied", s.out.version);
	obj_clear(&s.out);
}

static void test_set_not_applied_is_run_again_once(void **state)
{
	struct node *n = *state;
	struct setter s = { .v = &n->v, .name = "lost" };
	pthread_t t;
	bool terminated;

	assert_int_equal(pg_fixture_slow_commit(pg.port, "o/default/s/h/lost", true), 0);
	assert_int_equal(pthread_create(&t, NULL, set_secret, &s), 0);
	terminated = terminate_waiting("PgSleep");
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pg_fixture_sql(pg.port, "DROP TRIGGER outcome_slow ON kluis_kv"), 0);
	assert_true(terminated);
	if (s.rc != 0)
		fail_msg("obj_create: %s %s", kl_errc_name(s.err.code), s.err.msg);
	assert_int_equal(versions_of("lost"), 1);	/* the lost run rolled back, then one more */
	expect_latest(&n->v, "lost", s.out.version);
	obj_clear(&s.out);
}

/* The server gone (stopped at once while the COMMIT sleeps) for longer than the failover wait: the
 * outcome cannot be settled, the SET fails with KL_EOUTCOME, and nothing was written. */
static void test_set_unsettled_stays_unknown(void **state)
{
	struct node *n = *state;
	struct setter s = { .v = &n->v, .name = "gone" };
	char sql[128];
	pthread_t t;
	bool waiting;

	store_pg_set_failover_wait(n->st, 300);
	assert_int_equal(pg_fixture_slow_commit(pg.port, "o/default/s/h/gone", false), 0);
	assert_int_equal(pthread_create(&t, NULL, set_secret, &s), 0);
	waiting = wait_for_event("PgSleep", sql, sizeof(sql));
	assert_int_equal(pg_fixture_ctl(&pg, "crash"), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pg_fixture_ctl(&pg, "start"), 0);
	assert_int_equal(pg_fixture_sql(pg.port, "DROP TRIGGER outcome_slow ON kluis_kv"), 0);
	store_pg_set_failover_wait(n->st, 8000);
	assert_true(waiting);
	assert_int_equal(s.rc, -1);
	assert_int_equal(s.err.code, KL_EOUTCOME);
	assert_int_equal(versions_of("gone"), 0);	/* rolled back, and not run again */
}

static int setup(void **state)
{
	struct node *n = calloc(1, sizeof(*n));
	struct vault_core_config cfg = { .default_vault = "default", .retention_days = 7 };
	struct kl_err err = { 0 };
	struct store *st;

	if (n == NULL || fixture_dir_make(&n->dir) != 0)
		return -1;
	cfg.data_dir = n->dir.path;
	if ((n->st = st = store_pg_open(pg.conninfo, 2, &err)) == NULL ||
	    (n->core = vault_core_open(&cfg, st, &err)) == NULL ||
	    vault_open(n->core, "default", &n->v, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = n;
	return 0;
}

static int teardown(void **state)
{
	struct node *n = *state;

	vault_core_close(n->core);
	fixture_dir_remove(&n->dir);
	free(n);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_settles_an_unknown_outcome),
		cmocka_unit_test(test_set_not_applied_is_run_again_once),
		cmocka_unit_test(test_set_unsettled_stays_unknown),
	};
	int failed = 1;

	if (pg_fixture_start(&pg) != 0) {
		fprintf(stderr, "cannot start a PostgreSQL server for the test\n");
		goto out;
	}
	failed = cmocka_run_group_tests(tests, setup, teardown);
out:
	pg_fixture_stop(&pg);
	return failed == 0 ? 0 : 1;
}
