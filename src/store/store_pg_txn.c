/* store_pg_txn.c owns the PostgreSQL backend's transactions and its schema (its creation and
 * migrations, and the server-side function kluis_kv_txn). The pool, reads and the guarantees of
 * the backend as a whole are store_pg.c's (see its header comment). It never logs or puts in an
 * error a key's or a value's contents.
 *
 * A transaction is one round trip: its ops go as arrays to kluis_kv_txn (checks first, then
 * writes; false when a check fails), and BEGIN ISOLATION LEVEL SERIALIZABLE, SELECT
 * kluis_kv_txn(...), COMMIT, a sync, ROLLBACK and a sync are sent in one libpq pipeline. The
 * ROLLBACK ends a transaction that failed (the server skips what follows a failed step up to the
 * first sync) without a round trip of its own; after a COMMIT it does nothing. A serialization
 * failure (40001, 40P01) runs the whole transaction again, a bounded number of times; a server
 * that takes no writes is waited for as store_pg.c says.
 *
 * Since the COMMIT leaves with the rest, a connection lost after the pipeline was sent and before
 * COMMIT's answer came leaves the outcome unknown (the server may have run it all), unless the
 * server's own answer to an earlier step (an error, or the FATAL of a session it ended) shows that
 * COMMIT never ran. An unknown outcome is settled (store_pg_settle.c: each run carries a commit
 * marker, and a fence of it on a writable primary says whether the run committed or never will):
 * a run that committed is a success, one that never will is run again with a new marker (three
 * lost answers in a row: KL_EUNAVAIL, not applied). KL_EOUTCOME is left for what cannot be
 * settled: no writable primary within the failover wait, a fence that fails otherwise, a run sent
 * longer than SETTLE_TRUST_MS before. A connection found lost before anything was sent is
 * replaced and the transaction run again once. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_pg_internal.h"
#include "util/log.h"
#include "util/rec.h"

#define SERIAL_TRIES 40		/* a transaction's runs before it gives up on serialization */
#define SETTLES 3		/* runs whose answer was lost, settled as not applied, before giving up */
/* A fence that says "never committed" is believed only this long after its run was sent: the
 * marker cannot have been swept yet (store_pg_settle.c keeps markers three times as long). */
#define SETTLE_TRUST_MS (5 * 60 * 1000)

static int migrate(PGconn *c, struct kl_err *err);

/* A transaction as the parameters of kluis_kv_txn(marker, kinds, keys, vals, versions) (see
 * migrate): the run's commit marker, one byte per op, then three binary arrays (bytea[], bytea[],
 * int8[]). */
struct txn_args {
	unsigned char marker[STORE_PG_MARKER_LEN];
	struct buf kinds, keys, vals, versions;
	const char *p[5];
	int len[5];
};

static void txn_args_clear(struct txn_args *a)
{
	buf_clear(&a->kinds);
	buf_clear(&a->keys);
	buf_clear(&a->vals);
	buf_clear(&a->versions);
}

static int txn_args_make(const struct store_op *ops, size_t n, struct txn_args *a,
			 struct kl_err *err)
{
	unsigned char kind, be[8];
	size_t i;
	int rc = -1;

