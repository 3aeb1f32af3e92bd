/* identity_token.c owns the token endpoint, POST /{tenant}/oauth2/v2.0/token (scope=) and
 * /{tenant}/oauth2/token (v1, resource=): the client credentials grant with a client secret (in
 * the form or HTTP Basic) or a client assertion (a certificate's JWT or a federated token), an
 * access token for one resource in return (vault/identity.h signs it). The client's credential
 * is checked by vault/ (identity_secret_check, identity_assertion_check); this file reads the
 * request and writes the answer. It must never log, audit or quote a secret, an assertion or a
 * token, and must wipe every copy it makes of one (the form, the Basic credentials, the token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/identity/identity_form.h"
#include "api/identity/identity_internal.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/json.h"
#include "vault/core.h"
#include "vault/identity.h"

#define JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define BASIC_MAX 4096		/* decoded HTTP Basic credentials */
#define HEADER_SEG_MAX 4096	/* an assertion's encoded JOSE header */
#define URL_MAX 600

struct token_req {
	bool is_v2;
	bool is_adfs;
	struct form form;
	struct buf basic;		/* decoded "id:secret" of HTTP Basic (wiping) */
	const char *client_id;
	const char *secret;		/* into form or basic */
	size_t secret_len;
	const char *assertion;		/* into form */
	size_t assertion_len;
	const char *asked;		/* scope's resource or resource, as sent (into form) */
	char scope_res[IDENTITY_RESOURCE_MAX + 1];	/* the one resource of scope */
	char resource[IDENTITY_RESOURCE_MAX + 1];	/* normalised, as aud carries it */
	struct principal_ref who;
	enum identity_cred_kind kind;
	char cred_id[IDENTITY_CRED_ID_MAX + 1];
};

static int missing(struct api_call *c, const char *field)
{
	return identity_error(c, KL_EINVAL, "invalid_request", AADSTS_MISSING_PARAMETER,
			      "The request body must contain the following parameter: '%s'.",
			      field);
}

/* Content-Type application/x-www-form-urlencoded, parameters (charset) allowed. */
static bool is_form(const char *ct)
{
	size_t n = strlen("application/x-www-form-urlencoded");

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* HTTP Basic client authentication (RFC 6749 section 2.3.1; MSAL sends the secret in the form):
 * "Basic base64(id:secret)", each form-encoded. 0 with t->secret and t->client_id (checked
 * against the form's) set, -1 with c->err for a malformed header. */
static int read_basic(struct api_call *c, struct token_req *t)
{
	const char *h = c->req->authorization, *colon;
	char *id, *secret;
	size_t id_len, secret_len;

	for (h += 6; *h == ' '; h++)
		;
	buf_init_secret(&t->basic, BASIC_MAX);
	if (b64url_decode(h, strlen(h), &t->basic, &c->err) != 0 || t->basic.len == 0 ||
	    (colon = memchr(t->basic.data, ':', t->basic.len)) == NULL ||
	    buf_putc(&t->basic, '\0', &c->err) != 0)
		return identity_error(c, KL_EINVAL, "invalid_request", AADSTS_MISSING_PARAMETER,
				      "The Authorization header is not valid HTTP Basic client "
				      "authentication (base64 of client_id:client_secret).");
	id = (char *)t->basic.data;
	secret = id + (colon - id) + 1;
	id[colon - id] = '\0';
	/* decoded in place: decoding never lengthens */
	if (form_decode(id, strlen(id), id, &id_len) != 0 ||
	    form_decode(secret, strlen(secret), secret, &secret_len) != 0 || id_len == 0)
		return identity_error(c, KL_EINVAL, "invalid_request", AADSTS_MISSING_PARAMETER,
				      "The HTTP Basic client credentials are badly encoded.");
	if (t->client_id != NULL && strcmp(t->client_id, id) != 0)
		return identity_error(c, KL_EINVAL, "invalid_request", AADSTS_MISSING_PARAMETER,
				      "The client_id of the form and of the Authorization header "
				      "differ.");
	t->client_id = id;
	t->secret = secret;
	t->secret_len = secret_len;
	return 0;
}

/* The scope of a v2 request names one resource: "<resource>/.default" (the scopes OpenID
 * Connect adds for users are ignored). */
static int read_scope(struct api_call *c, struct token_req *t, const char *scope)
{
	const char *p = scope, *end;
	size_t n, found = 0;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ' ');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (!((n == 6 && strncmp(p, "openid", 6) == 0) ||
		      (n == 7 && strncmp(p, "profile", 7) == 0) ||
		      (n == 14 && strncmp(p, "offline_access", 14) == 0))) {
			if (found++ > 0 || n > IDENTITY_RESOURCE_MAX)
				return identity_error(c, KL_EINVAL, "invalid_scope",
						      AADSTS_INVALID_SCOPE, "The provided "
						      "value for scope is not valid: a client "
						      "credentials request asks for one "
						      "resource's scope, '<resource>/.default'.");
			memcpy(t->scope_res, p, n);
			t->scope_res[n] = '\0';
		}
		p += n;
	}
	if (found == 0)
		return identity_error(c, KL_EINVAL, "invalid_scope", AADSTS_INVALID_SCOPE,
				      "The provided value for scope names no resource.");
	t->asked = t->scope_res;
	return 0;
}

