/* The public face of the store: argument checks in one place, then the backend's vtable. Owns no
 * data; never interprets keys or values. */
#include "store/store.h"

static int check_key(const void *key, size_t key_len, struct kl_err *err)
{
	if (key == NULL || key_len == 0 || key_len > STORE_KEY_MAX)
		return kl_fail(err, KL_EINVAL, "store keys must be 1 to %d bytes", STORE_KEY_MAX);
	return 0;
}

int store_get(struct store *st, const void *key, size_t key_len, struct buf *val,
	      uint64_t *version, struct kl_err *err)
{
	if (check_key(key, key_len, err) != 0)
		return -1;
	return st->vt->get(st, key, key_len, val, version, err);
}

int store_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
	       size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err)
{
	if (prefix_len > STORE_KEY_MAX || after_len > STORE_KEY_MAX)
		return kl_fail(err, KL_EINVAL, "store keys must be 1 to %d bytes", STORE_KEY_MAX);
	return st->vt->scan(st, prefix, prefix_len, after, after ? after_len : 0, fn, arg, err);
}

int store_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err)
{
	size_t i;

	for (i = 0; i < n_ops; i++)
		if (check_key(ops[i].key, ops[i].key_len, err) != 0)
			return -1;
	return st->vt->txn(st, ops, n_ops, err);
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

void store_close(struct store *st)
{
	if (st != NULL)
		st->vt->close(st);
}
