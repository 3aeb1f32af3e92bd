/* crypto/keyops: generation of every type, size and curve; the public JWK's exact encoding;
 * serialisation round trips and damaged blobs; JWK import (keys made by the openssl command,
 * with and without the CRT members) and every refusal of a bad JWK; published vectors (RFC 3394,
 * RFC 5649, NIST GCM and CBC); every algorithm's round trip; tampered, truncated and wrong-AAD
 * ciphertexts; wrong digest lengths; algorithms that do not fit the key; and interoperability
 * with the openssl command in both directions. */
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

#define OUT_MAX (1u << 20)

static const char *const curve_names[] = { "P-256", "P-256K", "P-384", "P-521" };
static const char *const curve_groups[] = { "prime256v1", "secp256k1", "secp384r1", "secp521r1" };
static const char *const curve_algs[] = { "ES256", "ES256K", "ES384", "ES512" };
static const size_t curve_sizes[] = { 32, 32, 48, 66 };

struct fixture {
	char dir[64];
	struct keyops_key *rsa;		/* 2048 */
	struct keyops_key *ec[4];	/* curve_names order */
	struct keyops_key *oct[3];	/* 128, 192, 256 */
};

static struct fixture *fx;

/* ---- helpers ---------------------------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a shell command in the fixture directory, its output to a log file there. */
static int sh(const char *fmt, ...)
{
	char cmd[2048], full[2300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && ( %s ) >>cmd.log 2>&1", fx->dir, cmd);
	return system(full);
}

static void write_file(const char *name, const void *p, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* The contents of a fixture file into b (initialised by the caller). */
static void read_file(const char *name, struct buf *b)
{
	struct kl_err err = { 0 };
	unsigned char tmp[4096];
	char path[128];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	assert_non_null(f = fopen(path, "rb"));
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(b, tmp, n, &err), 0);
	fclose(f);
}

static void hex(const char *h, struct buf *b)
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

static void assert_bad(int rc, const struct kl_err *err, const char *msg)
{
	assert_int_equal(rc, -1);
	if (err->code != KL_EINVAL)
		fail_msg("want KL_EINVAL, got %s: %s", kl_errc_name(err->code), err->msg);
	assert_non_null(err->azure_code);
	assert_string_equal(err->azure_code, "BadParameter");
	if (msg != NULL && strstr(err->msg, msg) == NULL)
		fail_msg("message '%s' lacks '%s'", err->msg, msg);
}

static const EVP_MD *md_of(const char *alg)
{
	const char *bits = alg + 2;

	return strncmp(bits, "256", 3) == 0 ? EVP_sha256()
	       : strncmp(bits, "384", 3) == 0 ? EVP_sha384()
					      : EVP_sha512();
}

static size_t digest_of(const char *alg, const char *msg, unsigned char *dg)
{
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(msg, strlen(msg), dg, &n, md_of(alg), NULL), 1);
	return n;
}

static const char *md_name(const char *alg)
{
	return md_of(alg) == EVP_sha256() ? "sha256" : md_of(alg) == EVP_sha384() ? "sha384"
										  : "sha512";
}

static struct keyops_key *load_jwk_json(json_t *v, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct jwk j;

	jwk_init(&j);
	if (jwk_from_json(v, &j, err) == 0)
		k = keyops_from_jwk(&j, err);
	jwk_clear(&j);
	return k;
}

static void public_jwk(const struct keyops_key *k, struct jwk *j)
{
	struct kl_err err = { 0 };

	jwk_init(j);
	assert_int_equal(keyops_public_jwk(k, j, &err), 0);
}

/* An OpenSSL public key made from the public JWK: checks the JWK and feeds the openssl command. */
static EVP_PKEY *pkey_of_public_jwk(const struct keyops_key *k)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char pt[1 + 2 * 66];
	BIGNUM *n = NULL, *e = NULL;
	struct jwk j;
	size_t i;

	public_jwk(k, &j);
	assert_non_null(bld);
	if (keyops_type(k) == KEYOPS_RSA) {
		n = BN_bin2bn(j.n.data, (int)j.n.len, NULL);
		e = BN_bin2bn(j.e.data, (int)j.e.len, NULL);
		assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
		assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		for (i = 0; strcmp(curve_names[i], j.crv) != 0; i++)
			;
		pt[0] = 4;
		memcpy(pt + 1, j.x.data, j.x.len);
		memcpy(pt + 1 + j.x.len, j.y.data, j.y.len);
		assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
								  curve_groups[i], 0), 1);
		assert_int_equal(OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
								   1 + j.x.len + j.y.len), 1);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	jwk_clear(&j);
	return pkey;
}

static void write_public_pem(const struct keyops_key *k, const char *name)
{
	EVP_PKEY *pkey = pkey_of_public_jwk(k);
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_PUBKEY(f, pkey), 1);
	fclose(f);
	EVP_PKEY_free(pkey);
}

static void b64_member(json_t *obj, const char *name, const unsigned char *p, size_t n)
{
	struct kl_err err = { 0 };
	struct buf b;

	buf_init(&b, 8192);
	assert_int_equal(b64url_encode(p, n, &b, &err), 0);
	assert_int_equal(json_object_set_new(obj, name, json_string(buf_cstr(&b))), 0);
	buf_clear(&b);
}

static void bn_member(json_t *obj, const char *name, const EVP_PKEY *pkey, const char *param,
		      int pad)
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
static json_t *jwk_of_pem(const char *name, bool crt, bool xy)
{
	json_t *obj = json_object();
	EVP_PKEY *pkey = NULL;
	char path[128], group[64];
	size_t i, len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
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

static struct keyops_key *import_pem(const char *name, bool crt)
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
static void rs_to_der(const unsigned char *rs, size_t n, struct buf *der)
{
	struct kl_err err = { 0 };
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *p = NULL;
	int len;

	assert_int_equal(ECDSA_SIG_set0(sig, BN_bin2bn(rs, (int)n / 2, NULL),
					BN_bin2bn(rs + n / 2, (int)n / 2, NULL)), 1);
	assert_true((len = i2d_ECDSA_SIG(sig, &p)) > 0);
	assert_int_equal(buf_append(der, p, (size_t)len, &err), 0);
	OPENSSL_free(p);
	ECDSA_SIG_free(sig);
}

static void der_to_rs(const struct buf *der, size_t size, struct buf *rs)
{
	struct kl_err err = { 0 };
	const unsigned char *p = der->data;
	unsigned char tmp[132];
	ECDSA_SIG *sig;

	assert_non_null(sig = d2i_ECDSA_SIG(NULL, &p, (long)der->len));
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(sig), tmp, (int)size), (int)size);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(sig), tmp + size, (int)size), (int)size);
	assert_int_equal(buf_append(rs, tmp, 2 * size, &err), 0);
	ECDSA_SIG_free(sig);
}

static struct keyops_input value_in(const void *p, size_t n)
{
	struct keyops_input in = { .value = p, .value_len = n };

	return in;
}

/* Encrypts (or wraps) p[0..n) with alg and decrypts (or unwraps) it back. */
static void round_trip(const struct keyops_key *k, const char *alg, bool wrap, const void *p,
		       size_t n, const void *aad, size_t aad_len)
{
	static const unsigned char iv16[16] = "0123456789abcdef";
	struct kl_err err = { 0 };
	struct keyops_input in = { .value = p, .value_len = n, .aad = aad, .aad_len = aad_len };
	struct keyops_output ct = { 0 }, pt = { 0 };
	struct buf c, d;
	bool cbc = strstr(alg, "CBC") != NULL;
	int rc;

	buf_init_secret(&c, OUT_MAX);
	buf_init_secret(&d, OUT_MAX);
	ct.out = &c;
	pt.out = &d;
	if (cbc) {
		in.iv = iv16;
		in.iv_len = 16;
	}
	rc = wrap ? keyops_wrap(k, alg, &in, &ct, &err) : keyops_encrypt(k, alg, &in, &ct, &err);
	if (rc != 0)
		fail_msg("%s of %zu bytes: %s", alg, n, err.msg);
	in.value = c.data;
	in.value_len = c.len;
	if (strstr(alg, "GCM") != NULL) {
		assert_int_equal(ct.iv_len, 12);
		assert_int_equal(ct.tag_len, 16);
		assert_int_equal(c.len, n);
		in.iv = ct.iv;
		in.iv_len = ct.iv_len;
		in.tag = ct.tag;
		in.tag_len = ct.tag_len;
	} else if (cbc) {
		assert_int_equal(ct.iv_len, 16);
		assert_memory_equal(ct.iv, iv16, 16);
		assert_int_equal(ct.tag_len, 0);
	} else {
		assert_int_equal(ct.iv_len + ct.tag_len, 0);
	}
	rc = wrap ? keyops_unwrap(k, alg, &in, &pt, &err) : keyops_decrypt(k, alg, &in, &pt, &err);
	if (rc != 0)
		fail_msg("%s back of %zu bytes: %s", alg, n, err.msg);
	assert_int_equal(d.len, n);
	if (n > 0)
		assert_memory_equal(d.data, p, n);
	buf_clear(&c);
	buf_clear(&d);
}

/* ---- fixture ---------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	json_util_init();
	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/kluis-keyops-XXXXXX");
	if (mkdtemp(fx->dir) == NULL || (fx->rsa = keyops_generate_rsa(2048, 0, &err)) == NULL)
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

static int teardown(void **state)
{
	char cmd[128];
	size_t i;

	(void)state;
	keyops_free(fx->rsa);
	for (i = 0; i < 4; i++)
		keyops_free(fx->ec[i]);
	for (i = 0; i < 3; i++)
		keyops_free(fx->oct[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/* ---- generation and the public JWK ------------------------------------------------------ */

