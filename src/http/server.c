/* The HTTPS server: libmicrohttpd (TLS by GnuTLS inside it) and the per-request protocol that
 * turns a connection's bytes into an api_req and an api_resp back into bytes: api_begin() on the
 * headers alone, the body read only when api/ says go on, then api_dispatch(). Owns the daemon,
 * its listen socket, the certificate and key in memory, and one struct http_request per request.
 * Must never interpret a request (routes, tokens, vaults and error bodies belong to api/), never
 * keep body bytes of a request api/ refused, never log a header value or a body. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/api.h"
#include "http/clientcert.h"
#include "http/deadline.h"
#include "http/internal.h"
#include "http/server.h"
#include "http/tlscreds.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/secbuf.h"

#define DEFAULT_CONN_MEMORY (32u * 1024)
/* Clients keep idle connections in their pools for minutes and reuse them without warning;
 * closing one just as a client sends on it loses that call (docs/decisions.md §20). */
#define DEFAULT_CONN_TIMEOUT_S 600u
#define DEFAULT_REQUEST_TIMEOUT_S 30u
#define DEFAULT_MAX_CONNECTIONS 1024u
/* libmicrohttpd's own limits sit this far above ours (http/deadline.h), so that a connection
 * past our limit still reaches the registry, which makes room by closing an idle one; the slack
 * only ever holds connections shut down a moment ago and about to be closed. */
#define LIMIT_SLACK(threads) (16u + 2u * (threads))
#define MAX_THREADS 256u
#define LISTEN_BACKLOG 511
#define DRAIN_WAIT_MS 5000	/* how long stop waits for requests in flight */
/* A chunked body that passes the limit cannot be answered before it ends (libmicrohttpd queues
 * answers only before or after the body): up to this many more bytes are read and dropped so
 * the client still gets its 413, then the connection is closed instead. */
#define DISCARD_MAX_BYTES (8u * 1024 * 1024)
/* TLS 1.2 and 1.3 only; in 1.2 only ECDHE key exchange (forward secrecy: no RSA key transport,
 * no finite-field DHE) with AEAD ciphers (AES-GCM, ChaCha20-Poly1305: no CBC, no CCM); groups
 * X25519, P-256 and P-384. TLS 1.3 suites are all AEAD; AES-128-CCM is left out there too. */
#define TLS_PRIORITIES                                                                         \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"    \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:"        \
	"+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1"

struct http_server {
	struct MHD_Daemon *daemon;
	struct api_ctx *api;
	struct tlscreds *tls;	/* certificate and key, swapped by http_server_reload_tls */
	struct secbuf *client_ca;	/* PEM of --client-ca, NUL-terminated; libmicrohttpd keeps it */
	int listen_fd;
	pthread_mutex_t lock;
	pthread_cond_t drained;
	unsigned n_active;	/* requests between their first call and completion; under lock */
	atomic_bool is_stopping;
	struct http_deadlines *deadlines;	/* idle and request timeouts (http/deadline.h) */
	unsigned idle_timeout_s, request_timeout_s;
};

/* One request, from the access handler's first call to the completion callback (*con_cls). */
struct http_request {
	struct http_server *srv;
	struct api_req req;
	struct api_resp resp;
	bool is_queued;		/* an answer is queued: nothing more to do */
	bool is_discarding;	/* the body failed (body_err): drop the rest, answer at its end */
	bool is_answered;	/* api_begin answered on the head of a bodiless request */
	bool is_done;		/* api_req_done has been called */
	uint64_t discarded;
	struct kl_err body_err;
};

/* The answer when not even the request state can be allocated. */
static const char oom_body[] = "{\"error\":{\"code\":\"ServiceUnavailable\","
				"\"message\":\"The server is out of memory.\"}}";

/* libmicrohttpd's own messages (TLS handshake failures, bind errors...) go to our log. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
							      va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	LOG_WARN(NULL, "libmicrohttpd: %s", line);
}

/* --- answers -------------------------------------------------------------------------------- */

/* Queues hr->resp. must_close when the connection cannot carry another request (an answer given
 * before the body was read: its bytes must not be parsed as the next request). */
