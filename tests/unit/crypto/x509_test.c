/* crypto/x509 (x509gen.c, x509info.c, x509chain.c, x509export.c): the subject syntax and its
 * refusals, self-signed certificates and requests for every key type checked by the openssl
 * command (verify, extensions, signature digests, serial), every refusal of a profile, what
 * x509_info reads back (also from certificates openssl made), chains, and both export formats
 * opened by openssl (the PFX without -legacy). */
#include "x509_support.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "util/b64url.h"

/* ---- subject ---------------------------------------------------------------------------- */

static void test_subject_check_accepts(void **state)
{
	static const char *const good[] = {
		"CN=a",
		"cn=MyCert",
		"CN=a, O=b",
		"  CN = a  ,O=b",
		"CN=\"a, b\", O=x",
		"CN=a\\, b",
		"CN=\"say \"\"hi\"\"\"",
		("CN=x, O=o, OU=u, L=l, S=s, ST=st, C=US, E=a@b.c, DC=example, STREET=1 Main, "
		 "SERIALNUMBER=42"),
		"CN=h\xc3\xa9llo",
		"CN=a; O=b",
	};
	struct kl_err err = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (x509_subject_check(good[i], &err) != 0)
			fail_msg("'%s' refused: %s", good[i], err.msg);
	}
}

static void test_subject_check_refuses(void **state)
{
	static const struct {
		const char *s;
		const char *msg;
	} bad[] = {
		{ "", "empty" },
		{ "   ", "unknown attribute" },
		{ "CN", "expected ATTR=value" },
		{ "XX=a", "unknown attribute" },
		{ "CN=", "empty value" },
		{ "CN=a,", "unknown attribute" },
		{ "CN=\"a", "not closed" },
		{ "CN=\"a\" b", "after a quoted value" },
		{ "C=USA", "not allowed" },
		{ "E=h\xc3\xa9@x", "not allowed" },
		{ "CN=\xff\xfe", "not allowed" },
	};
	struct kl_err err = { 0 };
	char big[1100], many[400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (x509_subject_check(bad[i].s, &err) == 0)
			fail_msg("'%s' accepted", bad[i].s);
		assert_bad(-1, &err, bad[i].msg);
	}
	assert_bad(x509_subject_check(NULL, &err), &err, "empty");
	memset(big, 'a', sizeof(big));
	memcpy(big, "CN=", 3);
	big[sizeof(big) - 1] = '\0';
	assert_bad(x509_subject_check(big, &err), &err, "longer than");
	big[3 + 65] = '\0';	/* CN is at most 64 characters */
	assert_bad(x509_subject_check(big, &err), &err, "not allowed");
	big[3 + 64] = '\0';
	assert_int_equal(x509_subject_check(big, &err), 0);
	many[0] = '\0';
	for (i = 0; i < 33; i++)
		strcat(many, i == 0 ? "OU=a" : ",OU=a");
	assert_bad(x509_subject_check(many, &err), &err, "more than 32");
}

/* ---- self-signed certificates ----------------------------------------------------------- */

