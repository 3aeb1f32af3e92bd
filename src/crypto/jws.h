/* Compact JWS (RFC 7515) for the identity provider: splitting and decoding a token without
 * trusting it, checking a signature with a public key or an X.509 certificate's key (RS256, PS256,
 * ES256), signing with a private key (RS256), and the thumbprints (x5t, x5t#S256) of a DER
 * certificate. Claims are jansson objects; the caller decides what they must say. Thread-safe. */
#ifndef KLUIS_CRYPTO_JWS_H
#define KLUIS_CRYPTO_JWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct keyops_key;

#define JWS_MAX_BYTES 16384

/* A token split and decoded, signature not checked yet. */
struct jws_parts {
	json_t *header;		/* owned */
	json_t *claims;		/* owned */
	size_t signing_input_len;	/* bytes of the token before the second '.' */
	struct buf sig;		/* the decoded signature */
};

void jws_parts_init(struct jws_parts *p);
void jws_parts_clear(struct jws_parts *p);

/* Splits tok: three base64url segments, header and claims JSON objects, at most JWS_MAX_BYTES,
 * and a header without "crit" (no critical extension is understood). KL_EINVAL saying what is
 * wrong (never quoting the token). */
int jws_parse(const char *tok, size_t len, struct jws_parts *out, struct kl_err *err);

/* Checks p's signature over tok (the same text jws_parse read) with alg (RS256, PS256, ES256;
 * anything else is refused) and key's public part: 0 and *valid. The key's type must fit alg. */
int jws_verify_key(const struct keyops_key *key, const char *alg, const char *tok,
		   const struct jws_parts *p, bool *valid, struct kl_err *err);
/* The same with the public key of a DER X.509 certificate. */
int jws_verify_cert(const void *der, size_t der_len, const char *alg, const char *tok,
		    const struct jws_parts *p, bool *valid, struct kl_err *err);

/* Signs header.claims (serialised compactly) with key (RSA: RS256; EC P-256: ES256); the
 * header gets alg and typ "JWT" added. out gets the token text. */
int jws_sign(const struct keyops_key *key, json_t *header, json_t *claims, struct buf *out,
	     struct kl_err *err);

/* Thumbprints of a DER certificate: SHA-1 (20 bytes) and SHA-256 (32 bytes). */
int jws_cert_thumbprints(const void *der, size_t der_len, unsigned char sha1[20],
			 unsigned char sha256[32], struct kl_err *err);

#endif
