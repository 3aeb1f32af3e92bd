/* loadgen: the benchmark's HTTPS load generator. A closed (or, with --rate, open) loop of N TLS
 * connections spread over a few epoll threads, sending requests drawn from weighted templates
 * for a fixed duration or a fixed number of requests, and printing one JSON object: counts,
 * throughput, latency percentiles, the negotiated TLS parameters, the client's own CPU time.
 * Owns only its sockets; talks to one host:port on loopback. Must never run unbounded: every run
 * ends at --duration (or earlier at --requests), and a request still in flight then is dropped.
 *
 * Build: cc -O2 -o loadgen loadgen.c -lssl -lcrypto -lpthread
 *
 * Templates (-r 'WEIGHT METHOD PATH [BODY]') take placeholders, expanded per request:
 *   {seq}     a process-wide counter from --seq-start, the same value everywhere in one request
 *   {rand:N}  uniform in 0..N-1, drawn anew at each occurrence
 * A body gets Content-Type: application/json and its Content-Length. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "hist.h"

#define MAX_TEMPLATES 16
#define MAX_HEADERS 16
#define MAX_CONNS 4096
#define MAX_THREADS 64
#define REQ_MAX_BYTES (16u * 1024)
#define RESP_MAX_BYTES (4u * 1024 * 1024)
#define HEAD_MAX_BYTES (16u * 1024)
#define CONNECT_PHASE_MS 15000
#define SAMPLE_MAX 300
#define NS_PER_S 1000000000ull

enum conn_state { ST_CLOSED, ST_CONNECTING, ST_HANDSHAKE, ST_IDLE, ST_WRITING, ST_READING };

struct tmpl {
	unsigned weight;
	char *method;
	char *path;
	char *body;	/* NULL: no body */
};

struct config {
	struct sockaddr_in addr;
	const char *sni;
	const char *ca_file;
	const char *ciphersuites;	/* TLS 1.3 suites the client offers; NULL: OpenSSL's */
	const char *groups;
	unsigned conns;
	unsigned threads;
	uint64_t duration_ns;
	uint64_t max_requests;		/* 0: no limit */
	double rate;			/* requests/s over all connections; 0: closed loop */
	bool is_new_conn;		/* one TLS connection per request */
	bool is_tls12;
	uint64_t seq_start;
	struct tmpl tmpls[MAX_TEMPLATES];
	unsigned n_tmpls;
	unsigned weight_sum;
	char headers[4096];		/* "Name: value\r\n"..., preformatted */
	size_t headers_len;
};

struct conn {
	struct worker *w;
	unsigned index;			/* over all connections */
	int fd;
	SSL *ssl;
	enum conn_state state;
	uint32_t events;		/* the epoll interest now */
	uint64_t rng;
	uint64_t t_start_ns;		/* when the request in flight was due (or sent) */
	uint64_t due_ns;		/* --rate: when this connection's next request is due */
	char out[REQ_MAX_BYTES];
	size_t out_len, out_off;
	char *in;
	size_t in_len, in_cap;
	bool has_request;		/* a request is being sent or awaited */
};

struct worker {
	pthread_t thread;
	unsigned id;
	int epfd;
	struct conn *conns;
	unsigned n_conns;
	struct hist hist;
	uint64_t ok, non_2xx, io_errors, connects, bytes_in, dropped;
	uint64_t status[6];		/* by first digit */
	uint64_t last_done_ns;
	char sample[SAMPLE_MAX + 1];	/* the first non-2xx answer, for the report */
	int sample_status;
	char io_error[200];		/* the first I/O or TLS failure */
	char cipher[64], group[64], version[16];
	int rc;
};

static struct config cfg;
static SSL_CTX *ssl_ctx;
static atomic_uint_fast64_t seq_next;
static atomic_uint_fast64_t issued;
static atomic_bool is_stopping;
static atomic_uint_fast64_t start_ns;	/* the measured phase began; 0 before */
static atomic_uint finished;		/* workers done */
static pthread_barrier_t connected, started;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* --- requests ------------------------------------------------------------------------------- */

