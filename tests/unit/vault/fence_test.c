/* Two regions on real PostgreSQL servers (pg_fixture.h): node a of region r1 on the primary,
 * node b of region r2 on its hot standby, each checking the other's database (vault/fence.h).
 * A planned switchover (on a pair of servers of its own): given up, with the old epoch put back,
 * when b cannot catch up; then every write a acknowledged, even while b was taking over, is in
 * b's store, and a refuses writes from the switch on.
 * The primary region lost for good: b's promotion is refused while a's database answers as a
 * primary, and goes through once it is gone (after the leases of r1 have run out), with a new
 * epoch; b then takes writes. When a's database comes back by itself, a is fenced: it refuses
 * every write, and records the new epoch in its own database, so that it stays fenced after a
 * restart even when r2 cannot be reached. */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "fixture.h"
#include "pg_fixture.h"
#include "store/store_pg.h"
#include "util/json.h"
#include "vault/core.h"
#include "vault/fence.h"
#include "vault/internal.h"

struct node {
	struct fixture_dir dir;
	struct vault_core *core;
	char store[256], peer[256];
	const char *region;
};

static struct pg_fixture pg, pg2;

static struct store *open_peer(void *arg, struct kl_err *err)
{
	struct store *st = store_pg_open(arg, 2, err);

	if (st != NULL)
		store_pg_set_failover_wait(st, 0);
	return st;
}

static void open_node(struct node *n)
{
	struct vault_core_config cfg = { .data_dir = n->dir.path, .default_vault = "default",
					 .retention_days = 7, .region = n->region,
					 .open_peer = open_peer, .open_peer_arg = n->peer };
	struct kl_err err = { 0 };
	struct store *st = store_pg_open(n->store, 4, &err);

	if (st == NULL || (n->core = vault_core_open(&cfg, st, &err)) == NULL)
		fail_msg("node of %s: %s", n->region, err.msg);
}

static int put(struct node *n, const char *key, struct kl_err *err)
{
	kl_err_clear(err);
	return store_put(n->core->st, key, strlen(key), "v", 1, err);
}

/* Node a of r1 on f's primary and node b of r2 on its standby, each the other's peer, sharing a
 * master key; t/before written through a and replicated before b opens. */
