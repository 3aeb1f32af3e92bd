/* crypto/x509 (x509pfx.c, x509pem.c): imports made by the openssl command and by OpenSSL's
 * PKCS#12 API (with and without a password, the legacy RC2 form, no MAC, wrong passwords, keys
 * that do not match, refused key types, traditional PEM keys, too many certificates, too much key
 * derivation, garbage), leaf-first and preserved order, round trips through the export formats,
 * and merge items in every form, with a request of x509_csr signed by an openssl-made CA. */
#include "x509_support.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "util/b64url.h"

static void load(const char *name, struct buf *b)
{
	buf_init_secret(b, X509_UPLOAD_MAX * 2);
	read_file(name, b);
}

/* x509_parse_pfx (pfx) or x509_parse_pem of a fixture file; on success *k and c hold the
 * result, on failure neither holds anything. */
static int parse_file(bool pfx, const char *name, const char *pwd, bool keep,
		      struct keyops_key **k, struct x509_chain *c, struct kl_err *err)
{
	struct buf b;
	int rc;

	load(name, &b);
	x509_chain_init(c);
	memset(err, 0, sizeof(*err));
	rc = pfx ? x509_parse_pfx(b.data, b.len, pwd, keep, k, c, err)
		 : x509_parse_pem((const char *)b.data, b.len, pwd, keep, k, c, err);
	if (rc != 0) {
		assert_null(*k);
		assert_int_equal(c->n, 0);
	}
	buf_clear(&b);
	return rc;
}

static int pfx_file(const char *name, const char *pwd, bool keep, struct keyops_key **k,
		    struct x509_chain *c, struct kl_err *err)
{
	return parse_file(true, name, pwd, keep, k, c, err);
}

static int pem_file(const char *name, const char *pwd, bool keep, struct keyops_key **k,
		    struct x509_chain *c, struct kl_err *err)
{
	return parse_file(false, name, pwd, keep, k, c, err);
}

/* A file the openssl command makes and the BadParameter message its parse must give. */
struct refusal {
	const char *cmd;
	const char *msg;
};

/* Runs each case's command, which writes name, and expects its parse refused with its message. */
static void expect_refusals(const struct refusal *cases, size_t n, bool pfx, const char *name)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;
	size_t i;

	for (i = 0; i < n; i++) {
		assert_int_equal(sh("%s", cases[i].cmd), 0);
		if (parse_file(pfx, name, NULL, false, &k, &c, &err) == 0)
			fail_msg("case %zu accepted", i);
		assert_bad(-1, &err, cases[i].msg);
	}
}

/* Is certificate i of c the one in PEM file name? */
static bool chain_is(const struct x509_chain *c, size_t i, const char *name)
{
	struct buf der;
	bool same;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -outform DER -out cmp.der", name);
	assert_int_equal(sh("%s", cmd), 0);
	buf_init(&der, X509_CERT_MAX);
	read_file("cmp.der", &der);
	same = i < c->n && c->der[i].len == der.len &&
	       memcmp(c->der[i].data, der.data, der.len) == 0;
	buf_clear(&der);
	return same;
}

static void done(struct keyops_key *k, struct x509_chain *c)
{
	keyops_free(k);
	x509_chain_clear(c);
}

static int group_setup(void **state)
{
	if (setup(state) != 0)
		return -1;
	/* A CA, a leaf it signed (RSA 2048), an EC P-384 self-signed certificate, and strays. */
	return sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 "
		  "-subj /CN=test-ca -addext basicConstraints=critical,CA:TRUE && "
		  "openssl req -new -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr "
		  "-subj /CN=KeyVaultTest && "
		  "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		  "-days 30 -out leaf.pem && "
		  "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes "
		  "-keyout ec.key -out ec.pem -days 30 -subj /CN=ec && "
		  "openssl req -x509 -newkey rsa:1024 -nodes -keyout r1024.key -out r1024.pem "
		  "-days 30 -subj /CN=small && "
		  "openssl req -x509 -newkey ed25519 -nodes -keyout ed.key -out ed.pem -days 30 "
		  "-subj /CN=ed && "
		  "openssl req -x509 -newkey rsa-pss -pkeyopt rsa_keygen_bits:2048 -nodes "
		  "-keyout pss.key -out pss.pem -days 30 -subj /CN=pss && "
		  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 "
		  "-out k1.key && "
		  "openssl req -x509 -new -key k1.key -out k1.pem -days 30 -subj /CN=k1") == 0
		       ? 0
		       : -1;
}

