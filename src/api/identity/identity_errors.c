/* identity_errors.c owns the identity provider's place in the pipeline before its handlers (no
 * bearer token: the Host header, which every issuer and endpoint URL is built from, and the
 * query are checked here), its error bodies in Microsoft Entra ID's OAuth shape
 * (identity_internal.h), and what every token endpoint shares: the tenants kluis answers for,
 * the issuer, the client certificate binding. It must never put a secret, an
 * assertion or a token in a message, and never answer a permanent failure with 404, 410 or 5xx
 * (the credential libraries retry those for a minute). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/audit.h"
#include "api/identity/identity_internal.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"
#include "vault/core.h"

#define HOST_MAX 255

int identity_error(struct api_call *c, enum kl_errc kind, const char *error, unsigned aadsts,
		   const char *fmt, ...)
{
	char msg[sizeof(c->err.msg) - 24];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return kl_fail_az(&c->err, kind, error, NULL, "AADSTS%u: %s", aadsts, msg);
}

const char *identity_quotable(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= 200 || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ||
		    s[i] == '\'' || s[i] == '"' || s[i] == '\\')
			return "(not printable)";
	return s;
}

int identity_tenant(struct api_call *c, const char *tenant, bool *is_adfs)
{
	*is_adfs = strcasecmp(tenant, "adfs") == 0;
	if (*is_adfs || strcasecmp(tenant, "organizations") == 0 ||
	    strcasecmp(tenant, "common") == 0 ||
	    strcasecmp(tenant, vault_core_tenant(c->ctx->core)) == 0)
		return 0;
	return identity_error(c, KL_EINVAL, "invalid_tenant", AADSTS_INVALID_TENANT,
			      "Tenant '%s' not found. This kluis deployment serves the tenant %s, "
			      "and 'adfs', 'organizations' and 'common'.",
			      identity_quotable(tenant), vault_core_tenant(c->ctx->core));
}

void identity_issuer(const struct api_call *c, bool is_adfs, bool is_v2, char *out, size_t n)
{
	if (is_adfs)
		snprintf(out, n, "https://%s/adfs", c->host);
	else
		snprintf(out, n, "https://%s/%s%s", c->host, vault_core_tenant(c->ctx->core),
			 is_v2 ? "/v2.0" : "/");
}

void identity_note_principal(struct api_call *c, const struct principal_ref *who)
{
	c->st->who = *who;	/* for the audit line */
	c->st->who.is_admin = false;
}

int identity_check_client_cert(struct api_call *c, const struct principal_ref *who,
			       unsigned aadsts)
{
	const char *got = c->req->client_cert;
	unsigned char diff = 0;
	size_t i;

	if (who->client_cert[0] == '\0')
		return 0;
	if (strlen(got) == PRINCIPAL_CERT_HEX && strlen(who->client_cert) == PRINCIPAL_CERT_HEX) {
		for (i = 0; i < PRINCIPAL_CERT_HEX; i++)
			diff |= (unsigned char)(got[i] ^ who->client_cert[i]);
		if (diff == 0)
			return 0;
	}
	LOG_INFO(c->req->request_id, "principal %.64s asked for a token without its client "
		 "certificate", who->name);
	return identity_error(c, KL_EUNAUTH, "invalid_client", aadsts, "The client '%s' is "
			      "bound to a TLS client certificate: ask for its tokens on a "
			      "connection that presents it.", who->name);
}

/* Is the route a token endpoint (counted in kluis_identity_tokens_total)? */
static bool is_token_route(const struct route *r)
{
	return r != NULL && (r->handler == identity_token_v2 || r->handler == identity_token_v1 ||
			     r->handler == identity_msi_token);
}

/* The status, OAuth error and AADSTS code of a failure that did not come from identity_error. */
static void defaults_of(enum kl_errc kind, int *status, const char **error, unsigned *code)
{
	*status = errors_status(kind);
	switch (kind) {
	case KL_EINVAL:
	case KL_ETOOBIG:
		*error = "invalid_request";
		*code = AADSTS_MISSING_PARAMETER;
		break;
	case KL_EUNAUTH:
		*error = "invalid_client";
		*code = AADSTS_BAD_SECRET;
		break;
	case KL_ETHROTTLED:
		*error = "temporarily_unavailable";
		*code = AADSTS_THROTTLED;
		break;
	case KL_EUNAVAIL:
	case KL_EOUTCOME:
	case KL_ENOMEM:
	case KL_EREADONLY:
		*status = 503;
		*error = "temporarily_unavailable";
		*code = AADSTS_TRANSIENT;
		break;
	default:
		*status = *status >= 500 ? *status : 500;
		*error = "server_error";
		*code = AADSTS_SERVER_ERROR;
		break;
	}
}

