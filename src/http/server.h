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
	const char *key_pem_path;	/* its private key, PEM, unencrypted, mode 0600 or stricter */
	const char *client_ca_pem_path;	/* NULL, or CA certificates (PEM) that client certificates
					 * are verified against; each handshake then asks for one */
	unsigned threads;		/* worker threads; 0: one per online CPU */
	size_t conn_memory_bytes;	/* per connection; 0: 32 KiB (16 KiB of headers fit) */
	unsigned conn_timeout_s;	/* idle timeout: a kept-alive connection without a request
					 * line for this long is closed; 0: 600 (a new one gets
					 * the shorter of this and the request timeout) */
	unsigned request_timeout_s;	/* from a request's first line to its last body byte, and
					 * the longest pause while its answer is sent; 0: 30
					 * (http/deadline.h) */
	unsigned max_connections;	/* concurrent connections; 0: 1024. Past it (and past the
					 * per-address limit) the connection idle the longest
					 * makes room, or the new one is refused */
	unsigned max_connections_per_ip;	/* connections of one address at once; 0: any */
};

/* Binds the listen address and starts serving with api, which must outlive the server. The
 * certificate and key are read and checked here (http/tlscreds.h). NULL with err filled:
 * KL_EINVAL for unreadable, oversized or unusable PEM files, KL_EFORBIDDEN for a key file that
 * others can read, KL_EUNAVAIL when the address cannot be bound (the message says why, e.g.
 * "Address already in use"), KL_ENOMEM, KL_EINTERNAL when libmicrohttpd refuses to start (its
 * reason is logged). */
struct http_server *http_server_start(const struct http_config *cfg, struct api_ctx *api,
				      struct kl_err *err);

/* Reads the certificate and key files again (the same paths) and serves the new pair to every
 * handshake from now on; connections already open keep theirs. On any failure (the checks of
 * tlscreds_load in http/tlscreds.h) the pair in use stays and err says why. Thread-safe against
 * the workers; called from main. */
int http_server_reload_tls(struct http_server *s, struct kl_err *err);

/* "serial S, SHA-256 F, expires DATE" of the certificate in use, for the log. */
void http_server_tls_describe(struct http_server *s, char *out, size_t n);

/* Stops accepting connections, lets requests already being served finish and send their answer
 * (waiting at most a few seconds for them), closes every connection, joins the worker threads
 * and frees the certificate and key. NULL is a no-op. After it returns nothing calls into api/ any more. */
void http_server_stop(struct http_server *s);

#endif
