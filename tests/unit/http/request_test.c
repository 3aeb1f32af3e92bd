/* http_unescape: percent-decoding of paths and query parameters, which never yields a NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/internal.h"

static void check(const char *in, const char *want)
{
	char s[128];
	size_t n;

	snprintf(s, sizeof(s), "%s", in);
	n = http_unescape(NULL, NULL, s);
	assert_string_equal(s, want);
	assert_int_equal(n, strlen(want));
}

static void test_decodes_hex_escapes(void **state)
{
	(void)state;
	check("api%2Dversion", "api-version");
	check("%41%62%7e", "Ab~");
	check("a%2Fb", "a/b");
	check("%20", " ");
	check("%ff", "\xff");
	check("", "");
	check("plain", "plain");
}

static void test_keeps_nul_escape_literal(void **state)
{
	(void)state;
	check("name%00x", "name%00x");
	check("%00", "%00");
	check("%00%41", "%00A");
}

static void test_keeps_malformed_escapes(void **state)
{
	(void)state;
	check("%", "%");
	check("%4", "%4");
	check("a%zzb", "a%zzb");
	check("%4g", "%4g");
	check("%%41", "%A");
	check("100%", "100%");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decodes_hex_escapes),
		cmocka_unit_test(test_keeps_nul_escape_literal),
		cmocka_unit_test(test_keeps_malformed_escapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
