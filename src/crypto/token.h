/* Bearer tokens: generation, digests for storage, constant-time comparison. Thread-safe. */
#ifndef KLUIS_CRYPTO_TOKEN_H
#define KLUIS_CRYPTO_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define TOKEN_DIGEST_LEN 32
#define TOKEN_TEXT_LEN 48	/* "kl1." + 43 base64url characters of 256 random bits + NUL fits */

/* A new token of 256 random bits as text ("kl1." followed by base64url); out holds
 * TOKEN_TEXT_LEN bytes. The caller wipes it when done. */
int token_new(char out[TOKEN_TEXT_LEN], struct kl_err *err);

/* SHA-256 of the token text. */
int token_digest(const char *tok, size_t tok_len, unsigned char out[TOKEN_DIGEST_LEN],
		 struct kl_err *err);

/* Constant-time: does tok hash to digest? */
bool token_matches(const char *tok, size_t tok_len, const unsigned char digest[TOKEN_DIGEST_LEN]);

#endif