/* ---- PKCS#12 made by the openssl command ------------------------------------------------ */

static void test_pfx_openssl_password(void **state)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;

	(void)state;
	assert_int_equal(sh("openssl pkcs12 -export -in leaf.pem -inkey leaf.key -certfile ca.pem "
			    "-passout pass:s3cret -out pw.pfx"),
			 0);
	assert_int_equal(pfx_file("pw.pfx", "s3cret", false, &k, &c, &err), 0);
	assert_int_equal(keyops_type(k), KEYOPS_RSA);
	assert_int_equal(keyops_bits(k), 2048);
	assert_int_equal(c.n, 2);
	assert_true(chain_is(&c, 0, "leaf.pem"));
	assert_true(chain_is(&c, 1, "ca.pem"));
	assert_true(x509_matches_key(c.der[0].data, c.der[0].len, k));
	done(k, &c);
	k = NULL;
	assert_bad(pfx_file("pw.pfx", "wrong", false, &k, &c, &err), &err, "wrong password");
	assert_bad(pfx_file("pw.pfx", NULL, false, &k, &c, &err), &err, "wrong password");
	assert_bad(pfx_file("pw.pfx", "", false, &k, &c, &err), &err, "wrong password");
}

static void test_pfx_openssl_empty_password(void **state)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;

	(void)state;
	assert_int_equal(sh("openssl pkcs12 -export -in ec.pem -inkey ec.key -passout pass: "
			    "-out empty.pfx && openssl pkcs12 -export -in k1.pem -inkey k1.key "
			    "-passout pass: -nomac -out nomac.pfx"),
			 0);
	assert_int_equal(pfx_file("empty.pfx", NULL, false, &k, &c, &err), 0);
	assert_int_equal(keyops_type(k), KEYOPS_EC);
	assert_string_equal(keyops_curve(k), "P-384");
	assert_true(chain_is(&c, 0, "ec.pem"));
	done(k, &c);
	assert_int_equal(pfx_file("empty.pfx", "", false, &k, &c, &err), 0);
	done(k, &c);
	assert_bad(pfx_file("empty.pfx", "x", false, &k, &c, &err), &err, "wrong password");
	assert_int_equal(pfx_file("nomac.pfx", NULL, false, &k, &c, &err), 0);
	assert_string_equal(keyops_curve(k), "P-256K");
	done(k, &c);
	k = NULL;
	assert_bad(pfx_file("nomac.pfx", "x", false, &k, &c, &err), &err, "does not decrypt");
}

