/* Streaming SHA-2 digests (OpenSSL's), for callers that hash what they cannot hold at once: the
 * CLI hashing a document it signs. */
#ifndef KLUIS_CRYPTO_DIGEST_H
#define KLUIS_CRYPTO_DIGEST_H

#include <stddef.h>

#include "util/err.h"

#define CRYPTO_DIGEST_MAX 64

struct crypto_digest;

/* bits is 256, 384 or 512 (SHA-256, SHA-384, SHA-512); NULL with err otherwise. */
struct crypto_digest *crypto_digest_new(int bits, struct kl_err *err);
int crypto_digest_update(struct crypto_digest *d, const void *p, size_t n, struct kl_err *err);
/* Writes the digest (bits / 8 bytes) to out. */
int crypto_digest_final(struct crypto_digest *d, unsigned char out[CRYPTO_DIGEST_MAX],
			struct kl_err *err);
/* NULL is a no-op; OpenSSL clears the state. */
void crypto_digest_free(struct crypto_digest *d);

#endif
