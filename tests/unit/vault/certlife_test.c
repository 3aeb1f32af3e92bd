/* vault/certlife.c on a real LMDB deployment: delete, get deleted, recover and purge move a
 * certificate with its managed key and secret (whichever exist), the operation record goes with
 * the delete and everything with the purge; purge protection; the purge job; a concurrent change
 * makes the one transaction retry. Certificates are built with tests/unit/certfixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "certfixture.h"
#include "util/clock.h"
#include "vault/certlife.h"
#include "vault/internal.h"
#include "vault/keys.h"
#include "vault/secrets.h"

static int setup(void **state)
{
	return vault_env_setup(state, 7, true);
}

static int teardown(void **state)
{
	return vault_env_teardown(state);
}

/* ---- what state a name is in ---- */

enum state { LIVE, DELETED, GONE };

/* Kind k of name is in state s; when live or deleted, its latest version is ver. */
static void expect_state(struct vault_env *e, enum obj_kind k, const char *name, enum state s,
			 const char *ver)
{
	struct kl_err err = { 0 };
	struct obj o;
	int live, deleted;

	obj_init(&o);
	live = obj_get(&e->v, k, name, NULL, &o, NULL, &err);
	if (live == 0 && ver != NULL)
		assert_string_equal(o.version, ver);
	obj_clear(&o);
	obj_init(&o);
	deleted = obj_get_deleted(&e->v, k, name, &o, &err);
	if (deleted == 0 && ver != NULL)
		assert_string_equal(o.version, ver);
	obj_clear(&o);
	assert_int_equal(live, s == LIVE ? 0 : -1);
	assert_int_equal(deleted, s == DELETED ? 0 : -1);
}

static void expect_all(struct vault_env *e, const char *name, enum state s, const char *ver)
{
	expect_state(e, OBJ_CERT, name, s, ver);
	expect_state(e, OBJ_KEY, name, s, ver);
	expect_state(e, OBJ_SECRET, name, s, ver);
}

/* How many store records start with prefix. */
static size_t count_prefix(struct vault_env *e, const char *prefix)
{
	struct key_list l = { 0 };
	struct kl_err err = { 0 };
	size_t n;

	assert_int_equal(store_scan(e->core->st, prefix, strlen(prefix), NULL, 0, key_list_collect, &l,
				    &err), 0);
	n = l.n;
	key_list_clear(&l);
	return n;
}

static void expect_not_found(struct kl_err *err, const char *msg)
{
	assert_int_equal(err->code, KL_ENOTFOUND);
	assert_string_equal(err->azure_code, "CertificateNotFound");
	assert_memory_equal(err->msg, msg, strlen(msg));
	kl_err_clear(err);
}

/* ---- tests ---- */

