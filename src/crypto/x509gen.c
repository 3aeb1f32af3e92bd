/* x509gen.c owns what kluis writes about a key of its own: the subject syntax of a policy
 * ("CN=a, O=b"), the extensions of a profile (keyUsage, extendedKeyUsage, subjectAltName,
 * basicConstraints, subject key identifier), self-signed certificates and PKCS#10 requests. It
 * must never sign with anything but SHA-2, never let a client string reach an OpenSSL
 * configuration parser (every extension is built as a structure), and never put key material in
 * a message. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/keyops_internal.h"
#include "crypto/rand.h"
#include "crypto/x509_internal.h"
#include "util/utf8.h"

#define SUBJECT_MAX 1024	/* characters of a subject string */
#define SUBJECT_RDNS_MAX 32
#define SAN_TEXT_MAX 1024	/* bytes of one subject alternative name */
#define OID_TEXT_MAX 100
#define SERIAL_BYTES 16
#define KU_ALL 0x1ffu
#define UPN_OID "1.3.6.1.4.1.311.20.2.3"
/* 9999-12-31T23:59:59Z, the last second a GeneralizedTime of RFC 5280 can say. */
#define TIME_LAST 253402300799LL

/* Subject attributes: the first name of a nid is the one x509_info writes. */
static const struct {
	const char *name;
	int nid;
} attrs[] = {
	{ "CN", NID_commonName },
	{ "O", NID_organizationName },
	{ "OU", NID_organizationalUnitName },
	{ "L", NID_localityName },
	{ "S", NID_stateOrProvinceName },
	{ "ST", NID_stateOrProvinceName },
	{ "C", NID_countryName },
	{ "E", NID_pkcs9_emailAddress },
	{ "DC", NID_domainComponent },
	{ "STREET", NID_streetAddress },
	{ "SERIALNUMBER", NID_serialNumber },
};

#define N_ATTRS (sizeof(attrs) / sizeof(attrs[0]))

const char *x509_attr_name(int nid)
{
	size_t i;

	for (i = 0; i < N_ATTRS; i++) {
		if (attrs[i].nid == nid)
			return attrs[i].name;
	}
	return NULL;
}

static int attr_nid(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < N_ATTRS; i++) {
		if (strlen(attrs[i].name) == len && strncasecmp(attrs[i].name, name, len) == 0)
			return attrs[i].nid;
	}
	return NID_undef;
}

/* ---- subject ---------------------------------------------------------------------------- */

/* Reads one value at s[*i]: "quoted" (with "" or \x for a literal character) or bare up to the
 * next unescaped comma (\x for a literal character, outer spaces dropped). Leaves *i on the
 * comma or the end. */
static int subject_value(const char *s, size_t *i, char *val, size_t *vlen, struct kl_err *err)
{
	size_t n = 0, keep = 0;	/* keep: length that trailing-space trimming must not cut */

	if (s[*i] == '"') {
		for ((*i)++;; (*i)++) {
			if (s[*i] == '\0')
				return x509_bad(err, "subject: a quoted value is not closed");
			if (s[*i] == '"' && s[*i + 1] == '"')
				(*i)++;
			else if (s[*i] == '"')
				break;
			else if (s[*i] == '\\' && s[*i + 1] != '\0')
				(*i)++;
			val[n++] = s[*i];
		}
		for ((*i)++; s[*i] == ' '; (*i)++)
			;
		if (s[*i] != ',' && s[*i] != '\0')
			return x509_bad(err, "subject: text after a quoted value");
		keep = n;
	} else {
		for (; s[*i] != ',' && s[*i] != '\0'; (*i)++) {
			if (s[*i] == '\\' && s[*i + 1] != '\0') {
				(*i)++;
				val[n++] = s[*i];
				keep = n;
			} else {
				val[n++] = s[*i];
			}
		}
		while (n > keep && val[n - 1] == ' ')
			n--;
	}
	*vlen = n;
	return 0;
}