static void check_rsa_public(const struct keyops_key *k, unsigned bits, const char *e_text)
{
	struct kl_err err = { 0 };
	struct buf text;
	struct jwk j;
	json_t *v;

	public_jwk(k, &j);
	assert_string_equal(j.kty, "RSA");
	assert_int_equal(j.n.len, bits / 8);
	assert_true(j.n.data[0] & 0x80);	/* full size, no leading zero byte */
	assert_int_equal(j.d.len + j.p.len + j.q.len + j.dp.len + j.dq.len + j.qi.len, 0);
	assert_int_equal(j.x.len + j.y.len, 0);
	assert_string_equal(j.crv, "");
	v = jwk_public_json(&j, NULL);
	assert_string_equal(json_string_value(json_object_get(v, "e")), e_text);
	assert_int_equal(json_string_length(json_object_get(v, "n")), (bits / 8 * 4 + 2) / 3);
	assert_null(json_object_get(v, "d"));
	buf_init(&text, 4096);
	assert_int_equal(json_util_dump(v, &text, &err), 0);
	assert_null(strchr(buf_cstr(&text), '='));
	buf_clear(&text);
	json_decref(v);
	jwk_clear(&j);
}

static void test_generate_rsa(void **state)
{
	static const unsigned sizes[] = { 3072, 4096 };
	struct kl_err err = { 0 };
	struct keyops_key *k;
	struct jwk j;
	size_t i;

	(void)state;
	assert_int_equal(keyops_type(fx->rsa), KEYOPS_RSA);
	assert_int_equal(keyops_bits(fx->rsa), 2048);
	assert_null(keyops_curve(fx->rsa));
	check_rsa_public(fx->rsa, 2048, "AQAB");
	public_jwk(fx->rsa, &j);
	/* 2048 bits are 342 base64url characters, as the service writes them. */
	{
		struct buf b;

		buf_init(&b, 1024);
		assert_int_equal(b64url_encode(j.n.data, j.n.len, &b, &err), 0);
		assert_int_equal(b.len, 342);
		buf_clear(&b);
	}
	jwk_clear(&j);
	for (i = 0; i < 2; i++) {
		assert_non_null(k = keyops_generate_rsa(sizes[i], 65537, &err));
		assert_int_equal(keyops_bits(k), sizes[i]);
		check_rsa_public(k, sizes[i], "AQAB");
		keyops_free(k);
	}
	assert_non_null(k = keyops_generate_rsa(2048, 3, &err));
	check_rsa_public(k, 2048, "Aw");
	keyops_free(k);
	assert_non_null(k = keyops_generate_rsa(2048, 0xffffffffUL, &err));
	check_rsa_public(k, 2048, "_____w");
	keyops_free(k);
	keyops_free(NULL);
}

static void test_generate_rsa_refusals(void **state)
{
	static const unsigned bad_sizes[] = { 0, 512, 1024, 2047, 2049, 4095, 8192 };
	static const unsigned long bad_e[] = { 1, 2, 4, 65536, 0x100000001UL };
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
		assert_bad(keyops_generate_rsa(bad_sizes[i], 0, &err) == NULL ? -1 : 0, &err,
			   "is not supported; use 2048, 3072 or 4096.");
	for (i = 0; i < sizeof(bad_e) / sizeof(bad_e[0]); i++)
		assert_bad(keyops_generate_rsa(2048, bad_e[i], &err) == NULL ? -1 : 0, &err,
			   "public exponent");
}

static void test_generate_ec(void **state)
{
	static const char *const bad[] = { "P-224", "P-192", "p-256", "secp256k1", "prime256v1",
					   "P-256 ", "", "Ed25519" };
	static const unsigned field_bits[] = { 256, 256, 384, 521 };
	struct kl_err err = { 0 };
	struct keyops_key *k;
	struct jwk j;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		k = fx->ec[i];
		assert_int_equal(keyops_type(k), KEYOPS_EC);
		assert_string_equal(keyops_curve(k), curve_names[i]);
		assert_int_equal(keyops_bits(k), field_bits[i]);
		public_jwk(k, &j);
		assert_string_equal(j.kty, "EC");
		assert_string_equal(j.crv, curve_names[i]);
		assert_int_equal(j.x.len, curve_sizes[i]);
		assert_int_equal(j.y.len, curve_sizes[i]);
		assert_int_equal(j.n.len + j.e.len + j.d.len, 0);
		jwk_clear(&j);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_bad(keyops_generate_ec(bad[i], &err) == NULL ? -1 : 0, &err,
			   "use P-256, P-256K, P-384 or P-521.");
	assert_bad(keyops_generate_ec(NULL, &err) == NULL ? -1 : 0, &err, NULL);
	/* Fixed length even when a coordinate starts with zero bits: many keys, P-521 always. */
	for (i = 0; i < 64; i++) {
		assert_non_null(k = keyops_generate_ec("P-521", &err));
		public_jwk(k, &j);
		assert_int_equal(j.x.len, 66);
		assert_int_equal(j.y.len, 66);
		assert_true(j.x.data[0] <= 1 && j.y.data[0] <= 1);
		jwk_clear(&j);
		keyops_free(k);
	}
}

static void test_generate_oct(void **state)
{
	static const unsigned bad[] = { 0, 64, 100, 127, 129, 255, 512 };
	struct kl_err err = { 0 };
	struct buf raw;
	struct jwk j;
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(keyops_type(fx->oct[i]), KEYOPS_OCT);
		assert_int_equal(keyops_bits(fx->oct[i]), 128 + 64 * i);
		assert_null(keyops_curve(fx->oct[i]));
		public_jwk(fx->oct[i], &j);
		assert_string_equal(j.kty, "oct");
		assert_int_equal(j.k.len, 0);
		v = jwk_public_json(&j, "kid");
		assert_int_equal(json_object_size(v), 2);	/* kid and kty only */
		json_decref(v);
		jwk_clear(&j);
		buf_init_secret(&raw, 64);
		assert_int_equal(keyops_serialize(fx->oct[i], &raw, &err), 0);
		assert_int_equal(raw.len, 16 + 8 * i);
		buf_clear(&raw);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_bad(keyops_generate_oct(bad[i], &err) == NULL ? -1 : 0, &err,
			   "use 128, 192 or 256.");
}

/* ---- serialisation ---------------------------------------------------------------------- */

static void assert_same_public(const struct keyops_key *a, const struct keyops_key *b)
{
	struct jwk ja, jb;

	public_jwk(a, &ja);
	public_jwk(b, &jb);
	assert_string_equal(ja.kty, jb.kty);
	assert_string_equal(ja.crv, jb.crv);
	assert_int_equal(ja.n.len, jb.n.len);
	assert_int_equal(ja.e.len, jb.e.len);
	assert_int_equal(ja.x.len, jb.x.len);
	assert_int_equal(ja.y.len, jb.y.len);
	if (ja.n.len > 0)
		assert_memory_equal(ja.n.data, jb.n.data, ja.n.len);
	if (ja.e.len > 0)
		assert_memory_equal(ja.e.data, jb.e.data, ja.e.len);
	if (ja.x.len > 0) {
		assert_memory_equal(ja.x.data, jb.x.data, ja.x.len);
		assert_memory_equal(ja.y.data, jb.y.data, ja.y.len);
	}
	jwk_clear(&ja);
	jwk_clear(&jb);
}

/* Signs with one key and verifies with the other: the same private key. */
static void assert_same_private(const struct keyops_key *a, const struct keyops_key *b,
				const char *alg)
{
	struct kl_err err = { 0 };
	unsigned char dg[64];
	size_t n = digest_of(alg, "same key", dg);
	struct buf sig;
	bool valid = false;

	buf_init(&sig, 1024);
	if (keyops_sign(a, alg, dg, n, &sig, &err) != 0)
		fail_msg("%s: %s", alg, err.msg);
	assert_int_equal(keyops_verify(b, alg, dg, n, sig.data, sig.len, &valid, &err), 0);
	assert_true(valid);
	buf_clear(&sig);
}

static void test_serialize_round_trip(void **state)
{
	struct kl_err err = { 0 };
	struct keyops_key *all[8], *back;
	PKCS8_PRIV_KEY_INFO *p8;
	const unsigned char *p;
	struct buf der;
	size_t i;

	(void)state;
	all[0] = fx->rsa;
	for (i = 0; i < 4; i++)
		all[1 + i] = fx->ec[i];
	for (i = 0; i < 3; i++)
		all[5 + i] = fx->oct[i];
	for (i = 0; i < 8; i++) {
		buf_init_secret(&der, 16384);
		assert_int_equal(keyops_serialize(all[i], &der, &err), 0);
		if (keyops_type(all[i]) != KEYOPS_OCT) {
			/* PKCS#8 PrivateKeyInfo, as OpenSSL itself reads it. */
			p = der.data;
			assert_non_null(p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der.len));
			assert_ptr_equal(p, der.data + der.len);
			PKCS8_PRIV_KEY_INFO_free(p8);
		}
		back = keyops_deserialize(keyops_type(all[i]), der.data, der.len, &err);
		if (back == NULL)
			fail_msg("deserialize %zu: %s", i, err.msg);
		assert_int_equal(keyops_type(back), keyops_type(all[i]));
		assert_int_equal(keyops_bits(back), keyops_bits(all[i]));
		if (keyops_type(back) == KEYOPS_EC)
			assert_string_equal(keyops_curve(back), keyops_curve(all[i]));
		assert_same_public(all[i], back);
		if (keyops_type(back) == KEYOPS_RSA) {
			assert_same_private(back, all[i], "PS256");
		} else if (keyops_type(back) == KEYOPS_EC) {
			assert_same_private(back, all[i], curve_algs[i - 1]);
		} else {
			static const unsigned char msg[32] = "the same AES key both ways!!!!!";
			struct keyops_input in = value_in(msg, sizeof(msg));
			struct keyops_output o1 = { 0 }, o2 = { 0 };
			struct buf c1, c2;
			char alg[16];

			buf_init(&c1, 64);
			buf_init(&c2, 64);
			o1.out = &c1;
			o2.out = &c2;
			snprintf(alg, sizeof(alg), "A%uKW", keyops_bits(back));
			assert_int_equal(keyops_wrap(back, alg, &in, &o1, &err), 0);
			assert_int_equal(keyops_wrap(all[i], alg, &in, &o2, &err), 0);
			assert_int_equal(c1.len, c2.len);
			assert_memory_equal(c1.data, c2.data, c1.len);	/* RFC 3394 is deterministic */
			buf_clear(&c1);
			buf_clear(&c2);
		}
		keyops_free(back);
		buf_clear(&der);
	}
}

