/* x509pfx.c owns reading a PKCS#12 (PFX) upload: the MAC, the encrypted contents and key bags,
 * exactly one private key, the certificates (the one matching the key is the leaf), and the cost
 * of the password-based key derivation a file may ask for (shared with PEM's encrypted keys). It
 * must never spend more key derivation than PBE_WORK_MAX iterations on one upload, never load
 * the legacy provider outside a library context of its own, never leave a decrypted key behind
 * in memory it frees, and never put key bytes or the password in a message or a log. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "crypto/keyops_internal.h"
#include "crypto/x509_internal.h"
#include "util/log.h"

/* Iterations of key derivation one upload may ask for in all (MAC, contents, key, and each
 * password tried). A file written by OpenSSL, Windows or .NET needs a few thousand; .NET refuses
 * files past 600000 per derivation. About a second of CPU at worst. */
#define PBE_WORK_MAX 4000000u
/* safeContents bags inside safeContents bags. */
#define PFX_NESTING_MAX 3

void x509_pbe_clear(struct x509_pbe *pbe)
{
	OSSL_PROVIDER_unload(pbe->prov_legacy);
	OSSL_PROVIDER_unload(pbe->prov_default);
	OSSL_LIB_CTX_free(pbe->legacy);
	memset(pbe, 0, sizeof(*pbe));
}

/* Can the default library context run cipher nid? */
static bool cipher_is_default(int nid)
{
	EVP_CIPHER *c = nid != NID_undef ? EVP_CIPHER_fetch(NULL, OBJ_nid2sn(nid), NULL) : NULL;

	EVP_CIPHER_free(c);
	ERR_clear_error();
	return c != NULL;
}

/* A library context with the default and legacy providers, for RC2, RC4 and DES: old Windows and
 * OpenSSL files encrypt their certificates with 40-bit RC2. Made once per upload that needs it. */
static int legacy_ctx(struct x509_pbe *pbe, struct kl_err *err)
{
	if (pbe->legacy != NULL)
		return 0;
	if ((pbe->legacy = OSSL_LIB_CTX_new()) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	if ((pbe->prov_default = OSSL_PROVIDER_load(pbe->legacy, "default")) == NULL ||
	    (pbe->prov_legacy = OSSL_PROVIDER_load(pbe->legacy, "legacy")) == NULL) {
		/* An OpenSSL installed without its legacy module: the upload cannot be read here,
		 * which the client can fix by re-encrypting it with AES. */
		LOG_WARN(NULL, "OpenSSL's legacy provider does not load: RC2/RC4/DES uploads refused");
		return x509_bad(err, "the file is encrypted with RC2, RC4 or DES, which this server "
				     "cannot read; export it with AES-256");
	}
	return 0;
}

int x509_pbe_prepare(struct x509_pbe *pbe, const X509_ALGOR *alg, OSSL_LIB_CTX **ctx,
		     struct kl_err *err)
{
	PBE2PARAM *pbe2 = NULL;
	PBKDF2PARAM *kdf = NULL;
	PBEPARAM *pbe1 = NULL;
	const ASN1_INTEGER *iter_asn1;
	int nid = alg != NULL ? OBJ_obj2nid(alg->algorithm) : NID_undef, cipher = NID_undef;
	long iter;
	int rc = -1;

	*ctx = NULL;
	if (nid == NID_pbes2) {
		if ((pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter)) ==
			    NULL ||
		    pbe2->keyfunc == NULL || pbe2->encryption == NULL ||
		    OBJ_obj2nid(pbe2->keyfunc->algorithm) != NID_id_pbkdf2 ||
		    (kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
						     pbe2->keyfunc->parameter)) == NULL) {
			x509_bad(err, "unsupported password-based encryption (PBES2 needs PBKDF2)");
			goto out;
		}
		iter_asn1 = kdf->iter;
		cipher = OBJ_obj2nid(pbe2->encryption->algorithm);
	} else {
		if (nid == NID_undef ||
		    EVP_PBE_find(EVP_PBE_TYPE_OUTER, nid, &cipher, NULL, NULL) != 1 ||
		    (pbe1 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter)) ==
			    NULL) {
			x509_bad(err, "unsupported password-based encryption algorithm");
			goto out;
		}
		iter_asn1 = pbe1->iter;
	}
	if (iter_asn1 == NULL || (iter = ASN1_INTEGER_get(iter_asn1)) <= 0 ||
	    (unsigned long)iter > PBE_WORK_MAX - pbe->work) {
		x509_bad(err, "the file asks for too much key derivation work (iteration counts)");
		goto out;
	}
	pbe->work += (unsigned)iter;
	if (!cipher_is_default(cipher)) {
		if (legacy_ctx(pbe, err) != 0)
			goto out;
		*ctx = pbe->legacy;
	}
	rc = 0;
