/* keyimport.c owns JWK import: keys built from a JWK's private members (RSA with or without its
 * CRT members, EC from crv and d, oct from k) and the checks that make an import safe to keep: the
 * sizes generation allows, the private part matching the public part, the point on the curve.
 * It must never accept a key it cannot prove consistent, never put a member's bytes in a log or an
 * error message, and never leave a private number behind: they live in secure, cleared BIGNUMs
 * and OpenSSL's parameter arrays are wiped before they are freed. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "crypto/keyops_internal.h"

#define RSA_EXPONENT_BITS_MAX 32
/* Each base finds the factors of a valid key with probability at least 1/2. */
#define RSA_RECOVER_TRIES 64
#define EC_POINT_MAX (1 + 2 * 66)	/* an uncompressed P-521 point */

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

/* EVP_PKEY_fromdata for a key of type name (a key pair, or with public only the public part);
 * NULL with err filled. */
static EVP_PKEY *pkey_from(const char *name, OSSL_PARAM_BLD *bld, bool public_only,
			   struct kl_err *err)
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
	if (EVP_PKEY_fromdata(ctx, &pkey, public_only ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR,
			      params) <= 0) {
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

static EVP_PKEY *pkey_from_params(const char *name, OSSL_PARAM_BLD *bld, struct kl_err *err)
{
	return pkey_from(name, bld, false, err);
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

	if (!keyops_rsa_bits_allowed((unsigned)bits)) {
		KEYOPS_BAD(err,
			   "RSA keys of %d bits are not supported; use 2048, 3072 or 4096 bits.",
			   bits);
		goto out;
	}
	if (!BN_is_odd(n)) {
		KEYOPS_BAD(err, "The RSA modulus (n) is not valid.");
		goto out;
	}
	if (BN_num_bits(e) > RSA_EXPONENT_BITS_MAX || !BN_is_odd(e) ||
	    BN_cmp(e, BN_value_one()) <= 0) {
		KEYOPS_BAD(err,
			   "The RSA public exponent (e) is not valid; it must be odd, at least 3 "
			   "and fit in 32 bits.");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* The numbers of an RSA private key, in the order of the JWK and of OpenSSL's parameters. */
enum { RSA_N, RSA_E, RSA_D, RSA_P, RSA_Q, RSA_DP, RSA_DQ, RSA_QI, RSA_NUMS };

/* The key of the eight numbers, checked in full: p and q prime, n = pq, d*e = 1 mod lambda(n),
 * and the CRT values. NULL with err filled. */
static EVP_PKEY *rsa_build(BIGNUM *const v[RSA_NUMS], struct kl_err *err)
{
	static const char *const names[RSA_NUMS] = {
		OSSL_PKEY_PARAM_RSA_N,	       OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D,	       OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_PKEY *res = NULL;
	size_t i;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	for (i = 0; i < RSA_NUMS; i++) {
		if (OSSL_PARAM_BLD_push_BN(bld, names[i], v[i]) != 1) {
			keyops_ossl_fail(err, "RSA key import");
			goto out;
		}
	}
	if ((pkey = pkey_from_params("RSA", bld, err)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL) {
		keyops_ossl_fail(err, "RSA key import");
		goto out;
	}
	if (EVP_PKEY_check(ctx) != 1) {
		ERR_clear_error();
		KEYOPS_BAD(err,
			   "The RSA private key does not match its public key, or its parts do "
			   "not match each other.");
		goto out;
	}
	res = pkey;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_BLD_free(bld);
	return res;
}

/* Fills in the private numbers the JWK left out: p and q from n, e and d, then dp, dq, qi. */
static int rsa_complete(BIGNUM *v[RSA_NUMS], struct kl_err *err)
{
	BN_CTX *bnctx = NULL;
	int rc = -1;

	if ((bnctx = BN_CTX_secure_new()) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	/* Without the factors, find them: the key then has its CRT form like any other, and a d
	 * that does not belong to n and e is caught here. */
	if (BN_is_zero(v[RSA_P]) &&
	    rsa_recover_primes(v[RSA_N], v[RSA_E], v[RSA_D], v[RSA_P], v[RSA_Q], bnctx, err) != 0)
		goto out;
	if (BN_cmp(v[RSA_P], BN_value_one()) <= 0 || BN_cmp(v[RSA_Q], BN_value_one()) <= 0) {
		KEYOPS_BAD(err, "The RSA private key parts do not match each other.");
		goto out;
	}
	if ((BN_is_zero(v[RSA_DP]) &&
	     rsa_crt_value(v[RSA_DP], v[RSA_D], v[RSA_P], false, bnctx, err) != 0) ||
	    (BN_is_zero(v[RSA_DQ]) &&
	     rsa_crt_value(v[RSA_DQ], v[RSA_D], v[RSA_Q], false, bnctx, err) != 0) ||
	    (BN_is_zero(v[RSA_QI]) &&
	     rsa_crt_value(v[RSA_QI], v[RSA_Q], v[RSA_P], true, bnctx, err) != 0))
		goto out;
	rc = 0;
out:
	BN_CTX_free(bnctx);
	return rc;
}

static struct keyops_key *rsa_from_jwk(const struct jwk *j, struct kl_err *err)
{
	const struct buf *const src[RSA_NUMS] = { &j->n, &j->e,	 &j->d,	 &j->p,
						  &j->q, &j->dp, &j->dq, &j->qi };
	BIGNUM *v[RSA_NUMS] = { NULL };
	const char *missing;
	EVP_PKEY *pkey = NULL;
	struct keyops_key *res = NULL;
	size_t i;

	missing = j->n.len == 0 ? "n" : j->e.len == 0 ? "e" : j->d.len == 0 ? "d" : NULL;
	if (missing != NULL) {
		KEYOPS_BAD(err, "The JWK member '%s' is required to import an RSA key.", missing);
		goto out;
	}
	if ((j->p.len == 0) != (j->q.len == 0)) {
		KEYOPS_BAD(err, "The JWK members 'p' and 'q' must be given together.");
		goto out;
	}
	for (i = 0; i < RSA_NUMS; i++) {
		if ((v[i] = bn_of(src[i], i >= RSA_D, err)) == NULL)
			goto out;
	}
	if (rsa_check_public(v[RSA_N], v[RSA_E], err) != 0)
		goto out;
	if (BN_cmp(v[RSA_D], BN_value_one()) <= 0 || BN_cmp(v[RSA_D], v[RSA_N]) >= 0) {
		KEYOPS_BAD(err, "The RSA private exponent (d) is not valid.");
		goto out;
	}
	if (rsa_complete(v, err) != 0 || (pkey = rsa_build(v, err)) == NULL ||
	    (res = keyops_key_adopt(&pkey, KEYOPS_RSA, NULL, (unsigned)BN_num_bits(v[RSA_N]),
				    err)) == NULL)
		goto out;
out:
	EVP_PKEY_free(pkey);
	for (i = 0; i < RSA_NUMS; i++)
		BN_clear_free(v[i]);
	return res;
}

/* The members of an EC JWK other than their values: crv known, d present and not too long, x and
 * y together and of the field size. */
static const struct keyops_curve *ec_check_members(const struct jwk *j, struct kl_err *err)
{
	const struct keyops_curve *c = keyops_curve_by_name(j->crv);
	const struct keyops_curve *res = NULL;

	if (j->crv[0] == '\0') {
		KEYOPS_BAD(err, "The JWK member 'crv' is required to import an EC key.");
	} else if (c == NULL) {
		KEYOPS_BAD(err,
			   "The curve (crv) '%.16s' is not supported; use P-256, P-256K, P-384 "
			   "or P-521.",
			   j->crv);
	} else if (j->d.len == 0) {
		KEYOPS_BAD(err, "The JWK member 'd' is required to import an EC key.");
	} else if (j->d.len > c->size) {
		/* d may come without its leading zero bytes; x and y are fixed length (RFC 7518
		 * section 6.2.1). */
		KEYOPS_BAD(err, "The JWK member 'd' is too long for %s.", c->crv);
	} else if ((j->x.len == 0) != (j->y.len == 0)) {
		KEYOPS_BAD(err, "The JWK members 'x' and 'y' must be given together.");
	} else if (j->x.len != 0 && (j->x.len != c->size || j->y.len != c->size)) {
		KEYOPS_BAD(err, "The JWK members 'x' and 'y' must be %zu bytes each for %s.",
			   c->size, c->crv);
	} else {
		res = c;
	}
	return res;
}

/* The public point of d on curve c as an uncompressed octet string in pub (EC_POINT_MAX bytes),
 * checked against the JWK's x and y when it has them. */
static int ec_public_point(const struct keyops_curve *c, const BIGNUM *d, const struct jwk *j,
			   unsigned char *pub, size_t *pub_len, struct kl_err *err)
{
	EC_GROUP *group = NULL;
	EC_POINT *point = NULL;
	BN_CTX *bnctx = NULL;
	BIGNUM *x = NULL, *y = NULL, *px = NULL, *py = NULL;
	int rc = -1;

	if ((group = EC_GROUP_new_by_curve_name(c->nid)) == NULL ||
	    (point = EC_POINT_new(group)) == NULL || (bnctx = BN_CTX_secure_new()) == NULL ||
	    (px = BN_new()) == NULL || (py = BN_new()) == NULL) {
		keyops_ossl_fail(err, "EC key import");
		goto out;
	}
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0) {
		KEYOPS_BAD(err, "The EC private key (d) is out of range for %s.", c->crv);
		goto out;
	}
	if (EC_POINT_mul(group, point, d, NULL, NULL, bnctx) != 1 ||
	    EC_POINT_get_affine_coordinates(group, point, px, py, bnctx) != 1 ||
	    (*pub_len = EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub,
					   EC_POINT_MAX, bnctx)) == 0) {
		keyops_ossl_fail(err, "EC key import");
		goto out;
	}
	if (j->x.len != 0) {
		if ((x = bn_of(&j->x, false, err)) == NULL ||
		    (y = bn_of(&j->y, false, err)) == NULL)
			goto out;
		if (BN_cmp(x, px) != 0 || BN_cmp(y, py) != 0) {
			KEYOPS_BAD(err, "The EC public point (x, y) does not match the private key "
					"(d).");
			goto out;
		}
	}
	rc = 0;
out:
	BN_free(x);
	BN_free(y);
	BN_free(px);
	BN_free(py);
	BN_CTX_free(bnctx);
	EC_POINT_free(point);
	EC_GROUP_free(group);
	return rc;
}

static struct keyops_key *ec_from_jwk(const struct jwk *j, struct kl_err *err)
{
	const struct keyops_curve *c;
	unsigned char pub[EC_POINT_MAX];
	size_t pub_len = 0;
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	struct keyops_key *res = NULL;

	if ((c = ec_check_members(j, err)) == NULL || (d = bn_of(&j->d, true, err)) == NULL ||
	    ec_public_point(c, d, j, pub, &pub_len, err) != 0)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) != 1) {
		keyops_ossl_fail(err, "EC key import");
		goto out;
	}
	if ((pkey = pkey_from_params("EC", bld, err)) == NULL ||
	    (res = keyops_key_adopt(&pkey, KEYOPS_EC, c, 0, err)) == NULL)
		goto out;
out:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
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
			res = keyops_oct_from_bytes(j->k.data, j->k.len, err);
		else if (j->k.len == 0)
			KEYOPS_BAD(err, "The JWK member 'k' is required to import an oct key.");
		else
			KEYOPS_BAD(err, "An oct key (k) must be 128, 192 or 256 bits long.");
	} else {
		KEYOPS_BAD(err, "The JWK key type (kty) '%.16s' is not supported.", j->kty);
	}
	return res;
}

/* ---- public keys only (verifying others' signatures: OpenID tokens) ---- */

static struct keyops_key *rsa_public_from_jwk(const struct jwk *j, struct kl_err *err)
{
	struct keyops_key *res = NULL;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (j->n.len == 0 || j->e.len == 0) {
		KEYOPS_BAD(err, "An RSA public key needs the JWK members 'n' and 'e'.");
		goto out;
	}
	if ((n = bn_of(&j->n, false, err)) == NULL || (e = bn_of(&j->e, false, err)) == NULL ||
	    rsa_check_public(n, e, err) != 0)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
		keyops_ossl_fail(err, "key import");
		goto out;
	}
	if ((pkey = pkey_from("RSA", bld, true, err)) == NULL ||
	    (res = keyops_key_adopt(&pkey, KEYOPS_RSA, NULL, (unsigned)BN_num_bits(n),
				    err)) == NULL)
		goto out;
out:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return res;
}