static const struct tmpl *pick_template(struct conn *c)
{
	unsigned r, i;

	if (cfg.n_tmpls == 1)
		return &cfg.tmpls[0];
	r = (unsigned)(rng_next(&c->rng) % cfg.weight_sum);
	for (i = 0; i < cfg.n_tmpls; i++) {
		if (r < cfg.tmpls[i].weight)
			return &cfg.tmpls[i];
		r -= cfg.tmpls[i].weight;
	}
	return &cfg.tmpls[cfg.n_tmpls - 1];
}

/* Appends s with its placeholders expanded; false when it does not fit. */
static bool expand(struct conn *c, char *dst, size_t cap, size_t *len, const char *s,
		   uint64_t seq)
{
	const char *p = s;
	int n;

	while (*p != '\0') {
		if (strncmp(p, "{seq}", 5) == 0) {
			n = snprintf(dst + *len, cap - *len, "%" PRIu64, seq);
			p += 5;
		} else if (strncmp(p, "{rand:", 6) == 0) {
			char *end;
			unsigned long long m = strtoull(p + 6, &end, 10);

			if (m == 0 || *end != '}')
				return false;
			n = snprintf(dst + *len, cap - *len, "%llu", rng_next(&c->rng) % m);
			p = end + 1;
		} else {
			n = 1;
			if (*len + 1 < cap)
				dst[*len] = *p;
			p++;
		}
		if (n < 0 || *len + (size_t)n >= cap)
			return false;
		*len += (size_t)n;
	}
	dst[*len] = '\0';
	return true;
}

/* Builds the next request into c->out. */
static bool build_request(struct conn *c)
{
	const struct tmpl *t = pick_template(c);
	uint64_t seq = atomic_fetch_add(&seq_next, 1);
	char body[REQ_MAX_BYTES / 2];
	size_t body_len = 0, len = 0;
	int n;

	if (t->body != NULL && !expand(c, body, sizeof(body), &body_len, t->body, seq))
		return false;
	n = snprintf(c->out, sizeof(c->out), "%s ", t->method);
	if (n < 0 || (size_t)n >= sizeof(c->out))
		return false;
	len = (size_t)n;
	if (!expand(c, c->out, sizeof(c->out), &len, t->path, seq))
		return false;
	n = snprintf(c->out + len, sizeof(c->out) - len, " HTTP/1.1\r\n%.*s", (int)cfg.headers_len,
		     cfg.headers);
	if (n < 0 || len + (size_t)n >= sizeof(c->out))
		return false;
	len += (size_t)n;
	if (t->body != NULL)
		n = snprintf(c->out + len, sizeof(c->out) - len,
			     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			     body_len, body);
	else if (strcmp(t->method, "GET") != 0 && strcmp(t->method, "HEAD") != 0)
		n = snprintf(c->out + len, sizeof(c->out) - len, "Content-Length: 0\r\n\r\n");
	else
		n = snprintf(c->out + len, sizeof(c->out) - len, "\r\n");
	if (n < 0 || len + (size_t)n >= sizeof(c->out))
		return false;
	c->out_len = len + (size_t)n;
	c->out_off = 0;
	return true;
}

/* --- connections ---------------------------------------------------------------------------- */

static void note_io_error(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void note_io_error(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	w->io_errors++;
	if (w->io_error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->io_error, sizeof(w->io_error), fmt, ap);
	va_end(ap);
}

static void set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	if (epoll_ctl(c->w->epfd, c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void conn_close(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		/* A reset, not a FIN: a run of thousands of connections must not exhaust the
		 * client's ports with sockets in TIME_WAIT. */
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c->fd);	/* also leaves the epoll set */
		c->fd = -1;
	}
	c->events = 0;
	c->state = ST_CLOSED;
	c->in_len = 0;
	c->out_off = 0;	/* a request in flight is sent again on the next connection */
}

static bool conn_open(struct conn *c)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		note_io_error(c->w, "socket: %s", strerror(errno));
		return false;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)&cfg.addr, sizeof(cfg.addr)) != 0 &&
	    errno != EINPROGRESS) {
		note_io_error(c->w, "connect: %s", strerror(errno));
		conn_close(c);
		return false;
	}
	c->w->connects++;
	c->state = ST_CONNECTING;
	set_events(c, EPOLLOUT);
	return true;
}