	buf_init(&a->kinds, n + 1);
	buf_init(&a->keys, INT_MAX);
	buf_init(&a->vals, INT_MAX);
	buf_init(&a->versions, INT_MAX);
	if (n > INT_MAX / 12 || store_pg_array_begin(&a->keys, BYTEA_OID, n, err) != 0 ||
	    store_pg_array_begin(&a->vals, BYTEA_OID, n, err) != 0 ||
	    store_pg_array_begin(&a->versions, INT8_OID, n, err) != 0) {
		if (err->code == KL_OK)
			kl_fail(err, KL_ETOOBIG, "a store transaction is too large for PostgreSQL");
		goto out;
	}
	for (i = 0; i < n; i++) {
		kind = ops[i].kind == STORE_PUT ? 'p' : ops[i].kind == STORE_DEL ? 'd' : 'c';
		/* a checked version past what PostgreSQL can hold never matches: -1 */
		rec_be64(be, ops[i].kind != STORE_CHECK ? 0
			     : ops[i].version > INT64_MAX ? UINT64_MAX
							   : ops[i].version);
		if (buf_append(&a->kinds, &kind, 1, err) != 0 ||
		    store_pg_array_elem(&a->keys, ops[i].key, ops[i].key_len, err) != 0 ||
		    store_pg_array_elem(&a->vals, ops[i].val,
					ops[i].kind == STORE_PUT ? ops[i].val_len : 0, err) != 0 ||
		    store_pg_array_elem(&a->versions, be, sizeof(be), err) != 0)
			goto out;
	}
	if (store_pg_marker_new(a->marker, err) != 0)
		goto out;
	a->p[0] = (const char *)a->marker;
	a->p[1] = (const char *)a->kinds.data;
	a->p[2] = (const char *)a->keys.data;
	a->p[3] = (const char *)a->vals.data;
	a->p[4] = (const char *)a->versions.data;
	a->len[0] = STORE_PG_MARKER_LEN;
	a->len[1] = (int)a->kinds.len;
	a->len[2] = (int)a->keys.len;
	a->len[3] = (int)a->vals.len;
	a->len[4] = (int)a->versions.len;
	rc = 0;
out:
	return rc;
}

/* The steps of one run, sent together in one pipeline: BEGIN; SELECT kluis_kv_txn(...); COMMIT;
 * sync; then ROLLBACK; sync. The ROLLBACK ends a transaction that failed (the server skips what
 * follows a failed step up to the first sync) so that the connection is usable again without a
 * round trip of its own; after a COMMIT it is a no-op (a warning, dropped). */
enum txn_step { STEP_BEGIN, STEP_CALL, STEP_COMMIT, STEP_SYNC, STEP_ROLLBACK, STEP_END, STEPS };

static int txn_send(PGconn *c, const struct txn_args *a, enum txn_step *sent)
{
	static const Oid types[5] = { BYTEA_OID, BYTEA_OID, BYTEA_ARRAY_OID, BYTEA_ARRAY_OID,
				      INT8_ARRAY_OID };
	static const int formats[5] = { BINARY, BINARY, BINARY, BINARY, BINARY };

	*sent = STEP_BEGIN;	/* nothing of the transaction has left yet */
	if (PQenterPipelineMode(c) != 1 ||
	    PQsendQueryParams(c, "BEGIN ISOLATION LEVEL SERIALIZABLE", 0, NULL, NULL, NULL, NULL,
			      BINARY) != 1 ||
	    PQsendQueryParams(c, "SELECT " TABLE "_txn($1, $2, $3, $4, $5)", 5, types, a->p,
			      a->len, formats, BINARY) != 1)
		return -1;
	*sent = STEP_COMMIT;	/* from here the COMMIT may have reached the server */
	if (PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, BINARY) != 1 ||
	    PQpipelineSync(c) != 1 ||
	    PQsendQueryParams(c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, BINARY) != 1 ||
	    PQpipelineSync(c) != 1)
		return -1;
	*sent = STEP_END;
	return 0;
}

/* The result of the next step (the NULL that ends it consumed); NULL when there is none (the
 * connection broke). */
