/* deadline.c owns the registry of open connections, their phases and addresses (deadline.h), the
 * sweeper thread that shuts down the overdue ones, and the choice of which connection makes room
 * for a new one past a limit. It must never close a descriptor (the
 * connection's owner, libmicrohttpd, does, after http_deadline_close), never touch a connection
 * after it is closed, and never let a worker wait on the sweeper: the workers' phase changes are
 * single atomic stores, and only accept and close take the lock. Knows nothing of HTTP. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http/deadline.h"
#include "util/clock.h"
#include "util/log.h"

#define SWEEP_INTERVAL_MS 500

enum phase { PHASE_NEW, PHASE_IDLE, PHASE_READING, PHASE_SERVING };

/* The phase in the low two bits, the monotonic microsecond it began in the rest: one atomic
 * word, so the sweeper never sees a phase with another phase's start. */
#define STATE(phase, since_us) (((uint64_t)(since_us) << 2) | (uint64_t)(phase))
#define STATE_PHASE(s) ((enum phase)((s) & 3u))
#define STATE_SINCE(s) ((s) >> 2)

struct http_conn_deadline {
	struct http_conn_deadline *prev, *next;	/* under the registry's lock */
	int fd;
	bool is_shut;				/* under the registry's lock */
	unsigned char addr[16];			/* the client's address: 4 or 16 bytes */
	size_t addr_len;			/* 0: unknown, no per-address count */
	_Atomic uint64_t state;
};

struct http_deadlines {
	uint64_t idle_us, request_us, new_us;	/* 0: no deadline */
	unsigned max_conns, max_per_addr;	/* 0: no limit */
	pthread_mutex_t lock;
	struct http_conn_deadline *head;	/* open connections */
	size_t n_live;				/* of them, not shut down; under lock */
	bool has_sweeper;
	bool is_stopping;			/* under lock */
	pthread_cond_t wake;
	pthread_t sweeper;
};

