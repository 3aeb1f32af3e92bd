/* vault/masterkey.c on a real LMDB deployment: rotation keeps every value readable, the retired
 * key no longer opens the store, a node without the current key refuses to rotate or start
 * (naming the key it needs), and every crash point of a rotation leaves a data directory that
 * opens with the right key: a leftover master.key.new is removed, one the store already wants is
 * renamed into place. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "vault_fixture.h"
#include "vault/masterkey.h"
#include "vault/object.h"
#include "vault/secrets.h"

struct env {
	struct fixture_dir dir;
	struct vault_core *core;
	char key[320], next[320];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (e == NULL || vault_env_open(&e->dir, &e->core, NULL, 7) != 0)
		return -1;
	snprintf(e->key, sizeof(e->key), "%s/master.key", e->dir.path);
	snprintf(e->next, sizeof(e->next), "%s/master.key.new", e->dir.path);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	vault_env_close(&e->dir, e->core);
	free(e);
	return 0;
}

static void put(struct vault_core *core, const char *name, const char *value)
{
	struct vault v;
	struct obj in, out;
	struct kl_err err = { 0 };

	assert_int_equal(vault_open(core, "default", &v, &err), 0);
	obj_init(&in);
	obj_init(&out);
	in.attrs.enabled = true;
	assert_int_equal(obj_create(&v, OBJ_SECRET, name, &in, value, strlen(value), &out, &err), 0);
	obj_clear(&in);
	obj_clear(&out);
}

static void expect_secret(struct vault_core *core, const char *name, const char *value)
{
	struct vault v;
	struct obj o;
	struct secbuf *s = NULL;
	struct kl_err err = { 0 };

	assert_int_equal(vault_open(core, "default", &v, &err), 0);
	obj_init(&o);
	assert_int_equal(secret_get(&v, name, "", &o, &s, &err), 0);
	assert_int_equal(s->len, strlen(value));
	assert_memory_equal(s->data, value, s->len);
	secbuf_free(s);
	obj_clear(&o);
}

static void slurp(const char *path, unsigned char out[32])
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, out, 32), 32);
	close(fd);
}

static void spit(const char *path, const unsigned char in[32])
{
	int fd;

	unlink(path);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_int_equal(write(fd, in, 32), 32);
	close(fd);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void reopen(struct env *e)
{
	struct kl_err err = { 0 };

	vault_core_close(e->core);
	e->core = fixture_core_open(&e->dir, 7, &err);
	if (e->core == NULL)
		fail_msg("reopen: %s", err.msg);
}

static void test_rotate_keeps_values_and_retires_the_old_key(void **state)
{
	struct env *e = *state;
	struct masterkey_status st;
	struct kl_err err = { 0 };
	unsigned char old_key[32], new_key[32];
	char old_id[MASTERKEY_ID_HEX + 1], new_id[MASTERKEY_ID_HEX + 1];
	struct stat sb;

	put(e->core, "before", "sealed under the data key, wrapped under the old master key");
	assert_int_equal(masterkey_status(e->core, &st, &err), 0);
	assert_true(st.node_key_current);
	assert_string_equal(st.store_key_id, st.node_key_id);
	slurp(e->key, old_key);

	assert_int_equal(masterkey_rotate(e->core, old_id, new_id, &err), 0);
	assert_string_equal(old_id, st.node_key_id);
	assert_string_not_equal(old_id, new_id);
	assert_int_equal(strlen(new_id), MASTERKEY_ID_HEX);
	assert_false(exists(e->next));
	assert_int_equal(stat(e->key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	slurp(e->key, new_key);
	assert_memory_not_equal(old_key, new_key, 32);
	/* Online: the running core goes on with the same data key. */
	expect_secret(e->core, "before", "sealed under the data key, wrapped under the old master key");
	put(e->core, "after", "written after the rotation");
	assert_int_equal(masterkey_status(e->core, &st, &err), 0);
	assert_true(st.node_key_current);
	assert_string_equal(st.store_key_id, new_id);
	assert_string_equal(st.node_key_id, new_id);

	/* After a restart too. */
	reopen(e);
	expect_secret(e->core, "before", "sealed under the data key, wrapped under the old master key");
	expect_secret(e->core, "after", "written after the rotation");

	/* The retired key opens nothing any more, and the message names the key wanted. */
	vault_core_close(e->core);
	spit(e->key, old_key);
	assert_null(e->core = fixture_core_open(&e->dir, 7, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
	assert_non_null(strstr(err.msg, "another master key"));
	assert_non_null(strstr(err.msg, new_id));
	assert_non_null(strstr(err.msg, old_id));
	spit(e->key, new_key);
	reopen(e);
	expect_secret(e->core, "after", "written after the rotation");
}

static void test_rotate_twice(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	char a[MASTERKEY_ID_HEX + 1], b[MASTERKEY_ID_HEX + 1], c[MASTERKEY_ID_HEX + 1];

	put(e->core, "twice", "v");
	assert_int_equal(masterkey_rotate(e->core, a, b, &err), 0);
	assert_int_equal(masterkey_rotate(e->core, b, c, &err), 0);
	assert_string_not_equal(a, c);
	reopen(e);
	expect_secret(e->core, "twice", "v");
}

/* Another node rotated: this node's master.key is the old one. It must not rotate (it would
 * retire a key it does not have) and must not start, and must change nothing. */
static void test_node_without_the_current_key_fails_closed(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	unsigned char old_key[32], new_key[32];
	char a[MASTERKEY_ID_HEX + 1], b[MASTERKEY_ID_HEX + 1];
	struct masterkey_status st;

	put(e->core, "shared", "value");
	slurp(e->key, old_key);
	assert_int_equal(masterkey_rotate(e->core, a, b, &err), 0);
	slurp(e->key, new_key);
	spit(e->key, old_key);	/* as on a node the new key was not copied to yet */
	assert_int_equal(masterkey_status(e->core, &st, &err), 0);
	assert_false(st.node_key_current);
	assert_string_equal(st.store_key_id, b);
	assert_string_equal(st.node_key_id, a);
	assert_int_equal(masterkey_rotate(e->core, a, b, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.azure_code, "MasterKeyNotCurrent");
	assert_false(exists(e->next));
	/* The running node still serves. */
	expect_secret(e->core, "shared", "value");
	vault_core_close(e->core);
	assert_null(e->core = fixture_core_open(&e->dir, 7, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
	spit(e->key, new_key);	/* the key is installed */
	reopen(e);
	expect_secret(e->core, "shared", "value");
}

/* Crash after master.key.new was written, before the store changed: the leftover is removed. */
static void test_leftover_next_key_removed_at_start(void **state)
{
	struct env *e = *state;
	unsigned char junk[32];

	put(e->core, "left", "over");
	memset(junk, 0x42, sizeof(junk));
	spit(e->next, junk);
	reopen(e);
	assert_false(exists(e->next));
	expect_secret(e->core, "left", "over");
}

/* Crash after the store was rewrapped, before the rename: the next start finishes the rename. */
static void test_rotation_that_reached_the_store_is_finished_at_start(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	unsigned char old_key[32], new_key[32], now[32];
	char a[MASTERKEY_ID_HEX + 1], b[MASTERKEY_ID_HEX + 1];
	struct masterkey_status st;

	put(e->core, "mid", "rotation");
	slurp(e->key, old_key);
	assert_int_equal(masterkey_rotate(e->core, a, b, &err), 0);
	slurp(e->key, new_key);
	/* Back to the state between the commit and the rename. */
	spit(e->next, new_key);
	spit(e->key, old_key);
	reopen(e);
	assert_false(exists(e->next));
	slurp(e->key, now);
	assert_memory_equal(now, new_key, 32);
	expect_secret(e->core, "mid", "rotation");
	assert_int_equal(masterkey_status(e->core, &st, &err), 0);
	assert_true(st.node_key_current);
	/* The same when master.key is gone altogether. */
	vault_core_close(e->core);
	e->core = NULL;
	assert_int_equal(rename(e->key, e->next), 0);
	reopen(e);
	assert_false(exists(e->next));
	expect_secret(e->core, "mid", "rotation");
}

/* A rotation interrupted between the commit and the rename is finished by the next one too. */
static void test_rotation_after_an_interrupted_one(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	unsigned char old_key[32], new_key[32];
	char a[MASTERKEY_ID_HEX + 1], b[MASTERKEY_ID_HEX + 1], c[MASTERKEY_ID_HEX + 1];

	put(e->core, "again", "v");
	slurp(e->key, old_key);
	assert_int_equal(masterkey_rotate(e->core, a, b, &err), 0);
	slurp(e->key, new_key);
	spit(e->next, new_key);
	spit(e->key, old_key);
	assert_int_equal(masterkey_rotate(e->core, a, c, &err), 0);
	assert_string_equal(a, b);	/* the retired key is the one the store wanted */
	assert_false(exists(e->next));
	reopen(e);
	expect_secret(e->core, "again", "v");
}

/* A read-only node (--read-only, or on a standby) does not rotate; nothing is written. */
static void test_read_only_node_does_not_rotate(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	unsigned char before[32], after[32];
	char a[MASTERKEY_ID_HEX + 1], b[MASTERKEY_ID_HEX + 1];

	slurp(e->key, before);
	vault_core_close(e->core);
	assert_non_null(e->core = fixture_core_open_mode(&e->dir, 7, true, &err));
	assert_int_equal(masterkey_rotate(e->core, a, b, &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	assert_false(exists(e->next));
	slurp(e->key, after);
	assert_memory_equal(before, after, 32);
}

/* Key files others can read are refused: the master key as before, the admin token too. */
static void test_loose_modes_refused(void **state)
{
	struct env *e = *state;
	struct kl_err err = { 0 };
	char tok[320];

	snprintf(tok, sizeof(tok), "%s/admin-token", e->dir.path);
	vault_core_close(e->core);
	e->core = NULL;
	assert_int_equal(chmod(tok, 0640), 0);
	assert_null(e->core = fixture_core_open(&e->dir, 7, &err));
	assert_int_equal(err.code, KL_EFORBIDDEN);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_int_equal(chmod(tok, 0600), 0);
	assert_int_equal(chmod(e->key, 0604), 0);
	assert_null(e->core = fixture_core_open(&e->dir, 7, &err));
	assert_int_equal(err.code, KL_EFORBIDDEN);
	assert_int_equal(chmod(e->key, 0600), 0);
	reopen(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rotate_keeps_values_and_retires_the_old_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotate_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_without_the_current_key_fails_closed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_leftover_next_key_removed_at_start, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotation_that_reached_the_store_is_finished_at_start,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_rotation_after_an_interrupted_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_node_does_not_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_modes_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
