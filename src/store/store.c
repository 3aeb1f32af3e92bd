/* store.c owns the public face of the store: every argument check in one place, then the
 * backend's vtable; and the two things it adds to a transaction: a put of the change epoch
 * (store_watch) and a check of the write fence (store_fence). It holds no records and never
 * interprets, logs or copies values; of keys it compares only the watched prefixes. */
#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/clock.h"

struct store_watch {
	const char *const *prefixes;
	size_t n;
	const char *epoch_key;
	_Atomic uint64_t epoch;		/* grows by one per change seen */
	_Atomic uint64_t seen;		/* epoch_key's version at the last poll; 0: never polled */
};

struct store_fence {
	const char *key;
	_Atomic uint64_t version;	/* the key's version that writes check */
	_Atomic uint64_t lease_until;	/* CLOCK_MONOTONIC ms; 0: no lease */
};

/* Values are bounded far below this by the layers above; the limit only keeps a backend's
 * header-plus-value length sum from overflowing. */
#define STORE_VAL_MAX (SIZE_MAX / 2)

static int check_key(const void *key, size_t key_len, struct kl_err *err)
{
	int rc = 0;

	if (key == NULL || key_len == 0 || key_len > STORE_KEY_MAX)
		rc = kl_fail(err, KL_EINVAL, "a store key must be 1 to %d bytes long",
			     STORE_KEY_MAX);
	return rc;
}

/* A prefix or scan cursor: may be empty, never longer than a key. */
static int check_bound(const void *p, size_t len, struct kl_err *err)
{
	int rc = 0;

	if ((p == NULL && len > 0) || len > STORE_KEY_MAX)
		rc = kl_fail(err, KL_EINVAL, "a store prefix or cursor must be at most %d bytes",
			     STORE_KEY_MAX);
	return rc;
}

