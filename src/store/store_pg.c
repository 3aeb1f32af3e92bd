/* store_pg.c owns the PostgreSQL backend: one table, kluis_kv (key bytea primary key, value bytea
 * not null, version bigint not null), reached through a pool of libpq connections. With the
 * other store_pg*.c files it is the only includer of <libpq-fe.h>. Keys and values travel only as binary
 * parameters and results, never inside SQL text. It never logs or puts in an error a key's or a
 * value's contents (values hold sealed secrets, keys object names), nor the conninfo (it may hold
 * a password); of a server error it logs only the SQLSTATE and the primary message, since a
 * DETAIL may quote a key.
 *
 * Order: bytea compares with memcmp and then by length (byteacmp), in no collation, which is the
 * bytewise order, a proper prefix first, that store.h promises; the primary key's B-tree keeps it.
 *
 * Transactions run at SERIALIZABLE isolation, and one that fails with a serialization failure
 * (40001) or a deadlock (40P01) is run again from the start, a bounded number of times. Row locks
 * at READ COMMITTED were the alternative, but a check that a key is absent has no row to lock:
 * it would need advisory locks on a hash of the key, a scheme of our own shared with every other
 * user of advisory locks. SERIALIZABLE catches exactly that case (two transactions that each see
 * a key absent and then both insert it: PostgreSQL fails one with 40001) and every other write
 * skew, across threads, processes and nodes. The checks run first, so they see the state before
 * the transaction's writes; a transaction run again reads again, and fails with KL_ECONFLICT when
 * someone else's commit has made a check false.
 *
 * A transaction is one round trip: BEGIN, a call of a server-side function and COMMIT in one
 * pipeline (store_pg_txn.c, which also owns the schema). A write is acknowledged only once
 * COMMIT has returned: durable as the server's synchronous_commit and synchronous standbys make
 * it. A connection lost once the COMMIT may have left leaves the outcome unknown: KL_EOUTCOME,
 * never run again (store_pg_txn.c says when it is known after all). So that a transaction is not
 * sent into a connection that the server ended while it sat idle in the pool (a restart), a
 * pooled connection with anything to read (the server's FATAL, end of file) is replaced before
 * use; a connection found lost before anything was sent is replaced and the transaction run
 * again once.
 *
 * Every statement is prepared once per connection, when the connection is made (all of them in
 * one round trip), and run by name. store_get_many is one statement (key = ANY($1), the keys a
 * binary bytea[]), so one round trip and one snapshot; concurrent callers share one
 * (store_pg_many.c).
 *
 * Reads are single statements outside any explicit transaction. A scan fetches bounded batches
 * (key > last ORDER BY key LIMIT n) and gives its connection back to the pool before it calls the
 * callback on a batch, so a callback may call the store again (the vault core's do) even with a
 * pool of one. The price: a scan longer than one batch is not one snapshot (each key is still
 * seen at most once and in order, and a key present throughout the scan is seen).
 *
 * Failover: a connection found broken (lost, server shutting down, SQLSTATE class 08) is dropped,
 * as is every idle one made before it (they most likely point at the same dead server), and made
 * again on the next use by libpq with the same conninfo; a read, or a transaction whose outcome
 * is known to be nothing, is run again on a new connection. A connection whose server takes no
 * writes (25006, or a hot standby refusing SERIALIZABLE) gives KL_EREADONLY and is dropped too,
 * so that a multi-host conninfo with target_session_attrs=read-write finds the new primary. With
 * pg_auto_failover's monitor named, a new connection is also dropped while the monitor is moving
 * writes away from its server (store_pg_monitor.c).
 *
 * Riding through a failover: while no server takes the connection (the primary is dead and the
 * standby not yet promoted, which takes 2-10 s under pg_auto_failover), a read or a transaction
 * keeps trying to connect, every RECONNECT_STEP_MS, for up to FAILOVER_WAIT_MS before it fails
 * with KL_EUNAVAIL; a transaction that met a server taking no writes tries again likewise.
 * Answering 503 at once instead would leave the clients' own retries (about 3 s
 * of them in the SDKs) to cover the failover, and they do not cover its slow cases. The role
 * poll does not wait: it must tell at once that the primary is gone. */
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_pg.h"
#include "store/store_pg_internal.h"
#include "util/log.h"
#include "util/rec.h"

