/* The store conformance suite: every backend runs these same tests. A backend's test file fills a
 * struct store_suite_backend and calls store_suite_run(). Header-only (static functions) so that
 * each backend's test binary stands alone. */
#ifndef KLUIS_TESTS_STORE_SUITE_H
#define KLUIS_TESTS_STORE_SUITE_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

struct store_suite_backend {
	const char *name;
	/* A store with no records; the suite closes it with store_close. */
	struct store *(*open_fresh)(void *ctx);
	/* The store that open_fresh made last, closed and opened again. */
	struct store *(*reopen)(void *ctx);
	void *ctx;
};

static struct store_suite_backend *suite_backend;

static int suite_setup(void **state)
{
	*state = suite_backend->open_fresh(suite_backend->ctx);
	return *state == NULL ? -1 : 0;
}

static int suite_teardown(void **state)
{
	store_close(*state);
	return 0;
}

static void suite_put(struct store *st, const char *k, size_t kl, const char *v, size_t vl)
{
	struct kl_err err = { 0 };

	assert_int_equal(store_put(st, k, kl, v, vl, &err), 0);
}

static void test_get_missing(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };

	buf_init(&b, 1024);
	assert_int_equal(store_get(*state, "nope", 4, &b, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	buf_clear(&b);
}

static void test_put_get_binary_and_versions(void **state)
{
	struct store *st = *state;
	static const char key[] = { 'k', 0, '\xff', 'z' };
	static const char val[] = { 0, 1, 2, 0, '\xfe' };
	struct buf b;
	struct kl_err err = { 0 };
	uint64_t v = 0;

	buf_init(&b, 1024);
	suite_put(st, key, sizeof(key), val, sizeof(val));
	assert_int_equal(store_get(st, key, sizeof(key), &b, &v, &err), 0);
	assert_int_equal(b.len, sizeof(val));
	assert_memory_equal(b.data, val, sizeof(val));
	assert_int_equal(v, 1);
	suite_put(st, key, sizeof(key), "", 0);
	buf_reset(&b);
	assert_int_equal(store_get(st, key, sizeof(key), &b, &v, &err), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(v, 2);
	suite_put(st, key, sizeof(key), "x", 1);
	buf_reset(&b);
	assert_int_equal(store_get(st, key, sizeof(key), &b, &v, &err), 0);
	assert_int_equal(v, 3);
	buf_clear(&b);
}

static void test_delete(void **state)
{
	struct store *st = *state;
	struct buf b;
	struct kl_err err = { 0 };

	buf_init(&b, 1024);
	suite_put(st, "d", 1, "v", 1);
	assert_int_equal(store_del(st, "d", 1, &err), 0);
	assert_int_equal(store_get(st, "d", 1, &b, NULL, &err), -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_int_equal(store_del(st, "never", 5, &err), 0);
	buf_clear(&b);
}

struct collected {
	char keys[64][16];
	size_t lens[64];
	size_t n;
	size_t stop_after;	/* 0: never */
	bool fail;
};

static int collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		   uint64_t version, struct kl_err *err)
{
	struct collected *c = arg;

	(void)val;
	(void)val_len;
	assert_true(version >= 1);
	if (c->fail)
		return kl_fail(err, KL_EINVAL, "callback refused");
	assert_true(c->n < 64 && key_len < 16);
	memcpy(c->keys[c->n], key, key_len);
	c->lens[c->n++] = key_len;
	return c->stop_after && c->n == c->stop_after ? 1 : 0;
}

static void test_scan_order_and_prefix(void **state)
{
	struct store *st = *state;
	struct collected c = { 0 };
	struct kl_err err = { 0 };

	suite_put(st, "b", 1, "", 0);
	suite_put(st, "a\xff", 2, "", 0);
	suite_put(st, "a", 1, "", 0);
	suite_put(st, "a\0", 2, "", 0);
	suite_put(st, "ab", 2, "", 0);
	suite_put(st, "`", 1, "", 0);
	assert_int_equal(store_scan(st, "a", 1, NULL, 0, collect, &c, &err), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.lens[0], 1);
	assert_memory_equal(c.keys[1], "a\0", 2);
	assert_memory_equal(c.keys[2], "ab", 2);
	assert_memory_equal(c.keys[3], "a\xff", 2);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_scan(st, "", 0, NULL, 0, collect, &c, &err), 0);
	assert_int_equal(c.n, 6);
	assert_memory_equal(c.keys[0], "`", 1);
	assert_memory_equal(c.keys[5], "b", 1);
	/* after: strictly after that key, still inside the prefix */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_scan(st, "a", 1, "a\0", 2, collect, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.keys[0], "ab", 2);
	/* after below the prefix starts at the prefix */
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_scan(st, "a", 1, "0", 1, collect, &c, &err), 0);
	assert_int_equal(c.n, 4);
	/* stop and abort */
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(store_scan(st, "", 0, NULL, 0, collect, &c, &err), 0);
	assert_int_equal(c.n, 2);
	memset(&c, 0, sizeof(c));
	c.fail = true;
	assert_int_equal(store_scan(st, "", 0, NULL, 0, collect, &c, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
}

struct pager {
	char last[16];
	size_t last_len;
	size_t n, seen;
	unsigned char hits[1000];
};

static int page_collect(void *arg, const void *key, size_t key_len, const void *val,
			size_t val_len, uint64_t version, struct kl_err *err)
{
	struct pager *p = arg;
	int i;

	(void)val;
	(void)val_len;
	(void)version;
	(void)err;
	assert_int_equal(sscanf((const char *)key + 2, "%4d", &i), 1);
	p->hits[i]++;
	memcpy(p->last, key, key_len);
	p->last_len = key_len;
	p->seen++;
	return ++p->n == 25 ? 1 : 0;
}

static void test_scan_pages_see_each_key_once(void **state)
{
	struct store *st = *state;
	struct pager p = { 0 };
	struct kl_err err = { 0 };
	char key[16];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "p/%04d", (i * 7919) % 1000);
		suite_put(st, key, strlen(key), "v", 1);
	}
	suite_put(st, "q", 1, "", 0);
	do {
		p.n = 0;
		assert_int_equal(store_scan(st, "p/", 2, p.last_len ? p.last : NULL, p.last_len,
					    page_collect, &p, &err), 0);
	} while (p.n == 25);
	assert_int_equal(p.seen, 1000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(p.hits[i], 1);
}

static void test_txn_all_or_nothing(void **state)
{
	struct store *st = *state;
	struct buf b;
	struct kl_err err = { 0 };
	uint64_t v;

	buf_init(&b, 1024);
	suite_put(st, "x", 1, "1", 1);
	{
		struct store_op ops[] = {
			{ .kind = STORE_PUT, .key = "y", .key_len = 1, .val = "2", .val_len = 1 },
			{ .kind = STORE_DEL, .key = "x", .key_len = 1 },
			{ .kind = STORE_CHECK, .key = "x", .key_len = 1, .version = 7 },
		};
		assert_int_equal(store_txn(st, ops, 3, &err), -1);
		assert_int_equal(err.code, KL_ECONFLICT);
	}
	assert_int_equal(store_get(st, "y", 1, &b, NULL, &err), -1);
	assert_int_equal(store_get(st, "x", 1, &b, &v, &err), 0);
	assert_int_equal(v, 1);
	{
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = "x", .key_len = 1, .version = 1 },
			{ .kind = STORE_CHECK, .key = "new", .key_len = 3, .version = 0 },
			{ .kind = STORE_PUT, .key = "new", .key_len = 3, .val = "n", .val_len = 1 },
			{ .kind = STORE_DEL, .key = "x", .key_len = 1 },
		};
		assert_int_equal(store_txn(st, ops, 4, &err), 0);
		/* the same create-if-absent again fails: "new" exists now */
		assert_int_equal(store_txn(st, ops + 1, 2, &err), -1);
		assert_int_equal(err.code, KL_ECONFLICT);
	}
	buf_reset(&b);
	assert_int_equal(store_get(st, "new", 3, &b, NULL, &err), 0);
	assert_int_equal(store_get(st, "x", 1, &b, NULL, &err), -1);
	buf_clear(&b);
}

