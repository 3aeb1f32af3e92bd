/* util/b64url: RFC 4648 vectors, both alphabets, padding rules, strictness, failure atomicity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/b64url.h"

static const struct {
	const char *plain;
	const char *enc;
} rfc4648[] = {
	{ "", "" },	    { "f", "Zg" },	   { "fo", "Zm8" },	     { "foo", "Zm9v" },
	{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
};

static void test_rfc4648_vectors_encode(void **state)
{
	struct kl_err err = { 0 };
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		buf_init(&b, 100);
		const char *p = rfc4648[i].plain;

		assert_int_equal(b64url_encode(p, strlen(p), &b, &err), 0);
		assert_string_equal(buf_cstr(&b), rfc4648[i].enc);
		buf_clear(&b);
	}
}

static void decode_ok(const char *in, const void *want, size_t want_len)
{
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 1000);
	assert_int_equal(b64url_decode(in, strlen(in), &b, &err), 0);
	assert_int_equal(b.len, want_len);
	assert_memory_equal(b.data, want, want_len);
	assert_int_equal(b.data[b.len], '\0');
	buf_clear(&b);
}

static void decode_bad(const char *in, size_t n)
{
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 1000);
	assert_int_equal(buf_append_str(&b, "keep", &err), 0);
	assert_int_equal(b64url_decode(in, n, &b, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_string_equal(buf_cstr(&b), "keep");	/* nothing half-appended */
	assert_int_equal(b.len, 4);
	buf_clear(&b);
}

static void test_rfc4648_vectors_decode_unpadded_and_padded(void **state)
{
	static const char *padded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					"Zm9vYmFy" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
		decode_ok(rfc4648[i].enc, rfc4648[i].plain, strlen(rfc4648[i].plain));
		decode_ok(padded[i], rfc4648[i].plain, strlen(rfc4648[i].plain));
	}
}

static void test_both_alphabets(void **state)
{
	static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf, 0xfe };
	struct kl_err err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(b64url_encode(bytes, sizeof(bytes), &b, &err), 0);
	assert_string_equal(buf_cstr(&b), "-_-__g");	/* never '+', '/' or '=' */
	buf_clear(&b);
	decode_ok("-_-__g", bytes, sizeof(bytes));
	decode_ok("+/+//g", bytes, sizeof(bytes));
	decode_ok("+/+//g==", bytes, sizeof(bytes));
	decode_ok("-_+/_g", bytes, sizeof(bytes));
}

static void test_padding_rules(void **state)
{
	(void)state;
	decode_bad("Zg=", 3);		/* padding that does not complete the quantum */
	decode_bad("Zg===", 5);
	decode_bad("Zm8==", 5);
	decode_bad("Zm9v=", 5);
	decode_bad("Zm9v====", 8);
	decode_bad("=", 1);
	decode_bad("==", 2);
	decode_bad("====", 4);
	decode_bad("=Zg=", 4);
	decode_bad("Z=g=", 4);
	decode_bad("Zg==Zg==", 8);	/* padding in the middle */
	decode_bad("Zg==Zg", 6);
}

static void test_impossible_length(void **state)
{
	(void)state;
	decode_bad("Z", 1);
	decode_bad("Zm9vY", 5);
	decode_bad("Zm9vYmFyZ", 9);
}

static void test_bad_characters(void **state)
{
	(void)state;
	decode_bad("Zm9v ", 5);
	decode_bad(" Zm9v", 5);
	decode_bad("Zm9\nv", 5);
	decode_bad("Zm9v\r\n", 6);
	decode_bad("Zm.v", 4);
	decode_bad("Zm9*", 4);
	decode_bad("Zm\0v", 4);
	decode_bad("Zm9v\xc3\xa9Zg", 8);
	decode_bad("Zm9vY!", 6);
}

static void test_non_zero_trailing_bits(void **state)
{
	(void)state;
	decode_bad("Zh", 2);	/* 'h' leaves 4 set bits after one byte */
	decode_bad("Zh==", 4);
	decode_bad("Zm9", 3);	/* '9' leaves 2 set bits after two bytes */
	decode_bad("Zm9=", 4);
	decode_ok("Zg", "f", 1);
	decode_ok("Zm8", "fo", 2);
}

static void test_round_trip_every_length(void **state)
{
	unsigned char data[700];
	struct kl_err err = { 0 };
	struct buf enc, dec;
	size_t n, i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + 7);
	for (n = 0; n <= sizeof(data); n += (n < 20 ? 1 : 37)) {
		buf_init(&enc, 2000);
		buf_init(&dec, 2000);
		assert_int_equal(b64url_encode(data, n, &enc, &err), 0);
		assert_int_equal(enc.len, (n * 4 + 2) / 3);
		assert_int_equal(b64url_decode(buf_cstr(&enc), enc.len, &dec, &err), 0);
		assert_int_equal(dec.len, n);
		if (n > 0)
			assert_memory_equal(dec.data, data, n);
		buf_clear(&enc);
		buf_clear(&dec);
	}
}

static void test_appends_after_existing_contents(void **state)
{
	struct kl_err err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append_str(&b, "x=", &err), 0);
	assert_int_equal(b64url_encode("foo", 3, &b, &err), 0);
	assert_int_equal(b64url_decode("YmFy", 4, &b, &err), 0);
	assert_string_equal(buf_cstr(&b), "x=Zm9vbar");
	buf_clear(&b);
}

static void test_ceiling_failure_is_atomic(void **state)
{
	unsigned char data[600] = { 0 };
	struct kl_err err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 500);
	assert_int_equal(buf_append_str(&b, "ab", &err), 0);
	assert_int_equal(b64url_encode(data, sizeof(data), &b, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_string_equal(buf_cstr(&b), "ab");
	buf_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors_encode),
		cmocka_unit_test(test_rfc4648_vectors_decode_unpadded_and_padded),
		cmocka_unit_test(test_both_alphabets),
		cmocka_unit_test(test_padding_rules),
		cmocka_unit_test(test_impossible_length),
		cmocka_unit_test(test_bad_characters),
		cmocka_unit_test(test_non_zero_trailing_bits),
		cmocka_unit_test(test_round_trip_every_length),
		cmocka_unit_test(test_appends_after_existing_contents),
		cmocka_unit_test(test_ceiling_failure_is_atomic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
