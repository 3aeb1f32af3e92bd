/* Shared by the crypto unit tests that compare with the openssl command (keyops_support.h,
 * x509_support.h): the curves by name and by OpenSSL group, a scratch directory per test binary,
 * the command run in it, its files read and written, and the BadParameter check. Header-only so
 * each test binary stands alone. */
#ifndef KLUIS_TESTS_SCRATCH_SUPPORT_H
#define KLUIS_TESTS_SCRATCH_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/err.h"

static const char *const curve_names[] = { "P-256", "P-256K", "P-384", "P-521" };
static const char *const curve_groups[] = { "prime256v1", "secp256k1", "secp384r1", "secp521r1" };

/* The scratch directory; empty until scratch_make. */
static char scratch_dir[64];

/* Makes the scratch directory /tmp/kluis-<tag>-XXXXXX. 0 or -1. */
static inline int scratch_make(const char *tag)
{
	snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/kluis-%s-XXXXXX", tag);
	return mkdtemp(scratch_dir) == NULL ? -1 : 0;
}

/* Removes the scratch directory and all in it. 0 or -1. */
static inline int scratch_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch_dir);
	return system(cmd) != 0 ? -1 : 0;
}

/* The path of the scratch file name into out. */
static inline void scratch_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", scratch_dir, name);
}

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command in the scratch directory, its output appended to cmd.log there. */
static inline int sh(const char *fmt, ...)
{
	char cmd[4096], full[4400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && ( %s ) >>cmd.log 2>&1", scratch_dir, cmd);
	return system(full);
}

static inline void write_file(const char *name, const void *p, size_t n)
{
	char path[128];
	FILE *f;

	scratch_path(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* The contents of a scratch file into b (initialised by the caller). */
static inline void read_file(const char *name, struct buf *b)
{
	struct kl_err err = { 0 };
	unsigned char tmp[4096];
	char path[128];
	size_t n;
	FILE *f;

	scratch_path(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "rb"));
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(b, tmp, n, &err), 0);
	fclose(f);
}

/* rc is -1 with a KL_EINVAL / BadParameter error whose message contains msg (NULL: any). */
static inline void assert_bad(int rc, const struct kl_err *err, const char *msg)
{
	assert_int_equal(rc, -1);
	if (err->code != KL_EINVAL)
		fail_msg("want KL_EINVAL, got %s: %s", kl_errc_name(err->code), err->msg);
	assert_non_null(err->azure_code);
	assert_string_equal(err->azure_code, "BadParameter");
	if (msg != NULL && strstr(err->msg, msg) == NULL)
		fail_msg("message '%s' lacks '%s'", err->msg, msg);
}

#endif