/* What old Windows and OpenSSL 1.1 wrote: RC2-40 certificates, 3DES key, SHA-1 MAC. */
static void test_pfx_openssl_legacy(void **state)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;

	(void)state;
	assert_int_equal(sh("openssl pkcs12 -export -legacy -in leaf.pem -inkey leaf.key "
			    "-certfile ca.pem -passout pass:old -out legacy.pfx && "
			    "openssl pkcs12 -in legacy.pfx -passin pass:old -info -noout -legacy "
			    "2>&1 | grep -q '40BitRC2'"),
			 0);
	assert_int_equal(pfx_file("legacy.pfx", "old", false, &k, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_true(chain_is(&c, 0, "leaf.pem"));
	done(k, &c);
	k = NULL;
	assert_bad(pfx_file("legacy.pfx", "new", false, &k, &c, &err), &err, "wrong password");
	/* An OpenSSL without its legacy module: refused as the client's to fix, and only then. */
	assert_int_equal(setenv("OPENSSL_MODULES", "/nonexistent", 1), 0);
	assert_bad(pfx_file("legacy.pfx", "old", false, &k, &c, &err), &err, "RC2, RC4 or DES");
	assert_int_equal(unsetenv("OPENSSL_MODULES"), 0);
	assert_int_equal(pfx_file("legacy.pfx", "old", false, &k, &c, &err), 0);
	done(k, &c);
}

static void test_pfx_openssl_refusals(void **state)
{
	static const struct refusal cases[] = {
		{ "openssl pkcs12 -export -in r1024.pem -inkey r1024.key -passout pass: -out x.pfx",
		  "RSA-1024" },
		{ "openssl pkcs12 -export -in ed.pem -inkey ed.key -passout pass: -out x.pfx",
		  "only RSA and EC" },
		{ "openssl pkcs12 -export -in pss.pem -inkey pss.key -passout pass: -out x.pfx",
		  "only RSA and EC" },
		{ "openssl pkcs12 -export -nokeys -in leaf.pem -passout pass: -out x.pfx",
		  "no private key" },
		{ "openssl pkcs12 -export -nocerts -inkey leaf.key -passout pass: -out x.pfx",
		  "no certificate" },
		{ "head -c 300 empty.pfx > x.pfx", "not a PKCS#12" },
		{ "cp empty.pfx x.pfx && printf 'x' >> x.pfx", "not a PKCS#12" },
		{ "openssl rand 4000 > x.pfx", "not a PKCS#12" },
		{ "openssl x509 -in leaf.pem -outform DER -out x.pfx", "not a PKCS#12" },
	};
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err = { 0 };

	(void)state;
	expect_refusals(cases, sizeof(cases) / sizeof(cases[0]), true, "x.pfx");
	assert_bad(x509_parse_pfx("", 0, NULL, false, &k, &c, &err), &err, "not a PKCS#12");
	assert_bad(x509_parse_pfx(NULL, 0, NULL, false, &k, &c, &err), &err, "not a PKCS#12");
	assert_bad(x509_parse_pfx("x", X509_UPLOAD_MAX + 1, NULL, false, &k, &c, &err), &err,
		   "larger than");
}

/* ---- PKCS#12 made with OpenSSL's API: what the command will not write --------------------- */

static EVP_PKEY *pem_key(const char *name)
{
	char path[128];
	EVP_PKEY *pkey;
	FILE *f;

	scratch_path(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "r"));
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(pkey);
	return pkey;
}

static X509 *pem_cert(const char *name)
{
	char path[128];
	X509 *x;
	FILE *f;

	scratch_path(path, sizeof(path), name);
	assert_non_null(f = fopen(path, "r"));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* A PKCS#12 file of the certificates in certs (in that order, in one safe encrypted with
 * cert_nid, or plain with -1), then the keys (shrouded with AES-256), MAC iterations mac_iter
 * (0: no MAC). */