static int check_op(const struct store_op *op, struct kl_err *err)
{
	int rc = -1;

	if (check_key(op->key, op->key_len, err) != 0)
		goto out;
	switch (op->kind) {
	case STORE_PUT:
		if ((op->val == NULL && op->val_len > 0) || op->val_len > STORE_VAL_MAX) {
			kl_fail(err, KL_EINVAL, "a store value is missing or too long");
			goto out;
		}
		break;
	case STORE_DEL:
	case STORE_CHECK:
		break;
	default:
		kl_fail(err, KL_EINVAL, "unknown store operation %d", (int)op->kind);
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int store_get(struct store *st, const void *key, size_t key_len, struct buf *val,
	      uint64_t *version, struct kl_err *err)
{
	int rc = -1;

	assert(st != NULL && val != NULL);
	if (check_key(key, key_len, err) != 0)
		goto out;
	rc = st->vt->get(st, key, key_len, val, version, err);
out:
	return rc;
}

int store_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
	       size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err)
{
	int rc = -1;

	assert(st != NULL && fn != NULL);
	if (after == NULL)
		after_len = 0;
	if (check_bound(prefix, prefix_len, err) != 0 || check_bound(after, after_len, err) != 0)
		goto out;
	/* Backends get a non-NULL prefix and a NULL after exactly when it is empty. */
	rc = st->vt->scan(st, prefix_len > 0 ? prefix : "", prefix_len,
			  after_len > 0 ? after : NULL, after_len, fn, arg, err);
out:
	return rc;
}

int store_get_many(struct store *st, struct store_read *reads, size_t n, struct kl_err *err)
{
	size_t i;
	int rc = -1;

	assert(st != NULL && (reads != NULL || n == 0));
	if (n > STORE_MANY_MAX) {
		kl_fail(err, KL_EINVAL, "at most %d keys are read at once", STORE_MANY_MAX);
		goto out;
	}
	for (i = 0; i < n; i++) {
		assert(reads[i].val != NULL);
		reads[i].found = false;
		reads[i].version = 0;
		if (check_key(reads[i].key, reads[i].key_len, err) != 0)
			goto out;
	}
	if (st->vt->get_many != NULL) {
		rc = n == 0 ? 0 : st->vt->get_many(st, reads, n, err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (st->vt->get(st, reads[i].key, reads[i].key_len, reads[i].val, &reads[i].version,
				err) == 0) {
			reads[i].found = true;
			continue;
		}
		if (err->code != KL_ENOTFOUND)
			goto out;
		kl_err_clear(err);
		reads[i].version = 0;
	}
	rc = 0;
out:
	return rc;
}

/* Does the transaction write under a watched prefix? */
static bool touches_watched(const struct store_watch *w, const struct store_op *ops, size_t n_ops)
{
	size_t i, j, len;

	for (i = 0; i < n_ops; i++) {
		if (ops[i].kind == STORE_CHECK)
			continue;
		for (j = 0; j < w->n; j++) {
			len = strlen(w->prefixes[j]);
			if (ops[i].key_len >= len && memcmp(ops[i].key, w->prefixes[j], len) == 0)
				return true;
		}
	}
	return false;
}

/* After this node's own watched commit: the epoch key's version now, taken as seen, so that the
 * next poll does not count this node's change a second time (a second flush of every cache). The
 * caller grows the epoch after this read: a change of another node that this read took as seen
 * committed before it, so every entry it could have made stale was filled before the growth and
 * is dropped by it. A failed read changes nothing (the next poll counts the change again). */
static void note_own_epoch(struct store *st)
{
	struct store_watch *w = st->watch;
	struct kl_err err = { 0 };
	struct buf val;
	uint64_t version = 0;

	buf_init(&val, 64);
	if (st->vt->get(st, w->epoch_key, strlen(w->epoch_key), &val, &version, &err) == 0 &&
	    atomic_load(&w->seen) != 0)
		atomic_store(&w->seen, version + 1);
	buf_clear(&val);
}

/* Does the transaction write, other than the fence key (whose owner checks it itself)? */
static bool fenced_write(const struct store_fence *f, const struct store_op *ops, size_t n_ops)
{
	size_t i, len = strlen(f->key);
	bool writes = false;

	for (i = 0; i < n_ops; i++) {
		if (ops[i].kind == STORE_CHECK)
			continue;
		if (ops[i].key_len == len && memcmp(ops[i].key, f->key, len) == 0)
			return false;
		writes = true;
	}
	return writes;
}

/* The fence's version, as the store holds it now; 0 when absent or unreadable. */
static uint64_t fence_version_now(struct store *st)
{
	struct kl_err err = { 0 };
	struct buf val;
	uint64_t version = 0;

	buf_init(&val, 256);
	if (st->vt->get(st, st->fence->key, strlen(st->fence->key), &val, &version, &err) != 0)
		version = 0;
	buf_clear(&val);
	return version;
}

/* The caller's ops, then a check of the fence key (when fenced), then a put of the epoch key
 * (when watched), committed; the local epoch grows after a watched one. */
static int txn_with_extras(struct store *st, const struct store_op *ops, size_t n_ops,
			   bool fenced, bool watched, struct kl_err *err)
{
	struct store_fence *f = st->fence;
	struct store_watch *w = st->watch;
	struct store_op *all = calloc(n_ops + 2, sizeof(*all));
	uint64_t lease = fenced ? atomic_load(&f->lease_until) : 0, version = 0;
	size_t n = n_ops;
	int rc = -1;

	if (all == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	memcpy(all, ops, n_ops * sizeof(*all));
	if (fenced) {
		version = atomic_load(&f->version);
		all[n++] = (struct store_op){ .kind = STORE_CHECK, .key = f->key,
					      .key_len = strlen(f->key), .version = version };
		if (lease != 0 && clock_mono_ms() >= lease) {
			kl_fail(err, KL_EREADONLY, "this region's write lease has run out: its "
				"peer region is being asked whether it took over");
			goto out;
		}
	}
	if (watched)
		all[n++] = (struct store_op){ .kind = STORE_PUT, .key = w->epoch_key,
					      .key_len = strlen(w->epoch_key), .val = "",
					      .val_len = 0 };
	rc = st->vt->txn(st, all, n, err);
	if (rc == 0 && watched)
		note_own_epoch(st);
	/* Grows after a failure too (the outcome of a lost commit is unknown): a needless flush
	 * costs a few reads, a stale entry would let a revoked credential in. */
	if (watched)
		atomic_fetch_add(&w->epoch, 1);
	if (fenced && rc != 0 && err->code == KL_ECONFLICT && fence_version_now(st) != version) {
		kl_err_clear(err);
		kl_fail(err, KL_EREADONLY, "another region has taken over the writes");
	} else if (fenced && rc == 0 && lease != 0 && clock_mono_ms() >= lease) {
		/* Not KL_EOUTCOME: its callers read back what they wrote, and would find it here. */
		rc = kl_fail(err, KL_EREADONLY, "this region's write lease ran out during the "
			     "commit: the write may not be in the deployment's store");
	}
out:
	free(all);
	return rc;
}

int store_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err)
{
	bool fenced, watched;
	size_t i;
	int rc = -1;

	assert(st != NULL);
	if (ops == NULL && n_ops > 0) {
		kl_fail(err, KL_EINVAL, "a store transaction without its operations");
		goto out;
	}
	for (i = 0; i < n_ops; i++)
		if (check_op(&ops[i], err) != 0)
			goto out;
	fenced = st->fence != NULL && fenced_write(st->fence, ops, n_ops);
	watched = n_ops > 0 && st->watch != NULL && touches_watched(st->watch, ops, n_ops);
	if (fenced || watched)
		rc = txn_with_extras(st, ops, n_ops, fenced, watched, err);
	else
		rc = n_ops == 0 ? 0 : st->vt->txn(st, ops, n_ops, err);
out:
	return rc;
}

int store_fence(struct store *st, const char *key, struct kl_err *err)
{
	struct store_fence *f;

	assert(st != NULL && st->fence == NULL);
	if (check_key(key, key ? strlen(key) : 0, err) != 0)
		return -1;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	f->key = key;
	atomic_init(&f->version, 0);
	atomic_init(&f->lease_until, 0);
	st->fence = f;
	return 0;
}

void store_fence_set(struct store *st, uint64_t version, uint64_t lease_until_ms)
{
	if (st->fence != NULL) {
		atomic_store(&st->fence->version, version);
		atomic_store(&st->fence->lease_until, lease_until_ms);
	}
}

int store_promote(struct store *st, enum store_promote_step step, struct kl_err *err)
{
	if (st->vt->promote == NULL)
		return kl_fail(err, KL_EINVAL, "this store is no standby: nothing to promote");
	return st->vt->promote(st, step, err);
}

int store_watch(struct store *st, const char *const *prefixes, size_t n, const char *epoch_key,
		struct kl_err *err)
{
	struct store_watch *w;

	assert(st != NULL && st->watch == NULL && (prefixes != NULL || n == 0));
	if (check_key(epoch_key, epoch_key ? strlen(epoch_key) : 0, err) != 0)
		return -1;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	w->prefixes = prefixes;
	w->n = n;
	w->epoch_key = epoch_key;
	atomic_init(&w->epoch, 1);
	atomic_init(&w->seen, 0);
	st->watch = w;
	return 0;
}

uint64_t store_epoch(struct store *st)
{
	return st->watch != NULL ? atomic_load(&st->watch->epoch) : 0;
}

int store_epoch_poll(struct store *st, struct kl_err *err)
{
	struct store_watch *w = st->watch;
	struct buf val;
	uint64_t version = 0, prev;
	int rc = 0;

	if (w == NULL)
		return 0;
	buf_init(&val, 64);
	if (st->vt->get(st, w->epoch_key, strlen(w->epoch_key), &val, &version, err) != 0) {
		if (err->code != KL_ENOTFOUND) {
			rc = -1;
			goto out;
		}
		kl_err_clear(err);
		version = 0;
	}
	/* Any change of version, even backwards (a store restored, a standby of another primary),
	 * is a change. So is the first poll: whatever a cache took before it is dropped. */
	prev = atomic_exchange(&w->seen, version + 1);
	if (prev != version + 1)
		atomic_fetch_add(&w->epoch, 1);
out:
	buf_clear(&val);
	return rc;
}

int store_put(struct store *st, const void *key, size_t key_len, const void *val, size_t val_len,
	      struct kl_err *err)
{
	struct store_op op = { .kind = STORE_PUT, .key = key, .key_len = key_len, .val = val,
			       .val_len = val_len };

	return store_txn(st, &op, 1, err);
}

int store_del(struct store *st, const void *key, size_t key_len, struct kl_err *err)
{
	struct store_op op = { .kind = STORE_DEL, .key = key, .key_len = key_len };

	return store_txn(st, &op, 1, err);
}

int store_maintain(struct store *st, struct kl_err *err)
{
	return st->vt->maintain != NULL ? st->vt->maintain(st, err) : 0;
}

int store_role(struct store *st, enum store_role *role, struct store_repl *repl,
	       struct kl_err *err)
{
	struct store_repl ignored;

	if (repl == NULL)
		repl = &ignored;
	repl->streaming = false;
	repl->lag_ms = -1;
	repl->paused = false;
	repl->replayed_at_ms = -1;
	repl->wal_pos = 0;
	if (st->vt->role == NULL) {
		*role = STORE_PRIMARY;
		return 0;
	}
	return st->vt->role(st, role, repl, err);
}

void store_close(struct store *st)
{
	if (st != NULL) {
		free(st->watch);
		st->watch = NULL;
		free(st->fence);
		st->fence = NULL;
		st->vt->close(st);
	}
}
