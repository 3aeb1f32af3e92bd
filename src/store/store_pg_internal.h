/* What the files of the PostgreSQL backend share and nobody else sees: store_pg.c (the pool,
 * statements, reads, open and close), store_pg_txn.c (transactions and the schema),
 * store_pg_many.c (grouped reads), store_pg_settle.c (lost commit answers), store_pg_hung.c
 * (connections whose server hangs) and store_pg_monitor.c (asking pg_auto_failover's monitor).
 * They are the only includers of <libpq-fe.h>. */
#ifndef KLUIS_STORE_STORE_PG_INTERNAL_H
#define KLUIS_STORE_STORE_PG_INTERNAL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "store/store.h"

#define TABLE "kluis_kv"
#define MARKERS "kluis_commit"	/* commit markers (store_pg_settle.c) */
#define STORE_PG_MARKER_LEN 16
#define BYTEA_OID 17		/* pg_type.oid of bytea and int8: fixed in PostgreSQL's catalog */
#define INT8_OID 20
#define BYTEA_ARRAY_OID 1001
#define INT8_ARRAY_OID 1016
#define BINARY 1		/* libpq's format code for binary parameters and results */
#define ST_GET_MANY "kl_get_many"	/* the prepared statement of store_get_many */

/* How long a connection taken from the pool may wait for its server's answer before it is cut
 * (store_pg_hung.c): a read; a transaction, whose COMMIT also waits for the synchronous standby;
 * a schema migration. */
#define HUNG_READ_MS 3000
#define HUNG_WRITE_MS 6000
#define HUNG_SCHEMA_MS 60000

struct pg_lease {
	PGconn *conn;		/* NULL: free */
	int fd;			/* conn's socket */
	unsigned limit_ms;
	uint64_t until;		/* a store_pg_mono_ms() time */
	bool cut;		/* shut down by the watcher */
};

struct pg_slot {
	PGconn *conn;		/* NULL: connect on first use */
	uint64_t epoch;		/* s->epoch when conn was made */
};

struct pg_reader;

/* At most one log line a second about one recurring trouble (store_pg_log_due). */
struct pg_log_gate {
	time_t last_s;		/* CLOCK_MONOTONIC seconds of the last line */
	unsigned skipped;	/* occurrences since, not logged */
};

struct store_pg {
	struct store base;	/* first: a struct store * is a struct store_pg * */
	pthread_mutex_t mu;	/* guards idle, n_idle and epoch */
	pthread_cond_t cv;	/* signalled when a slot comes back */
	struct pg_slot *idle;	/* idle[0..n_idle): free slots, connected ones on top */
	size_t n_idle;
	size_t pool_size;
	uint64_t epoch;		/* grows at each lost connection: older ones are dropped */
	struct pg_log_gate connect_log;	/* failed connects; guarded by mu */
	_Atomic unsigned wait_ms;	/* FAILOVER_WAIT_MS unless a test set another */
	char *conninfo;
	char *monitor, *formation;	/* pg_auto_failover's monitor; NULL: none (store_pg_monitor.c) */
	struct pg_log_gate monitor_log;	/* the monitor's answers (store_pg_monitor.c); by mu */
	/* grouped reads (store_pg_many.c) */
	pthread_mutex_t read_mu;	/* guards the queue and read_leading */
	struct pg_reader *read_head, *read_tail;	/* callers of get_many waiting, in order */
	bool read_leading;	/* a caller is running a group now */
	_Atomic uint64_t read_groups, read_calls;	/* statements run, get_many calls served */
	/* connections out of the pool, and the watcher that cuts hung ones (store_pg_hung.c) */
	pthread_mutex_t lease_mu;	/* guards leases and stop_watching */
	pthread_cond_t lease_cv;	/* wakes the watcher to stop */
	struct pg_lease *leases;	/* pool_size of them; NULL before store_pg_hung_init */
	pthread_t watcher;
	bool stop_watching;
	_Atomic uint64_t cuts;		/* connections cut */
};

/* What a failed statement means for the caller and for its connection. */
enum pg_fault {
	FAULT_NONE,
	FAULT_SERIAL,	/* 40001, 40P01: run the transaction again */
	FAULT_LINK,	/* the connection is gone or its server is going away: drop it */
	FAULT_READONLY,	/* the server takes no writes: drop the connection (failover) */
	FAULT_BUSY,	/* out of resources, cancelled, timed out: later */
	FAULT_SCHEMA,	/* the schema lacks the transaction function: migrate, run again */
	FAULT_OTHER,
};

/* store_pg.c */

bool store_pg_sqlstate_is(const PGresult *r, const char *state);
/* Whether g's trouble, met again now, is due a log line (the first this second); *skipped (may be
 * NULL) how many times it was met since the last line without one. Thread-safe (s->mu). */