static void test_self_sign_round_trip(void **state)
{
	struct x509_profile p = full_profile("CN=a, O=b");
	struct x509_info info;
	struct kl_err err = { 0 };
	unsigned char md[SHA_DIGEST_LENGTH];
	struct buf der, x5t;

	(void)state;
	self_signed(fx->rsa[0], &p, &der);
	x509_info_init(&info);
	assert_int_equal(x509_info_of(der.data, der.len, &info, &err), 0);
	assert_string_equal(info.subject, "CN=a, O=b");
	assert_int_equal(info.sans.n_dns, 2);
	assert_string_equal(info.sans.dns[0], "www.example.com");
	assert_string_equal(info.sans.dns[1], "*.example.org");
	assert_int_equal(info.sans.n_emails, 1);
	assert_string_equal(info.sans.emails[0], "a@example.com");
	assert_int_equal(info.sans.n_upns, 1);
	assert_string_equal(info.sans.upns[0], "user@corp.example");
	assert_int_equal(info.sans.n_uris, 1);
	assert_string_equal(info.sans.uris[0], "https://example.com/x");
	assert_int_equal(info.sans.n_ips, 2);
	assert_string_equal(info.sans.ips[0], "192.0.2.7");
	assert_string_equal(info.sans.ips[1], "2001:db8::1");
	assert_true(info.has_key_usage);
	assert_int_equal(info.key_usage, X509_KU_DIGITAL_SIGNATURE | X509_KU_KEY_ENCIPHERMENT);
	assert_int_equal(info.n_ekus, 2);
	assert_string_equal(info.ekus[0], "1.3.6.1.5.5.7.3.1");
	assert_string_equal(info.ekus[1], "1.3.6.1.5.5.7.3.2");
	assert_int_equal(info.not_before, p.not_before);
	assert_int_equal(info.not_after, p.not_after);
	assert_int_equal(info.kty, KEYOPS_RSA);
	assert_int_equal(info.bits, 2048);
	assert_string_equal(info.crv, "");
	buf_init(&x5t, 64);
	SHA1(der.data, der.len, md);
	assert_int_equal(b64url_encode(md, sizeof(md), &x5t, &err), 0);
	assert_string_equal(info.x5t, buf_cstr(&x5t));
	assert_int_equal(strlen(info.x5t), 27);
	assert_true(x509_matches_key(der.data, der.len, fx->rsa[0]));
	assert_false(x509_matches_key(der.data, der.len, fx->rsa[1]));
	assert_false(x509_matches_key(der.data, der.len, fx->ec[0]));
	assert_false(x509_matches_key(der.data, der.len, fx->oct));
	assert_false(x509_matches_key(der.data, der.len - 1, fx->rsa[0]));
	x509_info_clear(&info);
	assert_null(info.subject);
	x509_info_clear(&info);	/* twice is harmless */
	buf_clear(&x5t);
	buf_clear(&der);
}

/* The serial: 16 bytes, positive, different each time. */
static void test_self_sign_serial(void **state)
{
	struct x509_profile p = plain_profile("CN=serial");
	const ASN1_INTEGER *sn[2];
	X509 *x[2];
	struct buf der[2];
	const unsigned char *q;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		self_signed(fx->ec[0], &p, &der[i]);
		q = der[i].data;
		assert_non_null(x[i] = d2i_X509(NULL, &q, (long)der[i].len));
		sn[i] = X509_get0_serialNumber(x[i]);
		assert_int_equal(ASN1_STRING_length(sn[i]), 16);
		assert_int_equal(ASN1_STRING_type(sn[i]), V_ASN1_INTEGER);	/* positive */
		assert_int_equal(X509_get_version(x[i]), X509_VERSION_3);
	}
	assert_int_not_equal(ASN1_INTEGER_cmp(sn[0], sn[1]), 0);
	for (i = 0; i < 2; i++) {
		X509_free(x[i]);
		buf_clear(&der[i]);
	}
}

/* Every key type: openssl verifies the certificate against itself and shows what it holds. */
static void check_with_openssl(const struct keyops_key *k, const char *sigalg, const char *key)
{
	struct x509_profile p = full_profile("CN=interop, O=kluis, C=NL");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const ASN1_OCTET_STRING *ski;
	const unsigned char *q;
	struct buf der;
	X509 *x;

	self_signed(k, &p, &der);
	write_file("c.der", der.data, der.len);
	assert_int_equal(sh("openssl x509 -inform DER -in c.der -out c.pem && "
			    "openssl verify -x509_strict -CAfile c.pem c.pem && "
			    "openssl x509 -in c.pem -noout -text > c.txt"),
			 0);
	assert_true(file_has("c.txt", sigalg));
	assert_true(file_has("c.txt", key));
	assert_true(file_has("c.txt", "Subject: C = NL, O = kluis, CN = interop"));
	assert_true(file_has("c.txt", "Issuer: C = NL, O = kluis, CN = interop"));
	assert_true(file_has("c.txt", "X509v3 Key Usage: critical\n"
				      "                Digital Signature, Key Encipherment"));
	assert_true(file_has("c.txt", "TLS Web Server Authentication, "
				      "TLS Web Client Authentication"));
	assert_true(file_has("c.txt", "DNS:www.example.com, DNS:*.example.org, "
				      "email:a@example.com, othername: UPN::user@corp.example, "
				      "URI:https://example.com/x, IP Address:192.0.2.7, "
				      "IP Address:2001:DB8:0:0:0:0:0:1"));
	assert_true(file_has("c.txt", "X509v3 Basic Constraints: \n                CA:FALSE"));
	assert_true(file_has("c.txt", "X509v3 Subject Key Identifier"));
	assert_true(file_has("c.txt", "Version: 3 (0x2)"));
	/* The SKI is SHA-1 of the public key bits, as openssl's "hash" method makes it. */
	q = der.data;
	assert_non_null(x = d2i_X509(NULL, &q, (long)der.len));
	assert_int_equal(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen), 1);
	assert_non_null(ski = X509_get0_subject_key_id(x));
	assert_int_equal(ASN1_STRING_length(ski), mdlen);
	assert_memory_equal(ASN1_STRING_get0_data(ski), md, mdlen);
	X509_free(x);
	buf_clear(&der);
}

