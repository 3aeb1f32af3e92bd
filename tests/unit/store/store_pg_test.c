/* The store conformance suite on PostgreSQL, against a real server this test starts itself (see
 * pg_fixture.h), each suite test on a freshly dropped table; then what only this backend has:
 * checked inserts racing from threads and from processes, scans of several batches whose
 * callbacks stop early or call the store again, every byte value in keys and values, a malformed
 * or foreign setup refused, and a server that restarts, goes away, turns read-only or fails over
 * to its standby without the store being reopened. Commits of unknown outcome and concurrent
 * writers: store_pg_commit_test.c; grouped reads: store_pg_many_test.c. */
#include <stdatomic.h>
#include <sys/mman.h>

#include "pg_fixture.h"
#include "store/store_pg.h"
#include "store_suite.h"

#define SUITE_POOL 4

/* Both transaction functions (schema 2's and schema 3's), as a test that rolls the schema back
 * drops them. */
#define DROP_TXN_FUNCTIONS                                                                         \
	"DROP FUNCTION IF EXISTS kluis_kv_txn(bytea, bytea[], bytea[], bigint[]);"                   \
	"DROP FUNCTION IF EXISTS kluis_kv_txn(bytea, bytea, bytea[], bytea[], bigint[]);"

static struct pg_fixture fx;

static struct store *open_pool(const char *conninfo, size_t pool)
{
	struct kl_err err = { 0 };
	struct store *st = store_pg_open(conninfo, pool, &err);

	if (st == NULL)
		fprintf(stderr, "store_pg_open: %s\n", err.msg);
	return st;
}

static struct store *pg_fresh(void *arg)
{
	(void)arg;
	if (pg_fixture_sql(fx.port, "DROP TABLE IF EXISTS kluis_kv") != 0)
		return NULL;
	return open_pool(fx.conninfo, SUITE_POOL);
}

static struct store *pg_reopen(void *arg)
{
	(void)arg;
	return open_pool(fx.conninfo, SUITE_POOL);
}

/* The backend's own tests get a fresh table too, and close what they leave in *state. */
static int fresh_setup(void **state)
{
	*state = NULL;
	return pg_fixture_sql(fx.port, "DROP TABLE IF EXISTS kluis_kv");
}

static int close_teardown(void **state)
{
	store_close(*state);
	*state = NULL;
	return 0;
}

static struct store *fresh_store(void **state, size_t pool)
{
	struct store *st = open_pool(fx.conninfo, pool);

	assert_non_null(st);
	*state = st;
	return st;
}

/* --- open ---------------------------------------------------------------------------------- */

static void expect_open_fails(const char *conninfo, size_t pool, enum kl_errc code)
{
	struct kl_err err = { 0 };

	assert_null(store_pg_open(conninfo, pool, &err));
	assert_int_equal(err.code, code);
	assert_true(err.msg[0] != '\0');
}

static void test_open_refuses_bad_arguments(void **state)
{
	char ci[300];

	(void)state;
	expect_open_fails(NULL, 1, KL_EINVAL);
	expect_open_fails("", 1, KL_EINVAL);
	expect_open_fails("no equals sign password=hunter2", 1, KL_EINVAL);
	expect_open_fails("host='unterminated", 1, KL_EINVAL);
	expect_open_fails("nosuchoption=1", 1, KL_EINVAL);
	expect_open_fails(fx.conninfo, 0, KL_EINVAL);
	expect_open_fails(fx.conninfo, STORE_PG_POOL_MAX + 1, KL_EINVAL);
	/* nobody listens there; then a database that does not exist */
	pg_fixture_conninfo(pg_fixture_free_port(), ci, sizeof(ci));
	expect_open_fails(ci, 1, KL_EUNAVAIL);
	snprintf(ci, sizeof(ci), "%s dbname=nosuchdb", fx.conninfo);
	expect_open_fails(ci, 1, KL_EUNAVAIL);
}

static void test_open_refuses_foreign_table(void **state)
{
	(void)state;
	assert_int_equal(pg_fixture_sql(fx.port, "CREATE TABLE kluis_kv (key text PRIMARY KEY, "
						 "value bytea, version bigint)"),
			 0);
	expect_open_fails(fx.conninfo, 1, KL_ECORRUPT);
}

static void test_open_creates_the_table_once(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct store *again;

	suite_put(st, K("k"), K("v"));
	again = open_pool(fx.conninfo, 1);	/* the table is there: kept as it is */
	assert_non_null(again);
	suite_expect(again, K("k"), K("v"), 1);
	store_close(again);
}

/* The schema carries its version; a newer one than this kluisd knows is refused, an unlabelled
 * one (from before versions) is labelled. */
