/* The keys operations: create, import, get, update, list, delete and recovery, backup, restore,
 * rotate and rotation policies. JWKs leave here with public members only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "util/b64url.h"
#include "vault/idem.h"
#include "vault/keys.h"

json_t *bundle_key(const struct api_call *c, const struct obj *o, const struct key_meta *m,
		   bool is_item, bool versioned)
{
	json_t *b = json_object();
	char *kid = bundle_id(c, "keys", o->name, versioned ? o->version : NULL);

	if (b == NULL || kid == NULL)
		goto fail;
	if (is_item) {
		json_object_set_new(b, "kid", json_string(kid));
	} else {
		json_t *jwk = jwk_public_json(&m->pub, kid);

		if (jwk == NULL)
			goto fail;
		json_object_set_new(b, "key", jwk);
	}
	if (bundle_common(c, b, o, "deletedkeys") != 0)
		goto fail;
	json_object_set_new(json_object_get(b, "attributes"), "exportable", json_false());
	return b;	/* kid: in the request's arena */
fail:
	json_decref(b);
	return NULL;
}

static int reply_key(struct api_call *c, const struct obj *o, const struct key_meta *m)
{
	throttle_gate_note_key(c, m->kty, m->bits);
	return api_reply_json(c, 200, bundle_key(c, o, m, false, true));
}

/* A key item needs the stored description only for full bundles; items show kid and attributes. */
static json_t *key_item(const struct api_call *c, const struct obj *o, bool versioned)
{
	return bundle_key(c, o, NULL, true, versioned);
}

/* Key release is out of scope: an exportable key or a release policy is refused. */
static int refuse_release(struct api_call *c, json_t *body)
{
	json_t *a = json_object_get(body, "attributes"), *ex, *rp = json_object_get(body, "release_policy");

	ex = json_is_object(a) ? json_object_get(a, "exportable") : NULL;
	if (ex != NULL && !json_is_null(ex) && !json_is_boolean(ex))
		return kl_fail(&c->err, KL_EINVAL, "The attribute 'exportable' must be a boolean.");
	if (json_is_true(ex))
		return kl_fail(&c->err, KL_EINVAL, "Exportable keys need a key release policy; kluis "
			       "does not support key release.");
	if (rp != NULL && !json_is_null(rp))
		return kl_fail(&c->err, KL_EINVAL, "Key release policies are not supported.");
	return 0;
}

/* The attributes and tags of a new key version (create, import), borrowed as body_new_object
 * says. */
static int read_common(struct api_call *c, json_t *body, struct obj *in, struct obj_tag **tags)
{
	if (refuse_release(c, body) != 0)
		return -1;
	return body_new_object(body, in, tags, &c->err);
}

static int opt_uint(json_t *body, const char *field, unsigned long max, unsigned long *out,
		    struct kl_err *err)
{
	json_t *v = json_object_get(body, field);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    (unsigned long long)json_integer_value(v) > max)
		return kl_fail(err, KL_EINVAL, "The field '%s' must be a positive integer.", field);
	*out = (unsigned long)json_integer_value(v);
	return 0;
}

int keys_create(struct api_call *c)
{
	const struct obj_idem *once = NULL;
	struct obj_idem idem;
	struct obj_tag *tags = NULL;
	struct key_spec spec = { 0 };
	struct key_meta m;
	struct obj in, out;
	json_t *body = NULL, *ops;
	unsigned long bits, exponent;
	const char *name;
	int rc = -1;

	obj_init(&in);
	obj_init(&out);
	key_meta_init(&m);
	if ((name = api_name_param(c, "key")) == NULL || body_object(c->req, &body, &c->err) != 0 ||
	    body_opt_string(body, "kty", &spec.kty, &c->err) != 0 ||
	    body_opt_string(body, "crv", &spec.crv, &c->err) != 0 ||
	    opt_uint(body, "key_size", 65536, &bits, &c->err) != 0 ||
	    opt_uint(body, "public_exponent", 0xffffffffUL, &exponent, &c->err) != 0 ||
	    read_common(c, body, &in, &tags) != 0)
		goto out;
	if (spec.kty == NULL) {
		kl_fail(&c->err, KL_EINVAL, "The field 'kty' (the key type) is required.");
		goto out;
	}
	spec.bits = (unsigned)bits;
	spec.exponent = exponent;
	ops = json_object_get(body, "key_ops");
	if (ops != NULL && !json_is_null(ops)) {
		if (jwk_key_ops_from_json(ops, &spec.key_ops, &c->err) != 0)
			goto out;
		spec.has_key_ops = true;
	}
	if (api_idempotency(c, name, &idem, &once) != 0 ||
	    key_create(&c->vault, name, &spec, &in, once, &out, &m, &c->err) != 0)
		goto out;
	rc = reply_key(c, &out, &m);
out:
	if (once != NULL)	/* idem_prepare wipes what it fails to finish */
		secure_wipe(&idem, sizeof(idem));
	body_new_object_done(&in, tags);
	obj_clear(&in);
	obj_clear(&out);
	key_meta_clear(&m);
	json_decref(body);
	return rc;
}

