/* keycrypt.c owns the cryptographic operations of the keys API under their Azure Key Vault
 * algorithm names: RSA and AES encrypt/decrypt, RSA and AES key wrap, RSA and ECDSA sign/verify
 * over a caller's digest (keyops.c owns the keys themselves). It must never put key or plaintext
 * bytes in a log or an error message, never tell one decryption failure from another (one
 * "Decryption failed." for padding, tag and integrity failures alike), never return any output of
 * a decryption that failed (the caller's buffer is truncated back and wiped), and never hash the
 * caller's value: the service signs digests. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "crypto/keyops_internal.h"
#include "crypto/rand.h"
#include "util/log.h"

#define CRYPT_CHUNK 1024
#define CRYPT_VALUE_MAX (16u * 1024 * 1024)	/* bodies are far smaller; keeps EVP's ints safe */
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define CBC_IV_LEN 16
#define KW_BLOCK 8
#define SIG_MAX 1024	/* RSA 4096 is 512 bytes, a DER P-521 signature 139 */
#define DECRYPT_FAILED "Decryption failed."

enum alg_kind {
	AK_RSA_ENC,
	AK_GCM,
	AK_CBC,
	AK_CBCPAD,
	AK_KW,
	AK_KWP,
	AK_RS,
	AK_PS,
	AK_ES,
	AK_NONE
};

enum alg_use { USE_CRYPT = 1, USE_WRAP = 2, USE_SIGN = 4 };

struct alg {
	const char *name;
	enum alg_kind kind;
	unsigned uses;		/* enum alg_use bits */
	size_t key_len;		/* oct: the key length it needs, 0 for any AES key */
	const EVP_MD *(*md)(void);	/* OAEP and signature hash */
	size_t len;		/* RSA encryption: padding overhead; signatures: digest length */
	const char *crv;	/* ES: the curve it needs */
};

static const struct alg algs[] = {
	{ "RSA1_5", AK_RSA_ENC, USE_CRYPT | USE_WRAP, 0, NULL, 11, NULL },
	{ "RSA-OAEP", AK_RSA_ENC, USE_CRYPT | USE_WRAP, 0, EVP_sha1, 42, NULL },
	{ "RSA-OAEP-256", AK_RSA_ENC, USE_CRYPT | USE_WRAP, 0, EVP_sha256, 66, NULL },
	{ "A128GCM", AK_GCM, USE_CRYPT, 16, NULL, 0, NULL },
	{ "A192GCM", AK_GCM, USE_CRYPT, 24, NULL, 0, NULL },
	{ "A256GCM", AK_GCM, USE_CRYPT, 32, NULL, 0, NULL },
	{ "A128CBC", AK_CBC, USE_CRYPT, 16, NULL, 0, NULL },
	{ "A192CBC", AK_CBC, USE_CRYPT, 24, NULL, 0, NULL },
	{ "A256CBC", AK_CBC, USE_CRYPT, 32, NULL, 0, NULL },
	{ "A128CBCPAD", AK_CBCPAD, USE_CRYPT, 16, NULL, 0, NULL },
	{ "A192CBCPAD", AK_CBCPAD, USE_CRYPT, 24, NULL, 0, NULL },
	{ "A256CBCPAD", AK_CBCPAD, USE_CRYPT, 32, NULL, 0, NULL },
	{ "A128KW", AK_KW, USE_WRAP, 16, NULL, 0, NULL },
	{ "A192KW", AK_KW, USE_WRAP, 24, NULL, 0, NULL },
	{ "A256KW", AK_KW, USE_WRAP, 32, NULL, 0, NULL },
	{ "CKM_AES_KEY_WRAP", AK_KW, USE_WRAP, 0, NULL, 0, NULL },
	{ "CKM_AES_KEY_WRAP_PAD", AK_KWP, USE_WRAP, 0, NULL, 0, NULL },
	{ "RS256", AK_RS, USE_SIGN, 0, EVP_sha256, 32, NULL },
	{ "RS384", AK_RS, USE_SIGN, 0, EVP_sha384, 48, NULL },
	{ "RS512", AK_RS, USE_SIGN, 0, EVP_sha512, 64, NULL },
	{ "PS256", AK_PS, USE_SIGN, 0, EVP_sha256, 32, NULL },
	{ "PS384", AK_PS, USE_SIGN, 0, EVP_sha384, 48, NULL },
	{ "PS512", AK_PS, USE_SIGN, 0, EVP_sha512, 64, NULL },
	{ "ES256", AK_ES, USE_SIGN, 0, EVP_sha256, 32, "P-256" },
	{ "ES256K", AK_ES, USE_SIGN, 0, EVP_sha256, 32, "P-256K" },
	{ "ES384", AK_ES, USE_SIGN, 0, EVP_sha384, 48, "P-384" },
	{ "ES512", AK_ES, USE_SIGN, 0, EVP_sha512, 64, "P-521" },
	/* Names of the service that kluis knows and refuses. */
	{ "RSNULL", AK_NONE, USE_SIGN, 0, NULL, 0, NULL },
	{ "HS256", AK_NONE, USE_SIGN, 0, NULL, 0, NULL },
	{ "HS384", AK_NONE, USE_SIGN, 0, NULL, 0, NULL },
	{ "HS512", AK_NONE, USE_SIGN, 0, NULL, 0, NULL },
};

