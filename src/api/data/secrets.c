/* The secrets operations: Azure JSON in, vault calls, Azure JSON out. Values pass from the parsed
 * body (wiping allocator) to the vault and from the vault's secbuf to the response body (wiping
 * buffer); they are never logged or copied elsewhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "vault/certs.h"
#include "vault/idem.h"
#include "vault/secrets.h"

static int reply_secret(struct api_call *c, const struct obj *o, const char *value, size_t len)
{
	return api_reply_json(c, 200, bundle_secret(c, o, value, len, false));
}

int secrets_set(struct api_call *c)
{
	const struct obj_idem *once = NULL;
	struct obj_tag *tags = NULL;
	struct obj_idem idem;
	struct obj in, out;
	json_t *body = NULL, *jv;
	const char *name, *ct = NULL;
	int rc = -1;

	obj_init(&in);
	obj_init(&out);
	if ((name = api_name_param(c, "secret")) == NULL || body_object(c->req, &body, &c->err) != 0)
		goto out;
	jv = json_object_get(body, "value");
	if (jv == NULL || json_is_null(jv)) {
		kl_fail(&c->err, KL_EINVAL, "The field 'value' is required.");
		goto out;
	}
	if (!json_is_string(jv)) {
		kl_fail(&c->err, KL_EINVAL, "The field 'value' must be a string.");
		goto out;
	}
	if (json_string_length(jv) > SECRET_VALUE_MAX) {
		kl_fail(&c->err, KL_EINVAL, "The secret value is larger than %d bytes.", SECRET_VALUE_MAX);
		goto out;
	}
	if (body_opt_string(body, "contentType", &ct, &c->err) != 0 ||
	    body_new_object(body, &in, &tags, &c->err) != 0)
		goto out;
	if (ct != NULL && body_utf8_chars(ct) > OBJ_CONTENT_TYPE_MAX_CHARS) {
		kl_fail(&c->err, KL_EINVAL, "contentType is longer than %d characters.",
			OBJ_CONTENT_TYPE_MAX_CHARS);
		goto out;
	}
	in.content_type = (char *)ct;	/* borrowed, like the tags */
	if (api_idempotency(c, name, &idem, &once) != 0)
		goto out;
	/* a replay answers with the first attempt's version and this body's value: the same, as
	 * the fingerprint covers the body */
	rc = obj_create_idem(&c->vault, OBJ_SECRET, name, &in, json_string_value(jv),
			     json_string_length(jv), once, &out, &c->err);
	if (rc == 0)
		rc = reply_secret(c, &out, json_string_value(jv), json_string_length(jv));
out:
	if (once != NULL)	/* idem_prepare wipes what it fails to finish */
		secure_wipe(&idem, sizeof(idem));
	body_new_object_done(&in, tags);
	obj_clear(&in);
	obj_clear(&out);
	json_decref(body);
	return rc;
}

int secrets_get(struct api_call *c)
{
	struct secbuf *value = NULL, *conv = NULL;
	const char *name, *out_type = api_query(c->req, "outContentType");
	char prev[OBJ_VERSION_LEN + 1] = "";
	json_t *b;
	struct obj o;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "secret")) == NULL ||
	    secret_get(&c->vault, name, api_version_param(c), &o, &value, &c->err) != 0)
		goto out;
	/* a certificate's secret: another format on request, and the version before it (C3) */
	if (out_type != NULL && cert_secret_convert(&o, value, out_type, &conv, &c->err) != 0)
		goto out;
	if (o.managed && cert_previous_version(&c->vault, o.name, o.version, prev, &c->err) != 0)
		goto out;
	if (conv != NULL) {
		free(o.content_type);
		if ((o.content_type = strdup(out_type)) == NULL) {
			kl_fail(&c->err, KL_ENOMEM, "out of memory");
			goto out;
		}
	}
	b = bundle_secret(c, &o, (const char *)(conv ? conv : value)->data, (conv ? conv : value)->len,
			  false);
	if (b != NULL && prev[0] != '\0')
		json_object_set_new(b, "previousVersion", json_string(prev));
	rc = api_reply_json(c, 200, b);
