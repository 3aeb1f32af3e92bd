/* Reading a request head into an api_req: method, path, query, the headers api/ wants, the peer
 * address, and the framing of the body that follows. Owns no state. Must never decide anything
 * about the request beyond HTTP framing (that is api/'s), never log a header value. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "http/internal.h"
#include "util/hex.h"

/* Percent-decoding of the path and of query names and values, as libmicrohttpd's own but for
 * "%00", which stays as it is: a decoded NUL would silently cut the C string api/ receives
 * ("name%00x" read as "name"); kept literal, it fails validation like any bad character. */
size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *r = s, *w = s;
	int hi, lo;

	(void)cls;
	(void)conn;
	while (*r != '\0') {
		if (r[0] == '%' && (hi = hex_value(r[1])) >= 0 && (lo = hex_value(r[2])) >= 0 &&
		    (hi | lo) != 0) {
			*w++ = (char)(hi * 16 + lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* The App Service managed identity route's secret header (a kluis token: wiped with the request). */
#define IDENTITY_HEADER "X-IDENTITY-HEADER"

/* Headers that must appear at most once: a second copy is ambiguous (which Host names the vault,
 * which length frames the body?) and is refused rather than guessed. */
struct header_scan {
	unsigned host, authorization, identity_header, content_length, transfer_encoding;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    const char *value)
{
	struct header_scan *hs = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		hs->host++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		hs->authorization++;
	else if (strcasecmp(key, IDENTITY_HEADER) == 0)
		hs->identity_header++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		hs->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		hs->transfer_encoding++;
	return MHD_YES;
}

struct query_scan {
	struct api_req *req;
	struct kl_err *err;
	int rc;
};

static enum MHD_Result add_query(void *cls, enum MHD_ValueKind kind, const char *key,
				 size_t key_size, const char *value, size_t value_size)
{
	struct query_scan *qs = cls;

	(void)kind;
	if (strlen(key) != key_size || (value != NULL && strlen(value) != value_size)) {
		qs->rc = kl_fail(qs->err, KL_EINVAL, "A query parameter contains a NUL byte.");
		return MHD_NO;
	}
	if (api_req_add_query(qs->req, key, value != NULL ? value : "", qs->err) != 0) {
		qs->rc = -1;
		return MHD_NO;
	}
	return MHD_YES;
}

/* A copy of header name's value into *out (left NULL when absent). */
static int copy_header(struct MHD_Connection *conn, struct api_req *req, const char *name,
		       char **out, struct kl_err *err)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	if (v == NULL)
		return 0;
	if ((*out = arena_strdup(&req->arena, v)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

/* "ip:port" (or "[ip]:port") of the peer, for logs; "-" when unknown. Runs on every request,
 * so without getnameinfo or printf (they were 3% of a GET's CPU). */
static void format_client_addr(struct MHD_Connection *conn, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci;
	char host[INET6_ADDRSTRLEN];
	const void *addr;
	unsigned port;
	size_t len, i = 0;
	char digits[6];
	int nd = 0;

	memcpy(out, "-", 2);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ci->client_addr;

		addr = &a->sin_addr;
		port = ntohs(a->sin_port);
	} else if (ci->client_addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ci->client_addr;

		addr = &a->sin6_addr;
		port = ntohs(a->sin6_port);
	} else {
		return;
	}
	if (inet_ntop(ci->client_addr->sa_family, addr, host, sizeof(host)) == NULL)
		return;
	len = strlen(host);
	if (len + 10 > n)
		return;
	if (ci->client_addr->sa_family == AF_INET6)
		out[i++] = '[';
	memcpy(out + i, host, len);
	i += len;
	if (ci->client_addr->sa_family == AF_INET6)
		out[i++] = ']';
	out[i++] = ':';
	do {
		digits[nd++] = (char)('0' + port % 10);
		port /= 10;
	} while (port > 0);
	while (nd > 0)
		out[i++] = digits[--nd];
	out[i] = '\0';
}

int http_read_head(struct MHD_Connection *conn, const char *url, const char *method,
		   struct api_req *req, bool *has_body, uint64_t *content_length,
		   struct kl_err *err)
{
	struct header_scan hs = { 0 };
	struct query_scan qs = { .req = req, .err = err, .rc = 0 };
	const char *te, *cl;
	size_t mlen;

	*has_body = false;
	*content_length = 0;
	/* A method longer than the field is cut; no cut method equals a real one. */
	mlen = strnlen(method, sizeof(req->method) - 1);
	memcpy(req->method, method, mlen);
	req->method[mlen] = '\0';
	format_client_addr(conn, req->client_addr, sizeof(req->client_addr));
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &hs);
	te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	*has_body = te != NULL || (cl != NULL && strtoull(cl, NULL, 10) > 0);
	if (hs.host > 1 || hs.authorization > 1 || hs.identity_header > 1 ||
	    hs.content_length > 1 || hs.transfer_encoding > 1)
		return kl_fail(err, KL_EINVAL, "The request repeats a header that may appear only "
			       "once (Host, Authorization, X-IDENTITY-HEADER, Content-Length or "
			       "Transfer-Encoding).");
	if (te != NULL && cl != NULL)
		return kl_fail(err, KL_EINVAL, "The request has both Content-Length and "
			       "Transfer-Encoding.");
	if (te != NULL && strcasecmp(te, "chunked") != 0)
		return kl_fail(err, KL_EINVAL, "Transfer-Encoding '%.32s' is not supported.", te);
	if (cl != NULL) {
		/* libmicrohttpd has checked the digits and the range already. */
		*content_length = strtoull(cl, NULL, 10);
	}
	if ((req->path = arena_strdup(&req->arena, url)) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	if (copy_header(conn, req, MHD_HTTP_HEADER_HOST, &req->host, err) != 0 ||
	    copy_header(conn, req, MHD_HTTP_HEADER_AUTHORIZATION, &req->authorization, err) != 0 ||
	    copy_header(conn, req, IDENTITY_HEADER, &req->identity_header, err) != 0 ||
	    copy_header(conn, req, "x-ms-client-request-id", &req->client_request_id, err) != 0 ||
	    copy_header(conn, req, MHD_HTTP_HEADER_CONTENT_TYPE, &req->content_type, err) != 0)
		return -1;
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, add_query, &qs);
	return qs.rc;
}
