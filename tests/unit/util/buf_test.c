/* util/buf: appends, NUL termination, the ceiling, size overflow, wiping, steal/reset/clear. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

static bool all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static void test_empty_buffer_reads_as_empty_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_null(b.data);
	assert_string_equal(buf_cstr(&b), "");
	buf_clear(&b);
	buf_clear(&b);	/* twice is fine */
}

static void test_append_keeps_nul_terminated(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(buf_append(&b, "", 0, &err), 0);
	assert_non_null(b.data);
	assert_int_equal(b.data[0], '\0');
	assert_int_equal(buf_append(&b, "abc", 3, &err), 0);
	assert_int_equal(buf_putc(&b, 'd', &err), 0);
	assert_int_equal(buf_append_str(&b, "ef", &err), 0);
	assert_int_equal(buf_printf(&b, &err, "-%d-%s", 42, "x"), 0);
	assert_string_equal(buf_cstr(&b), "abcdef-42-x");
	assert_int_equal(b.len, 11);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	buf_clear(&b);
}

static void test_growth_keeps_contents(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	buf_init(&b, 1u << 20);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_putc(&b, (char)('a' + i % 26), &err), 0);
	assert_int_equal(b.len, 100000);
	for (i = 0; i < 100000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	assert_int_equal(b.data[b.len], '\0');
	assert_true(b.cap <= (1u << 20) + 1);
	buf_clear(&b);
}

static void test_ceiling_is_exact_and_failure_leaves_buffer_unchanged(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_append(&b, "0123456789", 10, &err), 0);
	assert_int_equal(b.cap, 11);	/* never more than the ceiling needs */
	assert_int_equal(buf_putc(&b, 'x', &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_string_equal(buf_cstr(&b), "0123456789");
	assert_int_equal(b.len, 10);
	buf_reset(&b);
	assert_int_equal(buf_append(&b, "01234567890", 11, &err), -1);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_clear(&b);
}

static void test_zero_ceiling(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "", 0, &err), 0);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_putc(&b, 'a', &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	buf_clear(&b);
}

static void test_size_overflow_is_refused(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };

	(void)state;
	buf_init(&b, SIZE_MAX);
	assert_int_equal(buf_append(&b, "abc", 3, &err), 0);
	/* len + n and len + n + 1 would wrap: refused before any memory is touched. */
	assert_int_equal(buf_append(&b, "x", SIZE_MAX, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 3, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_string_equal(buf_cstr(&b), "abc");
	buf_clear(&b);
}

static void test_printf_respects_ceiling(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_printf(&b, &err, "%s", "1234"), 0);
	assert_int_equal(buf_printf(&b, &err, "%d", 56789), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_string_equal(buf_cstr(&b), "1234");
	assert_int_equal(buf_printf(&b, &err, "%d", 5678), 0);
	assert_string_equal(buf_cstr(&b), "12345678");
	buf_clear(&b);
}

static void test_printf_long_output(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };
	char big[5000];

	(void)state;
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 10000);
	assert_int_equal(buf_printf(&b, &err, "<%s>", big), 0);
	assert_int_equal(b.len, sizeof(big) + 1);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[b.len - 1], '>');
	buf_clear(&b);
}

static void test_secret_reset_and_truncate_wipe(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };

	(void)state;
	buf_init_secret(&b, 1000);
	assert_true(b.wipe);
	assert_int_equal(buf_append_str(&b, "top secret value", &err), 0);
	buf_truncate(&b, 3);
	assert_string_equal(buf_cstr(&b), "top");
	assert_true(all_zero(b.data + 3, 16 - 3));
	buf_truncate(&b, 10);	/* longer than the contents: nothing happens */
	assert_string_equal(buf_cstr(&b), "top");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_true(all_zero(b.data, b.cap));
	/* Growth of a secret buffer moves the contents intact. */
	assert_int_equal(buf_append_str(&b, "abc", &err), 0);
	assert_int_equal(buf_append(&b, NULL, 0, &err), 0);
	for (int i = 0; i < 200; i++)
		assert_int_equal(buf_putc(&b, 'z', &err), 0);
	assert_int_equal(memcmp(b.data, "abczzz", 6), 0);
	assert_int_equal(b.len, 203);
	buf_clear(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
}

static void test_steal_hands_over_memory(void **state)
{
	struct buf b;
	struct kl_err err = { 0 };
	unsigned char *p;
	size_t n = 99;

	(void)state;
	buf_init(&b, 100);
	p = buf_steal(&b, &n);
	assert_null(p);
	assert_int_equal(n, 0);
	assert_int_equal(buf_append_str(&b, "hello", &err), 0);
	p = buf_steal(&b, &n);
	assert_non_null(p);
	assert_int_equal(n, 5);
	assert_string_equal((char *)p, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* The buffer is usable again, with the same ceiling. */
	assert_int_equal(buf_append_str(&b, "again", &err), 0);
	assert_string_equal(buf_cstr(&b), "again");
	free(p);
	buf_clear(&b);
}

/* A buffer on the caller's storage: contents that fit stay there (no allocation: the pointer is
 * the storage's); growth past it moves them to the heap, whole, and leaves a secret buffer's
 * storage wiped; clear and steal never hand the storage to free (ASan would catch that). */
static void test_borrowed_storage(void **state)
{
	struct kl_err err = { 0 };
	unsigned char store[8];
	unsigned char *p;
	struct buf b;
	size_t n, i;

	(void)state;
	buf_init_on(&b, 100, store, sizeof(store));
	assert_int_equal(buf_append_str(&b, "1234567", &err), 0);	/* 7 bytes and the NUL */
	assert_ptr_equal(b.data, store);
	assert_string_equal(buf_cstr(&b), "1234567");
	buf_clear(&b);

	buf_init_on(&b, 100, store, sizeof(store));
	b.wipe = true;
	assert_int_equal(buf_append_str(&b, "12345", &err), 0);
	assert_int_equal(buf_append_str(&b, "6789", &err), 0);	/* past the storage */
	assert_ptr_not_equal(b.data, store);
	assert_string_equal(buf_cstr(&b), "123456789");
	for (i = 0; i < sizeof(store); i++)
		assert_int_equal(store[i], 0);
	buf_clear(&b);

	buf_init_on(&b, 4, store, sizeof(store));
	assert_int_equal(buf_append_str(&b, "12345", &err), -1);	/* the ceiling still holds */
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_int_equal(buf_append_str(&b, "abc", &err), 0);
	p = buf_steal(&b, &n);
	assert_ptr_not_equal(p, store);
	assert_int_equal(n, 3);
	assert_string_equal((char *)p, "abc");
	free(p);
	buf_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_buffer_reads_as_empty_string),
		cmocka_unit_test(test_append_keeps_nul_terminated),
		cmocka_unit_test(test_growth_keeps_contents),
		cmocka_unit_test(test_ceiling_is_exact_and_failure_leaves_buffer_unchanged),
		cmocka_unit_test(test_zero_ceiling),
		cmocka_unit_test(test_size_overflow_is_refused),
		cmocka_unit_test(test_printf_respects_ceiling),
		cmocka_unit_test(test_printf_long_output),
		cmocka_unit_test(test_secret_reset_and_truncate_wipe),
		cmocka_unit_test(test_steal_hands_over_memory),
		cmocka_unit_test(test_borrowed_storage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
