/* vault/object.c and backup.c on a real LMDB deployment: the life of a name, scheduled purge,
 * backup blobs that are tampered with or foreign, restart with the wrong master key. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "util/clock.h"
#include "util/json.h"
#include "vault/object.h"
#include "vault/secrets.h"

static int setup(void **state)
{
	return vault_env_setup(state, 7, true);
}

static int teardown(void **state)
{
	return vault_env_teardown(state);
}

static void put(struct vault_env *e, const char *name, const char *value, struct obj *out)
{
	struct obj in;
	struct kl_err err = { 0 };

	obj_init(&in);
	in.attrs.enabled = true;
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, name, &in, value, strlen(value), out, &err), 0);
	obj_clear(&in);
}

static void expect_secret(struct vault_env *e, const char *name, const char *version,
			  const char *value)
{
	struct obj o;
	struct secbuf *s = NULL;
	struct kl_err err = { 0 };

	obj_init(&o);
	assert_int_equal(secret_get(&e->v, name, version, &o, &s, &err), 0);
	assert_int_equal(s->len, strlen(value));
	assert_memory_equal(s->data, value, s->len);
	secbuf_free(s);
	obj_clear(&o);
}

static void test_versions_latest_and_case(void **state)
{
	struct vault_env *e = *state;
	struct obj a, b;

	obj_init(&a);
	obj_init(&b);
	put(e, "MixedCase", "one", &a);
	put(e, "mixedcase", "two", &b);
	assert_string_equal(b.name, "MixedCase");	/* the first spelling is kept */
	assert_string_not_equal(a.version, b.version);
	expect_secret(e, "MIXEDCASE", NULL, "two");
	expect_secret(e, "mixedcase", a.version, "one");
	obj_clear(&a);
	obj_clear(&b);
}

static void test_empty_value_is_a_value(void **state)
{
	struct vault_env *e = *state;
	struct obj o;

	obj_init(&o);
	put(e, "empty", "", &o);
	expect_secret(e, "empty", NULL, "");
	obj_clear(&o);
}

