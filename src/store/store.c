/* store.c owns the public face of the store: every argument check in one place, then the
 * backend's vtable. It holds no data and never interprets, logs or copies keys or values. */
#include <assert.h>
#include <stdint.h>

#include "store/store.h"

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

int store_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err)
{
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
	rc = n_ops == 0 ? 0 : st->vt->txn(st, ops, n_ops, err);
out:
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

int store_role(struct store *st, enum store_role *role, struct store_repl *repl,
	       struct kl_err *err)
{
	struct store_repl ignored;

	if (repl == NULL)
		repl = &ignored;
	repl->streaming = false;
	repl->lag_ms = -1;
	if (st->vt->role == NULL) {
		*role = STORE_PRIMARY;
		return 0;
	}
	return st->vt->role(st, role, repl, err);
}

void store_close(struct store *st)
{
	if (st != NULL)
		st->vt->close(st);
}