static enum MHD_Result queue_resp(struct http_request *hr, struct MHD_Connection *conn,
				  bool must_close)
{
	struct api_resp *resp = &hr->resp;
	struct MHD_Response *r;
	enum MHD_Result ret;
	void *body;
	size_t i;
	int status = resp->status;

	if (status < 100 || status > 999) {
		LOG_ERROR(hr->req.request_id, "api left status %d; answering 500", status);
		status = 500;
	}
	/* The body may hold a secret value: libmicrohttpd points at our buffer instead of copying
	 * it, and api_resp_free() wipes it at completion, after the last byte is sent. */
	body = resp->body.len > 0 ? (void *)resp->body.data : (void *)"";
	r = MHD_create_response_from_buffer(resp->body.len, body, MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		LOG_ERROR(hr->req.request_id, "cannot create a response; closing the connection");
		return MHD_NO;
	}
	for (i = 0; i < resp->n_headers; i++) {
		const struct api_header *h = &resp->headers[i];

		if (MHD_add_response_header(r, h->name, h->value) != MHD_YES)
			LOG_WARN(hr->req.request_id, "dropped response header %s", h->name);
	}
	if ((must_close || atomic_load(&hr->srv->is_stopping)) &&
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;	/* closing is the point; without the header, close now */
	}
	ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);	/* the connection holds its own reference */
	if (ret == MHD_YES) {
		hr->is_queued = true;
		/* Audited and counted now, before libmicrohttpd sends a byte (it sends once this
		 * handler returns): a client never sees an answer whose audit line is missing. */
		hr->is_done = true;
		api_req_done(hr->srv->api, &hr->req, &hr->resp, status);
	} else {
		LOG_ERROR(hr->req.request_id, "cannot queue a response; closing the connection");
	}
	return ret;
}

/* Answers with the error err (status and body from api/). */
static enum MHD_Result queue_error(struct http_request *hr, struct MHD_Connection *conn,
				   const struct kl_err *err, bool must_close)
{
	api_resp_free(&hr->resp);
	api_resp_init(&hr->resp);
	api_resp_error(&hr->resp, err);
	api_resp_finish(&hr->req, &hr->resp);
	return queue_resp(hr, conn, must_close);
}

/* Out of memory before any request state exists: a fixed answer, then close. */
static enum MHD_Result queue_oom(struct MHD_Connection *conn)
{
	struct MHD_Response *r;
	enum MHD_Result ret = MHD_NO;

	r = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *)oom_body,
					    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "application/json; charset=utf-8") == MHD_YES &&
	    MHD_add_response_header(r, "Retry-After", "1") == MHD_YES &&
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES)
		ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
	MHD_destroy_response(r);
	return ret;
}

/* --- connections: their idle and request deadlines (http/deadline.h) ------------------------- */

static struct http_conn_deadline *conn_deadline(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* Accepted (before the TLS handshake), or closing (before its descriptor is closed). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ai =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		const struct sockaddr *addr = ai != NULL ? ai->client_addr : NULL;

		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = ci != NULL ? http_deadline_open(srv->deadlines, ci->connect_fd,
								  addr, clock_mono_us()) : NULL;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		http_deadline_close(srv->deadlines, *socket_context);
		*socket_context = NULL;
	}
}

/* libmicrohttpd's inactivity timeout for conn (restarted by every byte): while a request is read
 * and answered, the request timeout, so that a client that stops reading its answer lets go of
 * the connection as soon as one that stops sending its request; between requests, the idle
 * timeout, which the registry also enforces (http/deadline.h). */
static void set_inactivity(struct MHD_Connection *conn, unsigned secs)
{
	if (MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, secs) != MHD_YES)
		LOG_DEBUG(NULL, "libmicrohttpd refused a connection timeout of %u s", secs);
}

/* A request's first line has arrived (libmicrohttpd's URI log callback). Returns NULL: the access
 * handler's first call must still see *con_cls NULL. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;

	(void)uri;
	http_deadline_request_started(conn_deadline(conn), clock_mono_us());
	set_inactivity(conn, srv->request_timeout_s);
	return NULL;
}

/* --- the access handler --------------------------------------------------------------------- */

/* First call for a request: its head is complete, no body byte has been read. */
static enum MHD_Result request_start(struct http_server *srv, struct MHD_Connection *conn,
				     const char *url, const char *method, void **con_cls)
{
	struct http_request *hr;
	struct kl_err err = { 0 };
	uint64_t content_length = 0;
	size_t max_body = api_ctx_max_body(srv->api);
	bool has_body = false;

	if ((hr = calloc(1, sizeof(*hr))) == NULL)
		return queue_oom(conn);
	hr->srv = srv;
	api_resp_init(&hr->resp);
	pthread_mutex_lock(&srv->lock);
	srv->n_active++;
	pthread_mutex_unlock(&srv->lock);
	*con_cls = hr;	/* on_completed frees it, whatever happens next */

	if (api_req_init(srv->api, &hr->req, &err) != 0 ||
	    http_read_head(conn, url, method, &hr->req, &has_body, &content_length, &err) != 0)
		return queue_error(hr, conn, &err, has_body);
	if (srv->client_ca != NULL)	/* a second factor for principals bound to a certificate */
		http_client_cert(conn, hr->req.client_cert);
	/* Refused on the head alone: the body is never read. Without a body, the answer waits for
	 * libmicrohttpd's next call: queued now, it would close the connection, and every SDK
	 * client's first (challenge) request would cost a new TLS handshake. */
	if (api_begin(srv->api, &hr->req, &hr->resp) != 0) {
		if (!has_body) {
			hr->is_answered = true;
			return MHD_YES;
		}
		return queue_resp(hr, conn, true);
	}
	if (content_length > max_body) {
		kl_fail(&err, KL_ETOOBIG, "The request body is larger than the limit of %zu bytes.",
			max_body);
		return queue_error(hr, conn, &err, true);
	}
	return MHD_YES;
}