static const char *kty_name(enum keyops_kty kty)
{
	return kty == KEYOPS_RSA ? "RSA" : kty == KEYOPS_EC ? "EC" : "oct";
}

static enum keyops_kty kind_kty(enum alg_kind kind)
{
	enum keyops_kty kty = KEYOPS_OCT;

	if (kind == AK_RSA_ENC || kind == AK_RS || kind == AK_PS)
		kty = KEYOPS_RSA;
	else if (kind == AK_ES)
		kty = KEYOPS_EC;
	return kty;
}

/* The algorithm called name, if it fits key k and the use; NULL with a 400 otherwise. */
static const struct alg *alg_for(const struct keyops_key *k, const char *name, enum alg_use use,
				 struct kl_err *err)
{
	static const char *const verbs[] = { [USE_CRYPT] = "encrypt or decrypt",
					      [USE_WRAP] = "wrap or unwrap keys",
					      [USE_SIGN] = "sign or verify" };
	const struct alg *a = NULL;
	const struct alg *res = NULL;
	size_t i;

	for (i = 0; name != NULL && i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strcmp(algs[i].name, name) == 0)
			a = &algs[i];
	}
	if (a == NULL) {
		KEYOPS_BAD(err, "Unknown algorithm '%.32s'.", name != NULL ? name : "");
	} else if (a->kind == AK_NONE) {
		KEYOPS_BAD(err, "The algorithm %s is not supported.", a->name);
	} else if ((a->uses & use) == 0) {
		KEYOPS_BAD(err, "The algorithm %s cannot be used to %s.", a->name, verbs[use]);
	} else if (kind_kty(a->kind) != k->kty) {
		KEYOPS_BAD(err, "The algorithm %s cannot be used with a key of type %s.", a->name,
			   kty_name(k->kty));
	} else if (a->key_len != 0 && a->key_len != k->oct->len) {
		KEYOPS_BAD(err, "The algorithm %s needs a %zu-bit key; this key has %u bits.",
			   a->name, a->key_len * 8, k->bits);
	} else if (a->crv != NULL && strcmp(a->crv, k->curve->crv) != 0) {
		KEYOPS_BAD(err, "The algorithm %s needs a key on %s; this key is on %s.", a->name,
			   a->crv, k->curve->crv);
	} else {
		res = a;
	}
	return res;
}

/* A pointer EVP may read zero bytes from (it should never see NULL). */
static const unsigned char *nonnull(const unsigned char *p)
{
	return p != NULL ? p : (const unsigned char *)"";
}

/* ---- RSA encryption --------------------------------------------------------------------- */