static struct keyops_key *ec_public_from_jwk(const struct jwk *j, struct kl_err *err)
{
	const struct keyops_curve *c = keyops_curve_by_name(j->crv);
	struct keyops_key *res = NULL;
	unsigned char pub[EC_POINT_MAX];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (c == NULL) {
		KEYOPS_BAD(err, "The curve (crv) '%.16s' is not supported.", j->crv);
		goto out;
	}
	if (j->x.len != c->size || j->y.len != c->size) {
		KEYOPS_BAD(err, "The JWK members 'x' and 'y' must be %zu bytes each for %s.", c->size,
			   c->crv);
		goto out;
	}
	pub[0] = 0x04;	/* uncompressed */
	memcpy(pub + 1, j->x.data, c->size);
	memcpy(pub + 1 + c->size, j->y.data, c->size);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * c->size) != 1) {
		keyops_ossl_fail(err, "key import");
		goto out;
	}
	/* OpenSSL refuses a point that is not on the curve here. */
	if ((pkey = pkey_from("EC", bld, true, err)) == NULL ||
	    (res = keyops_key_adopt(&pkey, KEYOPS_EC, c, 0, err)) == NULL)
		goto out;
out:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	return res;
}

struct keyops_key *keyops_from_public_jwk(const struct jwk *j, struct kl_err *err)
{
	if (strcmp(j->kty, "RSA") == 0)
		return rsa_public_from_jwk(j, err);
	if (strcmp(j->kty, "EC") == 0)
		return ec_public_from_jwk(j, err);
	KEYOPS_BAD(err, "The JWK key type (kty) '%.16s' is not a public key type (RSA, EC).", j->kty);
	return NULL;
}