static void make_pfx(const char *out, const char *pass, const char *const *certs, size_t n_certs,
		     const char *const *keys, size_t n_keys, int cert_nid, int iter, int mac_iter)
{
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	unsigned char *der = NULL;
	PKCS12 *p12;
	size_t i;
	int len;

	for (i = 0; i < n_certs; i++) {
		X509 *x = pem_cert(certs[i]);

		assert_non_null(PKCS12_add_cert(&bags, x));
		X509_free(x);
	}
	if (bags != NULL) {
		assert_non_null(PKCS12_add_safe(&safes, bags, cert_nid, iter, pass));
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
		bags = NULL;
	}
	for (i = 0; i < n_keys; i++) {
		EVP_PKEY *pkey = pem_key(keys[i]);

		assert_non_null(PKCS12_add_key(&bags, pkey, 0, iter, NID_aes_256_cbc, pass));
		EVP_PKEY_free(pkey);
	}
	if (bags != NULL) {
		assert_non_null(PKCS12_add_safe(&safes, bags, -1, 0, NULL));
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	assert_non_null(p12 = PKCS12_add_safes(safes, 0));
	sk_PKCS7_pop_free(safes, PKCS7_free);
	if (mac_iter > 0)
		assert_int_equal(PKCS12_set_mac(p12, pass, -1, NULL, 0, mac_iter, EVP_sha256()), 1);
	assert_true((len = i2d_PKCS12(p12, &der)) > 0);
	write_file(out, der, (size_t)len);
	OPENSSL_free(der);
	PKCS12_free(p12);
}

static void test_pfx_order(void **state)
{
	const char *const certs[] = { "ca.pem", "ec.pem", "leaf.pem" };
	const char *const key[] = { "leaf.key" };
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;

	(void)state;
	make_pfx("order.pfx", "pw", certs, 3, key, 1, NID_aes_256_cbc, 2048, 2048);
	assert_int_equal(pfx_file("order.pfx", "pw", false, &k, &c, &err), 0);
	assert_int_equal(c.n, 3);
	assert_true(chain_is(&c, 0, "leaf.pem"));
	assert_true(chain_is(&c, 1, "ca.pem"));
	assert_true(chain_is(&c, 2, "ec.pem"));
	done(k, &c);
	assert_int_equal(pfx_file("order.pfx", "pw", true, &k, &c, &err), 0);
	assert_true(chain_is(&c, 0, "ca.pem"));
	assert_true(chain_is(&c, 1, "ec.pem"));
	assert_true(chain_is(&c, 2, "leaf.pem"));
	done(k, &c);
}

static void test_pfx_api_refusals(void **state)
{
	const char *const leaf[] = { "leaf.pem" };
	const char *const eleven[] = { "ca.pem", "ca.pem", "ca.pem", "ca.pem", "ca.pem", "ca.pem",
				       "ca.pem", "ca.pem", "ca.pem", "ca.pem", "leaf.pem" };
	const char *const key[] = { "leaf.key" };
	const char *const other[] = { "ec.key" };
	const char *const two[] = { "leaf.key", "ec.key" };
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;

	(void)state;
	make_pfx("a.pfx", "pw", leaf, 1, other, 1, NID_aes_256_cbc, 2048, 2048);
	assert_bad(pfx_file("a.pfx", "pw", false, &k, &c, &err), &err, "no certificate matches");
	make_pfx("a.pfx", "pw", leaf, 1, two, 2, NID_aes_256_cbc, 2048, 2048);
	assert_bad(pfx_file("a.pfx", "pw", false, &k, &c, &err), &err, "more than one private");
	make_pfx("a.pfx", "pw", eleven, 11, key, 1, -1, 2048, 2048);
	assert_bad(pfx_file("a.pfx", "pw", false, &k, &c, &err), &err, "more than 10");
	make_pfx("a.pfx", "pw", eleven + 1, 10, key, 1, -1, 2048, 2048);
	assert_int_equal(pfx_file("a.pfx", "pw", false, &k, &c, &err), 0);
	assert_int_equal(c.n, 10);
	done(k, &c);
	k = NULL;
	/* Key derivation past the budget: refused before it is run. */
	make_pfx("a.pfx", "pw", leaf, 1, key, 1, -1, 1, 4000001);
	assert_bad(pfx_file("a.pfx", "pw", false, &k, &c, &err), &err, "too much key derivation");
	make_pfx("a.pfx", "pw", leaf, 1, key, 1, NID_aes_256_cbc, 3000000, 0);
	assert_bad(pfx_file("a.pfx", "pw", false, &k, &c, &err), &err, "too much key derivation");
	/* No MAC, certificates in plain data, the key shrouded: a wrong password shows there. */
	make_pfx("a.pfx", "pw", leaf, 1, key, 1, -1, 2048, 0);
	assert_bad(pfx_file("a.pfx", "px", false, &k, &c, &err), &err, "does not decrypt");
	assert_int_equal(pfx_file("a.pfx", "pw", false, &k, &c, &err), 0);
	done(k, &c);
}

/* A self-signed certificate of p for key into der and as chain c, exported with key as PFX or
 * PEM into out (a wiping buffer) and parsed back into *k and back. */
static void export_and_parse(struct keyops_key *key, const struct x509_profile *p, bool pfx,
			     struct buf *der, struct x509_chain *c, struct buf *out,
			     struct keyops_key **k, struct x509_chain *back)
{
	struct kl_err err = { 0 };

	self_signed(key, p, der);
	x509_chain_init(c);
	x509_chain_init(back);
	assert_int_equal(x509_chain_add(c, der->data, der->len, &err), 0);
	buf_init_secret(out, X509_UPLOAD_MAX);
	if (pfx) {
		assert_int_equal(x509_export_pfx(key, c, out, &err), 0);
		assert_int_equal(x509_parse_pfx(out->data, out->len, NULL, false, k, back, &err),
				 0);
	} else {
		assert_int_equal(x509_export_pem(key, c, out, &err), 0);
		assert_int_equal(x509_parse_pem((const char *)out->data, out->len, NULL, false, k,
						back, &err),
				 0);
	}
}

/* Frees what export_and_parse made (but the key). */
static void export_and_parse_clear(struct buf *der, struct x509_chain *c, struct buf *out,
				   struct x509_chain *back)
{
	x509_chain_clear(back);
	x509_chain_clear(c);
	buf_clear(out);
	buf_clear(der);
}

/* kluis's own PFX reads back into the same key and chain. */
static void test_pfx_round_trip(void **state)
{
	struct x509_profile p = full_profile("CN=round");
	struct x509_chain c, back;
	struct keyops_key *k = NULL;
	struct kl_err err = { 0 };
	struct buf der, pfx;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		export_and_parse(fx->ec[i], &p, true, &der, &c, &pfx, &k, &back);
		assert_string_equal(keyops_curve(k), curve_names[i]);
		assert_int_equal(back.n, 1);
		assert_memory_equal(back.der[0].data, der.data, der.len);
		assert_true(x509_matches_key(der.data, der.len, k));
		keyops_free(k);
		/* Certificates only: no key to import. */
		buf_reset(&pfx);
		assert_int_equal(x509_export_pfx(NULL, &c, &pfx, &err), 0);
		k = NULL;
		assert_bad(x509_parse_pfx(pfx.data, pfx.len, "", false, &k, &back, &err), &err,
			   "no private key");
		export_and_parse_clear(&der, &c, &pfx, &back);
	}
}