static void test_self_sign_every_key_type(void **state)
{
	static const char *const ec_sig[] = { "ecdsa-with-SHA256", "ecdsa-with-SHA256",
					      "ecdsa-with-SHA384", "ecdsa-with-SHA512" };
	static const char *const ec_key[] = { "NIST CURVE: P-256", "ASN1 OID: secp256k1",
					      "NIST CURVE: P-384", "NIST CURVE: P-521" };
	char key[32];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "Public-Key: (%zu bit)", 2048 + 1024 * i);
		check_with_openssl(fx->rsa[i], "sha256WithRSAEncryption", key);
	}
	for (i = 0; i < 4; i++)
		check_with_openssl(fx->ec[i], ec_sig[i], ec_key[i]);
}

/* A profile with no names, usages or EKUs: only basicConstraints and the SKI. */
static void test_self_sign_minimal(void **state)
{
	struct x509_profile p = plain_profile("CN=\"min, imal\"");
	struct x509_info info;
	struct kl_err err = { 0 };
	struct buf der;

	(void)state;
	self_signed(fx->ec[2], &p, &der);
	x509_info_init(&info);
	assert_int_equal(x509_info_of(der.data, der.len, &info, &err), 0);
	assert_string_equal(info.subject, "CN=\"min, imal\"");
	assert_false(info.has_key_usage);
	assert_int_equal(info.key_usage, 0);
	assert_int_equal(info.n_ekus, 0);
	assert_int_equal(info.sans.n_dns + info.sans.n_emails + info.sans.n_upns +
				 info.sans.n_uris + info.sans.n_ips,
			 0);
	assert_int_equal(info.kty, KEYOPS_EC);
	assert_int_equal(info.bits, 384);
	assert_string_equal(info.crv, "P-384");
	write_file("m.der", der.data, der.len);
	assert_int_equal(sh("openssl x509 -inform DER -in m.der -noout -text > m.txt"), 0);
	assert_false(file_has("m.txt", "Key Usage"));
	assert_false(file_has("m.txt", "Alternative Name"));
	assert_true(file_has("m.txt", "CA:FALSE"));
	x509_info_clear(&info);
	buf_clear(&der);
}

static void test_self_sign_all_key_usages(void **state)
{
	struct x509_profile p = plain_profile("CN=ku");
	struct x509_info info;
	struct kl_err err = { 0 };
	struct buf der;

	(void)state;
	p.key_usage = 0x1ff;
	self_signed(fx->ec[1], &p, &der);
	x509_info_init(&info);
	assert_int_equal(x509_info_of(der.data, der.len, &info, &err), 0);
	assert_true(info.has_key_usage);
	assert_int_equal(info.key_usage, 0x1ff);
	assert_string_equal(info.crv, "P-256K");
	write_file("ku.der", der.data, der.len);
	assert_int_equal(sh("openssl x509 -inform DER -in ku.der -noout -text > ku.txt"), 0);
	assert_true(file_has("ku.txt", "Digital Signature, Non Repudiation, Key Encipherment, "
				       "Data Encipherment, Key Agreement, Certificate Sign, CRL "
				       "Sign, Encipher Only, Decipher Only"));
	x509_info_clear(&info);
	buf_clear(&der);
}

