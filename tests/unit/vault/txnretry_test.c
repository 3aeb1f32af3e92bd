/* vault/txnretry.c on a real LMDB store (fixture.h): a change that commits at once; one that
 * conflicts on every attempt gives up after its attempts with the "changed too often" error; a
 * conflicted hook stops the retries with its own error; a build's error and VAULT_TXN_DONE end
 * the loop without a commit; a conflict that goes away is retried and commits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "vault/internal.h"
#include "vault/txnretry.h"

struct env {
	struct fixture_dir dir;
	struct vault_core *core;
};

static int env_setup(void **state)
{
	static struct env e;
	struct kl_err err = { 0 };

	memset(&e, 0, sizeof(e));
	if (fixture_dir_make(&e.dir) != 0 || (e.core = fixture_core_open(&e.dir, 90, &err)) == NULL)
		return -1;
	*state = &e;
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	vault_core_close(e->core);
	fixture_dir_remove(&e->dir);
	return 0;
}

/* A change of key "t/x" that expects it at version want (wrong on purpose until fix_at). */
struct change {
	struct vault_core *core;
	int builds, conflicts;
	int fix_at;		/* from this attempt on, the check expects the right version */
	int build_rc;		/* what the build answers (0: commit) */
	bool stop_on_conflict;
	struct store_op ops[2];
};

static int build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
		 struct kl_err *err)
{
	struct change *c = arg;
	uint64_t version = 0;

	c->builds++;
	if (c->build_rc < 0)
		return kl_fail(err, KL_EINVAL, "the build refused");
	if (c->build_rc > 0)
		return c->build_rc;
	if (attempt < c->fix_at)
		version = 99;	/* never the key's version: a conflict */
	c->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = "t/x", .key_len = 3,
				       .version = version };
	c->ops[1] = (struct store_op){ .kind = STORE_PUT, .key = "t/x", .key_len = 3,
				       .val = "v", .val_len = 1 };
	*ops = c->ops;
	*n_ops = 2;
	return 0;
}

static int conflicted(void *arg, struct kl_err *err)
{
	struct change *c = arg;

	c->conflicts++;
	if (!c->stop_on_conflict)
		return 0;
	return kl_fail(err, KL_ECONFLICT, "stopped by the hook");
}

static bool stored(struct vault_core *core)
{
	struct kl_err err = { 0 };
	struct buf val;
	bool found;

	buf_init(&val, 64);
	found = store_get(core->st, "t/x", 3, &val, NULL, &err) == 0;
	buf_clear(&val);
	return found;
}

static void test_commits_at_once(void **state)
{
	struct env *e = *state;
	struct vault_txn t = { .build = build, .conflicted = conflicted, .what = "thing" };
	struct change c = { .core = e->core };
	struct kl_err err = { 0 };

	assert_int_equal(vault_txn_retry(e->core, &t, &c, &err), 0);
	assert_int_equal(c.builds, 1);
	assert_int_equal(c.conflicts, 0);
	assert_true(stored(e->core));
}

static void test_gives_up_after_its_attempts(void **state)
{
	struct env *e = *state;
	struct vault_txn t = { .build = build, .conflicted = conflicted, .attempts = 5,
			       .what = "thing" };
	struct change c = { .core = e->core, .fix_at = 1000 };
	struct kl_err err = { 0 };

	assert_int_equal(vault_txn_retry(e->core, &t, &c, &err), -1);
	assert_int_equal(err.code, KL_EUNAVAIL);
	assert_string_equal(err.msg, "the thing changed too often concurrently; retry");
	assert_int_equal(c.builds, 5);
	assert_int_equal(c.conflicts, 5);
	assert_false(stored(e->core));
}

static void test_retries_a_conflict_that_goes_away(void **state)
{
	struct env *e = *state;
	struct vault_txn t = { .build = build, .what = "thing" };
	struct change c = { .core = e->core, .fix_at = 3 };
	struct kl_err err = { 0 };

	assert_int_equal(vault_txn_retry(e->core, &t, &c, &err), 0);
	assert_int_equal(err.code, KL_OK);
	assert_int_equal(c.builds, 4);
	assert_true(stored(e->core));
}

static void test_conflicted_hook_stops(void **state)
{
	struct env *e = *state;
	struct vault_txn t = { .build = build, .conflicted = conflicted, .what = "thing" };
	struct change c = { .core = e->core, .fix_at = 1000, .stop_on_conflict = true };
	struct kl_err err = { 0 };

	assert_int_equal(vault_txn_retry(e->core, &t, &c, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.msg, "stopped by the hook");
	assert_int_equal(c.builds, 1);
}

static void test_build_error_and_done_commit_nothing(void **state)
{
	struct env *e = *state;
	struct vault_txn t = { .build = build, .what = "thing" };
	struct change bad = { .core = e->core, .build_rc = -1 };
	struct change done = { .core = e->core, .build_rc = VAULT_TXN_DONE };
	struct kl_err err = { 0 };

	assert_int_equal(vault_txn_retry(e->core, &t, &bad, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(bad.builds, 1);
	kl_err_clear(&err);
	assert_int_equal(vault_txn_retry(e->core, &t, &done, &err), 0);
	assert_int_equal(done.builds, 1);
	assert_false(stored(e->core));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commits_at_once, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_gives_up_after_its_attempts, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_retries_a_conflict_that_goes_away, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_conflicted_hook_stops, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_build_error_and_done_commit_nothing, env_setup,
						env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