/* Drives SSL_connect; true while the connection lives. */
static bool step_handshake(struct conn *c)
{
	int r, e;

	if (c->ssl == NULL) {
		if ((c->ssl = SSL_new(ssl_ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
		    SSL_set_tlsext_host_name(c->ssl, cfg.sni) != 1 ||
		    SSL_set1_host(c->ssl, cfg.sni) != 1) {
			note_io_error(c->w, "cannot set up a TLS session");
			return false;
		}
	}
	r = SSL_connect(c->ssl);
	if (r == 1) {
		struct worker *w = c->w;

		if (w->cipher[0] == '\0') {
			int nid = SSL_get_negotiated_group(c->ssl);
			const char *g = nid > 0 ? SSL_group_to_name(c->ssl, nid) : NULL;

			snprintf(w->cipher, sizeof(w->cipher), "%s", SSL_get_cipher_name(c->ssl));
			snprintf(w->version, sizeof(w->version), "%s", SSL_get_version(c->ssl));
			snprintf(w->group, sizeof(w->group), "%s", g != NULL ? g : "?");
		}
		c->state = ST_IDLE;
		return true;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		set_events(c, EPOLLIN);
		return true;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		set_events(c, EPOLLOUT);
		return true;
	}
	note_io_error(c->w, "TLS handshake: %s",
		      ERR_reason_error_string(ERR_peek_last_error()) ?: "connection closed");
	ERR_clear_error();
	return false;
}

/* Case-insensitive search for a header's value in the head [p, end). */
static const char *find_header(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (p < eol && (*p == ' ' || *p == '\t'))
				p++;
			return p;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Is a whole answer in c->in? 1 yes (*total its size), 0 not yet, -1 unparseable. */
static int parse_response(struct conn *c, int *status, size_t *total, bool *must_close)
{
	const char *head_end, *v;
	size_t head_len;
	unsigned long long clen;
	char *end;

	head_end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	if (head_end == NULL)
		return c->in_len > HEAD_MAX_BYTES ? -1 : 0;
	head_len = (size_t)(head_end - c->in) + 4;
	if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(c->in + 9);
	v = find_header(c->in, head_end, "Content-Length");
	if (v == NULL)
		return -1;	/* chunked answers are not expected from either server */
	clen = strtoull(v, &end, 10);
	if (end == v || clen > RESP_MAX_BYTES)
		return -1;
	v = find_header(c->in, head_end, "Connection");
	*must_close = v != NULL && strncasecmp(v, "close", 5) == 0;
	if (c->in_len < head_len + clen)
		return 0;
	*total = head_len + (size_t)clen;
	return 1;
}

static bool may_issue(void)
{
	if (atomic_load(&is_stopping))
		return false;
	if (cfg.max_requests == 0)
		return true;
	return atomic_fetch_add(&issued, 1) < cfg.max_requests;
}

static void record_answer(struct conn *c, int status, uint64_t t)
{
	struct worker *w = c->w;
	uint64_t deadline = atomic_load(&start_ns) + cfg.duration_ns;

	if (cfg.max_requests == 0 && t > deadline)
		return;	/* finished after the measured window */
	hist_add(&w->hist, t - c->t_start_ns);
	w->last_done_ns = t;
	if (status >= 100 && status < 600)
		w->status[status / 100]++;
	if (status >= 200 && status < 300) {
		w->ok++;
		return;
	}
	w->non_2xx++;
	if (w->sample[0] == '\0') {
		const char *body = memmem(c->in, c->in_len, "\r\n\r\n", 4);
		size_t n = body != NULL ? c->in_len - (size_t)(body + 4 - c->in) : 0;

		w->sample_status = status;
		snprintf(w->sample, sizeof(w->sample), "%.*s", (int)(n > SAMPLE_MAX ? SAMPLE_MAX : n),
			 body != NULL ? body + 4 : "");
	}
}

/* Reads until the TLS layer wants more; true while the connection lives. */
static bool step_read(struct conn *c)
{
	for (;;) {
		int r, e, status = 0;
		size_t total = 0;
		bool must_close = false;

		if (c->in_cap - c->in_len < 16384) {
			size_t cap = c->in_cap * 2;
			char *p;

			if (cap > RESP_MAX_BYTES * 2 || (p = realloc(c->in, cap)) == NULL) {
				note_io_error(c->w, "answer too large");
				return false;
			}
			c->in = p;
			c->in_cap = cap;
		}
		r = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len - 1));
		if (r <= 0) {
			e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				set_events(c, EPOLLIN);
				return true;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				set_events(c, EPOLLOUT);
				return true;
			}
			if (c->has_request)
				note_io_error(c->w, "connection lost awaiting an answer (%s)",
					      e == SSL_ERROR_ZERO_RETURN ? "TLS close" :
					      e == SSL_ERROR_SYSCALL ? "EOF or reset" : "TLS error");
			ERR_clear_error();
			return false;
		}
		c->w->bytes_in += (uint64_t)r;
		c->in_len += (size_t)r;
		if (!c->has_request) {
			c->in_len = 0;	/* bytes nobody asked for */
			continue;
		}
		switch (parse_response(c, &status, &total, &must_close)) {
		case 0:
			continue;
		case -1:
			note_io_error(c->w, "unparseable answer");
			return false;
		default:
			break;
		}
		record_answer(c, status, now_ns());
		c->has_request = false;
		memmove(c->in, c->in + total, c->in_len - total);
		c->in_len -= total;
		if (must_close || cfg.is_new_conn)
			return false;
		c->state = ST_IDLE;
		return true;
	}
}