static int rsa_crypt(const struct keyops_key *k, const struct alg *a, bool encrypting,
		     const struct keyops_input *in, struct buf *out, struct kl_err *err)
{
	size_t klen = (size_t)EVP_PKEY_get_size(k->pkey), olen = klen;
	int pad = a->md != NULL ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING;
	struct secbuf *tmp = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = -1;

	if (encrypting && in->value_len > klen - a->len) {
		KEYOPS_BAD(err,
			   "The value is too long for %s with a %u-bit key: at most %zu bytes.",
			   a->name, k->bits, klen - a->len);
		goto out;
	}
	if (!encrypting && in->value_len != klen) {
		KEYOPS_BAD(err, DECRYPT_FAILED);
		goto out;
	}
	if ((tmp = secbuf_new(klen, err)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) == NULL ||
	    (encrypting ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, pad) <= 0 ||
	    (a->md != NULL && (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, a->md()) <= 0 ||
			       EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, a->md()) <= 0))) {
		keyops_ossl_fail(err, a->name);
		goto out;
	}
	if (encrypting) {
		if (EVP_PKEY_encrypt(ctx, tmp->data, &olen, nonnull(in->value), in->value_len) <=
		    0) {
			keyops_ossl_fail(err, a->name);
			goto out;
		}
	} else if (EVP_PKEY_decrypt(ctx, tmp->data, &olen, in->value, in->value_len) <= 0) {
		/* Bad padding, a value >= n: all the same to the client (no padding oracle). */
		ERR_clear_error();
		KEYOPS_BAD(err, DECRYPT_FAILED);
		goto out;
	}
	rc = buf_append(out, tmp->data, olen, err);
out:
	EVP_PKEY_CTX_free(ctx);
	secbuf_free(tmp);
	return rc;
}

/* ---- AES -------------------------------------------------------------------------------- */

static const EVP_CIPHER *aes_cipher(enum alg_kind kind, size_t key_len)
{
	size_t i = key_len == 16 ? 0 : key_len == 24 ? 1 : 2;
	const EVP_CIPHER *c = NULL;

	switch (kind) {
	case AK_GCM:
		c = i == 0 ? EVP_aes_128_gcm() : i == 1 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
		break;
	case AK_CBC:
	case AK_CBCPAD:
		c = i == 0 ? EVP_aes_128_cbc() : i == 1 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
		break;
	case AK_KW:
		c = i == 0 ? EVP_aes_128_wrap() : i == 1 ? EVP_aes_192_wrap() : EVP_aes_256_wrap();
		break;
	case AK_KWP:
		c = i == 0 ? EVP_aes_128_wrap_pad() : i == 1 ? EVP_aes_192_wrap_pad()
							   : EVP_aes_256_wrap_pad();
		break;
	default:
		break;
	}
	return c;
}

/* Runs ctx (keyed, iv set) over in[0..n) and appends the result to out. A failure while
 * decrypting is the client's "Decryption failed."; out is left as it was on any failure. */
static int cipher_run(EVP_CIPHER_CTX *ctx, const struct alg *a, bool encrypting,
		      const unsigned char *in, size_t n, struct buf *out, struct kl_err *err)
{
	unsigned char chunk[CRYPT_CHUNK + 32];	/* CBC may hold back or add one block */
	size_t start = out->len, done = 0, step;
	int m = 0, rc = -1;

	while (done < n) {
		step = n - done < CRYPT_CHUNK ? n - done : CRYPT_CHUNK;
		if (EVP_CipherUpdate(ctx, chunk, &m, in + done, (int)step) != 1)
			goto ossl_fail;
		if (m > 0 && buf_append(out, chunk, (size_t)m, err) != 0)
			goto out;
		done += step;
	}
	/* GCM checks the tag here, CBC with padding checks the padding. */
	if (EVP_CipherFinal_ex(ctx, chunk, &m) != 1)
		goto ossl_fail;
	if (m > 0 && buf_append(out, chunk, (size_t)m, err) != 0)
		goto out;
	rc = 0;
	goto out;
ossl_fail:
	if (encrypting) {
		keyops_ossl_fail(err, a->name);
	} else {
		ERR_clear_error();
		KEYOPS_BAD(err, DECRYPT_FAILED);
	}
out:
	if (rc != 0)
		buf_truncate(out, start);	/* wipes unauthenticated plaintext */
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return rc;
}