static PGresult *step_result(PGconn *c)
{
	PGresult *r = PQgetResult(c), *extra;

	if (r != NULL && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
		while ((extra = PQgetResult(c)) != NULL)	/* one result a step: never more */
			PQclear(extra);
	return r;
}

/* What the result of step says. On a failure, err is filled and the fault returned. */
static enum pg_fault step_check(PGconn *c, const PGresult *r, enum txn_step step, bool *applied,
				bool *answered, struct kl_err *err)
{
	static const ExecStatusType want[STEPS] = { PGRES_COMMAND_OK, PGRES_TUPLES_OK,
						    PGRES_COMMAND_OK, PGRES_PIPELINE_SYNC,
						    PGRES_COMMAND_OK, PGRES_PIPELINE_SYNC };
	static const char *const what[STEPS] = { "begin", "transaction", "commit", "sync",
						  "rollback", "sync" };
	enum pg_fault f;

	if (r != NULL && PQresultStatus(r) == PGRES_PIPELINE_ABORTED)
		return FAULT_OTHER;	/* an earlier step failed and said why */
	/* A hot standby refuses SERIALIZABLE (0A000) before it would refuse a write. */
	if (step == STEP_BEGIN && r != NULL && store_pg_sqlstate_is(r, "0A000")) {
		store_pg_fault_err(err, FAULT_READONLY, what[step]);
		return FAULT_READONLY;
	}
	/* a schema from before kluis_kv_txn: a standby promoted under this node (migrate) */
	if (step == STEP_CALL && r != NULL && store_pg_sqlstate_is(r, "42883")) {
		kl_fail(err, KL_EINTERNAL, "the store's schema lacks " TABLE "_txn");
		return FAULT_SCHEMA;
	}
	if ((f = store_pg_check(c, r, want[step], what[step], err)) != FAULT_NONE)
		return f;
	if (step == STEP_CALL) {
		*applied = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 1 && PQgetvalue(r, 0, 0)[0];
		*answered = true;
	} else if (step == STEP_COMMIT && strcmp(PQcmdStatus((PGresult *)r), "COMMIT") != 0) {
		/* COMMIT of a transaction that failed answers "ROLLBACK", not an error */
		LOG_ERROR(NULL, "PostgreSQL answered COMMIT with %.32s",
			  PQcmdStatus((PGresult *)r));
		kl_fail(err, KL_EINTERNAL, "the store's transaction was rolled back");
		f = FAULT_OTHER;
	}
	return f;
}

/* Runs the transaction once on c, in one round trip. 0, or -1 with err filled and *f saying
 * whether running it again could help (FAULT_NONE for a failed check). *unknown is set when the
 * connection was lost once the COMMIT may have reached the server and before its answer came:
 * the write may or may not have been applied. */
static int txn_once(PGconn *c, const struct txn_args *a, enum pg_fault *f, bool *unknown,
		    struct kl_err *err)
{
	enum txn_step step, sent, first = STEPS;
	struct kl_err later = { 0 };
	bool applied = false, answered = false, server_said;
	enum pg_fault g;
	PGresult *r;
	int rc = -1;

	*f = FAULT_NONE;
	*unknown = false;
	store_pg_unreplicated_reset();
	/* A pipeline not sent whole is not read (the server may never answer it): the connection
	 * is dropped, and the outcome unknown once the COMMIT may have left. */
	if (txn_send(c, a, &sent) != 0) {
		*f = store_pg_check(c, NULL, PGRES_COMMAND_OK, "send", err);	/* FAULT_LINK */
		*unknown = sent >= STEP_COMMIT;
		goto out;
	}
	/* Every step's result, in order; the first failure is the one that counts. */
	for (step = STEP_BEGIN; step < STEPS; step++) {
		r = step_result(c);
		g = step_check(c, r, step, &applied, &answered, first == STEPS ? err : &later);
		server_said = r != NULL && PQresultErrorField(r, PG_DIAG_SQLSTATE) != NULL;
		PQclear(r);
		if (g != FAULT_NONE && first == STEPS) {
			first = step;
			*f = g;
			/* Lost once the COMMIT may have left: the server may have run it all. Only
			 * the server's own refusal of a step before COMMIT (it ended the session
			 * there, so COMMIT never ran), or the function's answer that a check failed
			 * (it wrote nothing, so there is nothing to commit), says otherwise. */
			*unknown = g == FAULT_LINK && sent >= STEP_COMMIT && step <= STEP_COMMIT &&
				   !(step < STEP_COMMIT && server_said) && !(answered && !applied);
		}
		if (PQstatus(c) != CONNECTION_OK)
			break;
	}
	if (first == STEP_COMMIT && answered && !applied && *f == FAULT_LINK) {
		/* a check failed, nothing was written: the loss changes nothing (the broken
		 * connection is dropped when next taken) */
		kl_err_clear(err);
		kl_fail(err, KL_ECONFLICT, "the record changed concurrently");
		*f = FAULT_NONE;
		goto out;
	}
	if (first <= STEP_COMMIT)
		goto out;	/* failed, or its outcome is unknown */
	/* Committed locally while the wait for the synchronous standbys was canceled: a failover
	 * now could lose it, so it is not acknowledged as durable. */
	if (applied && store_pg_unreplicated()) {
		LOG_WARN(NULL, "a commit's wait for the synchronous standbys was canceled");
		kl_fail(err, KL_EUNAVAIL, "the store's database canceled a commit's replication");
		*f = FAULT_OTHER;
		*unknown = true;
		goto out;
	}
	/* COMMIT answered: only the trailing ROLLBACK may have failed, which changes nothing of the
	 * outcome (a connection it left broken is dropped when next taken) */
	*f = FAULT_NONE;
	kl_err_clear(err);
	if (!applied) {
		kl_fail(err, KL_ECONFLICT, "the record changed concurrently");
		goto out;
	}
	rc = 0;
out:
	/* A connection that could not be brought back out of the pipeline is not reused. */
	if (PQstatus(c) == CONNECTION_OK && PQexitPipelineMode(c) != 1 && *f == FAULT_NONE)
		*f = FAULT_OTHER;
	return rc;
}

/* A pause before a transaction is run again after a serialization failure, growing with the
 * tries and random, so that the transactions that collided do not collide again. */
static void serial_backoff(unsigned tries, unsigned *seed)
{
	unsigned cap_us = 500u << (tries < 6 ? tries : 6);	/* up to 32 ms */
	struct timespec ts = { 0 };

	ts.tv_nsec = (long)(rand_r(seed) % cap_us) * 1000;
	nanosleep(&ts, NULL);
}

int store_pg_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	struct txn_args a;
	enum pg_fault f = FAULT_NONE;
	unsigned serial = 0, relinks = 0, settles = 0, seed;
	uint64_t sent_ms;
	struct timespec now;
	bool unknown = false, migrated = false, landed = false;
	uint64_t epoch, deadline = store_pg_deadline(s);
	PGconn *c;
	int rc = -1;

	if (txn_args_make(ops, n_ops, &a, err) != 0)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &now);
	seed = (unsigned)now.tv_nsec ^ (unsigned)(uintptr_t)&seed;
	for (;;) {
		if ((c = store_pg_take(s, &epoch, deadline, HUNG_WRITE_MS, err)) == NULL)
			break;
		sent_ms = store_pg_mono_ms();
		rc = txn_once(c, &a, &f, &unknown, err);
		if (rc != 0 && f == FAULT_SCHEMA && !migrated) {
			migrated = true;	/* once: bring the schema up to date, run again */
			kl_err_clear(err);
			store_pg_lease(s, c, HUNG_SCHEMA_MS);
			f = migrate(c, err) == 0 ? FAULT_NONE : FAULT_OTHER;
			store_pg_give(s, c, epoch, f);
			if (f == FAULT_NONE)
				continue;
			break;
		}
		store_pg_give(s, c, epoch, f);
		if (rc == 0 || (f == FAULT_NONE && !unknown))
			break;
		/* its answer lost: find out whether it committed; if it never will, run it again */
		if (unknown) {
			if (store_pg_settle(s, a.marker, &landed, err) != 0)
				goto unknown;
			if (landed) {
				rc = 0;
				break;
			}
			/* "never committed" from a marker possibly swept since: not believed */
			if (store_pg_mono_ms() - sent_ms > SETTLE_TRUST_MS)
				goto unknown;
			if (++settles >= SETTLES) {
				kl_fail(err, KL_EUNAVAIL, "the store's database lost the answer to this "
					"write %d times; it was not applied", SETTLES);
				break;
			}
			if (store_pg_marker_new(a.marker, err) != 0)
				break;
			continue;
		}
		if (f == FAULT_SERIAL && ++serial < SERIAL_TRIES) {
			if (serial > 1)
				serial_backoff(serial, &seed);
			continue;
		}
		if (f == FAULT_LINK && !unknown && ++relinks < 2)
			continue;
		/* a server that takes no writes: a primary not yet promoted, or one being demoted */
		if (f == FAULT_READONLY && store_pg_wait_step(deadline)) {
			relinks++;
			kl_err_clear(err);
			continue;
		}
		if (f == FAULT_SERIAL)
			LOG_ERROR(NULL, "gave up a transaction after %u serialization failures",
				  serial);
		break;
	}
	if (rc == 0 && (serial > 0 || relinks > 0 || migrated || settles > 0 || landed))
		kl_err_clear(err);	/* the failures before were overcome */
	goto out;