#define SCAN_BATCH 256		/* rows a scan holds in memory at once */
#define SCAN_BATCH_SQL "256"
#define READ_TRIES 3
#define FAILOVER_WAIT_MS 8000	/* how long a call waits for a server to take it (above) */
#define RECONNECT_STEP_MS 200
#define VERSION_BYTES 8

/* The statements every pooled connection prepares once, when it is made (one round trip for
 * all: PREPARE ... ; PREPARE ...), and runs by name with PQexecPrepared: the server parses and
 * plans each once per connection instead of once per call. */
#define ST_GET "kl_get"
#define ST_ROLE "kl_role"
#define SCAN_COLS "SELECT key, value, version FROM " TABLE " WHERE key "
#define SCAN_LIMIT " ORDER BY key LIMIT " SCAN_BATCH_SQL ";"

/* Whether the server is a hot standby (pg_is_in_recovery()) and, if so, whether its WAL receiver
 * streams (pg_stat_wal_receiver shows its status only to roles with pg_read_all_stats; without
 * it the standby reads as not streaming), its lag in milliseconds, whether its replay is paused
 * and when the transaction it replayed last committed (Unix ms). Binary results: two bools of one
 * byte, an int8, a bool, an int8. */
#define ROLE_SQL \
	"SELECT r, s, CASE WHEN NOT r THEN -1 " \
	"WHEN s AND pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() " \
	"THEN 0 " \
	"ELSE COALESCE(GREATEST(0, 1000 * EXTRACT(EPOCH FROM clock_timestamp() - " \
	"pg_last_xact_replay_timestamp()))::int8, -1) END, " \
	"CASE WHEN r THEN pg_is_wal_replay_paused() ELSE false END, " \
	"CASE WHEN r THEN COALESCE((1000 * EXTRACT(EPOCH FROM " \
	"pg_last_xact_replay_timestamp()))::int8, -1) ELSE -1 END, " \
	"COALESCE(CASE WHEN r THEN pg_last_wal_replay_lsn() - '0/0' " \
	"ELSE pg_current_wal_flush_lsn() - '0/0' END, 0)::int8 " \
	"FROM (SELECT pg_is_in_recovery() AS r, EXISTS (SELECT 1 FROM pg_stat_wal_receiver " \
	"WHERE status = 'streaming') AS s) AS x"

static const char prepare_sql[] =
	"PREPARE " ST_GET "(bytea) AS SELECT value, version FROM " TABLE " WHERE key = $1;"
	"PREPARE " ST_GET_MANY "(bytea[]) AS SELECT key, value, version FROM " TABLE
	" WHERE key = ANY($1);"
	"PREPARE kl_scan_x(bytea) AS " SCAN_COLS "> $1" SCAN_LIMIT
	"PREPARE kl_scan_xe(bytea, bytea) AS " SCAN_COLS "> $1 AND key < $2" SCAN_LIMIT
	"PREPARE kl_scan_i(bytea) AS " SCAN_COLS ">= $1" SCAN_LIMIT
	"PREPARE kl_scan_ie(bytea, bytea) AS " SCAN_COLS ">= $1 AND key < $2" SCAN_LIMIT
	"PREPARE " ST_ROLE " AS " ROLE_SQL;

/* [from is inclusive][there is an end] */
static const char *const scan_st[2][2] = {
	{ "kl_scan_x", "kl_scan_xe" },
	{ "kl_scan_i", "kl_scan_ie" },
};

/* Defaults that the operator's conninfo overrides, since it comes after them: a bounded wait for
 * a host that does not answer, so that libpq moves on to the next host of a multi-host conninfo
 * within seconds, and keepalives and a TCP user timeout that notice a vanished server. */
static const char *const conn_keys[] = { "connect_timeout", "keepalives_idle",
					 "keepalives_interval", "keepalives_count",
					 "tcp_user_timeout", "application_name", "dbname", NULL };
static const char *const conn_defaults[] = { "3", "10", "3", "3", "10000", "kluisd" };

/* Set by the notice receiver in the thread that reads a result: the server canceled a COMMIT's
 * wait for its synchronous standbys (the backend was canceled or terminated meanwhile) and says
 * the transaction committed locally but may not have been replicated. */
static _Thread_local bool unreplicated;

void store_pg_unreplicated_reset(void)
{
	unreplicated = false;
}

