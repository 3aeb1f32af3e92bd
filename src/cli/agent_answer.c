/* agent_answer.c owns what the identity agent answers an application: a refusal, and an access
 * token read from kluisd's answer. A refusal by kluisd is answered as the application's credential
 * library understands it: a permanent one with a 4xx, only a transient one (kluisd unreachable,
 * failing or throttling) with 429 or 5xx. Never puts a token in a refusal or a log; kluisd's own
 * text is cleaned before it is quoted. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/agent.h"
#include "util/clock.h"
#include "util/json.h"

void agent_answer_clear(struct agent_answer *ans)
{
	secbuf_free(ans->token);
	memset(ans, 0, sizeof(*ans));
}

void agent_refuse(struct agent_answer *ans, int status, const char *error, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	ans->status = status;
	ans->error = error;
	va_start(ap, fmt);
	vsnprintf(ans->description, sizeof(ans->description), fmt, ap);
	va_end(ap);
	/* ASCII only: a file name or kluisd's text must not break the JSON or the log line */
	for (i = 0; ans->description[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)ans->description[i];

		if (ch < 0x20 || ch >= 0x7f)
			ans->description[i] = '?';
	}
}

/* Text from kluisd, for a message: control characters replaced, at most 200 bytes. */
static void clean_copy(char *out, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < n && i < 200; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' ? '?' : s[i];
	out[i] = '\0';
}

/* What an error answer of kluisd says: the OAuth shape (error, error_description) or Azure's
 * ({"error":{"code","message"}}); *refused_client tells whether its code says the client or its
 * credential was refused. */
static void kluisd_error_text(const struct http_resp *r, char *out, size_t n, bool *refused_client)
{
	struct kl_err err;
	json_t *j = NULL, *e;
	const char *code = NULL, *msg = NULL;
	char c[64], m[256];

	if (r->body.len > 0 && (j = json_util_parse(r->body.data, r->body.len, &err)) != NULL) {
		e = json_object_get(j, "error");
		if (json_is_string(e)) {
			code = json_string_value(e);
			msg = json_string_value(json_object_get(j, "error_description"));
		} else if (json_is_object(e)) {
			code = json_string_value(json_object_get(e, "code"));
			msg = json_string_value(json_object_get(e, "message"));
		}
	}
	*refused_client = code != NULL && (strcmp(code, "invalid_client") == 0 ||
					   strcmp(code, "unauthorized_client") == 0);
	clean_copy(c, sizeof(c), code ? code : "HTTPError");
	clean_copy(m, sizeof(m), msg ? msg : "no error description");
	snprintf(out, n, "%.60s: %.200s (HTTP %ld)", c, m, r->status);
	json_decref(j);
}

static const char *identity_label(const struct agent_identity *id, char *buf, size_t n)
{
	snprintf(buf, n, "%s %s", id->kind == AGENT_ID_TOKEN ? "token file" : "certificate",
		 id->path);
	return buf;
}

void agent_refuse_from_kluisd(struct agent_answer *ans, const struct agent_identity *id,
			      const char *what, const struct http_resp *r)
{
	char said[320], label[300];
	bool refused_client;

	kluisd_error_text(r, said, sizeof(said), &refused_client);
	identity_label(id, label, sizeof(label));
	if (r->status == 400 && !refused_client)
		agent_refuse(ans, 400, "invalid_request", "kluisd refused %s for the identity of "
			     "%s: %s", what, label, said);
	else if (r->status == 400 || r->status == 401 || r->status == 403)
		agent_refuse(ans, 403, "unauthorized_client", "kluisd refused the credential of "
			     "the identity of %s (revoked, expired, or its principal deleted?): %s",
			     label, said);
	else if (r->status == 404)
		agent_refuse(ans, 502, "temporarily_unavailable", "kluisd does not serve %s (a "
			     "version before its identity provider?): %s", what, said);
	else if (r->status == 429)
		agent_refuse(ans, 429, "temporarily_unavailable", "kluisd is throttling: %s", said);
	else
		agent_refuse(ans, 502, "temporarily_unavailable", "kluisd failed: %s", said);
}

/* Reads an access token answer: access_token, and expires_on (Unix seconds, as a number or a
 * digit string) or else expires_in; client_id when present. -1 when it is not one. */
static int read_token_answer(const struct http_resp *r, struct agent_answer *ans)
{
	struct kl_err err;
	json_t *j = NULL, *on, *in;
	const char *tok, *cid;
	long long v = -1;
	char *end;
	int rc = -1;

	if ((j = json_util_parse(r->body.data, r->body.len, &err)) == NULL ||
	    (tok = json_string_value(json_object_get(j, "access_token"))) == NULL || *tok == '\0')
		goto out;
	on = json_object_get(j, "expires_on");
	in = json_object_get(j, "expires_in");
	if (json_is_integer(on)) {
		v = json_integer_value(on);
	} else if (json_is_string(on)) {
		v = strtoll(json_string_value(on), &end, 10);
		v = *end == '\0' ? v : -1;
	} else if (json_is_integer(in) || json_is_string(in)) {
		v = json_is_integer(in) ? json_integer_value(in)
					: strtoll(json_string_value(in), &end, 10);
		v = v > 0 ? clock_now_s() + v : -1;
	}
	if (v <= 0 || (ans->token = secbuf_dup(tok, strlen(tok), &err)) == NULL)
		goto out;
	ans->expires_on = v;
	if ((cid = json_string_value(json_object_get(j, "client_id"))) != NULL &&
	    strlen(cid) <= AGENT_ID_MAX)
		snprintf(ans->client_id, sizeof(ans->client_id), "%s", cid);
	rc = 0;
out:
	json_decref(j);	/* the wiping allocator wipes the token's copy in it */
	return rc;
}

void agent_take_token(struct agent_answer *ans, const struct agent_identity *id,
		      const struct http_resp *r)
{
	if (r->status != 200)
		agent_refuse_from_kluisd(ans, id, "a token", r);
	else if (read_token_answer(r, ans) != 0)
		agent_refuse(ans, 502, "temporarily_unavailable", "kluisd's token answer holds no "
			     "access token");
	else
		ans->status = 200;
}
