/* util/hash: FNV-1a's published 64-bit test vectors, and bytes past a NUL counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/hash.h"

static void test_known_vectors(void **state)
{
	(void)state;
	assert_true(hash_fnv1a("", 0) == 0xcbf29ce484222325ULL);
	assert_true(hash_fnv1a("a", 1) == 0xaf63dc4c8601ec8cULL);
	assert_true(hash_fnv1a("foobar", 6) == 0x85944171f73967e8ULL);
}

static void test_every_byte_counts(void **state)
{
	(void)state;
	assert_true(hash_fnv1a("a\0b", 3) != hash_fnv1a("a\0c", 3));
	assert_true(hash_fnv1a("a\0b", 3) != hash_fnv1a("a", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_every_byte_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
