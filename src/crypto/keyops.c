/* keyops.c owns the keys of the keys API as OpenSSL objects: generation, the public JWK, the
 * private serialisation that vault/ seals, and the curve table (keyimport.c builds keys from JWKs,
 * keycrypt.c does the operations). It must never put key bytes in a log or an error message,
 * never hand out a private member in a JWK, and never leave private bytes behind in its own
 * memory: scratch is wiped, OpenSSL clears private numbers when it frees a key. */
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
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/keyops_internal.h"
#include "crypto/rand.h"
#include "util/log.h"

#define RSA_EXPONENT_DEFAULT 65537UL

static const struct keyops_curve curves[] = {
	{ "P-256", "prime256v1", NID_X9_62_prime256v1, 256, 32 },
	{ "P-256K", "secp256k1", NID_secp256k1, 256, 32 },
	{ "P-384", "secp384r1", NID_secp384r1, 384, 48 },
	{ "P-521", "secp521r1", NID_secp521r1, 521, 66 },
};

#define N_CURVES (sizeof(curves) / sizeof(curves[0]))

int keyops_ossl_fail(struct kl_err *err, const char *what)
{
	unsigned long e = ERR_get_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	LOG_ERROR(NULL, "%s failed: %s", what, r != NULL ? r : "unknown reason");
	ERR_clear_error();
	return kl_fail(err, KL_EINTERNAL, "%s failed", what);
}

const struct keyops_curve *keyops_curve_by_name(const char *crv)
{
	const struct keyops_curve *c = NULL;
	size_t i;

	for (i = 0; crv != NULL && i < N_CURVES; i++) {
		if (strcmp(curves[i].crv, crv) == 0)
			c = &curves[i];
	}
	return c;
}

bool keyops_rsa_bits_allowed(unsigned bits)
{
	return bits == 2048 || bits == 3072 || bits == 4096;
}

struct keyops_key *keyops_key_new(enum keyops_kty kty, struct kl_err *err)
{
	struct keyops_key *k = calloc(1, sizeof(*k));

	if (k == NULL)
		kl_fail(err, KL_ENOMEM, "out of memory");
	else
		k->kty = kty;
	return k;
}

struct keyops_key *keyops_key_adopt(EVP_PKEY **pkey, enum keyops_kty kty,
				    const struct keyops_curve *c, unsigned bits, struct kl_err *err)
{
	struct keyops_key *k = keyops_key_new(kty, err);

	if (k == NULL)
		return NULL;
	k->pkey = *pkey;
	*pkey = NULL;
	k->curve = c;
	k->bits = c != NULL ? c->field_bits : bits;
	return k;
}

void keyops_free(struct keyops_key *k)
{
	if (k != NULL) {
		EVP_PKEY_free(k->pkey);	/* clears the private numbers as it frees them */
		secbuf_free(k->oct);
		OPENSSL_cleanse(k, sizeof(*k));
		free(k);
	}
}

enum keyops_kty keyops_type(const struct keyops_key *k)
{
	return k->kty;
}

unsigned keyops_bits(const struct keyops_key *k)
{
	return k->bits;
}

const char *keyops_curve(const struct keyops_key *k)
{
	return k->kty == KEYOPS_EC ? k->curve->crv : NULL;
}

/* The key's curve from OpenSSL's group name; NULL when it is not one of ours. */
static const struct keyops_curve *curve_of_pkey(const EVP_PKEY *pkey)
{
	const struct keyops_curve *c = NULL;
	char name[64];
	size_t len = 0, i;

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
					   &len) == 1) {
		for (i = 0; i < N_CURVES; i++) {
			if (OBJ_sn2nid(name) == curves[i].nid || strcmp(name, curves[i].crv) == 0)
				c = &curves[i];
		}
	}
	ERR_clear_error();
	return c;
}

/* ---- generation ------------------------------------------------------------------------- */

