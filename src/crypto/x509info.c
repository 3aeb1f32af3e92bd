/* x509info.c owns what kluis reads out of one certificate for a bundle or an imported policy:
 * the subject as text, subject alternative names, key usage, extended key usages, validity, x5t
 * and the public key's type and size. It must never hand out text that is not UTF-8 (bytes that
 * are not become U+FFFD), never hold more names than X509_SANS_MAX or X509_EKUS_MAX per kind,
 * and never trust a length it did not check. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto/keyops_internal.h"
#include "crypto/x509_internal.h"
#include "util/b64url.h"
#include "util/utf8.h"

#define INFO_TEXT_MAX (64u * 1024)	/* bytes of one rendered string (subject, a name) */

void x509_info_init(struct x509_info *i)
{
	memset(i, 0, sizeof(*i));
}

static void list_free(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

void x509_info_clear(struct x509_info *i)
{
	free(i->subject);
	list_free(i->sans.dns, i->sans.n_dns);
	list_free(i->sans.emails, i->sans.n_emails);
	list_free(i->sans.upns, i->sans.n_upns);
	list_free(i->sans.uris, i->sans.n_uris);
	list_free(i->sans.ips, i->sans.n_ips);
	list_free(i->ekus, i->n_ekus);
	x509_info_init(i);
}

/* Appends p[0..n) as UTF-8 text: a byte that starts no well-formed sequence, and NUL, become
 * U+FFFD. */
static int text_append(struct buf *b, const unsigned char *p, size_t n, struct kl_err *err)
{
	size_t i = 0, step;

	while (i < n) {
		step = p[i] != 0 ? utf8_seq_len(p + i, n - i) : 0;
		if (step == 0) {
			if (buf_append(b, "\xef\xbf\xbd", 3, err) != 0)
				return -1;
			i++;
		} else {
			if (buf_append(b, p + i, step, err) != 0)
				return -1;
			i += step;
		}
	}
	return 0;
}

/* Adds a copy of the text in b to *list (of *n entries). */
static int list_add(char ***list, size_t *n, struct buf *b, const char *kind, struct kl_err *err)
{
	char **grown;
	size_t len;

	if (*n >= X509_SANS_MAX)
		return x509_bad(err, "the certificate has more than %d names of type %s",
				X509_SANS_MAX, kind);
	if ((grown = realloc(*list, (*n + 1) * sizeof(**list))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	*list = grown;
	if (b->data == NULL && buf_append(b, "", 0, err) != 0)
		return -1;
	if (((*list)[*n] = (char *)buf_steal(b, &len)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	(*n)++;
	return 0;
}

/* ---- subject ---------------------------------------------------------------------------- */

/* Does a value need quotes to read back as one value? */
static bool needs_quotes(const unsigned char *v, size_t n)
{
	size_t i;

	if (n == 0 || v[0] == ' ' || v[n - 1] == ' ')
		return true;
	for (i = 0; i < n; i++) {
		if (strchr(",+=\"\\<>#;\r\n", v[i]) != NULL && v[i] != '\0')
			return true;
	}
	return false;
}

static int attr_append(struct buf *b, const X509_NAME_ENTRY *e, struct kl_err *err)
{
	const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
	const char *name = x509_attr_name(OBJ_obj2nid(obj));
	unsigned char *v = NULL;
	const unsigned char *raw;
	char oid[128];
	size_t step;
	int n, i, next, rc = -1;

	if (name == NULL && OBJ_obj2nid(obj) != NID_undef)
		name = OBJ_nid2sn(OBJ_obj2nid(obj));
	if (name == NULL) {
		if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0 ||
		    strlen(oid) >= sizeof(oid) - 1) {
			x509_bad(err, "the certificate's subject has an unreadable attribute");
			goto out;
		}
		if (buf_printf(b, err, "OID.%s=", oid) != 0)
			goto out;
	} else if (buf_printf(b, err, "%s=", name) != 0) {
		goto out;
	}
	if ((n = ASN1_STRING_to_UTF8(&v, X509_NAME_ENTRY_get_data(e))) < 0) {
		/* Not convertible (a BMPString of odd length...) or out of memory: the bytes as
		 * given, made UTF-8 below. */
		ERR_clear_error();
		v = NULL;
		raw = ASN1_STRING_get0_data(X509_NAME_ENTRY_get_data(e));
		n = ASN1_STRING_length(X509_NAME_ENTRY_get_data(e));
	} else {
		raw = v;
	}
	if (!needs_quotes(raw, (size_t)n)) {
		rc = text_append(b, raw, (size_t)n, err);
		goto out;
	}
	if (buf_putc(b, '"', err) != 0)
		goto out;
	for (i = 0; i < n; i = next) {
		/* Whole UTF-8 sequences at a time, so text_append sees them whole. */
		step = raw[i] != 0 ? utf8_seq_len(raw + i, (size_t)(n - i)) : 0;
		next = i + (step > 0 ? (int)step : 1);
		if ((raw[i] == '"' && buf_putc(b, '"', err) != 0) ||
		    (raw[i] == '\\' && buf_putc(b, '\\', err) != 0) ||
		    text_append(b, raw + i, (size_t)(next - i), err) != 0)
			goto out;
	}
	rc = buf_putc(b, '"', err);
out:
	OPENSSL_free(v);
	return rc;
}

/* Most significant first (the reverse of the DER order), ", " between RDNs, " + " inside one. */
static int subject_text(const X509_NAME *nm, char **out, struct kl_err *err)
{
	struct buf b;
	size_t len;
	int i, j, k, set, n = X509_NAME_entry_count(nm), rc = -1;

	buf_init(&b, INFO_TEXT_MAX);
	if (buf_append(&b, "", 0, err) != 0)
		goto out;
	for (i = n - 1; i >= 0; i = j - 1) {
		/* The RDN ending at entry i: entries j..i share its set number. */
		set = X509_NAME_ENTRY_set(X509_NAME_get_entry(nm, i));
		for (j = i; j > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(nm, j - 1)) == set;)
			j--;
		if (i < n - 1 && buf_append_str(&b, ", ", err) != 0)
			goto out;
		for (k = j; k <= i; k++) {
			if ((k > j && buf_append_str(&b, " + ", err) != 0) ||
			    attr_append(&b, X509_NAME_get_entry(nm, k), err) != 0)
				goto out;
		}
	}
	if ((*out = (char *)buf_steal(&b, &len)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (rc != 0 && err != NULL && err->code == KL_ETOOBIG)
		x509_bad(err, "the certificate's subject is too long");
	buf_clear(&b);
	return rc;
}

/* ---- extensions ------------------------------------------------------------------------- */

/* The decoded extension nid of x; *ext NULL when absent. Malformed or repeated: KL_EINVAL. */
static int ext_get(X509 *x, int nid, const char *what, void **ext, struct kl_err *err)
{
	int crit = 0;

	*ext = NULL;
	if (X509_get_ext_by_NID(x, nid, -1) < 0)
		return 0;
	if ((*ext = X509_get_ext_d2i(x, nid, &crit, NULL)) == NULL)
		return x509_bad(err, "the certificate's %s extension is malformed or repeated",
				what);
	return 0;
}

static int name_add(struct x509_sans *s, GENERAL_NAME *g, struct kl_err *err)
{
	char ip[INET6_ADDRSTRLEN];
	const ASN1_STRING *str = NULL;
	struct buf b;
	int type, rc = -1;
	char ***list = NULL;
	size_t *n = NULL;
	const char *kind = NULL;
	const ASN1_TYPE *val;
	ASN1_OBJECT *oid;

	buf_init(&b, INFO_TEXT_MAX);
	switch (g->type) {
	case GEN_DNS:
		str = GENERAL_NAME_get0_value(g, &type), list = &s->dns, n = &s->n_dns;
		kind = "DNS";
		break;
	case GEN_EMAIL:
		str = GENERAL_NAME_get0_value(g, &type), list = &s->emails, n = &s->n_emails;
		kind = "email";
		break;
	case GEN_URI:
		str = GENERAL_NAME_get0_value(g, &type), list = &s->uris, n = &s->n_uris;
		kind = "URI";
		break;
	case GEN_OTHERNAME:
		if (GENERAL_NAME_get0_otherName(g, &oid, (ASN1_TYPE **)&val) != 1 ||
		    OBJ_obj2nid(oid) != NID_ms_upn || val == NULL || val->type != V_ASN1_UTF8STRING)
			break;	/* another kind of otherName: not one the policy can say */
		str = val->value.utf8string, list = &s->upns, n = &s->n_upns;
		kind = "UPN";
		break;
	case GEN_IPADD:
		str = GENERAL_NAME_get0_value(g, &type);
		if (str->length != 4 && str->length != 16)
			break;	/* an address and mask (name constraints), not an address */
		if (inet_ntop(str->length == 4 ? AF_INET : AF_INET6, str->data, ip, sizeof(ip)) ==
		    NULL) {
			x509_bad(err, "the certificate has an unreadable IP address name");
			goto out;
		}
		if (buf_append_str(&b, ip, err) != 0 || list_add(&s->ips, &s->n_ips, &b, "IP",
								 err) != 0)
			goto out;
		rc = 0;
		goto out;
	default:
		break;	/* X.400, directory, EDI, registered ID: not in a policy */
	}
	if (list != NULL) {
		if (text_append(&b, ASN1_STRING_get0_data(str), (size_t)ASN1_STRING_length(str),
				err) != 0 ||
		    list_add(list, n, &b, kind, err) != 0)
			goto out;
	}
	rc = 0;
out:
	buf_clear(&b);
	return rc;
}

static int sans_read(X509 *x, struct x509_sans *s, struct kl_err *err)
{
	GENERAL_NAMES *gens = NULL;
	int i, rc = -1;

	if (ext_get(x, NID_subject_alt_name, "subjectAltName", (void **)&gens, err) != 0)
		goto out;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		if (name_add(s, sk_GENERAL_NAME_value(gens, i), err) != 0)
			goto out;
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int usages_read(X509 *x, struct x509_info *out, struct kl_err *err)
{
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	char **grown;
	int i, len, rc = -1;

	if (ext_get(x, NID_key_usage, "keyUsage", (void **)&ku, err) != 0 ||
	    ext_get(x, NID_ext_key_usage, "extendedKeyUsage", (void **)&eku, err) != 0)
		goto out;
	out->has_key_usage = ku != NULL;
	for (i = 0; ku != NULL && i < 9; i++) {
		if (ASN1_BIT_STRING_get_bit(ku, i))
			out->key_usage |= 1u << i;
	}
	if (sk_ASN1_OBJECT_num(eku) > X509_EKUS_MAX) {
		x509_bad(err, "the certificate has more than %d extended key usages",
			 X509_EKUS_MAX);
		goto out;
	}
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);

		if ((len = OBJ_obj2txt(NULL, 0, o, 1)) <= 0 || len > 1024) {
			x509_bad(err, "the certificate has an unreadable extended key usage");
			goto out;
		}
		if ((grown = realloc(out->ekus, (out->n_ekus + 1) * sizeof(*grown))) == NULL)
			goto oom;
		out->ekus = grown;
		if ((out->ekus[out->n_ekus] = malloc((size_t)len + 1)) == NULL)
			goto oom;
		OBJ_obj2txt(out->ekus[out->n_ekus++], len + 1, o, 1);
	}
	rc = 0;
	goto out;
oom:
	kl_fail(err, KL_ENOMEM, "out of memory");
out:
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

/* ---- the rest --------------------------------------------------------------------------- */

static int time_read(const ASN1_TIME *t, int64_t *out, struct kl_err *err)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return x509_bad(err, "the certificate has an unreadable validity date");
	*out = (int64_t)timegm(&tm);
	return 0;
}

static int key_read(X509 *x, struct x509_info *out, struct kl_err *err)
{
	EVP_PKEY *pub = X509_get0_pubkey(x);
	const char *crv;

	if (pub == NULL)
		return x509_bad(err, "the certificate's public key is unreadable");
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
		out->kty = KEYOPS_RSA;
		out->bits = (unsigned)EVP_PKEY_get_bits(pub);
		return 0;
	}
	if ((crv = x509_ec_curve(pub)) != NULL) {
		out->kty = KEYOPS_EC;
		out->bits = keyops_curve_by_name(crv)->field_bits;
		snprintf(out->crv, sizeof(out->crv), "%s", crv);
		return 0;
	}
	return x509_bad(err, "the certificate's key is neither RSA nor EC on P-256, P-256K, P-384 "
			     "or P-521");
}

static int x5t_of(const void *der, size_t len, char out[28], struct kl_err *err)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	struct buf b;
	int rc = -1;

	buf_init(&b, 64);
	if (SHA1(der, len, md) == NULL) {
		keyops_ossl_fail(err, "SHA-1");
		goto out;
	}
	if (b64url_encode(md, sizeof(md), &b, err) != 0)
		goto out;
	memcpy(out, b.data, 27);
	out[27] = '\0';
	rc = 0;
out:
	buf_clear(&b);
	return rc;
}

int x509_info_of(const void *der, size_t len, struct x509_info *out, struct kl_err *err)
{
	struct x509_info info;
	X509 *x = x509_decode(der, len);
	int rc = -1;

	x509_info_init(&info);
	if (x == NULL) {
		x509_bad(err, "not a DER X.509 certificate of at most %u bytes", X509_CERT_MAX);
		goto out;
	}
	if (subject_text(X509_get_subject_name(x), &info.subject, err) != 0 ||
	    sans_read(x, &info.sans, err) != 0 || usages_read(x, &info, err) != 0 ||
	    time_read(X509_get0_notBefore(x), &info.not_before, err) != 0 ||
	    time_read(X509_get0_notAfter(x), &info.not_after, err) != 0 ||
	    key_read(x, &info, err) != 0 || x5t_of(der, len, info.x5t, err) != 0)
		goto out;
	*out = info;	/* the caller owns it now */
	x509_info_init(&info);
	rc = 0;
out:
	x509_info_clear(&info);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

int x509_thumbprints(const void *der, size_t len, unsigned char sha1[20], unsigned char sha256[32],
		     struct kl_err *err)
{
	if (der == NULL || len == 0)
		return x509_bad(err, "no certificate to take a thumbprint of");
	if (SHA1(der, len, sha1) == NULL || SHA256(der, len, sha256) == NULL)
		return keyops_ossl_fail(err, "certificate thumbprint");
	return 0;
}
