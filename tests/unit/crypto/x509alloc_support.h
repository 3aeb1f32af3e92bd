/* Shared by x509alloc_test.c, x509allocpfx_test.c and x509allocread_test.c: OpenSSL's allocator replaced (in main,
 * before its first allocation) by one that fails the Nth allocation when armed, the inputs made
 * once per binary, and every_allocation(), which runs an operation with the 1st, 2nd, ...
 * allocation failing until a run needs no more. Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_X509ALLOC_SUPPORT_H
#define KLUIS_TESTS_X509ALLOC_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/log.h"

static bool armed;
static long alloc_count, alloc_fail_at;

static inline bool fail_now(void)
{
	return armed && ++alloc_count == alloc_fail_at;
}

static inline void *t_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fail_now() ? NULL : malloc(n);
}

static inline void *t_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return fail_now() ? NULL : realloc(p, n);
}

static inline void t_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

struct inputs {
	struct keyops_key *key;
	struct x509_profile profile;
	struct buf cert;	/* DER */
	struct x509_chain chain;
	struct buf pfx, pem, csr;
};

static struct inputs in;
static char *dns[] = { "a.example", "b.example" };
static char *upns[] = { "u@example" };
static char *ips[] = { "::1" };
static char *ekus[] = { "1.3.6.1.5.5.7.3.1" };

/* The PFX of the key and certificate as kluis writes it but with one iteration of key derivation,
 * so that thousands of runs stay quick. */
static inline int cheap_pfx(void)
{
	BIO *bio = BIO_new_mem_buf(in.pem.data, (int)in.pem.len);
	EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	X509 *x = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	struct kl_err err = { 0 };
	int len = -1, rc = -1;

	if (pkey != NULL && x != NULL &&
	    (p12 = PKCS12_create_ex("", NULL, pkey, x, NULL, NID_aes_256_cbc, NID_aes_256_cbc, 1,
				    -1, 0, NULL, NULL)) != NULL &&
	    PKCS12_set_mac(p12, "", -1, NULL, 0, 1, EVP_sha256()) == 1 &&
	    (len = i2d_PKCS12(p12, &der)) > 0)
		rc = buf_append(&in.pfx, der, (size_t)len, &err);
	OPENSSL_free(der);
	PKCS12_free(p12);
	X509_free(x);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return rc;
}

static inline int setup(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	log_set_min_level((enum log_level)(LOG_LV_ERROR + 1));	/* failures log: keep quiet */
	memset(&in, 0, sizeof(in));
	in.profile.subject = "CN=alloc, O=\"x, y\"";
	in.profile.sans.dns = dns;
	in.profile.sans.n_dns = 2;
	in.profile.sans.upns = upns;
	in.profile.sans.n_upns = 1;
	in.profile.sans.ips = ips;
	in.profile.sans.n_ips = 1;
	in.profile.ekus = ekus;
	in.profile.n_ekus = 1;
	in.profile.key_usage = X509_KU_DIGITAL_SIGNATURE;
	in.profile.not_before = (int64_t)time(NULL);
	in.profile.not_after = in.profile.not_before + 86400;
	buf_init(&in.cert, X509_CERT_MAX);
	buf_init(&in.csr, X509_CERT_MAX);
	buf_init_secret(&in.pfx, X509_UPLOAD_MAX);
	buf_init_secret(&in.pem, X509_UPLOAD_MAX);
	x509_chain_init(&in.chain);
	if ((in.key = keyops_generate_ec("P-256", &err)) == NULL ||
	    x509_self_sign(in.key, &in.profile, &in.cert, &err) != 0 ||
	    x509_csr(in.key, &in.profile, &in.csr, &err) != 0 ||
	    x509_chain_add(&in.chain, in.cert.data, in.cert.len, &err) != 0 ||
	    x509_export_pem(in.key, &in.chain, &in.pem, &err) != 0 || cheap_pfx() != 0)
		return -1;
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	keyops_free(in.key);
	buf_clear(&in.cert);
	buf_clear(&in.csr);
	buf_clear(&in.pfx);
	buf_clear(&in.pem);
	x509_chain_clear(&in.chain);
	return 0;
}

/* One operation: returns its rc; on success checks the result, on failure that nothing is left.
 * It calls disarm() right after the call under test, so the checks allocate freely. */
typedef int (*op_fn)(struct kl_err *err);

static inline void disarm(void)
{
	armed = false;
}

static inline void failed_cleanly(const struct kl_err *err)
{
	if (err->code != KL_ENOMEM && err->code != KL_EINTERNAL && err->code != KL_EINVAL)
		fail_msg("failed with %s: %s", kl_errc_name(err->code), err->msg);
}

/* Runs op with the 1st, (1+stride)th, ... OpenSSL allocation failing until a run needs no more
 * (stride 1: every allocation). */
static inline void every_allocation(op_fn op, long at_least, long stride)
{
	struct kl_err err;
	long n;
	int rc;

	for (n = 1;; n += stride) {
		memset(&err, 0, sizeof(err));
		alloc_count = 0;
		alloc_fail_at = n;
		armed = true;
		rc = op(&err);
		armed = false;
		if (alloc_count < n) {
			assert_int_equal(rc, 0);	/* nothing failed: it must work */
			break;
		}
		if (rc != 0)
			failed_cleanly(&err);
	}
	if (n <= at_least)
		fail_msg("only %ld allocations: the allocator was not replaced", n);
}

#endif
