/* The load balancer's agent port (--lb-agent): a plain TCP listener that answers each connection
 * with one line of HAProxy's agent-check protocol and closes it. "ready 100%" while the node
 * takes writes, "drain" while it does not: HAProxy then sends it no new connections of a
 * backend that is for writes, and leaves the connections it has alone. Its own thread answers,
 * whatever the request workers wait for, so that an answer at all means the process runs: a
 * health check on this port tells a frozen node (no answer) from a busy one, which a request to
 * /health, queued behind a worker, cannot (deploy/cluster.sh cuts a silent node's connections).
 *
 * Says nothing else: no secret, no version, nothing from the request (it reads none). Thread
 * safety: start and stop from one thread; in between, its own thread calls ready(arg), which
 * must be thread-safe. */
#ifndef KLUIS_HTTP_LBAGENT_H
#define KLUIS_HTTP_LBAGENT_H

#include <stdbool.h>

#include "http/addr.h"
#include "util/err.h"

struct lbagent;

/* Listens on addr and answers from a thread of its own. NULL with err filled: KL_EUNAVAIL when
 * the address cannot be bound (http_addr_listen), KL_ENOMEM, KL_EINTERNAL when the thread cannot
 * start. */
struct lbagent *lbagent_start(const struct http_addr *addr, bool (*ready)(void *arg), void *arg,
			      struct kl_err *err);

/* Stops answering, joins the thread and closes the listener. NULL is a no-op. */
void lbagent_stop(struct lbagent *a);

#endif
