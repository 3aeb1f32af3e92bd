/* util/err: filling struct kl_err, truncation, and names of kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/err.h"

static void test_fail_fills_and_returns_minus_one(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	assert_int_equal(kl_fail(&err, KL_EINVAL, "bad %s %d", "thing", 7), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_string_equal(err.msg, "bad thing 7");
	assert_null(err.azure_code);
	assert_null(err.inner_code);
}

static void test_fail_az_sets_wire_codes(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	assert_int_equal(kl_fail_az(&err, KL_ENOTFOUND, "SecretNotFound", "Inner", "no %s", "x"),
			 -1);
	assert_int_equal(err.code, KL_ENOTFOUND);
	assert_string_equal(err.azure_code, "SecretNotFound");
	assert_string_equal(err.inner_code, "Inner");
	assert_string_equal(err.msg, "no x");
	/* A later plain failure forgets the wire codes of an earlier one. */
	kl_fail(&err, KL_EINTERNAL, "later");
	assert_null(err.azure_code);
	assert_null(err.inner_code);
}

static void test_fail_with_null_err_is_safe(void **state)
{
	(void)state;
	assert_int_equal(kl_fail(NULL, KL_EINVAL, "x"), -1);
	assert_int_equal(kl_fail_az(NULL, KL_EINVAL, "A", NULL, "x"), -1);
	kl_err_clear(NULL);
}

static void test_long_message_is_truncated(void **state)
{
	struct kl_err err = { 0 };
	char big[sizeof(err.msg) + 200];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kl_fail(&err, KL_EINVAL, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

static void test_clear(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	kl_fail_az(&err, KL_ECONFLICT, "Conflict", "I", "msg");
	kl_err_clear(&err);
	assert_int_equal(err.code, KL_OK);
	assert_string_equal(err.msg, "");
	assert_null(err.azure_code);
	assert_null(err.inner_code);
}

static void test_names(void **state)
{
	int c;

	(void)state;
	assert_string_equal(kl_errc_name(KL_OK), "OK");
	assert_string_equal(kl_errc_name(KL_EINVAL), "EINVAL");
	assert_string_equal(kl_errc_name(KL_ECORRUPT), "ECORRUPT");
	assert_string_equal(kl_errc_name(KL_EMETHOD), "EMETHOD");
	assert_string_equal(kl_errc_name(KL_EOUTCOME), "EOUTCOME");
	for (c = KL_OK; c <= KL_EOUTCOME; c++)
		assert_string_not_equal(kl_errc_name((enum kl_errc)c), "EUNKNOWN");
	assert_string_equal(kl_errc_name((enum kl_errc)999), "EUNKNOWN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail_fills_and_returns_minus_one),
		cmocka_unit_test(test_fail_az_sets_wire_codes),
		cmocka_unit_test(test_fail_with_null_err_is_safe),
		cmocka_unit_test(test_long_message_is_truncated),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