unknown:
	kl_fail(err, KL_EOUTCOME, "the store's database was lost during a commit, and it could not "
		"be settled whether the write was applied");
out:
	txn_args_clear(&a);
	return rc;
}

/* --- the schema ----------------------------------------------------------------------------- */

/* The table's columns as this file uses them: name, type. */
static int check_table(PGconn *c, struct kl_err *err)
{
	static const Oid types[] = { BYTEA_OID, BYTEA_OID, INT8_OID };
	PGresult *r = PQexec(c, "SELECT key, value, version FROM " TABLE " LIMIT 0");
	int i, rc = -1;

	if (store_pg_check(c, r, PGRES_TUPLES_OK, "check the table", err) != FAULT_NONE)
		goto out;
	for (i = 0; i < 3; i++)
		if (PQnfields(r) != 3 || PQftype(r, i) != types[i]) {
			kl_fail(err, KL_ECORRUPT, "the table " TABLE
				" is not (key bytea, value bytea, version bigint)");
			goto out;
		}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* The schema's version is the table's comment, "kluis-schema N". A table without one is from
 * before versions (the same layout as version 1). A newer version than this kluisd knows is
 * refused: an old node must not write into a schema it does not understand. */
#define SCHEMA_VERSION 3
#define SCHEMA_COMMENT "kluis-schema 3"
#define SCHEMA_LOCK "7021741163"	/* pg_advisory_xact_lock key: "kluis" as a number, roughly */

static int schema_version(PGconn *c, int *version, struct kl_err *err)
{
	PGresult *r = PQexec(c, "SELECT obj_description('" TABLE "'::regclass, 'pg_class')");
	const char *v;
	int rc = -1;

	if (store_pg_check(c, r, PGRES_TUPLES_OK, "read the schema version", err) != FAULT_NONE)
		goto out;
	v = PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0);
	if (v == NULL) {
		*version = 0;
	} else if (strncmp(v, "kluis-schema ", 13) != 0 || (*version = atoi(v + 13)) < 1) {
		kl_fail(err, KL_ECORRUPT, "the table " TABLE " carries a comment that is not a kluis "
			"schema version");
		goto out;
	}
	rc = 0;
out:
	PQclear(r);
	return rc;
}

