/* jwk.c owns struct jwk: reading a JSON Web Key's members (kty, crv, key_ops and the base64url
 * binary members) into bytes, and writing the public JWK the service returns. It holds no
 * cryptography and checks no key; crypto/keyops.c decides what the bytes mean. It must never put
 * a member's bytes or text in an error message, never emit a private member, and never leave
 * private bytes behind: they live in wiping buffers and are wiped on every failure. */
#include <string.h>

#include "util/b64url.h"
#include "util/jwk.h"
#include "util/secbuf.h"

#define JWK_BAD "BadParameter"

static const struct {
	unsigned bit;
	const char *name;
} jwk_ops[] = {
	{ JWK_OP_ENCRYPT, "encrypt" }, { JWK_OP_DECRYPT, "decrypt" },
	{ JWK_OP_SIGN, "sign" },       { JWK_OP_VERIFY, "verify" },
	{ JWK_OP_WRAP, "wrapKey" },    { JWK_OP_UNWRAP, "unwrapKey" },
	{ JWK_OP_IMPORT, "import" },   { JWK_OP_EXPORT, "export" },
};

#define JWK_N_OPS (sizeof(jwk_ops) / sizeof(jwk_ops[0]))

void jwk_init(struct jwk *j)
{
	memset(j, 0, sizeof(*j));
	buf_init(&j->n, JWK_MEMBER_MAX);
	buf_init(&j->e, JWK_MEMBER_MAX);
	buf_init(&j->x, JWK_MEMBER_MAX);
	buf_init(&j->y, JWK_MEMBER_MAX);
	buf_init_secret(&j->d, JWK_MEMBER_MAX);
	buf_init_secret(&j->p, JWK_MEMBER_MAX);
	buf_init_secret(&j->q, JWK_MEMBER_MAX);
	buf_init_secret(&j->dp, JWK_MEMBER_MAX);
	buf_init_secret(&j->dq, JWK_MEMBER_MAX);
	buf_init_secret(&j->qi, JWK_MEMBER_MAX);
	buf_init_secret(&j->k, JWK_MEMBER_MAX);
}

void jwk_clear(struct jwk *j)
{
	struct buf *all[] = { &j->n, &j->e, &j->x, &j->y, &j->d, &j->p,
			      &j->q, &j->dp, &j->dq, &j->qi, &j->k };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		buf_clear(all[i]);
	secure_wipe(j, sizeof(*j));
	jwk_init(j);
}

const char *jwk_op_name(unsigned op)
{
	const char *name = "unknown";
	size_t i;

	for (i = 0; i < JWK_N_OPS; i++) {
		if (jwk_ops[i].bit == op)
			name = jwk_ops[i].name;
	}
	return name;
}

int jwk_key_ops_from_json(json_t *arr, unsigned *ops, struct kl_err *err)
{
	unsigned bits = 0;
	size_t i, k;
	json_t *v;
	int rc = -1;

	if (!json_is_array(arr)) {
		kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL,
			   "The member 'key_ops' must be an array of operation names.");
		goto out;
	}
	json_array_foreach (arr, i, v) {
		if (!json_is_string(v)) {
			kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL,
				   "The member 'key_ops' must be an array of operation names.");
			goto out;
		}
		for (k = 0; k < JWK_N_OPS; k++) {
			if (strcmp(json_string_value(v), jwk_ops[k].name) == 0)
				break;
		}
		/* The names are case-sensitive, as the service's enum is. */
		if (k == JWK_N_OPS || strlen(json_string_value(v)) != json_string_length(v)) {
			kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL,
				   "The key operation '%.32s' is not valid; use encrypt, decrypt, "
				   "sign, verify, wrapKey, unwrapKey, import or export.",
				   json_string_value(v));
			goto out;
		}
		bits |= jwk_ops[k].bit;
	}
	*ops = bits;
	rc = 0;
out:
	return rc;
}