int keys_import(struct api_call *c)
{
	const struct obj_idem *once = NULL;
	struct obj_idem idem;
	struct obj_tag *tags = NULL;
	struct key_meta m;
	struct jwk jwk;
	struct obj in, out;
	json_t *body = NULL, *key, *hsm;
	const char *name;
	int rc = -1;

	obj_init(&in);
	obj_init(&out);
	key_meta_init(&m);
	jwk_init(&jwk);
	if ((name = api_name_param(c, "key")) == NULL || body_object(c->req, &body, &c->err) != 0 ||
	    read_common(c, body, &in, &tags) != 0)
		goto out;
	key = json_object_get(body, "key");
	hsm = json_object_get(body, "Hsm");
	if (!json_is_object(key)) {
		kl_fail(&c->err, KL_EINVAL, "The field 'key' (a JSON Web Key) is required.");
		goto out;
	}
	if (hsm != NULL && !json_is_null(hsm) && !json_is_boolean(hsm)) {
		kl_fail(&c->err, KL_EINVAL, "The field 'Hsm' must be a boolean.");
		goto out;
	}
	if (jwk_from_json(key, &jwk, &c->err) != 0 || api_idempotency(c, name, &idem, &once) != 0 ||
	    key_import(&c->vault, name, &jwk, json_is_true(hsm), &in, once, &out, &m, &c->err) != 0)
		goto out;
	rc = reply_key(c, &out, &m);
out:
	if (once != NULL)	/* idem_prepare wipes what it fails to finish */
		secure_wipe(&idem, sizeof(idem));
	body_new_object_done(&in, tags);
	obj_clear(&in);
	obj_clear(&out);
	key_meta_clear(&m);
	jwk_clear(&jwk);
	json_decref(body);
	return rc;
}

int keys_get(struct api_call *c)
{
	struct key_meta m;
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	key_meta_init(&m);
	if ((name = api_name_param(c, "key")) == NULL ||
	    key_get(&c->vault, name, api_version_param(c), &o, &m, &c->err) != 0)
		goto out;
	rc = reply_key(c, &o, &m);
out:
	obj_clear(&o);
	key_meta_clear(&m);
	return rc;
}

int keys_update(struct api_call *c)
{
	struct obj_patch p = { 0 };
	struct obj_tag *tags = NULL;
	struct key_meta m;
	struct obj o;
	json_t *body = NULL, *ops;
	unsigned key_ops = 0;
	bool set_ops = false;
	const char *name;
	int rc = -1;

	obj_init(&o);
	key_meta_init(&m);
	if ((name = api_name_param(c, "key")) == NULL || body_object(c->req, &body, &c->err) != 0 ||
	    refuse_release(c, body) != 0 || body_attrs(body, &p, &c->err) != 0 ||
	    body_tags(body, &p, &tags, &c->err) != 0)
		goto out;
	ops = json_object_get(body, "key_ops");
	if (ops != NULL && !json_is_null(ops)) {
		if (jwk_key_ops_from_json(ops, &key_ops, &c->err) != 0)
			goto out;
		set_ops = true;
	}
	if (key_update(&c->vault, name, api_version_param(c), &p, set_ops, key_ops, &o, &m, &c->err) != 0)
		goto out;
	rc = reply_key(c, &o, &m);
out:
	obj_clear(&o);
	key_meta_clear(&m);
	body_tags_free(tags, p.n_tags);
	json_decref(body);
	return rc;
}