bool store_pg_log_due(struct store_pg *s, struct pg_log_gate *g, unsigned *skipped);
/* Fills err with the kind a fault calls for. */
void store_pg_fault_err(struct kl_err *err, enum pg_fault f, const char *what);
/* FAULT_NONE when r has status want. Otherwise logs why once, fills err and returns the fault. */
enum pg_fault store_pg_check(PGconn *c, const PGresult *r, ExecStatusType want, const char *what,
			     struct kl_err *err);
/* A usable connection from the pool (connecting afresh until deadline, a mono time in ms; 0:
 * once), NULL when there is none; *epoch goes back with it to store_pg_give, with the fault its
 * use met (a lost link or a read-only server drops it). It is cut when it is still out hung_ms
 * after it was taken (HUNG_*_MS; store_pg_lease moves the limit). */
PGconn *store_pg_take(struct store_pg *s, uint64_t *epoch, uint64_t deadline, unsigned hung_ms,
		      struct kl_err *err);
void store_pg_give(struct store_pg *s, PGconn *c, uint64_t epoch, enum pg_fault f);
/* The deadline of a call that rides through a failover; 0 when it must not wait. */
uint64_t store_pg_deadline(struct store_pg *s);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t store_pg_mono_ms(void);
/* Sleeps one reconnection step unless that would pass deadline; false when no time is left. */
bool store_pg_wait_step(uint64_t deadline);
/* A one-dimensional binary array of n elements of elem_oid, as array_recv reads it: the header,
 * then each element. KL_ETOOBIG past what libpq can send. */
int store_pg_array_begin(struct buf *b, Oid elem_oid, size_t n, struct kl_err *err);
int store_pg_array_elem(struct buf *b, const void *p, size_t len, struct kl_err *err);

/* A read statement on a pooled connection, run again after a lost link; *out is the caller's
 * (PQclear). wait: ride through a failover (store_pg_deadline). */
int store_pg_run_read(struct store_pg *s, const char *name, int n, const void *const *p,
		      const size_t *len, const char *what, bool wait, PGresult **out,
		      struct kl_err *err);
/* The version in column col of row (1 up to the largest bigint). */
int store_pg_row_version(const PGresult *r, int row, int col, uint64_t *version,
			 struct kl_err *err);
/* Whether, since the reset, a result read in this thread came with the server's notice that a
 * COMMIT's wait for the synchronous standbys was canceled (committed locally, maybe not
 * replicated: not durable as promised, so its outcome counts as unknown). */
void store_pg_unreplicated_reset(void);
bool store_pg_unreplicated(void);
/* Keys in the store's order (bytewise, a proper prefix first). */
int store_pg_key_cmp(const void *a, size_t a_len, const void *b, size_t b_len);

/* store_pg_many.c */

/* The vtable's get_many: concurrent callers' keys read together, one statement per group. */
int store_pg_get_many(struct store *st, struct store_read *reads, size_t n, struct kl_err *err);
void store_pg_many_init(struct store_pg *s);
void store_pg_many_destroy(struct store_pg *s);

/* store_pg_txn.c */

/* The vtable's txn: one round trip (store_pg_txn.c's header comment). */
int store_pg_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err);
/* store_pg_settle.c */
/* 16 random bytes: the commit marker of one run of a transaction. */
int store_pg_marker_new(unsigned char marker[STORE_PG_MARKER_LEN], struct kl_err *err);
/* After a commit whose outcome was lost: whether the run that carried marker committed (*landed)
 * or never will (!*landed; it may be run again). Waits for a writable primary as a failover wait
 * does; -1 with err when that did not come in time. */
int store_pg_settle(struct store_pg *s, const unsigned char *marker, bool *landed,
		    struct kl_err *err);
/* The vtable's maintain: deletes commit markers too old to be settled, in bounded batches. */
int store_pg_maintain(struct store *st, struct kl_err *err);
/* Opens the schema on c: creates or migrates it on a primary; on a read-only standby only checks
 * that it is there and not newer than this kluisd. */
int store_pg_ensure_table(PGconn *c, struct kl_err *err);

/* store_pg_hung.c: the watcher of connections out of the pool. */
int store_pg_hung_init(struct store_pg *s, struct kl_err *err);
void store_pg_hung_destroy(struct store_pg *s);
/* Leases c (again: a new limit from now) / ends its lease; before c is closed or given back. */
void store_pg_lease(struct store_pg *s, PGconn *c, unsigned limit_ms);
void store_pg_unlease(struct store_pg *s, PGconn *c);

/* store_pg_monitor.c */
/* 0 when c, just made, may be used: the monitor has its server as the primary, or there is no
 * monitor, or it could not tell. -1 with KL_EUNAVAIL while a failover moves writes elsewhere. */
int store_pg_monitor_vet(struct store_pg *s, PGconn *c, struct kl_err *err);
void store_pg_monitor_free(struct store_pg *s);

#endif
