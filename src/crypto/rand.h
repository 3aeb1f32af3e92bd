/* Cryptographically secure random bytes (OpenSSL's DRBG). Thread-safe. */
#ifndef KLUIS_CRYPTO_RAND_H
#define KLUIS_CRYPTO_RAND_H

#include <stddef.h>

#include "util/err.h"

int crypto_random(void *out, size_t n, struct kl_err *err);

/* Writes 2*n_bytes lowercase hex characters of fresh randomness and a NUL to out, which holds at
 * least 2*n_bytes+1 bytes. Used for object versions (n_bytes 16) and request ids. */
int crypto_random_hex(char *out, size_t n_bytes, struct kl_err *err);

/* A random RFC 4122 version-4 UUID in lowercase text form; out holds at least 37 bytes. */
int crypto_random_uuid(char out[37], struct kl_err *err);

#endif
