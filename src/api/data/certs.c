/* The certificates operations of C1 #1, #3-#6 and #9: create, get, list, list versions, update,
 * list deleted; and the CertificateBundle and CertificateItem JSON every certificate answer
 * uses. Never sees key material or uploads (certimport.c takes those). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "util/b64url.h"
#include "vault/certs.h"

/* ---- JSON ---- */

static int set_id(json_t *b, const char *field, char *id)
{
	if (id == NULL)
		return -1;
	json_object_set_new(b, field, json_string(id));	/* id: in the request's arena */
	return 0;
}

json_t *bundle_cert(const struct api_call *c, const struct cert *ct, bool with_policy)
{
	const struct obj *o = &ct->o;
	json_t *b = json_object();
	struct buf cer;
	struct kl_err err;
	char *pending = NULL;

	buf_init(&cer, 64 * 1024);
	if (b == NULL || set_id(b, "id", bundle_id(c, "certificates", o->name, o->version)) != 0)
		goto fail;
	if (ct->issued) {
		if (set_id(b, "kid", bundle_id(c, "keys", o->name, o->version)) != 0 ||
		    set_id(b, "sid", bundle_id(c, "secrets", o->name, o->version)) != 0 ||
		    b64_std_encode(ct->chain[0].data, ct->chain[0].len, &cer, &err) != 0)
			goto fail;
		json_object_set_new(b, "x5t", json_string(ct->x5t));
		json_object_set_new(b, "cer", json_string(buf_cstr(&cer)));
	}
	if (bundle_common(c, b, o, "deletedcertificates") != 0)
		goto fail;
	if (o->content_type != NULL)
		json_object_set_new(b, "contentType", json_string(o->content_type));
	json_object_set_new(b, "preserveCertOrder", json_boolean(ct->preserve_order));
	if (with_policy && ct->has_policy) {
		json_t *p = certpolicy_json(c, o->name, &ct->policy);

		if (p == NULL)
			goto fail;
		json_object_set_new(b, "policy", p);
	}
	if (ct->has_op && !o->is_deleted) {
		if (asprintf(&pending, "https://%s/certificates/%s/pending", c->host, o->name) < 0)
			goto fail;
		json_object_set_new(b, "pending", json_pack("{s:s}", "id", pending));
		free(pending);
	}
	buf_clear(&cer);
	return b;
fail:
	buf_clear(&cer);
	json_decref(b);
	return NULL;
}

json_t *item_cert(const struct api_call *c, const struct cert *ct, bool versioned)
{
	const struct obj *o = &ct->o;
	json_t *b = json_object(), *attrs;

	if (b == NULL ||
	    set_id(b, "id", bundle_id(c, "certificates", o->name, versioned ? o->version : NULL)) !=
		0)
		goto fail;
	if (ct->issued)
		json_object_set_new(b, "x5t", json_string(ct->x5t));
	if (bundle_common(c, b, o, "deletedcertificates") != 0)
		goto fail;
	attrs = json_object_get(b, "attributes");
	if (!o->is_deleted) { /* observed: live items lack these two, deleted ones have them */
		json_object_del(attrs, "recoveryLevel");
		json_object_del(attrs, "recoverableDays");
	}
	json_object_set_new(b, "subject", json_string(""));
	return b;
fail:
	json_decref(b);
	return NULL;
}

int reply_cert(struct api_call *c, int status, const struct cert *ct, bool with_policy)
{
	return api_reply_json(c, status, bundle_cert(c, ct, with_policy));
}

/* ---- request pieces ---- */

const char *certs_new_name(struct api_call *c)
{
	const char *name = api_name_param(c, "certificate");

	if (name != NULL &&
	    (strcasecmp(name, "contacts") == 0 || strcasecmp(name, "issuers") == 0 ||
	     strcasecmp(name, "restore") == 0)) {
		kl_fail(&c->err, KL_EINVAL,
			"'%s' is reserved by the certificates API and cannot name "
			"a certificate.",
			name);
		return NULL;
	}
	return name;
}

int certs_read_new(struct api_call *c, json_t *body, struct cert_new *in, struct obj_tag **tags)
{
	struct obj_patch p = { 0 };
	json_t *pco = json_object_get(body, "preserveCertOrder");

	memset(in, 0, sizeof(*in));
	if (body_attrs(body, &p, &c->err) != 0 || body_tags(body, &p, tags, &c->err) != 0)
		return -1;
	in->enabled = p.set_enabled ? p.enabled : true;
	in->has_tags = p.set_tags;
	in->tags = p.tags;
	in->n_tags = p.n_tags;
	if (pco != NULL && !json_is_null(pco)) {
		if (!json_is_boolean(pco))
			return kl_fail(&c->err, KL_EINVAL,
				       "The field 'preserveCertOrder' must be a "
				       "boolean.");
		in->preserve_order = json_is_true(pco);
	}
	return 0;
}

/* ---- handlers ---- */