static bool step_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		int r = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
		int e;

		if (r > 0) {
			c->out_off += (size_t)r;
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE) {
			set_events(c, EPOLLOUT);
			return true;
		}
		if (e == SSL_ERROR_WANT_READ) {
			set_events(c, EPOLLIN);
			return true;
		}
		note_io_error(c->w, "connection lost sending a request");
		ERR_clear_error();
		return false;
	}
	c->state = ST_READING;
	set_events(c, EPOLLIN);
	return true;
}

/* Starts the next request on an idle connection if one is due; true while it lives. */
static bool start_request(struct conn *c, uint64_t t)
{
	if (cfg.rate > 0 && t < c->due_ns)
		return true;	/* not due yet; the loop wakes up for it */
	if (!c->has_request) {
		if (!may_issue())
			return true;
		if (!build_request(c)) {
			note_io_error(c->w, "a request does not fit in %u bytes", REQ_MAX_BYTES);
			atomic_store(&is_stopping, true);
			return false;
		}
		/* With --rate, latency counts from when the request was due, so that a slow
		 * answer delaying the next request is not hidden (coordinated omission). */
		c->t_start_ns = cfg.rate > 0 ? c->due_ns : t;
		if (cfg.rate > 0)
			c->due_ns += (uint64_t)((double)cfg.conns * 1e9 / cfg.rate);
		c->has_request = true;
	}
	if (c->state != ST_IDLE)
		return true;	/* new connection: sent once the handshake is done */
	c->state = ST_WRITING;
	return step_write(c);
}

/* Drives one connection as far as it goes without blocking. */
static void conn_drive(struct conn *c)
{
	bool alive = true;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	for (;;) {
		switch (c->state) {
		case ST_CLOSED:
			return;
		case ST_CONNECTING:
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
				note_io_error(c->w, "connect: %s", strerror(soerr ? soerr : errno));
				alive = false;
				break;
			}
			c->state = ST_HANDSHAKE;
			continue;
		case ST_HANDSHAKE:
			alive = step_handshake(c);
			if (alive && c->state == ST_HANDSHAKE)
				return;
			if (alive && c->has_request) {
				c->state = ST_WRITING;
				alive = step_write(c);
			}
			break;
		case ST_IDLE:
			if (atomic_load(&start_ns) != 0) {
				alive = start_request(c, now_ns());
				if (!alive || c->state != ST_IDLE)
					break;
			}
			/* Not started, or nothing due: drain what comes (TLS 1.3 session
			 * tickets) and notice a close by the server. */
			set_events(c, EPOLLIN);
			alive = step_read(c);
			if (alive)
				return;
			break;
		case ST_WRITING:
			alive = step_write(c);
			break;
		case ST_READING:
			alive = step_read(c);
			if (alive && c->state == ST_IDLE)
				continue;	/* next request */
			break;
		}
		if (!alive || c->state == ST_READING || c->state == ST_WRITING ||
		    c->state == ST_HANDSHAKE)
			break;
	}
	if (!alive)
		conn_close(c);	/* the worker loop opens a new one */
}