bool store_pg_unreplicated(void)
{
	return unreplicated;
}

/* Server notices (e.g. "already exists, skipping") are not worth a log line; the one that says a
 * commit may not have reached the synchronous standbys is noted. */
static void note_notice(void *arg, const PGresult *r)
{
	const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	if (m != NULL && strncmp(m, "canceling wait for synchronous replication", 42) == 0)
		unreplicated = true;
}

/* libpq's messages end in a newline, log lines do not: the length without trailing space. */
static int trimmed_len(const char *m)
{
	size_t n = strlen(m);

	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		n--;
	return n > 300 ? 300 : (int)n;
}

bool store_pg_sqlstate_is(const PGresult *r, const char *state)
{
	const char *st = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return st != NULL && strncmp(st, state, strlen(state)) == 0;
}

static enum pg_fault classify(PGconn *c, const PGresult *r)
{
	enum pg_fault f = FAULT_OTHER;

	/* No result, or an error libpq made itself (no SQLSTATE): the link's state is unknown.
	 * 08: connection exception; 57P01-3: admin or crash shutdown, cannot connect now. */
	if (PQstatus(c) != CONNECTION_OK || r == NULL ||
	    PQresultErrorField(r, PG_DIAG_SQLSTATE) == NULL || store_pg_sqlstate_is(r, "08") ||
	    store_pg_sqlstate_is(r, "57P01") || store_pg_sqlstate_is(r, "57P02") ||
	    store_pg_sqlstate_is(r, "57P03"))
		f = FAULT_LINK;
	else if (store_pg_sqlstate_is(r, "40001") || store_pg_sqlstate_is(r, "40P01"))
		f = FAULT_SERIAL;
	else if (store_pg_sqlstate_is(r, "25006"))
		f = FAULT_READONLY;
	/* 53: insufficient resources; 57014: cancelled (statement_timeout); 55P03: lock timeout. */
	else if (store_pg_sqlstate_is(r, "53") || store_pg_sqlstate_is(r, "57014") ||
		 store_pg_sqlstate_is(r, "55P03"))
		f = FAULT_BUSY;
	return f;
}

/* Fills err with the kind a fault calls for. */
void store_pg_fault_err(struct kl_err *err, enum pg_fault f, const char *what)
{
	switch (f) {
	case FAULT_READONLY:
		kl_fail(err, KL_EREADONLY, "the store's database takes no writes");
		break;
	case FAULT_SERIAL:
	case FAULT_LINK:
	case FAULT_BUSY:
		kl_fail(err, KL_EUNAVAIL, "the store's database is unavailable (%s)", what);
		break;
	default:
		kl_fail(err, KL_EINTERNAL, "the store failed (%s)", what);
		break;
	}
}

/* FAULT_NONE when r has status want. Otherwise logs why once (serialization failures, which are
 * retried, only at debug level), fills err and returns the fault. */
enum pg_fault store_pg_check(PGconn *c, const PGresult *r, ExecStatusType want, const char *what,
			      struct kl_err *err)
{
	const char *state = NULL, *msg = NULL;
	enum pg_fault f = FAULT_NONE;
	enum log_level lv;

	if (r != NULL && PQresultStatus(r) == want)
		goto out;
	f = classify(c, r);
	if (r != NULL) {
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	}
	if (msg == NULL)
		msg = PQerrorMessage(c);	/* libpq's own: terse verbosity, no DETAIL */
	if (r != NULL && PQresultStatus(r) != PGRES_FATAL_ERROR && state == NULL)
		msg = "unexpected result status";
	lv = f == FAULT_SERIAL ? LOG_LV_DEBUG : f == FAULT_LINK ? LOG_LV_WARN : LOG_LV_ERROR;
	log_msg(lv, NULL, __func__, "PostgreSQL %s: %s%s%.*s", what, state ? state : "",
		state ? " " : "", trimmed_len(msg), msg);
	store_pg_fault_err(err, f, what);
out:
	return f;
}

/* --- the pool ---------------------------------------------------------------------------- */

