/* Bearer tokens that are JWTs from a trusted OpenID issuer: a key set (JWKS) read from a file,
 * and the verification of a compact JWS token against it (RS256 or ES256 only; "none" and HMAC
 * never), with the issuer, audience, expiry and not-before checked. Thread-safe once loaded. */
#ifndef KLUIS_CRYPTO_JWT_H
#define KLUIS_CRYPTO_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define JWT_MAX_BYTES 16384
#define JWT_SUB_MAX 255
#define JWT_SKEW_S 60		/* clock difference tolerated on exp and nbf */

struct jwt_keyset;

/* Reads a JWKS document ({"keys": [...]}) from path: its RSA and EC public keys, each with its
 * kid. Keys of other types, or marked for encryption (use "enc"), are skipped; a set without a
 * usable key is KL_EINVAL. */
struct jwt_keyset *jwt_keyset_load(const char *path, struct kl_err *err);
void jwt_keyset_free(struct jwt_keyset *ks);
size_t jwt_keyset_size(const struct jwt_keyset *ks);

/* Three base64url segments joined by dots, the first one a JSON object: worth verifying. */
bool jwt_looks_like(const char *tok, size_t len);

/* Verifies tok and copies its subject into sub (JWT_SUB_MAX + 1 bytes) and, when exp_s is not
 * NULL, its exp (whole seconds, rounded down; 0 when too large to hold). Every failure is
 * KL_EUNAUTH with a message saying which check failed (never the token). */
int jwt_verify(const struct jwt_keyset *ks, const char *tok, size_t len, const char *issuer,
	       const char *audience, int64_t now, char *sub, int64_t *exp_s, struct kl_err *err);

#endif