static void assert_corrupt(enum keyops_kty kty, const void *p, size_t n)
{
	struct kl_err err = { 0 };

	assert_null(keyops_deserialize(kty, p, n, &err));
	assert_int_equal(err.code, KL_ECORRUPT);
}

static void test_deserialize_damaged(void **state)
{
	struct kl_err err = { 0 };
	struct buf rsa, ec, bigger;
	size_t i;

	(void)state;
	buf_init_secret(&rsa, 16384);
	buf_init_secret(&ec, 16384);
	buf_init_secret(&bigger, 16384);
	assert_int_equal(keyops_serialize(fx->rsa, &rsa, &err), 0);
	assert_int_equal(keyops_serialize(fx->ec[0], &ec, &err), 0);
	/* Every truncation, an extra byte, the other type, nothing. */
	for (i = 0; i < ec.len; i++)
		assert_corrupt(KEYOPS_EC, ec.data, i);
	for (i = 0; i < rsa.len; i += 7)
		assert_corrupt(KEYOPS_RSA, rsa.data, i);
	assert_int_equal(buf_append(&bigger, ec.data, ec.len, &err), 0);
	assert_int_equal(buf_putc(&bigger, 0, &err), 0);
	assert_corrupt(KEYOPS_EC, bigger.data, bigger.len);
	assert_corrupt(KEYOPS_RSA, ec.data, ec.len);
	assert_corrupt(KEYOPS_EC, rsa.data, rsa.len);
	assert_corrupt(KEYOPS_RSA, "", 0);
	assert_corrupt(KEYOPS_OCT, "0123456789abcdef0", 17);
	assert_corrupt(KEYOPS_OCT, "0123456789abcde", 15);
	assert_corrupt(KEYOPS_OCT, "", 0);
	assert_corrupt((enum keyops_kty)7, ec.data, ec.len);
	buf_clear(&rsa);
	buf_clear(&ec);
	buf_clear(&bigger);
}

/* ---- JWK import ------------------------------------------------------------------------- */

static void test_import_openssl_rsa(void **state)
{
	struct keyops_key *k, *k2, *k3;
	struct kl_err err = { 0 };
	struct buf der;
	json_t *v;

	(void)state;
	assert_int_equal(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
			    "-out rsa.pem"), 0);
	assert_non_null(k = import_pem("rsa.pem", true));
	assert_int_equal(keyops_bits(k), 2048);
	/* Without p, q, dp, dq and qi: the factors are found from n, e and d. */
	assert_non_null(k2 = import_pem("rsa.pem", false));
	assert_same_public(k, k2);
	assert_same_private(k2, k, "RS256");
	assert_same_private(k, k2, "PS512");
	/* The recovered key serialises with its CRT members, like any other. */
	buf_init_secret(&der, 16384);
	assert_int_equal(keyops_serialize(k2, &der, &err), 0);
	assert_non_null(k3 = keyops_deserialize(KEYOPS_RSA, der.data, der.len, &err));
	assert_same_private(k3, k, "RS384");
	buf_clear(&der);
	keyops_free(k3);
	keyops_free(k2);
	/* -HSM is the same key. */
	v = jwk_of_pem("rsa.pem", true, true);
	json_object_set_new(v, "kty", json_string("RSA-HSM"));
	assert_non_null(k2 = load_jwk_json(v, &err));
	assert_same_public(k, k2);
	keyops_free(k2);
	json_decref(v);
	keyops_free(k);

	/* e = 3 and a 3072-bit key. */
	assert_int_equal(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 "
			    "-pkeyopt rsa_keygen_pubexp:3 -out rsa3.pem"), 0);
	assert_non_null(k = import_pem("rsa3.pem", false));
	assert_int_equal(keyops_bits(k), 3072);
	check_rsa_public(k, 3072, "Aw");
	keyops_free(k);
}

static void test_import_openssl_ec(void **state)
{
	struct kl_err err = { 0 };
	struct keyops_key *k, *k2;
	char name[32];
	json_t *v;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "ec%zu.pem", i);
		assert_int_equal(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:%s "
				    "-out %s", curve_groups[i], name), 0);
		assert_non_null(k = import_pem(name, true));
		assert_string_equal(keyops_curve(k), curve_names[i]);
		/* Without x and y: the point is derived from d. */
		v = jwk_of_pem(name, true, false);
		json_object_set_new(v, "kty", json_string("EC-HSM"));
		assert_non_null(k2 = load_jwk_json(v, &err));
		assert_same_public(k, k2);
		assert_same_private(k2, k, curve_algs[i]);
		json_decref(v);
		keyops_free(k2);
		keyops_free(k);
	}
}

/* Imports the JSON text s expecting a 400 whose message holds msg. */
static void import_bad_json(json_t *v, const char *msg, const char *what)
{
	struct kl_err err = { 0 };
	struct keyops_key *k = load_jwk_json(v, &err);

	if (k != NULL)
		fail_msg("%s: imported", what);
	if (err.code != KL_EINVAL || strstr(err.msg, msg) == NULL)
		fail_msg("%s: %s %s (want '%s')", what, kl_errc_name(err.code), err.msg, msg);
	json_decref(v);
}

static json_t *with(json_t *v, const char *member, json_t *value)
{
	json_t *c = json_deep_copy(v);

	if (value == NULL)
		json_object_del(c, member);
	else
		json_object_set_new(c, member, value);
	return c;
}

static json_t *with_bytes(json_t *v, const char *member, const void *p, size_t n)
{
	json_t *c = json_deep_copy(v);

	b64_member(c, member, p, n);
	return c;
}

static void test_import_rsa_refusals(void **state)
{
	static const char *const crt[] = { "p", "q", "dp", "dq", "qi" };
	json_t *rsa, *other, *small, *mixed;
	struct buf n;
	size_t i;

	(void)state;
	assert_int_equal(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
			    "-out other.pem && openssl genpkey -algorithm RSA -pkeyopt "
			    "rsa_keygen_bits:1024 -out small.pem"), 0);
	if (sh("test -f rsa.pem") != 0)
		assert_int_equal(sh("openssl genpkey -algorithm RSA -out rsa.pem"), 0);
	rsa = jwk_of_pem("rsa.pem", true, true);
	other = jwk_of_pem("other.pem", true, true);
	small = jwk_of_pem("small.pem", true, true);
	import_bad_json(with(rsa, "n", NULL), "'n' is required", "no n");
	import_bad_json(with(rsa, "e", NULL), "'e' is required", "no e");
	import_bad_json(with(rsa, "d", NULL), "'d' is required", "no d (public key only)");
	import_bad_json(with(rsa, "q", NULL), "'p' and 'q' must be given together", "p without q");
	import_bad_json(with(rsa, "d", json_incref(json_object_get(other, "d"))),
			"does not match", "d of another key");
	mixed = json_deep_copy(rsa);
	for (i = 0; i < 5; i++)
		json_object_set(mixed, crt[i], json_object_get(other, crt[i]));
	json_object_set(mixed, "d", json_object_get(other, "d"));
	import_bad_json(mixed, "does not match", "private parts of another key");
	import_bad_json(with(rsa, "p", json_incref(json_object_get(other, "p"))), "not match",
			"p that does not divide n");
	import_bad_json(with(rsa, "qi", json_incref(json_object_get(rsa, "dp"))), "not match",
			"a wrong qi");
	import_bad_json(with_bytes(rsa, "e", "\x03", 1), "not match", "e that does not fit d");
	import_bad_json(with_bytes(rsa, "e", "\x01\x00\x00", 3), "public exponent (e)", "e even");
	import_bad_json(with_bytes(rsa, "e", "\x01", 1), "public exponent (e)", "e = 1");
	import_bad_json(with_bytes(rsa, "e", "\x01\x00\x00\x00\x01", 5), "public exponent (e)",
			"e over 32 bits");
	{
		unsigned char zeros[256] = { 0 };

		import_bad_json(with_bytes(rsa, "n", zeros, sizeof(zeros)), "RSA keys of 0 bits",
				"n = 0");
		import_bad_json(with_bytes(rsa, "d", zeros, sizeof(zeros)), "private exponent (d)",
				"d = 0");
	}
	/* d of the key, without the factors, against an n that is one of its neighbours. */
	buf_init(&n, 1024);
	{
		struct jwk j;
		struct kl_err err = { 0 };
		json_t *nn = with(rsa, "p", NULL);

		json_object_del(nn, "q");
		jwk_init(&j);
		assert_int_equal(jwk_from_json(rsa, &j, &err), 0);
		assert_int_equal(buf_append(&n, j.n.data, j.n.len, &err), 0);
		n.data[n.len - 1] ^= 2;	/* still odd */
		jwk_clear(&j);
		import_bad_json(with_bytes(nn, "n", n.data, n.len), "does not match",
				"n changed, no factors");
		json_decref(nn);
	}
	buf_clear(&n);
	import_bad_json(json_incref(small), "RSA keys of 1024 bits are not supported", "RSA 1024");
	import_bad_json(with(rsa, "kty", json_string("EC")), "'crv' is required", "RSA as EC");
	import_bad_json(with(rsa, "kty", json_string("DSA")), "(kty) 'DSA' is not supported", "DSA");
	import_bad_json(with(rsa, "kty", json_string("rsa")), "is not supported", "rsa");
	json_decref(rsa);
	json_decref(other);
	json_decref(small);
}