/* During an outage every call tries to connect: one log line a second about it is enough. */
bool store_pg_log_due(struct store_pg *s, struct pg_log_gate *g, unsigned *skipped)
{
	struct timespec now;
	bool due;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&s->mu);
	due = now.tv_sec != g->last_s;
	if (due) {
		if (skipped != NULL)
			*skipped = g->skipped;
		g->skipped = 0;
		g->last_s = now.tv_sec;
	} else {
		g->skipped++;
	}
	pthread_mutex_unlock(&s->mu);
	return due;
}

/* Prepares the statements of prepare_sql on c. */
static int prepare_all(PGconn *c, struct kl_err *err)
{
	PGresult *r = PQexec(c, prepare_sql);
	int rc = store_pg_check(c, r, PGRES_COMMAND_OK, "prepare", err) == FAULT_NONE ? 0 : -1;

	PQclear(r);
	return rc;
}

/* A new connection; with prepare, its statements prepared (the table must exist). */
static PGconn *pg_connect(struct store_pg *s, bool prepare, struct kl_err *err)
{
	unsigned unlogged = 0;
	const char *vals[sizeof(conn_keys) / sizeof(conn_keys[0])];
	PGconn *c = NULL;
	size_t i;

	for (i = 0; i < sizeof(conn_defaults) / sizeof(conn_defaults[0]); i++)
		vals[i] = conn_defaults[i];
	vals[i++] = s->conninfo;	/* "dbname", expanded: it overrides the defaults */
	vals[i] = NULL;
	if ((c = PQconnectdbParams(conn_keys, vals, 1)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		if (store_pg_log_due(s, &s->connect_log, &unlogged))
			LOG_ERROR(NULL, "cannot connect to PostgreSQL (and %u times more since the "
					"last report): %.*s",
				  unlogged, trimmed_len(PQerrorMessage(c)), PQerrorMessage(c));
		kl_fail(err, KL_EUNAVAIL, "the store's database is unreachable");
		PQfinish(c);
		c = NULL;
		goto out;
	}
	PQsetErrorVerbosity(c, PQERRORS_TERSE);
	PQsetNoticeReceiver(c, note_notice, NULL);
	if ((prepare && prepare_all(c, err) != 0) || store_pg_monitor_vet(s, c, err) != 0) {
		PQfinish(c);
		c = NULL;
	}
out:
	return c;
}

/* Puts a slot back, connected ones on top so that they are used first. drop closes conn; a lost
 * link also dooms the idle connections made before this one was taken. */
void store_pg_give(struct store_pg *s, PGconn *c, uint64_t epoch, enum pg_fault f)
{
	struct pg_slot slot = { .conn = c, .epoch = epoch };

	if (c != NULL)
		store_pg_unlease(s, c);
	if (c != NULL && (f == FAULT_LINK || f == FAULT_READONLY ||
			  PQpipelineStatus(c) != PQ_PIPELINE_OFF)) {
		PQfinish(c);
		slot.conn = NULL;
	}
	pthread_mutex_lock(&s->mu);
	if (f == FAULT_LINK && epoch == s->epoch)
		s->epoch++;
	if (slot.conn == NULL && s->n_idle > 0) {
		s->idle[s->n_idle] = s->idle[0];
		s->idle[0] = slot;
	} else {
		s->idle[s->n_idle] = slot;
	}
	s->n_idle++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

uint64_t store_pg_mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Sleeps one reconnection step, unless that would pass deadline (a store_pg_mono_ms() time; 0: no
 * waiting). False when there is no time left. */
bool store_pg_wait_step(uint64_t deadline)
{
	struct timespec step = { 0, RECONNECT_STEP_MS * 1000000L };

	if (deadline == 0 || store_pg_mono_ms() + RECONNECT_STEP_MS > deadline)
		return false;
	nanosleep(&step, NULL);
	return true;
}

uint64_t store_pg_deadline(struct store_pg *s)
{
	unsigned ms = atomic_load(&s->wait_ms);

	return ms > 0 ? store_pg_mono_ms() + ms : 0;
}

/* An idle connection hears from its server only when the server ends it (a restart, a shutdown,
 * a crash: a FATAL message, then end of file). Finding that out here, without a round trip, is
 * what keeps a transaction from being sent into a connection already lost, where the outcome of
 * its pipelined COMMIT would be unknown. */
static bool spoke_while_idle(PGconn *c)
{
	struct pollfd p = { .fd = PQsocket(c), .events = POLLIN };

	return p.fd < 0 || poll(&p, 1, 0) != 0;
}

/* Takes a slot, waiting for one, and makes sure it holds a usable connection: one that is not
 * older than the last lost link, not broken and not inside a transaction; otherwise it connects
 * afresh, trying again until deadline (0: once). NULL (the slot back in the pool, empty) when
 * that fails. */
PGconn *store_pg_take(struct store_pg *s, uint64_t *epoch, uint64_t deadline, unsigned hung_ms,
		      struct kl_err *err)
{
	struct pg_slot slot;
	bool stale;

	pthread_mutex_lock(&s->mu);
	while (s->n_idle == 0)
		pthread_cond_wait(&s->cv, &s->mu);
	slot = s->idle[--s->n_idle];
	stale = slot.epoch != s->epoch;
	*epoch = s->epoch;
	pthread_mutex_unlock(&s->mu);
	if (slot.conn != NULL && (stale || PQstatus(slot.conn) != CONNECTION_OK ||
				  PQtransactionStatus(slot.conn) != PQTRANS_IDLE ||
				  spoke_while_idle(slot.conn))) {
		PQfinish(slot.conn);
		slot.conn = NULL;
	}
	if (slot.conn == NULL) {
		while ((slot.conn = pg_connect(s, true, err)) == NULL && err->code == KL_EUNAVAIL &&
		       store_pg_wait_step(deadline))
			kl_err_clear(err);
		if (slot.conn == NULL)
			store_pg_give(s, NULL, *epoch, FAULT_NONE);
	}
	if (slot.conn != NULL)
		store_pg_lease(s, slot.conn, hung_ms);
	return slot.conn;
}

/* --- statements -------------------------------------------------------------------------- */

/* Runs the prepared statement name with n byte-string parameters, binary both ways. A NULL
 * pointer would be SQL NULL to libpq, so an empty value goes as "". */
static PGresult *exec_bytes(PGconn *c, const char *name, int n, const void *const *p,
			    const size_t *len)
{
	const int formats[3] = { BINARY, BINARY, BINARY };
	const char *vals[3];
	int lens[3], i;

	for (i = 0; i < n && i < 3; i++) {
		vals[i] = p[i] != NULL ? p[i] : "";
		lens[i] = (int)len[i];	/* callers keep lengths under INT_MAX */
	}
	return PQexecPrepared(c, name, n, vals, lens, formats, BINARY);
}

/* Runs a statement that only reads on a pooled connection and gives the connection back before
 * it returns: the result stands alone (the caller PQclear()s *out). A statement that failed
 * because its connection was lost (or, at a server whose default isolation is serializable, on
 * serialization) is run again: it wrote nothing. */
int store_pg_run_read(struct store_pg *s, const char *name, int n, const void *const *p,
		      const size_t *len, const char *what, bool wait, PGresult **out,
		      struct kl_err *err)
{
	uint64_t deadline = wait ? store_pg_deadline(s) : 0;
	enum pg_fault f = FAULT_LINK;
	PGresult *r = NULL;
	uint64_t epoch;
	PGconn *c;
	int tries, rc = -1;

	for (tries = 0; tries < READ_TRIES && (f == FAULT_LINK || f == FAULT_SERIAL); tries++) {
		if ((c = store_pg_take(s, &epoch, deadline, HUNG_READ_MS, err)) == NULL)
			goto out;
		PQclear(r);
		r = exec_bytes(c, name, n, p, len);
		f = store_pg_check(c, r, PGRES_TUPLES_OK, what, err);
		store_pg_give(s, c, epoch, f);
	}
	if (f != FAULT_NONE)
		goto out;
	if (tries > 1)
		kl_err_clear(err);	/* the failures before were overcome */
	*out = r;	/* the caller's now */
	r = NULL;
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* The version in column col of row: 1 up to the largest bigint. */
int store_pg_row_version(const PGresult *r, int row, int col, uint64_t *version,
			 struct kl_err *err)
{
	uint64_t v;
	int rc = -1;

	if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != VERSION_BYTES) {
		LOG_ERROR(NULL, "PostgreSQL returned a record version of %d bytes",
			  PQgetlength(r, row, col));
		kl_fail(err, KL_ECORRUPT, "a stored record version is damaged");
		goto out;
	}
	v = rec_from_be64((const unsigned char *)PQgetvalue(r, row, col));
	if (v == 0 || v > INT64_MAX) {
		LOG_ERROR(NULL, "PostgreSQL holds a record of version %lld", (long long)v);
		kl_fail(err, KL_ECORRUPT, "a stored record version is damaged");
		goto out;
	}
	*version = v;
	rc = 0;
out:
	return rc;
}

/* Bytewise order, a proper prefix first: the order of bytea. */
int store_pg_key_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c == 0)
		c = (a_len > b_len) - (a_len < b_len);
	return c;
}

