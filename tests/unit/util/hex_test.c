/* util/hex: encoding every byte value, digit values of both cases, the id shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/hex.h"

static void test_encode_every_byte(void **state)
{
	unsigned char all[256];
	char out[2 * 256 + 1], want[3];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	memset(out, 'x', sizeof(out));
	hex_encode(all, sizeof(all), out);
	assert_int_equal(strlen(out), 512);
	for (i = 0; i < sizeof(all); i++) {
		snprintf(want, sizeof(want), "%02x", (unsigned)i);
		assert_memory_equal(out + 2 * i, want, 2);
	}
	hex_encode(all, 0, out);
	assert_string_equal(out, "");
}

static void test_value(void **state)
{
	const char *digits = "0123456789abcdef", *upper = "ABCDEF";
	int i;

	(void)state;
	for (i = 0; i < 16; i++)
		assert_int_equal(hex_value(digits[i]), i);
	for (i = 0; i < 6; i++)
		assert_int_equal(hex_value(upper[i]), 10 + i);
	assert_int_equal(hex_value('g'), -1);
	assert_int_equal(hex_value('G'), -1);
	assert_int_equal(hex_value('/'), -1);
	assert_int_equal(hex_value(':'), -1);
	assert_int_equal(hex_value('\0'), -1);
}

static void test_is_uuid(void **state)
{
	(void)state;
	assert_true(hex_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	assert_false(hex_is_uuid("0F8FAD5B-d9cb-469f-a165-70867728950e"));	/* kluis writes lowercase */
	assert_false(hex_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));	/* 35 */
	assert_false(hex_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e0"));	/* 37 */
	assert_false(hex_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950g"));
	assert_false(hex_is_uuid("../../../../../../../../../../../../"));
	assert_false(hex_is_uuid(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_every_byte),
		cmocka_unit_test(test_value),
		cmocka_unit_test(test_is_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