/* Body bytes: kept in req->body up to the limit, dropped after a failure. */
static enum MHD_Result request_body(struct http_request *hr, const char *data, size_t *size)
{
	size_t n = *size;

	*size = 0;
	if (hr->is_discarding) {
		hr->discarded += n;
		if (hr->discarded > DISCARD_MAX_BYTES) {
			LOG_INFO(hr->req.request_id,
				 "closing a connection that sent %llu bytes past the body limit",
				 (unsigned long long)hr->discarded);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (buf_append(&hr->req.body, data, n, &hr->body_err) != 0) {
		if (hr->body_err.code == KL_ETOOBIG)
			kl_fail(&hr->body_err, KL_ETOOBIG,
				"The request body is larger than the limit of %zu bytes.",
				hr->req.body.max);
		buf_clear(&hr->req.body);	/* wiped: it may hold a secret */
		hr->is_discarding = true;
		hr->discarded = n;
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *hr = *con_cls;

	(void)version;
	if (hr == NULL)
		return request_start(srv, conn, url, method, con_cls);
	if (hr->is_queued) {	/* libmicrohttpd does not call again after a queue; be safe */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0)
		return request_body(hr, upload_data, upload_data_size);
	/* The whole request is in. */
	http_deadline_request_read(conn_deadline(conn));
	if (hr->is_answered)
		return queue_resp(hr, conn, false);
	if (hr->is_discarding)
		return queue_error(hr, conn, &hr->body_err, true);
	api_dispatch(srv->api, &hr->req, &hr->resp);
	return queue_resp(hr, conn, false);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *hr = *con_cls;

	http_deadline_request_done(conn_deadline(conn), clock_mono_us());	/* idle again */
	/* Only on a normal end: otherwise libmicrohttpd is closing the connection. */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		set_inactivity(conn, srv->idle_timeout_s);
	if (hr == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		LOG_DEBUG(hr->req.request_id, "request ended before its answer was sent (%d)",
			  (int)toe);
	if (!hr->is_done)	/* no answer was queued: audited with status 0 */
		api_req_done(srv->api, &hr->req, &hr->resp, 0);
	api_resp_free(&hr->resp);	/* first: its headers may live in the request's arena */
	api_req_free(&hr->req);
	free(hr);
	*con_cls = NULL;
	pthread_mutex_lock(&srv->lock);
	if (--srv->n_active == 0)
		pthread_cond_broadcast(&srv->drained);
	pthread_mutex_unlock(&srv->lock);
}

/* --- start and stop ------------------------------------------------------------------------- */

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > (long)MAX_THREADS ? MAX_THREADS : (unsigned)n;
}

struct http_server *http_server_start(const struct http_config *cfg, struct api_ctx *api,
				      struct kl_err *err)
{
	struct http_server *s = NULL, *ret = NULL;
	struct http_deadline_config dcfg;
	pthread_condattr_t ca;
	unsigned threads = cfg->threads ? cfg->threads : default_threads();
	size_t mem = cfg->conn_memory_bytes ? cfg->conn_memory_bytes : DEFAULT_CONN_MEMORY;
	unsigned timeout_s = cfg->conn_timeout_s ? cfg->conn_timeout_s : DEFAULT_CONN_TIMEOUT_S;
	unsigned max_conn = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS;
	unsigned request_s = cfg->request_timeout_s ? cfg->request_timeout_s
						    : DEFAULT_REQUEST_TIMEOUT_S;
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;

	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	s->api = api;
	s->listen_fd = -1;
	atomic_init(&s->is_stopping, false);
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot create a mutex");
		free(s);
		s = NULL;
		goto out;
	}
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&s->drained, &ca) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot create a condition variable");
		pthread_mutex_destroy(&s->lock);
		free(s);
		s = NULL;
		goto out;
	}
	pthread_condattr_destroy(&ca);
	if ((s->tls = tlscreds_load(cfg->cert_pem_path, cfg->key_pem_path, err)) == NULL ||
	    (cfg->client_ca_pem_path != NULL &&
	     tlscreds_read_pem(cfg->client_ca_pem_path, false, &s->client_ca, err) != 0) ||
	    /* made here rather than by libmicrohttpd: a bind failure is reported with its reason */
	    http_addr_listen(cfg->listen, LISTEN_BACKLOG, &s->listen_fd, err) != 0)
		goto out;
	tlscreds_activate(s->tls);	/* one server per process: its handshakes get this pair */
	s->idle_timeout_s = timeout_s;
	s->request_timeout_s = request_s;
	dcfg = (struct http_deadline_config){ .idle_s = timeout_s, .request_s = request_s,
					      .max_conns = max_conn,
					      .max_per_addr = cfg->max_connections_per_ip };
	if ((s->deadlines = http_deadline_new(&dcfg, true, err)) == NULL)
		goto out;
	s->daemon = MHD_start_daemon(
		flags, cfg->listen->port, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,	/* first, per the manual */
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd,
		/* Each handshake asks for the pair in use: a reload swaps it under live traffic. */
		MHD_OPTION_HTTPS_CERT_CALLBACK2, tlscreds_retrieve,
		/* With a client CA, every handshake asks for a client certificate (optional);
		 * NULL is libmicrohttpd's "none". */
		MHD_OPTION_HTTPS_MEM_TRUST,
		s->client_ca != NULL ? (const char *)s->client_ca->data : (const char *)NULL,
		MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
		MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, max_conn + LIMIT_SLACK(threads),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,	/* 0: none */
		cfg->max_connections_per_ip > 0 ? cfg->max_connections_per_ip + LIMIT_SLACK(threads)
						: 0u,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_URI_LOG_CALLBACK, on_request_line, s,
		MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	if (s->daemon == NULL) {
		/* libmicrohttpd closes the socket on most of its failure paths: never close it
		 * twice (the number may already name another file); the process is exiting. */
		s->listen_fd = -1;
		kl_fail(err, KL_EINTERNAL, "the HTTPS server did not start on %s:%u (see the "
			"libmicrohttpd message above)", cfg->listen->host, cfg->listen->port);
		goto out;
	}
	LOG_DEBUG(NULL, "serving on %s:%u with %u threads", cfg->listen->host, cfg->listen->port,
		  threads);
	ret = s;	/* the caller owns it now */
	s = NULL;
out:
	if (s != NULL) {
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		if (s->tls != NULL)
			tlscreds_activate(NULL);
		tlscreds_free(s->tls);
		secbuf_free(s->client_ca);
		http_deadline_free(s->deadlines);
		pthread_cond_destroy(&s->drained);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	return ret;
}

int http_server_reload_tls(struct http_server *s, struct kl_err *err)
{
	return tlscreds_reload(s->tls, err);
}

void http_server_tls_describe(struct http_server *s, char *out, size_t n)
{
	tlscreds_describe(s->tls, out, n);
}

/* Waits until no request is in flight, or DRAIN_WAIT_MS have passed. */
static void wait_drained(struct http_server *s)
{
	struct timespec deadline;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += DRAIN_WAIT_MS / 1000;
	deadline.tv_nsec += (long)(DRAIN_WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (s->n_active > 0 && rc == 0)
		rc = pthread_cond_timedwait(&s->drained, &s->lock, &deadline);
	if (s->n_active > 0)
		LOG_WARN(NULL, "stopping with %u requests still in flight", s->n_active);
	pthread_mutex_unlock(&s->lock);
}

void http_server_stop(struct http_server *s)
{
	MHD_socket fd;

	if (s == NULL)
		return;
	atomic_store(&s->is_stopping, true);	/* answers from now on close their connection */
	fd = MHD_quiesce_daemon(s->daemon);	/* no new connections */
	/* Connections still in the backlog would wait for an accept that never comes and then be
	 * reset; shutting the socket down (it stays open, so its number cannot be reused under a
	 * worker) refuses them now, which clients and load balancers retry elsewhere at once. */
	if (fd != MHD_INVALID_SOCKET)
		shutdown(fd, SHUT_RDWR);
	wait_drained(s);
	MHD_stop_daemon(s->daemon);	/* closes the rest and joins the workers */
	http_deadline_free(s->deadlines);	/* after: every connection is forgotten */
	/* After a quiesce the listen socket is ours to close; otherwise the daemon closed it. */
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	tlscreds_activate(NULL);	/* no handshake can start any more */
	tlscreds_free(s->tls);
	secbuf_free(s->client_ca);
	pthread_cond_destroy(&s->drained);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