/* --- get and scan ------------------------------------------------------------------------ */

static int pg_get(struct store *st, const void *key, size_t key_len, struct buf *val,
		  uint64_t *version, struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	const void *p[1] = { key };
	const size_t len[1] = { key_len };
	PGresult *r = NULL;
	uint64_t ver;
	int rc = -1;

	if (store_pg_run_read(s, ST_GET, 1, p, len, "get", true, &r, err) != 0)
		goto out;
	if (PQntuples(r) == 0) {
		kl_fail(err, KL_ENOTFOUND, "the record does not exist");
		goto out;
	}
	if (store_pg_row_version(r, 0, 1, &ver, err) != 0 ||
	    buf_append(val, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), err) != 0)
		goto out;
	if (version != NULL)
		*version = ver;
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* Appends a one-dimensional binary array of n elements of type elem_oid (no NULLs) to b: the
 * layout of array_send (ndim, has-null flag, element type, then per dimension its size and lower
 * bound, then each element as a length and its bytes). */
static int put_be32(struct buf *b, uint32_t v, struct kl_err *err)
{
	unsigned char x[4] = { v >> 24, v >> 16, v >> 8, v };

	return buf_append(b, x, sizeof(x), err);
}

int store_pg_array_begin(struct buf *b, Oid elem_oid, size_t n, struct kl_err *err)
{
	const uint32_t head[5] = { 1, 0, elem_oid, (uint32_t)n, 1 };
	size_t i;

	for (i = 0; i < 5; i++)
		if (put_be32(b, head[i], err) != 0)
			return -1;
	return 0;
}

