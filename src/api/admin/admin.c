/* The administration API, part one (docs/admin-api.md): the deployment, the vaults a caller can
 * see, principals and their tokens. A new token appears in exactly one response body, which the
 * response buffer wipes when it is freed; it is never logged. */
#include <stdio.h>
#include <string.h>

#include "api/authz.h"
#include "api/internal.h"
#include "api/mgmt/arm.h"
#include "util/clock.h"
#include "util/secbuf.h"
#include "vault/core.h"
#include "vault/principals.h"

int admin_deployment(struct api_call *c)
{
	const char *tenant = vault_core_tenant(c->ctx->core);

	return api_reply_json(c, 200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:b}}",
		"tenantId", tenant, "subscriptionId", tenant, "resourceGroup", VAULT_DEFAULT_RG,
		"dnsSuffix", c->ctx->cfg.dns_suffix, "version", KLUIS_VERSION, "caller",
		"id", c->who->id, "name", c->who->name, "isAdministrator", c->who->is_admin));
}

struct vault_list {
	struct api_call *c;
	json_t *items;
};

static int add_visible(void *arg, const struct vault_info *vi, struct kl_err *err)
{
	struct vault_list *l = arg;
	json_t *item;
	bool yes;

	if (authz_can_read_vault(l->c, vi, &yes) != 0) {
		*err = l->c->err;
		return -1;
	}
	if (!yes)
		return 0;
	item = arm_vault_json(l->c, vi);
	if (item == NULL || json_array_append_new(l->items, item) != 0)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

int admin_vaults_list(struct api_call *c)
{
	struct vault_list l = { .c = c, .items = json_array() };

	if (l.items == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	if (vaults_each(c->ctx->core, false, add_visible, &l, &c->err) != 0) {
		json_decref(l.items);
		return -1;
	}
	return api_reply_json(c, 200, json_pack("{s:o}", "value", l.items));
}

int admin_vault_get(struct api_call *c)
{
	struct vault_info vi;
	bool yes = false;
	int rc = -1;

	vault_info_init(&vi);
	if (vaults_get(c->ctx->core, api_param(c, 0), false, &vi, NULL, &c->err) != 0 ||
	    authz_can_read_vault(c, &vi, &yes) != 0)
		goto out;
	if (!yes) {	/* as if absent: a caller learns nothing of vaults it has no part in */
		kl_fail_az(&c->err, KL_ENOTFOUND, "VaultNotFound", NULL,
			   "The vault '%.64s' was not found.", api_param(c, 0));
		goto out;
	}
	rc = api_reply_json(c, 200, arm_vault_json(c, &vi));
out:
	vault_info_clear(&vi);
	return rc;
}

/* ---- principals ---- */

static json_t *token_json(const struct principal_token *t)
{
	json_t *j = json_pack("{s:s, s:I, s:b}", "id", t->id, "created", (json_int_t)t->created,
			      "revoked", t->revoked);

	if (j != NULL && t->expires != 0)
		json_object_set_new(j, "expiresOn", json_integer(t->expires));
	return j;
}

static json_t *principal_json(struct api_call *c, const struct principal *p)
{
	struct principal_token *list = NULL;
	json_t *j, *tokens;
	size_t n = 0, i;

	if (principal_tokens(c->ctx->core, p->id, &list, &n, &c->err) != 0)
		return NULL;
	tokens = json_array();
	for (i = 0; tokens != NULL && i < n; i++)
		json_array_append_new(tokens, token_json(&list[i]));
	free(list);
	j = json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", p->id, "name", p->name, "type", p->type,
		      "created", (json_int_t)p->created, "tokens", tokens ? tokens : json_array());
	if (j != NULL && p->subject[0] != '\0')
		json_object_set_new(j, "subject", json_string(p->subject));
	if (j != NULL && p->client_cert[0] != '\0')
		json_object_set_new(j, "clientCertificateSha256", json_string(p->client_cert));
	if (j == NULL)
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
	return j;
}

/* An optional expiry (Unix seconds, in the future): 0 when absent. */
static int read_expiry(struct api_call *c, json_t *body, const char *field, int64_t *out)
{
	json_t *v = json_object_get(body, field);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) <= clock_now_s())
		return kl_fail(&c->err, KL_EINVAL, "%s must be a time in the future, in Unix seconds.",
			       field);
	*out = json_integer_value(v);
	return 0;
}

/* Replies 201 with obj plus the new token, wiping the token afterwards. */
static int reply_with_token(struct api_call *c, json_t *obj, char *token)
{
	int rc;

	if (obj == NULL) {
		secure_wipe(token, TOKEN_TEXT_LEN);
		return -1;
	}
	json_object_set_new(obj, "token", json_string(token));
	secure_wipe(token, TOKEN_TEXT_LEN);
	rc = api_reply_json(c, 201, obj);	/* the JSON allocator wipes what it frees */
	return rc;
}

/* An optional "clientCertificateSha256": cert gets the normalised fingerprint, "" for none
 * (absent or null). */