static void test_self_sign_refusals(void **state)
{
	static char *bad_ip[] = { "1.2.3" };
	static char *bad_dns[] = { "a b.example" };
	static char *empty[] = { "" };
	static char *bad_upn[] = { "\xc3" };
	static char *bad_eku[] = { "1..2" };
	static char *bad_eku2[] = { "serverAuth" };
	static char *bad_eku3[] = { "1.2." };
	static char *many[X509_SANS_MAX + 1];
	struct x509_profile p;
	struct kl_err err = { 0 };
	struct buf der;
	size_t i;

	(void)state;
	buf_init(&der, X509_CERT_MAX);
	for (i = 0; i < X509_SANS_MAX + 1; i++)
		many[i] = "x.example";
	p = plain_profile("CN=a");
	assert_bad(x509_self_sign(fx->oct, &p, &der, &err), &err, "RSA or EC");
	assert_bad(x509_csr(fx->oct, &p, &der, &err), &err, "RSA or EC");
	p = plain_profile("CN=");
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "empty value");
	assert_bad(x509_csr(fx->rsa[0], &p, &der, &err), &err, "empty value");
	p = plain_profile("CN=a");
	p.not_after = p.not_before;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "validity");
	p.not_before = -1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "validity");
	p.not_before = 0;
	p.not_after = 253402300800LL;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "validity");
	p = plain_profile("CN=a");
	p.key_usage = 0x200;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "key usage");
	p = plain_profile("CN=a");
	p.sans.ips = bad_ip;
	p.sans.n_ips = 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "not an IPv4 or IPv6");
	p = plain_profile("CN=a");
	p.sans.dns = bad_dns;
	p.sans.n_dns = 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "DNS name");
	p.sans.dns = empty;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "DNS name");
	p = plain_profile("CN=a");
	p.sans.emails = empty;
	p.sans.n_emails = 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "email");
	p = plain_profile("CN=a");
	p.sans.uris = bad_dns;
	p.sans.n_uris = 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "URI");
	p = plain_profile("CN=a");
	p.sans.upns = bad_upn;
	p.sans.n_upns = 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "UPN");
	p.sans.upns = empty;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "UPN");
	p = plain_profile("CN=a");
	p.sans.dns = many;
	p.sans.n_dns = X509_SANS_MAX + 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "more than 100");
	p.sans.n_dns = X509_SANS_MAX;
	assert_int_equal(x509_self_sign(fx->ec[0], &p, &der, &err), 0);
	buf_reset(&der);
	p = plain_profile("CN=a");
	p.ekus = bad_eku;
	p.n_ekus = 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "dotted OID");
	p.ekus = bad_eku2;
	assert_bad(x509_csr(fx->rsa[0], &p, &der, &err), &err, "dotted OID");
	p.ekus = bad_eku3;
	assert_bad(x509_csr(fx->rsa[0], &p, &der, &err), &err, "dotted OID");
	p.ekus = empty;
	assert_bad(x509_csr(fx->rsa[0], &p, &der, &err), &err, "dotted OID");
	p.ekus = many;
	p.n_ekus = X509_EKUS_MAX + 1;
	assert_bad(x509_self_sign(fx->rsa[0], &p, &der, &err), &err, "more than 20");
	assert_int_equal(der.len, 0);	/* nothing appended by any refusal */
	buf_clear(&der);
}

/* ---- requests --------------------------------------------------------------------------- */

static void test_csr_openssl(void **state)
{
	struct x509_profile p = full_profile("CN=req, OU=unit");
	struct kl_err err = { 0 };
	struct buf der;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		buf_init(&der, X509_CERT_MAX);
		assert_int_equal(x509_csr(i == 0 ? fx->rsa[0] : fx->ec[3], &p, &der, &err), 0);
		write_file("r.der", der.data, der.len);
		assert_int_equal(
			sh("openssl req -inform DER -in r.der -verify -noout -text > r.txt"), 0);
		assert_true(file_has("r.txt", "Subject: OU = unit, CN = req"));
		assert_true(file_has("r.txt", "X509v3 Key Usage: critical"));
		assert_true(file_has("r.txt", "othername: UPN::user@corp.example"));
		assert_true(file_has("r.txt", "TLS Web Server Authentication"));
		assert_true(file_has("r.txt", "CA:FALSE"));
		assert_true(file_has("r.txt", "X509v3 Subject Key Identifier"));
		assert_true(file_has("r.txt", i == 0 ? "sha256WithRSAEncryption"
						     : "ecdsa-with-SHA512"));
		assert_false(file_has("r.txt", "Validity"));
		buf_clear(&der);
	}
}

/* ---- x509_info of certificates openssl made --------------------------------------------- */

static void info_of_file(const char *name, struct x509_info *info, struct kl_err *err, int want)
{
	struct buf der;

	buf_init(&der, 1u << 20);
	read_file(name, &der);
	x509_info_init(info);
	assert_int_equal(x509_info_of(der.data, der.len, info, err), want);
	buf_clear(&der);
}

