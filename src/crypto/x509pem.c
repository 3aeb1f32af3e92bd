/* x509pem.c owns PEM text from clients: the PEM form of an import (a PKCS#8 key, plain or
 * encrypted, and its certificates), the items of a merge (DER, PEM, or base64 of DER) and a
 * principal's client certificate (the same forms, public part only). It must
 * never accept a traditional ("RSA PRIVATE KEY") key, never read more than X509_UPLOAD_MAX bytes
 * or PEM_BLOCKS_MAX blocks, never leave decoded key bytes in memory it frees, and never put them
 * or the password in a message. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "crypto/keyops_internal.h"
#include "crypto/x509_internal.h"
#include "util/b64url.h"

#define PEM_BLOCKS_MAX 64

/* One block: name ("CERTIFICATE"), data (the decoded bytes). */
typedef int (*pem_block_fn)(void *ctx, const char *name, const unsigned char *data, long len,
			    struct kl_err *err);

/* Calls fn for each PEM block of p[0..n), in order; text between blocks is skipped. Decoded
 * bytes live in OpenSSL's secure heap and are cleared when freed. */
static int pem_each(const void *p, size_t n, pem_block_fn fn, void *ctx, struct kl_err *err)
{
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	unsigned long e;
	int blocks, rc = -1;

	if (n > X509_UPLOAD_MAX) {
		x509_bad(err, "the PEM text is larger than %u bytes", X509_UPLOAD_MAX);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(p, (int)n)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (blocks = 0;; blocks++) {
		ERR_clear_error();
		if (PEM_read_bio_ex(bio, &name, &header, &data, &len, PEM_FLAG_SECURE) != 1) {
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
				break;	/* no more blocks */
			x509_bad(err, "a PEM block is malformed");
			goto out;
		}
		if (blocks >= PEM_BLOCKS_MAX) {
			x509_bad(err, "the PEM text has more than %d blocks", PEM_BLOCKS_MAX);
			goto out;
		}
		if (fn(ctx, name, data, len, err) != 0)
			goto out;
		OPENSSL_secure_clear_free(data, (size_t)len);
		OPENSSL_secure_free(name);
		OPENSSL_secure_free(header);
		data = NULL;
		name = header = NULL;
	}
	rc = 0;
out:
	if (data != NULL)
		OPENSSL_secure_clear_free(data, (size_t)len);
	OPENSSL_secure_free(name);
	OPENSSL_secure_free(header);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

/* ---- import ----------------------------------------------------------------------------- */

struct pem_read {
	const char *pwd;
	struct x509_pbe pbe;
	EVP_PKEY *pkey;
	STACK_OF(X509) *certs;
};

static int key_take(struct pem_read *r, PKCS8_PRIV_KEY_INFO *p8, struct kl_err *err)
{
	if (r->pkey != NULL)
		return x509_bad(err, "the PEM text holds more than one private key");
	if ((r->pkey = EVP_PKCS82PKEY(p8)) == NULL)
		return x509_bad(err, "the PEM private key is unreadable");
	return 0;
}

static int plain_key(struct pem_read *r, const unsigned char *data, long len, struct kl_err *err)
{
	const unsigned char *q = data;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, len);
	int rc;

	if (p8 == NULL || q != data + len)
		rc = x509_bad(err, "a PRIVATE KEY block is not a PKCS#8 key");
	else
		rc = key_take(r, p8, err);
	PKCS8_PRIV_KEY_INFO_free(p8);	/* clears the key octets it holds */
	return rc;
}

static int encrypted_key(struct pem_read *r, const unsigned char *data, long len,
			 struct kl_err *err)
{
	const unsigned char *q = data;
	X509_SIG *sig = d2i_X509_SIG(NULL, &q, len);
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	const X509_ALGOR *alg = NULL;
	OSSL_LIB_CTX *ctx = NULL;
	const char *pwd = r->pwd != NULL ? r->pwd : "";
	int rc = -1;

	if (sig == NULL || q != data + len) {
		x509_bad(err, "an ENCRYPTED PRIVATE KEY block is not an encrypted PKCS#8 key");
		goto out;
	}
	X509_SIG_get0(sig, &alg, NULL);
	if (x509_pbe_prepare(&r->pbe, alg, &ctx, err) != 0)
		goto out;
	if ((p8 = PKCS8_decrypt_ex(sig, pwd, (int)strlen(pwd), ctx, NULL)) == NULL) {
		x509_bad(err, "the encrypted private key does not decrypt (wrong password?)");
		goto out;
	}
	rc = key_take(r, p8, err);
out:
	PKCS8_PRIV_KEY_INFO_free(p8);
	X509_SIG_free(sig);
	return rc;
}

static int import_block(void *ctx, const char *name, const unsigned char *data, long len,
			struct kl_err *err)
{
	struct pem_read *r = ctx;
	const size_t nlen = strlen(name);
	X509 *x;

	if (strcmp(name, PEM_STRING_X509) == 0) {
		if (sk_X509_num(r->certs) >= X509_CHAIN_MAX)
			return x509_bad(err, "the PEM text holds more than %d certificates",
					X509_CHAIN_MAX);
		if ((x = x509_decode(data, (size_t)len)) == NULL)
			return x509_bad(err, "a CERTIFICATE block is not a certificate");
		if (sk_X509_push(r->certs, x) <= 0) {
			X509_free(x);
			return kl_fail(err, KL_ENOMEM, "out of memory");
		}
		return 0;
	}
	if (strcmp(name, PEM_STRING_PKCS8INF) == 0)
		return plain_key(r, data, len, err);
	if (strcmp(name, PEM_STRING_PKCS8) == 0)
		return encrypted_key(r, data, len, err);
	if (nlen >= 11 && strcmp(name + nlen - 11, "PRIVATE KEY") == 0)
		return x509_bad(err, "a \"%.32s\" block is not accepted: the key must be PKCS#8 "
				     "(\"PRIVATE KEY\" or \"ENCRYPTED PRIVATE KEY\")", name);
	return 0;	/* EC PARAMETERS, a request, a public key: not part of the import */
}

int x509_parse_pem(const char *p, size_t n, const char *pwd, bool preserve_order,
		   struct keyops_key **key, struct x509_chain *chain, struct kl_err *err)
{
	struct pem_read r;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.pwd = pwd;
	*key = NULL;
	if ((r.certs = sk_X509_new_null()) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (p != NULL && pem_each(p, n, import_block, &r, err) != 0)
		goto out;
	rc = x509_take_key_and_chain(&r.pkey, r.certs, preserve_order, key, chain, err);
out:
	EVP_PKEY_free(r.pkey);	/* clears the private numbers as it frees them */
	sk_X509_pop_free(r.certs, X509_free);
	x509_pbe_clear(&r.pbe);
	return rc;
}

/* ---- merge ------------------------------------------------------------------------------ */

static int merge_block(void *ctx, const char *name, const unsigned char *data, long len,
		       struct kl_err *err)
{
	if (strcmp(name, PEM_STRING_X509) != 0)
		return 0;
	return x509_chain_add(ctx, data, (size_t)len, err);
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Is p[0..n) PEM text? A PEM line anywhere says so (text may precede it, as "Bag Attributes"
 * do); base64 has no space, so it never holds one. */
#define PEM_END_CERT "-----ENDCERTIFICATE-----"	/* as it reads with white space dropped */

static bool looks_pem(const unsigned char *p, size_t n)
{
	return memmem(p, n, "-----BEGIN ", 11) != NULL;
}

static int merge_item(const unsigned char *p, size_t n, struct x509_chain *chain, int depth,
		      struct kl_err *err)
{
	struct x509_chain got;
	struct buf text, der;
	size_t i;
	int rc = -1;

	x509_chain_init(&got);
	buf_init(&text, n);
	buf_init(&der, n);
	if (n > 0 && p[0] == 0x30) {
		rc = x509_chain_add(chain, p, n, err);
		goto out;
	}
	if (looks_pem(p, n)) {
		if (pem_each(p, n, merge_block, &got, err) != 0)
			goto out;
		if (got.n == 0) {
			x509_bad(err, "an x5c item in PEM holds no CERTIFICATE block");
			goto out;
		}
		rc = x509_chain_move(chain, &got, err);
		goto out;
	}
	/* Base64 text of the certificate: decoded once more (white space and line ends dropped).
	 * A PEM END line without its BEGIN line is dropped too: the JS SDK's own merge test sends
	 * a PEM file less its first line, and the service accepts that. */
	for (i = 0; i < n && depth == 0; i++) {
		if (!is_space(p[i]) && buf_putc(&text, (char)p[i], err) != 0)
			goto out;
	}
	if (text.len > sizeof(PEM_END_CERT) - 1 &&
	    memcmp(text.data + text.len - (sizeof(PEM_END_CERT) - 1), PEM_END_CERT,
		   sizeof(PEM_END_CERT) - 1) == 0)
		text.len -= sizeof(PEM_END_CERT) - 1;
	if (depth > 0 || text.len == 0 || b64url_decode((const char *)text.data, text.len, &der,
							  err) != 0 || der.len == 0) {
		x509_bad(err, "an x5c item is neither a DER certificate, PEM text, nor base64 of "
			      "either");
		goto out;
	}
	rc = merge_item(der.data, der.len, chain, depth + 1, err);
out:
	x509_chain_clear(&got);
	buf_clear(&text);
	buf_clear(&der);
	return rc;
}

int x509_parse_merge_item(const void *p, size_t n, struct x509_chain *chain, struct kl_err *err)
{
	if (n > X509_UPLOAD_MAX)
		return x509_bad(err, "an x5c item is larger than %u bytes", X509_UPLOAD_MAX);
	if (p == NULL || n == 0)
		return x509_bad(err, "an x5c item is empty");
	return merge_item(p, n, chain, 0, err);
}

/* ---- a client certificate (identity) ---------------------------------------------------- */

#define KEY_REFUSED "the input holds a private key: register the certificate only (its key stays " \
		    "with the application, e.g. openssl x509 -in FILE -out cert.pem)"

struct public_read {
	struct buf *der;
	int certs;
};

static int public_block(void *ctx, const char *name, const unsigned char *data, long len,
			struct kl_err *err)
{
	struct public_read *r = ctx;
	const size_t nlen = strlen(name);
	X509 *x;

	if (nlen >= 11 && strcmp(name + nlen - 11, "PRIVATE KEY") == 0)
		return x509_bad(err, KEY_REFUSED);
	if (strcmp(name, PEM_STRING_X509) != 0)
		return 0;	/* a public key, parameters, a request: not what is registered */
	if (++r->certs > 1)
		return x509_bad(err, "the PEM text holds more than one certificate: register the "
				     "client's own certificate only");
	if ((x = x509_decode(data, (size_t)len)) == NULL)
		return x509_bad(err, "a CERTIFICATE block is not a certificate");
	X509_free(x);
	return buf_append(r->der, data, (size_t)len, err);
}

/* DER that is not a certificate: a private key (PKCS#8 plain or encrypted, a traditional key,
 * PKCS#12) gets its own message, anything else is garbage. */
static int der_refuse(const unsigned char *p, size_t n, struct kl_err *err)
{
	const unsigned char *q;
	EVP_PKEY *pkey;
	X509_SIG *sig;
	PKCS12 *p12;
	bool is_key;

	if (n > LONG_MAX)
		return x509_bad(err, "not a certificate");
	q = p;
	pkey = d2i_AutoPrivateKey(NULL, &q, (long)n);
	is_key = pkey != NULL;
	EVP_PKEY_free(pkey);	/* clears the private numbers */
	q = p;
	sig = is_key ? NULL : d2i_X509_SIG(NULL, &q, (long)n);
	is_key = is_key || sig != NULL;
	X509_SIG_free(sig);
	q = p;
	p12 = is_key ? NULL : d2i_PKCS12(NULL, &q, (long)n);
	is_key = is_key || p12 != NULL;
	PKCS12_free(p12);
	ERR_clear_error();
	if (is_key)
		return x509_bad(err, KEY_REFUSED);
	return x509_bad(err, "not an X.509 certificate (DER, PEM or base64 of DER) of at most %u "
			     "bytes", X509_CERT_MAX);
}

static int public_der(const unsigned char *p, size_t n, struct buf *der, struct kl_err *err)
{
	X509 *x = x509_decode(p, n);

	if (x == NULL)
		return der_refuse(p, n, err);
	X509_free(x);
	return buf_append(der, p, n, err);
}

int x509_read_public_cert(const void *p, size_t n, struct buf *der, struct kl_err *err)
{
	const unsigned char *in = p;
	struct public_read r = { .der = der, .certs = 0 };
	struct buf text, decoded;
	const size_t start = der->len;
	size_t i;
	int rc = -1;

	/* Secret buffers: what a client sends here may be a private key by mistake. */
	buf_init_secret(&text, X509_UPLOAD_MAX);
	buf_init_secret(&decoded, X509_UPLOAD_MAX);
	if (p == NULL || n == 0) {
		x509_bad(err, "the certificate is empty");
		goto out;
	}
	if (n > X509_UPLOAD_MAX) {
		x509_bad(err, "the certificate is larger than %u bytes", X509_UPLOAD_MAX);
		goto out;
	}
	if (in[0] == 0x30) {
		rc = public_der(in, n, der, err);
		goto out;
	}
	if (looks_pem(in, n)) {
		if (pem_each(in, n, public_block, &r, err) != 0)
			goto out;
		if (r.certs == 0) {
			x509_bad(err, "the PEM text holds no CERTIFICATE block");
			goto out;
		}
		rc = 0;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!is_space(in[i]) && buf_putc(&text, (char)in[i], err) != 0)
			goto out;
	}
	if (text.len == 0 ||
	    b64url_decode((const char *)text.data, text.len, &decoded, err) != 0 ||
	    decoded.len == 0 || decoded.data[0] != 0x30) {
		x509_bad(err, "not an X.509 certificate (DER, PEM or base64 of DER)");
		goto out;
	}
	rc = public_der(decoded.data, decoded.len, der, err);
out:
	if (rc != 0)
		buf_truncate(der, start);	/* a certificate read before a refused block */
	buf_clear(&text);
	buf_clear(&decoded);
	return rc;
}
