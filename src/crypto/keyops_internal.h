/* What keyops.c (keys, JWK, serialisation) and keycrypt.c (the operations) share: the key
 * structure and the curve table. Included by those two files only. */
#ifndef KLUIS_CRYPTO_KEYOPS_INTERNAL_H
#define KLUIS_CRYPTO_KEYOPS_INTERNAL_H

#include <openssl/evp.h>

#include "crypto/keyops.h"
#include "util/secbuf.h"

/* A 400 BadParameter: the client chose something that does not fit. */
#define KEYOPS_BAD(err, ...) kl_fail_az((err), KL_EINVAL, "BadParameter", NULL, __VA_ARGS__)

struct keyops_curve {
	const char *crv;	/* JWK name: "P-256" */
	const char *group;	/* OpenSSL group name: "prime256v1" */
	int nid;
	unsigned field_bits;
	size_t size;		/* bytes of a coordinate, and of each of r and s */
	const char *alg;	/* the ES algorithm of this curve */
};

struct keyops_key {
	enum keyops_kty kty;
	EVP_PKEY *pkey;		/* RSA and EC */
	struct secbuf *oct;	/* oct: the AES key */
	const struct keyops_curve *curve;	/* EC */
	unsigned bits;
};

/* Logs what failed with OpenSSL's reason (never key material), empties OpenSSL's error queue,
 * and fills err with KL_EINTERNAL. Returns -1. */
int keyops_ossl_fail(struct kl_err *err, const char *what);

#endif