static void *sweeper_main(void *arg)
{
	struct http_deadlines *d = arg;
	struct timespec until;
	size_t n;

	pthread_mutex_lock(&d->lock);
	while (!d->is_stopping) {
		until = clock_after_ms(CLOCK_MONOTONIC, SWEEP_INTERVAL_MS);
		pthread_cond_timedwait(&d->wake, &d->lock, &until);
		if (d->is_stopping)
			break;
		pthread_mutex_unlock(&d->lock);
		n = http_deadline_sweep(d, clock_mono_us());
		if (n > 0)
			LOG_INFO(NULL, "closed %zu connection%s that overran the idle or request "
				 "timeout", n, n == 1 ? "" : "s");
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

struct http_deadlines *http_deadline_new(const struct http_deadline_config *cfg, bool run_sweeper,
					 struct kl_err *err)
{
	struct http_deadlines *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;

	if (d == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	d->idle_us = (uint64_t)cfg->idle_s * 1000000;
	d->request_us = (uint64_t)cfg->request_s * 1000000;
	/* A connection that has not asked anything yet has shown no sign of being a client that
	 * pools connections: it gets the shorter of the two. */
	d->new_us = d->idle_us == 0 ? d->request_us
		    : d->request_us == 0 || d->idle_us < d->request_us ? d->idle_us : d->request_us;
	d->max_conns = cfg->max_conns;
	d->max_per_addr = cfg->max_per_addr;
	if (pthread_mutex_init(&d->lock, NULL) != 0) {
		free(d);
		kl_fail(err, KL_EINTERNAL, "cannot create a mutex");
		return NULL;
	}
	if (pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&d->wake, &ca) != 0) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		kl_fail(err, KL_EINTERNAL, "cannot create a condition variable");
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	if (run_sweeper && (cfg->idle_s > 0 || cfg->request_s > 0)) {
		int rc = pthread_create(&d->sweeper, NULL, sweeper_main, d);

		if (rc != 0) {
			pthread_cond_destroy(&d->wake);
			pthread_mutex_destroy(&d->lock);
			free(d);
			kl_fail(err, KL_EINTERNAL, "cannot start the connection sweeper: %s",
				strerror(rc));
			return NULL;
		}
		d->has_sweeper = true;
	}
	return d;
}

void http_deadline_free(struct http_deadlines *d)
{
	struct http_conn_deadline *c, *next;

	if (d == NULL)
		return;
	if (d->has_sweeper) {
		pthread_mutex_lock(&d->lock);
		d->is_stopping = true;
		pthread_cond_signal(&d->wake);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->sweeper, NULL);
	}
	for (c = d->head; c != NULL; c = next) {	/* none, when the server closed them all */
		next = c->next;
		free(c);
	}
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* Shuts c's stream down; its owner closes it later. Under the lock. */
static void shut_stream(struct http_conn_deadline *c)
{
	/* The descriptor is still open: libmicrohttpd closes it only after its close
	 * notification, which waits for this lock. */
	if (shutdown(c->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
		LOG_DEBUG(NULL, "shutdown of a connection: %s", strerror(errno));
	c->is_shut = true;
}

/* Shuts down a registered live connection: it no longer counts. Under the lock. */
static void shut(struct http_deadlines *d, struct http_conn_deadline *c)
{
	shut_stream(c);
	d->n_live--;
}

static bool same_addr(const struct http_conn_deadline *a, const struct http_conn_deadline *b)
{
	return a->addr_len != 0 && a->addr_len == b->addr_len &&
	       memcmp(a->addr, b->addr, a->addr_len) == 0;
}

/* Of the live connections (of c's address when is_own_addr), how many there are, and the one
 * idle the longest (NULL: none idle). Under the lock. */
static size_t count_live(const struct http_deadlines *d, const struct http_conn_deadline *c,
			 bool is_own_addr, struct http_conn_deadline **oldest_idle)
{
	struct http_conn_deadline *o;
	uint64_t s, best = 0;
	size_t n = 0;

	*oldest_idle = NULL;
	for (o = d->head; o != NULL; o = o->next) {
		if (o->is_shut || (is_own_addr && !same_addr(o, c)))
			continue;
		n++;
		s = atomic_load_explicit(&o->state, memory_order_relaxed);
		if (STATE_PHASE(s) == PHASE_IDLE &&
		    (*oldest_idle == NULL || STATE_SINCE(s) < best)) {
			*oldest_idle = o;
			best = STATE_SINCE(s);
		}
	}
	return n;
}

/* Makes room for c under the limits: shuts down the connection idle the longest, or c itself
 * when none is idle. Under the lock; c is not in the list yet. */
static void make_room(struct http_deadlines *d, struct http_conn_deadline *c)
{
	struct http_conn_deadline *victim = NULL;
	const char *limit = NULL;

	if (d->max_per_addr > 0 && c->addr_len > 0 &&
	    count_live(d, c, true, &victim) >= d->max_per_addr) {
		limit = "per-address";
	} else if (d->max_conns > 0 && d->n_live >= d->max_conns) {
		count_live(d, c, false, &victim);
		limit = "total";
	}
	if (limit == NULL)
		return;
	if (victim != NULL) {
		shut(d, victim);
		LOG_INFO(NULL, "%s connection limit reached: closed the connection idle the "
			 "longest to make room for a new one", limit);
	} else {
		shut_stream(c);	/* not counted yet, and never will be */
		LOG_WARN(NULL, "%s connection limit reached and no connection idle: refused a new "
			 "connection", limit);
	}
}

struct http_conn_deadline *http_deadline_open(struct http_deadlines *d, int fd,
					      const struct sockaddr *addr, uint64_t now_us)
{
	struct http_conn_deadline *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		LOG_WARN(NULL, "out of memory: a connection gets no idle or request deadline");
		return NULL;
	}
	c->fd = fd;
	if (addr != NULL && addr->sa_family == AF_INET) {
		memcpy(c->addr, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
		c->addr_len = 4;
	} else if (addr != NULL && addr->sa_family == AF_INET6) {
		memcpy(c->addr, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, 16);
		c->addr_len = 16;
	}
	atomic_init(&c->state, STATE(PHASE_NEW, now_us));
	pthread_mutex_lock(&d->lock);
	make_room(d, c);
	if (!c->is_shut)
		d->n_live++;
	c->next = d->head;
	if (d->head != NULL)
		d->head->prev = c;
	d->head = c;
	pthread_mutex_unlock(&d->lock);
	return c;
}

void http_deadline_close(struct http_deadlines *d, struct http_conn_deadline *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&d->lock);
	if (!c->is_shut)
		d->n_live--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&d->lock);
	free(c);
}

void http_deadline_request_started(struct http_conn_deadline *c, uint64_t now_us)
{
	if (c != NULL)
		atomic_store_explicit(&c->state, STATE(PHASE_READING, now_us),
				      memory_order_relaxed);
}

void http_deadline_request_read(struct http_conn_deadline *c)
{
	if (c != NULL)
		atomic_store_explicit(&c->state, STATE(PHASE_SERVING, 0), memory_order_relaxed);
}

void http_deadline_request_done(struct http_conn_deadline *c, uint64_t now_us)
{
	if (c != NULL)
		atomic_store_explicit(&c->state, STATE(PHASE_IDLE, now_us), memory_order_relaxed);
}

size_t http_deadline_sweep(struct http_deadlines *d, uint64_t now_us)
{
	struct http_conn_deadline *c;
	uint64_t s, limit;
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	for (c = d->head; c != NULL; c = c->next) {
		s = atomic_load_explicit(&c->state, memory_order_relaxed);
		switch (STATE_PHASE(s)) {
		case PHASE_NEW:
			limit = d->new_us;
			break;
		case PHASE_IDLE:
			limit = d->idle_us;
			break;
		case PHASE_READING:
			limit = d->request_us;
			break;
		default:
			continue;
		}
		if (c->is_shut || limit == 0 || now_us < STATE_SINCE(s) ||
		    now_us - STATE_SINCE(s) <= limit)
			continue;
		shut(d, c);
		n++;
	}
	pthread_mutex_unlock(&d->lock);
	return n;
}