int store_pg_array_elem(struct buf *b, const void *p, size_t len, struct kl_err *err)
{
	if (len > INT_MAX || b->len + len + 4 > INT_MAX)
		return kl_fail(err, KL_ETOOBIG, "a store transaction is too large for PostgreSQL");
	if (put_be32(b, (uint32_t)len, err) != 0 || buf_append(b, len > 0 ? p : "", len, err) != 0)
		return -1;
	return 0;
}

/* The smallest key above every key that starts with prefix: the prefix up to its last byte that
 * is not 0xff, that byte incremented. 0 when there is none (empty, or nothing but 0xff). */
static size_t prefix_end(const unsigned char *prefix, size_t n, unsigned char *end)
{
	while (n > 0 && prefix[n - 1] == 0xff)
		n--;
	if (n > 0) {
		memcpy(end, prefix, n);
		end[n - 1]++;
	}
	return n;
}

/* Calls fn on the rows of one batch. 1 when fn stopped the scan, 0 to go on, -1 on failure. */
static int scan_batch(const PGresult *r, store_scan_fn fn, void *arg, struct kl_err *err)
{
	uint64_t ver;
	int i, cb = 0;

	for (i = 0; i < PQntuples(r) && cb == 0; i++) {
		if (PQgetlength(r, i, 0) < 1 || PQgetlength(r, i, 0) > STORE_KEY_MAX) {
			LOG_ERROR(NULL, "PostgreSQL holds a key of %d bytes", PQgetlength(r, i, 0));
			cb = kl_fail(err, KL_ECORRUPT, "a stored key is damaged");
		} else if ((cb = store_pg_row_version(r, i, 2, &ver, err)) == 0) {
			cb = fn(arg, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0),
				PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1), ver, err);
			/* a callback that forgot to say why still fails the scan */
			if (cb < 0 && err != NULL && err->code == KL_OK)
				kl_fail(err, KL_EINTERNAL, "a store scan was aborted");
		}
	}
	return cb < 0 ? -1 : cb;
}