static int aes_gcm(const struct keyops_key *k, const struct alg *a, bool encrypting,
		   const struct keyops_input *in, struct keyops_output *out, struct kl_err *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char iv[GCM_IV_LEN], tag[GCM_TAG_LEN];
	int m = 0, rc = -1;

	if (encrypting) {
		/* The service makes the iv; a caller's iv is not used. */
		if (crypto_random(iv, sizeof(iv), err) != 0)
			goto out;
	} else if (in->iv == NULL || in->iv_len != GCM_IV_LEN) {
		KEYOPS_BAD(err, "%s decryption needs the %d-byte iv that encryption returned.",
			   a->name, GCM_IV_LEN);
		goto out;
	} else if (in->tag == NULL || in->tag_len != GCM_TAG_LEN) {
		KEYOPS_BAD(err, "%s decryption needs the %d-byte authentication tag.", a->name,
			   GCM_TAG_LEN);
		goto out;
	} else {
		memcpy(iv, in->iv, sizeof(iv));
		memcpy(tag, in->tag, sizeof(tag));
	}
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(ctx, aes_cipher(a->kind, k->oct->len), NULL, NULL, NULL,
			      encrypting ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, k->oct->data, iv, -1) != 1 ||
	    (!encrypting &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) != 1) ||
	    (in->aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &m, in->aad, (int)in->aad_len) != 1)) {
		keyops_ossl_fail(err, a->name);
		goto out;
	}
	if (cipher_run(ctx, a, encrypting, in->value, in->value_len, out->out, err) != 0)
		goto out;
	if (encrypting) {
		if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, out->tag) != 1) {
			keyops_ossl_fail(err, a->name);
			goto out;
		}
		memcpy(out->iv, iv, sizeof(iv));
		out->iv_len = GCM_IV_LEN;
		out->tag_len = GCM_TAG_LEN;
	}
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

static int aes_cbc(const struct keyops_key *k, const struct alg *a, bool encrypting,
		   const struct keyops_input *in, struct keyops_output *out, struct kl_err *err)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int rc = -1;

	if (in->iv == NULL || in->iv_len != CBC_IV_LEN) {
		KEYOPS_BAD(err, "%s needs a %d-byte iv.", a->name, CBC_IV_LEN);
		goto out;
	}
	if ((a->kind == AK_CBC || !encrypting) && in->value_len % 16 != 0) {
		KEYOPS_BAD(err, "The value length must be a multiple of 16 bytes for %s.", a->name);
		goto out;
	}
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_CipherInit_ex(ctx, aes_cipher(a->kind, k->oct->len), NULL, k->oct->data, in->iv,
			      encrypting ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_set_padding(ctx, a->kind == AK_CBCPAD ? 1 : 0) != 1) {
		keyops_ossl_fail(err, a->name);
		goto out;
	}
	if (cipher_run(ctx, a, encrypting, in->value, in->value_len, out->out, err) != 0)
		goto out;
	memcpy(out->iv, in->iv, CBC_IV_LEN);
	out->iv_len = CBC_IV_LEN;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* RFC 3394 (A*KW, CKM_AES_KEY_WRAP) and RFC 5649 (CKM_AES_KEY_WRAP_PAD) with the default iv. */
static int aes_kw(const struct keyops_key *k, const struct alg *a, bool wrapping,
		  const struct keyops_input *in, struct buf *out, struct kl_err *err)
{
	size_t n = in->value_len;
	struct secbuf *tmp = NULL;
	EVP_CIPHER_CTX *ctx = NULL;
	int m = 0, fin = 0, rc = -1;

	if (a->kind == AK_KW && (n % KW_BLOCK != 0 || n < (wrapping ? 16 : 24))) {
		KEYOPS_BAD(err,
			   "The %s for %s must be a multiple of 8 bytes and at least %d bytes.",
			   wrapping ? "key to wrap" : "wrapped key", a->name, wrapping ? 16 : 24);
		goto out;
	}
	if (a->kind == AK_KWP && (wrapping ? n == 0 : (n % KW_BLOCK != 0 || n < 16))) {
		KEYOPS_BAD(err, "The %s for %s is not of a valid length.",
			   wrapping ? "key to wrap" : "wrapped key", a->name);
		goto out;
	}
	/* Wrapping adds at most 8 bytes of integrity check and 7 of padding. */
	if ((tmp = secbuf_new(n + 2 * KW_BLOCK, err)) == NULL)
		goto out;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL) {
		keyops_ossl_fail(err, a->name);
		goto out;
	}
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, aes_cipher(a->kind, k->oct->len), NULL, k->oct->data, NULL,
			      wrapping ? 1 : 0) != 1) {
		keyops_ossl_fail(err, a->name);
		goto out;
	}
	/* Key wrap takes the whole input in one update. */
	if (EVP_CipherUpdate(ctx, tmp->data, &m, in->value, (int)n) != 1 || m < 0 ||
	    (size_t)m > tmp->len || EVP_CipherFinal_ex(ctx, tmp->data + m, &fin) != 1) {
		if (wrapping) {
			keyops_ossl_fail(err, a->name);
		} else {
			ERR_clear_error();
			KEYOPS_BAD(err, DECRYPT_FAILED);
		}
		goto out;
	}
	rc = buf_append(out, tmp->data, (size_t)m + (size_t)fin, err);