/* --- the worker loop ------------------------------------------------------------------------ */

static unsigned count_state(struct worker *w, enum conn_state s)
{
	unsigned i, n = 0;

	for (i = 0; i < w->n_conns; i++)
		n += w->conns[i].state == s;
	return n;
}

/* One pass of epoll events, at most wait_ns long. */
static void poll_once(struct worker *w, uint64_t wait_ns)
{
	struct epoll_event evs[64];
	struct timespec ts = { .tv_sec = (time_t)(wait_ns / NS_PER_S),
			       .tv_nsec = (long)(wait_ns % NS_PER_S) };
	int n, i;

	n = epoll_pwait2(w->epfd, evs, 64, &ts, NULL);
	for (i = 0; i < n; i++)
		conn_drive(evs[i].data.ptr);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t t, until;
	unsigned i;

	/* Keep-alive runs connect first, outside the measured window, one connection after the
	 * other: a burst of connects lets one server thread accept them all, where connections
	 * that come over time spread over its threads. */
	if (!cfg.is_new_conn) {
		until = now_ns() + (uint64_t)CONNECT_PHASE_MS * 1000000ull;
		for (i = 0; i < w->n_conns; i++) {
			struct conn *c = &w->conns[i];

			if (!conn_open(c))
				continue;
			while (c->state != ST_IDLE && c->state != ST_CLOSED && now_ns() < until)
				poll_once(w, 50000000ull);
		}
		if (count_state(w, ST_IDLE) < w->n_conns) {
			note_io_error(w, "only %u of %u connections came up",
				      count_state(w, ST_IDLE), w->n_conns);
			w->rc = 1;
		}
	}
	pthread_barrier_wait(&connected);
	pthread_barrier_wait(&started);
	t = atomic_load(&start_ns);
	for (i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];

		c->due_ns = t + (uint64_t)((double)c->index * 1e9 / (cfg.rate > 0 ? cfg.rate : 1));
		if (c->state == ST_IDLE)
			conn_drive(c);
	}
	for (;;) {
		uint64_t next_due = UINT64_MAX, wait = 20000000ull;
		bool any_busy = false;

		t = now_ns();
		for (i = 0; i < w->n_conns; i++) {
			struct conn *c = &w->conns[i];

			if (c->state == ST_CLOSED && !atomic_load(&is_stopping) &&
			    (c->has_request || cfg.max_requests == 0 ||
			     atomic_load(&issued) < cfg.max_requests)) {
				if (conn_open(c) && cfg.is_new_conn && !c->has_request &&
				    !start_request(c, t))
					conn_close(c);
			}
			if (c->state == ST_IDLE && cfg.rate > 0) {
				if (c->due_ns <= t)
					conn_drive(c);
				else if (c->due_ns < next_due)
					next_due = c->due_ns;
			}
			any_busy |= c->has_request && c->state != ST_CLOSED;
		}
		if (atomic_load(&is_stopping))
			break;	/* answers after the window are not counted */
		if (cfg.max_requests > 0 && atomic_load(&issued) >= cfg.max_requests && !any_busy)
			break;
		if (next_due != UINT64_MAX)
			wait = next_due > t ? next_due - t : 0;
		if (wait > 20000000ull)
			wait = 20000000ull;
		poll_once(w, wait);
	}
	for (i = 0; i < w->n_conns; i++) {
		if (w->conns[i].has_request && w->conns[i].state != ST_CLOSED)
			w->dropped++;
		conn_close(&w->conns[i]);
	}
	atomic_fetch_add(&finished, 1);
	return NULL;
}

