/* x509export.c owns the two formats the managed secret of a certificate is downloaded in: a
 * PKCS#12 file with an empty password (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC for the key
 * and the certificates, an HMAC-SHA256 MAC), and PEM text (unencrypted PKCS#8 then the chain).
 * It must never write a legacy algorithm (RC2, 3DES, SHA-1 MAC), never leave private key bytes
 * in memory it frees (secure memory BIOs, wiped scratch), and never put them in a message. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "crypto/keyops_internal.h"
#include "crypto/x509_internal.h"

/* PBKDF2 and MAC iterations: OpenSSL's default, what `openssl pkcs12 -export` writes. */
#define PFX_ITER PKCS12_DEFAULT_ITER

/* The certificates of chain as OpenSSL objects, in order. */
static int chain_decode(const struct x509_chain *chain, STACK_OF(X509) **out, struct kl_err *err)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509 *x = NULL;
	size_t i;
	int rc = -1;

	if (certs == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (chain->n == 0 || chain->n > X509_CHAIN_MAX) {
		x509_bad(err, "a chain holds 1 to %d certificates", X509_CHAIN_MAX);
		goto out;
	}
	for (i = 0; i < chain->n; i++) {
		if ((x = x509_decode(chain->der[i].data, chain->der[i].len)) == NULL) {
			x509_bad(err, "certificate %zu of the chain does not parse", i + 1);
			goto out;
		}
		if (sk_X509_push(certs, x) <= 0) {
			kl_fail(err, KL_ENOMEM, "out of memory");
			goto out;
		}
		x = NULL;
	}
	*out = certs;
	certs = NULL;
	rc = 0;
out:
	X509_free(x);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

static int key_check(const struct keyops_key *key, X509 *leaf, struct kl_err *err)
{
	EVP_PKEY *pkey = x509_pkey_of(key);
	int same;

	if (key == NULL)
		return 0;
	if (pkey == NULL)
		return x509_bad(err, "only RSA and EC keys go with a certificate");
	same = X509_check_private_key(leaf, pkey);
	ERR_clear_error();
	return same == 1 ? 0 : x509_bad(err, "the first certificate of the chain is not the key's");
}

/* The PKCS#12 structure of what x509_export_pfx writes. Built bag by bag rather than with
 * PKCS12_create, which ignores a failure to add the certificate and can then return a file
 * without it when memory runs out. */
static PKCS12 *pfx_build(EVP_PKEY *pkey, STACK_OF(X509) *certs, struct kl_err *err)
{
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	PKCS12_SAFEBAG *bag;
	PKCS12 *p12 = NULL;
	unsigned char keyid[EVP_MAX_MD_SIZE];
	unsigned int keyid_len = 0;
	int i;

	/* localKeyID = SHA-1 of the leaf on the leaf's and the key's bags, as Windows expects. */
	if (pkey != NULL &&
	    X509_digest(sk_X509_value(certs, 0), EVP_sha1(), keyid, &keyid_len) != 1)
		goto fail;
	for (i = 0; i < sk_X509_num(certs); i++) {
		if ((bag = PKCS12_add_cert(&bags, sk_X509_value(certs, i))) == NULL ||
		    (i == 0 && keyid_len > 0 &&
		     PKCS12_add_localkeyid(bag, keyid, (int)keyid_len) != 1))
			goto fail;
	}
	if (PKCS12_add_safe_ex(&safes, bags, NID_aes_256_cbc, PFX_ITER, "", NULL, NULL) != 1)
		goto fail;
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	bags = NULL;
	if (pkey != NULL) {
		if ((bag = PKCS12_add_key_ex(&bags, pkey, 0, PFX_ITER, NID_aes_256_cbc, "", NULL,
					     NULL)) == NULL ||
		    PKCS12_add_localkeyid(bag, keyid, (int)keyid_len) != 1 ||
		    PKCS12_add_safe_ex(&safes, bags, -1, 0, NULL, NULL, NULL) != 1)
			goto fail;
	}
	/* The empty password is "": OpenSSL, Python and Node try it. MAC HMAC-SHA256. */
	if ((p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL)) == NULL ||
	    PKCS12_set_mac(p12, "", -1, NULL, 0, PFX_ITER, EVP_sha256()) != 1)
		goto fail;
	goto out;
fail:
	PKCS12_free(p12);
	p12 = NULL;
	keyops_ossl_fail(err, "writing a PKCS#12 file");
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return p12;
}

int x509_export_pfx(const struct keyops_key *key, const struct x509_chain *chain, struct buf *out,
		    struct kl_err *err)
{
	STACK_OF(X509) *certs = NULL;
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	int len = 0, rc = -1;

	if (chain_decode(chain, &certs, err) != 0 ||
	    key_check(key, sk_X509_value(certs, 0), err) != 0 ||
	    (p12 = pfx_build(key != NULL ? x509_pkey_of(key) : NULL, certs, err)) == NULL)
		goto out;
	if ((len = i2d_PKCS12(p12, &der)) <= 0) {
		keyops_ossl_fail(err, "writing a PKCS#12 file");
		goto out;
	}
	rc = buf_append(out, der, (size_t)len, err);
out:
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)len);
	PKCS12_free(p12);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}

int x509_export_pem(const struct keyops_key *key, const struct x509_chain *chain, struct buf *out,
		    struct kl_err *err)
{
	STACK_OF(X509) *certs = NULL;
	BIO *bio = NULL;
	char *text = NULL;
	long len;
	int i, rc = -1;

	if (chain_decode(chain, &certs, err) != 0 ||
	    key_check(key, sk_X509_value(certs, 0), err) != 0)
		goto out;
	/* A secure memory BIO: its buffer is cleared when it grows and when it is freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (key != NULL &&
	    PEM_write_bio_PKCS8PrivateKey(bio, x509_pkey_of(key), NULL, NULL, 0, NULL, NULL) != 1) {
		keyops_ossl_fail(err, "writing a PEM private key");
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (PEM_write_bio_X509(bio, sk_X509_value(certs, i)) != 1) {
			keyops_ossl_fail(err, "writing a PEM certificate");
			goto out;
		}
	}
	if ((len = BIO_get_mem_data(bio, &text)) <= 0) {
		keyops_ossl_fail(err, "writing PEM text");
		goto out;
	}
	rc = buf_append(out, text, (size_t)len, err);
out:
	BIO_free(bio);
	sk_X509_pop_free(certs, X509_free);
	return rc;
}