out:
	PBE2PARAM_free(pbe2);
	PBKDF2PARAM_free(kdf);
	PBEPARAM_free(pbe1);
	ERR_clear_error();
	return rc;
}

/* ---- the contents ----------------------------------------------------------------------- */

struct pfx_read {
	struct x509_pbe pbe;
	const char *pass;	/* the password that opened the MAC; NULL is "no password" */
	int passlen;
	EVP_PKEY *pkey;
	STACK_OF(X509) *certs;
};

static int key_take(struct pfx_read *r, const PKCS8_PRIV_KEY_INFO *p8, struct kl_err *err)
{
	EVP_PKEY *pkey;

	if (r->pkey != NULL)
		return x509_bad(err, "the PKCS#12 file holds more than one private key");
	if (p8 == NULL || (pkey = EVP_PKCS82PKEY(p8)) == NULL)
		return x509_bad(err, "the private key in the PKCS#12 file is unreadable");
	r->pkey = pkey;
	return 0;
}

static int shrouded_key(struct pfx_read *r, const PKCS12_SAFEBAG *bag, struct kl_err *err)
{
	const X509_SIG *sig = PKCS12_SAFEBAG_get0_pkcs8(bag);
	const X509_ALGOR *alg = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	OSSL_LIB_CTX *ctx = NULL;
	int rc = -1;

	if (sig == NULL) {
		x509_bad(err, "a key bag of the PKCS#12 file is damaged");
		goto out;
	}
	X509_SIG_get0(sig, &alg, NULL);
	if (x509_pbe_prepare(&r->pbe, alg, &ctx, err) != 0)
		goto out;
	if ((p8 = PKCS12_decrypt_skey_ex(bag, r->pass, r->passlen, ctx, NULL)) == NULL) {
		x509_bad(err, "the PKCS#12 private key does not decrypt (wrong password?)");
		goto out;
	}
	rc = key_take(r, p8, err);
out:
	PKCS8_PRIV_KEY_INFO_free(p8);	/* clears the key octets it holds */
	return rc;
}

static int cert_take(struct pfx_read *r, const PKCS12_SAFEBAG *bag, struct kl_err *err)
{
	X509 *x;

	if (PKCS12_SAFEBAG_get_bag_nid(bag) != NID_x509Certificate)
		return 0;	/* an SDSI certificate: nothing kluis can use */
	if (sk_X509_num(r->certs) >= X509_CHAIN_MAX)
		return x509_bad(err, "the PKCS#12 file holds more than %d certificates",
				X509_CHAIN_MAX);
	if ((x = PKCS12_SAFEBAG_get1_cert(bag)) == NULL)
		return x509_bad(err, "a certificate in the PKCS#12 file is unreadable");
	if (sk_X509_push(r->certs, x) <= 0) {
		X509_free(x);
		return kl_fail(err, KL_ENOMEM, "out of memory");
	}
	return 0;
}

static int bags_read(struct pfx_read *r, const STACK_OF(PKCS12_SAFEBAG) *bags, int depth,
		     struct kl_err *err)
{
	const PKCS12_SAFEBAG *bag;
	int i;

	for (i = 0; i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		bag = sk_PKCS12_SAFEBAG_value(bags, i);
		switch (PKCS12_SAFEBAG_get_nid(bag)) {
		case NID_keyBag:
			if (key_take(r, PKCS12_SAFEBAG_get0_p8inf(bag), err) != 0)
				return -1;
			break;
		case NID_pkcs8ShroudedKeyBag:
			if (shrouded_key(r, bag, err) != 0)
				return -1;
			break;
		case NID_certBag:
			if (cert_take(r, bag, err) != 0)
				return -1;
			break;
		case NID_safeContentsBag:
			if (depth >= PFX_NESTING_MAX)
				return x509_bad(err, "the PKCS#12 file nests too deep");
			if (bags_read(r, PKCS12_SAFEBAG_get0_safes(bag), depth + 1, err) != 0)
				return -1;
			break;
		default:
			break;	/* CRLs and secrets: not part of a certificate */
		}
	}
	return 0;
}

