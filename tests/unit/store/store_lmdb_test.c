/* The store conformance suite on LMDB, plus LMDB's own failure cases. */
#include "store/store_lmdb.h"
#include "store_suite.h"

#include <sys/stat.h>
#include <unistd.h>

struct lmdb_ctx {
	char dir[64];
	int n_dirs;
};

static struct store *lmdb_open_dir(const char *dir)
{
	struct kl_err err = { 0 };
	struct store *st = store_lmdb_open(dir, 256u * 1024 * 1024, &err);

	if (st == NULL)
		fprintf(stderr, "store_lmdb_open: %s\n", err.msg);
	return st;
}

static struct store *lmdb_fresh(void *arg)
{
	struct lmdb_ctx *c = arg;

	snprintf(c->dir, sizeof(c->dir), "/tmp/kluis-store-XXXXXX");
	if (mkdtemp(c->dir) == NULL)
		return NULL;
	c->n_dirs++;
	return lmdb_open_dir(c->dir);
}

static struct store *lmdb_reopen(void *arg)
{
	return lmdb_open_dir(((struct lmdb_ctx *)arg)->dir);
}

static void test_open_refuses_bad_places(void **state)
{
	struct kl_err err = { 0 };
	char dir[64] = "/tmp/kluis-store-bad-XXXXXX", path[128];
	FILE *f;

	(void)state;
	assert_null(store_lmdb_open("/nonexistent/kluis/store", 0, &err));
	assert_int_not_equal(err.code, KL_OK);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("this is not an LMDB file, but it is long enough to be read as a header page...........",
	      f);
	fclose(f);
	assert_null(store_lmdb_open(dir, 0, &err));
	assert_int_not_equal(err.code, KL_OK);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	struct lmdb_ctx ctx = { 0 };
	struct store_suite_backend b = { "store conformance on LMDB", lmdb_fresh, lmdb_reopen, &ctx };
	const struct CMUnitTest own[] = { cmocka_unit_test(test_open_refuses_bad_places) };
	int failed = store_suite_run(&b);

	failed += cmocka_run_group_tests(own, NULL, NULL);
	if (system("rm -rf /tmp/kluis-store-??????") != 0)
		fprintf(stderr, "cannot clean up temporary stores\n");
	return failed;
}
