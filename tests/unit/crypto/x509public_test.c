/* crypto/x509 for a principal's client certificate: x509_read_public_cert (DER, PEM, base64 of
 * DER; a private key in any form, several certificates, garbage refused with KL_EINVAL and
 * nothing appended) and x509_thumbprints (SHA-1 and SHA-256 of the DER, checked against
 * OpenSSL's own digest of the certificate). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/b64url.h"

struct fx {
	struct keyops_key *key;
	struct buf der, der2, pem, pem2, pem_key;
};

static struct fx f;

static void make(const char *subject, int64_t not_after, struct buf *der)
{
	struct x509_profile p;
	struct kl_err err = { 0 };

	memset(&p, 0, sizeof(p));
	p.subject = subject;
	p.not_before = (int64_t)time(NULL) - 60;
	p.not_after = not_after;
	buf_init(der, X509_CERT_MAX);
	if (x509_self_sign(f.key, &p, der, &err) != 0)
		fail_msg("x509_self_sign: %s", err.msg);
}

static void pem(const struct keyops_key *key, const struct buf *der, struct buf *out)
{
	struct x509_chain c;
	struct kl_err err = { 0 };

	x509_chain_init(&c);
	buf_init_secret(out, X509_UPLOAD_MAX);
	assert_int_equal(x509_chain_add(&c, der->data, der->len, &err), 0);
	assert_int_equal(x509_export_pem(key, &c, out, &err), 0);
	x509_chain_clear(&c);
}

static int setup(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	if ((f.key = keyops_generate_ec("P-256", &err)) == NULL)
		return -1;
	make("CN=one", (int64_t)time(NULL) + 86400, &f.der);
	make("CN=two", (int64_t)time(NULL) + 86400, &f.der2);
	pem(NULL, &f.der, &f.pem);
	pem(NULL, &f.der2, &f.pem2);
	pem(f.key, &f.der, &f.pem_key);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	keyops_free(f.key);
	buf_clear(&f.der);
	buf_clear(&f.der2);
	buf_clear(&f.pem);
	buf_clear(&f.pem2);
	buf_clear(&f.pem_key);
	return 0;
}

static void accepts(const void *p, size_t n, const struct buf *want)
{
	struct kl_err err = { 0 };
	struct buf der;

	buf_init(&der, X509_CERT_MAX);
	assert_int_equal(buf_append(&der, "x", 1, &err), 0);	/* appended after what is there */
	if (x509_read_public_cert(p, n, &der, &err) != 0)
		fail_msg("refused: %s", err.msg);
	assert_int_equal(der.len, 1 + want->len);
	assert_memory_equal(der.data + 1, want->data, want->len);
	buf_clear(&der);
}

