/* The write-retry loop of vault/ (txnretry.h): owns the attempt count, the back-off after a
 * conflict and the rule that a commit of unknown outcome is never retried. Must never read or
 * build records itself: the caller's build does, afresh on every attempt. */
#include <time.h>

#include "util/clock.h"
#include "vault/internal.h"
#include "vault/txnretry.h"

/* After a conflict: wait a random while, growing with the attempts (50 us up to 12.8 ms), so two
 * writers of one name do not collide again and again in lock step (two threads once lost 16 in a
 * row on LMDB). The clock's low bits are jitter enough. */
void vault_txn_backoff(int attempt)
{
	uint64_t cap = (uint64_t)50 << (attempt < 8 ? attempt : 8);
	uint64_t us = clock_mono_us() % cap + 1;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)(us * 1000) };

	nanosleep(&ts, NULL);
}

int vault_txn_retry(struct vault_core *core, const struct vault_txn *t, void *arg,
		    struct kl_err *err)
{
	int attempts = t->attempts > 0 ? t->attempts : VAULT_TXN_ATTEMPTS;
	const struct store_op *ops;
	size_t n_ops;
	int attempt, r;

	for (attempt = 0; attempt < attempts; attempt++) {
		if (attempt > 0)
			vault_txn_backoff(attempt - 1);
		ops = NULL;
		n_ops = 0;
		r = t->build(arg, attempt, &ops, &n_ops, err);
		if (r == VAULT_TXN_DONE)
			return 0;
		if (r != 0)
			return -1;
		if (store_txn(core->st, ops, n_ops, err) == 0)
			return 0;
		/* unknown outcome: it may have been applied, so it is never run again as if not */
		if (err->code == KL_EOUTCOME)
			return t->landed != NULL && t->landed(arg, err) ? 0 : -1;
		if (err->code != KL_ECONFLICT)
			return -1;
		if (t->conflicted != NULL && t->conflicted(arg, err) != 0)
			return -1;
		kl_err_clear(err);
	}
	return kl_fail(err, KL_EUNAVAIL, "the %s changed too often concurrently; retry",
		       t->what != NULL ? t->what : "record");
}