static void test_import_ec_refusals(void **state)
{
	static const unsigned char order_p256[32] = {
		0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17,
		0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
	};
	unsigned char b[67] = { 0 };
	json_t *ec, *ec384;
	struct kl_err err = { 0 };
	struct jwk j;

	(void)state;
	if (sh("test -f ec0.pem && test -f ec2.pem") != 0)
		assert_int_equal(sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
				    "-out ec0.pem && openssl genpkey -algorithm EC -pkeyopt "
				    "ec_paramgen_curve:P-384 -out ec2.pem"), 0);
	ec = jwk_of_pem("ec0.pem", true, true);
	ec384 = jwk_of_pem("ec2.pem", true, true);
	jwk_init(&j);
	assert_int_equal(jwk_from_json(ec, &j, &err), 0);
	memcpy(b, j.x.data, 32);
	b[31] ^= 1;
	import_bad_json(with_bytes(ec, "x", b, 32), "does not match", "point off the curve");
	import_bad_json(with_bytes(ec, "x", j.x.data + 1, 31), "must be 32 bytes", "x of 31");
	b[0] = 0;
	memcpy(b + 1, j.y.data, 32);
	import_bad_json(with_bytes(ec, "y", b, 33), "must be 32 bytes", "y of 33");
	import_bad_json(with(ec, "y", NULL), "must be given together", "x without y");
	import_bad_json(with(ec384, "crv", json_string("P-256")), "too long", "P-384 as P-256");
	import_bad_json(with(ec, "crv", json_string("P-384")), "must be 48 bytes", "P-256 as P-384");
	import_bad_json(with(ec, "crv", json_string("P-256K")), "does not match", "P-256 as P-256K");
	memset(b, 0, sizeof(b));
	b[31] = 5;
	import_bad_json(with_bytes(ec, "d", b, 32), "does not match", "d not matching the point");
	import_bad_json(with_bytes(ec, "d", order_p256, 32), "out of range", "d = n");
	b[31] = 0;
	import_bad_json(with_bytes(ec, "d", b, 32), "out of range", "d = 0");
	b[0] = 1;
	memcpy(b + 1, j.d.data, 32);
	import_bad_json(with_bytes(ec, "d", b, 33), "too long", "d of 33 bytes");
	memset(b, 0, sizeof(b));
	{
		json_t *zero_x = with_bytes(ec, "x", b, 32);

		import_bad_json(with_bytes(zero_x, "y", b, 32), "does not match",
				"point at infinity");
		json_decref(zero_x);
	}
	import_bad_json(with(ec, "d", NULL), "'d' is required", "no d");
	import_bad_json(with(ec, "crv", NULL), "'crv' is required", "no crv");
	import_bad_json(with(ec, "crv", json_string("P-257")), "(crv) 'P-257' is not supported",
			"unknown crv");
	import_bad_json(with(ec, "crv", json_string("secp256k1")), "is not supported", "OpenSSL name");
	jwk_clear(&j);
	json_decref(ec);
	json_decref(ec384);
}

