/* util/secbuf.c's comparison: equal and unequal buffers, a difference in any byte, and n 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "util/secbuf.h"

static void test_secure_equal(void **state)
{
	unsigned char a[32], b[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (unsigned char)(i * 7);
	assert_true(secure_equal(a, b, sizeof(a)));
	assert_true(secure_equal(a, b, 0));
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x80;
		assert_false(secure_equal(a, b, sizeof(a)));
		b[i] ^= 0x80;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secure_equal),
	};

	return cmocka_run_group_tests_name("secure_equal", tests, NULL, NULL);
}
