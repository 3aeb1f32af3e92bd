/* The store conformance suite: every backend runs these same tests, through store.h only. A
 * backend's test file fills a struct store_suite_backend and calls store_suite_run(). Header-only
 * (static functions) so that each backend's test binary stands alone.
 *
 * What it pins down, beyond store.h's comments: keys sort bytewise (unsigned, a proper prefix
 * first); a record's version is 1 when it is created, also after a delete, and grows by one on
 * every put, also twice inside one transaction; checks see the state before the transaction. */
#ifndef KLUIS_TESTS_STORE_SUITE_H
#define KLUIS_TESTS_STORE_SUITE_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

struct store_suite_backend {
	const char *name;
	/* A new store with no records; the suite closes it with store_close. NULL on failure. */
	struct store *(*open_fresh)(void *ctx);
	/* The store that open_fresh made last, opened again (the suite has closed it). */
	struct store *(*reopen)(void *ctx);
	/* May be NULL. Drops what open_fresh made last, after the suite has closed it. */
	void (*discard)(void *ctx);
	void *ctx;
};

/* A key or value with its length, NUL bytes included: K("a\0") is 2 bytes. */
struct suite_bytes {
	const char *p;
	size_t len;
};
#define K(lit) ((struct suite_bytes){ (lit), sizeof(lit) - 1 })

static struct store_suite_backend *suite_backend;

static int suite_setup(void **state)
{
	*state = suite_backend->open_fresh(suite_backend->ctx);
	return *state == NULL ? -1 : 0;
}

static int suite_teardown(void **state)
{
	store_close(*state);
	*state = NULL;
	if (suite_backend->discard != NULL)
		suite_backend->discard(suite_backend->ctx);
	return 0;
}

static void suite_put(struct store *st, struct suite_bytes k, struct suite_bytes v)
{
	struct kl_err err = { 0 };

	assert_int_equal(store_put(st, k.p, k.len, v.p, v.len, &err), 0);
}

/* Asserts that k holds v at version. */
static void suite_expect(struct store *st, struct suite_bytes k, struct suite_bytes v,
			 uint64_t version)
{
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t got = 0;

	buf_init(&b, v.len + 4096);
	assert_int_equal(store_get(st, k.p, k.len, &b, &got, &err), 0);
	assert_int_equal(b.len, v.len);
	if (v.len > 0)
		assert_memory_equal(b.data, v.p, v.len);
	assert_int_equal(got, version);
	buf_clear(&b);
}

