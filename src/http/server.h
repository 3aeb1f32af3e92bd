/* The HTTPS server: libmicrohttpd with TLS 1.2/1.3 turning connections into api_req and api_resp
 * back into bytes. One per process.
 *
 * Thread safety: http_server_start and http_server_stop are called from one thread (main);
 * between them, requests are served on the server's own pool of worker threads, which call into
 * api/ concurrently. Signals should be blocked in the caller before start: the workers inherit
 * its signal mask. */
#ifndef KLUIS_HTTP_SERVER_H
#define KLUIS_HTTP_SERVER_H

#include <stddef.h>

#include "http/addr.h"
#include "util/err.h"

struct api_ctx;
struct http_server;

struct http_config {
	const struct http_addr *listen;	/* where to listen (http_addr_parse) */
	const char *cert_pem_path;	/* server certificate chain, PEM */
	const char *key_pem_path;	/* its private key, PEM, unencrypted */
	unsigned threads;		/* worker threads; 0: one per online CPU */
	size_t conn_memory_bytes;	/* per connection; 0: 64 KiB (16 KiB of headers fit) */
	unsigned conn_timeout_s;	/* idle connections are closed after this; 0: 60 */
	unsigned max_connections;	/* concurrent connections; 0: 1024 */
};

/* Binds the listen address and starts serving with api, which must outlive the server. The
 * certificate and key are read here; the key stays in wiped memory until http_server_stop.
 * NULL with err filled: KL_EINVAL for unreadable or oversized PEM files, KL_EUNAVAIL when the
 * address cannot be bound (the message says why, e.g. "Address already in use"), KL_ENOMEM,
 * KL_EINTERNAL when libmicrohttpd refuses to start (its reason is logged). */
struct http_server *http_server_start(const struct http_config *cfg, struct api_ctx *api,
				      struct kl_err *err);

/* Stops accepting connections, lets requests already being served finish and send their answer
 * (waiting at most a few seconds for them), closes every connection, joins the worker threads
 * and wipes the key. NULL is a no-op. After it returns nothing calls into api/ any more. */
void http_server_stop(struct http_server *s);

#endif
