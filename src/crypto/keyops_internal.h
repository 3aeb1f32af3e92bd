/* What keyops.c (keys, public JWK, serialisation), keyimport.c (JWK import) and keycrypt.c (the
 * operations) share: the key structure, the curve table and a few constructors. Included by those
 * three files, by the x509 files (which wrap and read the EVP_PKEY of a key) and by jws.c (which
 * wraps a certificate's public key) only. */
#ifndef KLUIS_CRYPTO_KEYOPS_INTERNAL_H
#define KLUIS_CRYPTO_KEYOPS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

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
};

struct keyops_key {
	enum keyops_kty kty;
	EVP_PKEY *pkey;		/* RSA and EC */
	struct secbuf *oct;	/* oct: the AES key */
	const struct keyops_curve *curve;	/* EC */
	unsigned bits;
};

/* The curve of a JWK name ("P-256"), NULL when not one of ours. */
const struct keyops_curve *keyops_curve_by_name(const char *crv);
/* 2048, 3072 or 4096. */
bool keyops_rsa_bits_allowed(unsigned bits);
/* An empty key of type kty (calloc'd); NULL with KL_ENOMEM. */
struct keyops_key *keyops_key_new(enum keyops_kty kty, struct kl_err *err);
/* A key that takes *pkey over (and sets it NULL); on failure *pkey is still the caller's. An EC
 * key's bits are its curve's field size (bits is then ignored). */
struct keyops_key *keyops_key_adopt(EVP_PKEY **pkey, enum keyops_kty kty,
				    const struct keyops_curve *c, unsigned bits, struct kl_err *err);
/* An oct key holding a copy of p[0..n) (n already checked). */
struct keyops_key *keyops_oct_from_bytes(const void *p, size_t n, struct kl_err *err);

/* Logs what failed with OpenSSL's reason (never key material), empties OpenSSL's error queue,
 * and fills err with KL_EINTERNAL. Returns -1. */
int keyops_ossl_fail(struct kl_err *err, const char *what);

#endif