/* The X509_NAME of a subject string. The string lists the most significant attribute first
 * (as Windows and RFC 4514 print names), so the DER holds them in the reverse order. */
static int subject_parse(const char *s, X509_NAME **out, struct kl_err *err)
{
	X509_NAME *name = NULL;
	char *val = NULL;
	size_t len = s != NULL ? strlen(s) : 0, i = 0, start, vlen = 0, rdns = 0;
	int nid, rc = -1;

	if (len == 0) {
		x509_bad(err, "subject is empty");
		goto out;
	}
	if (len > SUBJECT_MAX) {
		x509_bad(err, "subject is longer than %d characters", SUBJECT_MAX);
		goto out;
	}
	if ((name = X509_NAME_new()) == NULL || (val = malloc(len + 1)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		while (s[i] == ' ')
			i++;
		for (start = i; (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'); i++)
			;
		if ((nid = attr_nid(s + start, i - start)) == NID_undef) {
			x509_bad(err,
				 "subject: unknown attribute \"%.16s\" (CN, O, OU, L, S, ST, C, E, "
				 "DC, STREET, SERIALNUMBER)",
				 s + start);
			goto out;
		}
		while (s[i] == ' ')
			i++;
		if (s[i] != '=') {
			x509_bad(err, "subject: expected ATTR=value");
			goto out;
		}
		for (i++; s[i] == ' '; i++)
			;
		if (subject_value(s, &i, val, &vlen, err) != 0)
			goto out;
		if (vlen == 0) {
			x509_bad(err, "subject: %s has an empty value", x509_attr_name(nid));
			goto out;
		}
		if (++rdns > SUBJECT_RDNS_MAX) {
			x509_bad(err, "subject has more than %d attributes", SUBJECT_RDNS_MAX);
			goto out;
		}
		if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (unsigned char *)val,
					       (int)vlen, 0, 0) != 1) {
			x509_bad(err, "subject: the value of %s is not allowed (length or text)",
				 x509_attr_name(nid));
			goto out;
		}
		if (s[i] == '\0')
			break;
		i++;	/* the comma */
	}
	*out = name;
	name = NULL;
	rc = 0;
out:
	free(val);
	X509_NAME_free(name);
	return rc;
}

int x509_subject_check(const char *subject, struct kl_err *err)
{
	X509_NAME *name = NULL;
	int rc = subject_parse(subject, &name, err);

	X509_NAME_free(name);
	return rc;
}

/* ---- extensions ------------------------------------------------------------------------- */

/* ASCII without spaces or controls, 1 to SAN_TEXT_MAX bytes: what an IA5String name may be. */
static bool ia5_name_ok(const char *s)
{
	size_t i, len = strlen(s);

	for (i = 0; i < len; i++) {
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	}
	return len > 0 && len <= SAN_TEXT_MAX;
}

static bool utf8_text_ok(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, step;

	while (i < len) {
		if ((step = utf8_seq_len(u + i, len - i)) == 0 || u[i] < ' ')
			return false;
		i += step;
	}
	return len > 0 && len <= SAN_TEXT_MAX;
}

/* One subjectAltName entry of type gen_type (GEN_DNS, GEN_EMAIL, GEN_URI, GEN_IPADD or
 * GEN_OTHERNAME for a UPN), appended to gens. */
static int san_add(GENERAL_NAMES *gens, int gen_type, const char *kind, const char *s,
		   struct kl_err *err)
{
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_TYPE *upn = NULL;
	ASN1_UTF8STRING *utf8 = NULL;
	ASN1_OBJECT *oid = NULL;
	int rc = -1;

	if (gen == NULL)
		goto oom;
	if (gen_type == GEN_IPADD) {
		if ((ip = a2i_IPADDRESS(s)) == NULL) {
			x509_bad(err, "%s \"%.64s\" is not an IPv4 or IPv6 address", kind, s);
			goto out;
		}
		GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
		ip = NULL;
	} else if (gen_type == GEN_OTHERNAME) {
		if (!utf8_text_ok(s)) {
			x509_bad(err, "a %s is empty, too long or not UTF-8 text", kind);
			goto out;
		}
		if ((utf8 = ASN1_UTF8STRING_new()) == NULL || (upn = ASN1_TYPE_new()) == NULL ||
		    (oid = OBJ_txt2obj(UPN_OID, 1)) == NULL ||
		    ASN1_STRING_set(utf8, s, (int)strlen(s)) != 1)
			goto oom;
		ASN1_TYPE_set(upn, V_ASN1_UTF8STRING, utf8);
		utf8 = NULL;
		if (GENERAL_NAME_set0_othername(gen, oid, upn) != 1)
			goto oom;
		oid = NULL;
		upn = NULL;
	} else {
		if (!ia5_name_ok(s)) {
			x509_bad(err, "a %s is empty, too long or has characters outside printable "
				      "ASCII", kind);
			goto out;
		}
		if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
		    ASN1_STRING_set(ia5, s, (int)strlen(s)) != 1)
			goto oom;
		GENERAL_NAME_set0_value(gen, gen_type, ia5);
		ia5 = NULL;
	}
	if (sk_GENERAL_NAME_push(gens, gen) <= 0)
		goto oom;
	gen = NULL;
	rc = 0;
	goto out;
oom:
	kl_fail(err, KL_ENOMEM, "out of memory");
out:
	GENERAL_NAME_free(gen);
	ASN1_IA5STRING_free(ia5);
	ASN1_OCTET_STRING_free(ip);
	ASN1_TYPE_free(upn);
	ASN1_UTF8STRING_free(utf8);
	ASN1_OBJECT_free(oid);
	ERR_clear_error();
	return rc;
}

