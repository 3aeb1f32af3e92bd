/* util/rec: round trips, absent vs empty strings, truncation at every length, malformed fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/rec.h"

static void build_sample(struct buf *b)
{
	struct kl_err err = { 0 };

	buf_init(b, 4096);
	assert_int_equal(rec_put_u8(b, 0xab, &err), 0);
	assert_int_equal(rec_put_u64(b, 0x0102030405060708ull, &err), 0);
	assert_int_equal(rec_put_i64(b, -2, &err), 0);
	assert_int_equal(rec_put_i64(b, INT64_MIN, &err), 0);
	assert_int_equal(rec_put_bytes(b, "a\0b", 3, &err), 0);
	assert_int_equal(rec_put_bytes(b, NULL, 0, &err), 0);
	assert_int_equal(rec_put_str(b, "hello", &err), 0);
	assert_int_equal(rec_put_str(b, "", &err), 0);
	assert_int_equal(rec_put_str(b, NULL, &err), 0);
}

static void test_round_trip(void **state)
{
	struct rec_reader r;
	struct buf b;
	const unsigned char *p;
	size_t n;
	char *s;

	(void)state;
	build_sample(&b);
	rec_reader_init(&r, b.data, b.len);
	assert_int_equal(rec_get_u8(&r), 0xab);
	assert_true(rec_get_u64(&r) == 0x0102030405060708ull);
	assert_true(rec_get_i64(&r) == -2);
	assert_true(rec_get_i64(&r) == INT64_MIN);
	p = rec_get_bytes(&r, &n);
	assert_non_null(p);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "a\0b", 3);
	p = rec_get_bytes(&r, &n);
	assert_non_null(p);	/* empty, not absent */
	assert_int_equal(n, 0);
	s = rec_get_str(&r);
	assert_string_equal(s, "hello");
	free(s);
	s = rec_get_str(&r);
	assert_string_equal(s, "");	/* empty is not absent */
	free(s);
	assert_null(rec_get_str(&r));	/* absent */
	assert_false(r.bad);
	assert_true(rec_done(&r));
	buf_clear(&b);
}