/* ---- PEM -------------------------------------------------------------------------------- */

static void test_pem_openssl(void **state)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;

	(void)state;
	/* Key last, CA first, text around the blocks. */
	assert_int_equal(sh("(echo 'Bag Attributes'; cat ca.pem; echo junk; cat leaf.pem leaf.key) "
			    "> a.pem && cat ec.pem ec.key > e.pem && "
			    "cat k1.key k1.pem > k1all.pem"),
			 0);
	assert_int_equal(pem_file("a.pem", NULL, false, &k, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_true(chain_is(&c, 0, "leaf.pem"));
	assert_true(chain_is(&c, 1, "ca.pem"));
	done(k, &c);
	assert_int_equal(pem_file("a.pem", NULL, true, &k, &c, &err), 0);
	assert_true(chain_is(&c, 0, "ca.pem"));
	assert_true(chain_is(&c, 1, "leaf.pem"));
	done(k, &c);
	assert_int_equal(pem_file("e.pem", "ignored", false, &k, &c, &err), 0);
	assert_string_equal(keyops_curve(k), "P-384");
	done(k, &c);
	assert_int_equal(pem_file("k1all.pem", NULL, false, &k, &c, &err), 0);
	assert_string_equal(keyops_curve(k), "P-256K");
	done(k, &c);
}

static void test_pem_encrypted(void **state)
{
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err;

	(void)state;
	assert_int_equal(sh("openssl pkcs8 -topk8 -in leaf.key -v2 aes-256-cbc -passout pass:pw "
			    "-out enc.key && cat leaf.pem enc.key > enc.pem && "
			    "openssl pkcs8 -topk8 -in ec.key -v1 PBE-SHA1-RC2-40 -passout pass:pw "
			    "-out rc2.key 2>/dev/null || openssl pkcs8 -topk8 -in ec.key -v1 "
			    "PBE-SHA1-RC2-40 -passout pass:pw -out rc2.key -provider default "
			    "-provider legacy; cat ec.pem rc2.key > rc2.pem && "
			    "openssl pkcs8 -topk8 -in ec.key -v2 aes-128-cbc -passout pass: "
			    "-out encempty.key && cat ec.pem encempty.key > encempty.pem"),
			 0);
	assert_true(file_has("enc.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----"));
	assert_int_equal(pem_file("enc.pem", "pw", false, &k, &c, &err), 0);
	assert_int_equal(keyops_bits(k), 2048);
	done(k, &c);
	k = NULL;
	assert_bad(pem_file("enc.pem", "nope", false, &k, &c, &err), &err, "does not decrypt");
	assert_bad(pem_file("enc.pem", NULL, false, &k, &c, &err), &err, "does not decrypt");
	assert_int_equal(pem_file("rc2.pem", "pw", false, &k, &c, &err), 0);	/* legacy PBE */
	assert_string_equal(keyops_curve(k), "P-384");
	done(k, &c);
	assert_int_equal(pem_file("encempty.pem", NULL, false, &k, &c, &err), 0);
	done(k, &c);
}

static void test_pem_refusals(void **state)
{
	static const struct refusal cases[] = {
		{ "openssl rsa -in leaf.key -traditional -out t.key && cat leaf.pem t.key > x.pem",
		  "\"RSA PRIVATE KEY\" block is not accepted" },
		{ "openssl ec -in ec.key -out t.key && cat ec.pem t.key > x.pem",
		  "\"EC PRIVATE KEY\" block is not accepted" },
		{ "cat leaf.pem ec.key > x.pem", "no certificate matches" },
		{ "openssl pkcs8 -topk8 -in ec.key -scrypt -passout pass:pw -out s.key && "
		  "cat ec.pem s.key > x.pem",
		  "PBES2 needs PBKDF2" },
		{ "openssl pkcs8 -topk8 -in ec.key -v2 aes-256-cbc -iter 4000001 -passout pass:pw "
		  "-out s.key 2>/dev/null; cat ec.pem s.key > x.pem",
		  "too much key derivation" },
		{ "cat r1024.pem r1024.key > x.pem", "RSA-1024" },
		{ "cat ed.pem ed.key > x.pem", "only RSA and EC" },
		{ "cat pss.pem pss.key > x.pem", "only RSA and EC" },
		{ "cat leaf.pem > x.pem", "no private key" },
		{ "cat leaf.key > x.pem", "no certificate" },
		{ "cat leaf.pem leaf.key ec.key > x.pem", "more than one private key" },
		{ "echo hello > x.pem", "no private key" },
		{ "printf -- '-----BEGIN CERTIFICATE-----\\n!!!!\\n-----END CERTIFICATE-----\\n' "
		  "> x.pem",
		  "malformed" },
		{ "printf -- '-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n' "
		  "> x.pem",
		  "not a certificate" },
		{ "printf -- '-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n' "
		  "> x.pem",
		  "not a PKCS#8 key" },
		{ "printf -- '-----BEGIN ENCRYPTED PRIVATE KEY-----\\nAAAA\\n"
		  "-----END ENCRYPTED PRIVATE KEY-----\\n' > x.pem",
		  "not an encrypted PKCS#8" },
		{ "for i in 1 2 3 4 5 6 7 8 9 10; do cat ca.pem; done > x.pem; cat leaf.pem "
		  "leaf.key >> x.pem",
		  "more than 10" },
		{ "for i in $(seq 70); do openssl req -new -key leaf.key -subj /CN=x; done > x.pem",
		  "more than 64 blocks" },
	};
	struct keyops_key *k = NULL;
	struct x509_chain c;
	struct kl_err err = { 0 };

	(void)state;
	expect_refusals(cases, sizeof(cases) / sizeof(cases[0]), false, "x.pem");
	assert_bad(x509_parse_pem(NULL, 0, NULL, false, &k, &c, &err), &err, "no private key");
	assert_bad(x509_parse_pem("x", X509_UPLOAD_MAX + 1, NULL, false, &k, &c, &err), &err,
		   "larger than");
}

static void test_pem_round_trip(void **state)
{
	struct x509_profile p = full_profile("CN=pem");
	struct x509_chain c, back;
	struct keyops_key *k = NULL;
	struct buf der, pem;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		export_and_parse(fx->rsa[i], &p, false, &der, &c, &pem, &k, &back);
		assert_int_equal(keyops_bits(k), 2048 + 1024 * i);
		assert_memory_equal(back.der[0].data, der.data, der.len);
		keyops_free(k);
		export_and_parse_clear(&der, &c, &pem, &back);
	}
}