/* "AADSTS<n>: " at the start of msg: n, and the rest of the message after it. */
static const char *split_code(const char *msg, unsigned *code)
{
	char *end;
	unsigned long n;

	if (strncmp(msg, "AADSTS", 6) != 0)
		return NULL;
	n = strtoul(msg + 6, &end, 10);
	if (end == msg + 6 || end[0] != ':' || end[1] != ' ' || n > 99999999)
		return NULL;
	*code = (unsigned)n;
	return end + 2;
}

/* The client's x-ms-client-request-id when it is a plain id, else our request id. */
static const char *correlation_id(const struct api_req *req)
{
	const char *s = req->client_request_id;
	size_t i;

	if (s == NULL || *s == '\0')
		return req->request_id;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= 64 || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
				 (s[i] >= 'A' && s[i] <= 'F') || s[i] == '-'))
			return req->request_id;
	return s;
}

/* The OAuth error body for err into resp, with its headers. */
static void render(const struct api_req *req, struct api_resp *resp, const struct kl_err *err,
		   unsigned retry_after_s)
{
	const char *error = NULL, *text, *corr = correlation_id(req);
	unsigned code = 0, dcode;
	char when[25], stamp[24], desc[sizeof(err->msg) + 200], secs[16];
	struct kl_err derr;
	json_t *body;
	int status;
	size_t i;

	defaults_of(err->code, &status, &error, &dcode);
	if (err->azure_code != NULL && (err->code == KL_EINVAL || err->code == KL_EUNAUTH ||
					 err->code == KL_ETOOBIG || err->code == KL_ETHROTTLED))
		error = err->azure_code;
	if ((text = split_code(err->msg, &code)) == NULL) {
		text = err->msg[0] != '\0' ? err->msg : "The request failed.";
		code = dcode;
	}
	audit_format_time(clock_now_ms(), when);
	memcpy(stamp, when, 19);	/* "YYYY-MM-DD HH:MM:SSZ", as Entra ID writes it */
	stamp[10] = ' ';
	stamp[19] = 'Z';
	stamp[20] = '\0';
	snprintf(desc, sizeof(desc), "AADSTS%u: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\n"
		 "Timestamp: %s", code, text, req->request_id, corr, stamp);
	/* JSON wants UTF-8: the messages are ASCII, and stay so */
	for (i = 0; desc[i] != '\0'; i++)
		if ((unsigned char)desc[i] > 0x7e ||
		    ((unsigned char)desc[i] < 0x20 && desc[i] != '\r' && desc[i] != '\n'))
			desc[i] = '?';
	buf_reset(&resp->body);
	resp->status = status;
	body = json_pack("{s:s, s:s, s:[i], s:s, s:s, s:s}", "error", error, "error_description",
			 desc, "error_codes", (json_int_t)code, "timestamp", stamp, "trace_id",
			 req->request_id, "correlation_id", corr);
	if (body == NULL || json_util_dump(body, &resp->body, &derr) != 0) {
		buf_reset(&resp->body);
		LOG_ERROR(req->request_id, "cannot render an OAuth error body (status %d)", status);
	}
	json_decref(body);
	api_resp_header(resp, "x-ms-error-code", error);
	api_resp_header(resp, "Cache-Control", "no-store");
	api_resp_header(resp, "Pragma", "no-cache");
	if (status == 429 || status == 503) {
		snprintf(secs, sizeof(secs), "%u", retry_after_s > 0 ? retry_after_s : 1);
		api_resp_header(resp, "Retry-After", secs);
	}
	if (status >= 500)
		LOG_WARN(req->request_id, "%s failed: %s", req->method, err->msg);
}

void identity_reply_error(struct api_call *c)
{
	if (is_token_route(c->st->route) && c->req->token_grant == NULL)
		c->req->token_grant = "unknown";
	c->req->is_token_issued = false;
	render(c->req, c->resp, &c->err, c->retry_after_s);
}

int identity_begin(struct api_ctx *ctx, struct api_req *req, struct api_resp *resp)
{
	struct kl_err err = { 0 };

	(void)ctx;
	/* Every URL of a discovery document and every token's issuer is built from the Host
	 * header: one kluis has as many names as it has nodes and load balancers. */
	if (req->host == NULL || !api_host_is_valid(req->host))
		kl_fail_az(&err, KL_EINVAL, "invalid_request", NULL, "AADSTS%u: The Host header is "
			   "missing or not a valid host name.", AADSTS_MISSING_PARAMETER);
	else if (req->query_overflow)
		kl_fail_az(&err, KL_EINVAL, "invalid_request", NULL, "AADSTS%u: Too many query "
			   "parameters (at most %d).", AADSTS_MISSING_PARAMETER, API_MAX_QUERY);
	else
		return 0;
	if (is_token_route(req->state != NULL ? req->state->route : NULL))
		req->token_grant = "unknown";
	render(req, resp, &err, 0);
	api_resp_finish(req, resp);
	return -1;
}