int keys_list(struct api_call *c)
{
	return paging_list(c, OBJ_KEY, PAGING_LIVE, NULL, "/keys", key_item);
}

int keys_list_versions(struct api_call *c)
{
	char path[OBJ_NAME_MAX + 32];
	const char *name;

	if ((name = api_name_param(c, "key")) == NULL)
		return -1;
	snprintf(path, sizeof(path), "/keys/%s/versions", name);
	return paging_list(c, OBJ_KEY, PAGING_VERSIONS, name, path, key_item);
}

int deleted_keys_list(struct api_call *c)
{
	return paging_list(c, OBJ_KEY, PAGING_DELETED, NULL, "/deletedkeys", key_item);
}

/* Replies with the full bundle of o (its description decoded from o). */
static int reply_obj(struct api_call *c, const struct obj *o)
{
	struct key_meta m;
	int rc = -1;

	key_meta_init(&m);
	if (key_meta_of(o, &m, &c->err) == 0)
		rc = reply_key(c, o, &m);
	key_meta_clear(&m);
	return rc;
}

int keys_delete(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "key")) != NULL && key_delete(&c->vault, name, &o, &c->err) == 0)
		rc = reply_obj(c, &o);
	obj_clear(&o);
	return rc;
}

int deleted_keys_get(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "key")) != NULL &&
	    obj_get_deleted(&c->vault, OBJ_KEY, name, &o, &c->err) == 0)
		rc = reply_obj(c, &o);
	obj_clear(&o);
	return rc;
}

int deleted_keys_recover(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "key")) != NULL && obj_recover(&c->vault, OBJ_KEY, name, &o, &c->err) == 0)
		rc = reply_obj(c, &o);
	obj_clear(&o);
	return rc;
}

int deleted_keys_purge(struct api_call *c)
{
	const char *name;

	if ((name = api_name_param(c, "key")) == NULL || key_purge(&c->vault, name, &c->err) != 0)
		return -1;
	return api_reply_empty(c, 204);
}

int keys_backup(struct api_call *c)
{
	const char *name = api_name_param(c, "key");

	return name ? api_backup(c, OBJ_KEY, name) : -1;
}

int keys_restore(struct api_call *c)
{
	struct obj o;
	int rc = -1;

	obj_init(&o);
	if (api_restore(c, OBJ_KEY, &o) == 0)
		rc = reply_obj(c, &o);
	obj_clear(&o);
	return rc;
}

int keys_rotate(struct api_call *c)
{
	const struct obj_idem *once = NULL;
	struct obj_idem idem;
	struct key_meta m;
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	key_meta_init(&m);
	if ((name = api_name_param(c, "key")) != NULL &&
	    api_idempotency(c, name, &idem, &once) == 0 &&
	    key_rotate(&c->vault, name, once, &o, &m, &c->err) == 0)
		rc = reply_key(c, &o, &m);
	if (once != NULL)	/* idem_prepare wipes what it fails to finish */
		secure_wipe(&idem, sizeof(idem));
	obj_clear(&o);
	key_meta_clear(&m);
	return rc;
}

int keys_release(struct api_call *c)
{
	const char *name = api_name_param(c, "key");

	return name ? key_release(&c->vault, name, api_version_param(c), &c->err) : -1;
}

int keys_attestation(struct api_call *c)
{
	return kl_fail(&c->err, KL_EINVAL, "Key attestation (a Managed HSM feature) is not supported "
		       "by kluis.");
}

int keys_random(struct api_call *c)
{
	unsigned char bytes[128];
	struct buf b64;
	json_t *body = NULL, *count;
	int rc = -1;

	buf_init(&b64, 512);
	if (body_object(c->req, &body, &c->err) != 0)
		goto out;
	count = json_object_get(body, "count");
	if (!json_is_integer(count) || json_integer_value(count) < 1 || json_integer_value(count) > 128) {
		kl_fail(&c->err, KL_EINVAL, "The field 'count' must be an integer from 1 to 128.");
		goto out;
	}
	if (key_random(bytes, (size_t)json_integer_value(count), &c->err) != 0 ||
	    b64url_encode(bytes, (size_t)json_integer_value(count), &b64, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, json_pack("{s:s}", "value", buf_cstr(&b64)));
out:
	secure_wipe(bytes, sizeof(bytes));
	buf_clear(&b64);
	json_decref(body);
	return rc;
}
