/* The configuration file's format (src/main/conffile.c): entries and their lines, comments,
 * blanks, quotes, '#' and '=' inside values, every bad line with its line number and a reason
 * that never quotes it, files that are not regular or too large, and an empty file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "main/conffile.h"
#include "main/tmpconf.h"

/* Reads text as a file; 0, or -1 with err filled. */
static int read_text(struct tmpconf *t, const char *text, size_t len, struct conffile *cf,
		     struct kl_err *err)
{
	char path[128];

	assert_non_null(tmpconf_write_n(t, "kluisd.conf", text, len, path, sizeof(path)));
	return conffile_read(path, cf, err);
}

/* The next entry must be key = value on line. */
static void expect(struct conffile *cf, const char *key, const char *value, size_t line)
{
	struct kl_err err = { 0 };
	const char *k = NULL, *v = NULL;

	assert_int_equal(conffile_next(cf, &k, &v, &err), 1);
	assert_string_equal(k, key);
	assert_string_equal(v, value);
	assert_int_equal(cf->line, line);
}

static void test_entries_with_their_lines(void **state)
{
	static const char text[] =
		"# kluisd.conf\n"
		"\n"
		"listen = 127.0.0.1:8443\n"
		"   \t\n"
		"  # an indented comment\n"
		"\tthreads=8  \n"
		"postgres = host=db dbname=kluis password=a#b\n"
		"data-dir = /srv/kluis # not a comment\n"
		"region = eu-1\r\n"
		"postgres-formation = \"  two  spaces  \"\n"
		"oidc-audience = \"\"\n"
		"oidc-issuer = say \"hi\"\n"
		"audit-log = \"\"quoted\"\"\n"
		"log-level =\n"
		"read-only = true";	/* no newline at the end */
	struct conffile cf = { 0 };
	struct kl_err err = { 0 };
	const char *k, *v;

	assert_int_equal(read_text(*state, text, sizeof(text) - 1, &cf, &err), 0);
	expect(&cf, "listen", "127.0.0.1:8443", 3);
	expect(&cf, "threads", "8", 6);
	expect(&cf, "postgres", "host=db dbname=kluis password=a#b", 7);
	expect(&cf, "data-dir", "/srv/kluis # not a comment", 8);
	expect(&cf, "region", "eu-1", 9);
	expect(&cf, "postgres-formation", "  two  spaces  ", 10);
	expect(&cf, "oidc-audience", "", 11);
	expect(&cf, "oidc-issuer", "say \"hi\"", 12);
	expect(&cf, "audit-log", "\"quoted\"", 13);
	expect(&cf, "log-level", "", 14);
	expect(&cf, "read-only", "true", 15);
	assert_int_equal(conffile_next(&cf, &k, &v, &err), 0);
	assert_int_equal(conffile_next(&cf, &k, &v, &err), 0);
	conffile_clear(&cf);
	conffile_clear(&cf);	/* harmless twice */
}

static void test_empty_file_has_no_entries(void **state)
{
	struct conffile cf = { 0 };
	struct kl_err err = { 0 };
	const char *k, *v;

	assert_int_equal(read_text(*state, "", 0, &cf, &err), 0);
	assert_int_equal(conffile_next(&cf, &k, &v, &err), 0);
	conffile_clear(&cf);
	assert_int_equal(read_text(*state, "# only\n\n# comments\n", 19, &cf, &err), 0);
	assert_int_equal(conffile_next(&cf, &k, &v, &err), 0);
	assert_int_equal(cf.line, 3);
	conffile_clear(&cf);
}

/* The first entry of text must be refused on line with reason, which must not quote the line. */
static void refused(struct tmpconf *t, const char *text, size_t len, size_t line,
		    const char *reason)
{
	struct conffile cf = { 0 };
	struct kl_err err = { 0 };
	const char *k, *v;
	int got;

	assert_int_equal(read_text(t, text, len, &cf, &err), 0);
	while ((got = conffile_next(&cf, &k, &v, &err)) == 1)
		;
	assert_int_equal(got, -1);
	assert_int_equal(cf.line, line);
	assert_string_equal(err.msg, reason);
	assert_null(strstr(err.msg, "hunter2"));
	conffile_clear(&cf);
}

/* Writes a line of n bytes that starts with prefix, and its newline; returns where it ends. */
static char *fill(char *p, const char *prefix, size_t n)
{
	size_t len = strlen(prefix);

	memcpy(p, prefix, len);
	memset(p + len, 'y', n - len);
	p[n] = '\n';
	return p + n + 1;
}

static void test_bad_lines_say_where_and_why(void **state)
{
	static const char nul[] = "listen = 127.0.0.1:1\npassword=hunter2\0x\n";
	char *text = malloc(3 * (CONFFILE_LINE_MAX + 2)), *p = text;

	refused(*state, "a = 1\npassword hunter2\n", 23, 2,
		"no '=': a line is 'key = value', a comment starting with '#', or blank");
	refused(*state, "\n\n = hunter2\n", 13, 3, "no key before '='");
	refused(*state, "x = \"hunter2\n", 12, 1,
		"the value starts with '\"' but does not end with one");
	refused(*state, "x = \"\n", 6, 1, "the value starts with '\"' but does not end with one");
	refused(*state, nul, sizeof(nul) - 1, 2, "the line holds a NUL byte");
	/* CONFFILE_LINE_MAX bytes make a line, an entry's or a comment's; one more does not */
	assert_non_null(text);
	p = fill(p, "x = ", CONFFILE_LINE_MAX);
	p = fill(p, "# ", CONFFILE_LINE_MAX);
	p = fill(p, "postgres = password=hunter2 ", CONFFILE_LINE_MAX + 1);
	refused(*state, text, (size_t)(p - text), 3, "the line is longer than 8192 bytes");
	free(text);
}

static void test_only_regular_files_of_sane_size(void **state)
{
	struct tmpconf *t = *state;
	struct conffile cf = { 0 };
	struct kl_err err = { 0 };
	char path[128], *big = calloc(1, CONFFILE_SIZE_MAX + 1);

	assert_int_equal(conffile_read(tmpconf_path(t, "missing", path, sizeof(path)), &cf, &err),
			 -1);
	assert_string_equal(err.msg, "cannot open: No such file or directory");
	assert_int_equal(mkdir(tmpconf_path(t, "dir", path, sizeof(path)), 0700), 0);
	assert_int_equal(conffile_read(path, &cf, &err), -1);
	assert_string_equal(err.msg, "not a regular file: it is a directory");
	conffile_clear(&cf);
	/* a FIFO without a writer: refused at once, not waited on */
	assert_int_equal(mkfifo(tmpconf_path(t, "fifo", path, sizeof(path)), 0600), 0);
	assert_int_equal(conffile_read(path, &cf, &err), -1);
	assert_string_equal(err.msg, "not a regular file: it is a FIFO");
	conffile_clear(&cf);
	assert_non_null(big);
	memset(big, '#', CONFFILE_SIZE_MAX + 1);
	assert_int_equal(read_text(t, big, CONFFILE_SIZE_MAX + 1, &cf, &err), -1);
	assert_string_equal(err.msg, "larger than 1048576 bytes");
	conffile_clear(&cf);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_entries_with_their_lines, tmpconf_setup,
						tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_empty_file_has_no_entries, tmpconf_setup,
						tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines_say_where_and_why, tmpconf_setup,
						tmpconf_teardown),
		cmocka_unit_test_setup_teardown(test_only_regular_files_of_sane_size,
						tmpconf_setup, tmpconf_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
