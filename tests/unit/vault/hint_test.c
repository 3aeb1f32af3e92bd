/* vault/hint.c and the read paths of vault/object.c that use it: the hint itself (set, replace,
 * forget, bounded, under threads), then obj_get on a store that counts its calls (each is one
 * round trip on PostgreSQL): a GET with a good hint is one call, a stale or missing hint costs one
 * more and still answers the latest version, a SET reads both heads in one call; last, two nodes
 * on one PostgreSQL (pg_fixture.h), where the other node's write makes this node's hint stale. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "pg_fixture.h"
#include "probe_store.h"
#include "store/store_pg.h"
#include "vault/hint.h"
#include "vault/internal.h"
#include "vault/secrets.h"

/* --- the hint -------------------------------------------------------------------------------- */

static void test_hint_set_get_forget(void **state)
{
	struct hint *h = hint_new(64);
	char ver[HINT_VERSION_MAX + 1], big[HINT_KEY_MAX + 2];
	size_t hits, misses;

	(void)state;
	assert_non_null(h);
	assert_false(hint_get(h, "o/v/s/h/a", ver));
	assert_string_equal(ver, "");
	hint_set(h, "o/v/s/h/a", "0123456789abcdef0123456789abcdef");
	assert_true(hint_get(h, "o/v/s/h/a", ver));
	assert_string_equal(ver, "0123456789abcdef0123456789abcdef");
	hint_set(h, "o/v/s/h/a", "ffff");	/* replaced */
	assert_true(hint_get(h, "o/v/s/h/a", ver));
	assert_string_equal(ver, "ffff");
	assert_false(hint_get(h, "o/v/s/h/b", ver));
	hint_forget(h, "o/v/s/h/b");	/* another key: nothing happens */
	assert_true(hint_get(h, "o/v/s/h/a", ver));
	hint_forget(h, "o/v/s/h/a");
	assert_false(hint_get(h, "o/v/s/h/a", ver));
	/* what is not hinted: an empty key (an empty slot's), a too long key or version */
	hint_set(h, "", "abcd");
	assert_false(hint_get(h, "", ver));
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	hint_set(h, big, "abcd");
	assert_false(hint_get(h, big, ver));
	hint_set(h, "o/v/s/h/c", "0123456789abcdef0123456789abcdef0");	/* 33 digits */
	assert_false(hint_get(h, "o/v/s/h/c", ver));
	hint_set(h, "o/v/s/h/c", "");
	assert_false(hint_get(h, "o/v/s/h/c", ver));
	hint_stats(h, &hits, &misses);
	assert_int_equal(hits, 3);
	assert_int_equal(misses, 7);
	hint_free(h);
	hint_free(NULL);
}

/* One slot: each key evicts the one before. */
static void test_hint_is_bounded(void **state)
{
	struct hint *h = hint_new(1);
	char ver[HINT_VERSION_MAX + 1];

	(void)state;
	assert_null(hint_new(0));
	assert_non_null(h);
	hint_set(h, "a", "1");
	hint_set(h, "b", "2");
	assert_false(hint_get(h, "a", ver));
	assert_true(hint_get(h, "b", ver));
	assert_string_equal(ver, "2");
	hint_free(h);
}

#define HINT_THREADS 4
#define HINT_ROUNDS 20000

struct hint_worker {
	struct hint *h;
	int id;
	int bad;	/* a version read that is not one written for its key */
};

/* Key k<i> only ever holds versions "<i>.<something>": a torn or mixed-up slot would show. */
static void *hint_work(void *arg)
{
	struct hint_worker *w = arg;
	char key[16], ver[HINT_VERSION_MAX + 1], want[16];
	int r, k;

	for (r = 0; r < HINT_ROUNDS; r++) {
		k = (r * 7 + w->id) % 50;
		snprintf(key, sizeof(key), "k%d", k);
		snprintf(want, sizeof(want), "%d.", k);
		if (r % 3 == 0) {
			snprintf(ver, sizeof(ver), "%d.%d.%d", k, w->id, r);
			hint_set(w->h, key, ver);
		} else if (r % 17 == 0) {
			hint_forget(w->h, key);
		} else if (hint_get(w->h, key, ver) && strncmp(ver, want, strlen(want)) != 0) {
			w->bad++;
		}
	}
	return NULL;
}