static void test_schema_version(void **state)
{
	struct store *st = fresh_store(state, 1), *again;
	char out[64];

	assert_int_equal(pg_fixture_query(fx.port, "SELECT obj_description('kluis_kv'::regclass, "
				 "'pg_class')", out, sizeof(out)), 0);
	assert_string_equal(out, "kluis-schema 3");
	assert_int_equal(pg_fixture_sql(fx.port, "COMMENT ON TABLE kluis_kv IS NULL"), 0);
	assert_non_null(again = open_pool(fx.conninfo, 1));
	store_close(again);
	assert_int_equal(pg_fixture_query(fx.port, "SELECT obj_description('kluis_kv'::regclass, "
				 "'pg_class')", out, sizeof(out)), 0);
	assert_string_equal(out, "kluis-schema 3");
	assert_int_equal(pg_fixture_sql(fx.port, "COMMENT ON TABLE kluis_kv IS 'kluis-schema 4'"),
			 0);
	expect_open_fails(fx.conninfo, 1, KL_ECORRUPT);
	assert_int_equal(pg_fixture_sql(fx.port, "COMMENT ON TABLE kluis_kv IS 'kluis-schema 3'"),
			 0);
	(void)st;
}

/* A database of schema 1 (the table, no transaction function) with records in it: opening it
 * migrates it to the current schema, keeping every record and its version; checked writes work on it. */
