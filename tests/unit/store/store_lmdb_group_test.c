/* Grouped commits of the LMDB store (store_lmdb.c) under many writer threads: each caller gets
 * its own result, checks that conflict inside one group fail all but one, a member LMDB refuses
 * leaves the others be, a group that cannot begin fails every member, nothing acknowledged is
 * lost (also to kill -9). A group is made for certain by a child process holding LMDB's write
 * lock while the threads queue behind it (store_lmdb_stats says when they all wait). The rate
 * of grouped commits is the benchmark's to measure (bench/), not this test's. */
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store_lmdb.h"

#define TEST_MAP_SIZE ((size_t)256 << 20)
#define WAIT_LIMIT_S 30

struct fixture {
	char dir[64];
	struct store *st;
};

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct store *open_dir(const char *dir, size_t map_size)
{
	struct kl_err err = { 0 };
	struct store *st = store_lmdb_open(dir, map_size, &err);

	if (st == NULL)
		fprintf(stderr, "store_lmdb_open(%s): %s\n", dir, err.msg);
	return st;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/kluis-group-XXXXXX");
	if (mkdtemp(f->dir) == NULL || (f->st = open_dir(f->dir, TEST_MAP_SIZE)) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	if (nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "cannot remove %s: %s\n", f->dir, strerror(errno));
	free(f);
	return 0;
}

/* Asserts that key (a C string) holds val at version. */
static void expect_val(struct store *st, const char *key, const char *val, uint64_t version)
{
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t got = 0;

	buf_init(&b, 4096);
	assert_int_equal(store_get(st, key, strlen(key), &b, &got, &err), 0);
	assert_int_equal(b.len, strlen(val));
	assert_memory_equal(b.data, val, b.len);
	assert_int_equal(got, version);
	buf_clear(&b);
}

static void expect_missing(struct store *st, const char *key)
{
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t got = 77;

	buf_init(&b, 4096);
	assert_int_equal(store_get(st, key, strlen(key), &b, &got, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_clear(&b);
}

static void put(struct store *st, const char *key, const void *val, size_t val_len)
{
	struct kl_err err = { 0 };

	assert_int_equal(store_put(st, key, strlen(key), val, val_len, &err), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- a child process holding LMDB's write lock ------------------------------------------------ */

struct lock_holder {
	pid_t pid;
	int release_fd;	/* closing it lets the child go */
	size_t grow_bytes;	/* in: first commit a record this long (0: none) */
};

/* Commits a record of n zero bytes under "grown" in env, in the store's layout. */
static int grow(MDB_env *env, size_t n)
{
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	MDB_val k = { .mv_size = 5, .mv_data = "grown" }, v = { .mv_size = 8 + n };
	int rc;

	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return rc;
	if ((v.mv_data = calloc(1, v.mv_size)) == NULL ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0 ||
	    (rc = mdb_put(txn, dbi, &k, &v, 0)) != 0) {
		free(v.mv_data);
		mdb_txn_abort(txn);
		return rc != 0 ? rc : ENOMEM;
	}
	free(v.mv_data);
	return mdb_txn_commit(txn);
}

/* Forks a child that opens the store's environment on its own (with a map of TEST_MAP_SIZE),
 * grows it by h->grow_bytes, begins a write transaction and holds it until release_fd is closed.
 * Returns once the child holds the lock. */
static void lock_hold(const char *dir, struct lock_holder *h)
{
	int held[2], release[2];
	char c = 0;

	assert_int_equal(pipe(held), 0);
	assert_int_equal(pipe(release), 0);
	assert_true((h->pid = fork()) >= 0);
	if (h->pid == 0) {	/* no cmocka in the child: its exit status says what happened */
		MDB_env *env = NULL;
		MDB_txn *txn = NULL;

		close(held[0]);
		close(release[1]);
		if (mdb_env_create(&env) != 0 || mdb_env_set_mapsize(env, TEST_MAP_SIZE) != 0 ||
		    mdb_env_open(env, dir, MDB_NOTLS, 0600) != 0 ||
		    (h->grow_bytes > 0 && grow(env, h->grow_bytes) != 0) ||
		    mdb_txn_begin(env, NULL, 0, &txn) != 0 || write(held[1], "L", 1) != 1)
			_exit(2);
		if (read(release[0], &c, 1) != 0)	/* EOF: the parent closed it */
			_exit(3);
		mdb_txn_abort(txn);
		mdb_env_close(env);
		_exit(0);
	}
	close(held[1]);
	close(release[0]);
	assert_int_equal(read(held[0], &c, 1), 1);
	close(held[0]);
	h->release_fd = release[1];
}

static void lock_release(struct lock_holder *h)
{
	int status = 0;

	close(h->release_fd);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Polls until n calls wait in the store's queue (the leader's own among them). */
static void wait_queued(struct store *st, size_t n)
{
	struct store_lmdb_stats stats;
	double limit = now_s() + WAIT_LIMIT_S;
	struct timespec pause = { .tv_nsec = 1000000 };

	for (;;) {
		store_lmdb_stats(st, &stats);
		if (stats.waiting == n)
			break;
		assert_true(stats.waiting < n && now_s() < limit);
		nanosleep(&pause, NULL);
	}
}

/* --- one call per thread ---------------------------------------------------------------------- */

struct call {
	pthread_t thread;
	struct store *st;
	struct store_op ops[3];
	size_t n_ops;
	char key[32], val[32];
	int rc;
	struct kl_err err;
};

static void *call_run(void *arg)
{
	struct call *c = arg;

	c->rc = store_txn(c->st, c->ops, c->n_ops, &c->err);
	return NULL;
}

/* Starts every call, each in a thread, while a child holds the lock (having grown the store by
 * grow_bytes); lets them go once all wait in one queue; joins them. They were one group. */
static void run_as_one_group_after(struct fixture *f, struct call *calls, size_t n,
				   size_t grow_bytes)
{
	struct lock_holder h = { .grow_bytes = grow_bytes };
	struct store_lmdb_stats before, after;
	size_t i;

	store_lmdb_stats(f->st, &before);
	lock_hold(f->dir, &h);
	for (i = 0; i < n; i++) {
		calls[i].st = f->st;
		assert_int_equal(pthread_create(&calls[i].thread, NULL, call_run, &calls[i]), 0);
	}
	wait_queued(f->st, n);
	lock_release(&h);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_join(calls[i].thread, NULL), 0);
	store_lmdb_stats(f->st, &after);
	assert_int_equal(after.groups - before.groups, 1);
	assert_int_equal(after.calls - before.calls, n);
	assert_int_equal(after.largest_group, n);
	assert_int_equal(after.waiting, 0);
}

static void run_as_one_group(struct fixture *f, struct call *calls, size_t n)
{
	run_as_one_group_after(f, calls, n, 0);
}

static void op_put(struct store_op *op, const char *key, const char *val)
{
	*op = (struct store_op){ .kind = STORE_PUT, .key = key, .key_len = strlen(key),
				 .val = val, .val_len = strlen(val) };
}

static void op_check(struct store_op *op, const char *key, uint64_t version)
{
	*op = (struct store_op){ .kind = STORE_CHECK, .key = key, .key_len = strlen(key),
				 .version = version };
}

#define RACERS 16
#define BYSTANDERS 4

/* RACERS calls of one group each create "lock" if absent, and a key of their own; BYSTANDERS
 * calls of the same group write keys of their own without a check. One racer wins; each other
 * racer gets a conflict and leaves no trace; every bystander succeeds. */
static void test_conflicting_checks_in_one_group_fail_all_but_one(void **state)
{
	struct fixture *f = *state;
	struct call calls[RACERS + BYSTANDERS];
	size_t i, winner = RACERS;

	memset(calls, 0, sizeof(calls));
	for (i = 0; i < RACERS + BYSTANDERS; i++) {
		snprintf(calls[i].key, sizeof(calls[i].key), "own-%02zu", i);
		snprintf(calls[i].val, sizeof(calls[i].val), "from %02zu", i);
		op_put(&calls[i].ops[0], calls[i].key, calls[i].val);
		calls[i].n_ops = 1;
		if (i < RACERS) {
			op_check(&calls[i].ops[1], "lock", 0);
			op_put(&calls[i].ops[2], "lock", calls[i].val);
			calls[i].n_ops = 3;
		}
	}
	run_as_one_group(f, calls, RACERS + BYSTANDERS);
	for (i = 0; i < RACERS; i++) {
		if (calls[i].rc == 0) {
			assert_int_equal(winner, RACERS);	/* only one */
			winner = i;
			expect_val(f->st, calls[i].key, calls[i].val, 1);
			continue;
		}
		assert_int_equal(calls[i].rc, -1);
		assert_int_equal(calls[i].err.code, KL_ECONFLICT);
		expect_missing(f->st, calls[i].key);
	}
	assert_true(winner < RACERS);
	expect_val(f->st, "lock", calls[winner].val, 1);
	for (i = RACERS; i < RACERS + BYSTANDERS; i++) {
		assert_int_equal(calls[i].rc, 0);
		assert_int_equal(calls[i].err.code, KL_OK);
		expect_val(f->st, calls[i].key, calls[i].val, 1);
	}
}

/* Each member of a group sees the writes of the members before it: eight puts of one key in one
 * group leave it at version 8, holding the value of one of them. */
static void test_group_members_see_earlier_members_writes(void **state)
{
	struct fixture *f = *state;
	struct call calls[8];
	struct kl_err err = { 0 };
	uint64_t version = 0;
	struct buf b;
	size_t i;

	memset(calls, 0, sizeof(calls));
	for (i = 0; i < 8; i++) {
		snprintf(calls[i].val, sizeof(calls[i].val), "%zu", i);
		op_put(&calls[i].ops[0], "counter", calls[i].val);
		calls[i].n_ops = 1;
	}
	run_as_one_group(f, calls, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(calls[i].rc, 0);
	buf_init(&b, 64);
	assert_int_equal(store_get(f->st, "counter", 7, &b, &version, &err), 0);
	assert_int_equal(version, 8);
	assert_true(b.len == 1 && b.data[0] >= '0' && b.data[0] <= '7');
	buf_clear(&b);
}

/* A member whose write LMDB refuses (the map is full) fails alone: the group's others commit. */
static void test_member_refused_by_lmdb_fails_alone(void **state)
{
	struct fixture *f = *state;
	struct call calls[6];
	size_t big_len = (size_t)2 << 20, i;
	char *big = calloc(1, big_len);

	assert_non_null(big);
	store_close(f->st);
	assert_non_null(f->st = open_dir(f->dir, (size_t)1 << 20));
	memset(calls, 0, sizeof(calls));
	for (i = 0; i < 6; i++) {
		snprintf(calls[i].key, sizeof(calls[i].key), "small-%zu", i);
		op_put(&calls[i].ops[0], calls[i].key, "fits");
		calls[i].n_ops = 1;
	}
	calls[2].ops[0].val = big;	/* a member in the middle of the queue, most likely */
	calls[2].ops[0].val_len = big_len;
	run_as_one_group(f, calls, 6);
	for (i = 0; i < 6; i++) {
		if (i == 2) {
			assert_int_equal(calls[i].rc, -1);
			assert_int_equal(calls[i].err.code, KL_EUNAVAIL);
			expect_missing(f->st, "small-2");
			continue;
		}
		assert_int_equal(calls[i].rc, 0);
		expect_val(f->st, calls[i].key, "fits", 1);
	}
	free(big);
}

/* When the group's write transaction cannot begin (here: another process grew the store past
 * this one's map), every member fails with that, and none is left waiting. */
static void test_failed_write_transaction_fails_every_member(void **state)
{
	struct fixture *f = *state;
	struct call calls[6];
	size_t i;

	store_close(f->st);
	assert_non_null(f->st = open_dir(f->dir, (size_t)1 << 20));
	memset(calls, 0, sizeof(calls));
	for (i = 0; i < 6; i++) {
		snprintf(calls[i].key, sizeof(calls[i].key), "k%zu", i);
		op_put(&calls[i].ops[0], calls[i].key, "v");
		calls[i].n_ops = 1;
	}
	run_as_one_group_after(f, calls, 6, (size_t)2 << 20);
	for (i = 0; i < 6; i++) {
		assert_int_equal(calls[i].rc, -1);
		assert_int_equal(calls[i].err.code, KL_EINTERNAL);
		assert_string_equal(calls[i].err.msg, "the store failed (write transaction)");
	}
	/* opened again, it takes the larger map and writes go on */
	store_close(f->st);
	assert_non_null(f->st = open_dir(f->dir, TEST_MAP_SIZE));
	put(f->st, "k0", "v", 1);
	expect_val(f->st, "k0", "v", 1);
}

/* --- many writers, freely --------------------------------------------------------------------- */

#define WRITERS 16
#define ROUNDS 50

struct writer {
	pthread_t thread;
	struct store *st;
	size_t id;
	size_t ok;		/* increments of the counter it got acknowledged */
	size_t conflicts;
	size_t other_errors;
};

/* Each round: reads the shared counter, then in one transaction checks its version, writes it
 * one higher and writes a key of its own; on a conflict it reads again. */
static void *writer_run(void *arg)
{
	struct writer *w = arg;
	struct store_op ops[3];
	struct kl_err err = { 0 };
	char key[32], val[32];
	struct buf b;
	uint64_t version;
	unsigned long count;
	size_t round = 0;

	buf_init(&b, 64);
	while (round < ROUNDS) {
		b.len = 0;
		version = 0;
		count = 0;
		kl_err_clear(&err);
		if (store_get(w->st, "counter", 7, &b, &version, &err) == 0) {
			if (buf_append(&b, "", 1, &err) != 0) {
				w->other_errors++;
				break;
			}
			count = strtoul((const char *)b.data, NULL, 10);
		} else if (err.code != KL_ENOTFOUND) {
			w->other_errors++;
			break;
		}
		snprintf(key, sizeof(key), "w%02zu-%03zu", w->id, round);
		snprintf(val, sizeof(val), "%lu", count + 1);
		op_check(&ops[0], "counter", version);
		op_put(&ops[1], "counter", val);
		op_put(&ops[2], key, key);
		kl_err_clear(&err);
		if (store_txn(w->st, ops, 3, &err) == 0) {
			w->ok++;
			round++;
		} else if (err.code == KL_ECONFLICT) {
			w->conflicts++;
		} else {
			w->other_errors++;
			break;
		}
	}
	buf_clear(&b);
	return NULL;
}

static void test_many_writers_lose_nothing(void **state)
{
	struct fixture *f = *state;
	struct writer w[WRITERS];
	struct store_lmdb_stats stats;
	char key[32], count[32];
	size_t i, r, conflicts = 0;
	double t0;

	memset(w, 0, sizeof(w));
	t0 = now_s();
	for (i = 0; i < WRITERS; i++) {
		w[i].st = f->st;
		w[i].id = i;
		assert_int_equal(pthread_create(&w[i].thread, NULL, writer_run, &w[i]), 0);
	}
	for (i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(w[i].thread, NULL), 0);
		assert_int_equal(w[i].other_errors, 0);
		assert_int_equal(w[i].ok, ROUNDS);
		conflicts += w[i].conflicts;
	}
	store_lmdb_stats(f->st, &stats);
	printf("# %d writers x %d compare-and-swaps: %.2f s, %zu conflicts, %llu groups for %llu "
	       "calls (largest %zu)\n", WRITERS, ROUNDS, now_s() - t0, conflicts,
	       (unsigned long long)stats.groups, (unsigned long long)stats.calls,
	       stats.largest_group);
	/* every acknowledged increment is there, and every writer's own keys */
	snprintf(count, sizeof(count), "%d", WRITERS * ROUNDS);
	expect_val(f->st, "counter", count, WRITERS * ROUNDS);
	for (i = 0; i < WRITERS; i++)
		for (r = 0; r < ROUNDS; r++) {
			snprintf(key, sizeof(key), "w%02zu-%03zu", i, r);
			expect_val(f->st, key, key, 1);
		}
	assert_int_equal(stats.calls, WRITERS * ROUNDS + conflicts);
	assert_int_equal(stats.waiting, 0);
}

/* --- kill -9 while groups commit ------------------------------------------------------------- */

#define KILL_WRITERS 12
#define KILL_AFTER_ACKS 300

struct acker {
	pthread_t thread;
	struct store *st;
	size_t id;
	int fd;		/* each acknowledged key is written here, one line each */
};

static void *acker_run(void *arg)
{
	struct acker *a = arg;
	struct kl_err err = { 0 };
	char key[40];
	size_t i;
	int n;

	for (i = 0;; i++) {
		n = snprintf(key, sizeof(key), "k%02zu-%06zu", a->id, i);
		if (store_put(a->st, key, (size_t)n, key, (size_t)n, &err) != 0)
			_exit(4);
		key[n] = '\n';
		if (write(a->fd, key, (size_t)n + 1) != n + 1)	/* atomic: < PIPE_BUF */
			_exit(5);
	}
	return NULL;
}

/* A child runs many writers and reports each key once store_put returned; it is killed with
 * SIGKILL while they write. Every key it reported is in the store opened again. */
static void test_acked_writes_survive_kill_during_groups(void **state)
{
	struct fixture *f = *state;
	struct acker a[KILL_WRITERS];
	char *acked = NULL, *line, *save = NULL;
	size_t len = 0, cap = 1 << 20, lines = 0, i;
	int fds[2], status = 0;
	ssize_t got;
	pid_t pid;

	store_close(f->st);	/* the child has the store; this process opens it after */
	f->st = NULL;
	assert_int_equal(pipe(fds), 0);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {	/* no cmocka in the child: it must only die by SIGKILL */
		struct kl_err err = { 0 };
		struct store *st = store_lmdb_open(f->dir, TEST_MAP_SIZE, &err);

		close(fds[0]);
		if (st == NULL)
			_exit(2);
		for (i = 0; i < KILL_WRITERS; i++) {
			a[i] = (struct acker){ .st = st, .id = i, .fd = fds[1] };
			if (pthread_create(&a[i].thread, NULL, acker_run, &a[i]) != 0)
				_exit(3);
		}
		pause();
		_exit(6);
	}
	close(fds[1]);
	assert_non_null(acked = malloc(cap + 1));
	while (lines < KILL_AFTER_ACKS && (got = read(fds[0], acked + len, cap - len)) > 0) {
		for (i = len; i < len + (size_t)got; i++)
			lines += acked[i] == '\n';
		len += (size_t)got;
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* what was written to the pipe before the kill was acknowledged too */
	while (len < cap && (got = read(fds[0], acked + len, cap - len)) > 0)
		len += (size_t)got;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(lines >= KILL_AFTER_ACKS);
	acked[len] = '\0';
	assert_non_null(f->st = open_dir(f->dir, TEST_MAP_SIZE));
	lines = 0;
	for (line = strtok_r(acked, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line + strlen(line) == acked + len)
			break;	/* a last line cut short by the kill */
		expect_val(f->st, line, line, 1);
		lines++;
	}
	printf("# %zu acknowledged writes of %d writers found after kill -9\n", lines,
	       KILL_WRITERS);
	put(f->st, "after", "the kill", 8);
	free(acked);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_conflicting_checks_in_one_group_fail_all_but_one),
		TEST(test_group_members_see_earlier_members_writes),
		TEST(test_member_refused_by_lmdb_fails_alone),
		TEST(test_failed_write_transaction_fails_every_member),
		TEST(test_many_writers_lose_nothing),
		TEST(test_acked_writes_survive_kill_during_groups),
	};

	return cmocka_run_group_tests_name("LMDB grouped commits", tests, NULL, NULL);
}