static void test_hint_under_threads(void **state)
{
	struct hint *h = hint_new(16);	/* fewer slots than keys: evictions all the time */
	struct hint_worker w[HINT_THREADS];
	pthread_t t[HINT_THREADS];
	int i;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < HINT_THREADS; i++) {
		w[i] = (struct hint_worker){ .h = h, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, hint_work, &w[i]), 0);
	}
	for (i = 0; i < HINT_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].bad, 0);
	}
	hint_free(h);
}

/* Store calls since the last call of this. */
static unsigned calls(struct probe_env *e)
{
	return atomic_exchange(&e->st->gets, 0) + atomic_exchange(&e->st->many, 0) +
	       atomic_exchange(&e->st->scans, 0) + atomic_exchange(&e->st->txns, 0);
}

static void set_secret(struct vault *v, const char *name, const char *value, struct obj *out)
{
	struct obj in;
	struct kl_err err = { 0 };

	obj_init(&in);
	in.attrs.enabled = true;
	obj_init(out);
	assert_int_equal(obj_create(v, OBJ_SECRET, name, &in, value, strlen(value), out, &err), 0);
	obj_clear(&in);
}

/* GET name (version NULL: the latest) gives value and version want_ver. */
static void expect_get(struct vault *v, const char *name, const char *version,
		       const char *value, const char *want_ver)
{
	struct obj o;
	struct secbuf *s = NULL;
	struct kl_err err = { 0 };

	obj_init(&o);
	if (secret_get(v, name, version, &o, &s, &err) != 0)
		fail_msg("secret_get %s: %s", name, err.msg);
	assert_int_equal(s->len, strlen(value));
	assert_memory_equal(s->data, value, s->len);
	assert_string_equal(o.version, want_ver);
	assert_string_equal(o.name, name);	/* the display name, from the head */
	secbuf_free(s);
	obj_clear(&o);
}

static void test_get_is_one_round_trip(void **state)
{
	struct probe_env *e = *state;
	struct obj a, b;
	char hkey[KEYBUF], ver[HINT_VERSION_MAX + 1];

	set_secret(&e->v, "Name", "one", &a);
	calls(e);
	set_secret(&e->v, "Name", "two", &b);
	assert_int_equal(calls(e), 2);	/* both heads in one read, then the transaction */
	keyspace_obj_head(hkey, &e->v, OBJ_SECRET, 'h', "name");
	assert_true(hint_get(e->core->hints, hkey, ver));	/* the SET left its version */
	assert_string_equal(ver, b.version);
	expect_get(&e->v, "Name", NULL, "two", b.version);
	assert_int_equal(calls(e), 1);
	expect_get(&e->v, "Name", a.version, "one", a.version);	/* a version named */
	assert_int_equal(calls(e), 1);
	/* a stale hint: one more read, and still the latest */
	hint_set(e->core->hints, hkey, a.version);
	expect_get(&e->v, "Name", NULL, "two", b.version);
	assert_int_equal(calls(e), 2);
	assert_true(hint_get(e->core->hints, hkey, ver));	/* set right again */
	assert_string_equal(ver, b.version);
	expect_get(&e->v, "Name", NULL, "two", b.version);
	assert_int_equal(calls(e), 1);
	/* a hint of a version that never existed, and none at all */
	hint_set(e->core->hints, hkey, "00000000000000000000000000000000");
	expect_get(&e->v, "Name", NULL, "two", b.version);
	assert_int_equal(calls(e), 2);
	hint_forget(e->core->hints, hkey);
	expect_get(&e->v, "Name", NULL, "two", b.version);
	assert_int_equal(calls(e), 2);
	obj_clear(&a);
	obj_clear(&b);
}

/* A deleted name is not found, whatever the hint says, and its hint goes; a version asked for
 * that does not exist is not found either. */
