/* crypto/keyops (keyops.c): generation of every type, size and curve; the public JWK's exact
 * encoding; serialisation round trips and damaged blobs; JWK import of keys made by the openssl
 * command (with and without the CRT members, with and without x and y) and every refusal of a
 * bad JWK. The operations are in keycrypt_test.c. */
#include "keyops_support.h"

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
			assert_memory_equal(c1.data, c2.data,
					    c1.len); /* RFC 3394 is deterministic */
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
	import_bad_json(with(rsa, "kty", json_string("DSA")), "(kty) 'DSA' is not supported",
			"DSA");
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
		assert_int_equal(
			sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
			   "-out ec0.pem && openssl genpkey -algorithm EC -pkeyopt "
			   "ec_paramgen_curve:P-384 -out ec2.pem"),
			0);
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
	import_bad_json(with(ec, "crv", json_string("P-384")), "must be 48 bytes",
			"P-256 as P-384");
	import_bad_json(with(ec, "crv", json_string("P-256K")), "does not match",
			"P-256 as P-256K");
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
	import_bad_json(with(ec, "crv", json_string("secp256k1")), "is not supported",
			"OpenSSL name");
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
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