static int sans_build(const struct x509_sans *sans, GENERAL_NAMES *gens, struct kl_err *err)
{
	const struct {
		char *const *list;
		size_t n;
		int type;
		const char *kind;
	} kinds[] = {
		{ sans->dns, sans->n_dns, GEN_DNS, "DNS name" },
		{ sans->emails, sans->n_emails, GEN_EMAIL, "email" },
		{ sans->upns, sans->n_upns, GEN_OTHERNAME, "UPN" },
		{ sans->uris, sans->n_uris, GEN_URI, "URI" },
		{ sans->ips, sans->n_ips, GEN_IPADD, "IP address" },
	};
	size_t k, i;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (kinds[k].n > X509_SANS_MAX)
			return x509_bad(err, "more than %d subject alternative names of type %s",
					X509_SANS_MAX, kinds[k].kind);
		assert(kinds[k].n == 0 || kinds[k].list != NULL);
		for (i = 0; i < kinds[k].n; i++) {
			if (san_add(gens, kinds[k].type, kinds[k].kind, kinds[k].list[i], err) != 0)
				return -1;
		}
	}
	return 0;
}

/* A dotted OID of digits, as a policy gives it. */
static ASN1_OBJECT *eku_oid(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > OID_TEXT_MAX || s[0] == '.' || s[len - 1] == '.')
		return NULL;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && s[i + 1] != '.')))
			return NULL;
	}
	return OBJ_txt2obj(s, 1);
}

/* Appends one extension made from its structure, then frees nothing (the caller owns value). */
static int ext_push(STACK_OF(X509_EXTENSION) *exts, int nid, int crit, void *value,
		    struct kl_err *err)
{
	X509_EXTENSION *ext = X509V3_EXT_i2d(nid, crit, value);

	if (ext == NULL || sk_X509_EXTENSION_push(exts, ext) <= 0) {
		X509_EXTENSION_free(ext);
		return keyops_ossl_fail(err, "building a certificate extension");
	}
	return 0;
}

/* SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
static int ski_push(STACK_OF(X509_EXTENSION) *exts, EVP_PKEY *pkey, struct kl_err *err)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	X509_PUBKEY *xpk = NULL;
	ASN1_OCTET_STRING *ski = NULL;
	const unsigned char *pk = NULL;
	int pklen = 0, rc = -1;

	if (X509_PUBKEY_set(&xpk, pkey) != 1 ||
	    X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) != 1 ||
	    SHA1(pk, (size_t)pklen, md) == NULL || (ski = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(ski, md, sizeof(md)) != 1) {
		keyops_ossl_fail(err, "subject key identifier");
		goto out;
	}
	rc = ext_push(exts, NID_subject_key_identifier, 0, ski, err);
out:
	ASN1_OCTET_STRING_free(ski);
	X509_PUBKEY_free(xpk);
	return rc;
}

/* keyUsage, extendedKeyUsage, subjectAltName, basicConstraints and subjectKeyIdentifier for
 * profile p and key pkey. */
static int exts_build(const struct x509_profile *p, EVP_PKEY *pkey,
		      STACK_OF(X509_EXTENSION) *exts, struct kl_err *err)
{
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	GENERAL_NAMES *gens = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	ASN1_OBJECT *oid = NULL;
	size_t i;
	int bit, rc = -1;

	if ((p->key_usage & ~KU_ALL) != 0) {
		x509_bad(err, "unknown key usage bits 0x%x", p->key_usage & ~KU_ALL);
		goto out;
	}
	if (p->n_ekus > X509_EKUS_MAX) {
		x509_bad(err, "more than %d extended key usages", X509_EKUS_MAX);
		goto out;
	}
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL || (gens = GENERAL_NAMES_new()) == NULL ||
	    (bc = BASIC_CONSTRAINTS_new()) == NULL)
		goto oom;
	if (p->key_usage != 0) {
		if ((ku = ASN1_BIT_STRING_new()) == NULL)
			goto oom;
		for (bit = 0; bit < 9; bit++) {
			if ((p->key_usage & (1u << bit)) != 0 &&
			    ASN1_BIT_STRING_set_bit(ku, bit, 1) != 1)
				goto oom;
		}
		if (ext_push(exts, NID_key_usage, 1, ku, err) != 0)
			goto out;
	}
	assert(p->n_ekus == 0 || p->ekus != NULL);
	for (i = 0; i < p->n_ekus; i++) {
		if ((oid = eku_oid(p->ekus[i])) == NULL) {
			x509_bad(err, "extended key usage \"%.64s\" is not a dotted OID",
				 p->ekus[i]);
			goto out;
		}
		if (sk_ASN1_OBJECT_push(eku, oid) <= 0)
			goto oom;
		oid = NULL;
	}
	if (p->n_ekus > 0 && ext_push(exts, NID_ext_key_usage, 0, eku, err) != 0)
		goto out;
	if (sans_build(&p->sans, gens, err) != 0)
		goto out;
	if (sk_GENERAL_NAME_num(gens) > 0 &&
	    ext_push(exts, NID_subject_alt_name, 0, gens, err) != 0)
		goto out;
	bc->ca = 0;
	if (ext_push(exts, NID_basic_constraints, 0, bc, err) != 0 ||
	    ski_push(exts, pkey, err) != 0)
		goto out;
	rc = 0;
	goto out;
oom:
	kl_fail(err, KL_ENOMEM, "out of memory");
out:
	ASN1_OBJECT_free(oid);
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	GENERAL_NAMES_free(gens);
	BASIC_CONSTRAINTS_free(bc);
	ERR_clear_error();
	return rc;
}

/* The digest a key signs certificates with: SHA-256 for RSA, by curve for EC. */
static const EVP_MD *sign_md(const struct keyops_key *k)
{
	const char *crv = keyops_curve(k);

	if (keyops_type(k) == KEYOPS_EC && strcmp(crv, "P-384") == 0)
		return EVP_sha384();
	if (keyops_type(k) == KEYOPS_EC && strcmp(crv, "P-521") == 0)
		return EVP_sha512();
	return EVP_sha256();
}

