/* HTTPS for kluis, the client: one request at a time over a libcurl handle that keeps its
 * connections between requests. TLS verification is always on; only https:// URLs are used;
 * redirects are never followed (they would carry the token elsewhere). Not thread-safe. */
#ifndef KLUIS_CLI_HTTP_H
#define KLUIS_CLI_HTTP_H

#include "util/buf.h"
#include "util/secbuf.h"

#define HTTP_BODY_MAX (32u << 20)	/* bytes of one response body */

struct http;

struct http_resp {
	long status;
	struct buf body;	/* a wiping buffer: bodies may hold secret values or tokens */
};

/* libcurl's process-wide setup and teardown, once each, from main before and after all else:
 * -1 after printing why. */
int http_global_init(void);
void http_global_cleanup(void);

/* A handle trusting the CA file ca (NULL: the system's trust store). NULL when out of memory
 * or when libcurl cannot start (printed). */
struct http *http_new(const char *ca);
void http_free(struct http *h);

/* Sends method url with body (NULL: none; else JSON) and, when token is not NULL, a bearer
 * token. 0 when any HTTP response came back, its status and body in *out (which the caller
 * clears with http_resp_clear); -1 after printing why not (bad URL, unreachable, TLS). */
int http_request(struct http *h, const char *method, const char *url, const struct buf *body,
		 const struct secbuf *token, struct http_resp *out);

/* What http_request_opts sends besides: the body's type, one header whose value is a secret
 * (wiped like the token's), and a shorter deadline. Zeroed fields keep http_request's ways. */
struct http_opts {
	const char *content_type;	/* of body; NULL: application/json */
	const char *secret_header;	/* "X-IDENTITY-HEADER"; NULL: none */
	const struct secbuf *secret_value;
	long timeout_s;			/* the whole request; 0: the default (120 s) */
};
int http_request_opts(struct http *h, const char *method, const char *url, const struct buf *body,
		      const struct secbuf *token, const struct http_opts *o,
		      struct http_resp *out);
void http_resp_clear(struct http_resp *r);

/* Appends s percent-encoded for use as one path segment or query value. */
int http_escape(const char *s, struct buf *out, struct kl_err *err);

#endif