json_t *jwk_key_ops_json(unsigned ops)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr != NULL && i < JWK_N_OPS; i++) {
		if ((ops & jwk_ops[i].bit) != 0 &&
		    json_array_append_new(arr, json_string(jwk_ops[i].name)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	return arr;
}

/* A short text member (kty, crv) into dst; absent or null leaves dst empty. */
static int read_name(json_t *obj, const char *member, char *dst, size_t size, struct kl_err *err)
{
	json_t *v = json_object_get(obj, member);
	int rc = -1;

	if (v == NULL || json_is_null(v)) {
		rc = 0;
		goto out;
	}
	if (!json_is_string(v)) {
		kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL, "The JWK member '%s' must be a string.",
			   member);
		goto out;
	}
	/* Longer than any valid name, or with a NUL inside: no valid value looks like this. */
	if (json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL, "The JWK member '%s' is not supported.",
			   member);
		goto out;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	rc = 0;
out:
	return rc;
}

/* A base64url member into dst (empty); absent or null leaves it empty. */
static int read_bytes(json_t *obj, const char *member, struct buf *dst, struct kl_err *err)
{
	json_t *v = json_object_get(obj, member);
	struct kl_err e2 = { 0 };
	int rc = -1;

	if (v == NULL || json_is_null(v)) {
		rc = 0;
		goto out;
	}
	if (!json_is_string(v)) {
		kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL, "The JWK member '%s' must be a string.",
			   member);
		goto out;
	}
	/* Four characters make three bytes: refuse an oversize member before decoding any of it. */
	if (json_string_length(v) / 4 > JWK_MEMBER_MAX / 3 + 1) {
		kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL, "The JWK member '%s' is too large.",
			   member);
		goto out;
	}
	if (b64url_decode(json_string_value(v), json_string_length(v), dst, &e2) != 0) {
		if (e2.code == KL_ETOOBIG)
			kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL,
				   "The JWK member '%s' is too large.", member);
		else if (e2.code == KL_EINVAL)
			kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL,
				   "The JWK member '%s' is not valid base64url.", member);
		else
			*err = e2;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int jwk_from_json(json_t *obj, struct jwk *out, struct kl_err *err)
{
	const struct {
		const char *name;
		size_t off;
	} members[] = {
		{ "n", offsetof(struct jwk, n) },   { "e", offsetof(struct jwk, e) },
		{ "x", offsetof(struct jwk, x) },   { "y", offsetof(struct jwk, y) },
		{ "d", offsetof(struct jwk, d) },   { "p", offsetof(struct jwk, p) },
		{ "q", offsetof(struct jwk, q) },   { "dp", offsetof(struct jwk, dp) },
		{ "dq", offsetof(struct jwk, dq) }, { "qi", offsetof(struct jwk, qi) },
		{ "k", offsetof(struct jwk, k) },
	};
	json_t *ops;
	size_t i;
	int rc = -1;

	jwk_clear(out);
	if (!json_is_object(obj)) {
		kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL, "The JWK must be a JSON object.");
		goto out;
	}
	if (read_name(obj, "kty", out->kty, sizeof(out->kty), err) != 0 ||
	    read_name(obj, "crv", out->crv, sizeof(out->crv), err) != 0)
		goto out;
	if (out->kty[0] == '\0') {
		kl_fail_az(err, KL_EINVAL, JWK_BAD, NULL, "The JWK member 'kty' is required.");
		goto out;
	}
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		if (read_bytes(obj, members[i].name, (struct buf *)((char *)out + members[i].off),
			       err) != 0)
			goto out;
	}
	ops = json_object_get(obj, "key_ops");
	if (ops != NULL && !json_is_null(ops)) {
		if (jwk_key_ops_from_json(ops, &out->key_ops, err) != 0)
			goto out;
		out->has_key_ops = true;
	}
	rc = 0;
out:
	if (rc != 0)
		jwk_clear(out);	/* wipes whatever private member was already decoded */
	return rc;
}

/* Sets obj[member] to the base64url text of b; nothing when b is empty. */
static int put_bytes(json_t *obj, const char *member, const struct buf *b)
{
	struct buf text;
	struct kl_err err = { 0 };
	int rc = -1;

	buf_init(&text, 2 * JWK_MEMBER_MAX);
	if (b->len == 0) {
		rc = 0;
		goto out;
	}
	if (b64url_encode(b->data, b->len, &text, &err) != 0 ||
	    json_object_set_new(obj, member, json_stringn((const char *)text.data, text.len)) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&text);
	return rc;
}

json_t *jwk_public_json(const struct jwk *j, const char *kid)
{
	json_t *obj = json_object();
	json_t *res = NULL;

	/* jansson keeps insertion order, so this is the order the service writes. */
	if (obj == NULL ||
	    (kid != NULL && json_object_set_new(obj, "kid", json_string(kid)) != 0) ||
	    json_object_set_new(obj, "kty", json_string(j->kty)) != 0 ||
	    (j->has_key_ops &&
	     json_object_set_new(obj, "key_ops", jwk_key_ops_json(j->key_ops)) != 0) ||
	    put_bytes(obj, "n", &j->n) != 0 || put_bytes(obj, "e", &j->e) != 0 ||
	    (j->crv[0] != '\0' && json_object_set_new(obj, "crv", json_string(j->crv)) != 0) ||
	    put_bytes(obj, "x", &j->x) != 0 || put_bytes(obj, "y", &j->y) != 0)
		goto out;
	res = obj;
	obj = NULL;
out:
	json_decref(obj);
	return res;
}
