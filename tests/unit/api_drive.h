/* One request through api/ the way http/ makes it (src/http/server.c and request.c), for the
 * unit tests and the fuzz targets alike: the head copied into a fresh api_req, api_begin, the
 * body, api_dispatch, then api_req_done (the audit line and the metrics) before anyone looks at
 * the answer, as http/ audits an answer before its first byte is sent. Header-only and without
 * cmocka, so that each test binary and each fuzz target stands alone; failures are returned,
 * never asserted or aborted on, so that allocation-failure runs can use it too. */
#ifndef KLUIS_TESTS_API_DRIVE_H
#define KLUIS_TESTS_API_DRIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "util/json.h"
#include "util/secbuf.h"

/* A query parameter, decoded. */
struct api_drive_param {
	const char *name;
	const char *value;
};

/* A request as http/ hands it to api/: strings NULL when the client sent no such thing. */
struct api_drive_req {
	const char *method;		/* required; cut to api_req's field, as http/ cuts it */
	const char *host;		/* the Host header */
	const char *path;		/* required; percent-decoded, without the query */
	/* "a=b&c=d", already decoded: a part without '=' is a name with the value "" (so no name
	 * or value holds '&'). */
	const char *query;
	/* Parameters after query, split and decoded by the caller: values may hold '&' or '='. */
	const struct api_drive_param *params;
	size_t n_params;
	const char *api_version;	/* an api-version parameter after all those */
	const char *authorization;
	const char *identity_header;	/* X-IDENTITY-HEADER */
	const char *client_request_id;	/* x-ms-client-request-id */
	const char *content_type;
	const char *client_addr;	/* "ip:port"; NULL: "-", http/'s unknown peer */
	const char *client_cert;	/* SHA-256 (hex) of a client certificate http/ verified */
	const void *body;		/* body_len bytes; none when body_len is 0 */
	size_t body_len;
	/* Called once api_begin has let the request through and the body is within the limit,
	 * before the body is read. Returning false is the client hanging up there: nothing is
	 * answered and the request is audited with status 0, as http/ does for a connection that
	 * ends early. NULL: go on. */
	bool (*go_on)(const struct api_req *req, void *arg);
	void *arg;
	/* NULL: the request is freed once answered, its response's headers copied out of its
	 * arena first. Otherwise the request is left, answered and done, in *keep for a test of
	 * what api/ made of it (its state, its arena); the response's headers then still live in
	 * its arena: read them before api_req_free(keep). On failure nothing is kept. */
	struct api_req *keep;
};

/* The body_len of a text body s (NULL: no body). */
static inline size_t api_drive_len(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* The error answer http/ gives when it cannot take a request in (its queue_error): err's status
 * and body in a fresh resp, audited like any answer. */
static inline void api_drive_refuse(struct api_ctx *api, struct api_req *req,
				    struct api_resp *resp, const struct kl_err *err)
{
	api_resp_free(resp);
	api_resp_init(resp);
	api_resp_error(resp, err);
	api_resp_finish(req, resp);
	api_req_done(api, req, resp, resp->status);
}

/* Adds the parameters of q ("a=b&c=d", decoded; NULL: none) to req. Its copy is wiped: a query
 * value may be a secret, as api_req_free knows. */
static inline int api_drive_query(struct api_req *req, const char *q, struct kl_err *err)
{
	char *copy, *save = NULL, *part, *eq;
	int rc = 0;

	if (q == NULL)
		return 0;
	if ((copy = strdup(q)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	for (part = strtok_r(copy, "&", &save); part != NULL && rc == 0;
	     part = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(part, '=')) != NULL)
			*eq++ = '\0';
		rc = api_req_add_query(req, part, eq != NULL ? eq : "", err);
	}
	secure_wipe(copy, strlen(q));
	free(copy);
	return rc;
}

/* Fills req's head from d in http_read_head's order: method, peer, path and headers (copied into
 * the request's arena), then the query. */
static inline int api_drive_head(struct api_req *req, const struct api_drive_req *d,
				 struct kl_err *err)
{
	const struct {
		const char *value;
		char **field;
	} copies[] = {
		{ d->path, &req->path },
		{ d->host, &req->host },
		{ d->authorization, &req->authorization },
		{ d->identity_header, &req->identity_header },
		{ d->client_request_id, &req->client_request_id },
		{ d->content_type, &req->content_type },
	};
	size_t i;

	snprintf(req->method, sizeof(req->method), "%s", d->method);
	snprintf(req->client_addr, sizeof(req->client_addr), "%s",
		 d->client_addr != NULL ? d->client_addr : "-");
	for (i = 0; i < sizeof(copies) / sizeof(copies[0]); i++)
		if (copies[i].value != NULL &&
		    (*copies[i].field = arena_strdup(&req->arena, copies[i].value)) == NULL)
			return kl_fail(err, KL_ENOMEM, "out of memory");
	if (api_drive_query(req, d->query, err) != 0)
		return -1;
	for (i = 0; i < d->n_params; i++)
		if (api_req_add_query(req, d->params[i].name, d->params[i].value, err) != 0)
			return -1;
	if (d->api_version != NULL &&
	    api_req_add_query(req, "api-version", d->api_version, err) != 0)
		return -1;
	if (d->client_cert != NULL)	/* after the head, as http/ sets it */
		snprintf(req->client_cert, sizeof(req->client_cert), "%s", d->client_cert);
	return 0;
}

/* Copies resp's header values out of the request's arena, which api_req_free wipes. A header
 * that cannot be copied is dropped (it would dangle) and the failure reported. */
static inline int api_drive_detach(struct api_resp *resp, struct kl_err *err)
{
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < resp->n_headers; i++) {
		struct api_header h = resp->headers[i];

		if (h.in_arena) {
			h.in_arena = false;
			if ((h.value = strdup(h.value)) == NULL) {
				rc = kl_fail(err, KL_ENOMEM, "out of memory");
				continue;
			}
		}
		resp->headers[n++] = h;
	}
	resp->n_headers = n;
	resp->arena = NULL;
	return rc;
}