/* The bags of one encrypted content, decrypted with the password. */
static STACK_OF(PKCS12_SAFEBAG) *encrypted_bags(struct pfx_read *r, PKCS7 *p7, struct kl_err *err)
{
	const PKCS7_ENC_CONTENT *ec = p7->d.encrypted != NULL ? p7->d.encrypted->enc_data : NULL;
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	OSSL_LIB_CTX *ctx = NULL;

	if (ec == NULL || ec->algorithm == NULL || ec->enc_data == NULL) {
		x509_bad(err, "an encrypted part of the PKCS#12 file is damaged");
		return NULL;
	}
	if (x509_pbe_prepare(&r->pbe, ec->algorithm, &ctx, err) != 0)
		return NULL;
	bags = PKCS12_item_decrypt_d2i_ex(ec->algorithm, ASN1_ITEM_rptr(PKCS12_SAFEBAGS), r->pass,
					  r->passlen, ec->enc_data, 1, ctx, NULL);
	if (bags == NULL)
		x509_bad(err, "the PKCS#12 file does not decrypt (wrong password?)");
	return bags;
}

static int contents_read(struct pfx_read *r, PKCS12 *p12, struct kl_err *err)
{
	STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	PKCS7 *p7;
	int i, rc = -1;

	if (safes == NULL) {
		x509_bad(err, "the PKCS#12 file is damaged or signed (only password integrity is "
			      "supported)");
		goto out;
	}
	for (i = 0; i < sk_PKCS7_num(safes); i++) {
		p7 = sk_PKCS7_value(safes, i);
		switch (OBJ_obj2nid(p7->type)) {
		case NID_pkcs7_data:
			if ((bags = PKCS12_unpack_p7data(p7)) == NULL) {
				x509_bad(err, "a part of the PKCS#12 file is damaged");
				goto out;
			}
			break;
		case NID_pkcs7_encrypted:
			if ((bags = encrypted_bags(r, p7, err)) == NULL)
				goto out;
			break;
		default:
			x509_bad(err, "a part of the PKCS#12 file is encrypted with a public key; "
				      "only passwords are supported");
			goto out;
		}
		if (bags_read(r, bags, 0, err) != 0)
			goto out;
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
		bags = NULL;
	}
	rc = 0;
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	ERR_clear_error();
	return rc;
}

/* Checks the MAC with the password (NULL or "" tries both) and keeps the one that opens it. */
static int mac_check(struct pfx_read *r, PKCS12 *p12, const char *pwd, struct kl_err *err)
{
	const char *tries[2] = { pwd, NULL };
	const ASN1_INTEGER *iter_asn1 = NULL;
	long iter = 1;
	int i, n = 1;

	if (pwd == NULL || pwd[0] == '\0') {
		tries[0] = NULL;
		tries[1] = "";
		n = 2;
	}
	r->pass = tries[0];
	r->passlen = tries[0] != NULL ? -1 : 0;
	if (!PKCS12_mac_present(p12))
		return 0;	/* nothing to choose by: PBKDF2 takes NULL and "" alike */
	PKCS12_get0_mac(NULL, NULL, NULL, &iter_asn1, p12);
	if (iter_asn1 != NULL)
		iter = ASN1_INTEGER_get(iter_asn1);
	for (i = 0; i < n; i++) {
		if (iter <= 0 || (unsigned long)iter > PBE_WORK_MAX - r->pbe.work)
			return x509_bad(err, "the file asks for too much key derivation work "
					     "(iteration counts)");
		r->pbe.work += (unsigned)iter;
		if (PKCS12_verify_mac(p12, tries[i], tries[i] != NULL ? -1 : 0) == 1) {
			r->pass = tries[i];
			r->passlen = tries[i] != NULL ? -1 : 0;
			ERR_clear_error();
			return 0;
		}
	}
	return x509_bad(err, "the PKCS#12 file does not open: wrong password or damaged MAC");
}