static void test_schema_1_is_migrated(void **state)
{
	struct kl_err err = { 0 };
	char out[64];
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = "old", .key_len = 3, .version = 5 },
		{ .kind = STORE_PUT, .key = "old", .key_len = 3, .val = "new", .val_len = 3 },
		{ .kind = STORE_DEL, .key = "gone", .key_len = 4 },
	};

	assert_int_equal(pg_fixture_sql(fx.port, "CREATE TABLE kluis_kv (key bytea PRIMARY KEY, "
						 "value bytea NOT NULL, version bigint NOT NULL);"
						 "COMMENT ON TABLE kluis_kv IS 'kluis-schema 1';"
						 DROP_TXN_FUNCTIONS
						 "INSERT INTO kluis_kv VALUES ('old', 'value', 5), "
						 "('gone', 'x', 1)"),
			 0);
	*state = open_pool(fx.conninfo, 2);
	assert_non_null(*state);
	assert_int_equal(pg_fixture_query(fx.port, "SELECT obj_description('kluis_kv'::regclass, "
				 "'pg_class')", out, sizeof(out)), 0);
	assert_string_equal(out, "kluis-schema 3");
	suite_expect(*state, K("old"), K("value"), 5);
	ops[0].version = 4;	/* stale */
	assert_int_equal(store_txn(*state, ops, 3, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	suite_expect(*state, K("gone"), K("x"), 1);	/* nothing of it written */
	ops[0].version = 5;
	assert_int_equal(store_txn(*state, ops, 3, &err), 0);
	suite_expect(*state, K("old"), K("new"), 6);
	suite_expect_missing(*state, K("gone"));
}

/* A database of schema 2 (transactions without commit markers: no marker table, the function of
 * four arguments) that a node of schema 2 still writes into: opening it adds the markers and
 * the new function, and the old function keeps working for the old node. */
static void test_schema_2_is_migrated(void **state)
{
	struct store *st = fresh_store(state, 1);
	char out[64];

	suite_put(st, K("k"), K("v"));
	assert_int_equal(pg_fixture_sql(fx.port, "DROP FUNCTION kluis_kv_txn(bytea, bytea, bytea[], "
						 "bytea[], bigint[]); DROP TABLE kluis_commit;"
						 "COMMENT ON TABLE kluis_kv IS 'kluis-schema 2'"),
			 0);
	store_close(st);
	*state = st = open_pool(fx.conninfo, 1);
	assert_non_null(st);
	assert_int_equal(pg_fixture_query(fx.port, "SELECT obj_description('kluis_kv'::regclass, "
				 "'pg_class')", out, sizeof(out)), 0);
	assert_string_equal(out, "kluis-schema 3");
	suite_put(st, K("k"), K("again"));
	suite_expect(st, K("k"), K("again"), 2);
	assert_int_equal(pg_fixture_query(fx.port, "SELECT count(*) FROM kluis_commit", out,
					  sizeof(out)), 0);
	assert_string_equal(out, "1");	/* this write's marker */
	/* an old node's transaction, as version 2 sent it */
	assert_int_equal(pg_fixture_query(fx.port, "SELECT kluis_kv_txn('p', ARRAY['k'::bytea], "
				 "ARRAY['old'::bytea], ARRAY[0::bigint])", out, sizeof(out)), 0);
	assert_string_equal(out, "t");
	suite_expect(st, K("k"), K("old"), 3);
}

/* The function dropped under a running store (a standby of schema 1, promoted since): the next
 * transaction brings the schema up to date and goes through. */
static void test_missing_function_is_made_again(void **state)
{
	struct store *st = fresh_store(state, 1);

	suite_put(st, K("k"), K("v"));
	assert_int_equal(pg_fixture_sql(fx.port, DROP_TXN_FUNCTIONS
						 "COMMENT ON TABLE kluis_kv IS 'kluis-schema 1'"),
			 0);
	suite_put(st, K("k"), K("again"));
	suite_expect(st, K("k"), K("again"), 2);
}

struct opener {
	pthread_barrier_t *start;
	bool ok;
};

static void *open_at_once(void *arg)
{
	struct opener *o = arg;
	struct kl_err err = { 0 };
	struct store *st;

	pthread_barrier_wait(o->start);
	st = store_pg_open(fx.conninfo, 1, &err);
	o->ok = st != NULL;
	store_close(st);
	return NULL;
}

/* Nodes that start together on an empty database all open it; one creates the schema. */
static void test_nodes_starting_together(void **state)
{
	struct opener o[6];
	pthread_t t[6];
	pthread_barrier_t start;
	int i;

	(void)state;
	assert_int_equal(pg_fixture_sql(fx.port, "DROP TABLE IF EXISTS kluis_kv"), 0);
	pthread_barrier_init(&start, NULL, 6);
	for (i = 0; i < 6; i++) {
		o[i].start = &start;
		o[i].ok = false;
		pthread_create(&t[i], NULL, open_at_once, &o[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_true(o[i].ok);
	}
	pthread_barrier_destroy(&start);
}

/* --- concurrency --------------------------------------------------------------------------- */

#define RACERS 8
#define RACE_ROUNDS 25

struct racer {
	struct store *st;
	pthread_barrier_t *start;
	int id;
	int wins[RACE_ROUNDS];
	int failures;
	enum kl_errc last_failure;
};

/* Every racer tries to create race/<round> if absent, with its id as the value. */
static void race_round(struct store *st, int id, int round, int *won, int *failed,
		       enum kl_errc *code)
{
	char key[32], val[8];
	struct kl_err err = { 0 };
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = key, .version = 0 },
		{ .kind = STORE_PUT, .key = key, .val = val },
	};

	snprintf(key, sizeof(key), "race/%03d", round);
	snprintf(val, sizeof(val), "%d", id);
	ops[0].key_len = ops[1].key_len = strlen(key);
	ops[1].val_len = strlen(val);
	if (store_txn(st, ops, 2, &err) == 0) {
		*won = 1;
	} else if (err.code != KL_ECONFLICT) {
		(*failed)++;
		*code = err.code;
	}
}

/* Runs on its own thread: no cmocka asserts here. */
static void *racer_run(void *arg)
{
	struct racer *r = arg;
	int round;

	for (round = 0; round < RACE_ROUNDS; round++) {
		pthread_barrier_wait(r->start);
		race_round(r->st, r->id, round, &r->wins[round], &r->failures, &r->last_failure);
	}
	return NULL;
}

/* The winner of each round is the one racer that succeeded, and its value is the one stored. */
static void expect_one_winner(struct store *st, int round, const int *wins_of, int n)
{
	char key[32], val[16];
	int i, winners = 0, winner = -1;

	for (i = 0; i < n; i++)
		if (wins_of[i]) {
			winners++;
			winner = i;
		}
	assert_int_equal(winners, 1);
	snprintf(key, sizeof(key), "race/%03d", round);
	snprintf(val, sizeof(val), "%d", winner);
	suite_expect(st, (struct suite_bytes){ key, strlen(key) },
		     (struct suite_bytes){ val, strlen(val) }, 1);
}

static void test_checked_inserts_race_between_threads(void **state)
{
	struct store *st = fresh_store(state, RACERS);
	struct racer r[RACERS];
	pthread_barrier_t start;
	pthread_t t[RACERS];
	int i, round, wins_of[RACERS];

	memset(r, 0, sizeof(r));
	assert_int_equal(pthread_barrier_init(&start, NULL, RACERS), 0);
	for (i = 0; i < RACERS; i++) {
		r[i].st = st;
		r[i].start = &start;
		r[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, racer_run, &r[i]), 0);
	}
	for (i = 0; i < RACERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
	for (i = 0; i < RACERS; i++) {
		if (r[i].failures > 0)
			fprintf(stderr, "racer %d: %s\n", i, kl_errc_name(r[i].last_failure));
		assert_int_equal(r[i].failures, 0);
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		for (i = 0; i < RACERS; i++)
			wins_of[i] = r[i].wins[round];
		expect_one_winner(st, round, wins_of, RACERS);
	}
}

#define PROCS 4

/* Several kluisd nodes share one database: the same race between processes, each with its own
 * store, started together by closing the pipe they wait on. The children report through shared
 * memory: 1 won, 0 lost, -1 failed. */
static void test_checked_inserts_race_between_processes(void **state)
{
	int (*res)[RACE_ROUNDS] = mmap(NULL, sizeof(int) * PROCS * RACE_ROUNDS,
				       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct store *st = fresh_store(state, 1);
	int go[2], i, round, status, wins_of[PROCS];
	pid_t pid[PROCS];

	assert_true(res != MAP_FAILED);
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < PROCS; i++) {
		assert_true((pid[i] = fork()) >= 0);
		if (pid[i] == 0) {	/* no cmocka in the child */
			struct store *mine = open_pool(fx.conninfo, 1);
			int failed = 0;
			enum kl_errc code;
			char c;

			close(go[1]);
			if (mine == NULL || read(go[0], &c, 1) != 0)
				_exit(2);
			for (round = 0; round < RACE_ROUNDS; round++) {
				int won = 0;

				race_round(mine, i, round, &won, &failed, &code);
				res[i][round] = failed ? -1 : won;
			}
			store_close(mine);
			_exit(failed ? 1 : 0);
		}
	}
	close(go[0]);
	close(go[1]);	/* go */
	for (i = 0; i < PROCS; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (round = 0; round < RACE_ROUNDS; round++) {
		for (i = 0; i < PROCS; i++)
			wins_of[i] = res[i][round];
		expect_one_winner(st, round, wins_of, PROCS);
	}
	munmap(res, sizeof(int) * PROCS * RACE_ROUNDS);
}

/* --- scans of several batches ---------------------------------------------------------------- */

#define MANY 700	/* more than two batches of 256 */

/* Writes b/00000 .. b/00699 (value "v" + the number) in one transaction, out of order, with
 * neighbours on both sides of the prefix. */
static void put_many(struct store *st)
{
	static char keys[MANY][8], vals[MANY][8];
	struct store_op *ops = calloc(MANY + 2, sizeof(*ops));
	struct kl_err err = { 0 };
	int i, k;

	assert_non_null(ops);
	for (i = 0; i < MANY; i++) {
		k = (i * 389) % MANY;
		snprintf(keys[i], sizeof(keys[i]), "b/%05d", k);
		snprintf(vals[i], sizeof(vals[i]), "v%d", k);
		ops[i] = (struct store_op){ .kind = STORE_PUT, .key = keys[i], .key_len = 7,
					    .val = vals[i], .val_len = strlen(vals[i]) };
	}
	ops[MANY] = (struct store_op){ .kind = STORE_PUT, .key = "b.", .key_len = 2, .val = "x",
				       .val_len = 1 };
	ops[MANY + 1] = (struct store_op){ .kind = STORE_PUT, .key = "b0", .key_len = 2,
					   .val = "x", .val_len = 1 };
	assert_int_equal(store_txn(st, ops, MANY + 2, &err), 0);
	free(ops);
}

struct counter {
	struct store *st;	/* set: look every record up again from inside the callback */
	int n;
	int stop_at;		/* 0: never */
	int next;		/* the number the next key should carry */
	bool bad;
	int inner_failures;
};

static int count_in_order(void *arg, const void *key, size_t key_len, const void *val,
			  size_t val_len, uint64_t version, struct kl_err *err)
{
	struct counter *c = arg;
	char want_key[8], want_val[8];

	snprintf(want_key, sizeof(want_key), "b/%05d", c->next);
	snprintf(want_val, sizeof(want_val), "v%d", c->next);
	if (key_len != 7 || memcmp(key, want_key, 7) != 0 || val_len != strlen(want_val) ||
	    memcmp(val, want_val, val_len) != 0 || version != 1)
		c->bad = true;
	if (c->st != NULL) {
		struct buf b;
		struct kl_err inner = { 0 };

		/* the store again, from inside its own scan, and a write to what it scans */
		buf_init(&b, 64);
		if (store_get(c->st, key, key_len, &b, NULL, &inner) != 0 || b.len != val_len ||
		    (c->n % 100 == 0 && store_put(c->st, "b0", 2, "y", 1, &inner) != 0))
			c->inner_failures++;
		buf_clear(&b);
	}
	(void)err;
	c->next++;
	c->n++;
	return c->stop_at > 0 && c->n == c->stop_at ? 1 : 0;
}

static void expect_count(struct store *st, const char *after, int from, int stop_at, int want)
{
	struct counter c = { .next = from, .stop_at = stop_at };
	struct kl_err err = { 0 };

	assert_int_equal(store_scan(st, "b/", 2, after, after ? strlen(after) : 0, count_in_order,
				    &c, &err),
			 0);
	assert_false(c.bad);
	assert_int_equal(c.n, want);
}

static void test_scan_of_several_batches(void **state)
{
	struct store *st = fresh_store(state, 2);

	put_many(st);
	expect_count(st, NULL, 0, 0, MANY);
	expect_count(st, "b/00299", 300, 0, MANY - 300);
	expect_count(st, "b/", 0, 0, MANY);
	expect_count(st, "b/00699", 0, 0, 0);
	/* stopped early: in the first batch, at its last row, inside the second, at the end */
	expect_count(st, NULL, 0, 3, 3);
	expect_count(st, NULL, 0, 256, 256);
	expect_count(st, NULL, 0, 300, 300);
	expect_count(st, "b/00099", 100, 512, 512);
	expect_count(st, NULL, 0, MANY, MANY);
}

/* With a pool of one connection a callback that calls the store would wait forever, if the scan
 * held the connection while it called back. */
static void test_scan_callback_may_call_the_store_on_one_connection(void **state)
{
	struct store *st = fresh_store(state, 1);
	struct counter c = { 0 };
	struct kl_err err = { 0 };

	put_many(st);
	c.st = st;
	assert_int_equal(store_scan(st, "b/", 2, NULL, 0, count_in_order, &c, &err), 0);
	assert_false(c.bad);
	assert_int_equal(c.inner_failures, 0);
	assert_int_equal(c.n, MANY);
	suite_expect(st, K("b0"), K("y"), 1 + (MANY + 99) / 100);
}

/* --- bytes ------------------------------------------------------------------------------------ */

struct byte_scan {
	int n;
	bool bad;
};

/* The keys x<byte> for every byte, each holding 300 bytes that run through every byte value from
 * its own on. */
static void fill_value(unsigned char *v, int b)
{
	int i;

	for (i = 0; i < 300; i++)
		v[i] = (unsigned char)(b + i);
}

static int check_bytes(void *arg, const void *key, size_t key_len, const void *val,
		       size_t val_len, uint64_t version, struct kl_err *err)
{
	struct byte_scan *s = arg;
	const unsigned char *k = key;
	unsigned char want[300];

	(void)err;
	fill_value(want, s->n);
	if (s->n == 256)	/* after x\xff: x\xff\xff */
		s->bad |= key_len != 3 || memcmp(key, "x\xff\xff", 3) != 0 || val_len != 1 ||
			  memcmp(val, "\xff", 1) != 0;
	else
		s->bad |= key_len != 2 || k[0] != 'x' || k[1] != s->n || val_len != 300 ||
			  memcmp(val, want, 300) != 0 || version != 1;
	s->n++;
	return 0;
}

static void test_every_byte_in_keys_and_values(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct store_op ops[256];
	unsigned char keys[256][2], vals[256][300];
	struct byte_scan s = { 0 };
	struct kl_err err = { 0 };
	int b;

	for (b = 255; b >= 0; b--) {
		keys[b][0] = 'x';
		keys[b][1] = (unsigned char)b;
		fill_value(vals[b], b);
		ops[b] = (struct store_op){ .kind = STORE_PUT, .key = keys[b], .key_len = 2,
					    .val = vals[b], .val_len = 300 };
	}
	assert_int_equal(store_txn(st, ops, 256, &err), 0);
	suite_put(st, K("x"), K("\0\xff\0"));
	suite_put(st, K("y"), K(""));
	suite_put(st, K("x\xff\xff"), K("\xff"));
	suite_put(st, K("\0\0\0"), K("\0"));
	assert_int_equal(store_scan(st, "x", 1, "x", 1, check_bytes, &s, &err), 0);
	assert_false(s.bad);
	assert_int_equal(s.n, 257);
	suite_expect(st, K("x\0"), (struct suite_bytes){ (const char *)vals[0], 300 }, 1);
	suite_expect(st, K("x\xff"), (struct suite_bytes){ (const char *)vals[255], 300 }, 1);
	suite_expect(st, K("x"), K("\0\xff\0"), 1);
	suite_expect(st, K("\0\0\0"), K("\0"), 1);
	suite_expect_missing(st, K("\0\0"));
	suite_expect_missing(st, K("x\xff\xff\0"));
}

/* --- the server's failures ---------------------------------------------------------------- */

/* Retries op a few times while it fails with KL_EUNAVAIL; asserts that it then works. Returns how
 * many calls failed. */
static int until_it_works(struct store *st, int (*op)(struct store *, struct kl_err *))
{
	struct kl_err err = { 0 };
	int failures = 0;

	while (op(st, &err) != 0) {
		assert_int_equal(err.code, KL_EUNAVAIL);
		assert_true(++failures < 5);
	}
	return failures;
}

static int get_k(struct store *st, struct kl_err *err)
{
	struct buf b;
	int rc;

	buf_init(&b, 64);
	rc = store_get(st, "k", 1, &b, NULL, err);
	buf_clear(&b);
	return rc;
}

static int put_k(struct store *st, struct kl_err *err)
{
	return store_put(st, "k", 1, "again", 5, err);
}

static int scan_k(struct store *st, struct kl_err *err)
{
	size_t n = 0;

	return store_scan(st, "k", 1, NULL, 0, count_keys, &n, err);
}

#define CHURNERS 4

struct churner {
	struct store *st;
	int id;
	atomic_int *phase;	/* 0: before the restart, 1: after it, 2: stop */
	int done_after;		/* successful increments once phase was 1 */
	int done;
	int unavailable;
	int unknown;	/* KL_EOUTCOME: lost during COMMIT; the next round reads again */
	int other;
	enum kl_errc other_code;
};

/* Increments ctr/<id> with checked writes until told to stop, through a restart. */
static void *churn(void *arg)
{
	struct churner *c = arg;

	while (atomic_load(c->phase) < 2 || c->done_after < 20) {
		struct kl_err err = { 0 };
		struct buf b;
		uint64_t v = 0;
		char key[16], out[16];
		int phase = atomic_load(c->phase);
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = key },
			{ .kind = STORE_PUT, .key = key, .val = out },
		};
		int rc;

		snprintf(key, sizeof(key), "ctr/%d", c->id);
		ops[0].key_len = ops[1].key_len = strlen(key);
		buf_init(&b, 64);
		rc = store_get(c->st, key, strlen(key), &b, &v, &err);
		buf_clear(&b);
		if (rc == 0 || err.code == KL_ENOTFOUND) {
			snprintf(out, sizeof(out), "%llu", (unsigned long long)v + 1);
			ops[0].version = v;
			ops[1].val_len = strlen(out);
			rc = store_txn(c->st, ops, 2, &err);
		}
		if (rc == 0) {
			c->done++;
			c->done_after += phase >= 1;
		} else if (err.code == KL_EUNAVAIL) {
			c->unavailable++;
		} else if (err.code == KL_EOUTCOME) {
			c->unknown++;
		} else {
			c->other++;
			c->other_code = err.code;
			break;
		}
	}
	return NULL;
}

