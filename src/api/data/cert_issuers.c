/* The certificate issuer operations: IssuerBundle JSON in, vault/certissuers.h calls, IssuerBundle
 * JSON out, and the page of issuer items. The issuer password (credentials.pwd) goes from the
 * parsed body (wiping allocator) straight to the vault, which seals it; it is never put in an
 * answer, a log or an error message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "vault/certissuers.h"

static char *issuer_id(const struct api_call *c, const char *name)
{
	char *id = NULL;

	if (asprintf(&id, "https://%s/certificates/issuers/%s", c->host, name) < 0)
		return NULL;
	return id;
}

/* Sets field to s when s is not NULL; false when out of memory. */
static bool set_opt(json_t *o, const char *field, const char *s)
{
	return s == NULL || json_object_set_new(o, field, json_string(s)) == 0;
}

static json_t *admin_json(const struct cert_admin *a)
{
	json_t *j = json_object();

	if (j == NULL || !set_opt(j, "first_name", a->first_name) ||
	    !set_opt(j, "last_name", a->last_name) || !set_opt(j, "email", a->email) ||
	    !set_opt(j, "phone", a->phone)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* The IssuerBundle: credentials carry the account id only, never the password. */
static json_t *issuer_json(const struct api_call *c, const struct cert_issuer *i)
{
	json_t *j = json_object(), *creds = NULL, *org = NULL, *admins = NULL, *attrs = NULL;
	char *id = issuer_id(c, i->name);
	size_t k;

	if (j == NULL || id == NULL || json_object_set_new(j, "id", json_string(id)) != 0 ||
	    json_object_set_new(j, "provider", json_string(i->provider)) != 0)
		goto fail;
	if (i->has_credentials) {
		if ((creds = json_object()) == NULL ||
		    !set_opt(creds, "account_id", i->account_id) ||
		    json_object_set_new(j, "credentials", creds) != 0) {
			creds = NULL;
			goto fail;
		}
	}
	if ((org = json_object()) == NULL || !set_opt(org, "id", i->org_id) ||
	    (admins = json_array()) == NULL)
		goto fail;
	for (k = 0; k < i->n_admins; k++)
		if (json_array_append_new(admins, admin_json(&i->admins[k])) != 0)
			goto fail;
	json_object_set_new(org, "admin_details", admins);
	admins = NULL;
	if (json_object_set_new(j, "org_details", org) != 0) {
		org = NULL;
		goto fail;
	}
	org = NULL;
	attrs = json_pack("{s:b, s:I, s:I}", "enabled", i->enabled, "created",
			  (json_int_t)i->created, "updated", (json_int_t)i->updated);
	if (attrs == NULL || json_object_set_new(j, "attributes", attrs) != 0)
		goto fail;
	free(id);
	return j;
fail:
	json_decref(admins);
	json_decref(org);
	json_decref(j);
	free(id);
	return NULL;
}

/* An optional string member without NUL characters; *len its length (may be NULL). */
static int opt_text(struct api_call *c, json_t *obj, const char *field, const char **out,
		    size_t *len)
{
	json_t *v;

	if (body_opt_string(obj, field, out, &c->err) != 0)
		return -1;
	if (*out == NULL)
		return 0;
	v = json_object_get(obj, field);
	if (strlen(*out) != json_string_length(v))
		return kl_fail(&c->err, KL_EINVAL,
			       "The field '%s' must not contain NUL characters.", field);
	if (len != NULL)
		*len = json_string_length(v);
	return 0;
}

/* An optional object member: *out NULL when absent or null. */
static int opt_object(struct api_call *c, json_t *obj, const char *field, json_t **out)
{
	json_t *v = json_object_get(obj, field);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return kl_fail(&c->err, KL_EINVAL, "The field '%s' must be an object.", field);
	*out = v;
	return 0;
}

static int read_admins(struct api_call *c, json_t *list, struct cert_issuer_in *in,
		       struct cert_admin **admins)
{
	json_t *a;
	size_t i;

	if (!json_is_array(list))
		return kl_fail(&c->err, KL_EINVAL, "The field 'admin_details' must be an array.");
	if (json_array_size(list) > CERT_ISSUER_ADMINS_MAX)
		return kl_fail(&c->err, KL_EINVAL, "At most %d admin_details entries are allowed.",
			       CERT_ISSUER_ADMINS_MAX);
	if (json_array_size(list) > 0 &&
	    (*admins = calloc(json_array_size(list), sizeof(**admins))) == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	json_array_foreach(list, i, a) {
		const char *first, *last, *email, *phone;

		if (!json_is_object(a))
			return kl_fail(&c->err, KL_EINVAL,
				       "Each admin_details entry must be an object.");
		if (opt_text(c, a, "first_name", &first, NULL) != 0 ||
		    opt_text(c, a, "last_name", &last, NULL) != 0 ||
		    opt_text(c, a, "email", &email, NULL) != 0 ||
		    opt_text(c, a, "phone", &phone, NULL) != 0)
			return -1;
		/* borrowed from the body for the call; the vault copies them */
		(*admins)[i] = (struct cert_admin){ (char *)first, (char *)last, (char *)email,
						    (char *)phone };
	}
	in->set_admins = true;
	in->admins = *admins;
	in->n_admins = json_array_size(list);
	return 0;
}

/* CertificateIssuerSetParameters / UpdateParameters into in; strings are borrowed from body,
 * *admins is allocated (free it, not its strings). */
static int read_issuer(struct api_call *c, json_t *body, struct cert_issuer_in *in,
		       struct cert_admin **admins)
{
	json_t *creds, *org, *attrs, *list, *en;

	memset(in, 0, sizeof(*in));
	*admins = NULL;
	if (opt_text(c, body, "provider", &in->provider, NULL) != 0 ||
	    opt_object(c, body, "credentials", &creds) != 0 ||
	    opt_object(c, body, "org_details", &org) != 0 ||
	    opt_object(c, body, "attributes", &attrs) != 0)
		return -1;
	if (creds != NULL && (opt_text(c, creds, "account_id", &in->account_id, NULL) != 0 ||
			      body_opt_string(creds, "pwd", &in->pwd, &c->err) != 0))
		return -1;
	if (in->pwd != NULL)
		in->pwd_len = json_string_length(json_object_get(creds, "pwd"));
	if (org != NULL) {
		if (opt_text(c, org, "id", &in->org_id, NULL) != 0)
			return -1;
		list = json_object_get(org, "admin_details");
		if (list != NULL && !json_is_null(list) && read_admins(c, list, in, admins) != 0)
			return -1;
	}
	if (attrs != NULL && (en = json_object_get(attrs, "enabled")) != NULL &&
	    !json_is_null(en)) {
		if (!json_is_boolean(en))
			return kl_fail(&c->err, KL_EINVAL,
				       "The attribute 'enabled' must be a boolean.");
		in->set_enabled = true;
		in->enabled = json_is_true(en);
	}
	return 0;
}

/* The issuer name of the path: 400 when it breaks the name rule. */
static const char *issuer_param(struct api_call *c)
{
	return api_name_param(c, "issuer");
}

static int issuer_write(struct api_call *c, bool is_set)
{
	struct cert_issuer_in in;
	struct cert_admin *admins = NULL;
	struct cert_issuer out;
	json_t *body = NULL;
	const char *name;
	int rc = -1;

	memset(&out, 0, sizeof(out));
	if ((name = issuer_param(c)) == NULL || body_object(c->req, &body, &c->err) != 0 ||
	    read_issuer(c, body, &in, &admins) != 0)
		goto out;
	rc = is_set ? cert_issuer_set(&c->vault, name, &in, &out, &c->err)
		    : cert_issuer_update(&c->vault, name, &in, &out, &c->err);
	if (rc != 0)
		goto out;
	rc = api_reply_json(c, 200, issuer_json(c, &out));
out:
	cert_issuer_clear(&out);
	free(admins);
	json_decref(body);
	return rc;
}

int certificate_issuer_set(struct api_call *c)
{
	return issuer_write(c, true);
}

int certificate_issuer_update(struct api_call *c)
{
	return issuer_write(c, false);
}

int certificate_issuer_get(struct api_call *c)
{
	struct cert_issuer i;
	const char *name;
	int rc = -1;

	memset(&i, 0, sizeof(i));
	if ((name = issuer_param(c)) != NULL && cert_issuer_get(&c->vault, name, &i, &c->err) == 0)
		rc = api_reply_json(c, 200, issuer_json(c, &i));
	cert_issuer_clear(&i);
	return rc;
}

int certificate_issuer_delete(struct api_call *c)
{
	struct cert_issuer i;
	const char *name;
	int rc = -1;

	memset(&i, 0, sizeof(i));
	if ((name = issuer_param(c)) != NULL &&
	    cert_issuer_delete(&c->vault, name, &i, &c->err) == 0)
		rc = api_reply_json(c, 200, issuer_json(c, &i));
	cert_issuer_clear(&i);
	return rc;
}

/* A page of CertificateIssuerItem {id, provider}. */
int certificate_issuers_list(struct api_call *c)
{
	struct cert_issuer_page *p = calloc(1, sizeof(*p));
	char after[OBJ_NAME_MAX + 1];
	json_t *page = NULL, *items = NULL;
	size_t max, i;
	bool given;
	int rc = -1;

	if (p == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (paging_args(c->req, &max, &given, after, sizeof(after), &c->err) != 0 ||
	    cert_issuer_list(&c->vault, after, max, p, &c->err) != 0)
		goto out;
	if ((page = json_object()) == NULL || (items = json_array()) == NULL)
		goto nomem;
	for (i = 0; i < p->n; i++) {
		char *id = issuer_id(c, p->items[i].name);
		const char *provider = p->items[i].provider;
		json_t *it = id ? json_pack("{s:s, s:s}", "id", id, "provider", provider) : NULL;

		free(id);
		if (it == NULL || json_array_append_new(items, it) != 0)
			goto nomem;
	}
	json_object_set_new(page, "value", items);
	items = NULL;
	if (paging_next_link(c, "/certificates/issuers", p->next, max, given, page) != 0)
		goto nomem;
	rc = api_reply_json(c, 200, page);
	page = NULL;
	goto out;
nomem:
	kl_fail(&c->err, KL_ENOMEM, "out of memory");
out:
	json_decref(items);
	json_decref(page);
	free(p);
	return rc;
}