static void test_info_openssl_cert(void **state)
{
	struct x509_info info;
	struct kl_err err = { 0 };

	(void)state;
	assert_int_equal(
		sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-521 -nodes "
		   "-keyout o.key -days 30 -outform DER -out o.der "
		   "-subj '/C=US/ST=WA/O=Acme, Inc./OU=a+OU=b/CN=x \\\"y\\\"/emailAddress=e@x.y' "
		   "-multivalue-rdn -addext 'subjectAltName=DNS:a.example,IP:::1,"
		   "otherName:1.2.3.4;UTF8:notupn,RID:1.2.3' -addext 'keyUsage=keyCertSign' "
		   "-addext 'extendedKeyUsage=codeSigning,1.2.3.4.5'"),
		0);
	info_of_file("o.der", &info, &err, 0);
	assert_string_equal(info.subject, "E=e@x.y, CN=\"x \"\"y\"\"\", OU=a + OU=b, "
					  "O=\"Acme, Inc.\", S=WA, C=US");
	assert_int_equal(info.sans.n_dns, 1);
	assert_int_equal(info.sans.n_ips, 1);
	assert_string_equal(info.sans.ips[0], "::1");
	assert_int_equal(info.sans.n_upns, 0);	/* another otherName */
	assert_true(info.has_key_usage);
	assert_int_equal(info.key_usage, X509_KU_KEY_CERT_SIGN);
	assert_int_equal(info.n_ekus, 2);
	assert_string_equal(info.ekus[0], "1.3.6.1.5.5.7.3.3");
	assert_string_equal(info.ekus[1], "1.2.3.4.5");
	assert_int_equal(info.kty, KEYOPS_EC);
	assert_int_equal(info.bits, 521);
	assert_string_equal(info.crv, "P-521");
	assert_int_equal(info.not_after - info.not_before, 30 * 86400);
	x509_info_clear(&info);

	/* An RSA-1024 certificate is still described (imports check keys elsewhere). */
	assert_int_equal(sh("openssl req -x509 -newkey rsa:1024 -nodes -keyout r1.key -days 1 "
			    "-outform DER -out r1.der -subj /CN=old"),
			 0);
	info_of_file("r1.der", &info, &err, 0);
	assert_int_equal(info.bits, 1024);
	assert_int_equal(info.kty, KEYOPS_RSA);
	assert_false(info.has_key_usage);
	x509_info_clear(&info);

	/* Ed25519, an unsupported curve: refused. */
	assert_int_equal(sh("openssl req -x509 -newkey ed25519 -nodes -keyout ed.key -days 1 "
			    "-outform DER -out ed.der -subj /CN=ed && "
			    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp224r1 "
			    "-nodes -keyout p224.key -days 1 -outform DER -out p224.der "
			    "-subj /CN=c"),
			 0);
	info_of_file("ed.der", &info, &err, -1);
	assert_bad(-1, &err, "neither RSA nor EC");
	info_of_file("p224.der", &info, &err, -1);
	assert_bad(-1, &err, "neither RSA nor EC");
	assert_null(info.subject);
}

static void test_info_x5t_matches_openssl(void **state)
{
	struct x509_profile p = plain_profile("CN=thumb");
	struct x509_info info;
	struct kl_err err = { 0 };
	struct buf der, fp;

	(void)state;
	self_signed(fx->rsa[0], &p, &der);
	write_file("t.der", der.data, der.len);
	/* SHA-1 fingerprint, as base64url without padding, by the openssl command. */
	assert_int_equal(sh("openssl x509 -inform DER -in t.der -outform DER | openssl dgst -sha1 "
			    "-binary | openssl base64 -A | tr '+/' '-_' | tr -d '=' > t.x5t"),
			 0);
	buf_init(&fp, 128);
	read_file("t.x5t", &fp);
	x509_info_init(&info);
	assert_int_equal(x509_info_of(der.data, der.len, &info, &err), 0);
	assert_string_equal(info.x5t, buf_cstr(&fp));
	x509_info_clear(&info);
	buf_clear(&fp);
	buf_clear(&der);
}