static void test_hint_of_a_deleted_name(void **state)
{
	struct probe_env *e = *state;
	struct obj a, d, o;
	struct secbuf *s = NULL;
	struct kl_err err = { 0 };
	char hkey[KEYBUF], ver[HINT_VERSION_MAX + 1];

	set_secret(&e->v, "gone", "v", &a);
	obj_init(&d);
	obj_init(&o);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "gone", &d, &err), 0);
	keyspace_obj_head(hkey, &e->v, OBJ_SECRET, 'h', "gone");
	hint_set(e->core->hints, hkey, a.version);
	assert_int_equal(secret_get(&e->v, "gone", NULL, &o, &s, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_string_equal(err.azure_code, "SecretNotFound");
	assert_null(s);
	assert_false(hint_get(e->core->hints, hkey, ver));
	assert_int_equal(secret_get(&e->v, "gone", a.version, &o, &s, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	kl_err_clear(&err);
	assert_int_equal(obj_recover(&e->v, OBJ_SECRET, "gone", &o, &err), 0);
	obj_clear(&o);
	expect_get(&e->v, "gone", NULL, "v", a.version);
	assert_int_equal(secret_get(&e->v, "gone", "0123456789abcdef0123456789abcdef", &o, &s,
				    &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	obj_clear(&a);
	obj_clear(&d);
}

/* --- two nodes on PostgreSQL ----------------------------------------------------------------- */

struct node {
	struct fixture_dir dir;
	struct vault_core *core;
	struct vault v;
};

static struct vault_core *open_node(struct node *n, const char *conninfo, struct kl_err *err)
{
	struct vault_core_config cfg = { .data_dir = n->dir.path, .default_vault = "default",
					 .retention_days = 7 };
	struct store *st = store_pg_open(conninfo, 2, err);

	if (st == NULL || (n->core = vault_core_open(&cfg, st, err)) == NULL ||
	    vault_open(n->core, "default", &n->v, err) != 0)
		return NULL;
	return n->core;
}

/* Node b reads a name (its hint learns v1), node a writes v2: b's next GET still gives v2. */
static void test_stale_hint_between_two_nodes(void **state)
{
	struct pg_fixture pg;
	struct node a = { 0 }, b = { 0 };
	struct kl_err err = { 0 };
	struct obj v1, v2, v3;
	char cmd[1024];

	(void)state;
	if (pg_fixture_start(&pg) != 0) {
		pg_fixture_stop(&pg);
		fail_msg("cannot start PostgreSQL");
	}
	assert_int_equal(fixture_dir_make(&a.dir), 0);
	assert_int_equal(fixture_dir_make(&b.dir), 0);
	if (open_node(&a, pg.conninfo, &err) == NULL)
		fail_msg("node a: %s", err.msg);
	snprintf(cmd, sizeof(cmd), "cp -p '%s/master.key' '%s/admin-token' '%s/'", a.dir.path,
		 a.dir.path, b.dir.path);
	assert_int_equal(system(cmd), 0);
	if (open_node(&b, pg.conninfo, &err) == NULL)
		fail_msg("node b: %s", err.msg);
	set_secret(&a.v, "shared", "first", &v1);
	expect_get(&b.v, "shared", NULL, "first", v1.version);
	expect_get(&b.v, "shared", NULL, "first", v1.version);	/* b's hint holds now */
	set_secret(&a.v, "shared", "second", &v2);
	expect_get(&b.v, "shared", NULL, "second", v2.version);
	expect_get(&a.v, "shared", NULL, "second", v2.version);
	set_secret(&b.v, "shared", "third", &v3);	/* and the other way round */
	expect_get(&a.v, "shared", NULL, "third", v3.version);
	expect_get(&b.v, "shared", v1.version, "first", v1.version);
	obj_clear(&v1);
	obj_clear(&v2);
	obj_clear(&v3);
	vault_core_close(a.core);
	vault_core_close(b.core);
	fixture_dir_remove(&a.dir);
	fixture_dir_remove(&b.dir);
	pg_fixture_stop(&pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hint_set_get_forget),
		cmocka_unit_test(test_hint_is_bounded),
		cmocka_unit_test(test_hint_under_threads),
		cmocka_unit_test_setup_teardown(test_get_is_one_round_trip, probe_env_setup,
						probe_env_teardown),
		cmocka_unit_test_setup_teardown(test_hint_of_a_deleted_name, probe_env_setup,
						probe_env_teardown),
		cmocka_unit_test(test_stale_hint_between_two_nodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
