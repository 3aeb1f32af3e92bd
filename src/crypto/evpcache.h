/* OpenSSL 3 objects that the hot paths would otherwise make on every call: the algorithms,
 * fetched once (OpenSSL 3's EVP_sha256() and EVP_aes_256_gcm() fetch by name behind the scenes
 * each time a context is set up: locks, a string copy, a lookup), and each thread's contexts for
 * AES-256-GCM and SHA-256, set up once and re-keyed per use (seal.c opens a record per GET;
 * token.c hashes a bearer token per request). Internal to crypto/. Thread-safe. */
#ifndef KLUIS_CRYPTO_EVPCACHE_H
#define KLUIS_CRYPTO_EVPCACHE_H

#include <stdbool.h>

#include <openssl/evp.h>

/* SHA-256, SHA-384 or SHA-512 by bits (256, 384, 512), fetched once; NULL for other bits or when
 * OpenSSL cannot provide it. */
const EVP_MD *evpcache_sha(int bits);

/* This thread's AES-256-GCM context for encrypt (true) or decrypt (false), set to the cipher
 * with a 12-byte IV and no key; NULL on failure (out of memory). Key it with
 * EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, -1); give it back with evpcache_gcm_done, which
 * overwrites the key schedule. Never held across a call to another function that may use it. */
EVP_CIPHER_CTX *evpcache_gcm(bool encrypt);
#define EVPCACHE_GCM_IV_LEN 12
void evpcache_gcm_done(EVP_CIPHER_CTX *ctx);

/* This thread's SHA-256 context, ready for EVP_DigestInit_ex(ctx, evpcache_sha(256), NULL);
 * NULL on failure. OpenSSL wipes the input block at EVP_DigestFinal_ex. */
EVP_MD_CTX *evpcache_md_ctx(void);

#endif