/* Which kind of assertion: a certificate's JWT names its certificate in the JOSE header (x5t or
 * x5t#S256), a federated token does not (vault/identity.h: identity_assertion_check). Only for
 * the audit line and the metrics before the check; the check decides. */
static const char *assertion_grant(const char *a, size_t len)
{
	const char *dot = memchr(a, '.', len);
	struct kl_err err = { 0 };
	struct buf hdr;
	json_t *h = NULL;
	const char *g = "client_assertion";

	buf_init(&hdr, HEADER_SEG_MAX);
	if (dot != NULL && (size_t)(dot - a) <= HEADER_SEG_MAX &&
	    b64url_decode(a, (size_t)(dot - a), &hdr, &err) == 0 &&
	    (h = json_util_parse(hdr.data, hdr.len, &err)) != NULL && json_is_object(h) &&
	    json_object_get(h, "x5t") == NULL && json_object_get(h, "x5t#S256") == NULL)
		g = "federated";
	json_decref(h);
	buf_clear(&hdr);
	return g;
}

/* The form and the header into t: the grant, the client, its one credential, the resource. */
static int read_request(struct api_call *c, struct token_req *t)
{
	const char *grant, *type, *res;
	bool has_basic;

	if (!is_form(c->req->content_type))
		return identity_error(c, KL_EINVAL, "invalid_request", AADSTS_MISSING_PARAMETER,
				      "The request body must be application/x-www-form-urlencoded "
				      "and contain the following parameter: 'grant_type'.");
	if (form_parse((const char *)c->req->body.data, c->req->body.len, &t->form, &c->err) != 0)
		return identity_error(c, c->err.code == KL_ETOOBIG ? KL_ETOOBIG : KL_EINVAL,
				      "invalid_request", AADSTS_MISSING_PARAMETER, "%s",
				      c->err.msg);
	t->client_id = form_get(&t->form, "client_id", NULL);
	t->secret = form_get(&t->form, "client_secret", &t->secret_len);
	t->assertion = form_get(&t->form, "client_assertion", &t->assertion_len);
	/* A compact JWS holds no white space; a token file's final line break (Python's
	 * azure-identity 1.13 posts the file as read) is not part of the token. */
	while (t->assertion != NULL && t->assertion_len > 0 &&
	       (t->assertion[t->assertion_len - 1] == '\n' ||
		t->assertion[t->assertion_len - 1] == '\r' ||
		t->assertion[t->assertion_len - 1] == ' ' || t->assertion[t->assertion_len - 1] == '\t'))
		t->assertion_len--;
	if (t->is_v2)
		res = form_get(&t->form, "scope", NULL);
	else
		res = t->asked = form_get(&t->form, "resource", NULL);
	if (res != NULL)
		snprintf(c->req->token_resource, sizeof(c->req->token_resource), "%s", res);
	if (t->assertion != NULL)
		c->req->token_grant = assertion_grant(t->assertion, t->assertion_len);
	else if (t->secret != NULL || (c->req->authorization != NULL &&
					 strncasecmp(c->req->authorization, "Basic ", 6) == 0))
		c->req->token_grant = "client_secret";
	if ((grant = form_get(&t->form, "grant_type", NULL)) == NULL)
		return missing(c, "grant_type");
	if (strcmp(grant, "client_credentials") != 0)
		return identity_error(c, KL_EINVAL, "unsupported_grant_type",
				      AADSTS_UNSUPPORTED_GRANT, "The grant type '%s' is not "
				      "supported: kluis issues tokens for client_credentials only.",
				      identity_quotable(grant));
	has_basic = c->req->authorization != NULL &&
		    strncasecmp(c->req->authorization, "Basic ", 6) == 0;
	if ((t->secret != NULL) + (t->assertion != NULL) + has_basic > 1)
		return identity_error(c, KL_EINVAL, "invalid_request", AADSTS_MISSING_PARAMETER,
				      "The request authenticates the client in more than one way: "
				      "send one of client_secret, client_assertion or HTTP Basic.");
	if (has_basic && read_basic(c, t) != 0)
		return -1;
	if (t->client_id == NULL || t->client_id[0] == '\0')
		return missing(c, "client_id");
	if (t->assertion != NULL) {
		type = form_get(&t->form, "client_assertion_type", NULL);
		if (type == NULL)
			return missing(c, "client_assertion_type");
		if (strcmp(type, JWT_BEARER) != 0)
			return identity_error(c, KL_EINVAL, "invalid_request",
					      AADSTS_MISSING_PARAMETER, "The client_assertion_type "
					      "must be '" JWT_BEARER "'.");
	} else if (t->secret == NULL) {
		c->req->token_grant = "unknown";
		return identity_error(c, KL_EUNAUTH, "invalid_client", AADSTS_NO_CREDENTIAL,
				      "The request body must contain the following parameter: "
				      "'client_assertion' or 'client_secret'.");
	}
	if (res == NULL)
		return missing(c, t->is_v2 ? "scope" : "resource");
	if (t->is_v2 && read_scope(c, t, res) != 0)
		return -1;
	if (identity_audience_of(c->ctx->core, t->asked, t->resource) == IDENTITY_AUD_ANY)
		return identity_error(c, KL_EINVAL, t->is_v2 ? "invalid_scope" : "invalid_resource",
				      AADSTS_UNKNOWN_RESOURCE, "The resource principal named %s "
				      "was not found in the tenant: kluis issues tokens for its "
				      "vaults (https://vault.azure.net or its DNS suffix) and its "
				      "management plane (https://management.azure.com/).",
				      identity_quotable(t->asked));
	return 0;
}

