/* util/arena: bump allocation across chunks, alignment, ownership, the wipe at arena_free, and
 * jansson's memory taken from the thread's current arena (util/json.c) while one is entered and
 * from malloc outside, each block freed the right way whichever arena is current at its free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/arena.h"
#include "util/json.h"

static void test_alloc_aligned_and_owned(void **state)
{
	struct arena a;
	char *small, *s, *big;
	size_t i;

	(void)state;
	arena_init(&a);
	assert_non_null(small = arena_alloc(&a, 3));
	assert_int_equal((uintptr_t)small % 16, 0);
	assert_true(arena_owns(&a, small));
	assert_string_equal(s = arena_strdup(&a, "hello"), "hello");
	assert_int_equal((uintptr_t)s % 16, 0);
	assert_null(arena_strdup(&a, NULL));
	/* Past the inline part: malloc'd chunks, each block whole and owned. */
	for (i = 0; i < 200; i++) {
		assert_non_null(big = arena_alloc(&a, 1000));
		memset(big, 'x', 1000);
		assert_true(arena_owns(&a, big));
		assert_true(arena_owns(&a, big + 999));
	}
	assert_non_null(big = arena_alloc(&a, 3 * 1024 * 1024));	/* larger than any chunk */
	memset(big, 'y', 3 * 1024 * 1024);
	assert_true(arena_owns(&a, big));
	assert_false(arena_owns(&a, &i));
	assert_false(arena_owns(NULL, small));
	assert_null(arena_alloc(&a, SIZE_MAX - 4));
	assert_string_equal(s, "hello");	/* untouched by later blocks */
	arena_free(&a);
	assert_false(arena_owns(&a, big));
	arena_free(&a);	/* twice: a no-op */
}

static void test_free_wipes_inline_part(void **state)
{
	struct arena a;
	char *s;
	size_t i;

	(void)state;
	memset(&a, 0, sizeof(a));	/* a zeroed arena works without arena_init */
	assert_non_null(s = arena_strdup(&a, "secret-value"));
	assert_ptr_equal(s, (char *)a.first);
	arena_free(&a);
	for (i = 0; i < sizeof("secret-value"); i++)
		assert_int_equal(a.first[i], 0);
	/* Reusable after the free. */
	assert_non_null(s = arena_strdup(&a, "again"));
	assert_true(arena_owns(&a, s));
	arena_free(&a);
}

static void test_enter_leave(void **state)
{
	struct arena a, b;
	struct arena *prev;

	(void)state;
	arena_init(&a);
	arena_init(&b);
	assert_null(arena_current());
	prev = arena_enter(&a);
	assert_null(prev);
	assert_ptr_equal(arena_current(), &a);
	prev = arena_enter(&b);
	assert_ptr_equal(prev, &a);
	arena_leave(prev);
	assert_ptr_equal(arena_current(), &a);
	arena_free(&a);	/* freeing the current arena leaves none current */
	assert_null(arena_current());
	arena_free(&b);
}

static void test_jansson_in_arena(void **state)
{
	struct arena a;
	struct arena *prev;
	json_t *outside, *inside, *s;

	(void)state;
	json_util_init();
	arena_init(&a);
	outside = json_pack("{s:s}", "kept", "from malloc");
	assert_non_null(outside);
	assert_false(arena_owns(&a, outside));

	prev = arena_enter(&a);
	inside = json_pack("{s:s, s:[i, i]}", "value", "secret", "list", 1, 2);
	assert_non_null(inside);
	assert_true(arena_owns(&a, inside));
	assert_non_null(s = json_object_get(inside, "value"));
	assert_true(arena_owns(&a, s));
	/* A malloc'd object freed inside the request goes back to malloc. */
	json_decref(outside);
	/* An arena object freed inside: wiped, left to the arena. */
	json_decref(inside);
	arena_leave(prev);

	/* An arena object freed outside any request (after arena_leave): still not free()d,
	 * which would abort on a pointer malloc never returned. */
	prev = arena_enter(&a);
	inside = json_string("another");
	arena_leave(prev);
	assert_true(arena_owns(&a, inside));
	json_decref(inside);
	arena_free(&a);

	/* Outside any arena: malloc, as before. */
	outside = json_string("plain");
	assert_non_null(outside);
	assert_false(arena_owns(&a, outside));
	json_decref(outside);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_aligned_and_owned),
		cmocka_unit_test(test_free_wipes_inline_part),
		cmocka_unit_test(test_enter_leave),
		cmocka_unit_test(test_jansson_in_arena),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
