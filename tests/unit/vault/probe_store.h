/* A store for the vault tests that wraps a real one: every call goes to it, and those of the
 * test's own thread are counted (a round trip on PostgreSQL each; the core's threads, the epoch
 * poller and the jobs, call it too). When racing is set, the next transaction that starts with a
 * check first rewrites that check's key, as a concurrent writer would between a read and the
 * commit. Header-only: each test includes it once. */
#ifndef KLUIS_TESTS_PROBE_STORE_H
#define KLUIS_TESTS_PROBE_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "store/store.h"

struct probe {
	struct store base;	/* first */
	struct store *inner;
	pthread_t owner;
	_Atomic unsigned gets, many, scans, txns;
	_Atomic bool racing;
};

static void probe_count(struct probe *p, _Atomic unsigned *n)
{
	if (pthread_equal(pthread_self(), p->owner))
		atomic_fetch_add(n, 1);
}

static int probe_get(struct store *st, const void *key, size_t key_len, struct buf *val,
		     uint64_t *version, struct kl_err *err)
{
	struct probe *p = (struct probe *)st;

	probe_count(p, &p->gets);
	return store_get(p->inner, key, key_len, val, version, err);
}

static int probe_get_many(struct store *st, struct store_read *reads, size_t n,
			  struct kl_err *err)
{
	struct probe *p = (struct probe *)st;

	probe_count(p, &p->many);
	return store_get_many(p->inner, reads, n, err);
}

static int probe_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
		      size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err)
{
	struct probe *p = (struct probe *)st;

	probe_count(p, &p->scans);
	return store_scan(p->inner, prefix, prefix_len, after, after_len, fn, arg, err);
}

static int probe_txn(struct store *st, const struct store_op *ops, size_t n_ops,
		     struct kl_err *err)
{
	struct probe *p = (struct probe *)st;

	probe_count(p, &p->txns);
	if (n_ops > 0 && ops[0].kind == STORE_CHECK && atomic_exchange(&p->racing, false) &&
	    store_put(p->inner, ops[0].key, ops[0].key_len, "rewritten", 9, err) != 0)
		return -1;
	return p->inner->vt->txn(p->inner, ops, n_ops, err);
}

static void probe_close(struct store *st)
{
	struct probe *p = (struct probe *)st;

	store_close(p->inner);
	free(p);
}

static const struct store_vtable probe_vt = {
	.get = probe_get,
	.scan = probe_scan,
	.txn = probe_txn,
	.get_many = probe_get_many,
	.close = probe_close,
	.name = "probe",
};

/* A probe around inner (which it closes), counting the calling thread's calls; NULL when out of
 * memory. */
static inline struct probe *probe_new(struct store *inner)
{
	struct probe *p = calloc(1, sizeof(*p));

	if (p != NULL) {
		p->base.vt = &probe_vt;
		p->inner = inner;
		p->owner = pthread_self();
	}
	return p;
}

#endif