/* Certificates that hold more than a policy can say, or say it twice. */
static void test_info_refuses_excess(void **state)
{
	struct x509_info info;
	struct kl_err err = { 0 };
	char ekus[512] = "extendedKeyUsage=1.2.3.0", sans[4096] = "subjectAltName=DNS:a0.example";
	int i;

	(void)state;
	for (i = 1; i < 21; i++)
		snprintf(ekus + strlen(ekus), sizeof(ekus) - strlen(ekus), ",1.2.3.%d", i);
	for (i = 1; i < 101; i++)
		snprintf(sans + strlen(sans), sizeof(sans) - strlen(sans), ",DNS:a%d.example", i);
	assert_int_equal(sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
			    "-keyout x.key -days 1 -outform DER -out ekus.der -subj /CN=e "
			    "-addext '%s' && "
			    "openssl req -x509 -key x.key -days 1 -outform DER -out sans.der -subj "
			    "/CN=s -addext '%s'",
			    ekus, sans),
			 0);
	info_of_file("ekus.der", &info, &err, -1);
	assert_bad(-1, &err, "more than 20 extended key usages");
	info_of_file("sans.der", &info, &err, -1);
	assert_bad(-1, &err, "more than 100 names of type DNS");
	assert_null(info.subject);
}

/* The same extension twice: which one would the policy show? Refused. */
static void test_info_refuses_repeated_extension(void **state)
{
	struct x509_profile p = full_profile("CN=twice");
	struct x509_info info;
	struct kl_err err = { 0 };
	const unsigned char *q;
	unsigned char *der = NULL;
	X509_EXTENSION *ext;
	EVP_PKEY *pkey = NULL;
	X509 *x;
	struct buf orig;
	int len;

	(void)state;
	self_signed(fx->ec[0], &p, &orig);
	q = orig.data;
	assert_non_null(x = d2i_X509(NULL, &q, (long)orig.len));
	ext = X509_get_ext(x, X509_get_ext_by_NID(x, NID_subject_alt_name, -1));
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	/* Signed again by some key: x509_info does not check signatures. */
	assert_non_null(pkey = EVP_EC_gen("P-256"));
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
	assert_true((len = i2d_X509(x, &der)) > 0);
	x509_info_init(&info);
	assert_bad(x509_info_of(der, (size_t)len, &info, &err), &err, "malformed or repeated");
	assert_null(info.subject);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
	X509_free(x);
	buf_clear(&orig);
}

static void test_info_refuses_non_certificates(void **state)
{
	struct x509_profile p = plain_profile("CN=x");
	struct x509_info info;
	struct kl_err err = { 0 };
	struct buf der, big;

	(void)state;
	self_signed(fx->rsa[0], &p, &der);
	x509_info_init(&info);
	assert_bad(x509_info_of(der.data, der.len - 1, &info, &err), &err, "not a DER X.509");
	assert_int_equal(buf_putc(&der, 0, &err), 0);	/* a byte after the certificate */
	assert_bad(x509_info_of(der.data, der.len, &info, &err), &err, "not a DER X.509");
	assert_bad(x509_info_of("garbage", 7, &info, &err), &err, "not a DER X.509");
	assert_bad(x509_info_of(NULL, 0, &info, &err), &err, "not a DER X.509");
	buf_init(&big, X509_CERT_MAX + 16);
	assert_int_equal(buf_append(&big, der.data, der.len - 1, &err), 0);
	while (big.len <= X509_CERT_MAX)
		assert_int_equal(buf_putc(&big, 0, &err), 0);
	assert_bad(x509_info_of(big.data, big.len, &info, &err), &err, "at most");
	assert_null(info.subject);
	buf_clear(&big);
	buf_clear(&der);
}

/* ---- chains ----------------------------------------------------------------------------- */

static void test_chain(void **state)
{
	struct x509_profile p = plain_profile("CN=c");
	struct x509_chain c;
	struct kl_err err = { 0 };
	struct buf der[3];
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++)
		self_signed(fx->ec[i], &p, &der[i]);
	x509_chain_init(&c);
	x509_chain_clear(&c);	/* empty: harmless */
	for (i = 0; i < 3; i++)
		assert_int_equal(x509_chain_add(&c, der[i].data, der[i].len, &err), 0);
	assert_bad(x509_chain_add(&c, der[0].data, der[0].len - 1, &err), &err, "not a DER");
	assert_bad(x509_chain_add(&c, der[0].data, X509_CERT_MAX + 1, &err), &err, "larger than");
	assert_int_equal(c.n, 3);
	assert_int_equal(x509_chain_leaf_first(&c, fx->ec[2], &err), 0);
	assert_memory_equal(c.der[0].data, der[2].data, der[2].len);
	assert_memory_equal(c.der[1].data, der[0].data, der[0].len);
	assert_memory_equal(c.der[2].data, der[1].data, der[1].len);
	assert_int_equal(x509_chain_leaf_first(&c, fx->ec[2], &err), 0);	/* already first */
	assert_memory_equal(c.der[0].data, der[2].data, der[2].len);
	assert_bad(x509_chain_leaf_first(&c, fx->rsa[0], &err), &err, "no certificate matches");
	assert_bad(x509_chain_leaf_first(&c, fx->oct, &err), &err, "no certificate matches");
	while (c.n < X509_CHAIN_MAX)
		assert_int_equal(x509_chain_add(&c, der[0].data, der[0].len, &err), 0);
	assert_bad(x509_chain_add(&c, der[0].data, der[0].len, &err), &err, "more than 10");
	x509_chain_clear(&c);
	assert_int_equal(c.n, 0);
	assert_null(c.der);
	for (i = 0; i < 3; i++)
		buf_clear(&der[i]);
}

