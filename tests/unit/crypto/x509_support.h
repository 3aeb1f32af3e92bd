/* Shared by the crypto/x509 unit tests (x509_test.c, x509read_test.c): keys made once per test
 * binary, a scratch directory for the openssl command, file helpers and a full profile.
 * Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_X509_SUPPORT_H
#define KLUIS_TESTS_X509_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/log.h"

static const char *const curve_names[] = { "P-256", "P-256K", "P-384", "P-521" };
static const char *const curve_groups[] = { "prime256v1", "secp256k1", "secp384r1", "secp521r1" };

struct fixture {
	char dir[64];
	struct keyops_key *rsa[3];	/* 2048, 3072, 4096 */
	struct keyops_key *ec[4];	/* curve_names order */
	struct keyops_key *oct;
};

static struct fixture *fx;

static inline int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a shell command in the fixture directory, its output appended to cmd.log there. */
static inline int sh(const char *fmt, ...)
{
	char cmd[4096], full[4400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && ( %s ) >>cmd.log 2>&1", fx->dir, cmd);
	return system(full);
}

static inline void write_file(const char *name, const void *p, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* The contents of a fixture file into b (initialised by the caller). */
static inline void read_file(const char *name, struct buf *b)
{
	struct kl_err err = { 0 };
	unsigned char tmp[4096];
	char path[128];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	assert_non_null(f = fopen(path, "rb"));
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(b, tmp, n, &err), 0);
	fclose(f);
}

/* Does the text file name contain s? */
static inline bool file_has(const char *name, const char *s)
{
	struct buf b;
	bool has;

	buf_init(&b, 1u << 20);
	read_file(name, &b);
	has = strstr(buf_cstr(&b), s) != NULL;
	buf_clear(&b);
	return has;
}

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

static char *sup_dns[] = { "www.example.com", "*.example.org" };
static char *sup_emails[] = { "a@example.com" };
static char *sup_upns[] = { "user@corp.example" };
static char *sup_uris[] = { "https://example.com/x" };
static char *sup_ips[] = { "192.0.2.7", "2001:db8::1" };
static char *sup_ekus[] = { "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2" };

/* Every kind of name, keyUsage digitalSignature + keyEncipherment, two EKUs, valid from an hour
 * ago for a year. */
static inline struct x509_profile full_profile(const char *subject)
{
	struct x509_profile p;
	int64_t now = (int64_t)time(NULL);

	memset(&p, 0, sizeof(p));
	p.subject = subject;
	p.sans.dns = sup_dns;
	p.sans.n_dns = 2;
	p.sans.emails = sup_emails;
	p.sans.n_emails = 1;
	p.sans.upns = sup_upns;
	p.sans.n_upns = 1;
	p.sans.uris = sup_uris;
	p.sans.n_uris = 1;
	p.sans.ips = sup_ips;
	p.sans.n_ips = 2;
	p.key_usage = X509_KU_DIGITAL_SIGNATURE | X509_KU_KEY_ENCIPHERMENT;
	p.ekus = sup_ekus;
	p.n_ekus = 2;
	p.not_before = now - 3600;
	p.not_after = now + 365 * 86400;
	return p;
}

/* A subject only, valid from an hour ago for a year. */
static inline struct x509_profile plain_profile(const char *subject)
{
	struct x509_profile p;

	memset(&p, 0, sizeof(p));
	p.subject = subject;
	p.not_before = (int64_t)time(NULL) - 3600;
	p.not_after = p.not_before + 365 * 86400;
	return p;
}

/* A self-signed certificate for k as one DER buffer (buf_init'd here). */
static inline void self_signed(const struct keyops_key *k, const struct x509_profile *p,
			       struct buf *der)
{
	struct kl_err err = { 0 };

	buf_init(der, X509_CERT_MAX);
	if (x509_self_sign(k, p, der, &err) != 0)
		fail_msg("x509_self_sign: %s", err.msg);
}

static inline int setup(void **state)
{
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	log_set_min_level(LOG_LV_ERROR);
	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kluis-x509-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	for (i = 0; i < 3; i++) {
		if ((fx->rsa[i] = keyops_generate_rsa(2048 + 1024 * (unsigned)i, 0, &err)) == NULL)
			return -1;
	}
	for (i = 0; i < 4; i++) {
		if ((fx->ec[i] = keyops_generate_ec(curve_names[i], &err)) == NULL)
			return -1;
	}
	return (fx->oct = keyops_generate_oct(256, &err)) == NULL ? -1 : 0;
}

static inline int teardown(void **state)
{
	char cmd[128];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++)
		keyops_free(fx->rsa[i]);
	for (i = 0; i < 4; i++)
		keyops_free(fx->ec[i]);
	keyops_free(fx->oct);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

#endif