static void test_delete_blocks_name_until_purged(void **state)
{
	struct vault_env *e = *state;
	struct obj o, in;
	struct kl_err err = { 0 };
	size_t n;

	obj_init(&o);
	obj_init(&in);
	put(e, "doomed", "x", &o);
	obj_clear(&o);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "doomed", &o, &err), 0);
	assert_true(o.is_deleted);
	assert_int_equal(o.scheduled_purge - o.deleted_date, 7 * 86400);
	obj_clear(&o);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "doomed", &o, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(obj_create(&e->v, OBJ_SECRET, "doomed", &in, "y", 1, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.inner_code, "ObjectIsDeletedButRecoverable");
	/* not due yet */
	assert_int_equal(obj_purge_due(e->core, clock_now_s(), &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(obj_get_deleted(&e->v, OBJ_SECRET, "doomed", &o, &err), 0);
	obj_clear(&o);
	/* due after the retention */
	assert_int_equal(obj_purge_due(e->core, clock_now_s() + 7 * 86400 + 1, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(obj_get_deleted(&e->v, OBJ_SECRET, "doomed", &o, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	put(e, "doomed", "again", &o);
	obj_clear(&o);
	expect_secret(e, "doomed", NULL, "again");
}

static void test_recover_cancels_schedule(void **state)
{
	struct vault_env *e = *state;
	struct obj o;
	struct kl_err err = { 0 };
	size_t n;

	obj_init(&o);
	put(e, "phoenix", "x", &o);
	obj_clear(&o);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "phoenix", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_recover(&e->v, OBJ_SECRET, "phoenix", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_purge_due(e->core, clock_now_s() + 100 * 86400, &n, &err), 0);
	expect_secret(e, "phoenix", NULL, "x");
}

static void test_backup_restore_and_tampering(void **state)
{
	struct vault_env *e = *state;
	struct buf blob;
	struct obj a, b, o;
	struct kl_err err = { 0 };
	size_t i, n;

	buf_init(&blob, 1u << 24);
	obj_init(&a);
	obj_init(&b);
	obj_init(&o);
	put(e, "saved", "first", &a);
	put(e, "saved", "second", &b);
	assert_int_equal(obj_backup(&e->v, OBJ_SECRET, "saved", &blob, &err), 0);
	assert_null(memmem(blob.data, blob.len, "second", 6));
	/* restore over a live name is refused */
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, blob.data, blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_int_equal(obj_delete(&e->v, OBJ_SECRET, "saved", &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_purge(&e->v, OBJ_SECRET, "saved", &err), 0);
	/* every flipped byte is refused and stores nothing */
	for (i = 0; i < blob.len; i += 7) {
		blob.data[i] ^= 0x40;
		assert_int_equal(obj_restore(&e->v, OBJ_SECRET, blob.data, blob.len, &o, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		blob.data[i] ^= 0x40;
	}
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, blob.data, blob.len - 1, &o, &err), -1);
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "saved", NULL, &o, NULL, &err), -1);
	/* the real blob brings back both versions with their ids */
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, blob.data, blob.len, &o, &err), 0);
	assert_string_equal(o.version, b.version);
	obj_clear(&o);
	expect_secret(e, "saved", a.version, "first");
	expect_secret(e, "saved", NULL, "second");
	assert_int_equal(obj_purge_due(e->core, 0, &n, &err), 0);
	obj_clear(&a);
	obj_clear(&b);
	buf_clear(&blob);
}

static void test_foreign_blob_refused(void **state)
{
	struct vault_env *e = *state;
	struct fixture_dir other;
	struct vault_core *core2;
	struct vault v2;
	struct buf blob;
	struct obj in, o;
	struct kl_err err = { 0 };

	buf_init(&blob, 1u << 24);
	obj_init(&in);
	obj_init(&o);
	assert_int_equal(fixture_dir_make(&other), 0);
	assert_non_null(core2 = fixture_core_open(&other, 90, &err));
	assert_int_equal(vault_open(core2, "default", &v2, &err), 0);
	in.attrs.enabled = true;
	assert_int_equal(obj_create(&v2, OBJ_SECRET, "foreign", &in, "v", 1, &o, &err), 0);
	obj_clear(&o);
	assert_int_equal(obj_backup(&v2, OBJ_SECRET, "foreign", &blob, &err), 0);
	assert_int_equal(obj_restore(&e->v, OBJ_SECRET, blob.data, blob.len, &o, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(obj_get(&e->v, OBJ_SECRET, "foreign", NULL, &o, NULL, &err), -1);
	vault_core_close(core2);
	fixture_dir_remove(&other);
	obj_clear(&in);
	buf_clear(&blob);
}

static void test_reopen_with_other_master_key_refused(void **state)
{
	struct fixture_dir d;
	struct vault_core *c;
	struct kl_err err = { 0 };
	char path[320];
	unsigned char junk[32];
	int fd;

	(void)state;
	assert_int_equal(fixture_dir_make(&d), 0);
	assert_non_null(c = fixture_core_open(&d, 90, &err));
	vault_core_close(c);
	assert_non_null(c = fixture_core_open(&d, 90, &err));	/* reopen works */
	vault_core_close(c);
	snprintf(path, sizeof(path), "%s/master.key", d.path);
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(unlink(path), 0);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), 32);
	close(fd);
	assert_null(fixture_core_open(&d, 90, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "another master key"));
	assert_int_equal(unlink(path), 0);
	assert_null(fixture_core_open(&d, 90, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
	fixture_dir_remove(&d);
}

struct racer {
	struct vault_env *e;
	int id;
	int ok;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct obj o;
	char value[32];
	int i;

	for (i = 0; i < 50; i++) {
		struct obj in;
		struct kl_err err = { 0 };

		obj_init(&in);
		obj_init(&o);
		in.attrs.enabled = true;
		snprintf(value, sizeof(value), "%d-%d", r->id, i);
		if (obj_create(&r->e->v, OBJ_SECRET, "contended", &in, value, strlen(value), &o, &err) == 0)
			r->ok++;
		obj_clear(&o);
		obj_clear(&in);
	}
	return NULL;
}

static void test_concurrent_writers_keep_every_version(void **state)
{
	struct vault_env *e = *state;
	struct racer r[2] = { { e, 0, 0 }, { e, 1, 0 } };
	pthread_t t[2];
	struct obj_page *p = calloc(1, sizeof(*p));
	struct kl_err err = { 0 };
	size_t total = 0;
	char after[OBJ_NAME_MAX + 1] = "";

	pthread_create(&t[0], NULL, race, &r[0]);
	pthread_create(&t[1], NULL, race, &r[1]);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	assert_int_equal(r[0].ok + r[1].ok, 100);
	do {
		assert_int_equal(obj_list_versions(&e->v, OBJ_SECRET, "contended", after, 25, p, &err), 0);
		total += p->n;
		snprintf(after, sizeof(after), "%s", p->next);
		obj_page_clear(p);
	} while (after[0] != '\0');
	assert_int_equal(total, 100);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions_latest_and_case),
		cmocka_unit_test(test_empty_value_is_a_value),
		cmocka_unit_test(test_delete_blocks_name_until_purged),
		cmocka_unit_test(test_recover_cancels_schedule),
		cmocka_unit_test(test_backup_restore_and_tampering),
		cmocka_unit_test(test_foreign_blob_refused),
		cmocka_unit_test(test_reopen_with_other_master_key_refused),
		cmocka_unit_test(test_concurrent_writers_keep_every_version),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
