/* x509chain.c owns struct x509_chain (DER certificates, leaf first), the match between a
 * certificate and a key, and what the other x509 files share: strict DER decoding and the check
 * that an uploaded key is of a type the vault keeps. It must never keep more than X509_CHAIN_MAX
 * certificates or one larger than X509_CERT_MAX, and never put key material in a message. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "crypto/keyops_internal.h"
#include "crypto/x509_internal.h"

int x509_bad(struct kl_err *err, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	ERR_clear_error();
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kl_fail_az(err, KL_EINVAL, "BadParameter", NULL, "%s", msg);
}

X509 *x509_decode(const void *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = NULL;

	if (der == NULL || len == 0 || len > X509_CERT_MAX)
		return NULL;
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != (const unsigned char *)der + len) {
		X509_free(x);	/* bytes after the certificate: not one DER certificate */
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

void x509_chain_init(struct x509_chain *c)
{
	c->der = NULL;
	c->n = 0;
}

void x509_chain_clear(struct x509_chain *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		buf_clear(&c->der[i]);
	free(c->der);
	x509_chain_init(c);
}

/* Appends a copy of der, already known to be one certificate. */
static int chain_append(struct x509_chain *c, const void *der, size_t len, struct kl_err *err)
{
	struct buf *grown;

	if (c->n >= X509_CHAIN_MAX)
		return x509_bad(err, "more than %d certificates in the chain", X509_CHAIN_MAX);
	if ((grown = realloc(c->der, (c->n + 1) * sizeof(*grown))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	c->der = grown;
	buf_init(&c->der[c->n], X509_CERT_MAX);
	if (buf_append(&c->der[c->n], der, len, err) != 0) {
		buf_clear(&c->der[c->n]);
		return -1;
	}
	c->n++;
	return 0;
}

int x509_chain_add(struct x509_chain *c, const void *der, size_t len, struct kl_err *err)
{
	X509 *x;

	if (len > X509_CERT_MAX)
		return x509_bad(err, "a certificate is larger than %u bytes", X509_CERT_MAX);
	if ((x = x509_decode(der, len)) == NULL)
		return x509_bad(err, "a certificate is not a DER X.509 certificate");
	X509_free(x);
	return chain_append(c, der, len, err);
}

int x509_chain_move(struct x509_chain *chain, struct x509_chain *from, struct kl_err *err)
{
	size_t i;

	if (chain->n == 0) {
		x509_chain_clear(chain);
		*chain = *from;
		x509_chain_init(from);
		return 0;
	}
	if (from->n > X509_CHAIN_MAX - chain->n)
		return x509_bad(err, "more than %d certificates in the chain", X509_CHAIN_MAX);
	for (i = 0; i < from->n; i++) {
		if (chain_append(chain, from->der[i].data, from->der[i].len, err) != 0)
			return -1;
	}
	x509_chain_clear(from);
	return 0;
}

int x509_chain_push(struct x509_chain *chain, X509 *x, struct kl_err *err)
{
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der);
	int rc;

	if (len <= 0) {
		OPENSSL_free(der);
		return x509_bad(err, "a certificate cannot be encoded");
	}
	if ((size_t)len > X509_CERT_MAX)
		rc = x509_bad(err, "a certificate is larger than %u bytes", X509_CERT_MAX);
	else
		rc = chain_append(chain, der, (size_t)len, err);
	OPENSSL_free(der);
	return rc;
}

const char *x509_ec_curve(const EVP_PKEY *pkey)
{
	static const struct {
		int nid;
		const char *crv;
	} known[] = {
		{ NID_X9_62_prime256v1, "P-256" },
		{ NID_secp256k1, "P-256K" },
		{ NID_secp384r1, "P-384" },
		{ NID_secp521r1, "P-521" },
	};
	const char *crv = NULL;
	char name[64];
	size_t len = 0, i;
	int nid;

	if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
					   &len) != 1) {
		ERR_clear_error();
		return NULL;
	}
	if ((nid = OBJ_sn2nid(name)) == NID_undef)
		nid = EC_curve_nist2nid(name);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].nid == nid)
			crv = known[i].crv;
	}
	ERR_clear_error();
	return crv;
}

struct keyops_key *x509_key_adopt(EVP_PKEY **pkey, const char *what, struct kl_err *err)
{
	const char *crv;
	unsigned bits;

	switch (EVP_PKEY_get_base_id(*pkey)) {
	case EVP_PKEY_RSA:
		bits = (unsigned)EVP_PKEY_get_bits(*pkey);
		if (!keyops_rsa_bits_allowed(bits)) {
			x509_bad(err, "%s is RSA-%u; RSA keys must have 2048, 3072 or 4096 bits",
				 what, bits);
			return NULL;
		}
		return keyops_key_adopt(pkey, KEYOPS_RSA, NULL, bits, err);
	case EVP_PKEY_EC:
		if ((crv = x509_ec_curve(*pkey)) == NULL) {
			x509_bad(err, "%s is on an EC curve other than P-256, P-256K, P-384, P-521",
				 what);
			return NULL;
		}
		return keyops_key_adopt(pkey, KEYOPS_EC, keyops_curve_by_name(crv), 0, err);
	default:
		x509_bad(err, "%s is of type %s; only RSA and EC keys are supported", what,
			 EVP_PKEY_get0_type_name(*pkey) != NULL ? EVP_PKEY_get0_type_name(*pkey)
								: "unknown");
		return NULL;
	}
}

EVP_PKEY *x509_pkey_of(const struct keyops_key *k)
{
	return k != NULL && (k->kty == KEYOPS_RSA || k->kty == KEYOPS_EC) ? k->pkey : NULL;
}

/* Is the public key of x the public half of pkey? */
static bool cert_has_key(X509 *x, const EVP_PKEY *pkey)
{
	EVP_PKEY *pub = X509_get0_pubkey(x);
	bool same = pub != NULL && pkey != NULL && EVP_PKEY_eq(pub, pkey) == 1;

	ERR_clear_error();
	return same;
}

bool x509_matches_key(const void *der, size_t len, const struct keyops_key *k)
{
	X509 *x = x509_decode(der, len);
	bool same = x != NULL && cert_has_key(x, x509_pkey_of(k));

	X509_free(x);
	return same;
}

int x509_chain_leaf_first(struct x509_chain *chain, const struct keyops_key *k, struct kl_err *err)
{
	struct buf leaf;
	size_t i;

	for (i = 0; i < chain->n; i++) {
		if (x509_matches_key(chain->der[i].data, chain->der[i].len, k))
			break;
	}
	if (i == chain->n)
		return x509_bad(err, "no certificate matches the key");
	leaf = chain->der[i];
	memmove(&chain->der[1], &chain->der[0], i * sizeof(chain->der[0]));
	chain->der[0] = leaf;
	return 0;
}