static void refuses(const void *p, size_t n, const char *says)
{
	struct kl_err err = { 0 };
	struct buf der;

	buf_init(&der, X509_CERT_MAX);
	assert_int_equal(x509_read_public_cert(p, n, &der, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_int_equal(der.len, 0);
	if (says != NULL && strstr(err.msg, says) == NULL)
		fail_msg("'%s' does not say '%s'", err.msg, says);
	buf_clear(&der);
}

static void test_accepts_each_form(void **state)
{
	struct kl_err err = { 0 };
	struct buf b64, text;

	(void)state;
	accepts(f.der.data, f.der.len, &f.der);
	accepts(f.pem.data, f.pem.len, &f.der);
	buf_init(&b64, X509_UPLOAD_MAX);
	assert_int_equal(b64_std_encode(f.der.data, f.der.len, &b64, &err), 0);
	accepts(b64.data, b64.len, &f.der);
	/* base64 with line breaks and blanks around, as a file or a JSON string holds it */
	buf_init(&text, X509_UPLOAD_MAX);
	assert_int_equal(buf_append(&text, "  ", 2, &err), 0);
	assert_int_equal(buf_append(&text, b64.data, 64, &err), 0);
	assert_int_equal(buf_append(&text, "\r\n", 2, &err), 0);
	assert_int_equal(buf_append(&text, b64.data + 64, b64.len - 64, &err), 0);
	assert_int_equal(buf_append(&text, "\n", 1, &err), 0);
	accepts(text.data, text.len, &f.der);
	/* PEM with text around it and a public key block beside the certificate */
	buf_reset(&text);
	assert_int_equal(buf_append_str(&text, "subject=CN = one\n", &err), 0);
	assert_int_equal(buf_append(&text, f.pem.data, f.pem.len, &err), 0);
	assert_int_equal(buf_append_str(&text, "-----BEGIN PUBLIC KEY-----\nAAAA\n"
					"-----END PUBLIC KEY-----\n", &err), 0);
	accepts(text.data, text.len, &f.der);
	buf_clear(&b64);
	buf_clear(&text);
}

static void test_refuses_private_keys(void **state)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	char *mem;
	long n;
	int len;

	(void)state;
	assert_non_null(pk);
	assert_non_null(bio);
	/* PKCS#8 PEM with the certificate (the identity agent's file) */
	refuses(f.pem_key.data, f.pem_key.len, "private key");
	/* traditional and encrypted PEM */
	assert_int_equal(PEM_write_bio_PrivateKey_traditional(bio, pk, NULL, NULL, 0, NULL, NULL),
			 1);
	n = BIO_get_mem_data(bio, &mem);
	refuses(mem, (size_t)n, "private key");
	assert_int_equal(BIO_reset(bio), 1);
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pk, EVP_aes_256_cbc(), NULL, 0, NULL,
						       "pw"), 1);
	n = BIO_get_mem_data(bio, &mem);
	refuses(mem, (size_t)n, "private key");
	/* DER: traditional, PKCS#8 */
	assert_true((len = i2d_PrivateKey(pk, &der)) > 0);
	refuses(der, (size_t)len, "private key");
	OPENSSL_clear_free(der, (size_t)len);
	der = NULL;
	assert_non_null(p8 = EVP_PKEY2PKCS8(pk));
	assert_true((len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) > 0);
	refuses(der, (size_t)len, "private key");
	OPENSSL_clear_free(der, (size_t)len);
	/* PKCS#12 */
	{
		struct x509_chain c;
		struct kl_err err = { 0 };
		struct buf pfx;

		x509_chain_init(&c);
		buf_init_secret(&pfx, X509_UPLOAD_MAX);
		assert_int_equal(x509_chain_add(&c, f.der.data, f.der.len, &err), 0);
		assert_int_equal(x509_export_pfx(f.key, &c, &pfx, &err), 0);
		refuses(pfx.data, pfx.len, "private key");
		x509_chain_clear(&c);
		buf_clear(&pfx);
	}
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(pk);
	BIO_free(bio);
}

static void test_refuses_the_rest(void **state)
{
	struct kl_err err = { 0 };
	struct buf two, big;

	(void)state;
	refuses(NULL, 0, "empty");
	refuses("", 0, "empty");
	refuses("hello", 5, "not an X.509 certificate");
	refuses("\x30\x03\x02\x01\x01", 5, "not an X.509 certificate");
	refuses(f.der.data, f.der.len - 1, "not an X.509 certificate");
	refuses("MAMCAQE=", 8, "not an X.509 certificate");	/* base64 of a DER integer list */
	refuses("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 60, NULL);
	refuses("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", 56,
		"no CERTIFICATE");
	refuses("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", 59, NULL);
	buf_init(&two, X509_UPLOAD_MAX);
	assert_int_equal(buf_append(&two, f.pem.data, f.pem.len, &err), 0);
	assert_int_equal(buf_append(&two, f.pem2.data, f.pem2.len, &err), 0);
	refuses(two.data, two.len, "more than one certificate");
	buf_init(&big, 2 * X509_UPLOAD_MAX);
	while (big.len <= X509_UPLOAD_MAX)
		assert_int_equal(buf_append(&big, f.pem.data, f.pem.len, &err), 0);
	refuses(big.data, big.len, "larger than");
	buf_clear(&two);
	buf_clear(&big);
}

static void test_thumbprints(void **state)
{
	unsigned char sha1[20], sha256[32], want1[20], want256[32];
	const unsigned char *p = f.der.data;
	unsigned int n1 = 0, n256 = 0;
	struct kl_err err = { 0 };
	X509 *x;

	(void)state;
	assert_int_equal(x509_thumbprints(f.der.data, f.der.len, sha1, sha256, &err), 0);
	assert_non_null(x = d2i_X509(NULL, &p, (long)f.der.len));
	assert_int_equal(X509_digest(x, EVP_sha1(), want1, &n1), 1);
	assert_int_equal(X509_digest(x, EVP_sha256(), want256, &n256), 1);
	assert_int_equal(n1, 20);
	assert_int_equal(n256, 32);
	assert_memory_equal(sha1, want1, 20);
	assert_memory_equal(sha256, want256, 32);
	X509_free(x);
	assert_int_equal(x509_thumbprints(f.der2.data, f.der2.len, sha1, sha256, &err), 0);
	assert_memory_not_equal(sha256, want256, 32);
	assert_int_equal(x509_thumbprints(NULL, 0, sha1, sha256, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_each_form),
		cmocka_unit_test(test_refuses_private_keys),
		cmocka_unit_test(test_refuses_the_rest),
		cmocka_unit_test(test_thumbprints),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
