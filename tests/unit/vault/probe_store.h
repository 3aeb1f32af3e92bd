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
#include <stdio.h>
#include <stdlib.h>

#include "fixture.h"
#include "store/store.h"
#include "store/store_lmdb.h"
#include "vault/core.h"
#include "vault/vault.h"

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

/* A vault core on a probe around a fresh LMDB store, with the vault "default" open: the setup and
 * teardown of a cmocka test whose state is a struct probe_env. */
struct probe_env {
	struct fixture_dir dir;
	struct vault_core *core;
	struct probe *st;
	struct vault v;
};

static int probe_env_setup(void **state)
{
	struct probe_env *e = calloc(1, sizeof(*e));
	struct vault_core_config cfg = { .default_vault = "default", .retention_days = 7 };
	struct kl_err err = { 0 };
	struct store *inner = NULL;

	if (e == NULL || fixture_dir_make(&e->dir) != 0 ||
	    (inner = store_lmdb_open(e->dir.store, 64u * 1024 * 1024, &err)) == NULL ||
	    (e->st = probe_new(inner)) == NULL)
		return -1;
	cfg.data_dir = e->dir.path;
	if ((e->core = vault_core_open(&cfg, &e->st->base, &err)) == NULL ||
	    vault_open(e->core, "default", &e->v, &err) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = e;
	return 0;
}

static int probe_env_teardown(void **state)
{
	struct probe_env *e = *state;

	vault_core_close(e->core);
	fixture_dir_remove(&e->dir);
	free(e);
	return 0;
}

#endif