int certs_create(struct api_call *c)
{
	struct obj_tag *tags = NULL;
	struct cert_policy pol;
	struct cert_new in;
	struct cert_op op;
	json_t *body = NULL, *jp;
	const char *name;
	char *loc = NULL;
	int rc = -1;

	cert_policy_init(&pol);
	cert_op_init(&op);
	if ((name = certs_new_name(c)) == NULL || body_object(c->req, &body, &c->err) != 0)
		goto out;
	jp = json_object_get(body, "policy");
	if (jp != NULL && json_is_null(jp))
		jp = NULL;
	if ((jp != NULL && certpolicy_read(c, jp, &pol) != 0) ||
	    certs_read_new(c, body, &in, &tags) != 0 ||
	    cert_create(&c->vault, name, jp != NULL ? &pol : NULL, &in, &op, &c->err) != 0)
		goto out;
	if (asprintf(&loc, "https://%s/certificates/%s/pending?api-version=%s&request_id=%s",
		     c->host, name, c->api_version, op.request_id) < 0) {
		loc = NULL;
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	rc = api_reply_json(c, 202, certop_json(c, name, &op));
	if (rc == 0)
		api_resp_header(c->resp, "Location", loc);
out:
	free(loc);
	free(tags);
	cert_op_clear(&op);
	cert_policy_clear(&pol);
	json_decref(body);
	return rc;
}

int certs_get(struct api_call *c)
{
	const char *name, *version = api_version_param(c);
	struct cert ct;
	int rc = -1;

	cert_init(&ct);
	if ((name = api_name_param(c, "certificate")) != NULL &&
	    cert_get(&c->vault, name, version, &ct, &c->err) == 0)
		rc = reply_cert(c, 200, &ct, *version == '\0');
	cert_clear(&ct);
	return rc;
}

int certs_page_reply(struct api_call *c, const char *path, struct cert_page *p, size_t max,
		     bool max_given, bool versioned)
{
	struct obj_page links = { .n = 0 }; /* only its next cursor is read */
	json_t *items = json_array();
	size_t i;

	memcpy(links.next, p->next, sizeof(links.next));
	for (i = 0; items != NULL && i < p->n; i++) {
		json_t *it = item_cert(c, &p->items[i], versioned);

		if (it == NULL || json_array_append_new(items, it) != 0) {
			json_decref(items);
			items = NULL;
		}
	}
	return api_reply_json(c, 200, paging_page(c, path, items, &links, max, max_given));
}

/* Replies with one page of a listing: name's versions when name is set, else the deleted
 * certificates when deleted is set, else the certificates (pending ones too when pending). */
static int list_reply(struct api_call *c, const char *name, bool deleted, bool pending,
		      const char *path)
{
	struct cert_page *p = calloc(1, sizeof(*p));
	char after[OBJ_NAME_MAX + 1];
	bool given;
	size_t max;
	int rc = -1;

	if (p == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (paging_args(c->req, &max, &given, after, sizeof(after), &c->err) != 0 ||
	    (name != NULL && cert_list_versions(&c->vault, name, after, max, p, &c->err) != 0) ||
	    (name == NULL && deleted && cert_list_deleted(&c->vault, after, max, p, &c->err) != 0) ||
	    (name == NULL && !deleted &&
	     cert_list(&c->vault, after, max, pending, p, &c->err) != 0))
		goto out;
	rc = certs_page_reply(c, path, p, max, given, name != NULL);
out:
	if (p != NULL)
		cert_page_clear(p);
	free(p);
	return rc;
}

int certs_list(struct api_call *c)
{
	const char *ip = api_query(c->req, "includePending");

	if (ip != NULL && *ip != '\0' && strcasecmp(ip, "true") != 0 &&
	    strcasecmp(ip, "false") != 0)
		return kl_fail(&c->err, KL_EINVAL, "includePending must be true or false.");
	return list_reply(c, NULL, false, ip != NULL && strcasecmp(ip, "true") == 0,
			  "/certificates");
}

int certs_list_versions(struct api_call *c)
{
	char path[OBJ_NAME_MAX + 32];
	const char *name;

	if ((name = api_name_param(c, "certificate")) == NULL)
		return -1;
	snprintf(path, sizeof(path), "/certificates/%s/versions", name);
	return list_reply(c, name, false, true, path);
}

int certs_update(struct api_call *c)
{
	struct obj_patch patch = { 0 };
	struct obj_tag *tags = NULL;
	struct cert_policy pol;
	struct cert out;
	json_t *body = NULL, *jp;
	const char *name;
	int rc = -1;

	cert_policy_init(&pol);
	cert_init(&out);
	if ((name = api_name_param(c, "certificate")) == NULL ||
	    body_object(c->req, &body, &c->err) != 0 || body_attrs(body, &patch, &c->err) != 0 ||
	    body_tags(body, &patch, &tags, &c->err) != 0)
		goto out;
	jp = json_object_get(body, "policy");
	if ((jp != NULL && !json_is_null(jp) && certpolicy_read(c, jp, &pol) != 0) ||
	    cert_update(&c->vault, name, api_version_param(c), patch.set_enabled, patch.enabled,
			patch.set_tags, patch.tags, patch.n_tags, &pol, &out, &c->err) != 0)
		goto out;
	rc = reply_cert(c, 200, &out, true);
out:
	free(tags);
	cert_clear(&out);
	cert_policy_clear(&pol);
	json_decref(body);
	return rc;
}

int deleted_certs_list(struct api_call *c)
{
	return list_reply(c, NULL, true, true, "/deletedcertificates");
}
