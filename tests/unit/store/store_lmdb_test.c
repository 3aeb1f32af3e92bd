/* The store conformance suite on LMDB, each test in a fresh temporary directory removed
 * afterwards, plus what only LMDB has: refusing places that cannot hold a store, a full map, and
 * an acknowledged write surviving kill -9, get_many reading one snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store_lmdb.h"
#include "store_suite.h"

#define TEST_MAP_SIZE ((size_t)256 << 20)

struct lmdb_ctx {
	char dir[64];	/* the directory open_fresh made last; "" when none */
};

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *dir)
{
	if (nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "cannot remove %s: %s\n", dir, strerror(errno));
}

static int make_tmpdir(char *dir, size_t n)
{
	snprintf(dir, n, "/tmp/kluis-store-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static struct store *open_dir(const char *dir, size_t map_size)
{
	struct kl_err err = { 0 };
	struct store *st = store_lmdb_open(dir, map_size, &err);

	if (st == NULL)
		fprintf(stderr, "store_lmdb_open(%s): %s\n", dir, err.msg);
	return st;
}

static struct store *lmdb_fresh(void *arg)
{
	struct lmdb_ctx *c = arg;
	struct store *st = NULL;

	if (make_tmpdir(c->dir, sizeof(c->dir)) != 0) {
		c->dir[0] = '\0';
		goto out;
	}
	if ((st = open_dir(c->dir, TEST_MAP_SIZE)) == NULL) {
		remove_tree(c->dir);	/* cmocka skips the teardown of a failed setup */
		c->dir[0] = '\0';
	}
out:
	return st;
}

static struct store *lmdb_reopen(void *arg)
{
	return open_dir(((struct lmdb_ctx *)arg)->dir, TEST_MAP_SIZE);
}

static void lmdb_discard(void *arg)
{
	struct lmdb_ctx *c = arg;

	if (c->dir[0] != '\0')
		remove_tree(c->dir);
	c->dir[0] = '\0';
}

/* The LMDB-only tests get an empty directory of their own as state. */
static int dir_setup(void **state)
{
	char *dir = malloc(64);

	if (dir == NULL || make_tmpdir(dir, 64) != 0) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int dir_teardown(void **state)
{
	char *dir = *state;

	if (chmod(dir, 0700) != 0)
		fprintf(stderr, "cannot chmod %s: %s\n", dir, strerror(errno));
	remove_tree(dir);
	free(dir);
	return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void expect_open_fails(const char *dir, enum kl_errc code)
{
	struct kl_err err = { 0 };

	assert_null(store_lmdb_open(dir, 0, &err));
	assert_int_equal(err.code, code);
	assert_true(err.msg[0] != '\0');
}

static void test_open_refuses_missing_places(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/missing", (char *)*state);
	expect_open_fails(path, KL_EINVAL);
	snprintf(path, sizeof(path), "%s/missing/deeper", (char *)*state);
	expect_open_fails(path, KL_EINVAL);
	expect_open_fails("", KL_EINVAL);
	expect_open_fails(NULL, KL_EINVAL);
}

static void test_open_refuses_a_file(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/plain-file", (char *)*state);
	write_file(path, "x", 1);
	expect_open_fails(path, KL_EINVAL);
}

/* Root writes through any mode bits, so as root the open runs in a child that is nobody. */
static void test_open_refuses_unwritable_dir(void **state)
{
	int status = 0;
	pid_t pid;

	assert_int_equal(chmod(*state, 0555), 0);
	if (geteuid() != 0) {
		expect_open_fails(*state, KL_EINVAL);
		return;
	}
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {	/* no cmocka in the child: its exit status says what happened */
		struct kl_err err = { 0 };
		struct store *st;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(77);
		st = store_lmdb_open(*state, 0, &err);
		_exit(st == NULL && err.code == KL_EINVAL && err.msg[0] != '\0' ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();	/* no permission to become nobody */
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A data.mdb that LMDB did not write is refused, and left as it was. */
static void expect_foreign_data_refused(const char *dir, const unsigned char *junk, size_t n)
{
	char path[128];
	unsigned char *back = malloc(n + 1);
	FILE *f;

	assert_non_null(back);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	write_file(path, junk, n);
	expect_open_fails(dir, KL_ECORRUPT);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fread(back, 1, n + 1, f), n);
	assert_int_equal(fclose(f), 0);
	assert_memory_equal(back, junk, n);
	free(back);
}

static void test_open_refuses_foreign_data(void **state)
{
	static const char text[] = "this is not an LMDB file, though long enough for a header";
	size_t n = 16384, i;
	unsigned char *junk = malloc(n);

	assert_non_null(junk);
	expect_foreign_data_refused(*state, (const unsigned char *)text, sizeof(text) - 1);
	for (i = 0; i < n; i++)
		junk[i] = (unsigned char)(i * 131 + 7);
	expect_foreign_data_refused(*state, junk, n);
	free(junk);
}

static void test_default_map_size(void **state)
{
	struct store *st = open_dir(*state, 0);

	assert_non_null(st);
	suite_put(st, K("k"), K("v"));
	suite_expect(st, K("k"), K("v"), 1);
	store_close(st);
}

static void test_full_map_is_unavailable_not_lost(void **state)
{
	size_t n = 64 * 1024, i;
	char *val = calloc(1, n), key[16];
	struct kl_err err = { 0 };
	struct store *st;
	int rc = 0;

	assert_non_null(val);
	assert_non_null(st = open_dir(*state, (size_t)1 << 20));
	for (i = 0; i < 100 && rc == 0; i++) {
		snprintf(key, sizeof(key), "k%03zu", i);
		rc = store_put(st, key, strlen(key), val, n, &err);
	}
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, KL_EUNAVAIL);
	assert_string_equal(err.msg, "the store is full");
	assert_true(i > 2);
	suite_expect_missing(st, (struct suite_bytes){ key, strlen(key) });
	suite_expect(st, K("k000"), (struct suite_bytes){ val, n }, 1);
	store_close(st);
	/* the operator gives it more room: everything is there and writes go on */
	assert_non_null(st = open_dir(*state, (size_t)16 << 20));
	suite_expect(st, K("k001"), (struct suite_bytes){ val, n }, 1);
	suite_put(st, (struct suite_bytes){ key, strlen(key) }, K("fits now"));
	store_close(st);
	free(val);
}

static int die_while_reading(void *arg, const void *key, size_t key_len, const void *val,
			     size_t val_len, uint64_t version, struct kl_err *err)
{
	(void)arg;
	(void)key;
	(void)key_len;
	(void)val;
	(void)val_len;
	(void)version;
	(void)err;
	raise(SIGKILL);
	return -1;
}

/* A child acknowledges a write, then is killed with a read transaction open: the write is
 * there, and the dead reader's slot does not stop the next open. */
static void test_acked_write_survives_kill(void **state)
{
	const char *dir = *state;
	struct kl_err err = { 0 };
	struct store *st;
	int status = 0;
	pid_t pid;

	assert_true((pid = fork()) >= 0);
	if (pid == 0) {	/* no cmocka in the child: it must only die by SIGKILL */
		st = store_lmdb_open(dir, TEST_MAP_SIZE, &err);
		if (st == NULL || store_put(st, "acked", 5, "yes", 3, &err) != 0)
			_exit(2);
		store_scan(st, "", 0, NULL, 0, die_while_reading, NULL, &err);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_non_null(st = open_dir(dir, TEST_MAP_SIZE));
	suite_expect(st, K("acked"), K("yes"), 1);
	suite_put(st, K("acked"), K("again"));
	suite_expect(st, K("acked"), K("again"), 2);
	store_close(st);
}

/* get_many: LMDB reads every key in one read transaction. */
struct pair_writer {
	pthread_t thread;
	struct store *st;
	atomic_bool stop;
	atomic_size_t writes;
};

/* Writes "a" and "b" together, the same value each time, until stopped. */
static void *pair_writer_run(void *arg)
{
	struct pair_writer *p = arg;
	struct store_op ops[2];
	struct kl_err err = { 0 };
	char val[32];

	while (!atomic_load(&p->stop)) {
		snprintf(val, sizeof(val), "%zu", (size_t)atomic_load(&p->writes));
		ops[0] = (struct store_op){ .kind = STORE_PUT, .key = "a", .key_len = 1, .val = val,
					    .val_len = strlen(val) };
		ops[1] = ops[0];
		ops[1].key = "b";
		if (store_txn(p->st, ops, 2, &err) != 0)
			break;
		atomic_fetch_add(&p->writes, 1);
	}
	return NULL;
}

/* Two keys always written together are always read together: one snapshot. */
static void test_get_many_reads_one_snapshot(void **state)
{
	struct store *st = open_dir(*state, TEST_MAP_SIZE);
	struct pair_writer p = { .st = st };
	struct store_read reads[3];
	struct buf va, vb, vc;
	struct kl_err err = { 0 };
	time_t limit = time(NULL) + 30;
	size_t i, failed = 0, torn = 0;

	assert_non_null(st);
	buf_init(&va, 64);
	buf_init(&vb, 64);
	buf_init(&vc, 64);
	suite_put(st, K("a"), K("start"));
	suite_put(st, K("b"), K("start"));
	atomic_init(&p.stop, false);
	atomic_init(&p.writes, 0);
	assert_int_equal(pthread_create(&p.thread, NULL, pair_writer_run, &p), 0);
	/* reads until the writer has written many times meanwhile; asserts after it stopped */
	for (i = 0; (i < 1000 || atomic_load(&p.writes) < 100) && time(NULL) < limit; i++) {
		va.len = vb.len = vc.len = 0;
		reads[0] = (struct store_read){ .key = "a", .key_len = 1, .val = &va };
		reads[1] = (struct store_read){ .key = "b", .key_len = 1, .val = &vb };
		reads[2] = (struct store_read){ .key = "c", .key_len = 1, .val = &vc };
		if (store_get_many(st, reads, 3, &err) != 0 || !reads[0].found ||
		    !reads[1].found || reads[2].found || reads[2].version != 0 || vc.len != 0)
			failed++;
		else if (reads[0].version != reads[1].version || va.len != vb.len ||
			 memcmp(va.data, vb.data, va.len) != 0)
			torn++;
	}
	atomic_store(&p.stop, true);
	assert_int_equal(pthread_join(p.thread, NULL), 0);
	assert_int_equal(failed, 0);
	assert_int_equal(torn, 0);
	assert_true(atomic_load(&p.writes) >= 100);
	printf("# %zu reads of one snapshot during %zu pair writes\n", i,
	       (size_t)atomic_load(&p.writes));
	buf_clear(&va);
	buf_clear(&vb);
	buf_clear(&vc);
	store_close(st);
}

/* Values and versions of present keys, absent keys, a key given twice, bad input refused. */
static void test_get_many_values_and_refusals(void **state)
{
	struct store *st = open_dir(*state, TEST_MAP_SIZE);
	struct store_read reads[STORE_MANY_MAX + 1];
	struct buf v[STORE_MANY_MAX + 1];
	struct kl_err err = { 0 };
	size_t i;

	assert_non_null(st);
	suite_put(st, K("x"), K("one"));
	suite_put(st, K("x"), K("two"));
	suite_put(st, K("y\0bin"), K("\0\1\2"));
	for (i = 0; i <= STORE_MANY_MAX; i++)
		buf_init(&v[i], 64);
	reads[0] = (struct store_read){ .key = "x", .key_len = 1, .val = &v[0] };
	reads[1] = (struct store_read){ .key = "nope", .key_len = 4, .val = &v[1] };
	reads[2] = (struct store_read){ .key = "y\0bin", .key_len = 5, .val = &v[2] };
	reads[3] = (struct store_read){ .key = "x", .key_len = 1, .val = &v[3] };
	assert_int_equal(store_get_many(st, reads, 4, &err), 0);
	assert_true(reads[0].found && reads[0].version == 2 && v[0].len == 3);
	assert_memory_equal(v[0].data, "two", 3);
	assert_true(!reads[1].found && reads[1].version == 0 && v[1].len == 0);
	assert_true(reads[2].found && reads[2].version == 1 && v[2].len == 3);
	assert_memory_equal(v[2].data, "\0\1\2", 3);
	assert_true(reads[3].found && reads[3].version == 2 && v[3].len == 3);
	assert_int_equal(store_get_many(st, reads, 0, &err), 0);
	for (i = 0; i <= STORE_MANY_MAX; i++)
		reads[i] = (struct store_read){ .key = "x", .key_len = 1, .val = &v[i] };
	assert_int_equal(store_get_many(st, reads, STORE_MANY_MAX + 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	reads[1].key_len = 0;
	kl_err_clear(&err);
	assert_int_equal(store_get_many(st, reads, 2, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	for (i = 0; i <= STORE_MANY_MAX; i++)
		buf_clear(&v[i]);
	store_close(st);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void)
{
	struct lmdb_ctx ctx = { { 0 } };
	struct store_suite_backend backend = {
		.name = "store conformance on LMDB",
		.open_fresh = lmdb_fresh,
		.reopen = lmdb_reopen,
		.discard = lmdb_discard,
		.ctx = &ctx,
	};
	const struct CMUnitTest own[] = {
		DIR_TEST(test_open_refuses_missing_places),
		DIR_TEST(test_open_refuses_a_file),
		DIR_TEST(test_open_refuses_unwritable_dir),
		DIR_TEST(test_open_refuses_foreign_data),
		DIR_TEST(test_default_map_size),
		DIR_TEST(test_full_map_is_unavailable_not_lost),
		DIR_TEST(test_acked_write_survives_kill),
		DIR_TEST(test_get_many_reads_one_snapshot),
		DIR_TEST(test_get_many_values_and_refusals),
	};
	int failed = store_suite_run(&backend);

	failed += cmocka_run_group_tests_name("LMDB backend", own, NULL, NULL);
	return failed == 0 ? 0 : 1;
}