/* ---- export ----------------------------------------------------------------------------- */

/* A chain of leaf (for k) and a second, unrelated certificate. */
static void two_chain(const struct keyops_key *k, struct x509_chain *c)
{
	struct x509_profile p = full_profile("CN=leaf");
	struct x509_profile q = plain_profile("CN=other");
	struct kl_err err = { 0 };
	struct buf a, b;

	self_signed(k, &p, &a);
	self_signed(fx->ec[0], &q, &b);
	x509_chain_init(c);
	assert_int_equal(x509_chain_add(c, a.data, a.len, &err), 0);
	assert_int_equal(x509_chain_add(c, b.data, b.len, &err), 0);
	buf_clear(&a);
	buf_clear(&b);
}

static void test_export_pfx_openssl(void **state)
{
	const struct keyops_key *keys[] = { fx->rsa[0], fx->ec[1], fx->ec[3] };
	struct x509_chain c;
	struct kl_err err = { 0 };
	struct buf pfx;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		two_chain(keys[i], &c);
		buf_init_secret(&pfx, X509_UPLOAD_MAX);
		assert_int_equal(x509_export_pfx(keys[i], &c, &pfx, &err), 0);
		write_file("e.pfx", pfx.data, pfx.len);
		assert_int_equal(sh("rm -f e.txt e.out && openssl pkcs12 -in e.pfx -passin pass: "
				    "-nodes -info -out e.out 2> e.txt"),
				 0);
		assert_true(file_has("e.txt", "MAC: sha256"));
		assert_true(file_has("e.txt", "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, "
					      "Iteration 2048, PRF hmacWithSHA256"));
		assert_true(file_has("e.txt", "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, "
					      "Iteration 2048, PRF hmacWithSHA256"));
		assert_true(file_has("e.out", "-----BEGIN PRIVATE KEY-----"));
		assert_true(file_has("e.out", "subject=CN = leaf"));
		assert_true(file_has("e.out", "subject=CN = other"));
		/* The key in the file is the key. */
		assert_int_equal(sh("openssl pkey -in e.out -pubout -out e.pub && openssl x509 -in "
				    "e.out -pubkey -noout > l.pub && cmp e.pub l.pub"),
				 0);
		/* A wrong password does not open it: the password really is empty. */
		assert_int_not_equal(sh("openssl pkcs12 -in e.pfx -passin pass:x -nodes -out "
					"/dev/null"),
				     0);
		x509_chain_clear(&c);
		buf_clear(&pfx);
	}
}

static void test_export_pfx_certificates_only(void **state)
{
	struct x509_chain c;
	struct kl_err err = { 0 };
	struct buf pfx;

	(void)state;
	two_chain(fx->rsa[0], &c);
	buf_init_secret(&pfx, X509_UPLOAD_MAX);
	assert_int_equal(x509_export_pfx(NULL, &c, &pfx, &err), 0);
	write_file("n.pfx", pfx.data, pfx.len);
	assert_int_equal(sh("rm -f n.txt && openssl pkcs12 -in n.pfx -passin pass: -nodes "
			    "-info -out n.out 2> n.txt"),
			 0);
	assert_true(file_has("n.txt", "MAC: sha256"));
	assert_false(file_has("n.out", "PRIVATE KEY"));
	assert_true(file_has("n.out", "subject=CN = leaf"));
	assert_true(file_has("n.out", "subject=CN = other"));
	x509_chain_clear(&c);
	buf_clear(&pfx);
}