struct keyops_key *keyops_generate_rsa(unsigned bits, unsigned long exponent, struct kl_err *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *e = NULL;
	struct keyops_key *res = NULL;

	if (!keyops_rsa_bits_allowed(bits)) {
		KEYOPS_BAD(err, "The RSA key size %u is not supported; use 2048, 3072 or 4096.",
			   bits);
		goto out;
	}
	if (exponent == 0)
		exponent = RSA_EXPONENT_DEFAULT;
	if (exponent < 3 || (exponent & 1) == 0 || exponent > 0xffffffffUL) {
		KEYOPS_BAD(err,
			   "The RSA public exponent %lu is not valid; it must be odd, at least 3 "
			   "and fit in 32 bits.",
			   exponent);
		goto out;
	}
	if ((e = BN_new()) == NULL || BN_set_word(e, exponent) != 1 ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0 ||
	    EVP_PKEY_generate(ctx, &pkey) <= 0) {
		keyops_ossl_fail(err, "RSA key generation");
		goto out;
	}
	if ((res = keyops_key_adopt(&pkey, KEYOPS_RSA, NULL, bits, err)) == NULL)
		goto out;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
	return res;
}

struct keyops_key *keyops_generate_ec(const char *crv, struct kl_err *err)
{
	const struct keyops_curve *c = keyops_curve_by_name(crv);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	struct keyops_key *res = NULL;

	if (c == NULL) {
		KEYOPS_BAD(err,
			   "The curve (crv) '%.16s' is not supported; use P-256, P-256K, P-384 "
			   "or P-521.",
			   crv != NULL ? crv : "");
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_group_name(ctx, c->group) <= 0 ||
	    EVP_PKEY_generate(ctx, &pkey) <= 0) {
		keyops_ossl_fail(err, "EC key generation");
		goto out;
	}
	if ((res = keyops_key_adopt(&pkey, KEYOPS_EC, c, 0, err)) == NULL)
		goto out;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return res;
}

struct keyops_key *keyops_oct_from_bytes(const void *p, size_t n, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct keyops_key *res = NULL;

	if ((k = keyops_key_new(KEYOPS_OCT, err)) == NULL ||
	    (k->oct = secbuf_dup(p, n, err)) == NULL)
		goto out;
	k->bits = (unsigned)n * 8;
	res = k;
	k = NULL;
out:
	keyops_free(k);
	return res;
}

struct keyops_key *keyops_generate_oct(unsigned bits, struct kl_err *err)
{
	unsigned char raw[32];
	struct keyops_key *res = NULL;

	if (bits != 128 && bits != 192 && bits != 256) {
		KEYOPS_BAD(err, "The oct key size %u is not supported; use 128, 192 or 256.", bits);
		goto out;
	}
	if (crypto_random(raw, bits / 8, err) != 0)
		goto out;
	res = keyops_oct_from_bytes(raw, bits / 8, err);
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return res;
}

/* ---- the public JWK --------------------------------------------------------------------- */

/* Appends the BIGNUM param name of pkey to dst: minimal big-endian, or left-padded to size. */
static int put_bn_param(const EVP_PKEY *pkey, const char *name, size_t size, struct buf *dst,
			struct kl_err *err)
{
	unsigned char bytes[JWK_MEMBER_MAX];
	BIGNUM *bn = NULL;
	int len, rc = -1;

	if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) {
		keyops_ossl_fail(err, "reading a public key");
		goto out;
	}
	if ((size_t)BN_num_bytes(bn) > sizeof(bytes) || size > sizeof(bytes)) {
		keyops_ossl_fail(err, "reading a public key");
		goto out;
	}
	len = size == 0 ? BN_bn2bin(bn, bytes) : BN_bn2binpad(bn, bytes, (int)size);
	if (len <= 0) {
		keyops_ossl_fail(err, "reading a public key");
		goto out;
	}
	rc = buf_append(dst, bytes, (size_t)len, err);
out:
	BN_free(bn);
	return rc;
}