/* Makes the request d through api, answered into resp (initialised here; the caller frees it
 * with api_resp_free on every path). A body over the context's limit is refused with http/'s
 * 413. Returns 0, or -1 with *err when memory ran out building the request (resp then holds the
 * error answer http/ would have sent, audited as it would be) or copying its answer's headers
 * out (those are dropped). */
static inline int api_drive(struct api_ctx *api, const struct api_drive_req *d,
			    struct api_resp *resp, struct kl_err *err)
{
	struct api_req own, *req = d->keep != NULL ? d->keep : &own;
	int rc = -1, status;

	api_resp_init(resp);
	if (api_req_init(api, req, err) != 0 || api_drive_head(req, d, err) != 0) {
		api_drive_refuse(api, req, resp, err);
		goto out;
	}
	if (api_begin(api, req, resp) == 0) {
		if (d->body_len > api_ctx_max_body(api)) {	/* refused before it is read */
			struct kl_err big = { 0 };

			kl_fail(&big, KL_ETOOBIG,
				"The request body is larger than the limit of %zu bytes.",
				api_ctx_max_body(api));
			api_drive_refuse(api, req, resp, &big);
			rc = 0;
			goto out;
		}
		if (d->go_on != NULL && !d->go_on(req, d->arg)) {
			api_resp_free(resp);	/* nothing was sent */
			api_resp_init(resp);
			api_req_done(api, req, resp, 0);
			rc = 0;
			goto out;
		}
		if (d->body_len > 0 && buf_append(&req->body, d->body, d->body_len, err) != 0) {
			api_drive_refuse(api, req, resp, err);
			goto out;
		}
		api_dispatch(api, req, resp);
	}
	/* http/ answers 500 for a status api/ should never leave, and audits that. */
	status = resp->status >= 100 && resp->status <= 999 ? resp->status : 500;
	api_req_done(api, req, resp, status);
	rc = 0;
out:
	if (d->keep == NULL || rc != 0) {
		if (api_drive_detach(resp, err) != 0)
			rc = -1;
		api_req_free(req);
	}
	return rc;
}

/* resp's body parsed as JSON; NULL when it is empty or not JSON. The caller json_decref()s it. */
static inline json_t *api_drive_json(const struct api_resp *resp)
{
	if (resp->body.len == 0)
		return NULL;
	return json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
}

/* api_drive for a caller that wants only the status and, when out is given, the body as JSON in
 * *out (api_drive_json; NULL on failure). Returns the status, or -1 with *err as api_drive. */
static inline int api_drive_status(struct api_ctx *api, const struct api_drive_req *d,
				   json_t **out, struct kl_err *err)
{
	struct api_resp resp;
	int status = -1;

	if (out != NULL)
		*out = NULL;
	if (api_drive(api, d, &resp, err) == 0) {
		status = resp.status;
		if (out != NULL)
			*out = api_drive_json(&resp);
	}
	api_resp_free(&resp);
	return status;
}

/* The value of resp's header name (in any case), or NULL when it has none. */
static inline const char *api_drive_header(const struct api_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

/* Copies the value of resp's header name (in any case) into out (n bytes, cut); "" when it has
 * none. */
static inline void api_drive_header_copy(const struct api_resp *resp, const char *name, char *out,
					 size_t n)
{
	const char *v = api_drive_header(resp, name);

	snprintf(out, n, "%s", v != NULL ? v : "");
}

/* Copies resp's body as text into out (n bytes, cut); "" when it is empty. */
static inline void api_drive_body_copy(const struct api_resp *resp, char *out, size_t n)
{
	snprintf(out, n, "%.*s", (int)resp->body.len,
		 resp->body.len > 0 ? (const char *)resp->body.data : "");
}

/* A go_on for tests of where api/ answers: lets the request through, noting in *(bool *)arg
 * that api_begin did (it stays false when api/ answered on the head alone). */
static inline bool api_drive_note_begun(const struct api_req *req, void *arg)
{
	(void)req;
	*(bool *)arg = true;
	return true;
}

#endif