out:
	EVP_CIPHER_CTX_free(ctx);
	secbuf_free(tmp);
	return rc;
}

static int crypt_op(const struct keyops_key *k, const char *name, enum alg_use use,
		    bool encrypting, const struct keyops_input *in, struct keyops_output *out,
		    struct kl_err *err)
{
	const struct alg *a;
	int rc = -1;

	out->iv_len = 0;
	out->tag_len = 0;
	if ((a = alg_for(k, name, use, err)) == NULL)
		goto out;
	if (in->value_len > CRYPT_VALUE_MAX || in->aad_len > CRYPT_VALUE_MAX) {
		KEYOPS_BAD(err, "The value is too large for %s.", a->name);
		goto out;
	}
	switch (a->kind) {
	case AK_RSA_ENC:
		rc = rsa_crypt(k, a, encrypting, in, out->out, err);
		break;
	case AK_GCM:
		rc = aes_gcm(k, a, encrypting, in, out, err);
		break;
	case AK_CBC:
	case AK_CBCPAD:
		rc = aes_cbc(k, a, encrypting, in, out, err);
		break;
	case AK_KW:
	case AK_KWP:
		rc = aes_kw(k, a, encrypting, in, out->out, err);
		break;
	default:
		rc = kl_fail(err, KL_EINTERNAL, "algorithm table damaged");
		break;
	}
out:
	if (rc != 0) {
		out->iv_len = 0;
		out->tag_len = 0;
	}
	return rc;
}

int keyops_encrypt(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		   struct keyops_output *out, struct kl_err *err)
{
	return crypt_op(k, alg, USE_CRYPT, true, in, out, err);
}

int keyops_decrypt(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		   struct keyops_output *out, struct kl_err *err)
{
	return crypt_op(k, alg, USE_CRYPT, false, in, out, err);
}

int keyops_wrap(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		struct keyops_output *out, struct kl_err *err)
{
	return crypt_op(k, alg, USE_WRAP, true, in, out, err);
}

int keyops_unwrap(const struct keyops_key *k, const char *alg, const struct keyops_input *in,
		  struct keyops_output *out, struct kl_err *err)
{
	return crypt_op(k, alg, USE_WRAP, false, in, out, err);
}

/* ---- signatures ------------------------------------------------------------------------- */

/* A sign or verify context for a over k's key. NULL with err filled. */
static EVP_PKEY_CTX *sig_ctx(const struct keyops_key *k, const struct alg *a, bool signing,
			     struct kl_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);

	/* With the signature md set, OpenSSL builds the PKCS#1 v1.5 DigestInfo around the digest;
	 * it hashes nothing. */
	if (ctx == NULL || (signing ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) <= 0 ||
	    (a->kind == AK_RS && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) ||
	    (a->kind == AK_PS &&
	     (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, a->md()) <= 0 ||
	      EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) <= 0)) ||
	    EVP_PKEY_CTX_set_signature_md(ctx, a->md()) <= 0) {
		keyops_ossl_fail(err, a->name);
		EVP_PKEY_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static const struct alg *sig_alg(const struct keyops_key *k, const char *name, size_t digest_len,
				 struct kl_err *err)
{
	const struct alg *a = alg_for(k, name, USE_SIGN, err);

	if (a != NULL && digest_len != a->len) {
		KEYOPS_BAD(err, "The digest length is not valid for %s: it must be %zu bytes.",
			   a->name, a->len);
		a = NULL;
	}
	return a;
}

/* DER ECDSA-Sig-Value to JOSE r||s, size bytes each. */
static int ecdsa_der_to_jose(const unsigned char *der, size_t der_len, size_t size,
			     unsigned char *rs, struct kl_err *err)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig = NULL;
	int rc = -1;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) == NULL) {
		keyops_ossl_fail(err, "ECDSA signature decoding");
		goto out;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, rs, (int)size) != (int)size ||
	    BN_bn2binpad(s, rs + size, (int)size) != (int)size) {
		keyops_ossl_fail(err, "ECDSA signature decoding");
		goto out;
	}
	rc = 0;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

