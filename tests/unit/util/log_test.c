/* util/log: the line format, the level filter, and escaping of control characters. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

/* Runs one log call with stderr captured; out gets what was written. */
#define CAPTURE(out, call)                                                   \
	do {                                                                 \
		int fds[2], saved;                                           \
		ssize_t got;                                                 \
		assert_int_equal(pipe(fds), 0);                              \
		saved = dup(STDERR_FILENO);                                  \
		assert_true(saved >= 0);                                     \
		assert_true(dup2(fds[1], STDERR_FILENO) >= 0);               \
		call;                                                        \
		assert_true(dup2(saved, STDERR_FILENO) >= 0);                \
		close(saved);                                                \
		close(fds[1]);                                               \
		got = read(fds[0], (out), sizeof(out) - 1);                  \
		(out)[got > 0 ? got : 0] = '\0';                             \
		close(fds[0]);                                               \
	} while (0)

static void test_line_format(void **state)
{
	char out[4096];
	regex_t re;

	(void)state;
	log_set_min_level(LOG_LV_DEBUG);
	CAPTURE(out, LOG_INFO("req-1", "hello %d", 5));
	assert_int_equal(regcomp(&re,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
				 "\\.[0-9]{3}Z INFO +req-1 test_line_format: hello 5\n$",
				 REG_EXTENDED),
			 0);
	assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
	regfree(&re);
}

static void test_null_request_id_is_dash(void **state)
{
	char out[4096];

	(void)state;
	log_set_min_level(LOG_LV_DEBUG);
	CAPTURE(out, LOG_ERROR(NULL, "boom"));
	assert_non_null(strstr(out, "Z ERROR - test_null_request_id_is_dash: boom\n"));
}

static void test_min_level_drops_lower_lines(void **state)
{
	char out[4096];

	(void)state;
	log_set_min_level(LOG_LV_WARN);
	CAPTURE(out, LOG_INFO("r", "dropped"));
	assert_string_equal(out, "");
	CAPTURE(out, LOG_WARN("r", "kept"));
	assert_non_null(strstr(out, "WARN  r test_min_level_drops_lower_lines: kept\n"));
	log_set_min_level(LOG_LV_INFO);
}

static void test_control_characters_cannot_forge_lines(void **state)
{
	char out[4096];

	(void)state;
	log_set_min_level(LOG_LV_DEBUG);
	CAPTURE(out, LOG_INFO("a\nb", "x\ny\r\x1b[0m"));
	assert_non_null(strstr(out, " a\\x0ab "));
	assert_non_null(strstr(out, ": x\\x0ay\\x0d\\x1b[0m\n"));
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);	/* one line */
}

static void test_long_message_is_one_capped_line(void **state)
{
	char out[8192];
	char big[6000];

	(void)state;
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_set_min_level(LOG_LV_DEBUG);
	CAPTURE(out, LOG_INFO("r", "%s", big));
	assert_true(strlen(out) <= 2048);
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_null_request_id_is_dash),
		cmocka_unit_test(test_min_level_drops_lower_lines),
		cmocka_unit_test(test_control_characters_cannot_forge_lines),
		cmocka_unit_test(test_long_message_is_one_capped_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