/* --- set-up and report ---------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --port P --sni NAME --ca FILE -r 'WEIGHT METHOD PATH [BODY]'...\n"
		"  [--host 127.0.0.1] [-H 'Name: value']... [--conns N] [--threads N]\n"
		"  [--duration S] [--requests N] [--rate R] [--new-conn] [--seq-start N]\n"
		"  [--ciphersuites LIST] [--groups LIST] [--tls12]\n"
		"Prints one JSON object with counts, throughput and latency percentiles.\n");
}

static bool add_template(const char *spec)
{
	struct tmpl *t;
	char *s, *w, *m, *p, *b, *save = NULL;

	if (cfg.n_tmpls == MAX_TEMPLATES || (s = strdup(spec)) == NULL)
		return false;
	t = &cfg.tmpls[cfg.n_tmpls];
	w = strtok_r(s, " ", &save);
	m = strtok_r(NULL, " ", &save);
	p = strtok_r(NULL, " ", &save);
	b = strtok_r(NULL, "", &save);
	if (w == NULL || m == NULL || p == NULL || atoi(w) <= 0)
		return false;	/* s stays: the process exits */
	t->weight = (unsigned)atoi(w);
	t->method = m;
	t->path = p;
	t->body = b;
	cfg.weight_sum += t->weight;
	cfg.n_tmpls++;
	return true;
}

static bool add_header(const char *h)
{
	int n = snprintf(cfg.headers + cfg.headers_len, sizeof(cfg.headers) - cfg.headers_len,
			 "%s\r\n", h);

	if (n < 0 || cfg.headers_len + (size_t)n >= sizeof(cfg.headers) || strchr(h, ':') == NULL)
		return false;
	cfg.headers_len += (size_t)n;
	return true;
}

static int parse_args(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int i, port = 0;

	cfg.conns = 1;
	cfg.duration_ns = 5 * NS_PER_S;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;

		if (strcmp(a, "--new-conn") == 0) {
			cfg.is_new_conn = true;
			takes = false;
		} else if (strcmp(a, "--tls12") == 0) {
			cfg.is_tls12 = true;
			takes = false;
		} else if (v == NULL) {
			usage();
			return -1;
		} else if (strcmp(a, "--host") == 0) {
			host = v;
		} else if (strcmp(a, "--port") == 0) {
			port = atoi(v);
		} else if (strcmp(a, "--sni") == 0) {
			cfg.sni = v;
		} else if (strcmp(a, "--ca") == 0) {
			cfg.ca_file = v;
		} else if (strcmp(a, "--conns") == 0) {
			cfg.conns = (unsigned)atoi(v);
		} else if (strcmp(a, "--threads") == 0) {
			cfg.threads = (unsigned)atoi(v);
		} else if (strcmp(a, "--duration") == 0) {
			cfg.duration_ns = (uint64_t)(atof(v) * 1e9);
		} else if (strcmp(a, "--requests") == 0) {
			cfg.max_requests = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--rate") == 0) {
			cfg.rate = atof(v);
		} else if (strcmp(a, "--seq-start") == 0) {
			cfg.seq_start = strtoull(v, NULL, 10);
		} else if (strcmp(a, "--ciphersuites") == 0) {
			cfg.ciphersuites = v;
		} else if (strcmp(a, "--groups") == 0) {
			cfg.groups = v;
		} else if (strcmp(a, "-H") == 0) {
			if (!add_header(v)) {
				fprintf(stderr, "loadgen: bad or too many headers: %s\n", v);
				return -1;
			}
		} else if (strcmp(a, "-r") == 0) {
			if (!add_template(v)) {
				fprintf(stderr, "loadgen: bad template: %s\n", v);
				return -1;
			}
		} else {
			usage();
			return -1;
		}
		i += takes;
	}
	cfg.addr.sin_family = AF_INET;
	cfg.addr.sin_port = htons((uint16_t)port);
	if (port <= 0 || port > 65535 || inet_pton(AF_INET, host, &cfg.addr.sin_addr) != 1 ||
	    cfg.sni == NULL || cfg.ca_file == NULL || cfg.n_tmpls == 0 || cfg.conns < 1 ||
	    cfg.conns > MAX_CONNS || cfg.duration_ns == 0 || cfg.rate < 0) {
		usage();
		return -1;
	}
	if (cfg.threads == 0)
		cfg.threads = cfg.conns < 2 ? 1 : 2;
	if (cfg.threads > cfg.conns)
		cfg.threads = cfg.conns;
	if (cfg.threads > MAX_THREADS)
		cfg.threads = MAX_THREADS;
	return 0;
}

