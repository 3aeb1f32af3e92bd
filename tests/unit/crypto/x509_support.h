/* Shared by the crypto/x509 unit tests (x509_test.c, x509read_test.c): keys made once per test
 * binary in a scratch directory for the openssl command (scratch_support.h), and the profiles.
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
#include "scratch_support.h"

struct fixture {
	struct keyops_key *rsa[3];	/* 2048, 3072, 4096 */
	struct keyops_key *ec[4];	/* curve_names order */
	struct keyops_key *oct;
};

static struct fixture *fx;

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
	if (scratch_make("x509") != 0)
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
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++)
		keyops_free(fx->rsa[i]);
	for (i = 0; i < 4; i++)
		keyops_free(fx->ec[i]);
	keyops_free(fx->oct);
	if (scratch_remove() != 0)
		return -1;
	free(fx);
	return 0;
}

#endif
