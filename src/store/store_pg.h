/* The PostgreSQL backend: one table of (key bytea primary key, value bytea, version bigint),
 * reached through a small pool of libpq connections shared by every thread. */
#ifndef KLUIS_STORE_STORE_PG_H
#define KLUIS_STORE_STORE_PG_H

#include <stddef.h>

#include "store/store.h"

#define STORE_PG_POOL_MAX 1024

/* Opens the store on the database that conninfo names (a libpq connection string or URI, e.g.
 * "host=db1,db2 dbname=kluis target_session_attrs=read-write"), with at most pool_size
 * (1-STORE_PG_POOL_MAX) connections: one per thread that calls the store at once; more callers
 * wait for a free one. Connects once and creates the table kluis_kv when it is missing; the
 * other connections are made on first use. Fails with KL_EINVAL for a malformed conninfo or
 * pool_size, KL_EUNAVAIL when the server cannot be reached, KL_EREADONLY when the table is
 * missing and the server takes no writes. conninfo is copied (and wiped at close: it may hold a
 * password); it is never logged. Thread-safe after it returns, like every store. */
struct store *store_pg_open(const char *conninfo, size_t pool_size, struct kl_err *err);

/* Names pg_auto_failover's monitor (a libpq conninfo or URI; a role such as autoctl_node may
 * read it) and the formation whose group serves st: from now on a new connection to a server
 * that takes writes is used only while the monitor has that server as its group's primary and
 * no failover is under way (store_pg_monitor.c says why, and what happens when the monitor is
 * down). Call it once, before st is used; copied, wiped at close. KL_EINVAL for a malformed
 * conninfo or an empty formation. */
int store_pg_set_monitor(struct store *st, const char *conninfo, const char *formation,
			 struct kl_err *err);

/* How long a call waits for a server to take it while none does, in milliseconds (the default is
 * 8000; 0: it fails at once). For tests. st must come from store_pg_open. */
void store_pg_set_failover_wait(struct store *st, unsigned ms);

/* How the grouped reads of store_get_many went since the store was opened. */
struct store_pg_read_stats {
	uint64_t calls;		/* store_get_many calls served */
	uint64_t statements;	/* statements that served them, one per group */
	size_t waiting;		/* calls queued now, a running group's excluded */
	bool running;		/* a group runs now */
};

/* A snapshot of the counters of st, which must come from store_pg_open. Thread-safe. */
void store_pg_read_stats(struct store *st, struct store_pg_read_stats *out);

/* How many connections st cut because their server gave no answer within the limit
 * (store_pg_hung.c). Thread-safe. */
uint64_t store_pg_hung_cuts(struct store *st);

#endif