out:
	secbuf_free(conv);
	secbuf_free(value);
	obj_clear(&o);
	return rc;
}

int secrets_update(struct api_call *c)
{
	struct obj_patch p = { 0 };
	struct obj_tag *tags = NULL;
	struct obj o;
	json_t *body = NULL;
	const char *name, *ct = NULL;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "secret")) == NULL || body_object(c->req, &body, &c->err) != 0 ||
	    body_attrs(body, &p, &c->err) != 0 || body_tags(body, &p, &tags, &c->err) != 0 ||
	    body_opt_string(body, "contentType", &ct, &c->err) != 0)
		goto out;
	if (ct != NULL) {
		if (body_utf8_chars(ct) > OBJ_CONTENT_TYPE_MAX_CHARS) {
			kl_fail(&c->err, KL_EINVAL, "contentType is longer than %d characters.",
				OBJ_CONTENT_TYPE_MAX_CHARS);
			goto out;
		}
		p.set_content_type = true;
		p.content_type = ct;
	}
	if (obj_update(&c->vault, OBJ_SECRET, name, api_version_param(c), &p, &o, &c->err) != 0)
		goto out;
	rc = reply_secret(c, &o, NULL, 0);
out:
	obj_clear(&o);
	body_tags_free(tags, p.n_tags);
	json_decref(body);
	return rc;
}

static json_t *secret_item(const struct api_call *c, const struct obj *o, bool versioned)
{
	return bundle_secret(c, o, NULL, 0, !versioned);
}

int secrets_list(struct api_call *c)
{
	return paging_list(c, OBJ_SECRET, PAGING_LIVE, NULL, "/secrets", secret_item);
}

int secrets_list_versions(struct api_call *c)
{
	char path[OBJ_NAME_MAX + 32];
	const char *name;

	if ((name = api_name_param(c, "secret")) == NULL)
		return -1;
	snprintf(path, sizeof(path), "/secrets/%s/versions", name);
	return paging_list(c, OBJ_SECRET, PAGING_VERSIONS, name, path, secret_item);
}

int secrets_delete(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "secret")) == NULL ||
	    obj_delete(&c->vault, OBJ_SECRET, name, &o, &c->err) != 0)
		goto out;
	rc = reply_secret(c, &o, NULL, 0);
out:
	obj_clear(&o);
	return rc;
}

int secrets_backup(struct api_call *c)
{
	const char *name = api_name_param(c, "secret");

	return name ? api_backup(c, OBJ_SECRET, name) : -1;
}

int secrets_restore(struct api_call *c)
{
	struct obj o;
	int rc = -1;

	obj_init(&o);
	if (api_restore(c, OBJ_SECRET, &o) == 0)
		rc = reply_secret(c, &o, NULL, 0);
	obj_clear(&o);
	return rc;
}

int deleted_secrets_get(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "secret")) == NULL || secret_get_deleted(&c->vault, name, &o, &c->err) != 0)
		goto out;
	rc = reply_secret(c, &o, NULL, 0);
out:
	obj_clear(&o);
	return rc;
}

int deleted_secrets_list(struct api_call *c)
{
	return paging_list(c, OBJ_SECRET, PAGING_DELETED, NULL, "/deletedsecrets", secret_item);
}

int deleted_secrets_recover(struct api_call *c)
{
	struct obj o;
	const char *name;
	int rc = -1;

	obj_init(&o);
	if ((name = api_name_param(c, "secret")) == NULL ||
	    obj_recover(&c->vault, OBJ_SECRET, name, &o, &c->err) != 0)
		goto out;
	rc = reply_secret(c, &o, NULL, 0);
out:
	obj_clear(&o);
	return rc;
}

int deleted_secrets_purge(struct api_call *c)
{
	const char *name;

	if ((name = api_name_param(c, "secret")) == NULL || obj_purge(&c->vault, OBJ_SECRET, name, &c->err) != 0)
		return -1;
	return api_reply_empty(c, 204);
}