static int pg_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
		   size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	unsigned char from[STORE_KEY_MAX], end[STORE_KEY_MAX];
	const void *p[2] = { from, end };
	size_t len[2];
	PGresult *r = NULL;
	bool inclusive;
	int n, cb = 0, rc = -1;

	/* Start at the larger of prefix (itself included) and after (excluded), as LMDB does. */
	inclusive = after_len == 0 || store_pg_key_cmp(after, after_len, prefix, prefix_len) < 0;
	len[0] = inclusive ? prefix_len : after_len;
	if (len[0] > 0)
		memcpy(from, inclusive ? prefix : after, len[0]);
	len[1] = prefix_end(prefix, prefix_len, end);
	do {
		PQclear(r);
		r = NULL;
		if (store_pg_run_read(s, scan_st[inclusive][len[1] > 0], len[1] > 0 ? 2 : 1, p, len,
			     "scan", true, &r, err) != 0)
			goto out;
		/* The connection is back in the pool: fn may call the store. */
		if ((cb = scan_batch(r, fn, arg, err)) < 0)
			goto out;
		n = PQntuples(r);
		if (n > 0) {	/* the next batch starts after the last key of this one */
			len[0] = (size_t)PQgetlength(r, n - 1, 0);
			memcpy(from, PQgetvalue(r, n - 1, 0), len[0]);
			inclusive = false;
		}
	} while (cb == 0 && n == SCAN_BATCH);
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* --- open and close ---------------------------------------------------------------------- */

static int pg_role(struct store *st, enum store_role *role, struct store_repl *repl,
		   struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	PGresult *r = NULL;
	int rc = -1;

	if (store_pg_run_read(s, ST_ROLE, 0, NULL, NULL, "role", false, &r, err) != 0)
		goto out;
	if (PQntuples(r) != 1 || PQnfields(r) != 6 || PQgetlength(r, 0, 0) != 1 ||
	    PQgetlength(r, 0, 1) != 1 || PQgetlength(r, 0, 2) != 8 ||
	    PQgetlength(r, 0, 3) != 1 || PQgetlength(r, 0, 4) != 8 ||
	    PQgetlength(r, 0, 5) != 8) {
		kl_fail(err, KL_EINTERNAL, "pg_is_in_recovery() gave an unexpected answer");
		goto out;
	}
	*role = PQgetvalue(r, 0, 0)[0] ? STORE_STANDBY : STORE_PRIMARY;
	repl->streaming = *role == STORE_STANDBY && PQgetvalue(r, 0, 1)[0];
	repl->lag_ms = (int64_t)rec_from_be64((const unsigned char *)PQgetvalue(r, 0, 2));
	repl->paused = PQgetvalue(r, 0, 3)[0] != 0;
	repl->replayed_at_ms = (int64_t)rec_from_be64((const unsigned char *)PQgetvalue(r, 0, 4));
	repl->wal_pos = rec_from_be64((const unsigned char *)PQgetvalue(r, 0, 5));
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* pg_wal_replay_resume(), pg_wal_replay_pause() or pg_promote(): EXECUTE on them is the
 * superuser's unless granted. A promotion waits for its end, up to PROMOTE_WAIT_S. */
#define PROMOTE_WAIT_S 50
static const char *const promote_fn[] = { "pg_wal_replay_resume()", "pg_wal_replay_pause()",
					  "pg_promote(boolean, integer)" };
static const char *const promote_sql[] = { "SELECT pg_wal_replay_resume()",
					   "SELECT pg_wal_replay_pause()",
					   "SELECT pg_promote(true, 50)" };	/* PROMOTE_WAIT_S */

static int pg_promote(struct store *st, enum store_promote_step step, struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	bool pause_only = step != STORE_PROMOTE;
	const char *sql = promote_sql[step];
	PGresult *r = NULL;
	uint64_t epoch;
	PGconn *c;
	enum pg_fault f = FAULT_NONE;
	int rc = -1;

	if ((c = store_pg_take(s, &epoch, store_pg_deadline(s), (PROMOTE_WAIT_S + 10) * 1000,
			       err)) == NULL)
		goto out;
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_FATAL_ERROR && store_pg_sqlstate_is(r, "55000")) {
		kl_fail(err, KL_EINVAL, "the store's database is not a standby");
	} else if (PQresultStatus(r) == PGRES_FATAL_ERROR && store_pg_sqlstate_is(r, "42501")) {
		kl_fail(err, KL_EFORBIDDEN, "the store's database role may not call %s: grant it "
			"EXECUTE on it", promote_fn[step]);
	} else if ((f = store_pg_check(c, r, PGRES_TUPLES_OK, pause_only ? "pause" : "promote",
				       err)) == FAULT_NONE) {
		if (!pause_only && (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "t") != 0))
			kl_fail(err, KL_EUNAVAIL, "the store's database did not finish its "
				"promotion within %d s", PROMOTE_WAIT_S);
		else
			rc = 0;
	}
	store_pg_give(s, c, epoch, f);