/* The bodies of the transaction functions (schema 2's and 3's): every check, then every write. */
#define TXN_CHECKS                                                                                 \
	"  FOR i IN 1 .. length(kinds) LOOP\n"                                                     \
	"    IF get_byte(kinds, i - 1) = 99 THEN\n"                                                \
	"      SELECT t.version INTO v FROM " TABLE " t WHERE t.key = keys[i];\n"                  \
	"      IF COALESCE(v, 0) <> versions[i] THEN RETURN false; END IF;\n"                     \
	"    END IF;\n"                                                                           \
	"  END LOOP;\n"
#define TXN_WRITES                                                                                 \
	"  FOR i IN 1 .. length(kinds) LOOP\n"                                                     \
	"    IF get_byte(kinds, i - 1) = 112 THEN\n"                                               \
	"      INSERT INTO " TABLE " AS t (key, value, version)\n"                                 \
	"        VALUES (keys[i], vals[i], 1) ON CONFLICT (key)\n"                                 \
	"        DO UPDATE SET value = EXCLUDED.value, version = t.version + 1;\n"                 \
	"    ELSIF get_byte(kinds, i - 1) = 100 THEN\n"                                            \
	"      DELETE FROM " TABLE " t WHERE t.key = keys[i];\n"                                   \
	"    END IF;\n"                                                                           \
	"  END LOOP;\n"                                                                           \
	"  RETURN true;\n"                                                                        \
	"END\n"                                                                                   \
	"$fn$"

