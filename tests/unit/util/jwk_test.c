/* util/jwk: every member read from JSON (both base64url alphabets, padding, null as absent),
 * every refusal naming its member with BadParameter, private members wiped on failure, key_ops
 * names exactly, and the public JWK in the service's member order with no private member and
 * no padding, also with jansson's Nth allocation failing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/jwk.h"
#include "util/json.h"

static int setup(void **state)
{
	(void)state;
	json_util_init();
	return 0;
}

/* The compact JSON text of v, in a buf the caller clears. */
static const char *dump(const json_t *v, struct buf *out)
{
	struct kl_err err = { 0 };

	buf_init(out, 1 << 16);
	assert_non_null(v);
	assert_int_equal(json_util_dump(v, out, &err), 0);
	return buf_cstr(out);
}

static json_t *parse(const char *s)
{
	struct kl_err err = { 0 };
	json_t *v = json_util_parse(s, strlen(s), &err);

	assert_non_null(v);
	return v;
}

/* jwk_from_json on the JSON text s; returns its result, err filled. */
static int from_text(const char *s, struct jwk *j, struct kl_err *err)
{
	json_t *v = parse(s);
	int rc = jwk_from_json(v, j, err);

	json_decref(v);
	return rc;
}

static void assert_refused(const char *s, const char *msg)
{
	struct kl_err err = { 0 };
	struct jwk j;

	jwk_init(&j);
	assert_int_equal(from_text(s, &j, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_non_null(err.azure_code);
	assert_string_equal(err.azure_code, "BadParameter");
	if (strcmp(msg, err.msg) != 0)
		fail_msg("%s: message '%s', want '%s'", s, err.msg, msg);
	/* Nothing is left behind, private or public. */
	assert_int_equal(j.n.len + j.e.len + j.d.len + j.p.len + j.q.len + j.k.len, 0);
	assert_string_equal(j.kty, "");
	jwk_clear(&j);
}

static void test_reads_every_member(void **state)
{
	struct kl_err err = { 0 };
	struct jwk j;

	(void)state;
	jwk_init(&j);
	assert_int_equal(
		from_text("{\"kid\":\"https://x/keys/a/1\",\"kty\":\"RSA-HSM\","
			  "\"crv\":\"P-256\",\"n\":\"AQAB\",\"e\":\"AQ==\",\"x\":\"-_8\","
			  "\"y\":\"+/8=\",\"d\":\"AA\",\"p\":\"AQ\",\"q\":\"Ag\",\"dp\":\"Aw\","
			  "\"dq\":\"BA\",\"qi\":\"BQ\",\"k\":\"Zm9vYmFy\",\"key_hsm\":\"xx\","
			  "\"future\":{\"a\":[1]}}",
			  &j, &err),
		0);
	assert_string_equal(j.kty, "RSA-HSM");
	assert_string_equal(j.crv, "P-256");
	assert_int_equal(j.n.len, 3);
	assert_memory_equal(j.n.data, "\x01\x00\x01", 3);
	assert_int_equal(j.e.len, 1);
	assert_int_equal(j.e.data[0], 1);
	assert_int_equal(j.x.len, 2);
	assert_memory_equal(j.x.data, "\xfb\xff", 2);	/* url alphabet */
	assert_int_equal(j.y.len, 2);
	assert_memory_equal(j.y.data, "\xfb\xff", 2);	/* standard alphabet, padded */
	assert_int_equal(j.d.len, 1);
	assert_int_equal(j.d.data[0], 0);
	assert_int_equal(j.p.data[0], 1);
	assert_int_equal(j.q.data[0], 2);
	assert_int_equal(j.dp.data[0], 3);
	assert_int_equal(j.dq.data[0], 4);
	assert_int_equal(j.qi.data[0], 5);
	assert_int_equal(j.k.len, 6);
	assert_memory_equal(j.k.data, "foobar", 6);
	assert_false(j.has_key_ops);
	/* Private members are wiping buffers; public ones are not. */
	assert_true(j.d.wipe && j.p.wipe && j.q.wipe && j.dp.wipe && j.dq.wipe && j.qi.wipe &&
		    j.k.wipe);
	assert_false(j.n.wipe || j.e.wipe || j.x.wipe || j.y.wipe);
	jwk_clear(&j);
	assert_int_equal(j.d.len, 0);
	assert_null(j.d.data);
	assert_true(j.d.wipe);	/* reusable after clear */
	jwk_clear(&j);
}

static void test_null_members_are_absent_and_reuse_empties(void **state)
{
	struct kl_err err = { 0 };
	struct jwk j;

	(void)state;
	jwk_init(&j);
	assert_int_equal(from_text("{\"kty\":\"EC\",\"crv\":\"P-384\",\"d\":\"AQID\"}", &j, &err),
			 0);
	assert_int_equal(j.d.len, 3);
	/* A second read into the same jwk starts from empty. */
	assert_int_equal(from_text("{\"kty\":\"oct\",\"crv\":null,\"n\":null,\"d\":null,"
				   "\"key_ops\":null,\"k\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
				   &j, &err),
			 0);
	assert_string_equal(j.kty, "oct");
	assert_string_equal(j.crv, "");
	assert_int_equal(j.d.len, 0);
	assert_int_equal(j.n.len, 0);
	assert_int_equal(j.k.len, 16);
	assert_false(j.has_key_ops);
	jwk_clear(&j);
}

static void test_refusals_name_the_member(void **state)
{
	static const char *const members[] = { "n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi",
					       "k" };
	char text[256], msg[128];
	size_t i;

	(void)state;
	assert_refused("[]", "The JWK must be a JSON object.");
	assert_refused("\"RSA\"", "The JWK must be a JSON object.");
	assert_refused("{}", "The JWK member 'kty' is required.");
	assert_refused("{\"kty\":null}", "The JWK member 'kty' is required.");
	assert_refused("{\"kty\":1}", "The JWK member 'kty' must be a string.");
	assert_refused("{\"kty\":[\"RSA\"]}", "The JWK member 'kty' must be a string.");
	assert_refused("{\"kty\":\"RSA-HSM-TOO-LONG-X\"}",
		       "The JWK member 'kty' is not supported.");
	assert_refused("{\"kty\":\"EC\",\"crv\":256}", "The JWK member 'crv' must be a string.");
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		/* A valid private member first, so the refusal has something to wipe. */
		const char *prior = strcmp(members[i], "k") == 0 ? "d" : "k";
		const char *const bad_values[] = { "12345", "{\"x\":1}", "true", "[\"AQAB\"]" };
		const char *const bad_texts[] = { "!!!!", "a", "AQ AB", "ab=c", "====", "%41%42",
						  "\\u0041", "\u00e9" };
		size_t b;

		snprintf(msg, sizeof(msg), "The JWK member '%s' must be a string.", members[i]);
		for (b = 0; b < sizeof(bad_values) / sizeof(bad_values[0]); b++) {
			snprintf(text, sizeof(text), "{\"kty\":\"RSA\",\"%s\":\"AQID\",\"%s\":%s}",
				 prior, members[i], bad_values[b]);
			assert_refused(text, msg);
		}
		snprintf(msg, sizeof(msg), "The JWK member '%s' is not valid base64url.",
			 members[i]);
		for (b = 0; b < sizeof(bad_texts) / sizeof(bad_texts[0]); b++) {
			snprintf(text, sizeof(text),
				 "{\"kty\":\"RSA\",\"%s\":\"AQID\",\"%s\":\"%s\"}", prior,
				 members[i], bad_texts[b]);
			assert_refused(text, msg);
		}
	}
}

/* An "n" of chars 'A's: decoded to chars * 3 / 4 zero bytes, or refused as too large. */
static void member_of_chars(size_t chars, bool fits)
{
	struct kl_err err = { 0 };
	struct buf text;
	struct jwk j;
	size_t i;

	buf_init(&text, chars + 64);
	assert_int_equal(buf_append_str(&text, "{\"kty\":\"RSA\",\"d\":\"AQ\",\"n\":\"", &err), 0);
	for (i = 0; i < chars; i++)
		assert_int_equal(buf_putc(&text, 'A', &err), 0);
	assert_int_equal(buf_append_str(&text, "\"}", &err), 0);
	jwk_init(&j);
	if (fits) {
		assert_int_equal(from_text(buf_cstr(&text), &j, &err), 0);
		assert_int_equal(j.n.len, chars * 3 / 4);
	} else {
		assert_int_equal(from_text(buf_cstr(&text), &j, &err), -1);
		assert_int_equal(err.code, KL_EINVAL);
		assert_string_equal(err.msg, "The JWK member 'n' is too large.");
		assert_int_equal(j.d.len, 0);
	}
	jwk_clear(&j);
	buf_clear(&text);
}

static void test_member_size_limit(void **state)
{
	(void)state;
	member_of_chars(2728, true);	/* 2046 bytes */
	member_of_chars(2731, true);	/* JWK_MEMBER_MAX = 2048 bytes */
	member_of_chars(2732, false);	/* 2049 */
	member_of_chars(2736, false);
	member_of_chars(200000, false);
}

static void test_key_ops(void **state)
{
	struct kl_err err = { 0 };
	struct jwk j;
	unsigned ops = 99;
	json_t *v;
	struct buf out;

	(void)state;
	jwk_init(&j);
	assert_int_equal(from_text("{\"kty\":\"RSA\",\"key_ops\":[\"encrypt\",\"decrypt\",\"sign\","
				   "\"verify\",\"wrapKey\",\"unwrapKey\",\"import\",\"export\","
				   "\"sign\"]}",
				   &j, &err),
			 0);
	assert_true(j.has_key_ops);
	assert_int_equal(j.key_ops, 0xff);
	assert_int_equal(from_text("{\"kty\":\"RSA\",\"key_ops\":[]}", &j, &err), 0);
	assert_true(j.has_key_ops);
	assert_int_equal(j.key_ops, 0);
	jwk_clear(&j);
	assert_refused("{\"kty\":\"RSA\",\"key_ops\":\"sign\"}",
		       "The member 'key_ops' must be an array of operation names.");
	assert_refused("{\"kty\":\"RSA\",\"key_ops\":[1]}",
		       "The member 'key_ops' must be an array of operation names.");
	assert_refused("{\"kty\":\"RSA\",\"key_ops\":[\"sign\",null]}",
		       "The member 'key_ops' must be an array of operation names.");
	assert_refused("{\"kty\":\"RSA\",\"key_ops\":[\"Sign\"]}",
		       "The key operation 'Sign' is not valid; use encrypt, decrypt, sign, verify, "
		       "wrapKey, unwrapKey, import or export.");
	assert_refused("{\"kty\":\"RSA\",\"key_ops\":[\"wrapkey\"]}",
		       "The key operation 'wrapkey' is not valid; use encrypt, decrypt, sign, "
		       "verify, wrapKey, unwrapKey, import or export.");
	assert_refused("{\"kty\":\"RSA\",\"key_ops\":[\"release\"]}",
		       "The key operation 'release' is not valid; use encrypt, decrypt, sign, "
		       "verify, wrapKey, unwrapKey, import or export.");

	/* The array form, both ways, as create and update bodies use it. */
	v = parse("[\"unwrapKey\",\"verify\"]");
	assert_int_equal(jwk_key_ops_from_json(v, &ops, &err), 0);
	assert_int_equal(ops, JWK_OP_UNWRAP | JWK_OP_VERIFY);
	json_decref(v);
	v = parse("{}");
	ops = 7;
	assert_int_equal(jwk_key_ops_from_json(v, &ops, &err), -1);
	assert_int_equal(ops, 7);
	json_decref(v);
	v = jwk_key_ops_json(0xff);
	assert_string_equal(dump(v, &out),
			    "[\"encrypt\",\"decrypt\",\"sign\",\"verify\",\"wrapKey\","
			    "\"unwrapKey\",\"import\",\"export\"]");
	buf_clear(&out);
	json_decref(v);
	v = jwk_key_ops_json(0);
	assert_true(json_is_array(v) && json_array_size(v) == 0);
	json_decref(v);
	assert_string_equal(jwk_op_name(JWK_OP_WRAP), "wrapKey");
	assert_string_equal(jwk_op_name(JWK_OP_DECRYPT), "decrypt");
	assert_string_equal(jwk_op_name(JWK_OP_SIGN | JWK_OP_VERIFY), "unknown");
	assert_string_equal(jwk_op_name(0), "unknown");
}

static void fill(struct buf *b, const char *bytes, size_t n)
{
	struct kl_err err = { 0 };

	assert_int_equal(buf_append(b, bytes, n, &err), 0);
}

static void test_public_json_rsa(void **state)
{
	struct jwk j;
	json_t *v;
	struct buf out;

	(void)state;
	jwk_init(&j);
	snprintf(j.kty, sizeof(j.kty), "RSA-HSM");
	fill(&j.n, "\xc3\x01", 2);
	fill(&j.e, "\x01\x00\x01", 3);
	/* Private members present: none may come out. */
	fill(&j.d, "\x11", 1);
	fill(&j.p, "\x12", 1);
	fill(&j.q, "\x13", 1);
	fill(&j.dp, "\x14", 1);
	fill(&j.dq, "\x15", 1);
	fill(&j.qi, "\x16", 1);
	fill(&j.k, "\x17", 1);
	j.has_key_ops = true;
	j.key_ops = JWK_OP_SIGN | JWK_OP_WRAP;
	v = jwk_public_json(&j, "https://v.vault.localhost/keys/k/0123");
	assert_string_equal(
		dump(v, &out),
		"{\"kid\":\"https://v.vault.localhost/keys/k/0123\",\"kty\":\"RSA-HSM\","
		"\"key_ops\":[\"sign\",\"wrapKey\"],\"n\":\"wwE\",\"e\":\"AQAB\"}");
	buf_clear(&out);
	json_decref(v);
	j.has_key_ops = false;
	v = jwk_public_json(&j, NULL);
	assert_string_equal(dump(v, &out), "{\"kty\":\"RSA-HSM\",\"n\":\"wwE\",\"e\":\"AQAB\"}");
	buf_clear(&out);
	json_decref(v);
	jwk_clear(&j);
}

static void test_public_json_ec_and_oct(void **state)
{
	struct kl_err err = { 0 };
	struct jwk j, back;
	json_t *v;
	struct buf out;

	(void)state;
	jwk_init(&j);
	jwk_init(&back);
	snprintf(j.kty, sizeof(j.kty), "EC");
	snprintf(j.crv, sizeof(j.crv), "P-256K");
	fill(&j.x, "\x00\xfb\xff", 3);
	fill(&j.y, "\xff", 1);
	fill(&j.d, "\x01", 1);
	j.has_key_ops = true;
	j.key_ops = JWK_OP_VERIFY;
	v = jwk_public_json(&j, "kid-1");
	assert_string_equal(dump(v, &out),
			    "{\"kid\":\"kid-1\",\"kty\":\"EC\",\"key_ops\":[\"verify\"],"
			    "\"crv\":\"P-256K\",\"x\":\"APv_\",\"y\":\"_w\"}");
	buf_clear(&out);
	/* And back: the same public members, no private ones. */
	assert_int_equal(jwk_from_json(v, &back, &err), 0);
	assert_string_equal(back.crv, "P-256K");
	assert_int_equal(back.x.len, 3);
	assert_memory_equal(back.x.data, "\x00\xfb\xff", 3);
	assert_int_equal(back.y.len, 1);
	assert_int_equal(back.d.len, 0);
	assert_int_equal(back.key_ops, JWK_OP_VERIFY);
	json_decref(v);
	jwk_clear(&j);
	snprintf(j.kty, sizeof(j.kty), "oct");
	fill(&j.k, "0123456789abcdef", 16);
	v = jwk_public_json(&j, NULL);
	assert_string_equal(dump(v, &out), "{\"kty\":\"oct\"}");
	buf_clear(&out);
	json_decref(v);
	jwk_clear(&j);
	jwk_clear(&back);
}

/* jansson allocators that fail the Nth allocation (and wipe nothing: a test). */
static int alloc_fail_at, alloc_count;

static void *failing_malloc(size_t n)
{
	return ++alloc_count == alloc_fail_at ? NULL : malloc(n);
}

static void test_public_json_allocation_failures(void **state)
{
	struct buf want, got;
	struct jwk j;
	json_t *v;
	int n;

	(void)state;
	jwk_init(&j);
	snprintf(j.kty, sizeof(j.kty), "EC");
	snprintf(j.crv, sizeof(j.crv), "P-384");
	fill(&j.x, "abcdefgh", 8);
	fill(&j.y, "ijklmnop", 8);
	j.has_key_ops = true;
	j.key_ops = JWK_OP_SIGN | JWK_OP_VERIFY;
	v = jwk_public_json(&j, "kid");
	dump(v, &want);
	json_decref(v);
	json_set_alloc_funcs(failing_malloc, free);
	for (n = 1;; n++) {
		alloc_fail_at = n;
		alloc_count = 0;
		v = jwk_public_json(&j, "kid");
		if (v != NULL)
			break;
	}
	alloc_fail_at = 0;
	dump(v, &got);
	json_decref(v);
	json_util_init();
	assert_true(n > 5);
	/* Every earlier failure returned NULL (and, under ASan, leaked nothing). */
	assert_string_equal(buf_cstr(&got), buf_cstr(&want));
	buf_clear(&got);
	buf_clear(&want);
	jwk_clear(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_every_member),
		cmocka_unit_test(test_null_members_are_absent_and_reuse_empties),
		cmocka_unit_test(test_refusals_name_the_member),
		cmocka_unit_test(test_member_size_limit),
		cmocka_unit_test(test_key_ops),
		cmocka_unit_test(test_public_json_rsa),
		cmocka_unit_test(test_public_json_ec_and_oct),
		cmocka_unit_test(test_public_json_allocation_failures),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
