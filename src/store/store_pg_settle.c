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
 * A transaction still running on the server when the fence arrives holds the marker's unique key:
 * the fence waits for it to end, and sees which way it went. The fence always writes (a row, or an
 * update of the row), so its own COMMIT waits for the synchronous standbys, which then hold
 * everything before it, the transaction's commit included: a found marker is as durable as an
 * acknowledged write. A fence whose answer is lost, or whose wait for the standbys is canceled, is
 * simply sent again: fencing is idempotent.
 *
 * Markers are needed only while a settle may run (a failover wait); a sweep deletes those older
 * than MARKER_KEEP_S, at most once a SWEEP_EVERY_MS per node, on a connection a transaction has
 * just used. Never logs or copies a key or a value. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "store/store_pg_internal.h"
#include "util/log.h"

#define SWEEP_EVERY_MS 60000
#define MARKER_KEEP_S "300"	/* far longer than a failover wait */

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
		*f = FAULT_LINK;
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
		if ((c = store_pg_take(s, &epoch, deadline, err)) == NULL)
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

void store_pg_sweep_markers(struct store_pg *s, PGconn *c)
{
	uint64_t now = store_pg_mono_ms(), last = atomic_load(&s->sweep_ms);
	PGresult *r;

	if (now - last < SWEEP_EVERY_MS || !atomic_compare_exchange_strong(&s->sweep_ms, &last, now))
		return;
	r = PQexec(c, "DELETE FROM " MARKERS " WHERE at < now() - interval '" MARKER_KEEP_S
		      " seconds'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		LOG_WARN(NULL, "could not delete old commit markers: %.200s",
			 PQresultErrorMessage(r));
	PQclear(r);
}
