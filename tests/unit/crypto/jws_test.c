/* crypto/jws (jws.c): sign and verify round trips (RS256 and ES256 with jws_sign, PS256 and RS256
 * made by hand as msal does, with a key and with a certificate's key), tampered signatures and
 * payloads, algorithm confusion (HS256, none, an RSA algorithm over an EC key and the reverse, a
 * header that names another algorithm), malformed compact forms, the thumbprints, and parsing and
 * signing with jansson's Nth allocation failing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "crypto/jws.h"
#include "crypto/keyops.h"
#include "crypto/x509.h"
#include "util/b64url.h"
#include "util/json.h"

struct keys {
	struct keyops_key *rsa, *ec, *ec384;
	struct buf rsa_cert, ec_cert;	/* DER, self-signed */
};

static struct keys *kx;

static void self_signed(struct keyops_key *k, struct buf *der)
{
	struct x509_profile p = { .subject = "CN=jws-test", .not_before = 1700000000,
				  .not_after = 1900000000 };
	struct kl_err err = { 0 };

	buf_init(der, 64 * 1024);
	assert_int_equal(x509_self_sign(k, &p, der, &err), 0);
}

static int setup(void **state)
{
	struct kl_err err = { 0 };

	(void)state;
	json_util_init();
	kx = calloc(1, sizeof(*kx));
	if (kx == NULL || (kx->rsa = keyops_generate_rsa(2048, 0, &err)) == NULL ||
	    (kx->ec = keyops_generate_ec("P-256", &err)) == NULL ||
	    (kx->ec384 = keyops_generate_ec("P-384", &err)) == NULL)
		return -1;
	self_signed(kx->rsa, &kx->rsa_cert);
	self_signed(kx->ec, &kx->ec_cert);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	keyops_free(kx->rsa);
	keyops_free(kx->ec);
	keyops_free(kx->ec384);
	buf_clear(&kx->rsa_cert);
	buf_clear(&kx->ec_cert);
	free(kx);
	return 0;
}

/* A token signed by jws_sign with claims {"sub":"x","n":1}. */
static void sign(const struct keyops_key *k, struct buf *tok)
{
	struct kl_err err = { 0 };
	json_t *h = json_pack("{s:s}", "kid", "k1"), *c = json_pack("{s:s, s:i}", "sub", "x", "n", 1);

	buf_init(tok, JWS_MAX_BYTES);
	assert_int_equal(jws_sign(k, h, c, tok, &err), 0);
	json_decref(h);
	json_decref(c);
}

/* header.payload signed by hand with alg over the JSON texts given (as msal builds assertions). */
static void sign_raw(const struct keyops_key *k, const char *alg, const char *header,
		     const char *claims, struct buf *tok)
{
	unsigned char d[32];
	struct kl_err err = { 0 };
	struct buf sig;

	buf_init(tok, JWS_MAX_BYTES);
	buf_init(&sig, 1024);
	assert_int_equal(b64url_encode(header, strlen(header), tok, &err), 0);
	assert_int_equal(buf_putc(tok, '.', &err), 0);
	assert_int_equal(b64url_encode(claims, strlen(claims), tok, &err), 0);
	SHA256(tok->data, tok->len, d);
	assert_int_equal(keyops_sign(k, alg, d, sizeof(d), &sig, &err), 0);
	assert_int_equal(buf_putc(tok, '.', &err), 0);
	assert_int_equal(b64url_encode(sig.data, sig.len, tok, &err), 0);
	buf_clear(&sig);
}

/* Parses tok and checks it with key (or the certificate when key is NULL) under alg: the return
 * code, and *valid through out. */
static int check(const struct keyops_key *key, const struct buf *cert, const char *alg,
		 const struct buf *tok, bool *valid, struct kl_err *err)
{
	struct jws_parts p;
	int rc;

	jws_parts_init(&p);
	assert_int_equal(jws_parse((const char *)tok->data, tok->len, &p, err), 0);
	rc = key != NULL ? jws_verify_key(key, alg, (const char *)tok->data, &p, valid, err)
			 : jws_verify_cert(cert->data, cert->len, alg, (const char *)tok->data, &p,
					   valid, err);
	jws_parts_clear(&p);
	return rc;
}

