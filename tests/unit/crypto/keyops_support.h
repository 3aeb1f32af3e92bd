/* Shared by the crypto/keyops unit tests (keyops_test.c, keycrypt_test.c): one set of keys made
 * once per test binary in a scratch directory for the openssl command (scratch_support.h), and
 * helpers that build JWKs from PEM files. Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_KEYOPS_SUPPORT_H
#define KLUIS_TESTS_KEYOPS_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto/keyops.h"
#include "util/b64url.h"
#include "util/json.h"
#include "scratch_support.h"

#define OUT_MAX (1u << 20)

static const char *const curve_algs[] = { "ES256", "ES256K", "ES384", "ES512" };
static const size_t curve_sizes[] = { 32, 32, 48, 66 };

struct fixture {
	struct keyops_key *rsa;		/* 2048 */
	struct keyops_key *ec[4];	/* curve_names order */
	struct keyops_key *oct[3];	/* 128, 192, 256 */
};

static struct fixture *fx;

/* ---- helpers ---------------------------------------------------------------------------- */

static inline void hex(const char *h, struct buf *b)
{
	struct kl_err err = { 0 };
	unsigned int v;

	buf_init(b, 4096);
	for (; h[0] != '\0'; h += 2) {
		while (h[0] == ' ')
			h++;
		assert_int_equal(sscanf(h, "%2x", &v), 1);
		assert_int_equal(buf_putc(b, (char)v, &err), 0);
	}
}

static inline const EVP_MD *md_of(const char *alg)
{
	const char *bits = alg + 2;

	return strncmp(bits, "256", 3) == 0 ? EVP_sha256()
	       : strncmp(bits, "384", 3) == 0 ? EVP_sha384()
					      : EVP_sha512();
}

static inline size_t digest_of(const char *alg, const char *msg, unsigned char *dg)
{
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(msg, strlen(msg), dg, &n, md_of(alg), NULL), 1);
	return n;
}

static inline const char *md_name(const char *alg)
{
	return md_of(alg) == EVP_sha256() ? "sha256" : md_of(alg) == EVP_sha384() ? "sha384"
										  : "sha512";
}

static inline struct keyops_key *load_jwk_json(json_t *v, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct jwk j;

	jwk_init(&j);
	if (jwk_from_json(v, &j, err) == 0)
		k = keyops_from_jwk(&j, err);
	jwk_clear(&j);
	return k;
}

static inline void public_jwk(const struct keyops_key *k, struct jwk *j)
{
	struct kl_err err = { 0 };

	jwk_init(j);
	assert_int_equal(keyops_public_jwk(k, j, &err), 0);
}

/* An OpenSSL public key made from the public JWK: checks the JWK and feeds the openssl command. */
static inline void b64_member(json_t *obj, const char *name, const unsigned char *p, size_t n)
{
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 8192);
	assert_int_equal(b64url_encode(p, n, &b, &err), 0);
	assert_int_equal(json_object_set_new(obj, name, json_string(buf_cstr(&b))), 0);
	buf_clear(&b);
}

static inline void bn_member(json_t *obj, const char *name, const EVP_PKEY *pkey,
			     const char *param, int pad)
{
	unsigned char bytes[1024];
	BIGNUM *bn = NULL;
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
	n = pad > 0 ? BN_bn2binpad(bn, bytes, pad) : BN_bn2bin(bn, bytes);
	assert_true(n > 0);
	b64_member(obj, name, bytes, (size_t)n);
	BN_clear_free(bn);
}

/* The private JWK of a PEM key file made by the openssl command; crt false leaves out p, q, dp,
 * dq and qi; xy false leaves out x and y. */
static inline json_t *jwk_of_pem(const char *name, bool crt, bool xy)
{
	json_t *obj = json_object();
	EVP_PKEY *pkey = NULL;
	char path[128], group[64];
	size_t i, len;
	FILE *f;

	scratch_path(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL));
	fclose(f);
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		json_object_set_new(obj, "kty", json_string("RSA"));
		bn_member(obj, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		bn_member(obj, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		bn_member(obj, "d", pkey, OSSL_PKEY_PARAM_RSA_D, EVP_PKEY_get_size(pkey));
		if (crt) {
			bn_member(obj, "p", pkey, OSSL_PKEY_PARAM_RSA_FACTOR1, 0);
			bn_member(obj, "q", pkey, OSSL_PKEY_PARAM_RSA_FACTOR2, 0);
			bn_member(obj, "dp", pkey, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0);
			bn_member(obj, "dq", pkey, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0);
			bn_member(obj, "qi", pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0);
		}
	} else {
		assert_int_equal(EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
								group, sizeof(group), &len), 1);
		for (i = 0; strcmp(curve_groups[i], group) != 0; i++)
			;
		json_object_set_new(obj, "kty", json_string("EC"));
		json_object_set_new(obj, "crv", json_string(curve_names[i]));
		if (xy) {
			bn_member(obj, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, (int)curve_sizes[i]);
			bn_member(obj, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, (int)curve_sizes[i]);
		}
		bn_member(obj, "d", pkey, OSSL_PKEY_PARAM_PRIV_KEY, (int)curve_sizes[i]);
	}
	EVP_PKEY_free(pkey);
	return obj;
}

static inline struct keyops_key *import_pem(const char *name, bool crt)
{
	struct kl_err err = { 0 };
	json_t *v = jwk_of_pem(name, crt, true);
	struct keyops_key *k = load_jwk_json(v, &err);

	if (k == NULL)
		fail_msg("import of %s: %s", name, err.msg);
	json_decref(v);
	return k;
}

/* JOSE r||s to DER and back, for the openssl command. */
static inline struct keyops_input value_in(const void *p, size_t n)
{
	struct keyops_input in = { .value = p, .value_len = n };

	return in;
}

/* Encrypts (or wraps) p[0..n) with alg and decrypts (or unwraps) it back. */
/* ---- fixture ---------------------------------------------------------------------------- */

static inline int setup(void **state)
{
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	json_util_init();
	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	if (scratch_make("keyops") != 0 || (fx->rsa = keyops_generate_rsa(2048, 0, &err)) == NULL)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((fx->ec[i] = keyops_generate_ec(curve_names[i], &err)) == NULL)
			return -1;
	}
	for (i = 0; i < 3; i++) {
		if ((fx->oct[i] = keyops_generate_oct(128 + 64 * (unsigned)i, &err)) == NULL)
			return -1;
	}
	return 0;
}

static inline int teardown(void **state)
{
	size_t i;

	(void)state;
	keyops_free(fx->rsa);
	for (i = 0; i < 4; i++)
		keyops_free(fx->ec[i]);
	for (i = 0; i < 3; i++)
		keyops_free(fx->oct[i]);
	if (scratch_remove() != 0)
		return -1;
	free(fx);
	return 0;
}

#endif