/* The index of the certificate whose key is pkey, -1 when none. */
static int leaf_index(STACK_OF(X509) *certs, const EVP_PKEY *pkey)
{
	int i;

	for (i = 0; i < sk_X509_num(certs); i++) {
		if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, i)), pkey) == 1) {
			ERR_clear_error();
			return i;
		}
	}
	ERR_clear_error();
	return -1;
}

int x509_take_key_and_chain(EVP_PKEY **pkey, STACK_OF(X509) *certs, bool preserve_order,
			    struct keyops_key **key, struct x509_chain *chain, struct kl_err *err)
{
	struct x509_chain got;
	struct keyops_key *k = NULL;
	EVP_PKEY_CTX *check = NULL;
	int i, leaf, rc = -1;

	x509_chain_init(&got);
	if (*pkey == NULL) {
		x509_bad(err, "the upload holds no private key");
		goto out;
	}
	if (sk_X509_num(certs) == 0) {
		x509_bad(err, "the upload holds no certificate");
		goto out;
	}
	if ((k = x509_key_adopt(pkey, "the private key", err)) == NULL)
		goto out;
	/* An EC private key must give its own public point: the leaf is chosen by the latter. */
	if (keyops_type(k) == KEYOPS_EC &&
	    ((check = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) == NULL ||
	     EVP_PKEY_pairwise_check(check) != 1)) {
		x509_bad(err, "the private key is inconsistent");
		goto out;
	}
	if ((leaf = leaf_index(certs, k->pkey)) < 0) {
		x509_bad(err, "no certificate matches the private key");
		goto out;
	}
	if (!preserve_order && x509_chain_push(&got, sk_X509_value(certs, leaf), err) != 0)
		goto out;
	for (i = 0; i < sk_X509_num(certs); i++) {
		if ((preserve_order || i != leaf) &&
		    x509_chain_push(&got, sk_X509_value(certs, i), err) != 0)
			goto out;
	}
	if (x509_chain_move(chain, &got, err) != 0)
		goto out;
	*key = k;	/* the caller owns it now */
	k = NULL;
	rc = 0;
out:
	EVP_PKEY_CTX_free(check);
	keyops_free(k);
	x509_chain_clear(&got);
	ERR_clear_error();
	return rc;
}

int x509_parse_pfx(const void *p, size_t n, const char *pwd, bool preserve_order,
		   struct keyops_key **key, struct x509_chain *chain, struct kl_err *err)
{
	const unsigned char *der = p;
	struct pfx_read r;
	PKCS12 *p12 = NULL;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	*key = NULL;
	if (n > X509_UPLOAD_MAX) {
		x509_bad(err, "the PKCS#12 file is larger than %u bytes", X509_UPLOAD_MAX);
		goto out;
	}
	if (p == NULL || n == 0 || (p12 = d2i_PKCS12(NULL, &der, (long)n)) == NULL ||
	    der != (const unsigned char *)p + n) {
		x509_bad(err, "not a PKCS#12 (PFX) file");
		goto out;
	}
	if ((r.certs = sk_X509_new_null()) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (mac_check(&r, p12, pwd, err) != 0)
		goto out;
	if (contents_read(&r, p12, err) != 0) {
		/* No MAC chose between the two empty passwords: PKCS#12 PBEs tell them apart. */
		if (PKCS12_mac_present(p12) || r.pass != NULL ||
		    (err != NULL && err->code != KL_EINVAL))
			goto out;
		EVP_PKEY_free(r.pkey);
		r.pkey = NULL;
		while (sk_X509_num(r.certs) > 0)
			X509_free(sk_X509_pop(r.certs));
		r.pass = "";
		r.passlen = -1;
		if (contents_read(&r, p12, err) != 0)
			goto out;
	}
	rc = x509_take_key_and_chain(&r.pkey, r.certs, preserve_order, key, chain, err);
out:
	EVP_PKEY_free(r.pkey);	/* clears the private numbers as it frees them */
	sk_X509_pop_free(r.certs, X509_free);
	x509_pbe_clear(&r.pbe);
	PKCS12_free(p12);
	ERR_clear_error();
	return rc;
}