static void test_import_oct(void **state)
{
	static const size_t bad[] = { 1, 15, 17, 31, 33, 48, 64, 1000 };
	unsigned char key[1000] = { 0 };
	struct kl_err err = { 0 };
	struct keyops_key *k;
	json_t *v, *base = json_pack("{s:s}", "kty", "oct");
	struct buf raw;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		key[0] = (unsigned char)i;
		v = with_bytes(base, "k", key, 16 + 8 * i);
		json_object_set_new(v, "kty", json_string(i == 1 ? "oct-HSM" : "oct"));
		assert_non_null(k = load_jwk_json(v, &err));
		assert_int_equal(keyops_bits(k), 128 + 64 * i);
		buf_init_secret(&raw, 64);
		assert_int_equal(keyops_serialize(k, &raw, &err), 0);
		assert_int_equal(raw.len, 16 + 8 * i);
		assert_memory_equal(raw.data, key, raw.len);
		buf_clear(&raw);
		keyops_free(k);
		json_decref(v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		import_bad_json(with_bytes(base, "k", key, bad[i]), "must be 128, 192 or 256 bits",
				"oct size");
	import_bad_json(json_incref(base), "'k' is required", "no k");
	json_decref(base);
}

/* ---- published vectors ------------------------------------------------------------------ */

static struct keyops_key *oct_key(const char *key_hex)
{
	struct kl_err err = { 0 };
	struct keyops_key *k;
	struct jwk j;
	struct buf b;

	hex(key_hex, &b);
	jwk_init(&j);
	snprintf(j.kty, sizeof(j.kty), "oct");
	assert_int_equal(buf_append(&j.k, b.data, b.len, &err), 0);
	assert_non_null(k = keyops_from_jwk(&j, &err));
	jwk_clear(&j);
	buf_clear(&b);
	return k;
}

static void kw_vector(const char *alg, const char *kek, const char *data, const char *wrapped)
{
	struct kl_err err = { 0 };
	struct keyops_key *k = oct_key(kek);
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf d, w, out;

	hex(data, &d);
	hex(wrapped, &w);
	buf_init_secret(&out, 1024);
	o.out = &out;
	in = value_in(d.data, d.len);
	assert_int_equal(keyops_wrap(k, alg, &in, &o, &err), 0);
	assert_int_equal(out.len, w.len);
	assert_memory_equal(out.data, w.data, w.len);
	buf_reset(&out);
	in = value_in(w.data, w.len);
	assert_int_equal(keyops_unwrap(k, alg, &in, &o, &err), 0);
	assert_int_equal(out.len, d.len);
	assert_memory_equal(out.data, d.data, d.len);
	/* A flipped bit anywhere fails the integrity check, and nothing comes out. */
	w.data[w.len / 2] ^= 0x10;
	buf_reset(&out);
	in = value_in(w.data, w.len);
	assert_bad(keyops_unwrap(k, alg, &in, &o, &err), &err, "Decryption failed.");
	assert_int_equal(out.len, 0);
	buf_clear(&d);
	buf_clear(&w);
	buf_clear(&out);
	keyops_free(k);
}

static void test_key_wrap_vectors(void **state)
{
	(void)state;
	/* RFC 3394 4.1, 4.2, 4.3, 4.6 */
	kw_vector("A128KW", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
		  "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
	kw_vector("A192KW", "000102030405060708090A0B0C0D0E0F1011121314151617",
		  "00112233445566778899AABBCCDDEEFF",
		  "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D");
	kw_vector("A256KW", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		  "00112233445566778899AABBCCDDEEFF",
		  "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7");
	kw_vector("A256KW", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		  "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
		  "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
	kw_vector("CKM_AES_KEY_WRAP", "000102030405060708090A0B0C0D0E0F",
		  "00112233445566778899AABBCCDDEEFF",
		  "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
	/* RFC 5649 section 6 */
	kw_vector("CKM_AES_KEY_WRAP_PAD", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
		  "c37b7e6492584340bed12207808941155068f738",
		  "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
	kw_vector("CKM_AES_KEY_WRAP_PAD", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
		  "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f");
}

static void gcm_vector(const char *alg, const char *key, const char *iv, const char *aad,
		       const char *pt, const char *ct, const char *tag)
{
	struct kl_err err = { 0 };
	struct keyops_key *k = oct_key(key);
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf biv, baad, bpt, bct, btag, out;

	hex(iv, &biv);
	hex(aad, &baad);
	hex(pt, &bpt);
	hex(ct, &bct);
	hex(tag, &btag);
	buf_init_secret(&out, 1024);
	o.out = &out;
	in = (struct keyops_input){ .value = bct.data, .value_len = bct.len, .iv = biv.data,
				    .iv_len = biv.len, .aad = baad.data, .aad_len = baad.len,
				    .tag = btag.data, .tag_len = btag.len };
	if (keyops_decrypt(k, alg, &in, &o, &err) != 0)
		fail_msg("%s: %s", alg, err.msg);
	assert_int_equal(out.len, bpt.len);
	assert_memory_equal(out.data, bpt.data, bpt.len);
	assert_int_equal(o.iv_len + o.tag_len, 0);
	buf_clear(&biv);
	buf_clear(&baad);
	buf_clear(&bpt);
	buf_clear(&bct);
	buf_clear(&btag);
	buf_clear(&out);
	keyops_free(k);
}

static void test_gcm_vectors(void **state)
{
	static const char *const p = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
				     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
	static const char *const a = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

	(void)state;
	/* The GCM specification (McGrew and Viega), test cases 4, 10 and 16. */
	gcm_vector("A128GCM", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", a, p,
		   "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		   "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		   "5bc94fbc3221a5db94fae95ae7121a47");
	gcm_vector("A192GCM", "feffe9928665731c6d6a8f9467308308feffe9928665731c",
		   "cafebabefacedbaddecaf888", a, p,
		   "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c"
		   "7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
		   "2519498e80f1478f37ba55bd6d27618c");
	gcm_vector("A256GCM", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		   "cafebabefacedbaddecaf888", a, p,
		   "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		   "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		   "76fc6ece0f4e1768cddf8853bb2d551b");
	/* Test case 13: empty plaintext, no aad. */
	gcm_vector("A256GCM", "0000000000000000000000000000000000000000000000000000000000000000",
		   "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b");
}

static void cbc_vector(const char *alg, const char *key, const char *pt, const char *ct)
{
	struct kl_err err = { 0 };
	struct keyops_key *k = oct_key(key);
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf biv, bpt, bct, out;

	hex("000102030405060708090a0b0c0d0e0f", &biv);
	hex(pt, &bpt);
	hex(ct, &bct);
	buf_init_secret(&out, 1024);
	o.out = &out;
	in = (struct keyops_input){ .value = bpt.data, .value_len = bpt.len, .iv = biv.data,
				    .iv_len = 16 };
	assert_int_equal(keyops_encrypt(k, alg, &in, &o, &err), 0);
	assert_int_equal(out.len, bct.len);
	assert_memory_equal(out.data, bct.data, bct.len);
	assert_int_equal(o.iv_len, 16);
	assert_memory_equal(o.iv, biv.data, 16);
	buf_reset(&out);
	in.value = bct.data;
	in.value_len = bct.len;
	assert_int_equal(keyops_decrypt(k, alg, &in, &o, &err), 0);
	assert_int_equal(out.len, bpt.len);
	assert_memory_equal(out.data, bpt.data, bpt.len);
	buf_clear(&biv);
	buf_clear(&bpt);
	buf_clear(&bct);
	buf_clear(&out);
	keyops_free(k);
}

static void test_cbc_vectors(void **state)
{
	static const char *const p = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
				     "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

	(void)state;
	/* NIST SP 800-38A F.2.1, F.2.3, F.2.5 */
	cbc_vector("A128CBC", "2b7e151628aed2a6abf7158809cf4f3c", p,
		   "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
		   "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7");
	cbc_vector("A192CBC", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", p,
		   "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
		   "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd");
	cbc_vector("A256CBC", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", p,
		   "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
		   "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b");
}

static void test_cbcpad_matches_openssl_enc(void **state)
{
	static const char *const algs[] = { "A128CBCPAD", "A192CBCPAD", "A256CBCPAD" };
	static const unsigned char iv[16] = "fedcba9876543210";
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 100 };
	unsigned char msg[100];
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf raw, out, theirs;
	char khex[65], ivhex[33];
	size_t i, s, b;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 7);
	for (b = 0; b < 16; b++)
		snprintf(ivhex + 2 * b, 3, "%02x", iv[b]);
	for (i = 0; i < 3; i++) {
		buf_init_secret(&raw, 64);
		assert_int_equal(keyops_serialize(fx->oct[i], &raw, &err), 0);
		for (b = 0; b < raw.len; b++)
			snprintf(khex + 2 * b, 3, "%02x", raw.data[b]);
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			buf_init(&out, 1024);
			buf_init(&theirs, 1024);
			o.out = &out;
			in = (struct keyops_input){ .value = msg, .value_len = sizes[s], .iv = iv,
						    .iv_len = 16 };
			assert_int_equal(keyops_encrypt(fx->oct[i], algs[i], &in, &o, &err), 0);
			assert_int_equal(out.len, (sizes[s] / 16 + 1) * 16);
			write_file("cbc.in", msg, sizes[s]);
			assert_int_equal(sh("openssl enc -aes-%zu-cbc -K %s -iv %s -in cbc.in "
					    "-out cbc.out", 128 + 64 * i, khex, ivhex), 0);
			read_file("cbc.out", &theirs);
			assert_int_equal(theirs.len, out.len);
			assert_memory_equal(theirs.data, out.data, out.len);
			buf_clear(&out);
			buf_clear(&theirs);
		}
		buf_clear(&raw);
	}
}

/* ---- round trips of every algorithm ----------------------------------------------------- */

static void test_rsa_encryption_round_trips(void **state)
{
	static const char *const algs[] = { "RSA1_5", "RSA-OAEP", "RSA-OAEP-256" };
	static const size_t overhead[] = { 11, 42, 66 };
	unsigned char msg[512];
	size_t a, i, sizes[4];

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(255 - i);
	for (a = 0; a < 3; a++) {
		sizes[0] = 0;
		sizes[1] = 1;
		sizes[2] = 32;
		sizes[3] = 256 - overhead[a];	/* the most that fits */
		for (i = 0; i < 4; i++) {
			round_trip(fx->rsa, algs[a], false, msg, sizes[i], NULL, 0);
			round_trip(fx->rsa, algs[a], true, msg, sizes[i], NULL, 0);
		}
	}
}

static void test_rsa_oversize_and_ciphertext_length(void **state)
{
	static const char *const algs[] = { "RSA1_5", "RSA-OAEP", "RSA-OAEP-256" };
	static const size_t overhead[] = { 11, 42, 66 };
	unsigned char msg[600] = { 0 };
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf out;
	size_t a, i;
	static const size_t ct_sizes[] = { 0, 1, 255, 257, 512 };

	(void)state;
	buf_init_secret(&out, OUT_MAX);
	o.out = &out;
	for (a = 0; a < 3; a++) {
		in = value_in(msg, 256 - overhead[a] + 1);
		assert_bad(keyops_encrypt(fx->rsa, algs[a], &in, &o, &err), &err,
			   "The value is too long");
		assert_bad(keyops_wrap(fx->rsa, algs[a], &in, &o, &err), &err, "too long");
		in = value_in(msg, sizeof(msg));
		assert_bad(keyops_encrypt(fx->rsa, algs[a], &in, &o, &err), &err, "too long");
		for (i = 0; i < sizeof(ct_sizes) / sizeof(ct_sizes[0]); i++) {
			in = value_in(msg, ct_sizes[i]);
			assert_bad(keyops_decrypt(fx->rsa, algs[a], &in, &o, &err), &err,
				   "Decryption failed.");
			assert_string_equal(err.msg, "Decryption failed.");
			assert_bad(keyops_unwrap(fx->rsa, algs[a], &in, &o, &err), &err,
				   "Decryption failed.");
		}
		/* k bytes, but not below n. */
		memset(msg, 0xff, 256);
		in = value_in(msg, 256);
		assert_bad(keyops_decrypt(fx->rsa, algs[a], &in, &o, &err), &err, NULL);
		assert_string_equal(err.msg, "Decryption failed.");
		memset(msg, 0, sizeof(msg));
		assert_int_equal(out.len, 0);
	}
	buf_clear(&out);
}

static void test_rsa_decryption_failures_look_alike(void **state)
{
	static const char *const algs[] = { "RSA1_5", "RSA-OAEP", "RSA-OAEP-256" };
	static const char secret[] = "thirty-two bytes of key material";
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf ct, out;
	size_t a, i;
	int rc;

	(void)state;
	for (a = 0; a < 3; a++) {
		buf_init(&ct, 1024);
		buf_init_secret(&out, 1024);
		o.out = &ct;
		in = value_in(secret, 32);
		assert_int_equal(keyops_encrypt(fx->rsa, algs[a], &in, &o, &err), 0);
		assert_int_equal(ct.len, 256);
		o.out = &out;
		for (i = 0; i < 256; i += 17) {
			ct.data[i] ^= 0x01;
			in = value_in(ct.data, ct.len);
			rc = keyops_decrypt(fx->rsa, algs[a], &in, &o, &err);
			if (rc == 0) {
				/* PKCS#1 v1.5 with implicit rejection (OpenSSL 3.2+) answers random
				 * bytes instead; never the plaintext. */
				assert_string_equal(algs[a], "RSA1_5");
				assert_false(out.len == 32 && memcmp(out.data, secret, 32) == 0);
				buf_reset(&out);
			} else {
				assert_bad(rc, &err, NULL);
				assert_string_equal(err.msg, "Decryption failed.");
				assert_int_equal(out.len, 0);
			}
			ct.data[i] ^= 0x01;
		}
		/* And the other OAEP hash is a failure too. */
		if (a > 0) {
			in = value_in(ct.data, ct.len);
			assert_bad(keyops_decrypt(fx->rsa, algs[3 - a], &in, &o, &err), &err, NULL);
			assert_string_equal(err.msg, "Decryption failed.");
		}
		buf_clear(&ct);
		buf_clear(&out);
	}
}

static void test_aes_round_trips(void **state)
{
	static const char *const modes[] = { "GCM", "CBC", "CBCPAD" };
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 64, 1000, 5000 };
	unsigned char msg[5000];
	char alg[24];
	size_t i, m, s;

	(void)state;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 31 + 7);
	for (i = 0; i < 3; i++) {
		for (m = 0; m < 3; m++) {
			snprintf(alg, sizeof(alg), "A%zu%s", 128 + 64 * i, modes[m]);
			for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
				if (m == 1 && sizes[s] % 16 != 0)
					continue;
				round_trip(fx->oct[i], alg, false, msg, sizes[s], NULL, 0);
				if (m == 0)
					round_trip(fx->oct[i], alg, false, msg, sizes[s], "aad", 3);
			}
		}
		snprintf(alg, sizeof(alg), "A%zuKW", 128 + 64 * i);
		round_trip(fx->oct[i], alg, true, msg, 16, NULL, 0);
		round_trip(fx->oct[i], alg, true, msg, 24, NULL, 0);
		round_trip(fx->oct[i], alg, true, msg, 64, NULL, 0);
		round_trip(fx->oct[i], "CKM_AES_KEY_WRAP", true, msg, 32, NULL, 0);
		round_trip(fx->oct[i], "CKM_AES_KEY_WRAP_PAD", true, msg, 1, NULL, 0);
		round_trip(fx->oct[i], "CKM_AES_KEY_WRAP_PAD", true, msg, 33, NULL, 0);
	}
}

static void test_gcm_fresh_iv(void **state)
{
	static const char msg[] = "same plaintext twice";
	struct kl_err err = { 0 };
	struct keyops_output o1 = { 0 }, o2 = { 0 };
	struct keyops_input in = value_in(msg, sizeof(msg));
	struct buf c1, c2;

	(void)state;
	buf_init(&c1, 1024);
	buf_init(&c2, 1024);
	o1.out = &c1;
	o2.out = &c2;
	/* A caller's iv is not used for GCM encryption. */
	in.iv = (const unsigned char *)"000000000000";
	in.iv_len = 12;
	assert_int_equal(keyops_encrypt(fx->oct[2], "A256GCM", &in, &o1, &err), 0);
	assert_int_equal(keyops_encrypt(fx->oct[2], "A256GCM", &in, &o2, &err), 0);
	assert_memory_not_equal(o1.iv, o2.iv, 12);
	assert_memory_not_equal(o1.iv, "000000000000", 12);
	assert_memory_not_equal(c1.data, c2.data, c1.len);
	buf_clear(&c1);
	buf_clear(&c2);
}

