/* The cryptographic operations on the wire: encrypt, decrypt, wrapkey, unwrapkey, sign, verify.
 * Binary members are base64url; decrypted and unwrapped bytes exist only in wiping buffers and
 * the response body (itself wiped when the request ends). */
#include <string.h>

#include "api/internal.h"
#include "util/b64url.h"
#include "vault/keys.h"

#define MEMBER_MAX (64u * 1024)

/* A base64url member into out; absent or null leaves out empty with *present false. */
static int member(struct api_call *c, json_t *body, const char *field, bool required,
		  struct buf *out, bool *present)
{
	json_t *v = json_object_get(body, field);

	*present = false;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return kl_fail(&c->err, KL_EINVAL, "The field '%s' is required.", field);
		return 0;
	}
	if (!json_is_string(v))
		return kl_fail(&c->err, KL_EINVAL, "The field '%s' must be a base64url string.", field);
	if (b64url_decode(json_string_value(v), json_string_length(v), out, &c->err) != 0) {
		if (c->err.code == KL_ENOMEM)
			return -1;
		return kl_fail(&c->err, c->err.code == KL_ETOOBIG ? KL_EINVAL : c->err.code,
			       "The field '%s' is not valid base64url%s.", field,
			       c->err.code == KL_ETOOBIG ? " or is too large" : "");
	}
	*present = true;
	return 0;
}

static int set_b64(struct api_call *c, json_t *obj, const char *field, const void *p, size_t n)
{
	struct buf b;
	int rc = -1;

	buf_init_secret(&b, MEMBER_MAX * 2);
	if (b64url_encode(p, n, &b, &c->err) == 0 &&
	    json_object_set_new(obj, field, json_stringn((const char *)b.data ? (const char *)b.data : "", b.len)) == 0)
		rc = 0;
	buf_clear(&b);
	return rc;
}

/* The key's type and size, for the throttle's weight of the operation (throttle.h), as
 * key_operate read them. */
static void note_key(struct api_call *c, const struct key_op_out *res)
{
	if (!throttle_config_of(c->ctx->throttle)->is_off)
		throttle_gate_note_key(c, res->kty, res->bits);
}

static int run(struct api_call *c, enum key_op op)
{
	struct buf value, iv, aad, tag, sig, out;
	struct key_op_in in = { 0 };
	struct key_op_out res = { 0 };
	struct obj o;
	json_t *body = NULL, *reply = NULL;
	const char *name, *alg = NULL;
	bool has_iv = false, has_aad = false, has_tag = false, present;
	char *kid = NULL;
	int rc = -1;

	obj_init(&o);
	buf_init_secret(&value, MEMBER_MAX);
	buf_init(&iv, 64);
	buf_init_secret(&aad, MEMBER_MAX);
	buf_init(&tag, 64);
	buf_init(&sig, 1024);
	buf_init_secret(&out, MEMBER_MAX);
	res.out = &out;
	if ((name = api_name_param(c, "key")) == NULL || body_object(c->req, &body, &c->err) != 0 ||
	    body_opt_string(body, "alg", &alg, &c->err) != 0)
		goto out;
	if (alg == NULL) {
		kl_fail(&c->err, KL_EINVAL, "The field 'alg' (the algorithm) is required.");
		goto out;
	}
	if (op == KEY_OP_VERIFY) {
		if (member(c, body, "digest", true, &value, &present) != 0 ||
		    member(c, body, "value", true, &sig, &present) != 0)
			goto out;
		in.signature = sig.data;
		in.signature_len = sig.len;
	} else if (member(c, body, "value", true, &value, &present) != 0 ||
		   member(c, body, "iv", false, &iv, &has_iv) != 0 ||
		   member(c, body, "aad", false, &aad, &has_aad) != 0 ||
		   member(c, body, "tag", false, &tag, &has_tag) != 0) {
		goto out;
	}
	in.value = value.data;
	in.value_len = value.len;
	if (has_iv) {
		in.iv = iv.data;
		in.iv_len = iv.len;
	}
	if (has_aad) {
		in.aad = aad.data;
		in.aad_len = aad.len;
	}
	if (has_tag) {
		in.tag = tag.data;
		in.tag_len = tag.len;
	}
	if (key_operate(&c->vault, name, api_version_param(c), op, alg, &in,
			&res, &o, &c->err) != 0)
		goto out;
	note_key(c, &res);
	if ((reply = json_object()) == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (op == KEY_OP_VERIFY) {
		json_object_set_new(reply, "value", json_boolean(res.valid));
	} else {
		if ((kid = bundle_id(c, "keys", o.name, o.version)) == NULL) {
			kl_fail(&c->err, KL_ENOMEM, "out of memory");
			goto out;
		}
		json_object_set_new(reply, "kid", json_string(kid));
		if (set_b64(c, reply, "value", out.data, out.len) != 0 ||
		    (res.iv_len > 0 && set_b64(c, reply, "iv", res.iv, res.iv_len) != 0) ||
		    (res.tag_len > 0 && set_b64(c, reply, "tag", res.tag, res.tag_len) != 0) ||
		    (res.tag_len > 0 && has_aad && set_b64(c, reply, "aad", aad.data, aad.len) != 0))
			goto out;
	}
	rc = api_reply_json(c, 200, reply);
	reply = NULL;
out:
	json_decref(reply);	/* kid: in the request's arena */
	json_decref(body);
	obj_clear(&o);
	buf_clear(&value);
	buf_clear(&iv);
	buf_clear(&aad);
	buf_clear(&tag);
	buf_clear(&sig);
	buf_clear(&out);
	return rc;
}

int keys_encrypt(struct api_call *c)
{
	return run(c, KEY_OP_ENCRYPT);
}

int keys_decrypt(struct api_call *c)
{
	return run(c, KEY_OP_DECRYPT);
}

int keys_wrap(struct api_call *c)
{
	return run(c, KEY_OP_WRAP);
}

int keys_unwrap(struct api_call *c)
{
	return run(c, KEY_OP_UNWRAP);
}

int keys_sign(struct api_call *c)
{
	return run(c, KEY_OP_SIGN);
}

int keys_verify(struct api_call *c)
{
	return run(c, KEY_OP_VERIFY);
}