static void test_export_refusals(void **state)
{
	struct x509_chain c, empty;
	struct kl_err err = { 0 };
	struct buf out;

	(void)state;
	two_chain(fx->rsa[0], &c);
	x509_chain_init(&empty);
	buf_init_secret(&out, X509_UPLOAD_MAX);
	assert_bad(x509_export_pfx(fx->rsa[1], &c, &out, &err), &err, "not the key's");
	assert_bad(x509_export_pem(fx->rsa[1], &c, &out, &err), &err, "not the key's");
	assert_bad(x509_export_pfx(fx->oct, &c, &out, &err), &err, "RSA and EC");
	assert_bad(x509_export_pem(fx->oct, &c, &out, &err), &err, "RSA and EC");
	assert_bad(x509_export_pfx(fx->rsa[0], &empty, &out, &err), &err, "1 to 10");
	assert_bad(x509_export_pem(NULL, &empty, &out, &err), &err, "1 to 10");
	buf_truncate(&c.der[1], c.der[1].len - 1);	/* damaged second certificate */
	assert_bad(x509_export_pem(fx->rsa[0], &c, &out, &err), &err, "certificate 2");
	assert_int_equal(out.len, 0);
	x509_chain_clear(&c);
	buf_clear(&out);
}

/* Base64 lines of at most 64 characters, "\n" ends, exactly one final "\n". */
static void assert_pem_layout(const char *s, size_t n)
{
	const char *line = s, *nl;

	assert_int_equal(s[n - 1], '\n');
	assert_int_not_equal(s[n - 2], '\n');
	assert_null(strchr(s, '\r'));
	while ((nl = strchr(line, '\n')) != NULL) {
		assert_true(nl - line <= 64);
		line = nl + 1;
	}
}

static void test_export_pem(void **state)
{
	struct x509_chain c;
	struct kl_err err = { 0 };
	struct buf pem;
	const char *s, *second;

	(void)state;
	two_chain(fx->ec[2], &c);
	buf_init_secret(&pem, X509_UPLOAD_MAX);
	assert_int_equal(x509_export_pem(fx->ec[2], &c, &pem, &err), 0);
	s = buf_cstr(&pem);
	assert_pem_layout(s, pem.len);
	assert_memory_equal(s, "-----BEGIN PRIVATE KEY-----\n", 28);
	assert_non_null(strstr(s, "-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\n"));
	assert_non_null(second = strstr(strstr(s, "-----END CERTIFICATE-----\n"),
					"-----BEGIN CERTIFICATE-----\n"));
	assert_string_equal(s + pem.len - 26, "-----END CERTIFICATE-----\n");
	write_file("p.pem", pem.data, pem.len);
	assert_int_equal(sh("openssl pkey -in p.pem -pubout -out p.pub && openssl x509 -in p.pem "
			    "-pubkey -noout > pl.pub && cmp p.pub pl.pub && openssl x509 -in p.pem "
			    "-noout -subject | grep -q 'CN = leaf'"),
			 0);
	/* The second block is the second certificate of the chain. */
	write_file("p2.pem", second, strlen(second));
	assert_int_equal(sh("openssl x509 -in p2.pem -noout -subject | grep -q 'CN = other'"), 0);
	buf_reset(&pem);
	assert_int_equal(x509_export_pem(NULL, &c, &pem, &err), 0);
	assert_memory_equal(buf_cstr(&pem), "-----BEGIN CERTIFICATE-----\n", 28);
	assert_null(strstr(buf_cstr(&pem), "PRIVATE"));
	assert_pem_layout(buf_cstr(&pem), pem.len);
	x509_chain_clear(&c);
	buf_clear(&pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subject_check_accepts),
		cmocka_unit_test(test_subject_check_refuses),
		cmocka_unit_test(test_self_sign_round_trip),
		cmocka_unit_test(test_self_sign_serial),
		cmocka_unit_test(test_self_sign_every_key_type),
		cmocka_unit_test(test_self_sign_minimal),
		cmocka_unit_test(test_self_sign_all_key_usages),
		cmocka_unit_test(test_self_sign_refusals),
		cmocka_unit_test(test_csr_openssl),
		cmocka_unit_test(test_info_openssl_cert),
		cmocka_unit_test(test_info_x5t_matches_openssl),
		cmocka_unit_test(test_info_refuses_excess),
		cmocka_unit_test(test_info_refuses_repeated_extension),
		cmocka_unit_test(test_info_refuses_non_certificates),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_export_pfx_openssl),
		cmocka_unit_test(test_export_pfx_certificates_only),
		cmocka_unit_test(test_export_refusals),
		cmocka_unit_test(test_export_pem),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