/* ---- tampering -------------------------------------------------------------------------- */

static void gcm_refused(struct keyops_input *in, const char *msg)
{
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct buf out;

	buf_init_secret(&out, 4096);
	assert_int_equal(buf_append_str(&out, "keep", &err), 0);
	o.out = &out;
	assert_bad(keyops_decrypt(fx->oct[2], "A256GCM", in, &o, &err), &err, msg);
	/* Nothing of the unauthenticated plaintext is left in the caller's buffer. */
	assert_int_equal(out.len, 4);
	assert_string_equal(buf_cstr(&out), "keep");
	assert_int_equal(o.iv_len + o.tag_len, 0);
	buf_clear(&out);
}

static void test_gcm_tampered(void **state)
{
	static const char msg[] = "sixteen byte msgsixteen byte msgsixteen byte msg";
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in = { .value = (const unsigned char *)msg, .value_len = 48,
				   .aad = (const unsigned char *)"aad", .aad_len = 3 };
	unsigned char ct[64], tag[17], iv[12];
	struct buf c;
	size_t i;

	(void)state;
	buf_init(&c, 1024);
	o.out = &c;
	assert_int_equal(keyops_encrypt(fx->oct[2], "A256GCM", &in, &o, &err), 0);
	memcpy(ct, c.data, 48);
	memcpy(tag, o.tag, 16);
	memcpy(iv, o.iv, 12);
	in = (struct keyops_input){ .value = ct, .value_len = 48, .iv = iv, .iv_len = 12,
				    .aad = (const unsigned char *)"aad", .aad_len = 3, .tag = tag,
				    .tag_len = 16 };
	for (i = 0; i < 16; i++) {
		tag[i] ^= 0x80;
		gcm_refused(&in, "Decryption failed.");
		tag[i] ^= 0x80;
	}
	for (i = 0; i < 48; i++) {
		ct[i] ^= 0x01;
		gcm_refused(&in, "Decryption failed.");
		ct[i] ^= 0x01;
	}
	for (i = 0; i < 12; i++) {
		iv[i] ^= 0x01;
		gcm_refused(&in, "Decryption failed.");
		iv[i] ^= 0x01;
	}
	in.aad = (const unsigned char *)"aae";
	gcm_refused(&in, "Decryption failed.");
	in.aad = NULL;
	in.aad_len = 0;
	gcm_refused(&in, "Decryption failed.");
	in.aad = (const unsigned char *)"aad";
	in.aad_len = 3;
	in.value_len = 47;
	gcm_refused(&in, "Decryption failed.");
	in.value_len = 48;
	in.tag_len = 15;
	gcm_refused(&in, "16-byte authentication tag");
	in.tag_len = 17;
	gcm_refused(&in, "16-byte authentication tag");
	in.tag = NULL;
	in.tag_len = 0;
	gcm_refused(&in, "16-byte authentication tag");
	in.tag = tag;
	in.tag_len = 16;
	in.iv_len = 11;
	gcm_refused(&in, "12-byte iv");
	in.iv = NULL;
	in.iv_len = 0;
	gcm_refused(&in, "12-byte iv");
	in.iv = iv;
	in.iv_len = 12;
	/* And untouched it still decrypts. */
	buf_reset(&c);
	assert_int_equal(keyops_decrypt(fx->oct[2], "A256GCM", &in, &o, &err), 0);
	assert_int_equal(c.len, 48);
	assert_memory_equal(c.data, msg, 48);
	buf_clear(&c);
}

static void test_cbc_refusals(void **state)
{
	static const unsigned char iv[17] = "0123456789abcdefX";
	unsigned char msg[64] = { 0 };
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf out, ct;
	static const size_t bad_len[] = { 1, 15, 17, 31 };
	static const size_t bad_iv[] = { 0, 8, 15, 17 };
	size_t i;

	(void)state;
	buf_init_secret(&out, 4096);
	buf_init(&ct, 4096);
	o.out = &out;
	for (i = 0; i < 4; i++) {
		in = (struct keyops_input){ .value = msg, .value_len = bad_len[i], .iv = iv,
					    .iv_len = 16 };
		assert_bad(keyops_encrypt(fx->oct[2], "A256CBC", &in, &o, &err), &err,
			   "multiple of 16 bytes");
		assert_bad(keyops_decrypt(fx->oct[2], "A256CBC", &in, &o, &err), &err,
			   "multiple of 16 bytes");
		assert_bad(keyops_decrypt(fx->oct[2], "A256CBCPAD", &in, &o, &err), &err,
			   "multiple of 16 bytes");
		in.value_len = 16;
		in.iv_len = bad_iv[i];
		assert_bad(keyops_encrypt(fx->oct[2], "A256CBC", &in, &o, &err), &err,
			   "needs a 16-byte iv");
		assert_bad(keyops_decrypt(fx->oct[2], "A256CBCPAD", &in, &o, &err), &err,
			   "needs a 16-byte iv");
	}
	in = value_in(msg, 16);
	assert_bad(keyops_encrypt(fx->oct[2], "A256CBC", &in, &o, &err), &err, "needs a 16-byte iv");
	/* Bad padding: the last byte of the plaintext changes. */
	in = (struct keyops_input){ .value = msg, .value_len = 20, .iv = iv, .iv_len = 16 };
	o.out = &ct;
	assert_int_equal(keyops_encrypt(fx->oct[2], "A256CBCPAD", &in, &o, &err), 0);
	assert_int_equal(ct.len, 32);
	o.out = &out;
	assert_int_equal(buf_append_str(&out, "keep", &err), 0);
	for (i = 0; i < 16; i++) {
		ct.data[i] ^= 0x0b;	/* changes the padding bytes of the second block */
		in = (struct keyops_input){ .value = ct.data, .value_len = 32, .iv = iv,
					    .iv_len = 16 };
		if (i >= 4) {
			assert_bad(keyops_decrypt(fx->oct[2], "A256CBCPAD", &in, &o, &err), &err,
				   NULL);
			assert_string_equal(err.msg, "Decryption failed.");
			assert_string_equal(buf_cstr(&out), "keep");
		}
		ct.data[i] ^= 0x0b;
	}
	in = (struct keyops_input){ .value = ct.data, .value_len = 0, .iv = iv, .iv_len = 16 };
	assert_bad(keyops_decrypt(fx->oct[2], "A256CBCPAD", &in, &o, &err), &err,
		   "Decryption failed.");
	buf_clear(&out);
	buf_clear(&ct);
}

static void test_key_wrap_refusals(void **state)
{
	unsigned char msg[64] = { 0 };
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct buf out;
	static const size_t bad_wrap[] = { 0, 8, 15, 17, 23 };
	static const size_t bad_unwrap[] = { 0, 8, 15, 16, 17, 23 };
	size_t i;

	(void)state;
	buf_init_secret(&out, 4096);
	o.out = &out;
	for (i = 0; i < 5; i++) {
		in = value_in(msg, bad_wrap[i]);
		assert_bad(keyops_wrap(fx->oct[2], "A256KW", &in, &o, &err), &err,
			   "must be a multiple of 8 bytes and at least 16 bytes.");
	}
	for (i = 0; i < 6; i++) {
		in = value_in(msg, bad_unwrap[i]);
		assert_bad(keyops_unwrap(fx->oct[2], "A256KW", &in, &o, &err), &err,
			   "must be a multiple of 8 bytes and at least 24 bytes.");
	}
	in = value_in(msg, 0);
	assert_bad(keyops_wrap(fx->oct[2], "CKM_AES_KEY_WRAP_PAD", &in, &o, &err), &err,
		   "not of a valid length");
	in = value_in(msg, 12);
	assert_bad(keyops_unwrap(fx->oct[2], "CKM_AES_KEY_WRAP_PAD", &in, &o, &err), &err,
		   "not of a valid length");
	/* 24 random bytes are no wrapped key. */
	in = value_in(msg, 24);
	assert_bad(keyops_unwrap(fx->oct[2], "A256KW", &in, &o, &err), &err, "Decryption failed.");
	assert_bad(keyops_unwrap(fx->oct[2], "CKM_AES_KEY_WRAP_PAD", &in, &o, &err), &err,
		   "Decryption failed.");
	assert_int_equal(out.len, 0);
	buf_clear(&out);
}

/* ---- algorithms that do not fit --------------------------------------------------------- */