static void test_bad_keys(void **state)
{
	struct store *st = *state;
	char big[STORE_KEY_MAX + 1];
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 16);
	memset(big, 'k', sizeof(big));
	assert_int_equal(store_put(st, "", 0, "v", 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_put(st, big, sizeof(big), "v", 1, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_get(st, big, sizeof(big), &b, NULL, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(store_put(st, big, STORE_KEY_MAX, "v", 1, &err), 0);
	buf_clear(&b);
}

static void test_large_value(void **state)
{
	struct store *st = *state;
	size_t n = 1024 * 1024;
	char *v = malloc(n);
	struct buf b;
	struct kl_err err = { 0 };
	size_t i;

	assert_non_null(v);
	for (i = 0; i < n; i++)
		v[i] = (char)(i * 31);
	buf_init(&b, 2 * n);
	suite_put(st, "big", 3, v, n);
	assert_int_equal(store_get(st, "big", 3, &b, NULL, &err), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, v, n);
	buf_clear(&b);
	free(v);
}

static void *cas_increments(void *arg)
{
	struct store *st = arg;
	int done = 0;

	while (done < 500) {
		struct buf b;
		struct kl_err err = { 0 };
		uint64_t v = 0, n = 0;
		char out[32];

		buf_init(&b, 64);
		if (store_get(st, "ctr", 3, &b, &v, &err) == 0)
			n = strtoull(buf_cstr(&b), NULL, 10);
		snprintf(out, sizeof(out), "%llu", (unsigned long long)(n + 1));
		{
			struct store_op ops[] = {
				{ .kind = STORE_CHECK, .key = "ctr", .key_len = 3, .version = v },
				{ .kind = STORE_PUT, .key = "ctr", .key_len = 3, .val = out,
				  .val_len = strlen(out) },
			};
			if (store_txn(st, ops, 2, &err) == 0)
				done++;
			else
				assert_int_equal(err.code, KL_ECONFLICT);
		}
		buf_clear(&b);
	}
	return NULL;
}

static void test_concurrent_compare_and_swap(void **state)
{
	struct store *st = *state;
	pthread_t t[2];
	struct buf b;
	struct kl_err err = { 0 };

	buf_init(&b, 64);
	assert_int_equal(pthread_create(&t[0], NULL, cas_increments, st), 0);
	assert_int_equal(pthread_create(&t[1], NULL, cas_increments, st), 0);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	assert_int_equal(store_get(st, "ctr", 3, &b, NULL, &err), 0);
	assert_string_equal(buf_cstr(&b), "1000");
	buf_clear(&b);
}

static void test_reopen_keeps_data(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };
	uint64_t v;

	buf_init(&b, 64);
	suite_put(*state, "durable", 7, "yes", 3);
	suite_put(*state, "durable", 7, "yes!", 4);
	store_close(*state);
	*state = suite_backend->reopen(suite_backend->ctx);
	assert_non_null(*state);
	assert_int_equal(store_get(*state, "durable", 7, &b, &v, &err), 0);
	assert_string_equal(buf_cstr(&b), "yes!");
	assert_int_equal(v, 2);
	buf_clear(&b);
}

static int store_suite_run(struct store_suite_backend *backend)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_missing, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_put_get_binary_and_versions, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_delete, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_scan_order_and_prefix, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_scan_pages_see_each_key_once, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_txn_all_or_nothing, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_bad_keys, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_large_value, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_compare_and_swap, suite_setup, suite_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, suite_setup, suite_teardown),
	};

	suite_backend = backend;
	return _cmocka_run_group_tests(backend->name, tests, sizeof(tests) / sizeof(tests[0]), NULL,
				       NULL);
}

#endif