static void test_rs256_round_trip(void **state)
{
	struct kl_err err = { 0 };
	struct jws_parts p;
	struct buf tok;
	bool valid = false;

	(void)state;
	sign(kx->rsa, &tok);
	jws_parts_init(&p);
	assert_int_equal(jws_parse((const char *)tok.data, tok.len, &p, &err), 0);
	assert_string_equal(json_string_value(json_object_get(p.header, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(p.header, "typ")), "JWT");
	assert_string_equal(json_string_value(json_object_get(p.header, "kid")), "k1");
	assert_string_equal(json_string_value(json_object_get(p.claims, "sub")), "x");
	assert_int_equal(p.sig.len, 256);
	assert_int_equal(p.signing_input_len, (size_t)(strrchr((char *)tok.data, '.') - (char *)tok.data));
	jws_parts_clear(&p);
	assert_int_equal(check(kx->rsa, NULL, "RS256", &tok, &valid, &err), 0);
	assert_true(valid);
	valid = false;
	assert_int_equal(check(NULL, &kx->rsa_cert, "RS256", &tok, &valid, &err), 0);
	assert_true(valid);
	buf_clear(&tok);
}

static void test_es256_round_trip(void **state)
{
	struct kl_err err = { 0 };
	struct buf tok;
	bool valid = false;

	(void)state;
	sign(kx->ec, &tok);
	assert_int_equal(check(kx->ec, NULL, "ES256", &tok, &valid, &err), 0);
	assert_true(valid);
	valid = false;
	assert_int_equal(check(NULL, &kx->ec_cert, "ES256", &tok, &valid, &err), 0);
	assert_true(valid);
	buf_clear(&tok);
}

static void test_ps256_and_rs256_by_hand(void **state)
{
	static const char *const algs[] = { "PS256", "RS256" };
	struct kl_err err = { 0 };
	struct buf tok;
	bool valid;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		char header[64];

		snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i]);
		sign_raw(kx->rsa, algs[i], header, "{\"iat\":1700000000.5,\"jti\":\"j\"}", &tok);
		valid = false;
		assert_int_equal(check(NULL, &kx->rsa_cert, algs[i], &tok, &valid, &err), 0);
		assert_true(valid);
		/* the other RSA algorithm over the same bytes: the header says otherwise */
		assert_int_equal(check(kx->rsa, NULL, algs[1 - i], &tok, &valid, &err), -1);
		assert_int_equal(err.code, KL_EUNAUTH);
		assert_false(valid);
		buf_clear(&tok);
	}
}

static void test_tampered_refused(void **state)
{
	struct kl_err err = { 0 };
	struct buf tok;
	char *dot2, orig;
	bool valid = true;

	(void)state;
	sign(kx->rsa, &tok);
	dot2 = strrchr((char *)tok.data, '.');
	/* one signature character changed */
	orig = dot2[5];
	dot2[5] = orig == 'A' ? 'B' : 'A';
	assert_int_equal(check(kx->rsa, NULL, "RS256", &tok, &valid, &err), 0);
	assert_false(valid);
	dot2[5] = orig;
	valid = false;
	assert_int_equal(check(kx->rsa, NULL, "RS256", &tok, &valid, &err), 0);
	assert_true(valid);	/* restored: the change above was the only difference */
	buf_clear(&tok);
	/* the payload swapped for another one under the same signature */
	{
		struct buf good, forged;
		const char *sig;

		sign_raw(kx->rsa, "RS256", "{\"alg\":\"RS256\"}", "{\"a\":1}", &good);
		sig = strrchr((const char *)good.data, '.');
		buf_init(&forged, JWS_MAX_BYTES);
		assert_int_equal(b64url_encode("{\"alg\":\"RS256\"}", 15, &forged, &err), 0);
		assert_int_equal(buf_putc(&forged, '.', &err), 0);
		assert_int_equal(b64url_encode("{\"a\":2}", 7, &forged, &err), 0);
		assert_int_equal(buf_append_str(&forged, sig, &err), 0);
		valid = true;
		assert_int_equal(check(kx->rsa, NULL, "RS256", &forged, &valid, &err), 0);
		assert_false(valid);
		valid = false;
		assert_int_equal(check(kx->rsa, NULL, "RS256", &good, &valid, &err), 0);
		assert_true(valid);
		buf_clear(&good);
		buf_clear(&forged);
	}
	/* an ES256 signature cut short: 86 characters to 80, 64 bytes to 60 */
	sign(kx->ec, &tok);
	assert_int_equal(tok.len - (size_t)(strrchr((char *)tok.data, '.') - (char *)tok.data), 87);
	buf_truncate(&tok, tok.len - 6);
	valid = true;
	assert_int_equal(check(kx->ec, NULL, "ES256", &tok, &valid, &err), 0);
	assert_false(valid);
	buf_clear(&tok);
}

