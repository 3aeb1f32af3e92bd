/* The load balancer's agent port (--lb-agent): a plain TCP listener that answers each connection
 * with one line of HAProxy's agent-check protocol and closes it. "ready 100%" while the node
 * takes writes, "drain" while it does not: HAProxy then sends it no new connections of a
 * backend that is for writes, and leaves the connections it has alone. Whether the node is
 * alive at all is for HAProxy's health check on the HTTPS port, whose failure (a frozen node)
 * cuts the node's connections; the agent only says where new ones should go.
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
