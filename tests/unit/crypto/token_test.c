/* crypto/token: token text, SHA-256 digests (FIPS 180-2 vector), constant-time matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/token.h"

static void test_new_token_format(void **state)
{
	char a[TOKEN_TEXT_LEN], b[TOKEN_TEXT_LEN];
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	assert_int_equal(token_new(a, &err), 0);
	assert_int_equal(strlen(a), 47);
	assert_memory_equal(a, "kl1.", 4);
	for (i = 4; i < 47; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789-_", a[i]));
	assert_int_equal(token_new(b, &err), 0);
	assert_string_not_equal(a, b);
}

static void test_digest_is_sha256(void **state)
{
	static const unsigned char abc[TOKEN_DIGEST_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	static const unsigned char empty[TOKEN_DIGEST_LEN] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	unsigned char d[TOKEN_DIGEST_LEN];
	struct kl_err err = { 0 };

	(void)state;
	assert_int_equal(token_digest("abc", 3, d, &err), 0);
	assert_memory_equal(d, abc, sizeof(d));
	assert_int_equal(token_digest("", 0, d, &err), 0);
	assert_memory_equal(d, empty, sizeof(d));
}

static void test_matches(void **state)
{
	char tok[TOKEN_TEXT_LEN], other[TOKEN_TEXT_LEN];
	unsigned char d[TOKEN_DIGEST_LEN];
	struct kl_err err = { 0 };
	size_t n;

	(void)state;
	assert_int_equal(token_new(tok, &err), 0);
	n = strlen(tok);
	assert_int_equal(token_digest(tok, n, d, &err), 0);
	assert_true(token_matches(tok, n, d));
	assert_false(token_matches(tok, n - 1, d));	/* a prefix */
	assert_false(token_matches("", 0, d));
	assert_false(token_matches(NULL, 0, d));
	memcpy(other, tok, sizeof(other));
	other[n - 1] = other[n - 1] == 'A' ? 'B' : 'A';
	assert_false(token_matches(other, n, d));
	assert_int_equal(token_new(other, &err), 0);
	assert_false(token_matches(other, strlen(other), d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_token_format),
		cmocka_unit_test(test_digest_is_sha256),
		cmocka_unit_test(test_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