static void test_delete_and_recover_move_all_three(void **state)
{
	struct vault_env *e = *state;
	struct kl_err err = { 0 };
	struct obj o, k, s;
	char v1[33], v2[33];
	size_t n;

	obj_init(&o);
	obj_init(&k);
	obj_init(&s);
	certfix_version(&e->v, "Site", false, v1);
	certfix_version(&e->v, "Site", false, v2);
	certfix_side(&e->v, "site", 'r', "policy");
	certfix_side(&e->v, "site", 'q', "operation");
	certfix_side(&e->v, "site", 'a', "");
	assert_int_equal(cert_delete(&e->v, "SITE", &o, &err), 0);
	assert_string_equal(o.name, "Site");
	assert_string_equal(o.version, v2);
	assert_true(o.is_deleted && o.deleted_date > 0);
	assert_int_equal(o.scheduled_purge, o.deleted_date + 7 * 86400);
	expect_all(e, "site", DELETED, v2);
	/* the three carry the same dates, and each has its purge schedule */
	assert_int_equal(obj_get_deleted(&e->v, OBJ_KEY, "site", &k, &err), 0);
	assert_int_equal(obj_get_deleted(&e->v, OBJ_SECRET, "site", &s, &err), 0);
	assert_true(k.deleted_date == o.deleted_date && s.deleted_date == o.deleted_date);
	assert_true(k.scheduled_purge == o.scheduled_purge && s.scheduled_purge == o.scheduled_purge);
	assert_int_equal(count_prefix(e, "p/"), 3);
	/* the operation went, the policy and its index stay */
	assert_false(certfix_has_side(&e->v, "site", 'q'));
	assert_true(certfix_has_side(&e->v, "site", 'r'));
	assert_true(certfix_has_side(&e->v, "site", 'a'));
	obj_clear(&o);
	obj_clear(&k);
	obj_clear(&s);
	assert_int_equal(cert_get_deleted(&e->v, "site", &o, &err), 0);
	assert_string_equal(o.version, v2);
	assert_true(o.is_deleted);
	obj_clear(&o);
	/* deleting again, or what never was */
	assert_int_equal(cert_delete(&e->v, "site", &o, &err), -1);
	expect_not_found(&err, "A certificate with (name/id) site was not found in this key vault.");
	assert_int_equal(cert_delete(&e->v, "bad_name", &o, &err), -1);
	expect_not_found(&err, "A certificate with (name/id) bad_name was not found");
	/* back to live, all versions */
	assert_int_equal(cert_recover(&e->v, "site", &o, &err), 0);
	assert_string_equal(o.name, "Site");
	assert_string_equal(o.version, v2);
	assert_false(o.is_deleted);
	obj_clear(&o);
	expect_all(e, "site", LIVE, v2);
	expect_state(e, OBJ_SECRET, "site", LIVE, v2);
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "site", v1, &o, NULL, &err), 0);
	obj_clear(&o);
	assert_int_equal(count_prefix(e, "p/"), 0);
	assert_int_equal(obj_purge_due(e->core, clock_now_s() + 100 * 86400, &n, &err), 0);
	assert_int_equal(n, 0);
	expect_all(e, "site", LIVE, v2);
	assert_int_equal(cert_recover(&e->v, "site", &o, &err), -1);
	expect_not_found(&err, "Deleted Certificate not found: site");
	assert_int_equal(cert_get_deleted(&e->v, "site", &o, &err), -1);
	expect_not_found(&err, "Deleted Certificate not found: site");
	assert_int_equal(cert_recover(&e->v, "", &o, &err), -1);
	expect_not_found(&err, "Deleted Certificate not found: ");
}