/* ---- merge ------------------------------------------------------------------------------ */

static void b64(const void *p, size_t n, struct buf *out)
{
	struct kl_err err = { 0 };
	size_t i;

	buf_init(out, 1u << 20);
	assert_int_equal(b64url_encode(p, n, out, &err), 0);
	for (i = 0; i < out->len; i++)	/* standard alphabet */
		out->data[i] = out->data[i] == '-' ? '+' : out->data[i] == '_' ? '/' : out->data[i];
	while (out->len % 4 != 0)
		assert_int_equal(buf_putc(out, '=', &err), 0);
}

/* A request from x509_csr signed by the openssl CA comes back in each form merge accepts. */
static void test_merge_signed_csr(void **state)
{
	struct x509_profile p = full_profile("CN=merge");
	struct x509_chain c;
	struct kl_err err = { 0 };
	struct buf csr, der, pem, text, twice;
	size_t i;

	(void)state;
	buf_init(&csr, X509_CERT_MAX);
	assert_int_equal(x509_csr(fx->ec[0], &p, &csr, &err), 0);
	write_file("m.csr", csr.data, csr.len);
	assert_int_equal(sh("openssl x509 -req -inform DER -in m.csr -CA ca.pem -CAkey ca.key "
			    "-CAcreateserial -days 10 -copy_extensions copy -out m.pem && "
			    "openssl x509 -in m.pem -outform DER -out m.der && "
			    "openssl verify -CAfile ca.pem m.pem && "
			    "(echo text; cat ca.pem m.pem) > both.pem"),
			 0);
	buf_init(&der, X509_CERT_MAX);
	read_file("m.der", &der);
	buf_init(&pem, 1u << 20);
	read_file("both.pem", &pem);
	b64(der.data, der.len, &text);
	/* Base64 with line breaks, as some clients wrap it. */
	assert_int_equal(buf_putc(&text, '\n', &err), 0);
	b64(text.data, text.len, &twice);
	x509_chain_init(&c);
	assert_int_equal(x509_parse_merge_item(pem.data, pem.len, &c, &err), 0); /* CA, leaf */
	assert_int_equal(x509_parse_merge_item(der.data, der.len, &c, &err), 0);
	assert_int_equal(x509_parse_merge_item(text.data, text.len, &c, &err), 0);
	assert_int_equal(c.n, 4);
	assert_true(chain_is(&c, 0, "ca.pem"));
	for (i = 1; i < 4; i++)
		assert_true(chain_is(&c, i, "m.pem"));
	assert_int_equal(x509_chain_leaf_first(&c, fx->ec[0], &err), 0);
	assert_true(chain_is(&c, 0, "m.pem"));
	assert_true(chain_is(&c, 1, "ca.pem"));
	x509_chain_clear(&c);
	/* base64 of base64 is one decoding too many here (the caller did the first one). */
	assert_bad(x509_parse_merge_item(twice.data, twice.len, &c, &err), &err, "neither");
	assert_int_equal(c.n, 0);
	/* The JS SDK's own merge test sends the PEM file without its first line, the rest joined:
	 * the base64 body followed by the END line (the service answered 201). */
	assert_int_equal(sh("sed 1d m.pem | tr -d '\\n' > js.txt"), 0);
	buf_reset(&text);
	read_file("js.txt", &text);
	assert_int_equal(x509_parse_merge_item(text.data, text.len, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_true(chain_is(&c, 0, "m.pem"));
	x509_chain_clear(&c);
	buf_clear(&csr);
	buf_clear(&der);
	buf_clear(&pem);
	buf_clear(&text);
	buf_clear(&twice);
}

static void test_merge_refusals(void **state)
{
	struct x509_chain c;
	struct kl_err err = { 0 };
	struct buf der, text, big;

	(void)state;
	x509_chain_init(&c);
	buf_init(&der, X509_CERT_MAX);
	assert_int_equal(sh("openssl x509 -in ca.pem -outform DER -out ca.der"), 0);
	read_file("ca.der", &der);
	assert_bad(x509_parse_merge_item(der.data, der.len - 1, &c, &err), &err, "not a DER");
	assert_bad(x509_parse_merge_item("garbage!", 8, &c, &err), &err, "neither");
	assert_bad(x509_parse_merge_item("", 0, &c, &err), &err, "empty");
	assert_bad(x509_parse_merge_item(NULL, 0, &c, &err), &err, "empty");
	assert_bad(x509_parse_merge_item("Z2FyYmFnZQ==", 12, &c, &err), &err, "neither");
	assert_bad(x509_parse_merge_item("   \n", 4, &c, &err), &err, "neither");
	assert_int_equal(sh("openssl req -new -key leaf.key -subj /CN=x -out req.pem"), 0);
	buf_init(&text, 1u << 20);
	read_file("req.pem", &text);
	assert_bad(x509_parse_merge_item(text.data, text.len, &c, &err), &err,
		   "no CERTIFICATE block");
	buf_init(&big, X509_UPLOAD_MAX + 2);
	while (big.len <= X509_UPLOAD_MAX)
		assert_int_equal(buf_putc(&big, 'A', &err), 0);
	assert_bad(x509_parse_merge_item(big.data, big.len, &c, &err), &err, "larger than");
	assert_int_equal(c.n, 0);
	/* A full chain refuses one more. */
	while (c.n < X509_CHAIN_MAX)
		assert_int_equal(x509_parse_merge_item(der.data, der.len, &c, &err), 0);
	assert_bad(x509_parse_merge_item(der.data, der.len, &c, &err), &err, "more than 10");
	x509_chain_clear(&c);
	buf_clear(&der);
	buf_clear(&text);
	buf_clear(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pfx_openssl_password),
		cmocka_unit_test(test_pfx_openssl_empty_password),
		cmocka_unit_test(test_pfx_openssl_legacy),
		cmocka_unit_test(test_pfx_openssl_refusals),
		cmocka_unit_test(test_pfx_order),
		cmocka_unit_test(test_pfx_api_refusals),
		cmocka_unit_test(test_pfx_round_trip),
		cmocka_unit_test(test_pem_openssl),
		cmocka_unit_test(test_pem_encrypted),
		cmocka_unit_test(test_pem_refusals),
		cmocka_unit_test(test_pem_round_trip),
		cmocka_unit_test(test_merge_signed_csr),
		cmocka_unit_test(test_merge_refusals),
	};

	return cmocka_run_group_tests(tests, group_setup, teardown);
}
