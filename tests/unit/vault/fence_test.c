/* Two regions on real PostgreSQL servers (pg_fixture.h): node a of region r1 on the primary,
 * node b of region r2 on its hot standby, each checking the other's database (vault/fence.h).
 * The primary region lost for good: b's promotion is refused while a's database answers as a
 * primary, and goes through once it is gone (after the leases of r1 have run out), with a new
 * epoch; b then takes writes. When a's database comes back by itself, a is fenced: it refuses
 * every write, and records the new epoch in its own database, so that it stays fenced after a
 * restart even when r2 cannot be reached. */
#include <setjmp.h>
#include <stdarg.h>
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

static struct pg_fixture pg;

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
	char cmd[1024], rec[128];

	(void)state;
	json_util_init();
	pg_fixture_conninfo(pg.port, a.store, sizeof(a.store));
	pg_fixture_conninfo(pg.standby_port, a.peer, sizeof(a.peer));
	memcpy(b.store, a.peer, sizeof(b.store));
	memcpy(b.peer, a.store, sizeof(b.peer));
	assert_int_equal(fixture_dir_make(&a.dir), 0);
	assert_int_equal(fixture_dir_make(&b.dir), 0);
	open_node(&a);
	snprintf(cmd, sizeof(cmd), "cp -p '%s/master.key' '%s/admin-token' '%s/'", a.dir.path,
		 a.dir.path, b.dir.path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(put(&a, "t/before", &err), 0);	/* replicated to b's standby */
	open_node(&b);

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_lost_for_good),
	};
	int failed = 1;

	if (pg_fixture_start(&pg) != 0 || pg_fixture_standby_start(&pg) != 0) {
		fprintf(stderr, "cannot start PostgreSQL servers for the test\n");
		goto out;
	}
	failed = cmocka_run_group_tests_name("the regions' fence", tests, NULL, NULL);
out:
	pg_fixture_stop(&pg);
	return failed == 0 ? 0 : 1;
}
