/* One write-retry loop for every change of vault/ that reads records, then commits a store
 * transaction whose checks hold only while those records are unchanged: the attempt count, the
 * randomised back-off after a conflict, the "changed too often concurrently" error, and the rule
 * that a commit of unknown outcome (KL_EOUTCOME) is never run again. Thread-safe: it keeps no
 * state of its own. */
#ifndef KLUIS_VAULT_TXNRETRY_H
#define KLUIS_VAULT_TXNRETRY_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"
#include "util/err.h"

#define VAULT_TXN_ATTEMPTS 32	/* attempts of a change unless it says otherwise */
#define VAULT_TXN_DONE 1	/* a build's answer: finished, nothing to commit */

struct vault_core;

struct vault_txn {
	/* One attempt (counting from 0): reads what it needs and points *ops at n_ops operations
	 * that stay valid until the next call. 0: commit them; VAULT_TXN_DONE: finished without a
	 * commit; -1: stop, with err filled. */
	int (*build)(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
		     struct kl_err *err);
	/* Optional, after the commit came back KL_EOUTCOME: true, with err cleared, when a read
	 * proves the commit applied. Without it, or false, KL_EOUTCOME is returned as it is. */
	bool (*landed)(void *arg, struct kl_err *err);
	/* Optional, after a conflict (err holds it): 0 retries, -1 stops with err as the hook leaves
	 * it (e.g. a refusal found by a read, or the conflict itself when a retry would be wrong). */
	int (*conflicted)(void *arg, struct kl_err *err);
	int attempts;		/* 0: VAULT_TXN_ATTEMPTS */
	const char *what;	/* "object", "certificate": in the error after the last attempt */
};

/* Runs t against core's store until a commit succeeds (0), a build says VAULT_TXN_DONE (0), or
 * an error other than a conflict (-1, err as it came). After the last conflicting attempt:
 * KL_EUNAVAIL "the <what> changed too often concurrently; retry". */
int vault_txn_retry(struct vault_core *core, const struct vault_txn *t, void *arg,
		    struct kl_err *err);

/* The wait after a conflict of attempt (from 0): random, 50 us up to 12.8 ms. */
void vault_txn_backoff(int attempt);

#endif
