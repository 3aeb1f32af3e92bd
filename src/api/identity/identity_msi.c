/* identity_msi.c owns GET /msi/token, the managed identity endpoint in App Service's shape
 * (api-version 2019-08-01): the credential libraries send IDENTITY_HEADER as X-IDENTITY-HEADER,
 * which here is a kluis token of the principal (never the admin token), and get an access token
 * for the resource asked. Answers with the body both SDKs parse (expires_on as a digit string,
 * the resource echoed). Must never quote, log or audit the header, and never answer a permanent
 * failure with 404, 410 or 5xx (the SDKs retry those for a minute): a wrong request is 400, a
 * wrong header 401. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/identity/identity_internal.h"
#include "util/clock.h"
#include "util/json.h"
#include "vault/identity.h"

#define MSI_API_VERSION "2019-08-01"
#define ISSUER_MAX 600

static int bad_request(struct api_call *c, unsigned aadsts, const char *what)
{
	return identity_error(c, KL_EINVAL, "invalid_request", aadsts, "%s", what);
}

/* The ids a user-assigned identity may be asked by: each given must name the principal the
 * header authenticated (its id or its name). */
static int check_ids(struct api_call *c, const struct principal_ref *who)
{
	static const char *const names[] = { "client_id", "object_id", "principal_id", "mi_res_id",
					     "msi_res_id" };
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = api_query(c->req, names[i]);
		if (v != NULL && strcasecmp(v, who->id) != 0 && strcasecmp(v, who->name) != 0)
			return identity_error(c, KL_EINVAL, "invalid_request",
					      AADSTS_UNKNOWN_CLIENT, "The %s '%s' is not the "
					      "identity X-IDENTITY-HEADER authenticates: that is "
					      "%s (%s).", names[i], identity_quotable(v), who->id,
					      who->name);
	}
	return 0;
}

int identity_msi_token(struct api_call *c)
{
	const char *hdr = c->req->identity_header, *version, *resource;
	char norm[IDENTITY_RESOURCE_MAX + 1], token_id[37], issuer[ISSUER_MAX], s_on[24], s_in[24];
	struct principal_ref who;
	struct identity_grant g;
	struct kl_err err = { 0 };
	struct buf tok;
	int64_t expires_on = 0, now;
	json_t *body;
	int rc = -1;

	memset(&who, 0, sizeof(who));
	buf_init_secret(&tok, 16384);
	c->req->token_grant = "managed_identity";
	if ((resource = api_query(c->req, "resource")) != NULL)
		snprintf(c->req->token_resource, sizeof(c->req->token_resource), "%s", resource);
	if (hdr == NULL || hdr[0] == '\0') {
		identity_error(c, KL_EUNAUTH, "invalid_client", AADSTS_NO_CREDENTIAL, "The request "
			       "must carry the X-IDENTITY-HEADER header (IDENTITY_HEADER: a kluis "
			       "token of the identity).");
		goto out;
	}
	if (principal_authenticate_token(c->ctx->core, hdr, strlen(hdr), &who, token_id, NULL,
					 &err) != 0) {
		if (err.code != KL_EUNAUTH) {
			c->err = err;	/* the store failed */
			goto out;
		}
		identity_error(c, KL_EUNAUTH, "invalid_client", AADSTS_BAD_SECRET, "The "
			       "X-IDENTITY-HEADER is not a live kluis token of a principal.");
		goto out;
	}
	identity_note_principal(c, &who);
	version = api_query(c->req, "api-version");
	if (version == NULL || strcmp(version, MSI_API_VERSION) != 0) {
		bad_request(c, AADSTS_MISSING_PARAMETER, "The api-version must be " MSI_API_VERSION
			    ".");
		goto out;
	}
	if (resource == NULL || resource[0] == '\0') {
		bad_request(c, AADSTS_MISSING_PARAMETER, "The request must name a resource.");
		goto out;
	}
	if (identity_audience_of(c->ctx->core, resource, norm) == IDENTITY_AUD_ANY) {
		identity_error(c, KL_EINVAL, "invalid_request", AADSTS_UNKNOWN_RESOURCE,
			       "The resource '%s' is not one kluis issues tokens for: its vaults "
			       "(https://vault.azure.net or its DNS suffix) and its management "
			       "plane (https://management.azure.com/).",
			       identity_quotable(resource));
		goto out;
	}
	if (check_ids(c, &who) != 0 ||
	    identity_check_client_cert(c, &who, AADSTS_BAD_SECRET) != 0)
		goto out;
	identity_issuer(c, false, true, issuer, sizeof(issuer));
	g = (struct identity_grant){ .who = &who, .cred_kind = IDENTITY_CRED_TOKEN,
				     .cred_id = token_id, .resource = norm, .issuer = issuer };
	if (identity_token_issue(c->ctx->core, &g, &tok, &expires_on, &c->err) != 0)
		goto out;
	now = clock_now_s();
	snprintf(s_on, sizeof(s_on), "%lld", (long long)expires_on);
	snprintf(s_in, sizeof(s_in), "%lld", (long long)(expires_on > now ? expires_on - now : 0));
	body = json_pack("{s:s%, s:s, s:s, s:s, s:s, s:s}", "access_token",
			 (const char *)tok.data, tok.len, "expires_on", s_on, "expires_in", s_in,
			 "resource", resource, "token_type", "Bearer", "client_id", who.id);
	api_resp_header(c->resp, "Cache-Control", "no-store");
	api_resp_header(c->resp, "Pragma", "no-cache");
	if (api_reply_json(c, 200, body) != 0)
		goto out;
	c->req->is_token_issued = true;
	rc = 0;
out:
	buf_clear(&tok);
	secure_wipe(token_id, sizeof(token_id));
	return rc;
}