static void test_wire_format_is_big_endian(void **state)
{
	static const unsigned char want[] = { 0x7f, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 2, 'h',
					      'i', 0xff, 0xff, 0xff, 0xff };
	struct kl_err err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(rec_put_u8(&b, 0x7f, &err), 0);
	assert_int_equal(rec_put_u64(&b, 0x0102, &err), 0);
	assert_int_equal(rec_put_str(&b, "hi", &err), 0);
	assert_int_equal(rec_put_str(&b, NULL, &err), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	buf_clear(&b);
}

/* Reads the sample layout, returning whether the reader stayed good. Frees what it gets. */
static bool read_sample(const unsigned char *p, size_t len)
{
	struct rec_reader r;
	size_t n;

	rec_reader_init(&r, p, len);
	(void)rec_get_u8(&r);
	(void)rec_get_u64(&r);
	(void)rec_get_i64(&r);
	(void)rec_get_i64(&r);
	(void)rec_get_bytes(&r, &n);
	(void)rec_get_bytes(&r, &n);
	free(rec_get_str(&r));
	free(rec_get_str(&r));
	free(rec_get_str(&r));
	assert_true(r.off <= r.len);
	return rec_done(&r);
}

static void test_truncated_input_sets_bad_at_every_length(void **state)
{
	unsigned char *copy;
	struct buf b;
	size_t len;

	(void)state;
	build_sample(&b);
	for (len = 0; len < b.len; len++) {
		/* An exact-size copy, so reading one byte too far trips the sanitizer too. */
		copy = malloc(len > 0 ? len : 1);
		assert_non_null(copy);
		memcpy(copy, b.data, len);
		assert_false(read_sample(copy, len));
		free(copy);
	}
	assert_true(read_sample(b.data, b.len));
	buf_clear(&b);
}

static void test_trailing_byte_is_not_done(void **state)
{
	struct kl_err err = { 0 };
	struct rec_reader r;
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(rec_put_u64(&b, 5, &err), 0);
	assert_int_equal(rec_put_u8(&b, 1, &err), 0);
	rec_reader_init(&r, b.data, b.len);
	assert_true(rec_get_u64(&r) == 5);
	assert_false(r.bad);
	assert_false(rec_done(&r));
	buf_clear(&b);
}

static void test_bad_is_sticky(void **state)
{
	static const unsigned char in[] = { 1, 2 };
	struct rec_reader r;

	(void)state;
	rec_reader_init(&r, in, sizeof(in));
	assert_true(rec_get_u64(&r) == 0);
	assert_true(r.bad);
	assert_int_equal(rec_get_u8(&r), 0);	/* a byte remains, but reading stopped */
	assert_false(rec_done(&r));
	rec_reader_init(&r, NULL, 0);
	assert_int_equal(rec_get_u8(&r), 0);
	assert_true(r.bad);
}

static void test_string_with_nul_sets_bad(void **state)
{
	static const unsigned char in[] = { 0, 0, 0, 3, 'a', 0, 'b' };
	struct rec_reader r;

	(void)state;
	rec_reader_init(&r, in, sizeof(in));
	assert_null(rec_get_str(&r));
	assert_true(r.bad);
}

/* A string into a fixed buffer: one that fits with its NUL; one exactly the buffer's size does
 * not (read past, the reader still good); an absent one is not a string; a NUL inside is damage. */
static void test_fixed_str(void **state)
{
	static const unsigned char in[] = { 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 4, 'w', 'x', 'y',
					    'z', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 'q', 0, 0, 0,
					    2, 'n', 0 };
	struct rec_reader r;
	char out[4] = "---";

	(void)state;
	rec_reader_init(&r, in, sizeof(in));
	assert_true(rec_get_fixed_str(&r, out, sizeof(out)));
	assert_string_equal(out, "abc");
	assert_false(rec_get_fixed_str(&r, out, sizeof(out)));	/* "wxyz" needs 5 */
	assert_string_equal(out, "abc");
	assert_false(rec_get_fixed_str(&r, out, sizeof(out)));	/* absent */
	assert_true(rec_get_fixed_str(&r, out, sizeof(out)));
	assert_string_equal(out, "q");
	assert_false(rec_get_fixed_str(&r, out, sizeof(out)));	/* "n\0" */
	assert_false(rec_done(&r));	/* bad */
}

static void test_absent_string_read_as_bytes_sets_bad(void **state)
{
	static const unsigned char in[] = { 0xff, 0xff, 0xff, 0xff };
	struct rec_reader r;
	size_t n = 7;

	(void)state;
	rec_reader_init(&r, in, sizeof(in));
	assert_null(rec_get_bytes(&r, &n));
	assert_int_equal(n, 0);
	assert_true(r.bad);
}

static void test_length_past_end_sets_bad(void **state)
{
	static const unsigned char in[] = { 0x7f, 0xff, 0xff, 0xff, 'a', 'b' };
	struct rec_reader r;
	size_t n;

	(void)state;
	rec_reader_init(&r, in, sizeof(in));
	assert_null(rec_get_bytes(&r, &n));
	assert_true(r.bad);
	rec_reader_init(&r, in, sizeof(in));
	assert_null(rec_get_str(&r));
	assert_true(r.bad);
}

static void test_field_too_large_is_refused_atomically(void **state)
{
	struct kl_err err = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(rec_put_bytes(&b, "x", (size_t)UINT32_MAX, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_int_equal(rec_put_u8(&b, 9, &err), 0);
	/* The length fits under the ceiling, the bytes do not: nothing stays behind. */
	assert_int_equal(rec_put_bytes(&b, "abcdefgh", 8, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_int_equal(b.len, 1);
	assert_int_equal(rec_put_u64(&b, 1, &err), 0);
	assert_int_equal(rec_put_u8(&b, 1, &err), 0);
	assert_int_equal(rec_put_u8(&b, 1, &err), -1);
	buf_clear(&b);
}

static void test_be64_helpers(void **state)
{
	unsigned char be[8];

	(void)state;
	rec_be64(be, 0x1122334455667788ull);
	assert_memory_equal(be, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	assert_true(rec_from_be64(be) == 0x1122334455667788ull);
	rec_be64(be, UINT64_MAX);
	assert_true(rec_from_be64(be) == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_wire_format_is_big_endian),
		cmocka_unit_test(test_truncated_input_sets_bad_at_every_length),
		cmocka_unit_test(test_trailing_byte_is_not_done),
		cmocka_unit_test(test_bad_is_sticky),
		cmocka_unit_test(test_string_with_nul_sets_bad),
		cmocka_unit_test(test_fixed_str),
		cmocka_unit_test(test_absent_string_read_as_bytes_sets_bad),
		cmocka_unit_test(test_length_past_end_sets_bad),
		cmocka_unit_test(test_field_too_large_is_refused_atomically),
		cmocka_unit_test(test_be64_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