static SSL_CTX *make_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    (cfg.is_tls12 && SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION) != 1) ||
	    SSL_CTX_load_verify_locations(ctx, cfg.ca_file, NULL) != 1 ||
	    (cfg.ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, cfg.ciphersuites) != 1) ||
	    (cfg.groups != NULL && SSL_CTX_set1_groups_list(ctx, cfg.groups) != 1)) {
		fprintf(stderr, "loadgen: TLS set-up failed: %s\n",
			ERR_reason_error_string(ERR_peek_last_error()) ?: "?");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);	/* full handshakes */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return ctx;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Prints s as a JSON string. */
static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void report(struct worker *ws, double elapsed_s, double cpu)
{
	struct hist *h = calloc(1, sizeof(*h));
	uint64_t ok = 0, non_2xx = 0, io = 0, conns = 0, bytes = 0, dropped = 0, st[6] = { 0 };
	const char *sample = "", *io_error = "", *cipher = "", *group = "", *version = "";
	int sample_status = 0;
	unsigned i, k;

	if (h == NULL)
		abort();
	for (i = 0; i < cfg.threads; i++) {
		struct worker *w = &ws[i];

		hist_merge(h, &w->hist);
		ok += w->ok;
		non_2xx += w->non_2xx;
		io += w->io_errors;
		conns += w->connects;
		bytes += w->bytes_in;
		dropped += w->dropped;
		for (k = 0; k < 6; k++)
			st[k] += w->status[k];
		if (*sample == '\0' && w->sample[0] != '\0') {
			sample = w->sample;
			sample_status = w->sample_status;
		}
		if (*io_error == '\0')
			io_error = w->io_error;
		if (*cipher == '\0') {
			cipher = w->cipher;
			group = w->group;
			version = w->version;
		}
	}
	printf("{\"ok\":%" PRIu64 ",\"non_2xx\":%" PRIu64 ",\"io_errors\":%" PRIu64
	       ",\"dropped_at_end\":%" PRIu64 ",\"connections\":%" PRIu64 ",\"bytes_in\":%" PRIu64
	       ",\"status\":{\"1xx\":%" PRIu64 ",\"2xx\":%" PRIu64 ",\"3xx\":%" PRIu64
	       ",\"4xx\":%" PRIu64 ",\"5xx\":%" PRIu64 "},",
	       ok, non_2xx, io, dropped, conns, bytes, st[1], st[2], st[3], st[4], st[5]);
	printf("\"elapsed_s\":%.4f,\"rps\":%.1f,\"answers_per_s\":%.1f,\"client_cpu_s\":%.3f,"
	       "\"conns\":%u,\"threads\":%u,\"rate\":%.1f,\"new_conn\":%s,",
	       elapsed_s, elapsed_s > 0 ? (double)ok / elapsed_s : 0.0,
	       elapsed_s > 0 ? (double)(ok + non_2xx) / elapsed_s : 0.0, cpu, cfg.conns,
	       cfg.threads, cfg.rate, cfg.is_new_conn ? "true" : "false");
	printf("\"latency_us\":{\"n\":%" PRIu64 ",\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,"
	       "\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f},",
	       h->n, h->n ? (double)(h->sum_ns / h->n) / 1000.0 : 0.0,
	       hist_quantile_us(h, 0.5), hist_quantile_us(h, 0.9), hist_quantile_us(h, 0.99),
	       hist_quantile_us(h, 0.999), (double)h->max_ns / 1000.0);
	printf("\"tls\":{\"version\":");
	print_json_string(version);
	printf(",\"cipher\":");
	print_json_string(cipher);
	printf(",\"group\":");
	print_json_string(group);
	printf("},\"first_error_status\":%d,\"first_error_body\":", sample_status);
	print_json_string(sample);
	printf(",\"first_io_error\":");
	print_json_string(io_error);
	printf("}\n");
	free(h);
}

static void workers_free(struct worker *ws, struct conn *conns)
{
	unsigned i;

	if (conns != NULL)
		for (i = 0; i < cfg.conns; i++)
			free(conns[i].in);
	free(conns);
	if (ws != NULL)
		for (i = 0; i < cfg.threads; i++)
			if (ws[i].epfd > 0)
				close(ws[i].epfd);
	free(ws);
}

