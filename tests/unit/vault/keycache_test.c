/* The parsed-key cache: hits (and their counts), forgetting a key's versions, and a key in use surviving eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/keyops.h"
#include "vault/keycache.h"

static struct keyops_key *oct(void)
{
	struct kl_err err = { 0 };
	struct keyops_key *k = keyops_generate_oct(128, &err);

	assert_non_null(k);
	return k;
}

static void test_hit_miss_and_forget(void **state)
{
	struct keycache *c = keycache_new(64);
	struct keycache_ref *a, *b;
	uint64_t hits, misses;

	(void)state;
	assert_null(keycache_get(c, "v/k/1"));
	a = keycache_put(c, "v/k/1", oct());
	b = keycache_get(c, "v/k/1");
	assert_ptr_equal(a, b);
	assert_ptr_equal(keycache_key(a), keycache_key(b));
	keycache_release(c, a);
	keycache_release(c, b);
	keycache_release(c, keycache_put(c, "v/k/2", oct()));
	keycache_release(c, keycache_put(c, "v/kk/1", oct()));
	keycache_forget(c, "v/k/");
	assert_null(keycache_get(c, "v/k/1"));
	assert_null(keycache_get(c, "v/k/2"));
	b = keycache_get(c, "v/kk/1");	/* another key whose name merely starts alike stays */
	assert_non_null(b);
	keycache_release(c, b);
	keycache_stats(c, &hits, &misses);	/* /metrics: kluis_keycache_{hits,misses}_total */
	assert_int_equal(hits, 2);
	assert_int_equal(misses, 3);
	keycache_free(c);
}

static void test_key_in_use_survives_eviction(void **state)
{
	struct keycache *c = keycache_new(1);	/* every put evicts the previous entry */
	struct keycache_ref *a, *b;
	struct buf out;
	struct keyops_input in = { .value = (const unsigned char *)"0123456789abcdef", .value_len = 16 };
	struct keyops_output o;
	struct kl_err err = { 0 };

	(void)state;
	buf_init_secret(&out, 1024);
	o = (struct keyops_output){ .out = &out };
	a = keycache_put(c, "v/a/1", oct());
	b = keycache_put(c, "v/b/1", oct());	/* evicts a, which is still in use */
	assert_null(keycache_get(c, "v/a/1"));
	assert_int_equal(keyops_encrypt(keycache_key(a), "A128GCM", &in, &o, &err), 0);
	keycache_release(c, a);			/* the last user: now it is freed (ASan checks) */
	keycache_forget(c, "");
	keycache_release(c, b);
	keycache_free(c);
	buf_clear(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_miss_and_forget),
		cmocka_unit_test(test_key_in_use_survives_eviction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
