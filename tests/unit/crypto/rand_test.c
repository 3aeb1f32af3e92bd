/* crypto/rand: bytes, hex and version-4 UUIDs. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/rand.h"

static void test_random_bytes_differ(void **state)
{
	unsigned char a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };
	struct kl_err err = { 0 };

	(void)state;
	assert_int_equal(crypto_random(a, sizeof(a), &err), 0);
	assert_int_equal(crypto_random(b, sizeof(b), &err), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_int_equal(crypto_random(a, 0, &err), 0);
}

static void test_hex(void **state)
{
	char a[2 * 40 + 1], b[2 * 40 + 1];
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	memset(a, 'X', sizeof(a));
	assert_int_equal(crypto_random_hex(a, 40, &err), 0);	/* more than one internal chunk */
	assert_int_equal(strlen(a), 80);
	for (i = 0; i < 80; i++)
		assert_true(isdigit((unsigned char)a[i]) || (a[i] >= 'a' && a[i] <= 'f'));
	assert_int_equal(crypto_random_hex(b, 40, &err), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(crypto_random_hex(a, 16, &err), 0);
	assert_int_equal(strlen(a), 32);
	assert_int_equal(crypto_random_hex(a, 0, &err), 0);
	assert_string_equal(a, "");
}

static void test_uuid_v4_format(void **state)
{
	char u[37], v[37];
	struct kl_err err = { 0 };
	int i, n;

	(void)state;
	for (n = 0; n < 200; n++) {
		assert_int_equal(crypto_random_uuid(u, &err), 0);
		assert_int_equal(strlen(u), 36);
		for (i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(u[i], '-');
			else
				assert_non_null(strchr("0123456789abcdef", u[i]));
		}
		assert_int_equal(u[14], '4');
		assert_non_null(strchr("89ab", u[19]));
	}
	assert_int_equal(crypto_random_uuid(v, &err), 0);
	assert_string_not_equal(u, v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_bytes_differ),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_uuid_v4_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
