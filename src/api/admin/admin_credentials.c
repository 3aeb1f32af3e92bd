/* The administration API, part three (docs/admin-api.md): a principal's client secrets and
 * registered client certificates, the credentials of the token endpoint (vault/identity.h). A new
 * secret appears in exactly one response body, which the response buffer wipes when it is freed;
 * it is never logged, never listed, never in an error. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "util/clock.h"
#include "util/secbuf.h"
#include "vault/identity.h"
#include "vault/principals.h"

static json_t *credential_json(struct api_call *c, const struct identity_credential *cr)
{
	bool secret = cr->type == IDENTITY_CLIENT_SECRET;
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:b}", "id", cr->id, "type",
			      secret ? "secret" : "certificate", "description", cr->description,
			      "created", (json_int_t)cr->created, "revoked", cr->revoked);

	if (j != NULL)
		json_object_set_new(j, "expires",
				    cr->expires != 0 ? json_integer(cr->expires) : json_null());
	if (j != NULL && secret) {
		json_object_set_new(j, "hint", json_string(cr->hint));
	} else if (j != NULL) {
		json_object_set_new(j, "thumbprint", json_string(cr->sha256));
		json_object_set_new(j, "x5t", json_string(cr->sha1));
		json_object_set_new(j, "subject", json_string(cr->subject));
	}
	if (j == NULL)
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
	return j;
}

/* The credentials of type t of principal api_param 0: 200 {"value": [...]}, oldest first. */
static int list_of(struct api_call *c, enum identity_credential_type t)
{
	struct identity_credential *list = NULL;
	struct principal p;
	json_t *items = NULL, *j;
	size_t n = 0, i;
	int rc = -1;

	if (principal_get(c->ctx->core, api_param(c, 0), &p, &c->err) != 0 ||
	    identity_credentials_list(c->ctx->core, p.id, &list, &n, &c->err) != 0)
		goto out;
	if ((items = json_array()) == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (list[i].type != t)
			continue;
		if ((j = credential_json(c, &list[i])) == NULL)
			goto out;
		if (json_array_append_new(items, j) != 0) {
			kl_fail(&c->err, KL_ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = api_reply_json(c, 200, json_pack("{s:o}", "value", items));
	items = NULL;
out:
	json_decref(items);
	free(list);
	return rc;
}

/* Revokes credential api_param 1 of principal api_param 0 when it is of type t (a secret's id
 * under /certificates is as unknown as any other): 200 with it, now revoked. */
static int revoke_of(struct api_call *c, enum identity_credential_type t)
{
	struct identity_credential *list = NULL, got;
	struct principal p;
	const char *cred_id = api_param(c, 1);
	size_t n = 0, i;
	int rc = -1;

	if (principal_get(c->ctx->core, api_param(c, 0), &p, &c->err) != 0 ||
	    identity_credentials_list(c->ctx->core, p.id, &list, &n, &c->err) != 0)
		goto out;
	for (i = 0; i < n && strcmp(list[i].id, cred_id) != 0; i++)
		;
	if (i == n || list[i].type != t) {
		kl_fail_az(&c->err, KL_ENOTFOUND, "CredentialNotFound", NULL,
			   "The %s '%.40s' does not exist.",
			   t == IDENTITY_CLIENT_SECRET ? "client secret" : "certificate", cred_id);
		goto out;
	}
	if (identity_credential_revoke(c->ctx->core, p.id, cred_id, &got, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, credential_json(c, &got));
out:
	free(list);
	return rc;
}

int admin_secrets_list(struct api_call *c)
{
	return list_of(c, IDENTITY_CLIENT_SECRET);
}

int admin_secret_create(struct api_call *c)
{
	char secret[IDENTITY_SECRET_TEXT_LEN];
	struct identity_credential cr;
	const char *description = NULL;
	json_t *body = NULL, *obj = NULL, *v;
	int64_t expires = 0;
	int rc = -1;

	memset(secret, 0, sizeof(secret));
	if (c->req->body.len > 0 && body_object(c->req, &body, &c->err) != 0)
		goto out;
	if (body_opt_string(body, "description", &description, &c->err) != 0)
		goto out;
	v = json_object_get(body, "expires");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) <= clock_now_s()) {
			kl_fail(&c->err, KL_EINVAL, "expires must be a time in the future, in Unix "
				"seconds.");
			goto out;
		}
		expires = json_integer_value(v);
	}
	if (identity_secret_add(c->ctx->core, api_param(c, 0), description, expires, &cr, secret,
				&c->err) != 0 ||
	    (obj = credential_json(c, &cr)) == NULL)
		goto out;
	json_object_set_new(obj, "secret", json_string(secret));
	secure_wipe(secret, sizeof(secret));
	rc = api_reply_json(c, 201, obj);	/* the JSON allocator wipes what it frees */
	obj = NULL;
out:
	secure_wipe(secret, sizeof(secret));
	json_decref(obj);
	json_decref(body);
	return rc;
}

int admin_secret_revoke(struct api_call *c)
{
	return revoke_of(c, IDENTITY_CLIENT_SECRET);
}

int admin_certificates_list(struct api_call *c)
{
	return list_of(c, IDENTITY_CLIENT_CERT);
}

int admin_certificate_create(struct api_call *c)
{
	struct identity_credential cr;
	const char *description = NULL, *cert = NULL;
	json_t *body = NULL;
	int rc = -1;

	if (body_object(c->req, &body, &c->err) != 0 ||
	    body_opt_string(body, "description", &description, &c->err) != 0 ||
	    body_opt_string(body, "certificate", &cert, &c->err) != 0)
		goto out;
	if (cert == NULL || cert[0] == '\0') {
		kl_fail(&c->err, KL_EINVAL, "A certificate is needed: \"certificate\" holds it as PEM "
			"text or base64 of its DER.");
		goto out;
	}
	if (identity_cert_add(c->ctx->core, api_param(c, 0), cert, strlen(cert), description, &cr,
			      &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 201, credential_json(c, &cr));
out:
	json_decref(body);
	return rc;
}

int admin_certificate_revoke(struct api_call *c)
{
	return revoke_of(c, IDENTITY_CLIENT_CERT);
}
