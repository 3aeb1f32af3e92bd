/* Keys of the keys API and what can be done with them: generation, JWK import, the public JWK,
 * serialisation for sealing, and the cryptographic operations (encrypt, decrypt, wrap, unwrap,
 * sign, verify) with the Azure Key Vault algorithm names. OpenSSL 3 EVP API only. A struct
 * keyops_key is immutable after creation and may be used by several threads at once; its memory
 * is wiped when freed. Errors are KL_EINVAL (BadParameter) for anything the client chose wrongly
 * (algorithm that does not fit the key, wrong digest length, bad ciphertext, bad JWK), KL_ENOMEM,
 * or KL_EINTERNAL (logged once with OpenSSL's error queue). Messages never hold key material. */
#ifndef KLUIS_CRYPTO_KEYOPS_H
#define KLUIS_CRYPTO_KEYOPS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/jwk.h"

enum keyops_kty { KEYOPS_RSA, KEYOPS_EC, KEYOPS_OCT };

struct keyops_key;

/* RSA: bits 2048, 3072 or 4096; exponent 0 means 65537 (else odd, >= 3, fits in 32 bits). */
struct keyops_key *keyops_generate_rsa(unsigned bits, unsigned long exponent, struct kl_err *err);
/* EC on "P-256", "P-256K" (secp256k1), "P-384" or "P-521". */
struct keyops_key *keyops_generate_ec(const char *crv, struct kl_err *err);
/* oct (AES): bits 128, 192 or 256. */
struct keyops_key *keyops_generate_oct(unsigned bits, struct kl_err *err);

/* A key from a JWK with its private members (RSA n,e,d and ideally p,q,dp,dq,qi; EC crv,x,y,d;
 * oct k). The kty may carry "-HSM". Checks consistency (the public point/modulus matches the
 * private part, sizes allowed as in generate). */
struct keyops_key *keyops_from_jwk(const struct jwk *j, struct kl_err *err);
/* A public key (RSA n,e or EC crv,x,y; private members ignored) for verifying signatures only. */
struct keyops_key *keyops_from_public_jwk(const struct jwk *j, struct kl_err *err);

/* Fills out (after jwk_init) with the public members: kty "RSA"/"EC"/"oct" (no -HSM), n and e
 * (unsigned big-endian, no leading zero byte), or crv, x and y (left-padded to the field size:
 * 32, 32, 48, 66 bytes). Nothing for oct beyond kty. */
int keyops_public_jwk(const struct keyops_key *k, struct jwk *out, struct kl_err *err);

/* Private material to seal (PKCS#8 DER for RSA/EC, raw bytes for oct), appended to out (a
 * wiping buffer), and back. keyops_deserialize fails with KL_ECORRUPT on anything it did not
 * write (wrong type, truncated, trailing bytes). */
int keyops_serialize(const struct keyops_key *k, struct buf *out, struct kl_err *err);
struct keyops_key *keyops_deserialize(enum keyops_kty kty, const void *p, size_t n,
				      struct kl_err *err);

void keyops_free(struct keyops_key *k);

enum keyops_kty keyops_type(const struct keyops_key *k);
/* Modulus bits (RSA), key bits (oct), field bits (EC). */
unsigned keyops_bits(const struct keyops_key *k);
/* "P-256"... for EC, NULL otherwise. */
const char *keyops_curve(const struct keyops_key *k);

/* Inputs of encrypt/decrypt/wrap/unwrap; NULL/0 when absent. */
struct keyops_input {
	const unsigned char *value;
	size_t value_len;
	const unsigned char *iv;
	size_t iv_len;
	const unsigned char *aad;
	size_t aad_len;
	const unsigned char *tag;
	size_t tag_len;
};

/* Outputs: out is a wiping buffer the caller initialised; iv and tag are set by GCM encrypt
 * (iv_len 12, tag_len 16) and echoed for CBC (the caller's iv); 0 otherwise. */
struct keyops_output {
	struct buf *out;
	unsigned char iv[16];
	size_t iv_len;
	unsigned char tag[16];
	size_t tag_len;
};

/* alg: RSA1_5, RSA-OAEP, RSA-OAEP-256 (RSA keys); A128GCM, A192GCM, A256GCM, A128CBC, A192CBC,
 * A256CBC, A128CBCPAD, A192CBCPAD, A256CBCPAD (oct keys of the matching size). GCM encrypt
 * makes a random 12-byte iv; CBC needs a 16-byte iv from the caller. */
int keyops_encrypt(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		   struct keyops_output *out, struct kl_err *err);
int keyops_decrypt(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		   struct keyops_output *out, struct kl_err *err);
/* alg: RSA1_5, RSA-OAEP, RSA-OAEP-256 (RSA keys); A128KW, A192KW, A256KW (RFC 3394, oct keys of
 * the matching size; input a multiple of 8 bytes, at least 16); CKM_AES_KEY_WRAP (RFC 3394 with
 * an oct key of any size) and CKM_AES_KEY_WRAP_PAD (RFC 5649, any input of at least 1 byte).
 * Every failure to decrypt or unwrap (padding, tag, integrity, a value of the wrong length for
 * RSA) is the same 400 "Decryption failed.", and out is left as it was. */
int keyops_wrap(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		struct keyops_output *out, struct kl_err *err);
int keyops_unwrap(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		  struct keyops_output *out, struct kl_err *err);

/* Sign a digest (never hashes): RS256/384/512 and PS256/384/512 (RSA; PSS salt = hash length,
 * MGF1 with the same hash), ES256 (P-256), ES256K (P-256K), ES384 (P-384), ES512 (P-521); the
 * digest must be 32/48/64 bytes as the hash says. EC signatures are JOSE r||s, each half the
 * field size (64/64/96/132 bytes in all). Appends the signature to sig. RSNULL and HS256/384/512
 * are known names that kluis refuses (400). */
int keyops_sign(const struct keyops_key *k, const char *alg, const unsigned char *digest,
		size_t digest_len, struct buf *sig, struct kl_err *err);
/* *valid is false for a signature that does not verify (including wrong length): that is not an
 * error. Errors are for algorithms that do not fit and digests of the wrong length. */
int keyops_verify(const struct keyops_key *k, const char *alg, const unsigned char *digest,
		  size_t digest_len, const unsigned char *sig, size_t sig_len, bool *valid,
		  struct kl_err *err);

#endif
