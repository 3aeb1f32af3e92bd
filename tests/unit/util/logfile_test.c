/* util/logfile: appending whole lines, reopening after a rename (log rotation) while other
 * threads write, and failures (a full disk) counted instead of crashing or blocking. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/logfile.h"

struct dir {
	char path[64];
	char file[96];
	char rotated[96];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/kluis-logfile-XXXXXX");
	if (mkdtemp(d->path) == NULL)
		return -1;
	snprintf(d->file, sizeof(d->file), "%s/audit.log", d->path);
	snprintf(d->rotated, sizeof(d->rotated), "%s/audit.log.1", d->path);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;

	unlink(d->file);
	unlink(d->rotated);
	rmdir(d->path);
	free(d);
	return 0;
}

/* The whole file as a string (static buffer: one at a time). */
static const char *slurp(const char *path, size_t *len)
{
	static char data[4 << 20];
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	assert_true(n < sizeof(data) - 1);	/* all of it */
	data[n] = '\0';
	if (len != NULL)
		*len = n;
	return data;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void test_append_creates_0600_and_counts(void **state)
{
	struct dir *d = *state;
	struct kl_err err = { 0 };
	struct logfile *f = logfile_open(d->file, &err);
	struct stat st;
	uint64_t lines, failures;

	assert_non_null(f);
	assert_string_equal(logfile_path(f), d->file);
	assert_int_equal(logfile_write(f, "one\n", 4), 0);
	assert_int_equal(logfile_write(f, "two\n", 4), 0);
	logfile_free(f);
	f = logfile_open(d->file, &err);	/* appends, never truncates */
	assert_int_equal(logfile_write(f, "three\n", 6), 0);
	logfile_stats(f, &lines, &failures);
	assert_int_equal(lines, 1);
	assert_int_equal(failures, 0);
	logfile_free(f);
	assert_string_equal(slurp(d->file, NULL), "one\ntwo\nthree\n");
	assert_int_equal(stat(d->file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_open_failure_says_why(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	assert_null(logfile_open("/nonexistent-dir/audit.log", &err));
	assert_int_equal(err.code, KL_EINVAL);
	assert_non_null(strstr(err.msg, "No such file or directory"));
}

static void test_reopen_after_rename_writes_new_file(void **state)
{
	struct dir *d = *state;
	struct kl_err err = { 0 };
	struct logfile *f = logfile_open(d->file, &err);

	assert_non_null(f);
	assert_int_equal(logfile_write(f, "before\n", 7), 0);
	assert_int_equal(rename(d->file, d->rotated), 0);
	assert_int_equal(logfile_write(f, "still old\n", 10), 0);	/* until the reopen */
	assert_int_equal(logfile_reopen(f, &err), 0);
	assert_int_equal(logfile_write(f, "after\n", 6), 0);
	logfile_free(f);
	assert_string_equal(slurp(d->rotated, NULL), "before\nstill old\n");
	assert_string_equal(slurp(d->file, NULL), "after\n");
}

static void test_reopen_failure_keeps_old_file(void **state)
{
	struct dir *d = *state;
	struct kl_err err = { 0 };
	struct logfile *f = logfile_open(d->file, &err);

	assert_non_null(f);
	assert_int_equal(rename(d->file, d->rotated), 0);
	assert_int_equal(chmod(d->path, 0500), 0);	/* the path cannot be created again */
	if (access(d->path, W_OK) == 0) {	/* root ignores the mode: make it a directory */
		assert_int_equal(chmod(d->path, 0700), 0);
		assert_int_equal(mkdir(d->file, 0700), 0);
	}
	assert_int_equal(logfile_reopen(f, &err), -1);
	assert_int_equal(logfile_write(f, "kept\n", 5), 0);
	chmod(d->path, 0700);
	rmdir(d->file);
	logfile_free(f);
	assert_string_equal(slurp(d->rotated, NULL), "kept\n");
}

static void test_full_disk_is_counted_not_fatal(void **state)
{
	struct kl_err err = { 0 };
	struct logfile *f;
	uint64_t lines, failures;
	int i;

	(void)state;
	f = logfile_open("/dev/full", &err);	/* every write fails with ENOSPC */
	assert_non_null(f);
	for (i = 0; i < 3; i++)
		assert_int_equal(logfile_write(f, "lost\n", 5), -1);
	logfile_stats(f, &lines, &failures);
	assert_int_equal(lines, 0);
	assert_int_equal(failures, 3);
	logfile_free(f);
}

/* Several writers while the file is rotated under them: every line whole, in one file or the
 * other, none lost. */
#define WRITERS 4
#define LINES_EACH 1000

static void *writer(void *arg)
{
	struct logfile *f = arg;
	char line[200];
	int i, n;

	for (i = 0; i < LINES_EACH; i++) {
		n = snprintf(line, sizeof(line), "%0150d\n", i);
		if (logfile_write(f, line, (size_t)n) != 0)
			return (void *)1;
	}
	return NULL;
}

static void check_whole_lines(const char *s)
{
	const char *nl;

	for (; *s != '\0'; s = nl + 1) {
		nl = strchr(s, '\n');
		assert_non_null(nl);
		assert_int_equal(nl - s, 150);
	}
}

static void test_concurrent_writes_and_reopen(void **state)
{
	struct dir *d = *state;
	struct kl_err err = { 0 };
	struct logfile *f = logfile_open(d->file, &err);
	pthread_t t[WRITERS];
	void *ret;
	size_t i, total;

	assert_non_null(f);
	for (i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, f), 0);
	for (i = 0; i < 20; i++)	/* swaps under the writers, to the same file */
		assert_int_equal(logfile_reopen(f, &err), 0);
	assert_int_equal(rename(d->file, d->rotated), 0);
	for (i = 0; i < 20; i++)
		assert_int_equal(logfile_reopen(f, &err), 0);
	for (i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	logfile_free(f);
	check_whole_lines(slurp(d->rotated, NULL));
	total = count_lines(slurp(d->rotated, NULL));
	check_whole_lines(slurp(d->file, NULL));
	total += count_lines(slurp(d->file, NULL));
	assert_int_equal(total, WRITERS * LINES_EACH);
}

static void test_stderr_is_never_reopened(void **state)
{
	struct kl_err err = { 0 };
	struct logfile *f = logfile_open("-", &err);

	(void)state;
	assert_non_null(f);
	assert_int_equal(logfile_reopen(f, &err), 0);
	logfile_free(f);	/* must not close fd 2 */
	assert_true(fcntl(STDERR_FILENO, F_GETFD) >= 0);
	logfile_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_creates_0600_and_counts, setup,
						teardown),
		cmocka_unit_test(test_open_failure_says_why),
		cmocka_unit_test_setup_teardown(test_reopen_after_rename_writes_new_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_old_file, setup,
						teardown),
		cmocka_unit_test(test_full_disk_is_counted_not_fatal),
		cmocka_unit_test_setup_teardown(test_concurrent_writes_and_reopen, setup, teardown),
		cmocka_unit_test(test_stderr_is_never_reopened),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
