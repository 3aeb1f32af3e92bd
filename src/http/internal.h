/* What the files of http/ share: the parts of reading a request that do not need the server's
 * state (request.c). Included only by http/ files, after <microhttpd.h>. */
#ifndef KLUIS_HTTP_INTERNAL_H
#define KLUIS_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "util/err.h"

struct MHD_Connection;

/* libmicrohttpd's unescape callback: decodes %HH in the path and in query names and values,
 * except %00, which stays literal so that no string api/ receives is cut short at a NUL. */
size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* Fills req (initialised by api_req_init) from the request head: method, path, query, Host,
 * Authorization, x-ms-client-request-id, Content-Type, peer address. *has_body tells whether body
 * bytes follow the head and *content_length their announced length (0 when chunked); both are
 * set even on failure, so the caller knows whether the connection must close after its answer.
 * KL_EINVAL for a head kluis will not guess at (a repeated Host, Authorization, Content-Length or
 * Transfer-Encoding; both framings; a coding other than chunked; a NUL in the query); KL_ENOMEM. */
int http_read_head(struct MHD_Connection *conn, const char *url, const char *method,
		   struct api_req *req, bool *has_body, uint64_t *content_length,
		   struct kl_err *err);

#endif