static void test_alg_confusion_refused(void **state)
{
	struct kl_err err = { 0 };
	struct buf tok;
	bool valid = true;

	(void)state;
	/* HS256 and none are never algorithms, whatever the header says */
	sign_raw(kx->rsa, "RS256", "{\"alg\":\"HS256\"}", "{}", &tok);
	assert_int_equal(check(kx->rsa, NULL, "HS256", &tok, &valid, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	assert_false(valid);
	assert_int_equal(check(kx->rsa, NULL, "none", &tok, &valid, &err), -1);
	assert_int_equal(check(kx->rsa, NULL, NULL, &tok, &valid, &err), -1);
	/* the bytes are a good RS256 signature, but the header says HS256 */
	assert_int_equal(check(kx->rsa, NULL, "RS256", &tok, &valid, &err), -1);
	assert_false(valid);
	buf_clear(&tok);
	/* an RS256 header over an EC key, an ES256 header over an RSA key */
	sign(kx->ec, &tok);
	assert_int_equal(check(kx->rsa, NULL, "ES256", &tok, &valid, &err), -1);
	assert_int_equal(check(NULL, &kx->rsa_cert, "ES256", &tok, &valid, &err), -1);
	buf_clear(&tok);
	sign_raw(kx->ec, "ES256", "{\"alg\":\"RS256\"}", "{}", &tok);
	assert_int_equal(check(kx->ec, NULL, "RS256", &tok, &valid, &err), -1);
	assert_int_equal(check(NULL, &kx->ec_cert, "RS256", &tok, &valid, &err), -1);
	assert_int_equal(err.code, KL_EUNAUTH);
	buf_clear(&tok);
	/* ES256 on a P-384 key */
	{
		json_t *h = json_object(), *c = json_object();

		assert_int_equal(jws_sign(kx->ec384, h, c, &tok, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		assert_int_equal(tok.len, 0);
		json_decref(h);
		json_decref(c);
	}
	sign(kx->ec, &tok);
	assert_int_equal(check(kx->ec384, NULL, "ES256", &tok, &valid, &err), -1);
	assert_false(valid);
	buf_clear(&tok);
}

static void test_parse_refusals(void **state)
{
	static const char *const bad[] = {
		"", "eyJhbGciOiJSUzI1NiJ9", "eyJhbGciOiJSUzI1NiJ9.e30",
		"eyJhbGciOiJSUzI1NiJ9.e30.AAAA.AAAA", "eyJhbGciOiJSUzI1NiJ9..AAAA",
		"eyJhbGciOiJSUzI1NiJ9.e30.", ".e30.AAAA", "eyJhbGciOiJSUzI1NiJ9.e30.AA=A",
		"eyJhbGciOiJSUzI1NiJ9.e30.AA AA", "bm90IGpzb24.e30.AAAA", /* "not json" */
		"WzFd.e30.AAAA",	/* [1]: not an object */
		"eyJhbGciOiJSUzI1NiJ9.WzFd.AAAA", "eyJhbGciOiJSUzI1NiJ9.e30.A",
	};
	struct kl_err err = { 0 };
	struct jws_parts p;
	char *big;
	size_t i;

	(void)state;
	jws_parts_init(&p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		kl_err_clear(&err);
		assert_int_equal(jws_parse(bad[i], strlen(bad[i]), &p, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		assert_null(p.header);
		assert_null(p.claims);
	}
	assert_int_equal(jws_parse("eyJhbGciOiJSUzI1NiJ9.e30.AAAA", 29, &p, &err), 0);
	assert_non_null(p.claims);
	assert_int_equal(p.sig.len, 3);
	big = malloc(JWS_MAX_BYTES + 2);
	memset(big, 'A', JWS_MAX_BYTES + 1);
	memcpy(big, "eyJhbGciOiJSUzI1NiJ9.e30.", 25);
	assert_int_equal(jws_parse(big, JWS_MAX_BYTES + 1, &p, &err), -1);
	assert_null(p.header);	/* the previous parse was cleared */
	free(big);
	jws_parts_clear(&p);
}

/* RFC 7515 4.1.11: critical extensions kluis does not understand (it understands none) refuse
 * the token, validly signed or not, whatever crit holds. */
static void test_crit_header_refused(void **state)
{
	static const char *const headers[] = {
		"{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}",
		"{\"alg\":\"RS256\",\"crit\":[\"b64\"],\"b64\":false}",
		"{\"alg\":\"RS256\",\"crit\":[]}",
		"{\"alg\":\"RS256\",\"crit\":\"x\"}",
	};
	struct kl_err err = { 0 };
	struct jws_parts p;
	struct buf tok;
	size_t i;

	(void)state;
	jws_parts_init(&p);
	for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		sign_raw(kx->rsa, "RS256", headers[i], "{\"sub\":\"x\"}", &tok);
		kl_err_clear(&err);
		assert_int_equal(jws_parse((const char *)tok.data, tok.len, &p, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		assert_non_null(strstr(err.msg, "crit"));
		assert_null(p.header);
		buf_clear(&tok);
	}
	/* the same token without crit is parsed */
	sign_raw(kx->rsa, "RS256", "{\"alg\":\"RS256\"}", "{\"sub\":\"x\"}", &tok);
	assert_int_equal(jws_parse((const char *)tok.data, tok.len, &p, &err), 0);
	buf_clear(&tok);
	jws_parts_clear(&p);
}

static void test_thumbprints(void **state)
{
	unsigned char s1[20], s256[32], want1[20], want256[32];
	struct kl_err err = { 0 };
	struct buf tok;
	bool valid = true;

	(void)state;
	assert_int_equal(jws_cert_thumbprints(kx->rsa_cert.data, kx->rsa_cert.len, s1, s256, &err), 0);
	SHA1(kx->rsa_cert.data, kx->rsa_cert.len, want1);
	SHA256(kx->rsa_cert.data, kx->rsa_cert.len, want256);
	assert_memory_equal(s1, want1, 20);
	assert_memory_equal(s256, want256, 32);
	assert_int_equal(jws_cert_thumbprints("garbage", 7, s1, s256, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	/* trailing bytes after the certificate */
	{
		struct buf more;

		buf_init(&more, 64 * 1024);
		assert_int_equal(buf_append(&more, kx->rsa_cert.data, kx->rsa_cert.len, &err), 0);
		assert_int_equal(buf_putc(&more, 0, &err), 0);
		assert_int_equal(jws_cert_thumbprints(more.data, more.len, s1, s256, &err), -1);
		buf_clear(&more);
	}
	sign(kx->rsa, &tok);
	assert_int_equal(check(NULL, &kx->ec_cert, "RS256", &tok, &valid, &err), -1);
	kl_err_clear(&err);
	{
		struct buf junk;

		buf_init(&junk, 16);
		assert_int_equal(buf_append(&junk, "junk", 4, &err), 0);
		assert_int_equal(check(NULL, &junk, "RS256", &tok, &valid, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		buf_clear(&junk);
	}
	assert_false(valid);
	buf_clear(&tok);
}

/* jansson allocators that fail the Nth allocation (and wipe nothing: a test). */
static int alloc_fail_at, alloc_count;

static void *failing_malloc(size_t n)
{
	return ++alloc_count == alloc_fail_at ? NULL : malloc(n);
}

/* Parsing and signing with jansson's 1st, 2nd, ... allocation failing: each run fails cleanly
 * (nothing half-filled, nothing appended; ASan sees no leak) until one needs no more. */
static void test_allocation_failures(void **state)
{
	struct kl_err err = { 0 };
	struct jws_parts p;
	struct buf tok, out;
	int n, rc;

	(void)state;
	sign(kx->rsa, &tok);
	json_set_alloc_funcs(failing_malloc, free);
	jws_parts_init(&p);
	for (n = 1;; n++) {
		alloc_fail_at = n;
		alloc_count = 0;
		if ((rc = jws_parse((const char *)tok.data, tok.len, &p, &err)) == 0)
			break;
		assert_null(p.header);
		assert_null(p.claims);
		assert_int_equal(p.sig.len, 0);
	}
	assert_true(n > 2);
	assert_string_equal(json_string_value(json_object_get(p.claims, "sub")), "x");
	jws_parts_clear(&p);
	buf_init(&out, JWS_MAX_BYTES);
	for (n = 1;; n++) {
		json_t *h, *c;

		alloc_fail_at = 0;
		h = json_pack("{s:s}", "kid", "k1");
		c = json_pack("{s:s, s:i}", "sub", "x", "n", 1);
		alloc_fail_at = n;
		alloc_count = 0;
		rc = jws_sign(kx->rsa, h, c, &out, &err);
		alloc_fail_at = 0;
		json_decref(h);
		json_decref(c);
		if (rc == 0)
			break;
		assert_int_equal(out.len, 0);
	}
	assert_true(n > 2);
	json_util_init();
	{
		bool valid = false;

		assert_int_equal(check(kx->rsa, NULL, "RS256", &out, &valid, &err), 0);
		assert_true(valid);
	}
	buf_clear(&out);
	buf_clear(&tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rs256_round_trip),
		cmocka_unit_test(test_es256_round_trip),
		cmocka_unit_test(test_ps256_and_rs256_by_hand),
		cmocka_unit_test(test_tampered_refused),
		cmocka_unit_test(test_alg_confusion_refused),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_crit_header_refused),
		cmocka_unit_test(test_thumbprints),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