/* Allocates the workers and their connections; on failure frees what it made. */
static int workers_new(struct worker **out_ws, struct conn **out_conns)
{
	struct worker *ws = calloc(cfg.threads, sizeof(*ws));
	struct conn *conns = calloc(cfg.conns, sizeof(*conns));
	unsigned i;
	int rc = -1;

	if (ws == NULL || conns == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	for (i = 0; i < cfg.conns; i++) {
		conns[i].index = i;
		conns[i].fd = -1;
		conns[i].rng = (0x9e3779b97f4a7c15ull * (i + 1)) ^ ((uint64_t)getpid() << 20) ^ 1;
		conns[i].in_cap = 32768;
		if ((conns[i].in = malloc(conns[i].in_cap)) == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			goto out;
		}
	}
	for (i = 0; i < cfg.threads; i++) {
		size_t k, from = (size_t)i * cfg.conns / cfg.threads;

		ws[i].id = i;
		ws[i].conns = conns + from;
		ws[i].n_conns = (unsigned)((size_t)(i + 1) * cfg.conns / cfg.threads - from);
		for (k = 0; k < ws[i].n_conns; k++)
			ws[i].conns[k].w = &ws[i];
		if ((ws[i].epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
			fprintf(stderr, "loadgen: epoll: %s\n", strerror(errno));
			goto out;
		}
	}
	*out_ws = ws;	/* the caller owns them now */
	*out_conns = conns;
	ws = NULL;
	conns = NULL;
	rc = 0;
out:
	workers_free(ws, conns);
	return rc;
}

/* Runs the workers from the connect phase to their end; returns 0 when every connection came up.
 * *elapsed_s: the measured window; *cpu_s: this process's CPU time in it. */
static int workers_run(struct worker *ws, double *elapsed_s, double *cpu)
{
	uint64_t t0, deadline, last = 0;
	double cpu0;
	unsigned i;
	int rc = 0;

	pthread_barrier_init(&connected, NULL, cfg.threads + 1);
	pthread_barrier_init(&started, NULL, cfg.threads + 1);
	for (i = 0; i < cfg.threads; i++)
		if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0)
			abort();	/* the barriers would wait forever */
	pthread_barrier_wait(&connected);
	cpu0 = cpu_s();
	t0 = now_ns();
	atomic_store(&start_ns, t0);
	pthread_barrier_wait(&started);
	deadline = t0 + cfg.duration_ns;
	/* --requests runs end when the workers have their answers, by --duration at the latest. */
	while (now_ns() < deadline && atomic_load(&finished) < cfg.threads) {
		struct timespec ts = { 0, 2000000 };

		nanosleep(&ts, NULL);
	}
	atomic_store(&is_stopping, true);
	for (i = 0; i < cfg.threads; i++) {
		pthread_join(ws[i].thread, NULL);
		if (ws[i].last_done_ns > last)
			last = ws[i].last_done_ns;
		rc |= ws[i].rc;
	}
	*cpu = cpu_s() - cpu0;
	*elapsed_s = cfg.max_requests > 0 ? (double)((last > t0 ? last : now_ns()) - t0) / 1e9 :
		     (double)cfg.duration_ns / 1e9;
	pthread_barrier_destroy(&connected);
	pthread_barrier_destroy(&started);
	return rc;
}

int main(int argc, char **argv)
{
	struct worker *ws = NULL;
	struct conn *conns = NULL;
	double elapsed = 0, cpu = 0;
	int rc = 2;

	signal(SIGPIPE, SIG_IGN);	/* a server closing a connection is an error, not death */
	if (parse_args(argc, argv) != 0)
		goto out;
	rc = 1;
	if ((ssl_ctx = make_ctx()) == NULL || workers_new(&ws, &conns) != 0)
		goto out;
	atomic_init(&seq_next, cfg.seq_start);
	rc = workers_run(ws, &elapsed, &cpu) != 0;
	report(ws, elapsed, cpu);
out:
	workers_free(ws, conns);
	SSL_CTX_free(ssl_ctx);
	return rc;
}
