/* What the x509 files share (x509gen.c, x509info.c, x509chain.c, x509read.c, x509export.c):
 * strict certificate decoding, the check that turns an OpenSSL key into a struct keyops_key of an
 * allowed type, and the error helpers. Included by those files only. */
#ifndef KLUIS_CRYPTO_X509_INTERNAL_H
#define KLUIS_CRYPTO_X509_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "crypto/keyops.h"
#include "crypto/x509.h"

/* A 400 BadParameter: the client sent or chose something that does not fit. Clears OpenSSL's
 * error queue, which a refused client input may have filled. */
int x509_bad(struct kl_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One DER certificate, exactly: at most X509_CERT_MAX bytes, nothing after it. NULL (and an empty
 * error queue) when it is not one. */
X509 *x509_decode(const void *der, size_t len);

/* Appends the DER of x to chain (KL_EINVAL past X509_CHAIN_MAX or X509_CERT_MAX). */
int x509_chain_push(struct x509_chain *chain, X509 *x, struct kl_err *err);

/* Appends every certificate of from to chain (KL_EINVAL past X509_CHAIN_MAX) and empties from. */
int x509_chain_move(struct x509_chain *chain, struct x509_chain *from, struct kl_err *err);

/* The curve of an EC key when it is one of ours ("P-256"...), NULL otherwise. */
const char *x509_ec_curve(const EVP_PKEY *pkey);

/* A struct keyops_key that takes *pkey over (and sets it NULL) when it is RSA 2048/3072/4096 or
 * EC P-256/P-256K/P-384/P-521; KL_EINVAL naming the type otherwise (*pkey is then still the
 * caller's). what names the key in the message ("the private key"). */
struct keyops_key *x509_key_adopt(EVP_PKEY **pkey, const char *what, struct kl_err *err);

/* The short name of a subject attribute as x509_self_sign reads it and x509_info writes it
 * ("CN", "S" for stateOrProvinceName, "E" for emailAddress...); NULL when it has none. */
const char *x509_attr_name(int nid);

/* The OpenSSL key of k (RSA or EC), or NULL for an oct key. */
EVP_PKEY *x509_pkey_of(const struct keyops_key *k);

/* What an upload's password-based encryption may cost, and the library context that decrypts it
 * (x509pfx.c). Zeroed to start; x509_pbe_clear frees it. */
struct x509_pbe {
	OSSL_LIB_CTX *legacy;		/* default + legacy providers, made on first need */
	OSSL_PROVIDER *prov_default;
	OSSL_PROVIDER *prov_legacy;
	unsigned work;			/* iterations of key derivation granted so far */
};

/* Checks the iteration count of alg (PBES2 with PBKDF2, or a PKCS#5 v1 / PKCS#12 PBE) against
 * the upload's budget and sets *ctx to the library context that decrypts it (NULL: the default;
 * the legacy one for RC2, RC4, DES). KL_EINVAL for other algorithms or too much work. */
int x509_pbe_prepare(struct x509_pbe *pbe, const X509_ALGOR *alg, OSSL_LIB_CTX **ctx,
		     struct kl_err *err);
void x509_pbe_clear(struct x509_pbe *pbe);

/* The end of an import: *pkey must be of an allowed type (it is taken over on success and set
 * NULL), one of certs must match it; that one goes first in chain unless preserve_order. */
int x509_take_key_and_chain(EVP_PKEY **pkey, STACK_OF(X509) *certs, bool preserve_order,
			    struct keyops_key **key, struct x509_chain *chain, struct kl_err *err);

#endif
