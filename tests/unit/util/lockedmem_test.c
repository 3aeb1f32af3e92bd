/* util/lockedmem: zeroed, locked, page-aligned memory that is wiped and unmapped on free; a
 * locked-memory limit of 0 still gives usable memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/lockedmem.h"

static void test_alloc_zeroed_aligned_locked(void **state)
{
	struct kl_err err = { 0 };
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p;
	bool locked = false;
	size_t i;

	(void)state;
	assert_non_null(p = lockedmem_alloc(32, &locked, &err));
	assert_int_equal((uintptr_t)p % (uintptr_t)page, 0);
	for (i = 0; i < 32; i++)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, 32);
	lockedmem_free(p, 32);
	lockedmem_free(NULL, 32);
	/* Larger than a page, and the flag may be NULL. */
	assert_non_null(p = lockedmem_alloc((size_t)page + 1, NULL, &err));
	p[page] = 1;
	lockedmem_free(p, (size_t)page + 1);
	(void)locked;	/* depends on RLIMIT_MEMLOCK here; the next test forces the failure */
}

static void test_refuses_empty_and_huge(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	assert_null(lockedmem_alloc(0, NULL, &err));
	assert_int_equal(err.code, KL_ENOMEM);
	assert_null(lockedmem_alloc(SIZE_MAX, NULL, &err));
	assert_int_equal(err.code, KL_ENOMEM);
}

static void test_no_lock_allowed_still_usable(void **state)
{
	struct kl_err err = { 0 };
	struct rlimit old, none = { 0, 0 };
	unsigned char *p;
	bool locked = true;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	none.rlim_max = old.rlim_max;	/* lower the soft limit only, so it can be put back */
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &none), 0);
	p = lockedmem_alloc(32, &locked, &err);
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &old), 0);
	assert_non_null(p);
	if (geteuid() != 0)	/* root may lock whatever the limit says */
		assert_false(locked);
	p[31] = 7;
	lockedmem_free(p, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed_aligned_locked),
		cmocka_unit_test(test_refuses_empty_and_huge),
		cmocka_unit_test(test_no_lock_allowed_still_usable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