/* Authenticates the client with its one credential: t->who, kind, cred_id. */
static int authenticate(struct api_call *c, struct token_req *t)
{
	char url[URL_MAX];
	struct kl_err err = { 0 };
	int rc;

	if (t->assertion == NULL) {
		t->kind = IDENTITY_CRED_SECRET;
		rc = identity_secret_check(c->ctx->core, t->client_id, t->secret, t->secret_len,
					   &t->who, t->cred_id, &err);
	} else {
		/* the audience an assertion must name: this endpoint as the client addressed it */
		snprintf(url, sizeof(url), "https://%s%s", c->host, c->req->path);
		rc = identity_assertion_check(c->ctx->core, t->client_id, t->assertion,
					      t->assertion_len, url, &t->who, &t->kind, t->cred_id,
					      &err);
		if (rc == 0 && t->kind == IDENTITY_CRED_FEDERATED)
			c->req->token_grant = "federated";
		else if (rc == 0)
			c->req->token_grant = "client_assertion";
	}
	if (rc == 0)
		return 0;
	if (err.code == KL_ENOTFOUND)
		return identity_error(c, KL_EINVAL, "unauthorized_client", AADSTS_UNKNOWN_CLIENT,
				      "Application with identifier '%s' was not found in the "
				      "directory '%s'.", identity_quotable(t->client_id),
				      vault_core_tenant(c->ctx->core));
	if (err.code == KL_EUNAUTH || err.code == KL_ECONFLICT) {
		if (t->assertion == NULL)
			return identity_error(c, KL_EUNAUTH, "invalid_client",
					      AADSTS_BAD_SECRET, "Invalid client secret provided "
					      "for app '%s': wrong, revoked or expired.",
					      identity_quotable(t->client_id));
		return identity_error(c, KL_EUNAUTH, "invalid_client", AADSTS_BAD_ASSERTION,
				      "Client assertion failed: %s", err.msg);
	}
	c->err = err;	/* the store failed: not the client's fault */
	return -1;
}