out:
	PQclear(r);
	return rc;
}

static void pg_close(struct store *st)
{
	struct store_pg *s = (struct store_pg *)st;
	size_t i;

	/* Every call has returned by now, so every slot is idle. */
	for (i = 0; i < s->n_idle; i++)
		PQfinish(s->idle[i].conn);
	if (s->n_idle != s->pool_size)
		LOG_ERROR(NULL, "the store was closed with %zu connections in use",
			  s->pool_size - s->n_idle);
	if (s->conninfo != NULL) {
		explicit_bzero(s->conninfo, strlen(s->conninfo));
		free(s->conninfo);
	}
	store_pg_monitor_free(s);
	LOG_DEBUG(NULL, "the store served %llu get_many calls with %llu statements",
		  (unsigned long long)atomic_load(&s->read_calls),
		  (unsigned long long)atomic_load(&s->read_groups));
	store_pg_hung_destroy(s);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	store_pg_many_destroy(s);
	free(s->idle);
	free(s);
}

static const struct store_vtable pg_vtable = {
	.get = pg_get,
	.scan = pg_scan,
	.txn = store_pg_txn,
	.get_many = store_pg_get_many,
	.role = pg_role,
	.promote = pg_promote,
	.maintain = store_pg_maintain,
	.close = pg_close,
	.name = "postgres",
};

struct store *store_pg_open(const char *conninfo, size_t pool_size, struct kl_err *err)
{
	struct store_pg *s = NULL;
	struct store *st = NULL;
	PQconninfoOption *opts = NULL;
	PGconn *c = NULL;
	char *perr = NULL;

	if (conninfo == NULL || conninfo[0] == '\0') {
		kl_fail(err, KL_EINVAL, "the store needs a PostgreSQL connection string");
		goto out;
	}
	/* libpq's reason is not passed on: it may quote the string, password and all. */
	if ((opts = PQconninfoParse(conninfo, &perr)) == NULL) {
		kl_fail(err, perr != NULL ? KL_EINVAL : KL_ENOMEM,
			"the PostgreSQL connection string is malformed (expected key=value "
			"pairs or a postgresql:// URI)");
		goto out;
	}
	if (pool_size < 1 || pool_size > STORE_PG_POOL_MAX) {
		kl_fail(err, KL_EINVAL, "the store's pool needs 1 to %d connections",
			STORE_PG_POOL_MAX);
		goto out;
	}
	if (!PQisthreadsafe()) {
		kl_fail(err, KL_EINTERNAL, "this libpq is not thread-safe");
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->conninfo = strdup(conninfo)) == NULL ||
	    (s->idle = calloc(pool_size, sizeof(*s->idle))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	s->base.vt = &pg_vtable;
	s->pool_size = pool_size;
	atomic_init(&s->wait_ms, FAILOVER_WAIT_MS);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	store_pg_many_init(s);
	s->n_idle = pool_size;	/* all empty: connected on first use */
	if (store_pg_hung_init(s, err) != 0 || (c = pg_connect(s, false, err)) == NULL ||
	    store_pg_ensure_table(c, err) != 0 || prepare_all(c, err) != 0)
		goto out;
	s->idle[pool_size - 1].conn = c;	/* on top */
	c = NULL;
	st = &s->base;	/* the caller owns it now */
	s = NULL;
out:
	PQfinish(c);
	if (s != NULL && s->idle == NULL) {
		if (s->conninfo != NULL)
			explicit_bzero(s->conninfo, strlen(s->conninfo));
		free(s->conninfo);
		free(s);
	} else if (s != NULL) {
		pg_close(&s->base);
	}
	PQconninfoFree(opts);
	PQfreemem(perr);
	return st;
}

void store_pg_set_failover_wait(struct store *st, unsigned ms)
{
	atomic_store(&((struct store_pg *)st)->wait_ms, ms);
}
