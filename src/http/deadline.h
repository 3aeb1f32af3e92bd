/* Connection deadlines and room: what libmicrohttpd's inactivity timeout and connection limits
 * do not give. That timeout restarts with every byte, so a client that trickles a byte every few
 * seconds (slowloris) would hold its connection for ever. Here each connection is, at any
 * moment, in one of four phases:
 *
 *   new      from accept (TLS handshake included) until its first request line has arrived: at
 *            most the shorter of idle_s and request_s, bytes or not (it has shown nothing yet);
 *   idle     from an answer until the line of the next request: at most idle_s (clients keep
 *            such connections in their pools for minutes: docs/decisions.md);
 *   reading  from that request line until the whole request (headers and body) is in: at most
 *            request_s;
 *   serving  kluis is working on it or sending the answer: no deadline here.
 *
 * A connection past its phase's deadline is shut down (shutdown(2), so libmicrohttpd sees the
 * end of the stream and closes and forgets it in its own time; the descriptor is never closed
 * here). A sweeper thread looks every half second; http_deadline_sweep does one look.
 *
 * Room: at most max_conns connections at once, and max_per_addr of one client address. A new
 * connection past a limit takes the place of the connection idle the longest (of its own address
 * for the per-address limit, of any for the total), which is shut down: idle connections live
 * long, and must not keep new clients out. When no connection is idle, the new one is shut down.
 *
 * Thread safety: open and close take the registry's lock; the phase calls are lock-free (one
 * atomic store) and come from the worker serving the connection. */
#ifndef KLUIS_HTTP_DEADLINE_H
#define KLUIS_HTTP_DEADLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct sockaddr;
struct http_deadlines;		/* the registry of open connections */
struct http_conn_deadline;	/* one connection's phase and since when */

struct http_deadline_config {
	unsigned idle_s;	/* a kept-alive connection between requests; 0: no deadline */
	unsigned request_s;	/* request line to the whole request in; 0: no deadline */
	unsigned max_conns;	/* connections at once; 0: no limit */
	unsigned max_per_addr;	/* connections of one client address at once; 0: no limit */
};

/* A registry with these deadlines and limits. With run_sweeper, a thread sweeps until
 * http_deadline_free; without (unit tests), only http_deadline_sweep does. NULL with KL_ENOMEM
 * or KL_EINTERNAL. */
struct http_deadlines *http_deadline_new(const struct http_deadline_config *cfg, bool run_sweeper,
					 struct kl_err *err);
/* Stops the sweeper and frees the registry; every connection must have been closed. NULL: no-op. */
void http_deadline_free(struct http_deadlines *d);

/* A connection on fd from addr (IPv4 or IPv6; NULL or another family: counted in the total
 * only) was accepted at now_us (monotonic): new from then. Past a limit, the connection idle the
 * longest is shut down to make room, or, with none idle, this one is (it is registered all the
 * same, and closed as usual). NULL when out of memory: that connection then has only
 * libmicrohttpd's timeout and limits. */
struct http_conn_deadline *http_deadline_open(struct http_deadlines *d, int fd,
					      const struct sockaddr *addr, uint64_t now_us);
/* The connection is being closed (before its descriptor is): forgotten. NULL: no-op. */
void http_deadline_close(struct http_deadlines *d, struct http_conn_deadline *c);

/* Its next request's line has arrived at now_us: reading. NULL: no-op. */
void http_deadline_request_started(struct http_conn_deadline *c, uint64_t now_us);
/* The whole request is in: serving, no deadline. NULL: no-op. */
void http_deadline_request_read(struct http_conn_deadline *c);
/* Its answer is sent (or the request ended) at now_us: idle again. NULL: no-op. */
void http_deadline_request_done(struct http_conn_deadline *c, uint64_t now_us);

/* Shuts down every connection past its deadline at now_us; returns how many it shut down now
 * (one already shut down is not counted again). */
size_t http_deadline_sweep(struct http_deadlines *d, uint64_t now_us);

#endif