static int read_client_cert(struct api_call *c, json_t *body, bool *present,
			    char cert[PRINCIPAL_CERT_HEX + 1])
{
	json_t *v = json_object_get(body, "clientCertificateSha256");

	cert[0] = '\0';
	*present = v != NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !principal_cert_parse(json_string_value(v), cert))
		return kl_fail(&c->err, KL_EINVAL, "clientCertificateSha256 must be the SHA-256 "
			       "fingerprint of a certificate: 64 hex digits, ':' between bytes "
			       "allowed.");
	return 0;
}

int admin_principal_create(struct api_call *c)
{
	char token[TOKEN_TEXT_LEN], cert[PRINCIPAL_CERT_HEX + 1];
	struct principal p;
	struct principal_token t;
	const char *name = NULL, *type = NULL, *subject = NULL;
	json_t *body = NULL;
	int64_t expires;
	bool has_cert;
	int rc = -1;

	memset(token, 0, sizeof(token));
	if (body_object(c->req, &body, &c->err) != 0 ||
	    body_opt_string(body, "name", &name, &c->err) != 0 ||
	    body_opt_string(body, "type", &type, &c->err) != 0 ||
	    body_opt_string(body, "subject", &subject, &c->err) != 0 ||
	    read_expiry(c, body, "tokenExpiresOn", &expires) != 0 ||
	    read_client_cert(c, body, &has_cert, cert) != 0)
		goto out;
	if (name == NULL) {
		kl_fail(&c->err, KL_EINVAL, "A principal needs a name.");
		goto out;
	}
	if (principal_create(c->ctx->core, name, type ? type : "application", subject, expires, &p,
			     &t, token, &c->err) != 0)
		goto out;
	/* Bound before its token is shown: nobody holds the token while it works without. */
	if (cert[0] != '\0' && principal_set_client_cert(c->ctx->core, p.id, cert, &p, &c->err) != 0)
		goto out;
	rc = reply_with_token(c, principal_json(c, &p), token);
out:
	secure_wipe(token, sizeof(token));
	json_decref(body);
	return rc;
}

struct principal_list {
	struct api_call *c;
	json_t *items;
};

static int add_principal(void *arg, const struct principal *p, struct kl_err *err)
{
	struct principal_list *l = arg;
	json_t *j = principal_json(l->c, p);

	if (j == NULL) {
		*err = l->c->err;	/* err may be l->c->err itself */
		return -1;
	}
	if (json_array_append_new(l->items, j) != 0)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

int admin_principals_list(struct api_call *c)
{
	struct principal_list l = { .c = c, .items = json_array() };

	if (l.items == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	if (principal_each(c->ctx->core, add_principal, &l, &c->err) != 0) {
		json_decref(l.items);
		return -1;
	}
	return api_reply_json(c, 200, json_pack("{s:o}", "value", l.items));
}

int admin_principal_get(struct api_call *c)
{
	struct principal p;

	if (principal_get(c->ctx->core, api_param(c, 0), &p, &c->err) != 0)
		return -1;
	return api_reply_json(c, 200, principal_json(c, &p));
}

int admin_principal_update(struct api_call *c)
{
	char cert[PRINCIPAL_CERT_HEX + 1];
	struct principal p;
	json_t *body = NULL;
	bool has_cert;
	int rc = -1;

	if (body_object(c->req, &body, &c->err) != 0 ||
	    read_client_cert(c, body, &has_cert, cert) != 0)
		goto out;
	if (!has_cert) {
		kl_fail(&c->err, KL_EINVAL, "Nothing to change: the body may set "
			"clientCertificateSha256 (a fingerprint, or null to unbind).");
		goto out;
	}
	if (principal_set_client_cert(c->ctx->core, api_param(c, 0), cert, &p, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, principal_json(c, &p));
out:
	json_decref(body);
	return rc;
}

int admin_principal_delete(struct api_call *c)
{
	struct principal p;
	json_t *j;

	if (principal_get(c->ctx->core, api_param(c, 0), &p, &c->err) != 0 ||
	    (j = principal_json(c, &p)) == NULL)
		return -1;
	if (principal_delete(c->ctx->core, p.id, &c->err) != 0) {
		json_decref(j);
		return -1;
	}
	return api_reply_json(c, 200, j);
}

int admin_token_create(struct api_call *c)
{
	char token[TOKEN_TEXT_LEN];
	struct principal p;
	struct principal_token t;
	json_t *body = NULL;
	int64_t expires;
	int rc = -1;

	memset(token, 0, sizeof(token));
	if (c->req->body.len > 0 && body_object(c->req, &body, &c->err) != 0)
		goto out;
	if (read_expiry(c, body, "expiresOn", &expires) != 0 ||
	    principal_get(c->ctx->core, api_param(c, 0), &p, &c->err) != 0 ||
	    principal_token_add(c->ctx->core, p.id, expires, &t, token, &c->err) != 0)
		goto out;
	rc = reply_with_token(c, token_json(&t), token);
out:
	secure_wipe(token, sizeof(token));
	json_decref(body);
	return rc;
}

int admin_token_revoke(struct api_call *c)
{
	struct principal p;
	struct principal_token t;

	if (principal_get(c->ctx->core, api_param(c, 0), &p, &c->err) != 0 ||
	    principal_token_revoke(c->ctx->core, p.id, api_param(c, 1), &t, &c->err) != 0)
		return -1;
	return api_reply_json(c, 200, token_json(&t));
}