static void suite_expect_missing(struct store *st, struct suite_bytes k)
{
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t got = 77;

	buf_init(&b, 4096);
	assert_int_equal(store_get(st, k.p, k.len, &b, &got, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void test_get_missing(void **state)
{
	struct store *st = *state;

	suite_expect_missing(st, K("nope"));
	suite_put(st, K("ab"), K("v"));
	suite_expect_missing(st, K("a"));	/* neither a prefix of a key */
	suite_expect_missing(st, K("abc"));	/* nor a key's extension */
	suite_expect_missing(st, K("ab\0"));
}

static void test_put_get_binary_and_versions(void **state)
{
	struct store *st = *state;
	struct suite_bytes key = K("k\0\xff\x80z");
	struct kl_err err = { 0 };
	struct buf b;

	suite_put(st, key, K("\0\1\2\0\xfe"));
	suite_expect(st, key, K("\0\1\2\0\xfe"), 1);
	suite_put(st, key, K(""));
	suite_expect(st, key, K(""), 2);
	suite_put(st, key, K("x"));
	suite_expect(st, key, K("x"), 3);
	suite_put(st, K("\0"), K("\0"));
	suite_expect(st, K("\0"), K("\0"), 1);
	suite_expect(st, key, K("x"), 3);
	/* get appends to what the buffer holds, and takes a NULL version */
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "pre:", 4, &err), 0);
	assert_int_equal(store_get(st, key.p, key.len, &b, NULL, &err), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "pre:x", 5);
	buf_clear(&b);
}

static void test_get_into_small_buffer(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t v = 0;

	suite_put(st, K("k"), K("0123456789"));
	buf_init(&b, 4);
	assert_int_equal(store_get(st, "k", 1, &b, &v, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	buf_clear(&b);
	suite_expect(st, K("k"), K("0123456789"), 1);
}

static void test_delete(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };

	suite_put(st, K("d"), K("v"));
	suite_put(st, K("d"), K("w"));
	suite_put(st, K("d\0"), K("neighbour"));
	assert_int_equal(store_del(st, "d", 1, &err), 0);
	suite_expect_missing(st, K("d"));
	suite_expect(st, K("d\0"), K("neighbour"), 1);
	assert_int_equal(store_del(st, "d", 1, &err), 0);	/* again: absent is fine */
	assert_int_equal(store_del(st, "never", 5, &err), 0);
	/* a record created again starts over at version 1 */
	suite_put(st, K("d"), K("again"));
	suite_expect(st, K("d"), K("again"), 1);
}

#define SUITE_MAX_SEEN 64

struct collected {
	char keys[SUITE_MAX_SEEN][32];
	size_t lens[SUITE_MAX_SEEN];
	char vals[SUITE_MAX_SEEN][32];
	size_t val_lens[SUITE_MAX_SEEN];
	uint64_t versions[SUITE_MAX_SEEN];
	size_t n;
	size_t stop_at;		/* 0: never; else return 1 from the call that sees this many */
	size_t fail_at;		/* 0: never; else fail the call that would see this many */
};

static int collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		   uint64_t version, struct kl_err *err)
{
	struct collected *c = arg;
	int rc = 0;

	if (c->fail_at > 0 && c->n + 1 == c->fail_at) {
		rc = kl_fail(err, KL_ETOOBIG, "callback refused record %zu", c->n + 1);
		goto out;
	}
	assert_true(c->n < SUITE_MAX_SEEN && key_len <= sizeof(c->keys[0]));
	memcpy(c->keys[c->n], key, key_len);
	c->lens[c->n] = key_len;
	if (val_len <= sizeof(c->vals[0]) && val_len > 0)
		memcpy(c->vals[c->n], val, val_len);
	c->val_lens[c->n] = val_len;
	c->versions[c->n] = version;
	c->n++;
	if (c->stop_at > 0 && c->n == c->stop_at)
		rc = 1;
out:
	return rc;
}

/* Scans and asserts that exactly the keys in want were visited, in that order. */
static void suite_expect_scan(struct store *st, struct suite_bytes prefix,
			      const struct suite_bytes *after, const struct suite_bytes *want,
			      size_t n_want)
{
	struct collected *c = calloc(1, sizeof(*c));
	struct kl_err err = { 0 };
	size_t i;

	assert_non_null(c);
	assert_int_equal(store_scan(st, prefix.p, prefix.len, after ? after->p : NULL,
				    after ? after->len : 0, collect, c, &err), 0);
	assert_int_equal(c->n, n_want);
	for (i = 0; i < n_want; i++) {
		assert_int_equal(c->lens[i], want[i].len);
		assert_memory_equal(c->keys[i], want[i].p, want[i].len);
	}
	free(c);
}

/* The keys of the scan tests, in the order a bytewise store must give them. */
static const struct suite_bytes scan_keys_sorted[] = {
	{ "\0", 1 }, { "`", 1 }, { "a", 1 }, { "a\0", 2 }, { "a\0\0", 3 }, { "a\1", 2 },
	{ "ab", 2 }, { "ab\0", 3 }, { "abc", 3 }, { "ab\xff\xff", 4 }, { "ac", 2 },
	{ "a\x7f", 2 }, { "a\x80", 2 }, { "a\xff", 2 }, { "b", 1 }, { "\xff", 1 },
	{ "\xff\xff", 2 },
};
#define SCAN_KEYS (sizeof(scan_keys_sorted) / sizeof(scan_keys_sorted[0]))

static void put_scan_keys(struct store *st)
{
	size_t i;

	/* in an order unlike the sorted one */
	for (i = 0; i < SCAN_KEYS; i++)
		suite_put(st, scan_keys_sorted[(i * 5) % SCAN_KEYS], K("v"));
}

static void test_scan_order_is_bytewise(void **state)
{
	struct store *st = *state;

	put_scan_keys(st);
	suite_expect_scan(st, K(""), NULL, scan_keys_sorted, SCAN_KEYS);
}

/* n keys of scan_keys_sorted from index i on */
#define SORTED(i) (scan_keys_sorted + (i))

static void test_scan_prefix_excludes_neighbours(void **state)
{
	struct store *st = *state;

	put_scan_keys(st);
	suite_expect_scan(st, K("a"), NULL, SORTED(2), 12);
	suite_expect_scan(st, K("ab"), NULL, SORTED(6), 4);
	suite_expect_scan(st, K("a\0"), NULL, SORTED(3), 2);
	suite_expect_scan(st, K("\0"), NULL, SORTED(0), 1);
	/* a prefix of 0xff bytes has no "next prefix" to stop at */
	suite_expect_scan(st, K("\xff"), NULL, SORTED(15), 2);
	suite_expect_scan(st, K("\xff\xff"), NULL, SORTED(16), 1);
	suite_expect_scan(st, K("aa"), NULL, NULL, 0);
	suite_expect_scan(st, K("abcd"), NULL, NULL, 0);
	suite_expect_scan(st, K("c"), NULL, NULL, 0);
}

static void test_scan_after_is_exclusive(void **state)
{
	struct store *st = *state;
	struct suite_bytes after;

	put_scan_keys(st);
	after = K("ab\0");	/* a key: everything strictly after it */
	suite_expect_scan(st, K("ab"), &after, SORTED(8), 2);
	after = K("ab");	/* the prefix, itself a key: excluded too */
	suite_expect_scan(st, K("ab"), &after, SORTED(7), 3);
	after = K("a");
	suite_expect_scan(st, K("a"), &after, SORTED(3), 11);
	after = K("ab\0\0");	/* not a key: from the next one up */
	suite_expect_scan(st, K("ab"), &after, SORTED(8), 2);
	after = K("abd");
	suite_expect_scan(st, K("ab"), &after, SORTED(9), 1);
	after = K("a\0\xff");
	suite_expect_scan(st, K("a"), &after, SORTED(5), 9);
	after = K("a\xff");	/* the last key of the prefix: nothing left */
	suite_expect_scan(st, K("a"), &after, NULL, 0);
	after = K("a\xff\0");
	suite_expect_scan(st, K("a"), &after, NULL, 0);
	after = K("b");		/* past the whole prefix */
	suite_expect_scan(st, K("a"), &after, NULL, 0);
	after = K("aa");	/* before the prefix: the whole prefix */
	suite_expect_scan(st, K("ab"), &after, SORTED(6), 4);
	after = K("`");
	suite_expect_scan(st, K("ab"), &after, SORTED(6), 4);
	after = K("");		/* empty: from the first */
	suite_expect_scan(st, K("ab"), &after, SORTED(6), 4);
	after = K("a\1");	/* no prefix */
	suite_expect_scan(st, K(""), &after, SORTED(6), 11);
	after = K("\xff");
	suite_expect_scan(st, K(""), &after, SORTED(16), 1);
	after = K("\xff\xff");
	suite_expect_scan(st, K(""), &after, NULL, 0);
}

static void test_scan_reports_values_and_versions(void **state)
{
	struct store *st = *state;
	struct collected *c = calloc(1, sizeof(*c));
	struct kl_err err = { 0 };

	assert_non_null(c);
	suite_put(st, K("r1"), K("one"));
	suite_put(st, K("r2"), K(""));
	suite_put(st, K("r2"), K("t\0o"));
	suite_put(st, K("r3"), K(""));
	assert_int_equal(store_scan(st, "r", 1, NULL, 0, collect, c, &err), 0);
	assert_int_equal(c->n, 3);
	assert_int_equal(c->val_lens[0], 3);
	assert_memory_equal(c->vals[0], "one", 3);
	assert_int_equal(c->versions[0], 1);
	assert_int_equal(c->val_lens[1], 3);
	assert_memory_equal(c->vals[1], "t\0o", 3);
	assert_int_equal(c->versions[1], 2);
	assert_int_equal(c->val_lens[2], 0);
	assert_int_equal(c->versions[2], 1);
	free(c);
}

static void test_scan_stop_and_abort(void **state)
{
	struct store *st = *state;
	struct collected *c = calloc(1, sizeof(*c));
	struct kl_err err = { 0 };

	assert_non_null(c);
	put_scan_keys(st);
	c->stop_at = 2;
	assert_int_equal(store_scan(st, "", 0, NULL, 0, collect, c, &err), 0);
	assert_int_equal(c->n, 2);
	memset(c, 0, sizeof(*c));
	c->fail_at = 3;
	assert_int_equal(store_scan(st, "", 0, NULL, 0, collect, c, &err), -1);
	assert_int_equal(c->n, 2);	/* nothing visited after the failing call */
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_string_equal(err.msg, "callback refused record 3");
	/* the store is fine afterwards */
	memset(c, 0, sizeof(*c));
	assert_int_equal(store_scan(st, "", 0, NULL, 0, collect, c, &err), 0);
	assert_int_equal(c->n, SCAN_KEYS);
	free(c);
}

#define PAGE_KEYS 1000
#define PAGE_SIZE 25

struct pager {
	char last[16];
	size_t last_len;
	size_t n;		/* in this page */
	size_t seen;
	unsigned char hits[PAGE_KEYS];
	bool out_of_order;
};

static int page_collect(void *arg, const void *key, size_t key_len, const void *val,
			size_t val_len, uint64_t version, struct kl_err *err)
{
	struct pager *p = arg;
	char digits[8] = { 0 };
	int i;

	(void)val;
	(void)val_len;
	(void)version;
	(void)err;
	assert_int_equal(key_len, 6);
	if (p->last_len > 0 && memcmp(key, p->last, key_len) <= 0)
		p->out_of_order = true;
	memcpy(digits, (const char *)key + 2, 4);
	i = atoi(digits);
	assert_true(i >= 0 && i < PAGE_KEYS);
	p->hits[i]++;
	memcpy(p->last, key, key_len);
	p->last_len = key_len;
	p->seen++;
	return ++p->n == PAGE_SIZE ? 1 : 0;
}

static void test_scan_pages_see_each_key_once(void **state)
{
	struct store *st = *state;
	struct pager *p = calloc(1, sizeof(*p));
	struct kl_err err = { 0 };
	size_t pages = 0;
	char key[16];
	int i;

	assert_non_null(p);
	for (i = 0; i < PAGE_KEYS; i++) {
		snprintf(key, sizeof(key), "p/%04d", (i * 7919) % PAGE_KEYS);
		suite_put(st, (struct suite_bytes){ key, strlen(key) }, K("v"));
	}
	suite_put(st, K("p."), K(""));	/* neighbours on both sides */
	suite_put(st, K("p0"), K(""));
	suite_put(st, K("p"), K(""));
	do {
		p->n = 0;
		assert_int_equal(store_scan(st, "p/", 2, p->last_len ? p->last : NULL, p->last_len,
					    page_collect, p, &err), 0);
		pages++;
	} while (p->n == PAGE_SIZE);
	assert_int_equal(p->seen, PAGE_KEYS);
	assert_int_equal(pages, PAGE_KEYS / PAGE_SIZE + 1);	/* the last one is empty */
	assert_false(p->out_of_order);
	for (i = 0; i < PAGE_KEYS; i++)
		assert_int_equal(p->hits[i], 1);
	free(p);
}

#define MANY_KEYS 700	/* more than a backend would fetch in one batch */

struct in_order {
	struct store *st;	/* set: call the store again from inside the callback */
	char last[16];
	size_t last_len;
	size_t n;
	bool bad;
};

static int check_in_order(void *arg, const void *key, size_t key_len, const void *val,
			  size_t val_len, uint64_t version, struct kl_err *err)
{
	struct in_order *o = arg;
	struct kl_err inner = { 0 };
	struct buf b;

	(void)err;
	if (key_len >= sizeof(o->last) || version != 1 || val_len != key_len ||
	    memcmp(val, key, key_len) != 0 ||
	    (o->n > 0 && memcmp(key, o->last, key_len < o->last_len ? key_len : o->last_len) <= 0))
		o->bad = true;
	if (o->st != NULL) {	/* a read of what is being scanned, and a write beside it */
		buf_init(&b, 64);
		if (store_get(o->st, key, key_len, &b, NULL, &inner) != 0 || b.len != val_len ||
		    store_put(o->st, "other", 5, key, key_len, &inner) != 0)
			o->bad = true;
		buf_clear(&b);
	}
	if (key_len < sizeof(o->last)) {
		memcpy(o->last, key, key_len);
		o->last_len = key_len;
	}
	o->n++;
	return 0;
}

/* Puts m/0000 .. m/0699, each holding its own key, in one transaction, out of order. */
static void put_many_keys(struct store *st)
{
	static char keys[MANY_KEYS][8];
	struct store_op *ops = calloc(MANY_KEYS, sizeof(*ops));
	struct kl_err err = { 0 };
	int i;

	assert_non_null(ops);
	for (i = 0; i < MANY_KEYS; i++) {
		snprintf(keys[i], sizeof(keys[i]), "m/%04d", (i * 389) % MANY_KEYS);
		ops[i] = (struct store_op){ .kind = STORE_PUT, .key = keys[i], .key_len = 6,
					    .val = keys[i], .val_len = 6 };
	}
	assert_int_equal(store_txn(st, ops, MANY_KEYS, &err), 0);
	free(ops);
}

static void test_scan_visits_many_records_in_one_call(void **state)
{
	struct store *st = *state;
	struct in_order o = { 0 };
	struct kl_err err = { 0 };

	put_many_keys(st);
	suite_put(st, K("m."), K("m."));	/* neighbours on both sides */
	suite_put(st, K("m0"), K("m0"));
	assert_int_equal(store_scan(st, "m/", 2, NULL, 0, check_in_order, &o, &err), 0);
	assert_false(o.bad);
	assert_int_equal(o.n, MANY_KEYS);
	memset(&o, 0, sizeof(o));
	assert_int_equal(store_scan(st, "m/", 2, "m/0299", 6, check_in_order, &o, &err), 0);
	assert_false(o.bad);
	assert_int_equal(o.n, MANY_KEYS - 300);
}

/* The vault core reads and writes the store from inside scan callbacks. */
static void test_scan_callback_may_call_the_store(void **state)
{
	struct store *st = *state;
	struct in_order o = { .st = st };
	struct kl_err err = { 0 };

	put_many_keys(st);
	assert_int_equal(store_scan(st, "m/", 2, NULL, 0, check_in_order, &o, &err), 0);
	assert_false(o.bad);
	assert_int_equal(o.n, MANY_KEYS);
	suite_expect(st, K("other"), K("m/0699"), MANY_KEYS);
}

static void test_txn_failed_check_writes_nothing(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	const struct store_op ops[] = {
		{ .kind = STORE_PUT, .key = "y", .key_len = 1, .val = "2", .val_len = 1 },
		{ .kind = STORE_DEL, .key = "x", .key_len = 1 },
		{ .kind = STORE_PUT, .key = "x2", .key_len = 2, .val = "3", .val_len = 1 },
		{ .kind = STORE_CHECK, .key = "x", .key_len = 1, .version = 1 },
		{ .kind = STORE_CHECK, .key = "z", .key_len = 1, .version = 0 },
	};

	suite_put(st, K("x"), K("1"));
	suite_put(st, K("z"), K("1"));
	assert_int_equal(store_txn(st, ops, 5, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	assert_string_equal(err.msg, "the record changed concurrently");
	suite_expect_missing(st, K("y"));
	suite_expect_missing(st, K("x2"));
	suite_expect(st, K("x"), K("1"), 1);
	suite_expect(st, K("z"), K("1"), 1);
}

static void test_txn_checks_see_the_state_before_it(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	/* the check comes after the put in the list, and still sees version 1 */
	const struct store_op ops[] = {
		{ .kind = STORE_PUT, .key = "x", .key_len = 1, .val = "2", .val_len = 1 },
		{ .kind = STORE_CHECK, .key = "x", .key_len = 1, .version = 1 },
	};

	suite_put(st, K("x"), K("1"));
	assert_int_equal(store_txn(st, ops, 2, &err), 0);
	suite_expect(st, K("x"), K("2"), 2);
}

static void test_txn_create_if_absent(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	const struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = "new", .key_len = 3, .version = 0 },
		{ .kind = STORE_PUT, .key = "new", .key_len = 3, .val = "n", .val_len = 1 },
	};

	assert_int_equal(store_txn(st, ops, 2, &err), 0);
	suite_expect(st, K("new"), K("n"), 1);
	/* the same create-if-absent again fails: "new" exists now */
	assert_int_equal(store_txn(st, ops, 2, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	suite_expect(st, K("new"), K("n"), 1);
	/* and succeeds once it is gone again */
	assert_int_equal(store_del(st, "new", 3, &err), 0);
	assert_int_equal(store_txn(st, ops, 2, &err), 0);
	suite_expect(st, K("new"), K("n"), 1);
}

static void test_txn_stale_version_conflicts(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	struct buf b;
	uint64_t seen = 0;
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = "c", .key_len = 1 },
		{ .kind = STORE_PUT, .key = "c", .key_len = 1, .val = "mine", .val_len = 4 },
	};

	suite_put(st, K("c"), K("one"));
	buf_init(&b, 64);
	assert_int_equal(store_get(st, "c", 1, &b, &seen, &err), 0);
	buf_clear(&b);
	suite_put(st, K("c"), K("theirs"));	/* someone else wins the race */
	ops[0].version = seen;
	assert_int_equal(store_txn(st, ops, 2, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	suite_expect(st, K("c"), K("theirs"), 2);
	ops[0].version = 2;	/* with the fresh version it goes through */
	assert_int_equal(store_txn(st, ops, 2, &err), 0);
	suite_expect(st, K("c"), K("mine"), 3);
	ops[0].version = 4;	/* a version from the future is as wrong as a stale one */
	assert_int_equal(store_txn(st, ops, 2, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	/* a check on an absent key with a version fails, too */
	ops[0].key = "gone";
	ops[0].key_len = 4;
	ops[0].version = 1;
	assert_int_equal(store_txn(st, ops, 1, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
}

static void test_txn_of_puts_and_deletes(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	const struct store_op ops[] = {
		{ .kind = STORE_PUT, .key = "a", .key_len = 1, .val = "a1", .val_len = 2 },
		{ .kind = STORE_PUT, .key = "b", .key_len = 1, .val = "b1", .val_len = 2 },
		{ .kind = STORE_DEL, .key = "c", .key_len = 1 },
		{ .kind = STORE_PUT, .key = "a", .key_len = 1, .val = "a2", .val_len = 2 },
		{ .kind = STORE_DEL, .key = "never", .key_len = 5 },
		{ .kind = STORE_PUT, .key = "d", .key_len = 1, .val = "d1", .val_len = 2 },
		{ .kind = STORE_DEL, .key = "d", .key_len = 1 },
		{ .kind = STORE_DEL, .key = "e", .key_len = 1 },
		{ .kind = STORE_PUT, .key = "e", .key_len = 1, .val = NULL, .val_len = 0 },
	};

	suite_put(st, K("c"), K("c1"));
	suite_put(st, K("e"), K("e1"));
	assert_int_equal(store_txn(st, ops, sizeof(ops) / sizeof(ops[0]), &err), 0);
	suite_expect(st, K("a"), K("a2"), 2);	/* two puts in one transaction: two versions */
	suite_expect(st, K("b"), K("b1"), 1);
	suite_expect_missing(st, K("c"));
	suite_expect_missing(st, K("d"));	/* the ops apply in order */
	suite_expect(st, K("e"), K(""), 1);
	assert_int_equal(store_txn(st, NULL, 0, &err), 0);	/* an empty transaction */
}

static int count_keys(void *arg, const void *key, size_t key_len, const void *val,
		      size_t val_len, uint64_t version, struct kl_err *err)
{
	(void)key;
	(void)key_len;
	(void)val;
	(void)val_len;
	(void)version;
	(void)err;
	(*(size_t *)arg)++;
	return 0;
}

static void test_bad_keys(void **state)
{
	struct store *st = *state;
	char big[STORE_KEY_MAX + 1];
	size_t n = 0;
	struct kl_err err = { 0 };
	struct collected *c = calloc(1, sizeof(*c));
	struct buf b;
	const struct store_op mixed[] = {
		{ .kind = STORE_PUT, .key = "fine", .key_len = 4, .val = "v", .val_len = 1 },
		{ .kind = STORE_CHECK, .key = big, .key_len = sizeof(big) },
	};
	const struct store_op bad_del = { .kind = STORE_DEL, .key = "", .key_len = 0 };
	const struct store_op null_val = { .kind = STORE_PUT, .key = "k", .key_len = 1,
					   .val = NULL, .val_len = 3 };

	assert_non_null(c);
	buf_init(&b, 16);
	memset(big, 'k', sizeof(big));
	assert_int_equal(store_put(st, "", 0, "v", 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_put(st, NULL, 0, "v", 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_put(st, big, sizeof(big), "v", 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_get(st, big, sizeof(big), &b, NULL, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_get(st, "", 0, &b, NULL, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_del(st, big, sizeof(big), &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_txn(st, &bad_del, 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_txn(st, &null_val, 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_txn(st, mixed, 2, &err), -1);	/* one bad op: nothing written */
	assert_int_equal(err.code, KL_EINVAL);
	suite_expect_missing(st, K("fine"));
	assert_int_equal(store_scan(st, big, sizeof(big), NULL, 0, collect, c, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_scan(st, "", 0, big, sizeof(big), collect, c, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(c->n, 0);
	/* the longest key is fine everywhere */
	assert_int_equal(store_put(st, big, STORE_KEY_MAX, "v", 1, &err), 0);
	assert_int_equal(store_get(st, big, STORE_KEY_MAX, &b, NULL, &err), 0);
	assert_int_equal(store_scan(st, big, STORE_KEY_MAX, NULL, 0, count_keys, &n, &err), 0);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(store_scan(st, big, STORE_KEY_MAX - 1, big, STORE_KEY_MAX, count_keys, &n,
				    &err), 0);
	assert_int_equal(n, 0);	/* after the longest key: nothing more */
	buf_clear(&b);
	free(c);
}

static void test_large_value(void **state)
{
	struct store *st = *state;
	size_t n = 1024 * 1024;
	char *v = malloc(n);
	struct buf b;
	struct kl_err err = { 0 };
	uint64_t version = 0;
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = (char)(i * 31 + (i >> 12));
	buf_init(&b, n);
	suite_put(st, (struct suite_bytes){ "big", 3 }, (struct suite_bytes){ v, n });
	assert_int_equal(store_get(st, "big", 3, &b, &version, &err), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, v, n);
	assert_int_equal(version, 1);
	suite_put(st, K("big"), K("small now"));
	suite_expect(st, K("big"), K("small now"), 2);
	buf_clear(&b);
	free(v);
}

#define CAS_THREADS 2
#define CAS_INCREMENTS 500

struct cas_worker {
	struct store *st;
	int done;
	int conflicts;
	int failures;		/* neither success nor KL_ECONFLICT: the main thread asserts 0 */
	enum kl_errc last_failure;
};

/* Runs on its own thread: no cmocka asserts here, they longjmp on the main thread's stack. */
static void *cas_increments(void *arg)
{
	struct cas_worker *w = arg;

	while (w->done < CAS_INCREMENTS && w->failures == 0) {
		struct kl_err err = { 0 };
		struct buf b;
		uint64_t v = 0, n = 0;
		char out[32];
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = "ctr", .key_len = 3 },
			{ .kind = STORE_PUT, .key = "ctr", .key_len = 3, .val = out },
		};

		buf_init(&b, 64);
		if (store_get(w->st, "ctr", 3, &b, &v, &err) == 0) {
			n = strtoull(buf_cstr(&b), NULL, 10);
		} else if (err.code != KL_ENOTFOUND) {
			w->failures++;
			w->last_failure = err.code;
		}
		buf_clear(&b);
		snprintf(out, sizeof(out), "%llu", (unsigned long long)(n + 1));
		ops[0].version = v;
		ops[1].val_len = strlen(out);
		if (w->failures > 0) {
			break;
		} else if (store_txn(w->st, ops, 2, &err) == 0) {
			w->done++;
		} else if (err.code == KL_ECONFLICT) {
			w->conflicts++;
		} else {
			w->failures++;
			w->last_failure = err.code;
		}
	}
	return NULL;
}

static void test_concurrent_compare_and_swap(void **state)
{
	struct store *st = *state;
	struct cas_worker w[CAS_THREADS] = { 0 };
	pthread_t t[CAS_THREADS];
	int i;

	for (i = 0; i < CAS_THREADS; i++) {
		w[i].st = st;
		assert_int_equal(pthread_create(&t[i], NULL, cas_increments, &w[i]), 0);
	}
	for (i = 0; i < CAS_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (i = 0; i < CAS_THREADS; i++) {
		assert_int_equal(w[i].failures, 0);
		assert_int_equal(w[i].done, CAS_INCREMENTS);
	}
	suite_expect(st, K("ctr"), K("1000"), CAS_THREADS * CAS_INCREMENTS);
}

static void test_reopen_keeps_data(void **state)
{
	struct kl_err err = { 0 };
	const struct suite_bytes ab[] = { K("k\0a"), K("k\0b") };

	suite_put(*state, K("durable"), K("yes"));
	suite_put(*state, K("durable"), K("yes!"));
	suite_put(*state, K("k\0a"), K("\0"));
	suite_put(*state, K("k\0b"), K(""));
	suite_put(*state, K("k\0c"), K("dropped"));
	assert_int_equal(store_del(*state, "k\0c", 3, &err), 0);
	store_close(*state);
	*state = suite_backend->reopen(suite_backend->ctx);
	assert_non_null(*state);
	suite_expect(*state, K("durable"), K("yes!"), 2);
	suite_expect_missing(*state, K("k\0c"));
	suite_expect_scan(*state, K("k\0"), NULL, ab, 2);
	/* and it takes writes again, versions carrying on */
	suite_put(*state, K("durable"), K("still"));
	suite_expect(*state, K("durable"), K("still"), 3);
}

/* --- store_get_many ------------------------------------------------------------------------ */

/* reads[i] asks for keys[i]; each gets its own buffer of max bytes. */
static void suite_many_init(struct store_read *reads, struct buf *bufs,
			    const struct suite_bytes *keys, size_t n, size_t max)
{
	size_t i;

	for (i = 0; i < n; i++) {
		buf_init(&bufs[i], max);
		reads[i] = (struct store_read){ .key = keys[i].p, .key_len = keys[i].len,
						.val = &bufs[i], .version = 99, .found = true };
	}
}

static void suite_many_clear(struct buf *bufs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf_clear(&bufs[i]);
}

static void suite_many_expect(const struct store_read *r, bool found, struct suite_bytes v,
			      uint64_t version)
{
	assert_int_equal(r->found, found);
	assert_int_equal(r->version, version);
	assert_int_equal(r->val->len, v.len);
	if (v.len > 0)
		assert_memory_equal(r->val->data, v.p, v.len);
}

/* Present and absent keys together, binary keys, a key asked twice, an empty value; an absent key
 * is no error and leaves its buffer empty. */
static void test_get_many_present_and_absent(void **state)
{
	struct store *st = *state;
	const struct suite_bytes keys[STORE_MANY_MAX] = {
		K("ab"), K("a"), K("abc"), K("k\0\xff"), K("nope"), K("ab"), K("empty"), K("k\0"),
	};
	struct store_read reads[STORE_MANY_MAX];
	struct buf bufs[STORE_MANY_MAX];
	struct kl_err err = { 0 };

	suite_put(st, K("ab"), K("v1"));
	suite_put(st, K("ab"), K("v\0two"));
	suite_put(st, K("k\0\xff"), K("\xff\0"));
	suite_put(st, K("empty"), K(""));
	suite_many_init(reads, bufs, keys, STORE_MANY_MAX, 64);
	assert_int_equal(store_get_many(st, reads, STORE_MANY_MAX, &err), 0);
	suite_many_expect(&reads[0], true, K("v\0two"), 2);
	suite_many_expect(&reads[1], false, K(""), 0);	/* a prefix of a key */
	suite_many_expect(&reads[2], false, K(""), 0);	/* a key's extension */
	suite_many_expect(&reads[3], true, K("\xff\0"), 1);
	suite_many_expect(&reads[4], false, K(""), 0);
	suite_many_expect(&reads[5], true, K("v\0two"), 2);
	suite_many_expect(&reads[6], true, K(""), 1);
	suite_many_expect(&reads[7], false, K(""), 0);
	suite_many_clear(bufs, STORE_MANY_MAX);
	/* one key, and none at all */
	suite_many_init(reads, bufs, keys, 1, 64);
	assert_int_equal(store_get_many(st, reads, 1, &err), 0);
	suite_many_expect(&reads[0], true, K("v\0two"), 2);
	assert_int_equal(store_get_many(st, reads, 0, &err), 0);
	suite_many_clear(bufs, 1);
}

/* Each read sees what a store_get of its key sees, over many keys and rounds of writes. */
static void test_get_many_agrees_with_get(void **state)
{
	struct store *st = *state;
	char names[STORE_MANY_MAX][8], val[16];
	struct suite_bytes keys[STORE_MANY_MAX];
	struct store_read reads[STORE_MANY_MAX];
	struct buf bufs[STORE_MANY_MAX];
	struct kl_err err = { 0 };
	int round, i;

	for (i = 0; i < STORE_MANY_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "m/%d", i);
		keys[i] = (struct suite_bytes){ names[i], strlen(names[i]) };
	}
	for (round = 1; round <= 3; round++) {
		for (i = 0; i < STORE_MANY_MAX; i += round) {	/* fewer keys each round */
			snprintf(val, sizeof(val), "%d.%d", i, round);
			suite_put(st, keys[i], (struct suite_bytes){ val, strlen(val) });
		}
		suite_many_init(reads, bufs, keys, STORE_MANY_MAX, 64);
		assert_int_equal(store_get_many(st, reads, STORE_MANY_MAX, &err), 0);
		for (i = 0; i < STORE_MANY_MAX; i++) {
			struct buf one;
			struct suite_bytes got;
			uint64_t v = 0;

			buf_init(&one, 64);
			assert_int_equal(store_get(st, keys[i].p, keys[i].len, &one, &v, &err), 0);
			got = (struct suite_bytes){ (const char *)one.data, one.len };
			suite_many_expect(&reads[i], true, got, v);
			buf_clear(&one);
		}
		suite_many_clear(bufs, STORE_MANY_MAX);
	}
}

static void test_get_many_bad_reads(void **state)
{
	struct store *st = *state;
	char big[STORE_KEY_MAX + 1];
	struct suite_bytes keys[STORE_MANY_MAX + 1];
	struct store_read reads[STORE_MANY_MAX + 1];
	struct buf bufs[STORE_MANY_MAX + 1];
	struct kl_err err = { 0 };
	size_t i;

	memset(big, 'k', sizeof(big));
	for (i = 0; i <= STORE_MANY_MAX; i++)
		keys[i] = K("fine");
	suite_put(st, K("fine"), K("a value longer than eight bytes"));
	suite_many_init(reads, bufs, keys, STORE_MANY_MAX + 1, 64);
	assert_int_equal(store_get_many(st, reads, STORE_MANY_MAX + 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	kl_err_clear(&err);
	reads[1].key_len = 0;	/* empty */
	assert_int_equal(store_get_many(st, reads, 2, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	kl_err_clear(&err);
	reads[1].key = NULL;
	assert_int_equal(store_get_many(st, reads, 2, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	kl_err_clear(&err);
	reads[1].key = big;	/* one byte too long */
	reads[1].key_len = sizeof(big);
	assert_int_equal(store_get_many(st, reads, 2, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	kl_err_clear(&err);
	reads[1].key_len = STORE_KEY_MAX;	/* the longest key is fine, and absent */
	assert_int_equal(store_get_many(st, reads, 2, &err), 0);
	assert_true(reads[0].found && !reads[1].found);
	suite_many_clear(bufs, STORE_MANY_MAX + 1);
	/* a value larger than its buffer may hold */
	suite_many_init(reads, bufs, keys, 1, 8);
	assert_int_equal(store_get_many(st, reads, 1, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	suite_many_clear(bufs, 1);
}


static const char *const suite_watched[] = { "w/", "v/" };

static void test_watch_epoch(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	struct store_op ops[2];
	uint64_t e;

	assert_int_equal(store_epoch(st), 0);	/* nothing watched: no epoch */
	assert_int_equal(store_epoch_poll(st, &err), 0);
	assert_int_equal(store_watch(st, suite_watched, 2, "m/epoch", &err), 0);
	e = store_epoch(st);
	assert_int_not_equal(e, 0);
	/* the first poll moves the epoch: an entry filled before it is not trusted */
	assert_int_equal(store_epoch_poll(st, &err), 0);
	assert_true(store_epoch(st) > e);
	e = store_epoch(st);
	/* an unwatched write, a check alone under a watched prefix: no change */
	suite_put(st, K("x/1"), K("a"));
	ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = "w/1", .key_len = 3, .version = 0 };
	assert_int_equal(store_txn(st, ops, 1, &err), 0);
	assert_int_equal(store_epoch_poll(st, &err), 0);
	assert_int_equal(store_epoch(st), e);
	suite_expect_missing(st, K("m/epoch"));
	/* a watched put: the epoch key is written in the same transaction, the epoch grows */
	suite_put(st, K("w/1"), K("b"));
	assert_true(store_epoch(st) > e);
	suite_expect(st, K("m/epoch"), K(""), 1);
	/* the next poll does not count this node's own change again */
	e = store_epoch(st);
	assert_int_equal(store_epoch_poll(st, &err), 0);
	assert_int_equal(store_epoch(st), e);
	/* a watched delete among other ops */
	e = store_epoch(st);
	ops[0] = (struct store_op){ .kind = STORE_PUT, .key = "x/2", .key_len = 3, .val = "c",
				    .val_len = 1 };
	ops[1] = (struct store_op){ .kind = STORE_DEL, .key = "v/9", .key_len = 3 };
	assert_int_equal(store_txn(st, ops, 2, &err), 0);
	assert_true(store_epoch(st) > e);
	suite_expect(st, K("m/epoch"), K(""), 2);
	/* a failed watched transaction writes no epoch key either */
	ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = "x/2", .key_len = 3, .version = 7 };
	ops[1] = (struct store_op){ .kind = STORE_PUT, .key = "w/2", .key_len = 3, .val = "d",
				    .val_len = 1 };
	assert_int_equal(store_txn(st, ops, 2, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	suite_expect(st, K("m/epoch"), K(""), 2);
	suite_expect_missing(st, K("w/2"));
	/* another node's change (the epoch key written behind this node's back) is seen by the
	 * next poll, and only once */
	assert_int_equal(store_epoch_poll(st, &err), 0);
	e = store_epoch(st);
	suite_put(st, K("m/epoch"), K(""));
	assert_int_equal(store_epoch(st), e);
	assert_int_equal(store_epoch_poll(st, &err), 0);
	assert_int_equal(store_epoch(st), e + 1);
	assert_int_equal(store_epoch_poll(st, &err), 0);
	assert_int_equal(store_epoch(st), e + 1);
}

/* The write fence (store_fence): every write checks the fence key's version, and within a lease;
 * one that fails on either gets KL_EREADONLY and writes nothing; the fence's owner writes the key
 * itself with its own check; reads are never fenced. */
static void test_fence(void **state)
{
	struct store *st = *state;
	struct kl_err err = { 0 };
	struct store_op own[2];
	struct timespec now;
	uint64_t mono;

	clock_gettime(CLOCK_MONOTONIC, &now);
	mono = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	assert_int_equal(store_fence(st, "m/fence", &err), 0);
	suite_put(st, K("f/1"), K("a"));	/* version 0 (absent) is what writes check first */
	/* the owner's write of the key carries only its own check */
	own[0] = (struct store_op){ .kind = STORE_CHECK, .key = "m/fence", .key_len = 7,
				    .version = 0 };
	own[1] = (struct store_op){ .kind = STORE_PUT, .key = "m/fence", .key_len = 7,
				    .val = "e1", .val_len = 2 };
	assert_int_equal(store_txn(st, own, 2, &err), 0);
	/* the key moved under a writer that still checks version 0: refused, nothing written */
	assert_int_equal(store_put(st, "f/2", 3, "b", 1, &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	kl_err_clear(&err);
	suite_expect_missing(st, K("f/2"));
	suite_expect(st, K("f/1"), K("a"), 1);
	/* the owner gives the new version, and a lease still running */
	store_fence_set(st, 1, mono + 60000);
	suite_put(st, K("f/2"), K("b"));
	/* a lease that has run out: refused before anything is sent */
	store_fence_set(st, 1, 1);
	assert_int_equal(store_del(st, "f/2", 3, &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	kl_err_clear(&err);
	suite_expect(st, K("f/2"), K("b"), 1);
	/* a caller's own failed check is still a conflict, not the fence */
	store_fence_set(st, 1, 0);
	own[0] = (struct store_op){ .kind = STORE_CHECK, .key = "f/2", .key_len = 3, .version = 9 };
	own[1] = (struct store_op){ .kind = STORE_PUT, .key = "f/2", .key_len = 3, .val = "c",
				    .val_len = 1 };
	assert_int_equal(store_txn(st, own, 2, &err), -1);
	assert_int_equal(err.code, KL_ECONFLICT);
	kl_err_clear(&err);
	/* a version no record has fences every write */
	store_fence_set(st, UINT64_MAX, 0);
	assert_int_equal(store_put(st, "f/3", 3, "d", 1, &err), -1);
	assert_int_equal(err.code, KL_EREADONLY);
	suite_expect_missing(st, K("f/3"));
}

#define SUITE_TEST(f) cmocka_unit_test_setup_teardown(f, suite_setup, suite_teardown)

/* Runs the suite on backend; returns the number of failed tests. */
static int store_suite_run(struct store_suite_backend *backend)
{
	const struct CMUnitTest tests[] = {
		SUITE_TEST(test_get_missing),
		SUITE_TEST(test_put_get_binary_and_versions),
		SUITE_TEST(test_get_into_small_buffer),
		SUITE_TEST(test_delete),
		SUITE_TEST(test_scan_order_is_bytewise),
		SUITE_TEST(test_scan_prefix_excludes_neighbours),
		SUITE_TEST(test_scan_after_is_exclusive),
		SUITE_TEST(test_scan_reports_values_and_versions),
		SUITE_TEST(test_scan_stop_and_abort),
		SUITE_TEST(test_scan_pages_see_each_key_once),
		SUITE_TEST(test_scan_visits_many_records_in_one_call),
		SUITE_TEST(test_scan_callback_may_call_the_store),
		SUITE_TEST(test_txn_failed_check_writes_nothing),
		SUITE_TEST(test_txn_checks_see_the_state_before_it),
		SUITE_TEST(test_txn_create_if_absent),
		SUITE_TEST(test_txn_stale_version_conflicts),
		SUITE_TEST(test_txn_of_puts_and_deletes),
		SUITE_TEST(test_bad_keys),
		SUITE_TEST(test_large_value),
		SUITE_TEST(test_concurrent_compare_and_swap),
		SUITE_TEST(test_reopen_keeps_data),
		SUITE_TEST(test_get_many_present_and_absent),
		SUITE_TEST(test_get_many_agrees_with_get),
		SUITE_TEST(test_get_many_bad_reads),
		SUITE_TEST(test_watch_epoch),
		SUITE_TEST(test_fence),
	};

	suite_backend = backend;
	return cmocka_run_group_tests_name(backend->name, tests, NULL, NULL);
}

#endif