/* The 200 answer: v2's numbers, or v1's strings with expires_on and the resource. */
static int reply_token(struct api_call *c, const struct token_req *t, const struct buf *tok,
		       int64_t expires_on)
{
	int64_t now = clock_now_s(), in = expires_on > now ? expires_on - now : 0;
	char s_in[24], s_on[24], s_nbf[24];
	json_t *body;

	if (t->is_v2) {
		body = json_pack("{s:s, s:I, s:I, s:s%}", "token_type", "Bearer", "expires_in",
				 (json_int_t)in, "ext_expires_in", (json_int_t)in, "access_token",
				 (const char *)tok->data, tok->len);
	} else {
		snprintf(s_in, sizeof(s_in), "%lld", (long long)in);
		snprintf(s_on, sizeof(s_on), "%lld", (long long)expires_on);
		snprintf(s_nbf, sizeof(s_nbf), "%lld", (long long)now);
		body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s%}", "token_type", "Bearer",
				 "expires_in", s_in, "ext_expires_in", s_in, "expires_on", s_on,
				 "not_before", s_nbf, "resource", t->asked, "access_token",
				 (const char *)tok->data, tok->len);
	}
	api_resp_header(c->resp, "Cache-Control", "no-store");
	api_resp_header(c->resp, "Pragma", "no-cache");
	return api_reply_json(c, 200, body);
}

static int token(struct api_call *c, bool is_v2)
{
	struct token_req t;
	struct identity_grant g;
	struct buf tok;
	char issuer[URL_MAX];
	int64_t expires_on = 0;
	int rc = -1;

	memset(&t, 0, sizeof(t));
	t.is_v2 = is_v2;
	form_init(&t.form);
	buf_init_secret(&tok, 16384);
	if (identity_tenant(c, api_param(c, 0), &t.is_adfs) != 0 || read_request(c, &t) != 0 ||
	    authenticate(c, &t) != 0)
		goto out;
	identity_note_principal(c, &t.who);
	if (identity_check_client_cert(c, &t.who, t.assertion == NULL ? AADSTS_BAD_SECRET
								     : AADSTS_BAD_ASSERTION) != 0)
		goto out;
	identity_issuer(c, t.is_adfs, is_v2, issuer, sizeof(issuer));
	g = (struct identity_grant){ .who = &t.who, .cred_kind = t.kind, .cred_id = t.cred_id,
				     .resource = t.resource, .issuer = issuer };
	if (identity_token_issue(c->ctx->core, &g, &tok, &expires_on, &c->err) != 0 ||
	    reply_token(c, &t, &tok, expires_on) != 0)
		goto out;
	c->req->is_token_issued = true;
	rc = 0;
out:
	buf_clear(&tok);	/* wiping */
	buf_clear(&t.basic);
	form_clear(&t.form);
	secure_wipe(&t, sizeof(t));
	return rc;
}

int identity_token_v2(struct api_call *c)
{
	return token(c, true);
}

int identity_token_v1(struct api_call *c)
{
	return token(c, false);
}
