/* keyops.c owns the keys of the keys API as OpenSSL objects: generation, import from a JWK with
 * its consistency checks, the public JWK, and the private serialisation that vault/ seals
 * (keycrypt.c does the operations). It must never put key bytes in a log or an error message,
 * never accept a JWK whose private part does not match its public part, and never leave private
 * bytes behind in its own memory: scratch is wiped, private numbers are cleared when freed. */
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
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/keyops_internal.h"
#include "crypto/rand.h"
#include "util/log.h"

#define RSA_EXPONENT_DEFAULT 65537UL
#define RSA_EXPONENT_BITS_MAX 32
/* Each base finds the factors of a valid key with probability at least 1/2. */
#define RSA_RECOVER_TRIES 64
#define EC_POINT_MAX (1 + 2 * 66)	/* an uncompressed P-521 point */

static const struct keyops_curve curves[] = {
	{ "P-256", "prime256v1", NID_X9_62_prime256v1, 256, 32, "ES256" },
	{ "P-256K", "secp256k1", NID_secp256k1, 256, 32, "ES256K" },
	{ "P-384", "secp384r1", NID_secp384r1, 384, 48, "ES384" },
	{ "P-521", "secp521r1", NID_secp521r1, 521, 66, "ES512" },
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

static const struct keyops_curve *curve_by_name(const char *crv)
{
	const struct keyops_curve *c = NULL;
	size_t i;

	for (i = 0; crv != NULL && i < N_CURVES; i++) {
		if (strcmp(curves[i].crv, crv) == 0)
			c = &curves[i];
	}
	return c;
}

static bool rsa_bits_allowed(unsigned bits)
{
	return bits == 2048 || bits == 3072 || bits == 4096;
}

static struct keyops_key *key_new(enum keyops_kty kty, struct kl_err *err)
{
	struct keyops_key *k = calloc(1, sizeof(*k));

	if (k == NULL)
		kl_fail(err, KL_ENOMEM, "out of memory");
	else
		k->kty = kty;
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
	struct keyops_key *k = NULL;
	struct keyops_key *res = NULL;

	if (!rsa_bits_allowed(bits)) {
		KEYOPS_BAD(err, "The RSA key size %u is not supported; use 2048, 3072 or 4096.", bits);
		goto out;
	}
	if (exponent == 0)
		exponent = RSA_EXPONENT_DEFAULT;
	if (exponent < 3 || (exponent & 1) == 0 || exponent > 0xffffffffUL) {
		KEYOPS_BAD(err, "The RSA public exponent %lu is not valid; it must be odd, at least 3 "
				"and fit in 32 bits.", exponent);
		goto out;
	}
	if ((e = BN_new()) == NULL || BN_set_word(e, exponent) != 1 ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0 || EVP_PKEY_generate(ctx, &pkey) <= 0) {
		keyops_ossl_fail(err, "RSA key generation");
		goto out;
	}
	if ((k = key_new(KEYOPS_RSA, err)) == NULL)
		goto out;
	k->pkey = pkey;
	pkey = NULL;
	k->bits = bits;
	res = k;
	k = NULL;
out:
	keyops_free(k);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
	return res;
}

struct keyops_key *keyops_generate_ec(const char *crv, struct kl_err *err)
{
	const struct keyops_curve *c = curve_by_name(crv);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	struct keyops_key *k = NULL;
	struct keyops_key *res = NULL;

	if (c == NULL) {
		KEYOPS_BAD(err, "The curve (crv) '%.16s' is not supported; use P-256, P-256K, P-384 "
				"or P-521.", crv != NULL ? crv : "");
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_group_name(ctx, c->group) <= 0 ||
	    EVP_PKEY_generate(ctx, &pkey) <= 0) {
		keyops_ossl_fail(err, "EC key generation");
		goto out;
	}
	if ((k = key_new(KEYOPS_EC, err)) == NULL)
		goto out;
	k->pkey = pkey;
	pkey = NULL;
	k->curve = c;
	k->bits = c->field_bits;
	res = k;
	k = NULL;
out:
	keyops_free(k);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return res;
}

static struct keyops_key *oct_from_bytes(const void *p, size_t n, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct keyops_key *res = NULL;

	if ((k = key_new(KEYOPS_OCT, err)) == NULL || (k->oct = secbuf_dup(p, n, err)) == NULL)
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
	res = oct_from_bytes(raw, bits / 8, err);
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return res;
}

/* ---- import ----------------------------------------------------------------------------- */

/* A BIGNUM of b's bytes, in secure memory when secret. NULL with err filled. */
static BIGNUM *bn_of(const struct buf *b, bool secret, struct kl_err *err)
{
	BIGNUM *bn = secret ? BN_secure_new() : BN_new();

	if (bn == NULL || BN_bin2bn(b->len > 0 ? b->data : (const unsigned char *)"", (int)b->len,
				    bn) == NULL) {
		BN_clear_free(bn);
		bn = NULL;
		kl_fail(err, KL_ENOMEM, "out of memory");
	} else if (secret) {
		BN_set_flags(bn, BN_FLG_CONSTTIME);
	}
	return bn;
}

/* Wipes every value in a parameter array OSSL_PARAM_BLD made, then frees it: OSSL_PARAM_free does
 * not clear the part that holds non-secure numbers. */
static void params_free(OSSL_PARAM *params)
{
	OSSL_PARAM *p;

	for (p = params; p != NULL && p->key != NULL; p++) {
		if (p->data != NULL)
			OPENSSL_cleanse(p->data, p->data_size);
	}
	OSSL_PARAM_free(params);
}

/* EVP_PKEY_fromdata for a key pair of type name; NULL with err filled. */
static EVP_PKEY *pkey_from_params(const char *name, OSSL_PARAM_BLD *bld, struct kl_err *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0) {
		keyops_ossl_fail(err, "key import");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0) {
		/* Only numbers the client sent can make this fail. */
		ERR_clear_error();
		KEYOPS_BAD(err, "The JWK does not describe a valid %s key.", name);
		pkey = NULL;
	}
out:
	params_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* Finds p and q from n, e and d (NIST SP 800-56B appendix C): d*e - 1 = 2^t * r is a multiple of
 * lambda(n), so some g^(r * 2^i) is a square root of 1 other than +-1, and gcd(it - 1, n) is a
 * factor. Refuses when d does not fit e and n. */
static int rsa_recover_primes(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d, BIGNUM *p,
			      BIGNUM *q, BN_CTX *bnctx, struct kl_err *err)
{
	BIGNUM *r, *y, *x, *g, *nm1, *rem;
	int t = 0, i, tries, rc = -1;
	bool found = false;

	BN_CTX_start(bnctx);
	r = BN_CTX_get(bnctx);
	y = BN_CTX_get(bnctx);
	x = BN_CTX_get(bnctx);
	g = BN_CTX_get(bnctx);
	nm1 = BN_CTX_get(bnctx);
	rem = BN_CTX_get(bnctx);
	if (rem == NULL || BN_mul(r, d, e, bnctx) != 1 || BN_sub_word(r, 1) != 1 ||
	    BN_copy(nm1, n) == NULL || BN_sub_word(nm1, 1) != 1) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	BN_set_flags(r, BN_FLG_CONSTTIME);
	if (BN_is_zero(r) || BN_is_odd(r) || !BN_is_odd(n))
		goto mismatch;
	while (!BN_is_bit_set(r, t))
		t++;
	if (BN_rshift(r, r, t) != 1) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	for (tries = 0; !found && tries < RSA_RECOVER_TRIES; tries++) {
		if (BN_set_word(g, (BN_ULONG)tries + 2) != 1 ||
		    BN_mod_exp_mont_consttime(y, g, r, n, bnctx, NULL) != 1) {
			keyops_ossl_fail(err, "RSA key import");
			goto out;
		}
		if (BN_is_one(y) || BN_cmp(y, nm1) == 0)
			continue;
		for (i = 0; i < t && !found; i++) {
			if (BN_mod_sqr(x, y, n, bnctx) != 1) {
				keyops_ossl_fail(err, "RSA key import");
				goto out;
			}
			if (BN_is_one(x)) {
				found = true;	/* y is a non-trivial square root of 1 */
				break;
			}
			if (BN_cmp(x, nm1) == 0)
				break;
			if (BN_copy(y, x) == NULL) {
				keyops_ossl_fail(err, "RSA key import");
				goto out;
			}
		}
		/* g^(d*e - 1) must be 1 for every g; if it is not, d does not belong to n and e. */
		if (!found && i == t)
			goto mismatch;
	}
	if (!found)
		goto mismatch;
	if (BN_sub_word(y, 1) != 1 || BN_gcd(p, y, n, bnctx) != 1 ||
	    BN_div(q, rem, n, p, bnctx) != 1) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	if (BN_is_one(p) || !BN_is_zero(rem) || BN_is_one(q))
		goto mismatch;
	/* The usual order, p > q, as OpenSSL generates keys. */
	if (BN_cmp(p, q) < 0 && (BN_copy(y, p) == NULL || BN_copy(p, q) == NULL ||
				 BN_copy(q, y) == NULL)) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	rc = 0;
	goto out;
mismatch:
	KEYOPS_BAD(err, "The RSA private exponent (d) does not match the public key (n, e).");
out:
	BN_CTX_end(bnctx);	/* a secure BN_CTX clears its numbers when freed */
	return rc;
}

/* dst = src mod (f - 1), or when inv: dst = src^-1 mod f. */
static int rsa_crt_value(BIGNUM *dst, const BIGNUM *src, const BIGNUM *f, bool inv, BN_CTX *bnctx,
			 struct kl_err *err)
{
	BIGNUM *fm1;
	int rc = -1;

	BN_CTX_start(bnctx);
	if ((fm1 = BN_CTX_get(bnctx)) == NULL || BN_copy(fm1, f) == NULL ||
	    BN_sub_word(fm1, 1) != 1) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	if (inv ? BN_mod_inverse(dst, src, f, bnctx) == NULL : BN_mod(dst, src, fm1, bnctx) != 1) {
		ERR_clear_error();
		KEYOPS_BAD(err, "The RSA private key parts do not match each other.");
		goto out;
	}
	rc = 0;
out:
	BN_CTX_end(bnctx);
	return rc;
}

static int rsa_check_public(const BIGNUM *n, const BIGNUM *e, struct kl_err *err)
{
	int bits = BN_num_bits(n);
	int rc = -1;

	if (!rsa_bits_allowed((unsigned)bits)) {
		KEYOPS_BAD(err, "RSA keys of %d bits are not supported; use 2048, 3072 or 4096 bits.",
			   bits);
		goto out;
	}
	if (!BN_is_odd(n)) {
		KEYOPS_BAD(err, "The RSA modulus (n) is not valid.");
		goto out;
	}
	if (BN_num_bits(e) > RSA_EXPONENT_BITS_MAX || !BN_is_odd(e) || BN_cmp(e, BN_value_one()) <= 0) {
		KEYOPS_BAD(err, "The RSA public exponent (e) is not valid; it must be odd, at least 3 "
				"and fit in 32 bits.");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static struct keyops_key *rsa_from_jwk(const struct jwk *j, struct kl_err *err)
{
	const char *missing = NULL;
	BIGNUM *n = NULL, *e = NULL, *d = NULL, *p = NULL, *q = NULL, *dp = NULL, *dq = NULL;
	BIGNUM *qi = NULL;
	BN_CTX *bnctx = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	struct keyops_key *k = NULL;
	struct keyops_key *res = NULL;

	missing = j->n.len == 0 ? "n" : j->e.len == 0 ? "e" : j->d.len == 0 ? "d" : NULL;
	if (missing != NULL) {
		KEYOPS_BAD(err, "The JWK member '%s' is required to import an RSA key.", missing);
		goto out;
	}
	if ((j->p.len == 0) != (j->q.len == 0)) {
		KEYOPS_BAD(err, "The JWK members 'p' and 'q' must be given together.");
		goto out;
	}
	if ((n = bn_of(&j->n, false, err)) == NULL || (e = bn_of(&j->e, false, err)) == NULL ||
	    rsa_check_public(n, e, err) != 0)
		goto out;
	if ((d = bn_of(&j->d, true, err)) == NULL || (p = bn_of(&j->p, true, err)) == NULL ||
	    (q = bn_of(&j->q, true, err)) == NULL || (dp = bn_of(&j->dp, true, err)) == NULL ||
	    (dq = bn_of(&j->dq, true, err)) == NULL || (qi = bn_of(&j->qi, true, err)) == NULL)
		goto out;
	if ((bnctx = BN_CTX_secure_new()) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (BN_cmp(d, BN_value_one()) <= 0 || BN_cmp(d, n) >= 0) {
		KEYOPS_BAD(err, "The RSA private exponent (d) is not valid.");
		goto out;
	}
	/* Without the factors, find them: the key then has its CRT form like any other, and a d
	 * that does not belong to n and e is caught here. */
	if (j->p.len == 0 && rsa_recover_primes(n, e, d, p, q, bnctx, err) != 0)
		goto out;
	if (BN_cmp(p, BN_value_one()) <= 0 || BN_cmp(q, BN_value_one()) <= 0) {
		KEYOPS_BAD(err, "The RSA private key parts do not match each other.");
		goto out;
	}
	if ((BN_is_zero(dp) && rsa_crt_value(dp, d, p, false, bnctx, err) != 0) ||
	    (BN_is_zero(dq) && rsa_crt_value(dq, d, q, false, bnctx, err) != 0) ||
	    (BN_is_zero(qi) && rsa_crt_value(qi, q, p, true, bnctx, err) != 0))
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi) != 1) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	if ((pkey = pkey_from_params("RSA", bld, err)) == NULL)
		goto out;
	/* The full check: p and q prime, n = pq, d*e = 1 mod lambda(n), and the CRT values. */
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	if (EVP_PKEY_check(ctx) != 1) {
		ERR_clear_error();
		KEYOPS_BAD(err, "The RSA private key does not match its public key, or its parts do "
				"not match each other.");
		goto out;
	}
	if ((k = key_new(KEYOPS_RSA, err)) == NULL)
		goto out;
	k->pkey = pkey;
	pkey = NULL;
	k->bits = (unsigned)BN_num_bits(n);
	res = k;
	k = NULL;
out:
	keyops_free(k);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(bnctx);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_clear_free(qi);
	return res;
}

static struct keyops_key *ec_from_jwk(const struct jwk *j, struct kl_err *err)
{
	const struct keyops_curve *c = curve_by_name(j->crv);
	unsigned char pub[EC_POINT_MAX];
	size_t pub_len = 0;
	EC_GROUP *group = NULL;
	EC_POINT *point = NULL;
	BN_CTX *bnctx = NULL;
	BIGNUM *d = NULL, *x = NULL, *y = NULL, *px = NULL, *py = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	struct keyops_key *k = NULL;
	struct keyops_key *res = NULL;

	if (j->crv[0] == '\0') {
		KEYOPS_BAD(err, "The JWK member 'crv' is required to import an EC key.");
		goto out;
	}
	if (c == NULL) {
		KEYOPS_BAD(err, "The curve (crv) '%.16s' is not supported; use P-256, P-256K, P-384 "
				"or P-521.", j->crv);
		goto out;
	}
	if (j->d.len == 0) {
		KEYOPS_BAD(err, "The JWK member 'd' is required to import an EC key.");
		goto out;
	}
	/* d may come without its leading zero bytes; x and y are fixed length (RFC 7518 6.2.1). */
	if (j->d.len > c->size) {
		KEYOPS_BAD(err, "The JWK member 'd' is too long for %s.", c->crv);
		goto out;
	}
	if ((j->x.len == 0) != (j->y.len == 0)) {
		KEYOPS_BAD(err, "The JWK members 'x' and 'y' must be given together.");
		goto out;
	}
	if (j->x.len != 0 && (j->x.len != c->size || j->y.len != c->size)) {
		KEYOPS_BAD(err, "The JWK members 'x' and 'y' must be %zu bytes each for %s.", c->size,
			   c->crv);
		goto out;
	}
	if ((group = EC_GROUP_new_by_curve_name(c->nid)) == NULL ||
	    (point = EC_POINT_new(group)) == NULL || (bnctx = BN_CTX_secure_new()) == NULL ||
	    (px = BN_new()) == NULL || (py = BN_new()) == NULL) {
		keyops_ossl_fail(err, "EC key import");
		goto out;
	}
	if ((d = bn_of(&j->d, true, err)) == NULL)
		goto out;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0) {
		KEYOPS_BAD(err, "The EC private key (d) is out of range for %s.", c->crv);
		goto out;
	}
	if (EC_POINT_mul(group, point, d, NULL, NULL, bnctx) != 1 ||
	    EC_POINT_get_affine_coordinates(group, point, px, py, bnctx) != 1 ||
	    (pub_len = EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub,
					  sizeof(pub), bnctx)) == 0) {
		keyops_ossl_fail(err, "EC key import");
		goto out;
	}
	if (j->x.len != 0) {
		if ((x = bn_of(&j->x, false, err)) == NULL || (y = bn_of(&j->y, false, err)) == NULL)
			goto out;
		if (BN_cmp(x, px) != 0 || BN_cmp(y, py) != 0) {
			KEYOPS_BAD(err, "The EC public point (x, y) does not match the private key (d).");
			goto out;
		}
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) != 1) {
		keyops_ossl_fail(err, "EC key import");
		goto out;
	}
	if ((pkey = pkey_from_params("EC", bld, err)) == NULL || (k = key_new(KEYOPS_EC, err)) == NULL)
		goto out;
	k->pkey = pkey;
	pkey = NULL;
	k->curve = c;
	k->bits = c->field_bits;
	res = k;
	k = NULL;
