/* Idempotency records of the creates that make an object version (SetSecret, CreateKey,
 * ImportKey, RotateKey): a client whose answer was lost after the commit retries with the same
 * x-ms-client-request-id, and gets the version the first request made instead of a second one.
 *
 * A create that carries a struct obj_idem reads its record in the same store round trip as the
 * name's heads (objcreate.c), and writes it in the same transaction as the version, checked absent
 * (or at the version of the expired record it replaces), so that concurrent retries of one id make
 * one version. The record lives IDEM_RETENTION_S; the jobs sweep it after (idemsweep.c).
 *
 * Key: i/<vault>/<hex SHA-256 of the principal's identity and the client request id> (keyspace.h),
 * so a principal never receives another's answer. Value: IDEM_FORMAT, the kind's tag, the creation
 * time (Unix seconds), the version id, and the request's fingerprint sealed under the data key with
 * the record's key as additional data: the fingerprint hashes the request body, which may hold a
 * secret value or a private key, and a plain digest of a weak secret could be guessed offline.
 * Thread safety: every function may run concurrently; they keep no state. */
#ifndef KLUIS_VAULT_IDEM_H
#define KLUIS_VAULT_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct vault_core;
struct principal_ref;
struct store_read;

/* How long a record answers retries: longer than the SDKs' whole retry schedule
 * (docs/availability.md, "Retried creates"). */
#define IDEM_RETENTION_S 600
#define IDEM_DIGEST_LEN 32

/* One request's idempotency, made by idem_prepare; wipe it when done (the fingerprint is derived
 * from the body). */
struct obj_idem {
	unsigned char id[IDEM_DIGEST_LEN];		/* who and which client request id */
	unsigned char fingerprint[IDEM_DIGEST_LEN];	/* what exactly was asked */
};

/* Fills out for a request of principal who (the admin token or a principal: each is its own
 * identity) carrying client_request_id (non-empty), for the operation op on the object name as
 * given, with the request body as received. The API layer calls it; the digests are SHA-256 over
 * length-prefixed parts, so no two different requests share an input. */
int idem_prepare(struct obj_idem *out, const struct principal_ref *who,
		 const char *client_request_id, const char *op, const char *name, const void *body,
		 size_t body_len, struct kl_err *err);

/* ---- for vault/ (objcreate.c, idemsweep.c) and the tests ---- */

/* A record as stored. */
struct idem_rec {
	char tag;		/* the kind's tag in store keys: 's', 'k' */
	int64_t created;	/* Unix seconds: the version's creation time */
	char version[33];	/* the version id the create made */
	unsigned char fingerprint[IDEM_DIGEST_LEN];
};

/* The record of key (its store key) into out, its fingerprint sealed under core's data key. */
int idem_rec_encode(const struct vault_core *core, const char *key, const struct idem_rec *rec,
		    struct buf *out, struct kl_err *err);
/* The stored value p of key into rec, its fingerprint opened. KL_ECORRUPT when damaged. */
int idem_rec_decode(const struct vault_core *core, const char *key, const void *p, size_t n,
		    struct idem_rec *rec, struct kl_err *err);
/* Only the creation time of a stored value, without opening anything (the sweep); false when the
 * value is not a record of this format. */
bool idem_rec_created(const void *p, size_t n, int64_t *created);

/* What a create does with its record r (read under key with the heads), at now: */
enum idem_verdict {
	IDEM_NEW,	/* none, expired or damaged: create, and write the record (checked at
			 * r->version, 0 when absent) */
	IDEM_REPLAY,	/* the same request within the retention: answer with rec->version */
};
/* Returns the verdict (rec filled for IDEM_REPLAY), or -1: the id was used for another request
 * (KL_ECONFLICT "Conflict", inner code ClientRequestIdReused), or the store failed. tag is the
 * create's kind. */
int idem_judge(const struct vault_core *core, const char *key, const struct obj_idem *idem,
	       char tag, const struct store_read *r, int64_t now, struct idem_rec *rec,
	       struct kl_err *err);

/* idemsweep.c: deletes the records created more than IDEM_RETENTION_S before now, each checked
 * at the version it was read at (a concurrent writer wins; that batch waits for the next sweep),
 * IDEM_SWEEP_BATCH per transaction. *n_deleted counts them. Run by the jobs and by tests. */
#define IDEM_SWEEP_BATCH 256
int idem_sweep(struct vault_core *core, int64_t now, size_t *n_deleted, struct kl_err *err);

#endif