static void test_algorithm_mismatches(void **state)
{
	static const unsigned char dg[64] = { 1 };
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in = value_in(dg, 16);
	struct buf out;
	bool valid = true;

	(void)state;
	buf_init_secret(&out, 4096);
	o.out = &out;
	assert_bad(keyops_sign(fx->ec[0], "RS256", dg, 32, &out, &err), &err,
		   "cannot be used with a key of type EC");
	assert_bad(keyops_sign(fx->ec[0], "PS256", dg, 32, &out, &err), &err, "type EC");
	assert_bad(keyops_sign(fx->rsa, "ES256", dg, 32, &out, &err), &err, "type RSA");
	assert_bad(keyops_sign(fx->oct[2], "ES256", dg, 32, &out, &err), &err, "type oct");
	assert_bad(keyops_encrypt(fx->rsa, "A256GCM", &in, &o, &err), &err, "type RSA");
	assert_bad(keyops_wrap(fx->rsa, "A256KW", &in, &o, &err), &err, "type RSA");
	assert_bad(keyops_encrypt(fx->oct[2], "RSA-OAEP", &in, &o, &err), &err, "type oct");
	assert_bad(keyops_encrypt(fx->ec[0], "RSA-OAEP", &in, &o, &err), &err, "type EC");
	assert_bad(keyops_encrypt(fx->oct[2], "A128GCM", &in, &o, &err), &err,
		   "needs a 128-bit key; this key has 256 bits.");
	assert_bad(keyops_encrypt(fx->oct[0], "A256CBC", &in, &o, &err), &err,
		   "needs a 256-bit key");
	assert_bad(keyops_wrap(fx->oct[2], "A192KW", &in, &o, &err), &err, "needs a 192-bit key");
	assert_bad(keyops_sign(fx->ec[0], "ES512", dg, 64, &out, &err), &err,
		   "ES512 needs a key on P-521; this key is on P-256.");
	assert_bad(keyops_sign(fx->ec[0], "ES256K", dg, 32, &out, &err), &err, "P-256K");
	assert_bad(keyops_sign(fx->ec[1], "ES256", dg, 32, &out, &err), &err, "on P-256K");
	assert_bad(keyops_sign(fx->ec[2], "ES512", dg, 64, &out, &err), &err, "P-521");
	assert_bad(keyops_verify(fx->ec[3], "ES384", dg, 48, dg, 64, &valid, &err), &err, "P-384");
	assert_false(valid);
	/* Known algorithms used for the wrong operation. */
	assert_bad(keyops_encrypt(fx->oct[2], "A256KW", &in, &o, &err), &err,
		   "cannot be used to encrypt or decrypt");
	assert_bad(keyops_wrap(fx->oct[2], "A256GCM", &in, &o, &err), &err,
		   "cannot be used to wrap or unwrap keys");
	assert_bad(keyops_encrypt(fx->rsa, "RS256", &in, &o, &err), &err, "encrypt");
	assert_bad(keyops_sign(fx->rsa, "RSA-OAEP", dg, 32, &out, &err), &err,
		   "cannot be used to sign or verify");
	/* Unknown and refused names. */
	assert_bad(keyops_sign(fx->rsa, "RS257", dg, 32, &out, &err), &err,
		   "Unknown algorithm 'RS257'.");
	assert_bad(keyops_sign(fx->rsa, "rs256", dg, 32, &out, &err), &err, "Unknown algorithm");
	assert_bad(keyops_sign(fx->rsa, "RS256 ", dg, 32, &out, &err), &err, "Unknown algorithm");
	assert_bad(keyops_sign(fx->rsa, "", dg, 32, &out, &err), &err, "Unknown algorithm");
	assert_bad(keyops_sign(fx->rsa, NULL, dg, 32, &out, &err), &err, "Unknown algorithm");
	assert_bad(keyops_encrypt(fx->rsa, "RSA-OAEP-384", &in, &o, &err), &err, "Unknown");
	assert_bad(keyops_encrypt(fx->rsa, "A512GCM", &in, &o, &err), &err, "Unknown");
	assert_bad(keyops_sign(fx->rsa, "RSNULL", dg, 32, &out, &err), &err,
		   "The algorithm RSNULL is not supported.");
	assert_bad(keyops_sign(fx->oct[2], "HS256", dg, 32, &out, &err), &err, "not supported");
	assert_bad(keyops_verify(fx->oct[2], "HS512", dg, 64, dg, 64, &valid, &err), &err,
		   "not supported");
	{
		char longname[5000];

		memset(longname, 'A', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_bad(keyops_sign(fx->rsa, longname, dg, 32, &out, &err), &err,
			   "Unknown algorithm");
		assert_true(strlen(err.msg) < 64);
	}
	assert_int_equal(out.len, 0);
	buf_clear(&out);
}

/* ---- signatures ------------------------------------------------------------------------- */

static void test_digest_lengths(void **state)
{
	static const char *const rsa_algs[] = { "RS256", "RS384", "RS512", "PS256", "PS384",
						"PS512" };
	static const size_t want[] = { 32, 48, 64, 32, 48, 64 };
	unsigned char dg[200] = { 0 };
	struct kl_err err = { 0 };
	struct buf sig;
	char msg[80];
	size_t a, i, bad[5];
	bool valid = true;

	(void)state;
	buf_init(&sig, 1024);
	for (a = 0; a < 6; a++) {
		bad[0] = 0;
		bad[1] = 1;
		bad[2] = want[a] - 1;
		bad[3] = want[a] + 1;
		bad[4] = 200;
		snprintf(msg, sizeof(msg), "The digest length is not valid for %s", rsa_algs[a]);
		for (i = 0; i < 5; i++) {
			assert_bad(keyops_sign(fx->rsa, rsa_algs[a], dg, bad[i], &sig, &err), &err,
				   msg);
			assert_bad(keyops_verify(fx->rsa, rsa_algs[a], dg, bad[i], dg, 256, &valid,
						 &err), &err, msg);
			assert_false(valid);
		}
	}
	for (a = 0; a < 4; a++) {
		size_t ok = a == 3 ? 64 : a == 2 ? 48 : 32;

		snprintf(msg, sizeof(msg), "The digest length is not valid for %s", curve_algs[a]);
		assert_bad(keyops_sign(fx->ec[a], curve_algs[a], dg, ok - 1, &sig, &err), &err, msg);
		assert_bad(keyops_sign(fx->ec[a], curve_algs[a], dg, ok + 1, &sig, &err), &err, msg);
		assert_bad(keyops_sign(fx->ec[a], curve_algs[a], dg, 0, &sig, &err), &err, msg);
		assert_bad(keyops_verify(fx->ec[a], curve_algs[a], dg, 20, dg, 64, &valid, &err),
			   &err, msg);
	}
	assert_int_equal(sig.len, 0);
	buf_clear(&sig);
}

static void sign_verify(const struct keyops_key *k, const char *alg, size_t sig_len)
{
	struct kl_err err = { 0 };
	unsigned char dg[64];
	size_t n = digest_of(alg, alg, dg), i;
	struct buf sig;
	bool valid = false;

	buf_init(&sig, 1024);
	if (keyops_sign(k, alg, dg, n, &sig, &err) != 0)
		fail_msg("%s: %s", alg, err.msg);
	assert_int_equal(sig.len, sig_len);
	assert_int_equal(keyops_verify(k, alg, dg, n, sig.data, sig.len, &valid, &err), 0);
	assert_true(valid);
	/* A flipped bit in the signature or the digest: not valid, not an error. */
	for (i = 0; i < sig.len; i += sig.len / 7) {
		sig.data[i] ^= 0x04;
		valid = true;
		assert_int_equal(keyops_verify(k, alg, dg, n, sig.data, sig.len, &valid, &err), 0);
		assert_false(valid);
		sig.data[i] ^= 0x04;
	}
	dg[0] ^= 1;
	valid = true;
	assert_int_equal(keyops_verify(k, alg, dg, n, sig.data, sig.len, &valid, &err), 0);
	assert_false(valid);
	dg[0] ^= 1;
	/* Wrong lengths are not valid either. */
	valid = true;
	assert_int_equal(keyops_verify(k, alg, dg, n, sig.data, sig.len - 1, &valid, &err), 0);
	assert_false(valid);
	assert_int_equal(keyops_verify(k, alg, dg, n, sig.data, 0, &valid, &err), 0);
	assert_false(valid);
	assert_int_equal(buf_putc(&sig, 0, &err), 0);
	assert_int_equal(keyops_verify(k, alg, dg, n, sig.data, sig.len, &valid, &err), 0);
	assert_false(valid);
	buf_clear(&sig);
}

static void test_sign_verify_every_algorithm(void **state)
{
	static const char *const rsa_algs[] = { "RS256", "RS384", "RS512", "PS256", "PS384",
						"PS512" };
	static const size_t ec_sig[] = { 64, 64, 96, 132 };
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++)
		sign_verify(fx->rsa, rsa_algs[i], 256);
	for (i = 0; i < 4; i++)
		sign_verify(fx->ec[i], curve_algs[i], ec_sig[i]);
}

static void test_ecdsa_odd_signatures(void **state)
{
	unsigned char dg[32] = { 9 }, sig[132];
	struct kl_err err = { 0 };
	bool valid = true;

	(void)state;
	memset(sig, 0, sizeof(sig));	/* r = s = 0 */
	assert_int_equal(keyops_verify(fx->ec[0], "ES256", dg, 32, sig, 64, &valid, &err), 0);
	assert_false(valid);
	memset(sig, 0xff, sizeof(sig));	/* r, s above the order */
	valid = true;
	assert_int_equal(keyops_verify(fx->ec[0], "ES256", dg, 32, sig, 64, &valid, &err), 0);
	assert_false(valid);
	valid = true;
	assert_int_equal(keyops_verify(fx->ec[3], "ES512", dg, 0 + 32, sig, 132, &valid, &err), -1);
	valid = true;
	assert_int_equal(keyops_verify(fx->ec[0], "ES256", dg, 32, sig, 72, &valid, &err), 0);
	assert_false(valid);
}

static void test_rsa_pkcs1_signatures_are_deterministic(void **state)
{
	unsigned char dg[32];
	struct kl_err err = { 0 };
	struct buf a, b;

	(void)state;
	digest_of("RS256", "deterministic", dg);
	buf_init(&a, 1024);
	buf_init(&b, 1024);
	assert_int_equal(keyops_sign(fx->rsa, "RS256", dg, 32, &a, &err), 0);
	assert_int_equal(keyops_sign(fx->rsa, "RS256", dg, 32, &b, &err), 0);
	assert_memory_equal(a.data, b.data, 256);
	buf_reset(&a);
	buf_reset(&b);
	assert_int_equal(keyops_sign(fx->rsa, "PS256", dg, 32, &a, &err), 0);
	assert_int_equal(keyops_sign(fx->rsa, "PS256", dg, 32, &b, &err), 0);
	assert_memory_not_equal(a.data, b.data, 256);	/* PSS is salted */
	buf_clear(&a);
	buf_clear(&b);
}

