/* store_pg_hung.c owns the limit on how long a call waits for a server that stopped answering
 * without going away: a frozen process or machine, a stalled disk, a partition that drops packets.
 * TCP does not notice a frozen process on a live machine (its kernel still acknowledges every
 * segment), and libpq has no deadline of its own on a statement, so a call on such a connection
 * waited as long as the freeze lasted, and every call after it that took a connection to the same
 * server did too.
 *
 * So each connection taken from the pool is leased with a limit (store_pg_take), and a watcher
 * thread shuts down (shutdown(2)) the socket of a lease past its limit. libpq then reads the end
 * of the connection, and the caller meets what it already handles, a lost link: a read runs again
 * on a fresh connection within the failover wait, a commit whose answer was lost is settled
 * (store_pg_settle.c). The watcher never closes the socket: its owner does, in store_pg_give,
 * after it has ended the lease under lease_mu, which the watcher holds while it shuts one down;
 * so the descriptor cannot be another's by then. Never logs a statement, a key or a value. */
#include <stdlib.h>
#include <sys/socket.h>

#include "store/store_pg.h"
#include "store/store_pg_internal.h"
#include "util/clock.h"
#include "util/log.h"

#define WATCH_STEP_MS 100	/* how late past its limit a lease may be cut */

static void *watch(void *arg)
{
	struct store_pg *s = arg;
	struct timespec until;
	uint64_t now;
	size_t i;

	pthread_mutex_lock(&s->lease_mu);
	while (!s->stop_watching) {
		now = store_pg_mono_ms();
		for (i = 0; i < s->pool_size; i++) {
			struct pg_lease *l = &s->leases[i];

			if (l->conn == NULL || l->cut || now < l->until)
				continue;
			l->cut = true;
			shutdown(l->fd, SHUT_RDWR);
			atomic_fetch_add(&s->cuts, 1);
			LOG_WARN(NULL, "the store's database gave no answer within %u ms: the "
				       "connection is cut, and the call goes on without it",
				 l->limit_ms);
		}
		until = clock_after_ms(CLOCK_MONOTONIC, WATCH_STEP_MS);
		pthread_cond_timedwait(&s->lease_cv, &s->lease_mu, &until);
	}
	pthread_mutex_unlock(&s->lease_mu);
	return NULL;
}

int store_pg_hung_init(struct store_pg *s, struct kl_err *err)
{
	pthread_condattr_t attr;

	atomic_init(&s->cuts, 0);
	s->stop_watching = false;
	if ((s->leases = calloc(s->pool_size, sizeof(*s->leases))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	pthread_mutex_init(&s->lease_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s->lease_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&s->watcher, NULL, watch, s) != 0) {
		pthread_cond_destroy(&s->lease_cv);
		pthread_mutex_destroy(&s->lease_mu);
		free(s->leases);
		s->leases = NULL;
		return kl_fail(err, KL_EINTERNAL, "cannot start the store's connection watcher");
	}
	return 0;
}

void store_pg_hung_destroy(struct store_pg *s)
{
	if (s->leases == NULL)
		return;
	pthread_mutex_lock(&s->lease_mu);
	s->stop_watching = true;
	pthread_cond_signal(&s->lease_cv);
	pthread_mutex_unlock(&s->lease_mu);
	pthread_join(s->watcher, NULL);
	pthread_cond_destroy(&s->lease_cv);
	pthread_mutex_destroy(&s->lease_mu);
	free(s->leases);
	s->leases = NULL;
}

void store_pg_lease(struct store_pg *s, PGconn *c, unsigned limit_ms)
{
	struct pg_lease *free_one = NULL;
	size_t i;

	pthread_mutex_lock(&s->lease_mu);
	for (i = 0; i < s->pool_size; i++) {
		if (s->leases[i].conn == c)
			break;
		if (s->leases[i].conn == NULL && free_one == NULL)
			free_one = &s->leases[i];
	}
	/* A connection is leased at most once, and the pool never has more out than leases. */
	if (i < s->pool_size)
		free_one = &s->leases[i];
	if (free_one != NULL) {
		*free_one = (struct pg_lease){ .conn = c, .fd = PQsocket(c), .limit_ms = limit_ms,
					       .until = store_pg_mono_ms() + limit_ms };
	}
	pthread_mutex_unlock(&s->lease_mu);
}

void store_pg_unlease(struct store_pg *s, PGconn *c)
{
	size_t i;

	pthread_mutex_lock(&s->lease_mu);
	for (i = 0; i < s->pool_size; i++)
		if (s->leases[i].conn == c)
			s->leases[i] = (struct pg_lease){ 0 };
	pthread_mutex_unlock(&s->lease_mu);
}

uint64_t store_pg_hung_cuts(struct store *st)
{
	return atomic_load(&((struct store_pg *)st)->cuts);
}
