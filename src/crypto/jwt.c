/* OpenID tokens (jwt.h). The signature is checked before any claim is believed; the header's alg
 * must match the key's type (an RSA key never verifies an ES256 token and the reverse), so a
 * public key cannot be abused as an HMAC secret or the like. Splitting and signature checks are
 * jws.c's; this file adds the key set and the OpenID claims. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto/jws.h"
#include "crypto/jwt.h"
#include "crypto/keyops.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/jwk.h"

#define JWKS_MAX_BYTES (256 * 1024)
#define JWKS_MAX_KEYS 64
#define KID_MAX 128

struct jwt_key {
	char kid[KID_MAX + 1];
	struct keyops_key *key;
	bool is_rsa;
};

struct jwt_keyset {
	struct jwt_key keys[JWKS_MAX_KEYS];
	size_t n;
};

void jwt_keyset_free(struct jwt_keyset *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++)
		keyops_free(ks->keys[i].key);
	free(ks);
}

size_t jwt_keyset_size(const struct jwt_keyset *ks)
{
	return ks ? ks->n : 0;
}

static int read_file(const char *path, struct buf *out, struct kl_err *err)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;
	int rc = 0;

	if (f == NULL)
		return kl_fail(err, KL_EINVAL, "cannot open the JWKS file %s", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if ((rc = buf_append(out, chunk, n, err)) != 0)
			break;
	if (rc == 0 && ferror(f))
		rc = kl_fail(err, KL_EINVAL, "cannot read the JWKS file %s", path);
	fclose(f);
	return rc;
}

struct jwt_keyset *jwt_keyset_load(const char *path, struct kl_err *err)
{
	struct jwt_keyset *ks = calloc(1, sizeof(*ks)), *res = NULL;
	json_t *doc = NULL, *keys, *k;
	struct buf text;
	struct jwk jwk;
	size_t i;

	buf_init(&text, JWKS_MAX_BYTES);
	jwk_init(&jwk);
	if (ks == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (read_file(path, &text, err) != 0 || (doc = json_util_parse(text.data, text.len, err)) == NULL)
		goto out;
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		kl_fail(err, KL_EINVAL, "the JWKS file %s has no \"keys\" array", path);
		goto out;
	}
	json_array_foreach(keys, i, k) {
		const char *kid = json_string_value(json_object_get(k, "kid"));
		const char *use = json_string_value(json_object_get(k, "use"));
		struct jwt_key *slot = &ks->keys[ks->n];
		struct kl_err kerr = { 0 };

		if (ks->n >= JWKS_MAX_KEYS || (use != NULL && strcmp(use, "sig") != 0))
			continue;
		json_object_del(k, "key_ops");	/* IdPs use names kluis does not know; unused here */
		if (jwk_from_json(k, &jwk, &kerr) != 0 ||
		    (slot->key = keyops_from_public_jwk(&jwk, &kerr)) == NULL) {
			jwk_clear(&jwk);
			jwk_init(&jwk);
			continue;	/* a key kluis cannot use (oct, OKP...) is not an error */
		}
		snprintf(slot->kid, sizeof(slot->kid), "%s", kid ? kid : "");
		slot->is_rsa = strcmp(jwk.kty, "RSA") == 0;
		ks->n++;
		jwk_clear(&jwk);
		jwk_init(&jwk);
	}
	if (ks->n == 0) {
		kl_fail(err, KL_EINVAL, "the JWKS file %s has no RSA or EC signing key", path);
		goto out;
	}
	res = ks;
	ks = NULL;
out:
	jwk_clear(&jwk);
	json_decref(doc);
	buf_clear(&text);
	jwt_keyset_free(ks);
	return res;
}

static bool is_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

bool jwt_looks_like(const char *tok, size_t len)
{
	size_t i, dots = 0;

	if (len < 10 || len > JWT_MAX_BYTES || strncmp(tok, "eyJ", 3) != 0)
		return false;
	for (i = 0; i < len; i++) {
		if (tok[i] == '.')
			dots++;
		else if (!is_b64url_char(tok[i]))
			return false;
	}
	return dots == 2;
}

static int bad(struct kl_err *err, const char *why)
{
	return kl_fail(err, KL_EUNAUTH, "the OpenID token was refused: %s", why);
}

static bool aud_matches(json_t *aud, const char *audience)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), audience) == 0)
			return true;
	return false;
}

int jwt_verify(const struct jwt_keyset *ks, const char *tok, size_t len, const char *issuer,
	       const char *audience, int64_t now, char *sub, int64_t *exp_s, struct kl_err *err)
{
	const char *alg, *kid, *iss, *s;
	const struct jwt_key *key = NULL;
	struct kl_err derr = { 0 };
	struct jws_parts parts;
	json_t *exp, *nbf;
	bool valid = false;
	size_t i;
	int rc = -1;

	jws_parts_init(&parts);
	if (ks == NULL || !jwt_looks_like(tok, len) || jws_parse(tok, len, &parts, &derr) != 0) {
		bad(err, "not a compact JWS");
		goto out;
	}
	alg = json_string_value(json_object_get(parts.header, "alg"));
	kid = json_string_value(json_object_get(parts.header, "kid"));
	if (alg == NULL || (strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0)) {
		bad(err, "only RS256 and ES256 are accepted");
		goto out;
	}
	for (i = 0; i < ks->n && key == NULL; i++)
		if ((kid != NULL ? strcmp(ks->keys[i].kid, kid) == 0 : ks->n == 1) &&
		    ks->keys[i].is_rsa == (alg[0] == 'R'))
			key = &ks->keys[i];
	if (key == NULL) {
		bad(err, "no key of the issuer's key set matches its kid and alg");
		goto out;
	}
	if (jws_verify_key(key->key, alg, tok, &parts, &valid, &derr) != 0 || !valid) {
		bad(err, "the signature does not verify");
		goto out;
	}
	iss = json_string_value(json_object_get(parts.claims, "iss"));
	s = json_string_value(json_object_get(parts.claims, "sub"));
	exp = json_object_get(parts.claims, "exp");
	nbf = json_object_get(parts.claims, "nbf");
	if (iss == NULL || strcmp(iss, issuer) != 0) {
		bad(err, "wrong issuer");
	} else if (!aud_matches(json_object_get(parts.claims, "aud"), audience)) {
		bad(err, "wrong audience");
	} else if (!json_is_number(exp) || json_number_value(exp) + JWT_SKEW_S <= (double)now) {
		bad(err, "expired, or no exp");
	} else if (nbf != NULL && (!json_is_number(nbf) || json_number_value(nbf) - JWT_SKEW_S > (double)now)) {
		bad(err, "not valid yet");
	} else if (s == NULL || *s == '\0' || strlen(s) > JWT_SUB_MAX) {
		bad(err, "no usable sub");
	} else {
		memcpy(sub, s, strlen(s) + 1);
		if (exp_s != NULL)	/* rounded down, never later; 0 past what an int64 holds */
			*exp_s = json_number_value(exp) >= 1 && json_number_value(exp) < 9e15
					 ? (int64_t)json_number_value(exp) : 0;
		rc = 0;
	}
out:
	jws_parts_clear(&parts);
	return rc;
}
