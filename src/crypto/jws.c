/* Compact JWS (jws.h): split and decode without trusting, check a signature with a key or an
 * X.509 certificate's key, sign, and certificate thumbprints. The algorithm always comes from a
 * short allow-list (RS256, PS256, ES256) and must fit the key's type, so "none", HMAC with a
 * public key as secret, or an RSA header over an EC key are refused here whatever the caller
 * does. Never decides what claims must say (callers do), never logs token text. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "crypto/jws.h"
#include "crypto/keyops.h"
#include "crypto/keyops_internal.h"
#include "crypto/x509.h"
#include "util/b64url.h"
#include "util/json.h"

#define JWS_SIG_MAX 1024	/* RSA-4096 is 512 bytes */

void jws_parts_init(struct jws_parts *p)
{
	p->header = NULL;
	p->claims = NULL;
	p->signing_input_len = 0;
	buf_init(&p->sig, JWS_SIG_MAX);
}

void jws_parts_clear(struct jws_parts *p)
{
	json_decref(p->header);
	json_decref(p->claims);
	buf_clear(&p->sig);
	jws_parts_init(p);
}

static bool is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

/* A segment decoded and parsed as a JSON object, or NULL (which segment failed is in err). */
static json_t *segment_object(const char *p, size_t n, const char *what, struct kl_err *err)
{
	struct kl_err derr = { 0 };
	struct buf b;
	json_t *j = NULL;

	buf_init_secret(&b, JWS_MAX_BYTES);	/* claims of assertions are secret-adjacent */
	if (b64url_decode(p, n, &b, &derr) == 0)
		j = json_util_parse(b.data, b.len, &derr);
	buf_clear(&b);
	if (!json_is_object(j)) {
		json_decref(j);
		kl_fail(err, KL_EINVAL, "the JWS %s is not base64url of a JSON object", what);
		return NULL;
	}
	return j;
}

int jws_parse(const char *tok, size_t len, struct jws_parts *out, struct kl_err *err)
{
	struct kl_err derr = { 0 };
	size_t i, dots[2], nd = 0;

	jws_parts_clear(out);
	if (tok == NULL || len == 0 || len > JWS_MAX_BYTES)
		return kl_fail(err, KL_EINVAL, "a JWS is 1 to %d bytes", JWS_MAX_BYTES);
	for (i = 0; i < len; i++) {
		if (tok[i] == '.') {
			if (nd == 2)
				return kl_fail(err, KL_EINVAL, "a compact JWS has three segments");
			dots[nd++] = i;
		} else if (!is_b64url_char(tok[i])) {
			return kl_fail(err, KL_EINVAL, "a compact JWS holds base64url characters only");
		}
	}
	if (nd != 2 || dots[0] == 0 || dots[1] == dots[0] + 1 || dots[1] + 1 == len)
		return kl_fail(err, KL_EINVAL, "a compact JWS has three non-empty segments");
	if ((out->header = segment_object(tok, dots[0], "header", err)) == NULL ||
	    (out->claims = segment_object(tok + dots[0] + 1, dots[1] - dots[0] - 1, "payload", err)) ==
		    NULL)
		goto fail;
	/* RFC 7515 4.1.11: a recipient must refuse a JWS whose header lists critical extensions it
	 * does not understand; kluis understands none, so "crit" in any form is refused. */
	if (json_object_get(out->header, "crit") != NULL) {
		kl_fail(err, KL_EINVAL, "the JWS header lists critical extensions (crit), which "
					"are not supported");
		goto fail;
	}
	if (b64url_decode(tok + dots[1] + 1, len - dots[1] - 1, &out->sig, &derr) != 0) {
		kl_fail(err, KL_EINVAL, "the JWS signature is not base64url");
		goto fail;
	}
	out->signing_input_len = dots[1];
	return 0;
fail:
	jws_parts_clear(out);
	return -1;
}

/* Does alg fit k? RS256 and PS256 need RSA, ES256 needs EC P-256; nothing else is allowed. */
static int alg_fits(const struct keyops_key *k, const char *alg, struct kl_err *err)
{
	if (alg == NULL || (strcmp(alg, "RS256") != 0 && strcmp(alg, "PS256") != 0 &&
			    strcmp(alg, "ES256") != 0))
		return kl_fail(err, KL_EUNAUTH, "only RS256, PS256 and ES256 signatures are accepted");
	if (alg[0] == 'E' ? keyops_type(k) != KEYOPS_EC || keyops_curve(k) == NULL ||
				    strcmp(keyops_curve(k), "P-256") != 0
			  : keyops_type(k) != KEYOPS_RSA)
		return kl_fail(err, KL_EUNAUTH, "the algorithm %s does not fit the key", alg);
	return 0;
}

