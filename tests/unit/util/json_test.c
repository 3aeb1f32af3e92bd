/* util/json: strict parsing (trailing garbage, duplicates, NUL), messages that never quote the
 * input, compact output into a buf under its ceiling, and the wiping allocators in use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/json.h"

static int setup(void **state)
{
	(void)state;
	json_util_init();
	return 0;
}

static json_t *parse(const char *s, struct kl_err *err)
{
	return json_util_parse(s, strlen(s), err);
}

static void assert_refused(const char *s, size_t n)
{
	struct kl_err err = { 0 };
	json_t *v = json_util_parse(s, n, &err);

	assert_null(v);
	assert_int_equal(err.code, KL_EINVAL);
	assert_non_null(strstr(err.msg, "The request body is not valid JSON: "));
	assert_non_null(strstr(err.msg, " at line "));
	assert_non_null(strstr(err.msg, " column "));
}

static void test_parses_an_object(void **state)
{
	struct kl_err err = { 0 };
	json_t *v;

	(void)state;
	v = parse("{\"value\": \"s\", \"n\": [1, 2.5, true, null]}", &err);
	assert_non_null(v);
	assert_true(json_is_object(v));
	assert_string_equal(json_string_value(json_object_get(v, "value")), "s");
	json_decref(v);
}

static void test_any_top_level_value(void **state)
{
	struct kl_err err = { 0 };
	json_t *v;

	(void)state;
	assert_non_null(v = parse("42", &err));
	assert_true(json_is_integer(v));
	json_decref(v);
	assert_non_null(v = parse(" \"text\" \n", &err));
	assert_true(json_is_string(v));
	json_decref(v);
	assert_non_null(v = parse("null", &err));
	json_decref(v);
}

static void test_trailing_garbage_refused(void **state)
{
	(void)state;
	assert_refused("{} x", 4);
	assert_refused("{}{}", 4);
	assert_refused("[1] ]", 5);
	assert_refused("1 2", 3);
}

static void test_duplicate_keys_refused(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	assert_refused("{\"a\":1,\"a\":2}", 13);
	assert_null(parse("{\"x\":{\"a\":1,\"a\":1}}", &err));
}

static void test_nul_bytes_refused(void **state)
{
	(void)state;
	assert_refused("{\"a\":\"b\"}\0", 10);
	assert_refused("{\"a\":\"b\0c\"}", 11);
	assert_refused("{\"a\":\"b\\u0000c\"}", 16);
}

static void test_empty_and_truncated_refused(void **state)
{
	(void)state;
	assert_refused("", 0);
	assert_refused("   ", 3);
	assert_refused("{\"a\":", 5);
	assert_refused("[1,", 3);
}

static void test_message_names_line_and_column(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	assert_null(parse("{\n  \"a\": 1,\n  oops\n}", &err));
	assert_non_null(strstr(err.msg, "at line 3 column"));
}

static void test_message_never_quotes_the_input(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	assert_null(parse("{\"value\": \"hunter2-secret", &err));
	assert_null(strstr(err.msg, "hunter2"));
	assert_null(parse("{\"value\": hunter2secret}", &err));
	assert_null(strstr(err.msg, "hunter2"));
	assert_null(parse("{\"value\": \"x\"} hunter2secret", &err));
	assert_null(strstr(err.msg, "hunter2"));
}

static void test_deep_nesting_refused(void **state)
{
	char deep[5000];

	(void)state;
	memset(deep, '[', sizeof(deep));
	assert_refused(deep, sizeof(deep));
}

static void test_dump_is_compact(void **state)
{
	struct kl_err err = { 0 };
	struct buf b;
	json_t *v;

	(void)state;
	buf_init(&b, 1000);
	v = json_pack("{s:i, s:[b, n, s]}", "a", 1, "b", 1, "x\"y");
	assert_non_null(v);
	assert_int_equal(buf_append_str(&b, ">", &err), 0);
	assert_int_equal(json_util_dump(v, &b, &err), 0);
	assert_string_equal(buf_cstr(&b), ">{\"a\":1,\"b\":[true,null,\"x\\\"y\"]}");
	json_decref(v);
	buf_reset(&b);
	v = json_string("plain");
	assert_int_equal(json_util_dump(v, &b, &err), 0);
	assert_string_equal(buf_cstr(&b), "\"plain\"");
	json_decref(v);
	buf_clear(&b);
}

static void test_dump_respects_ceiling_atomically(void **state)
{
	struct kl_err err = { 0 };
	struct buf b;
	json_t *v;

	(void)state;
	buf_init(&b, 20);
	assert_int_equal(buf_append_str(&b, "ab", &err), 0);
	v = json_pack("{s:s, s:s}", "key", "a fairly long value", "other", "another long value");
	assert_int_equal(json_util_dump(v, &b, &err), -1);
	assert_int_equal(err.code, KL_ETOOBIG);
	assert_string_equal(buf_cstr(&b), "ab");
	json_decref(v);
	buf_clear(&b);
}

static void test_round_trip_through_wiping_allocators(void **state)
{
	struct kl_err err = { 0 };
	struct buf b;
	json_t *v;
	int i;

	(void)state;
	buf_init_secret(&b, 100000);
	for (i = 0; i < 50; i++) {
		buf_reset(&b);
		v = parse("{\"value\":\"s3cr3t\",\"tags\":{\"k\":\"v\"},\"n\":[1,2,3]}", &err);
		assert_non_null(v);
		assert_int_equal(json_util_dump(v, &b, &err), 0);
		assert_string_equal(buf_cstr(&b),
				    "{\"value\":\"s3cr3t\",\"tags\":{\"k\":\"v\"},\"n\":[1,2,3]}");
		json_decref(v);
	}
	buf_clear(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parses_an_object),
		cmocka_unit_test(test_any_top_level_value),
		cmocka_unit_test(test_trailing_garbage_refused),
		cmocka_unit_test(test_duplicate_keys_refused),
		cmocka_unit_test(test_nul_bytes_refused),
		cmocka_unit_test(test_empty_and_truncated_refused),
		cmocka_unit_test(test_message_names_line_and_column),
		cmocka_unit_test(test_message_never_quotes_the_input),
		cmocka_unit_test(test_deep_nesting_refused),
		cmocka_unit_test(test_dump_is_compact),
		cmocka_unit_test(test_dump_respects_ceiling_atomically),
		cmocka_unit_test(test_round_trip_through_wiping_allocators),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