static void test_pending_certificate_without_secret(void **state)
{
	struct vault_env *e = *state;
	struct kl_err err = { 0 };
	struct obj o;
	char ver[33];

	obj_init(&o);
	certfix_version(&e->v, "pend", true, ver);
	assert_int_equal(cert_delete(&e->v, "pend", &o, &err), 0);
	obj_clear(&o);
	expect_state(e, OBJ_CERT, "pend", DELETED, ver);
	expect_state(e, OBJ_KEY, "pend", DELETED, ver);
	expect_state(e, OBJ_SECRET, "pend", GONE, NULL);
	assert_int_equal(count_prefix(e, "p/"), 2);
	assert_int_equal(cert_recover(&e->v, "pend", &o, &err), 0);
	obj_clear(&o);
	expect_state(e, OBJ_KEY, "pend", LIVE, ver);
	assert_int_equal(cert_delete(&e->v, "pend", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_purge(&e->v, "pend", &err), 0);
	expect_state(e, OBJ_CERT, "pend", GONE, NULL);
	expect_state(e, OBJ_KEY, "pend", GONE, NULL);
	assert_int_equal(count_prefix(e, "o/default/"), 0);
	assert_int_equal(count_prefix(e, "p/"), 0);
}

static void test_purge_removes_everything(void **state)
{
	struct vault_env *e = *state;
	struct kl_err err = { 0 };
	struct obj in, o;
	char v1[33], v2[33];

	obj_init(&in);
	obj_init(&o);
	certfix_version(&e->v, "gone", false, v1);
	certfix_version(&e->v, "gone", false, v2);
	certfix_side(&e->v, "gone", 'r', "policy");
	certfix_side(&e->v, "gone", 'q', "operation");
	certfix_side(&e->v, "gone", 'a', "");
	/* a live certificate is not purged */
	assert_int_equal(cert_purge(&e->v, "gone", &err), -1);
	expect_not_found(&err, "Deleted Certificate not found: gone");
	assert_int_equal(cert_delete(&e->v, "gone", &o, &err), 0);
	obj_clear(&o);
	/* under purge protection: refused, nothing moves */
	e->v.purge_protection = true;
	assert_int_equal(cert_purge(&e->v, "gone", &err), -1);
	assert_int_equal(err.code, KL_EFORBIDDEN);
	assert_string_equal(err.azure_code, "Forbidden");
	assert_memory_equal(err.msg, "Operation \"purge\" is not allowed because purge protection",
			    strlen("Operation \"purge\" is not allowed because purge protection"));
	kl_err_clear(&err);
	expect_all(e, "gone", DELETED, v2);
	e->v.purge_protection = false;
	assert_int_equal(cert_purge(&e->v, "gone", &err), 0);
	expect_all(e, "gone", GONE, NULL);
	assert_int_equal(count_prefix(e, "o/default/"), 0);
	assert_int_equal(count_prefix(e, "p/"), 0);
	assert_int_equal(count_prefix(e, "a/"), 0);
	assert_int_equal(cert_purge(&e->v, "gone", &err), -1);
	expect_not_found(&err, "Deleted Certificate not found: gone");
	/* the name is free for anyone now */
	in.attrs.enabled = true;
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "gone", &in, "mine", 4, &o, &err), 0);
	assert_false(o.managed);
	obj_clear(&o);
	obj_clear(&in);
}

static void test_purge_job_takes_the_certificate_whole(void **state)
{
	struct vault_env *e = *state;
	struct kl_err err = { 0 };
	struct obj o, other;
	char v1[33], v2[33], key[KEYBUF];
	size_t n;

	obj_init(&o);
	obj_init(&other);
	certfix_version(&e->v, "job", false, v1);
	certfix_side(&e->v, "job", 'r', "policy");
	certfix_version(&e->v, "job2", false, v2);
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "plain", &other, "p", 1, &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_delete(&e->v, "job", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(cert_delete(&e->v, "job2", &o, &err), 0);
	/* the certificate's own schedule of job2 is lost: its key's and secret's must not leave it
	 * half purged */
	keyspace_purge_schedule(key, o.scheduled_purge, "default", 'c', "job2");
	assert_int_equal(store_del(e->core->st, key, strlen(key), &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "plain", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_purge_due(e->core, clock_now_s(), &n, &err), 0);
	assert_int_equal(n, 0);
	expect_all(e, "job", DELETED, v1);
	assert_int_equal(obj_purge_due(e->core, clock_now_s() + 7 * 86400 + 1, &n, &err), 0);
	assert_int_equal(n, 3);	/* job, job2 and plain */
	expect_all(e, "job", GONE, NULL);
	expect_all(e, "job2", GONE, NULL);
	expect_state(e, OBJ_SECRET, "plain", GONE, NULL);
	assert_false(certfix_has_side(&e->v, "job", 'r'));
	assert_int_equal(count_prefix(e, "o/default/"), 0);
	assert_int_equal(count_prefix(e, "p/"), 0);
	obj_clear(&other);
}

/* ---- a concurrent writer ---- */

/* The real store behind an interposer that, just before the first transaction it sees, lets
 * another writer change a record: the change under test must see its checks fail and retry. */
struct race_store {
	struct store base;
	struct store *real;
	struct vault_env *e;
	void (*writer)(struct vault_env *e);
	bool fired;
	int n_txn;
};

static int race_get(struct store *st, const void *key, size_t key_len, struct buf *val,
		    uint64_t *version, struct kl_err *err)
{
	return store_get(((struct race_store *)st)->real, key, key_len, val, version, err);
}

static int race_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
		     size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err)
{
	return store_scan(((struct race_store *)st)->real, prefix, prefix_len, after, after_len, fn,
			  arg, err);
}

static int race_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err)
{
	struct race_store *r = (struct race_store *)st;

	r->n_txn++;
	if (!r->fired) {
		r->fired = true;
		r->writer(r->e);
	}
	return store_txn(r->real, ops, n_ops, err);
}