int keyops_sign(const struct keyops_key *k, const char *alg, const unsigned char *digest,
		size_t digest_len, struct buf *sig, struct kl_err *err)
{
	unsigned char raw[SIG_MAX], rs[2 * 66];
	size_t raw_len = sizeof(raw);
	const struct alg *a;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = -1;

	if ((a = sig_alg(k, alg, digest_len, err)) == NULL ||
	    (ctx = sig_ctx(k, a, true, err)) == NULL)
		goto out;
	if (EVP_PKEY_sign(ctx, NULL, &raw_len, digest, digest_len) <= 0 || raw_len > sizeof(raw) ||
	    EVP_PKEY_sign(ctx, raw, &raw_len, digest, digest_len) <= 0) {
		keyops_ossl_fail(err, a->name);
		goto out;
	}
	if (a->kind != AK_ES) {
		rc = buf_append(sig, raw, raw_len, err);
		goto out;
	}
	if (ecdsa_der_to_jose(raw, raw_len, k->curve->size, rs, err) != 0)
		goto out;
	rc = buf_append(sig, rs, 2 * k->curve->size, err);
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* JOSE r||s (2*size bytes) to a DER ECDSA-Sig-Value in der; *der_len 0 when r or s is not a
 * number a signature can hold. */
static int ecdsa_jose_to_der(const unsigned char *rs, size_t size, unsigned char *der,
			     size_t *der_len, struct kl_err *err)
{
	BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG *sig = NULL;
	unsigned char *p = der;
	int len, rc = -1;

	*der_len = 0;
	if ((sig = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(rs, (int)size, NULL)) == NULL ||
	    (s = BN_bin2bn(rs + size, (int)size, NULL)) == NULL) {
		keyops_ossl_fail(err, "ECDSA signature encoding");
		goto out;
	}
	if (ECDSA_SIG_set0(sig, r, s) != 1) {
		keyops_ossl_fail(err, "ECDSA signature encoding");
		goto out;
	}
	r = NULL;	/* sig owns them now */
	s = NULL;
	if ((len = i2d_ECDSA_SIG(sig, NULL)) <= 0 || (size_t)len > SIG_MAX ||
	    i2d_ECDSA_SIG(sig, &p) != len) {
		keyops_ossl_fail(err, "ECDSA signature encoding");
		goto out;
	}
	*der_len = (size_t)len;
	rc = 0;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

int keyops_verify(const struct keyops_key *k, const char *alg, const unsigned char *digest,
		  size_t digest_len, const unsigned char *sig, size_t sig_len, bool *valid,
		  struct kl_err *err)
{
	unsigned char der[SIG_MAX];
	const unsigned char *s = sig;
	size_t s_len = sig_len;
	const struct alg *a;
	EVP_PKEY_CTX *ctx = NULL;
	int rc = -1;

	*valid = false;
	if ((a = sig_alg(k, alg, digest_len, err)) == NULL)
		goto out;
	/* A signature of the wrong length is simply not valid. */
	if (a->kind == AK_ES ? sig_len != 2 * k->curve->size
			     : sig_len != (size_t)EVP_PKEY_get_size(k->pkey)) {
		rc = 0;
		goto out;
	}
	if (a->kind == AK_ES) {
		if (ecdsa_jose_to_der(sig, k->curve->size, der, &s_len, err) != 0)
			goto out;
		s = der;
	}
	if ((ctx = sig_ctx(k, a, false, err)) == NULL)
		goto out;
	/* 1 is valid; 0 and the errors of a malformed signature (r = 0, s >= order) are not. */
	*valid = EVP_PKEY_verify(ctx, s, s_len, digest, digest_len) == 1;
	ERR_clear_error();
	rc = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}
