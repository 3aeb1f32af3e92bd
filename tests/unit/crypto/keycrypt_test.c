/* crypto/keyops (keycrypt.c): published vectors (RFC 3394, RFC 5649, the GCM specification,
 * NIST SP 800-38A), every algorithm's round trip, tampered, truncated and wrong-AAD ciphertexts
 * with the caller's buffer left as it was, wrong digest lengths, algorithms that do not fit the
 * key, and interoperability with the openssl command in both directions: what kluis signs or
 * encrypts, openssl verifies or decrypts with the public JWK, and the other way round. */
#include <pthread.h>

#include "keyops_support.h"

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

	scratch_path(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_PUBKEY(f, pkey), 1);
	fclose(f);
	EVP_PKEY_free(pkey);
}

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
	kw_vector(
		"A256KW", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
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
	static const char *const p =
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
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
	static const char *const p =
		"6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
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
	assert_bad(keyops_encrypt(fx->oct[2], "A256CBC", &in, &o, &err), &err,
		   "needs a 16-byte iv");
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
		assert_bad(keyops_sign(fx->ec[a], curve_algs[a], dg, ok - 1, &sig, &err), &err,
			   msg);
		assert_bad(keyops_sign(fx->ec[a], curve_algs[a], dg, ok + 1, &sig, &err), &err,
			   msg);
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
		assert_int_equal(
			sh("openssl pkeyutl -decrypt -inkey rsa.pem -in ct2.bin -out pt2.bin "
			   "%s",
			   rsa_opts(algs[a])),
			0);
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

/* ---- one key, several threads ---------------------------------------------------------- */

/* Every operation on the fixture's shared keys; returns the number of failures. */
static void *worker(void *arg)
{
	static const unsigned char cek[32] = "thirty-two bytes for every threa";
	uintptr_t failures = 0;
	struct kl_err err = { 0 };
	struct keyops_output o = { 0 };
	struct keyops_input in;
	unsigned char dg[64];
	struct buf a, b;
	size_t n;
	bool valid;
	int i;

	(void)arg;
	for (i = 0; i < 40; i++) {
		const char *ps = i % 2 ? "PS256" : "RS256", *es = curve_algs[i % 4];

		buf_init_secret(&a, 4096);
		buf_init_secret(&b, 4096);
		n = digest_of(ps, i % 2 ? "odd" : "even", dg);
		valid = false;
		failures += keyops_sign(fx->rsa, ps, dg, n, &a, &err) != 0 ||
			    keyops_verify(fx->rsa, ps, dg, n, a.data, a.len, &valid, &err) != 0 ||
			    !valid;
		buf_reset(&a);
		n = digest_of(es, i % 2 ? "odd" : "even", dg);
		valid = false;
		failures +=
			keyops_sign(fx->ec[i % 4], es, dg, n, &a, &err) != 0 ||
			keyops_verify(fx->ec[i % 4], es, dg, n, a.data, a.len, &valid, &err) != 0 ||
			!valid;
		buf_reset(&a);
		o.out = &a;
		in = value_in(cek, sizeof(cek));
		failures += keyops_encrypt(fx->rsa, "RSA-OAEP-256", &in, &o, &err) != 0;
		o.out = &b;
		in = value_in(a.data, a.len);
		failures += keyops_decrypt(fx->rsa, "RSA-OAEP-256", &in, &o, &err) != 0 ||
			    b.len != 32 || memcmp(b.data, cek, 32) != 0;
		buf_reset(&a);
		buf_reset(&b);
		o.out = &a;
		in = value_in(cek, sizeof(cek));
		failures += keyops_wrap(fx->oct[i % 3], "CKM_AES_KEY_WRAP", &in, &o, &err) != 0;
		buf_clear(&a);
		buf_clear(&b);
	}
	return (void *)failures;
}

static void test_shared_keys_across_threads(void **state)
{
	pthread_t t[4];
	void *failures;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &failures), 0);
		assert_int_equal((uintptr_t)failures, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
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
		cmocka_unit_test(test_shared_keys_across_threads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