static void open_pair(const struct pg_fixture *f, struct node *a, struct node *b)
{
	struct kl_err err = { 0 };
	char cmd[1024];

	json_util_init();
	pg_fixture_conninfo(f->port, a->store, sizeof(a->store));
	pg_fixture_conninfo(f->standby_port, a->peer, sizeof(a->peer));
	memcpy(b->store, a->peer, sizeof(b->store));
	memcpy(b->peer, a->store, sizeof(b->peer));
	assert_int_equal(fixture_dir_make(&a->dir), 0);
	assert_int_equal(fixture_dir_make(&b->dir), 0);
	open_node(a);
	snprintf(cmd, sizeof(cmd), "cp -p '%s/master.key' '%s/admin-token' '%s/'", a->dir.path,
		 a->dir.path, b->dir.path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(put(a, "t/before", &err), 0);
	open_node(b);
}

/* Waits up to 10 s for the node's fence to say fenced. */
static bool wait_fenced(struct node *n)
{
	struct timespec step = { 0, 100 * 1000000L };
	int i;

	for (i = 0; i < 100 && !atomic_load(&n->core->fenced); i++)
		nanosleep(&step, NULL);
	return atomic_load(&n->core->fenced);
}

static void test_region_lost_for_good(void **state)
{
	struct node a = { .region = "r1" }, b = { .region = "r2" };
	struct vault_region_status s;
	struct vault_promotion p;
	struct kl_err err = { 0 };
	char rec[128];

	(void)state;
	open_pair(&pg, &a, &b);

	/* r1 writes under a lease: its peer is a streaming standby */
	assert_int_equal(vault_region_status(a.core, &s, &err), 0);
	assert_true(s.peer && s.peer_reachable && !s.peer_primary && s.leased && !s.fenced);
	assert_int_equal(put(&a, "t/leased", &err), 0);
	assert_int_equal(vault_core_mode(b.core), VAULT_MODE_READ_ONLY);

	/* r1's database still answers as a primary: refused, unless forced (a dry run here) */
	assert_int_equal(vault_promote(b.core, false, false, &p, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	kl_err_clear(&err);
	assert_int_equal(vault_promote(b.core, true, true, &p, &err), 0);
	assert_int_equal(p.epoch.epoch, 1);
	assert_string_equal(p.epoch.region, "r2");
	assert_int_equal(vault_core_mode(b.core), VAULT_MODE_READ_ONLY);	/* nothing done */

	/* r1 is lost: the promotion goes through */
	assert_int_equal(pg_fixture_failover_ctl(&pg, "data", "stop"), 0);
	if (vault_promote(b.core, false, false, &p, &err) != 0)
		fail_msg("promote: %s", err.msg);
	assert_int_equal(p.epoch.epoch, 1);
	assert_true(p.took_ms >= 10000);	/* r1's leases ran out first */
	assert_true(p.replayed_at_ms > 0);
	assert_int_equal(vault_core_mode(b.core), VAULT_MODE_READ_WRITE);
	assert_int_equal(put(&b, "t/after", &err), 0);
	assert_int_equal(vault_promote(b.core, false, false, &p, &err), -1);	/* done already */
	assert_int_equal(err.code, KL_ECONFLICT);

	/* r1's database comes back by itself: a sees the new epoch and refuses every write */
	assert_int_equal(pg_fixture_ctl(&pg, "start"), 0);
	assert_true(wait_fenced(&a));
	assert_int_equal(put(&a, "t/old-epoch", &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	assert_int_equal(vault_core_mode(a.core), VAULT_MODE_READ_ONLY);
	assert_int_equal(put(&b, "t/after2", &err), 0);	/* r2 is not disturbed by a */
	assert_int_equal(pg_fixture_query(pg.port, "SELECT convert_from(value, 'UTF8') FROM "
					  "kluis_kv WHERE key = 'm/region-epoch'::bytea", rec,
					  sizeof(rec)), 0);
	assert_non_null(strstr(rec, " 1 r2 "));
	assert_int_equal(pg_fixture_query(pg.port, "SELECT count(*) FROM kluis_kv WHERE key = "
					  "'t/old-epoch'::bytea", rec, sizeof(rec)), 0);
	assert_string_equal(rec, "0");

	/* a restarted with r2 out of reach stays fenced: its own database says so */
	vault_core_close(a.core);
	snprintf(a.peer, sizeof(a.peer), "host=127.0.0.1 port=%d user=kluis dbname=postgres "
		 "sslmode=disable connect_timeout=1", pg_fixture_free_port());
	open_node(&a);
	assert_true(atomic_load(&a.core->fenced));
	assert_int_equal(vault_core_mode(a.core), VAULT_MODE_READ_ONLY);
	assert_int_equal(put(&a, "t/old-epoch", &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);

	vault_core_close(a.core);
	vault_core_close(b.core);
	fixture_dir_remove(&a.dir);
	fixture_dir_remove(&b.dir);
}

/* Resumes the process *arg after 1.5 s. */
static void *resume_later(void *arg)
{
	struct timespec wait = { 1, 500 * 1000000L };

	nanosleep(&wait, NULL);
	kill(*(pid_t *)arg, SIGCONT);
	return NULL;
}

/* Writes t/w-1, t/w-2, ... through node a until stop; counts the acknowledged ones. */
struct writer {
	struct node *a;
	atomic_bool stop;
	atomic_int acked;
	int refused;
};

static void *write_loop(void *arg)
{
	struct writer *w = arg;
	struct kl_err err = { 0 };
	char key[32];
	int i;

	for (i = 1; !atomic_load(&w->stop) && i < 100000; i++) {
		snprintf(key, sizeof(key), "t/w-%d", i);
		if (put(w->a, key, &err) == 0)
			atomic_store(&w->acked, i);	/* one at a time: all up to i acknowledged */
		else if (err.code == KL_EREADONLY)
			w->refused++;
		else
			fail_msg("write %d: %s", i, err.msg);
		if (w->refused > 0)
			break;
	}
	return NULL;
}

static void test_switchover(void **state)
{
	struct node a = { .region = "r1" }, b = { .region = "r2" };
	struct writer w = { .a = &a };
	struct vault_switchover sw;
	struct kl_err err = { 0 };
	struct buf v;
	char key[32], rec[32];
	uint64_t version;
	pthread_t t, resume;
	pid_t receiver;
	int i;

	(void)state;
	open_pair(&pg2, &a, &b);

	/* refused from the primary's side; a dry run changes nothing */
	assert_int_equal(vault_switchover(a.core, false, &sw, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	kl_err_clear(&err);
	assert_int_equal(vault_switchover(b.core, true, &sw, &err), 0);
	assert_int_equal(sw.epoch.epoch, 1);
	assert_string_equal(sw.epoch.region, "r2");
	assert_int_equal(put(&a, "t/still-r1", &err), 0);

	/* b cannot catch up (its WAL receiver stopped): given up after 10 s, the old epoch put
	 * back (no record, as before), and a takes writes again */
	assert_int_equal(pg_fixture_query(pg2.standby_port, "SELECT pid FROM pg_stat_wal_receiver",
					  rec, sizeof(rec)), 0);
	receiver = (pid_t)atoi(rec);
	assert_true(receiver > 0);
	assert_int_equal(kill(receiver, SIGSTOP), 0);
	assert_int_equal(vault_switchover(b.core, false, &sw, &err), -1);
	assert_int_equal(err.code, KL_EUNAVAIL);
	assert_int_equal(kill(receiver, SIGCONT), 0);
	assert_int_equal(pg_fixture_query(pg2.port, "SELECT count(*) FROM kluis_kv WHERE key = "
					  "'m/region-epoch'::bytea", rec, sizeof(rec)), 0);
	assert_string_equal(rec, "0");
	for (i = 0; i < 50 && put(&a, "t/after-abandoned", &err) != 0; i++)
		nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
	assert_int_equal(err.code, KL_OK);
	assert_int_equal(vault_core_mode(b.core), VAULT_MODE_READ_ONLY);

	/* a writes without a pause while b takes over; b's WAL receiver is stopped meanwhile, so
	 * that b lacks a's last commits when the switchover starts, and gets them back 1.5 s on */
	assert_int_equal(pthread_create(&t, NULL, write_loop, &w), 0);
	while (atomic_load(&w.acked) < 20)
		sched_yield();
	assert_int_equal(pg_fixture_query(pg2.standby_port, "SELECT pid FROM pg_stat_wal_receiver",
					  rec, sizeof(rec)), 0);
	receiver = (pid_t)atoi(rec);
	assert_true(receiver > 0);
	assert_int_equal(kill(receiver, SIGSTOP), 0);
	i = atomic_load(&w.acked);
	while (atomic_load(&w.acked) < i + 20)
		sched_yield();
	assert_int_equal(pthread_create(&resume, NULL, resume_later, &receiver), 0);
	if (vault_switchover(b.core, false, &sw, &err) != 0)
		fail_msg("switchover: %s", err.msg);
	pthread_join(resume, NULL);
	atomic_store(&w.stop, true);
	pthread_join(t, NULL);
	assert_true(sw.paused_ms >= 1000);	/* it waited for the receiver */
	print_message("switchover: writes paused %" PRIu64 " ms, took %" PRIu64 " ms; a's writer "
		      "had %d acknowledged\n", sw.paused_ms, sw.took_ms, atomic_load(&w.acked));
	assert_int_equal(sw.epoch.epoch, 1);
	assert_true(sw.wal_pos > 0);
	assert_int_equal(vault_core_mode(b.core), VAULT_MODE_READ_WRITE);
	assert_int_equal(put(&b, "t/after", &err), 0);
	/* every write a acknowledged is in b's store */
	buf_init(&v, 4096);
	for (i = 1; i <= atomic_load(&w.acked); i++) {
		snprintf(key, sizeof(key), "t/w-%d", i);
		if (store_get(b.core->st, key, strlen(key), &v, &version, &err) != 0)
			fail_msg("%s, acknowledged by r1, is not in r2: %s", key, err.msg);
	}
	buf_clear(&v);
	/* a refuses writes from the switch on, and says so at its next look */
	assert_int_equal(put(&a, "t/old-epoch", &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	assert_true(wait_fenced(&a));
	assert_int_equal(vault_core_mode(a.core), VAULT_MODE_READ_ONLY);
	assert_int_equal(vault_switchover(b.core, false, &sw, &err), -1);	/* done already */
	assert_int_equal(err.code, KL_ECONFLICT);

	vault_core_close(a.core);
	vault_core_close(b.core);
	fixture_dir_remove(&a.dir);
	fixture_dir_remove(&b.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switchover),
		cmocka_unit_test(test_region_lost_for_good),
	};
	int failed = 1;

	if (pg_fixture_start(&pg) != 0 || pg_fixture_standby_start(&pg) != 0 ||
	    pg_fixture_start(&pg2) != 0 || pg_fixture_standby_start(&pg2) != 0) {
		fprintf(stderr, "cannot start PostgreSQL servers for the test\n");
		goto out;
	}
	failed = cmocka_run_group_tests_name("the regions' fence", tests, NULL, NULL);
out:
	/* pg2's guard process, forked after pg's, holds pg's pipe too: it goes first */
	pg_fixture_stop(&pg2);
	pg_fixture_stop(&pg);
	return failed == 0 ? 0 : 1;
}