out:
	keyops_free(k);
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	BN_free(x);
	BN_free(y);
	BN_free(px);
	BN_free(py);
	BN_CTX_free(bnctx);
	EC_POINT_free(point);
	EC_GROUP_free(group);
	return res;
}

struct keyops_key *keyops_from_jwk(const struct jwk *j, struct kl_err *err)
{
	struct keyops_key *res = NULL;

	if (strcmp(j->kty, "RSA") == 0 || strcmp(j->kty, "RSA-HSM") == 0) {
		res = rsa_from_jwk(j, err);
	} else if (strcmp(j->kty, "EC") == 0 || strcmp(j->kty, "EC-HSM") == 0) {
		res = ec_from_jwk(j, err);
	} else if (strcmp(j->kty, "oct") == 0 || strcmp(j->kty, "oct-HSM") == 0) {
		if (j->k.len == 16 || j->k.len == 24 || j->k.len == 32)
			res = oct_from_bytes(j->k.data, j->k.len, err);
		else if (j->k.len == 0)
			KEYOPS_BAD(err, "The JWK member 'k' is required to import an oct key.");
		else
			KEYOPS_BAD(err, "An oct key (k) must be 128, 192 or 256 bits long.");
	} else {
		KEYOPS_BAD(err, "The JWK key type (kty) '%.16s' is not supported.", j->kty);
	}
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
		if (put_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, k->curve->size, &out->x, err) !=
			    0 ||
		    put_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, k->curve->size, &out->y, err) != 0)
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
			res = oct_from_bytes(p, n, err);
		else
			kl_fail(err, KL_ECORRUPT, "a stored key is damaged");
		goto out;
	}
	if ((kty != KEYOPS_RSA && kty != KEYOPS_EC) || n == 0 || n > LONG_MAX)
		goto corrupt;
	pkey = d2i_PrivateKey_ex(kty == KEYOPS_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC, NULL, &der, (long)n,
				 NULL, NULL);
	if (pkey == NULL || der != (const unsigned char *)p + n || !EVP_PKEY_is_a(pkey, name))
		goto corrupt;
	if ((k = key_new(kty, err)) == NULL)
		goto out;
	if (kty == KEYOPS_RSA) {
		k->bits = (unsigned)EVP_PKEY_get_bits(pkey);
		if (!rsa_bits_allowed(k->bits))
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