int jws_verify_key(const struct keyops_key *key, const char *alg, const char *tok,
		   const struct jws_parts *p, bool *valid, struct kl_err *err)
{
	const char *hdr_alg = json_string_value(json_object_get(p->header, "alg"));
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct kl_err verr = { 0 };

	*valid = false;
	if (alg_fits(key, alg, err) != 0)
		return -1;
	if (hdr_alg == NULL || strcmp(hdr_alg, alg) != 0)
		return kl_fail(err, KL_EUNAUTH, "the header's alg is not the algorithm checked");
	if (p->signing_input_len == 0 || p->signing_input_len > JWS_MAX_BYTES)
		return kl_fail(err, KL_EINVAL, "the JWS was not parsed");
	SHA256((const unsigned char *)tok, p->signing_input_len, digest);
	/* A malformed signature (wrong length) is "does not verify", not an error. */
	if (keyops_verify(key, alg, digest, sizeof(digest), p->sig.data, p->sig.len, valid, &verr) != 0)
		*valid = false;
	OPENSSL_cleanse(digest, sizeof(digest));
	return 0;
}

/* The public key of a DER certificate as a keyops key (RSA, or EC P-256). */
static struct keyops_key *cert_key(const void *der, size_t der_len, struct kl_err *err)
{
	const unsigned char *p = der;
	struct keyops_key *k = NULL;
	X509 *x = NULL;
	EVP_PKEY *pkey = NULL;

	if (der_len == 0 || der_len > 64 * 1024 || (x = d2i_X509(NULL, &p, (long)der_len)) == NULL ||
	    p != (const unsigned char *)der + der_len) {
		kl_fail(err, KL_EINVAL, "not a DER X.509 certificate");
		goto out;
	}
	if ((pkey = X509_get_pubkey(x)) == NULL) {
		kl_fail(err, KL_EINVAL, "the certificate's public key cannot be read");
		goto out;
	}
	if (EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) < 2048) {
		kl_fail(err, KL_EUNAUTH, "an RSA certificate key of fewer than 2048 bits is refused");
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		k = keyops_key_adopt(&pkey, KEYOPS_RSA, NULL, (unsigned)EVP_PKEY_get_bits(pkey), err);
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		char group[64] = "";
		size_t glen = 0;

		if (EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &glen) != 1 ||
		    strcmp(group, "prime256v1") != 0) {
			kl_fail(err, KL_EUNAUTH, "only P-256 certificate keys are accepted");
			goto out;
		}
		k = keyops_key_adopt(&pkey, KEYOPS_EC, keyops_curve_by_name("P-256"), 0, err);
	} else {
		kl_fail(err, KL_EUNAUTH, "the certificate's key is neither RSA nor EC");
	}
out:
	EVP_PKEY_free(pkey);
	X509_free(x);
	return k;
}

int jws_verify_cert(const void *der, size_t der_len, const char *alg, const char *tok,
		    const struct jws_parts *p, bool *valid, struct kl_err *err)
{
	struct keyops_key *k;
	int rc;

	*valid = false;
	if ((k = cert_key(der, der_len, err)) == NULL)
		return -1;
	rc = jws_verify_key(k, alg, tok, p, valid, err);
	keyops_free(k);
	return rc;
}

/* Appends the base64url of v's compact JSON to out. */
static int put_json(struct buf *out, json_t *v, struct kl_err *err)
{
	struct buf text;
	int rc;

	buf_init_secret(&text, JWS_MAX_BYTES);
	rc = json_util_dump(v, &text, err) == 0 ? b64url_encode(text.data, text.len, out, err) : -1;
	buf_clear(&text);
	return rc;
}

int jws_sign(const struct keyops_key *key, json_t *header, json_t *claims, struct buf *out,
	     struct kl_err *err)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	const char *alg;
	struct buf sig;
	size_t start = out->len;
	int rc = -1;

	buf_init(&sig, JWS_SIG_MAX);
	if (keyops_type(key) == KEYOPS_RSA) {
		alg = "RS256";
	} else if (keyops_type(key) == KEYOPS_EC && keyops_curve(key) != NULL &&
		   strcmp(keyops_curve(key), "P-256") == 0) {
		alg = "ES256";
	} else {
		kl_fail(err, KL_EINVAL, "jws_sign takes an RSA or EC P-256 key");
		goto out;
	}
	if (json_object_set_new(header, "alg", json_string(alg)) != 0 ||
	    json_object_set_new(header, "typ", json_string("JWT")) != 0) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (put_json(out, header, err) != 0 || buf_putc(out, '.', err) != 0 ||
	    put_json(out, claims, err) != 0)
		goto out;
	SHA256(out->data + start, out->len - start, digest);
	if (keyops_sign(key, alg, digest, sizeof(digest), &sig, err) != 0 ||
	    buf_putc(out, '.', err) != 0 || b64url_encode(sig.data, sig.len, out, err) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		buf_truncate(out, start);
	OPENSSL_cleanse(digest, sizeof(digest));
	buf_clear(&sig);
	return rc;
}

int jws_cert_thumbprints(const void *der, size_t der_len, unsigned char sha1[20],
			 unsigned char sha256[32], struct kl_err *err)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	bool ok = der_len > 0 && der_len <= 64 * 1024 &&
		  (x = d2i_X509(NULL, &p, (long)der_len)) != NULL &&
		  p == (const unsigned char *)der + der_len;

	X509_free(x);
	if (!ok)
		return kl_fail(err, KL_EINVAL, "not a DER X.509 certificate");
	return x509_thumbprints(der, der_len, sha1, sha256, err);
}