/* ---- interoperability with the openssl command ------------------------------------------ */

/* kluis signs, openssl verifies with the public key made from the public JWK. */
static void kluis_signs_openssl_verifies(const struct keyops_key *k, const char *alg)
{
	struct kl_err err = { 0 };
	unsigned char dg[64];
	size_t n = digest_of(alg, "interop", dg);
	struct buf sig, der;
	char opts[80] = "";

	if (alg[0] == 'P')
		snprintf(opts, sizeof(opts),
			 "-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:%zu", n);
	buf_init(&sig, 1024);
	buf_init(&der, 1024);
	write_public_pem(k, "pub.pem");
	write_file("dgst.bin", dg, n);
	assert_int_equal(keyops_sign(k, alg, dg, n, &sig, &err), 0);
	if (alg[0] == 'E') {
		rs_to_der(sig.data, sig.len, &der);
		write_file("sig.bin", der.data, der.len);
	} else {
		write_file("sig.bin", sig.data, sig.len);
	}
	if (sh("openssl pkeyutl -verify -pubin -inkey pub.pem -in dgst.bin -sigfile sig.bin "
	       "-pkeyopt digest:%s %s", md_name(alg), opts) != 0)
		fail_msg("openssl does not verify the %s signature of kluis", alg);
	/* And a wrong digest does not verify: openssl really checked. */
	dg[3] ^= 1;
	write_file("dgst.bin", dg, n);
	assert_int_not_equal(sh("openssl pkeyutl -verify -pubin -inkey pub.pem -in dgst.bin "
				"-sigfile sig.bin -pkeyopt digest:%s %s", md_name(alg), opts), 0);
	buf_clear(&sig);
	buf_clear(&der);
}

/* openssl signs with the PEM key, kluis (holding the imported key) verifies. */
static void openssl_signs_kluis_verifies(const struct keyops_key *k, const char *pem,
					 const char *alg, size_t size)
{
	struct kl_err err = { 0 };
	unsigned char dg[64];
	size_t n = digest_of(alg, "openssl signed this", dg);
	struct buf sig, rs, mine;
	bool valid = false;
	char saltopt[80] = "";

	buf_init(&sig, 1024);
	buf_init(&rs, 1024);
	buf_init(&mine, 1024);
	write_file("dgst.bin", dg, n);
	if (alg[0] == 'P')
		snprintf(saltopt, sizeof(saltopt),
			 "-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:%zu", n);
	assert_int_equal(sh("openssl pkeyutl -sign -inkey %s -in dgst.bin -out sig.bin "
			    "-pkeyopt digest:%s %s", pem, md_name(alg), saltopt), 0);
	read_file("sig.bin", &sig);
	if (alg[0] == 'E') {
		der_to_rs(&sig, size, &rs);
	} else {
		assert_int_equal(buf_append(&rs, sig.data, sig.len, &err), 0);
	}
	assert_int_equal(keyops_verify(k, alg, dg, n, rs.data, rs.len, &valid, &err), 0);
	if (!valid)
		fail_msg("kluis does not verify the %s signature of openssl", alg);
	if (alg[0] == 'R') {
		/* PKCS#1 v1.5 is deterministic: the very same bytes. */
		assert_int_equal(keyops_sign(k, alg, dg, n, &mine, &err), 0);
		assert_int_equal(mine.len, rs.len);
		assert_memory_equal(mine.data, rs.data, rs.len);
	}
	buf_clear(&sig);
	buf_clear(&rs);
	buf_clear(&mine);
}

static void test_interop_signatures(void **state)
{
	static const char *const rsa_algs[] = { "RS256", "RS384", "RS512", "PS256", "PS384",
						"PS512" };
	struct keyops_key *k;
	char name[32];
	size_t i;

	(void)state;
	if (sh("test -f rsa.pem") != 0)
		assert_int_equal(sh("openssl genpkey -algorithm RSA -out rsa.pem"), 0);
	assert_non_null(k = import_pem("rsa.pem", false));
	for (i = 0; i < 6; i++) {
		kluis_signs_openssl_verifies(fx->rsa, rsa_algs[i]);
		kluis_signs_openssl_verifies(k, rsa_algs[i]);
		openssl_signs_kluis_verifies(k, "rsa.pem", rsa_algs[i], 256);
	}
	keyops_free(k);
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "ec%zu.pem", i);
		if (sh("test -f %s", name) != 0)
			assert_int_equal(sh("openssl genpkey -algorithm EC -pkeyopt "
					    "ec_paramgen_curve:%s -out %s", curve_groups[i], name),
					 0);
		assert_non_null(k = import_pem(name, true));
		kluis_signs_openssl_verifies(fx->ec[i], curve_algs[i]);
		kluis_signs_openssl_verifies(k, curve_algs[i]);
		openssl_signs_kluis_verifies(k, name, curve_algs[i], curve_sizes[i]);
		keyops_free(k);
	}
}

static const char *rsa_opts(const char *alg)
{
	return strcmp(alg, "RSA1_5") == 0 ? "-pkeyopt rsa_padding_mode:pkcs1"
	       : strcmp(alg, "RSA-OAEP") == 0
		       ? "-pkeyopt rsa_padding_mode:oaep"
		       : "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 "
			 "-pkeyopt rsa_mgf1_md:sha256";
}

static void test_interop_rsa_encryption(void **state)
{
	static const char *const algs[] = { "RSA1_5", "RSA-OAEP", "RSA-OAEP-256" };
	static const unsigned char cek[32] = "a content key of thirty-two byt";
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in;
	struct keyops_key *k;
	struct buf ct, pt, theirs;
	size_t a;

	(void)state;
	if (sh("test -f rsa.pem") != 0)
		assert_int_equal(sh("openssl genpkey -algorithm RSA -out rsa.pem"), 0);
	assert_non_null(k = import_pem("rsa.pem", true));
	write_public_pem(k, "rsapub.pem");
	write_file("cek.bin", cek, sizeof(cek));
	for (a = 0; a < 3; a++) {
		/* openssl encrypts with the public key, kluis decrypts and unwraps. */
		buf_init(&ct, 1024);
		buf_init_secret(&pt, 1024);
		assert_int_equal(sh("openssl pkeyutl -encrypt -pubin -inkey rsapub.pem -in cek.bin "
				    "-out ct.bin %s", rsa_opts(algs[a])), 0);
		read_file("ct.bin", &ct);
		assert_int_equal(ct.len, 256);
		o.out = &pt;
		in = value_in(ct.data, ct.len);
		if (keyops_decrypt(k, algs[a], &in, &o, &err) != 0)
			fail_msg("%s: %s", algs[a], err.msg);
		assert_int_equal(pt.len, 32);
		assert_memory_equal(pt.data, cek, 32);
		buf_reset(&pt);
		assert_int_equal(keyops_unwrap(k, algs[a], &in, &o, &err), 0);
		assert_memory_equal(pt.data, cek, 32);
		/* kluis encrypts, openssl decrypts with the private key. */
		buf_reset(&ct);
		o.out = &ct;
		in = value_in(cek, sizeof(cek));
		assert_int_equal(keyops_wrap(k, algs[a], &in, &o, &err), 0);
		assert_int_equal(ct.len, 256);
		write_file("ct2.bin", ct.data, ct.len);
		assert_int_equal(sh("openssl pkeyutl -decrypt -inkey rsa.pem -in ct2.bin -out pt2.bin "
				    "%s", rsa_opts(algs[a])), 0);
		buf_init_secret(&theirs, 1024);
		read_file("pt2.bin", &theirs);
		assert_int_equal(theirs.len, 32);
		assert_memory_equal(theirs.data, cek, 32);
		buf_clear(&theirs);
		buf_clear(&ct);
		buf_clear(&pt);
	}
	keyops_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_rsa),
		cmocka_unit_test(test_generate_rsa_refusals),
		cmocka_unit_test(test_generate_ec),
		cmocka_unit_test(test_generate_oct),
		cmocka_unit_test(test_serialize_round_trip),
		cmocka_unit_test(test_deserialize_damaged),
		cmocka_unit_test(test_import_openssl_rsa),
		cmocka_unit_test(test_import_openssl_ec),
		cmocka_unit_test(test_import_rsa_refusals),
		cmocka_unit_test(test_import_ec_refusals),
		cmocka_unit_test(test_import_oct),
		cmocka_unit_test(test_key_wrap_vectors),
		cmocka_unit_test(test_gcm_vectors),
		cmocka_unit_test(test_cbc_vectors),
		cmocka_unit_test(test_cbcpad_matches_openssl_enc),
		cmocka_unit_test(test_rsa_encryption_round_trips),
		cmocka_unit_test(test_rsa_oversize_and_ciphertext_length),
		cmocka_unit_test(test_rsa_decryption_failures_look_alike),
		cmocka_unit_test(test_aes_round_trips),
		cmocka_unit_test(test_gcm_fresh_iv),
		cmocka_unit_test(test_gcm_tampered),
		cmocka_unit_test(test_cbc_refusals),
		cmocka_unit_test(test_key_wrap_refusals),
		cmocka_unit_test(test_algorithm_mismatches),
		cmocka_unit_test(test_digest_lengths),
		cmocka_unit_test(test_sign_verify_every_algorithm),
		cmocka_unit_test(test_ecdsa_odd_signatures),
		cmocka_unit_test(test_rsa_pkcs1_signatures_are_deterministic),
		cmocka_unit_test(test_interop_signatures),
		cmocka_unit_test(test_interop_rsa_encryption),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