static void race_close(struct store *st)
{
	(void)st;	/* the real store is closed with the core */
}

static const struct store_vtable race_vt = { .get = race_get, .scan = race_scan,
					     .txn = race_txn, .close = race_close,
					     .name = "race" };

static void race_begin(struct race_store *r, struct vault_env *e,
		       void (*writer)(struct vault_env *e))
{
	memset(r, 0, sizeof(*r));
	r->base.vt = &race_vt;
	r->real = e->core->st;
	r->e = e;
	r->writer = writer;
	e->core->st = &r->base;
}

static void race_end(struct race_store *r)
{
	r->e->core->st = r->real;
}

static char race_ver[33];

/* A new managed secret version of "race" lands while the delete is under way. */
static void writer_new_secret_version(struct vault_env *e)
{
	snprintf(race_ver, sizeof(race_ver), "%s", "00000000000000000000000000000abc");
	certfix_put_version(&e->v, OBJ_SECRET, "race", race_ver, true, NULL, "newer");
}

/* The deleted key's head is rewritten (as by another node's change) during recover or purge. */
static void writer_touch_deleted_key(struct vault_env *e)
{
	char key[KEYBUF];
	struct kl_err err = { 0 };
	struct buf val;

	buf_init(&val, 4096);
	keyspace_obj_head(key, &e->v, OBJ_KEY, 'd', "race");
	assert_int_equal(store_get(e->core->st, key, strlen(key), &val, NULL, &err), 0);
	assert_int_equal(store_put(e->core->st, key, strlen(key), val.data, val.len, &err), 0);
	buf_clear(&val);
}

static void test_concurrent_change_retries(void **state)
{
	struct vault_env *e = *state;
	struct race_store r;
	struct kl_err err = { 0 };
	struct obj o;
	char ver[33];

	obj_init(&o);
	certfix_version(&e->v, "race", false, ver);
	/* delete: the first attempt's check of the secret's head fails; the retry takes the new
	 * version with it */
	race_begin(&r, e, writer_new_secret_version);
	assert_int_equal(cert_delete(&e->v, "race", &o, &err), 0);
	race_end(&r);
	assert_int_equal(r.n_txn, 3);	/* the writer's, the failed attempt, the retry */
	obj_clear(&o);
	expect_state(e, OBJ_CERT, "race", DELETED, ver);
	expect_state(e, OBJ_KEY, "race", DELETED, ver);
	expect_state(e, OBJ_SECRET, "race", DELETED, race_ver);
	/* recover */
	race_begin(&r, e, writer_touch_deleted_key);
	assert_int_equal(cert_recover(&e->v, "race", &o, &err), 0);
	race_end(&r);
	assert_int_equal(r.n_txn, 3);
	obj_clear(&o);
	expect_state(e, OBJ_KEY, "race", LIVE, ver);
	expect_state(e, OBJ_SECRET, "race", LIVE, race_ver);
	/* purge */
	assert_int_equal(cert_delete(&e->v, "race", &o, &err), 0);
	obj_clear(&o);
	race_begin(&r, e, writer_touch_deleted_key);
	assert_int_equal(cert_purge(&e->v, "race", &err), 0);
	race_end(&r);
	assert_int_equal(r.n_txn, 3);
	expect_all(e, "race", GONE, NULL);
	assert_int_equal(count_prefix(e, "o/default/"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delete_and_recover_move_all_three, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_certificate_without_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_removes_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge_job_takes_the_certificate_whole, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_change_retries, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