int keyops_public_jwk(const struct keyops_key *k, struct jwk *out, struct kl_err *err)
{
	size_t size = k->kty == KEYOPS_EC ? k->curve->size : 0;	/* x and y are fixed length */
	int rc = -1;

	switch (k->kty) {
	case KEYOPS_RSA:
		snprintf(out->kty, sizeof(out->kty), "RSA");
		if (put_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0, &out->n, err) != 0 ||
		    put_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0, &out->e, err) != 0)
			goto out;
		break;
	case KEYOPS_EC:
		snprintf(out->kty, sizeof(out->kty), "EC");
		snprintf(out->crv, sizeof(out->crv), "%s", k->curve->crv);
		if (put_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, size, &out->x, err) != 0 ||
		    put_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, size, &out->y, err) != 0)
			goto out;
		break;
	case KEYOPS_OCT:
		snprintf(out->kty, sizeof(out->kty), "oct");
		break;
	}
	rc = 0;
out:
	if (rc != 0) {
		buf_reset(&out->n);
		buf_reset(&out->e);
		buf_reset(&out->x);
		buf_reset(&out->y);
		out->crv[0] = '\0';
	}
	return rc;
}

/* ---- serialisation ---------------------------------------------------------------------- */

int keyops_serialize(const struct keyops_key *k, struct buf *out, struct kl_err *err)
{
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	struct secbuf *der = NULL;
	unsigned char *p;
	int len, rc = -1;

	if (k->kty == KEYOPS_OCT) {
		rc = buf_append(out, k->oct->data, k->oct->len, err);
		goto out;
	}
	if ((p8 = EVP_PKEY2PKCS8(k->pkey)) == NULL ||
	    (len = i2d_PKCS8_PRIV_KEY_INFO(p8, NULL)) <= 0) {
		keyops_ossl_fail(err, "key serialisation");
		goto out;
	}
	if ((der = secbuf_new((size_t)len, err)) == NULL)
		goto out;
	p = der->data;
	if (i2d_PKCS8_PRIV_KEY_INFO(p8, &p) != len) {
		keyops_ossl_fail(err, "key serialisation");
		goto out;
	}
	rc = buf_append(out, der->data, der->len, err);
out:
	secbuf_free(der);
	PKCS8_PRIV_KEY_INFO_free(p8);	/* clears the key octets it holds */
	return rc;
}

struct keyops_key *keyops_deserialize(enum keyops_kty kty, const void *p, size_t n,
				      struct kl_err *err)
{
	const unsigned char *der = p;
	const char *name = kty == KEYOPS_RSA ? "RSA" : "EC";
	EVP_PKEY *pkey = NULL;
	struct keyops_key *k = NULL;
	struct keyops_key *res = NULL;

	if (kty == KEYOPS_OCT) {
		if (n == 16 || n == 24 || n == 32)
			res = keyops_oct_from_bytes(p, n, err);
		else
			kl_fail(err, KL_ECORRUPT, "a stored key is damaged");
		goto out;
	}
	if ((kty != KEYOPS_RSA && kty != KEYOPS_EC) || n == 0 || n > LONG_MAX)
		goto corrupt;
	pkey = d2i_PrivateKey_ex(kty == KEYOPS_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC, NULL, &der,
				 (long)n, NULL, NULL);
	if (pkey == NULL || der != (const unsigned char *)p + n || !EVP_PKEY_is_a(pkey, name))
		goto corrupt;
	if ((k = keyops_key_new(kty, err)) == NULL)
		goto out;
	if (kty == KEYOPS_RSA) {
		k->bits = (unsigned)EVP_PKEY_get_bits(pkey);
		if (!keyops_rsa_bits_allowed(k->bits))
			goto corrupt;
	} else {
		if ((k->curve = curve_of_pkey(pkey)) == NULL)
			goto corrupt;
		k->bits = k->curve->field_bits;
	}
	k->pkey = pkey;
	pkey = NULL;
	res = k;
	k = NULL;
	goto out;
corrupt:
	ERR_clear_error();
	kl_fail(err, KL_ECORRUPT, "a stored key is damaged");
out:
	keyops_free(k);
	EVP_PKEY_free(pkey);
	return res;
}