/* Creates the table, or brings an older schema up to SCHEMA_VERSION, in one transaction under an
 * advisory lock, so that nodes starting together do it once and never half. */
static int migrate(PGconn *c, struct kl_err *err)
{
	static const char *const steps[] = {
		"BEGIN",
		"SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")",
		"CREATE TABLE IF NOT EXISTS " TABLE " (key bytea PRIMARY KEY, value bytea NOT NULL, "
		"version bigint NOT NULL)",
		/* versions 0 -> 1: the layout is the same; only the label is new */
		/* versions 1 -> 2: a transaction in one statement, so in one round trip (pg_txn):
		 * kinds holds one byte per op ('p' put, 'd' delete, 'c' check); every check is
		 * evaluated before any write; false, with nothing written, when a check fails. */
		"CREATE OR REPLACE FUNCTION " TABLE "_txn(kinds bytea, keys bytea[], vals bytea[], "
		"versions bigint[]) RETURNS boolean LANGUAGE plpgsql AS $fn$\n"
		"DECLARE i int; v bigint;\n"
		"BEGIN\n"
		TXN_CHECKS
		TXN_WRITES,
		/* versions 2 -> 3: commit markers (store_pg_settle.c). The marker goes in once the
		 * checks have passed, so that it is committed exactly when the writes are; a
		 * marker already there (a fence) fails the transaction. The four-argument function
		 * stays for the nodes of version 2 still running during an upgrade. */
		"CREATE TABLE IF NOT EXISTS " MARKERS " (id bytea PRIMARY KEY, "
		"fence boolean NOT NULL DEFAULT false, at timestamptz NOT NULL DEFAULT now())",
		"CREATE INDEX IF NOT EXISTS " MARKERS "_at ON " MARKERS " (at)",
		"CREATE OR REPLACE FUNCTION " TABLE "_txn(marker bytea, kinds bytea, keys bytea[], "
		"vals bytea[], versions bigint[]) RETURNS boolean LANGUAGE plpgsql AS $fn$\n"
		"DECLARE i int; v bigint;\n"
		"BEGIN\n"
		TXN_CHECKS
		"  INSERT INTO " MARKERS " (id) VALUES (marker);\n"
		TXN_WRITES,
		"COMMENT ON TABLE " TABLE " IS '" SCHEMA_COMMENT "'",
		"COMMIT",
	};
	PGresult *r;
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		r = PQexec(c, steps[i]);
		if (store_pg_check(c, r, i == 1 ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
				   "create the schema", err) != FAULT_NONE) {
			PQclear(r);
			PQclear(PQexec(c, "ROLLBACK"));
			return -1;
		}
		PQclear(r);
	}
	return 0;
}

/* Opens the schema: creates or migrates it on a primary; on a read-only standby only checks that
 * it is there and not newer than this kluisd. */
int store_pg_ensure_table(PGconn *c, struct kl_err *err)
{
	PGresult *r = PQexec(c, "SELECT to_regclass('" TABLE "') IS NOT NULL, pg_is_in_recovery()");
	bool exists, standby;
	int version = 0, rc = -1;

	if (store_pg_check(c, r, PGRES_TUPLES_OK, "look for the table", err) != FAULT_NONE)
		goto out;
	exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	standby = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	/* a table of that name that is not ours is never labelled ours */
	if (exists && (check_table(c, err) != 0 || schema_version(c, &version, err) != 0))
		goto out;
	if (version > SCHEMA_VERSION) {
		kl_fail(err, KL_ECORRUPT, "the database has kluis schema %d, newer than this kluisd "
			"knows (%d): upgrade kluisd", version, SCHEMA_VERSION);
		goto out;
	}
	if (version < SCHEMA_VERSION && !standby && migrate(c, err) != 0)
		goto out;
	if (!exists && standby) {
		kl_fail(err, KL_EUNAVAIL, "the database is a standby without the table " TABLE
			": start a node on the primary first");
		goto out;
	}
	rc = check_table(c, err);
out:
	PQclear(r);
	return rc;
}
