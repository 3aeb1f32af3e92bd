/* store_pg_settle.c owns what the PostgreSQL backend does after a commit whose outcome it could
 * not see (KL_EOUTCOME's cases): it finds out, instead of handing the doubt to its caller.
 *
 * Every transaction carries a commit marker: 16 random bytes that kluis_kv_txn inserts into the
 * table kluis_commit once its checks have passed, so that the marker is committed exactly when the
 * transaction's writes are. After a lost answer, settling takes a connection to a writable primary
 * (waiting as a failover wait does) and fences the marker in one statement: an insert of the same
 * id marked "fence" that, on a conflict, takes the existing row instead. Exactly one of the two
 * inserts can commit, so:
 *   - the row is the transaction's own: it committed, and is on this primary;
 *   - the row is the fence: the transaction never committed here and never can (its insert of the
 *     marker would now fail), so running it again applies it once.
 * A run still going on the server when the fence arrives either holds the marker's unique key
 * already (the fence waits for its end and sees which way it went) or has not inserted it yet
 * (the fence's row wins, and the run's own insert fails: it never commits). The fence always writes (a row, or an
 * update of the row), so its own COMMIT waits for the synchronous standbys, which then hold
 * everything before it, the transaction's commit included: a found marker is as durable as an
 * acknowledged write. A fence whose answer is lost, or whose wait for the standbys is canceled, is
 * simply sent again: fencing is idempotent.
 *
 * A marker is needed only while its run may be settled. The job loop's housekeeping
 * (store_pg_maintain) deletes markers older than MARKER_KEEP_S by the database's clock, in bounded
 * batches; a settle trusts a fence that says "never committed" only within SETTLE_TRUST_MS of the
 * run's sending (store_pg_txn.c), far inside that keep, so that a marker swept meanwhile (a run
 * stuck for minutes on an old primary, clocks of two database hosts apart) is never taken for
 * "never committed" and run twice. Never logs or copies a key or a value. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "store/store_pg_internal.h"
#include "util/log.h"

#define MARKER_KEEP_S "900"	/* 15 minutes: three times SETTLE_TRUST_MS */
#define SWEEP_BATCH "5000"	/* markers deleted per statement */
#define SWEEP_BATCHES 20	/* statements per housekeeping call: 100,000 markers */

int store_pg_marker_new(unsigned char marker[STORE_PG_MARKER_LEN], struct kl_err *err)
{
	ssize_t n = getrandom(marker, STORE_PG_MARKER_LEN, 0);

	if (n != STORE_PG_MARKER_LEN)
		return kl_fail(err, KL_EINTERNAL, "no randomness for a commit marker");
	return 0;
}

/* One fence of marker on c: 0 with *landed set, or -1 with err and *f (what the fault says about
 * the connection and about trying again). */
static int fence_once(PGconn *c, const unsigned char *marker, bool *landed, enum pg_fault *f,
		      struct kl_err *err)
{
	static const Oid types[1] = { BYTEA_OID };
	static const int formats[1] = { BINARY };
	const char *p[1] = { (const char *)marker };
	const int len[1] = { STORE_PG_MARKER_LEN };
	PGresult *r;
	int rc = -1;

	store_pg_unreplicated_reset();
	r = PQexecParams(c,
			 "INSERT INTO " MARKERS " AS m (id, fence) VALUES ($1, true) "
			 "ON CONFLICT (id) DO UPDATE SET at = m.at RETURNING m.fence",
			 1, types, p, len, formats, 0);
	if ((*f = store_pg_check(c, r, PGRES_TUPLES_OK, "settle a commit", err)) != FAULT_NONE)
		goto out;
	if (store_pg_unreplicated()) {	/* the fence itself is not on the standbys yet */
		kl_fail(err, KL_EUNAVAIL, "the store's database canceled a commit's replication");
		*f = FAULT_BUSY;	/* the connection is fine: fence again on it */
		goto out;
	}
	if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 1) {
		kl_fail(err, KL_EINTERNAL, "the store's database answered a settle oddly");
		*f = FAULT_OTHER;
		goto out;
	}
	*landed = PQgetvalue(r, 0, 0)[0] == 'f';
	rc = 0;
out:
	PQclear(r);
	return rc;
}

int store_pg_settle(struct store_pg *s, const unsigned char *marker, bool *landed,
		    struct kl_err *err)
{
	uint64_t deadline = store_pg_deadline(s), epoch;
	enum pg_fault f = FAULT_OTHER;
	unsigned tries;
	PGconn *c;
	int rc = -1;

	for (tries = 0;; tries++) {
		if (tries > 0) {
			if (f != FAULT_SERIAL && !store_pg_wait_step(deadline))
				break;
			kl_err_clear(err);
		}
		if ((c = store_pg_take(s, &epoch, deadline, HUNG_WRITE_MS, err)) == NULL)
			break;
		rc = fence_once(c, marker, landed, &f, err);
		store_pg_give(s, c, epoch, f);
		if (rc == 0 || f == FAULT_OTHER || f == FAULT_SCHEMA || (f == FAULT_SERIAL && tries > 40))
			break;
	}
	if (rc == 0) {
		kl_err_clear(err);
		LOG_WARN(NULL, "a commit whose answer was lost was settled: %s",
			 *landed ? "it had been applied" : "it had not been applied, and never will be");
	}
	return rc;
}

int store_pg_maintain(struct store *st, struct kl_err *err)
{
	struct store_pg *s = (struct store_pg *)st;
	enum pg_fault f = FAULT_NONE;
	uint64_t epoch;
	PGresult *r = NULL;
	PGconn *c;
	int i, rc = -1;

	if ((c = store_pg_take(s, &epoch, 0, HUNG_WRITE_MS, err)) == NULL)
		return -1;
	for (i = 0; i < SWEEP_BATCHES; i++) {
		store_pg_lease(s, c, HUNG_WRITE_MS);	/* a limit for each batch */
		PQclear(r);
		r = PQexec(c, "DELETE FROM " MARKERS " WHERE id IN (SELECT id FROM " MARKERS
			      " WHERE at < now() - interval '" MARKER_KEEP_S " seconds' LIMIT "
			      SWEEP_BATCH ")");
		if ((f = store_pg_check(c, r, PGRES_COMMAND_OK, "delete old commit markers",
					err)) != FAULT_NONE)
			goto out;
		if (strcmp(PQcmdTuples(r), SWEEP_BATCH) != 0)
			break;	/* fewer than a batch: none older left */
	}
	rc = 0;
out:
	PQclear(r);
	store_pg_give(s, c, epoch, f);
	return rc;
}