/* What a certificate and a request share: the key, the subject and the extensions. */
static int profile_build(const struct keyops_key *k, const struct x509_profile *p,
			 X509_NAME **name, STACK_OF(X509_EXTENSION) **exts, struct kl_err *err)
{
	EVP_PKEY *pkey = x509_pkey_of(k);

	if (pkey == NULL)
		return x509_bad(err, "certificates need an RSA or EC key");
	if ((*exts = sk_X509_EXTENSION_new_null()) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	if (subject_parse(p->subject, name, err) != 0 || exts_build(p, pkey, *exts, err) != 0)
		return -1;
	return 0;
}

static void profile_free(X509_NAME *name, STACK_OF(X509_EXTENSION) *exts)
{
	X509_NAME_free(name);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

/* Appends der[0..len) (what an i2d function wrote) to out and frees der. */
static int der_append(struct buf *out, int len, unsigned char *der, struct kl_err *err)
{
	int rc;

	if (len <= 0)
		rc = keyops_ossl_fail(err, "encoding a certificate");
	else
		rc = buf_append(out, der, (size_t)len, err);
	OPENSSL_free(der);
	return rc;
}

/* 16 random bytes, the first in 0x40..0x7f: positive and always 16 bytes long in DER. */
static int serial_set(X509 *x, struct kl_err *err)
{
	unsigned char bytes[SERIAL_BYTES];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (crypto_random(bytes, sizeof(bytes), err) != 0)
		goto out;
	bytes[0] = (unsigned char)((bytes[0] & 0x3f) | 0x40);
	if ((bn = BN_bin2bn(bytes, sizeof(bytes), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		keyops_ossl_fail(err, "certificate serial number");
		goto out;
	}
	rc = 0;
out:
	BN_free(bn);
	return rc;
}

int x509_self_sign(const struct keyops_key *k, const struct x509_profile *p, struct buf *der,
		   struct kl_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_NAME *name = NULL;
	X509 *x = NULL;
	unsigned char *out = NULL;
	int i, len, rc = -1;

	if (profile_build(k, p, &name, &exts, err) != 0)
		goto out;
	if (p->not_before < 0 || p->not_after <= p->not_before || p->not_after > TIME_LAST) {
		x509_bad(err, "certificate validity must end after it starts, before year 10000");
		goto out;
	}
	if ((x = X509_new()) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (serial_set(x, err) != 0)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)p->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)p->not_after) == NULL ||
	    X509_set_pubkey(x, x509_pkey_of(k)) != 1) {
		keyops_ossl_fail(err, "building a certificate");
		goto out;
	}
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		if (X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1) != 1) {
			keyops_ossl_fail(err, "adding a certificate extension");
			goto out;
		}
	}
	if (X509_sign(x, x509_pkey_of(k), sign_md(k)) <= 0) {
		keyops_ossl_fail(err, "signing a certificate");
		goto out;
	}
	len = i2d_X509(x, &out);
	rc = der_append(der, len, out, err);
out:
	X509_free(x);
	profile_free(name, exts);
	return rc;
}

int x509_csr(const struct keyops_key *k, const struct x509_profile *p, struct buf *der,
	     struct kl_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_NAME *name = NULL;
	X509_REQ *req = NULL;
	unsigned char *out = NULL;
	int len, rc = -1;

	if (profile_build(k, p, &name, &exts, err) != 0)
		goto out;
	if ((req = X509_REQ_new()) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, x509_pkey_of(k)) != 1 ||
	    X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, x509_pkey_of(k), sign_md(k)) <= 0) {
		keyops_ossl_fail(err, "building a certificate request");
		goto out;
	}
	len = i2d_X509_REQ(req, &out);
	rc = der_append(der, len, out, err);
out:
	X509_REQ_free(req);
	profile_free(name, exts);
	return rc;
}