/* pg_ctl restart under load, and again with the store idle: calls fail with KL_EUNAVAIL at most
 * for a moment, then work on the same store. */
static void test_restart_is_survived(void **state)
{
	struct store *st = fresh_store(state, CHURNERS);
	struct churner c[CHURNERS];
	pthread_t t[CHURNERS];
	atomic_int phase = 0;
	int i, failures = 0, unknown = 0;

	memset(c, 0, sizeof(c));
	suite_put(st, K("k"), K("v"));
	for (i = 0; i < CHURNERS; i++) {
		c[i].st = st;
		c[i].id = i;
		c[i].phase = &phase;
		assert_int_equal(pthread_create(&t[i], NULL, churn, &c[i]), 0);
	}
	assert_int_equal(pg_fixture_ctl(&fx, "restart"), 0);
	atomic_store(&phase, 1);
	atomic_store(&phase, 2);	/* each stops after 20 more increments */
	for (i = 0; i < CHURNERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (i = 0; i < CHURNERS; i++) {
		if (c[i].other > 0)
			fprintf(stderr, "churner %d failed with %s\n", i,
				kl_errc_name(c[i].other_code));
		assert_int_equal(c[i].other, 0);
		assert_true(c[i].done_after >= 20);
		failures += c[i].unavailable;
		unknown += c[i].unknown;
	}
	fprintf(stderr, "restart under load: %d calls failed with KL_EUNAVAIL, %d with "
			"KL_EOUTCOME\n", failures, unknown);
	/* every pooled connection is stale now; the store goes on without a reopen, a write first
	 * (sent into a connection the server ended, its outcome would be unknown) */
	assert_int_equal(pg_fixture_ctl(&fx, "restart"), 0);
	failures = until_it_works(st, put_k);
	failures += until_it_works(st, get_k);
	failures += until_it_works(st, scan_k);
	assert_int_equal(failures, 0);	/* stale connections are replaced before use */
	suite_expect(st, K("k"), K("again"), 2);
}

static void test_server_down_is_unavailable(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct kl_err err = { 0 };

	store_pg_set_failover_wait(st, 300);	/* each call below waits that long, then fails */
	suite_put(st, K("k"), K("v"));
	assert_int_equal(pg_fixture_ctl(&fx, "stop"), 0);
	assert_int_equal(get_k(st, &err), -1);
	assert_int_equal(err.code, KL_EUNAVAIL);
	assert_int_equal(put_k(st, &err), -1);
	assert_int_equal(err.code, KL_EUNAVAIL);
	assert_int_equal(scan_k(st, &err), -1);
	assert_int_equal(err.code, KL_EUNAVAIL);
	assert_int_equal(pg_fixture_ctl(&fx, "start"), 0);
	until_it_works(st, put_k);
	suite_expect(st, K("k"), K("again"), 2);
}

static void *start_server_later(void *arg)
{
	struct timespec pause = { 1, 0 };

	(void)arg;
	nanosleep(&pause, NULL);
	return (void *)(intptr_t)pg_fixture_ctl(&fx, "start");
}

/* A call made while no server takes it waits for one (up to the failover wait) instead of
 * failing: an outage of a second, as a failover is, is ridden through by reads and writes. */
static void test_outage_is_ridden_through(void **state)
{
	struct store *st = fresh_store(state, 2);
	struct kl_err err = { 0 };
	pthread_t t;
	void *rc;

	suite_put(st, K("k"), K("v"));
	assert_int_equal(pg_fixture_ctl(&fx, "stop"), 0);
	assert_int_equal(pthread_create(&t, NULL, start_server_later, NULL), 0);
	assert_int_equal(get_k(st, &err), 0);	/* it waited for the server */
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_int_equal((intptr_t)rc, 0);
	assert_int_equal(pg_fixture_ctl(&fx, "stop"), 0);
	assert_int_equal(pthread_create(&t, NULL, start_server_later, NULL), 0);
	assert_int_equal(put_k(st, &err), 0);
	assert_int_equal(pthread_join(t, &rc), 0);
	assert_int_equal((intptr_t)rc, 0);
	suite_expect(st, K("k"), K("again"), 2);
}

static void test_read_only_database_refuses_writes(void **state)
{
	struct store *st;
	struct kl_err err = { 0 };
	int tries = 0;

	assert_non_null(st = fresh_store(state, 1));	/* creates the table */
	suite_put(st, K("k"), K("v"));
	store_close(st);
	*state = NULL;
	assert_int_equal(pg_fixture_sql(fx.port, "ALTER DATABASE postgres SET "
						 "default_transaction_read_only = on"),
			 0);
	st = fresh_store(state, 1);	/* sessions from now on are read-only */
	store_pg_set_failover_wait(st, 0);	/* no waiting for a server that takes writes */
	assert_int_equal(put_k(st, &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	suite_expect(st, K("k"), K("v"), 1);	/* reads go on */
	assert_int_equal(pg_fixture_sql(fx.port, "ALTER DATABASE postgres RESET "
						 "default_transaction_read_only"),
			 0);
	/* the read-only session is dropped at its first refused write, the next one may write */
	while (put_k(st, &err) != 0) {
		assert_int_equal(err.code, KL_EREADONLY);
		assert_true(++tries < 2);
	}
	suite_expect(st, K("k"), K("again"), 2);
}

/* The deployment of issue 6 in small: a primary with a synchronous hot standby, both in one
 * multi-host conninfo with target_session_attrs=read-write. The primary crashes, the standby is
 * promoted, and the same store carries on, with every acknowledged write. Last, since it leaves
 * the fixture's primary a cluster of its own (started again, standalone). */
static void test_failover_to_promoted_standby(void **state)
{
	char both[400], standby[256];
	struct store *st, *on_standby;
	struct kl_err err = { 0 };
	enum store_role role = STORE_STANDBY;
	struct store_repl repl = { .streaming = true, .lag_ms = 7 };
	int failures, i;

	assert_non_null(st = fresh_store(state, 2));
	assert_int_equal(store_role(st, &role, &repl, &err), 0);
	assert_int_equal(role, STORE_PRIMARY);
	assert_false(repl.streaming);		/* a primary has no lag */
	assert_int_equal(repl.lag_ms, -1);
	suite_put(st, K("k"), K("v"));
	store_close(st);
	*state = NULL;
	assert_int_equal(pg_fixture_standby_start(&fx), 0);
	/* the standby alone: reads, and refuses every write as read-only */
	pg_fixture_conninfo(fx.standby_port, standby, sizeof(standby));
	assert_non_null(on_standby = open_pool(standby, 1));
	store_pg_set_failover_wait(on_standby, 0);
	suite_expect(on_standby, K("k"), K("v"), 1);	/* in the base backup */
	assert_int_equal(put_k(on_standby, &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	kl_err_clear(&err);
	assert_int_equal(store_role(on_standby, &role, NULL, &err), 0);	/* kluisd's mode */
	assert_int_equal(role, STORE_STANDBY);
	/* it streams from the primary, caught up (its WAL receiver may take a moment to start) */
	for (i = 0; i < 100; i++) {
		assert_int_equal(store_role(on_standby, &role, &repl, &err), 0);
		if (repl.streaming && repl.lag_ms == 0)
			break;
		usleep(50 * 1000);
	}
	assert_true(repl.streaming);
	assert_int_equal(repl.lag_ms, 0);
	store_close(on_standby);
	/* commits wait for the standby from now on (a restart, not a reload: no race with it) */
	assert_int_equal(pg_fixture_sql(fx.port,
					"ALTER SYSTEM SET synchronous_standby_names = '*'"), 0);
	assert_int_equal(pg_fixture_ctl(&fx, "restart"), 0);

	snprintf(both, sizeof(both),
		 "host=127.0.0.1,127.0.0.1 port=%d,%d user=" PG_FIXTURE_USER " dbname=postgres "
		 "sslmode=disable gssencmode=disable target_session_attrs=read-write",
		 fx.port, fx.standby_port);
	assert_non_null(st = open_pool(both, 2));
	*state = st;
	assert_int_equal(store_put(st, "k", 1, "acked", 5, &err), 0);
	assert_int_equal(pg_fixture_failover_ctl(&fx, "data", "stop"), 0);	/* a crash */
	assert_int_equal(pg_fixture_failover_ctl(&fx, "standby", "promote"), 0);
	failures = until_it_works(st, get_k);
	suite_expect(st, K("k"), K("acked"), 2);
	failures += until_it_works(st, put_k);
	suite_expect(st, K("k"), K("again"), 3);
	assert_int_equal(store_role(st, &role, NULL, &err), 0);	/* the promoted standby */
	assert_int_equal(role, STORE_PRIMARY);
	fprintf(stderr, "failover: %d calls failed with KL_EUNAVAIL\n", failures);
	/* the old primary, for whatever runs after: standalone, with no standby to wait for */
	assert_int_equal(pg_fixture_ctl(&fx, "start"), 0);
	assert_int_equal(pg_fixture_sql(fx.port, "ALTER SYSTEM RESET synchronous_standby_names"),
			 0);
	assert_int_equal(pg_fixture_ctl(&fx, "restart"), 0);
}

#define OWN_TEST(f) cmocka_unit_test_setup_teardown(f, fresh_setup, close_teardown)

int main(void)
{
	struct store_suite_backend backend = {
		.name = "store conformance on PostgreSQL",
		.open_fresh = pg_fresh,
		.reopen = pg_reopen,
		.discard = NULL,
		.ctx = NULL,
	};
	const struct CMUnitTest own[] = {
		OWN_TEST(test_open_refuses_bad_arguments),
		OWN_TEST(test_open_refuses_foreign_table),
		OWN_TEST(test_open_creates_the_table_once),
		OWN_TEST(test_checked_inserts_race_between_threads),
		OWN_TEST(test_checked_inserts_race_between_processes),
		OWN_TEST(test_scan_of_several_batches),
		OWN_TEST(test_scan_callback_may_call_the_store_on_one_connection),
		OWN_TEST(test_every_byte_in_keys_and_values),
		OWN_TEST(test_restart_is_survived),
		OWN_TEST(test_server_down_is_unavailable),
		OWN_TEST(test_outage_is_ridden_through),
		OWN_TEST(test_schema_version),
		OWN_TEST(test_schema_1_is_migrated),
		OWN_TEST(test_schema_2_is_migrated),
		OWN_TEST(test_missing_function_is_made_again),
		OWN_TEST(test_nodes_starting_together),
		OWN_TEST(test_read_only_database_refuses_writes),
		OWN_TEST(test_failover_to_promoted_standby),
	};
	int failed = 1;

	if (pg_fixture_start(&fx) != 0) {
		fprintf(stderr, "cannot start a PostgreSQL server for the test\n");
		goto out;
	}
	failed = store_suite_run(&backend);
	failed += cmocka_run_group_tests_name("PostgreSQL backend", own, NULL, NULL);
out:
	pg_fixture_stop(&fx);
	return failed == 0 ? 0 : 1;
}
