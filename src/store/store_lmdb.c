/* The embedded backend on LMDB: one environment, one database, every write transaction synced to
 * disk before it returns (no NOSYNC, no WRITEMAP), so an acknowledged write survives kill -9 and
 * power loss. Each stored value is an 8-byte big-endian record version followed by the bytes.
 * Never logs keys' contents beyond their length, never values. */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_lmdb.h"
#include "util/log.h"
#include "util/rec.h"

#define DEFAULT_MAP_SIZE (64ull * 1024 * 1024 * 1024)
#define VERSION_BYTES 8

struct store_lmdb {
	struct store base;	/* first: a struct store * is a struct store_lmdb * */
	MDB_env *env;
	MDB_dbi dbi;
};

static int lmdb_fail(struct kl_err *err, const char *what, int rc)
{
	LOG_ERROR(NULL, "lmdb %s: %s", what, mdb_strerror(rc));
	if (rc == MDB_MAP_FULL)
		return kl_fail(err, KL_EUNAVAIL, "the store is full");
	return kl_fail(err, KL_EINTERNAL, "the store failed (%s)", what);
}

static int lmdb_get(struct store *st, const void *key, size_t key_len, struct buf *val,
		    uint64_t *version, struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	MDB_txn *txn = NULL;
	MDB_val k = { key_len, (void *)key }, v;
	int rc, ret = -1;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		lmdb_fail(err, "read transaction", rc);
		goto out;
	}
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		kl_fail(err, KL_ENOTFOUND, "not found");
		goto out;
	}
	if (rc != 0) {
		lmdb_fail(err, "get", rc);
		goto out;
	}
	if (v.mv_size < VERSION_BYTES) {
		kl_fail(err, KL_ECORRUPT, "a stored record is shorter than its header");
		goto out;
	}
	if (version != NULL)
		*version = rec_from_be64(v.mv_data);
	if (buf_append(val, (unsigned char *)v.mv_data + VERSION_BYTES, v.mv_size - VERSION_BYTES, err) != 0)
		goto out;
	ret = 0;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return ret;
}

static int lmdb_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
		     size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	bool from_after;
	int rc, cb, ret = -1;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_cursor_open(txn, s->dbi, &cur)) != 0) {
		lmdb_fail(err, "scan", rc);
		goto out;
	}
	/* Start at the larger of the prefix and the cursor key. */
	from_after = after_len > 0 &&
		     (memcmp(after, prefix, after_len < prefix_len ? after_len : prefix_len) > 0 ||
		      (memcmp(after, prefix, after_len < prefix_len ? after_len : prefix_len) == 0 &&
		       after_len >= prefix_len));
	k.mv_size = from_after ? after_len : prefix_len;
	k.mv_data = (void *)(from_after ? after : prefix);
	if (k.mv_size == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	else
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && from_after && k.mv_size == after_len && memcmp(k.mv_data, after, after_len) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < prefix_len || memcmp(k.mv_data, prefix, prefix_len) != 0)
			break;
		if (v.mv_size < VERSION_BYTES) {
			kl_fail(err, KL_ECORRUPT, "a stored record is shorter than its header");
			goto out;
		}
		cb = fn(arg, k.mv_data, k.mv_size, (unsigned char *)v.mv_data + VERSION_BYTES,
			v.mv_size - VERSION_BYTES, rec_from_be64(v.mv_data), err);
		if (cb < 0)
			goto out;
		if (cb > 0)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(err, "scan", rc);
		goto out;
	}
	ret = 0;
out:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	return ret;
}

/* The version of key inside txn: 0 when absent. */
static int version_in(struct store_lmdb *s, MDB_txn *txn, const void *key, size_t key_len,
		      uint64_t *version, struct kl_err *err)
{
	MDB_val k = { key_len, (void *)key }, v;
	int rc = mdb_get(txn, s->dbi, &k, &v);

	*version = 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return lmdb_fail(err, "get", rc);
	if (v.mv_size < VERSION_BYTES)
		return kl_fail(err, KL_ECORRUPT, "a stored record is shorter than its header");
	*version = rec_from_be64(v.mv_data);
	return 0;
}

static int put_in(struct store_lmdb *s, MDB_txn *txn, const struct store_op *op, struct kl_err *err)
{
	MDB_val k = { op->key_len, (void *)op->key }, v;
	uint64_t old;
	int rc;

	if (version_in(s, txn, op->key, op->key_len, &old, err) != 0)
		return -1;
	v.mv_size = VERSION_BYTES + op->val_len;
	v.mv_data = NULL;
	if ((rc = mdb_put(txn, s->dbi, &k, &v, MDB_RESERVE)) != 0)
		return lmdb_fail(err, "put", rc);
	rec_be64(v.mv_data, old + 1);
	if (op->val_len > 0)
		memcpy((unsigned char *)v.mv_data + VERSION_BYTES, op->val, op->val_len);
	return 0;
}

static int lmdb_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	MDB_txn *txn = NULL;
	uint64_t version;
	size_t i;
	int rc, ret = -1;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		lmdb_fail(err, "write transaction", rc);
		goto out;
	}
	for (i = 0; i < n_ops; i++) {
		if (ops[i].kind != STORE_CHECK)
			continue;
		if (version_in(s, txn, ops[i].key, ops[i].key_len, &version, err) != 0)
			goto out;
		if (version != ops[i].version) {
			kl_fail(err, KL_ECONFLICT, "the record changed concurrently");
			goto out;
		}
	}
	for (i = 0; i < n_ops; i++) {
		MDB_val k = { ops[i].key_len, (void *)ops[i].key };

		if (ops[i].kind == STORE_PUT) {
			if (put_in(s, txn, &ops[i], err) != 0)
				goto out;
		} else if (ops[i].kind == STORE_DEL) {
			rc = mdb_del(txn, s->dbi, &k, NULL);
			if (rc != 0 && rc != MDB_NOTFOUND) {
				lmdb_fail(err, "delete", rc);
				goto out;
			}
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;	/* freed by commit, whatever its result */
	if (rc != 0) {
		lmdb_fail(err, "commit", rc);
		goto out;
	}
	ret = 0;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return ret;
}

static void lmdb_close(struct store *st)
{
	struct store_lmdb *s = (struct store_lmdb *)st;

	mdb_env_close(s->env);
	free(s);
}

static const struct store_vtable lmdb_vtable = {
	.get = lmdb_get,
	.scan = lmdb_scan,
	.txn = lmdb_txn,
	.close = lmdb_close,
	.name = "lmdb",
};

struct store *store_lmdb_open(const char *dir, size_t map_size_bytes, struct kl_err *err)
{
	struct store_lmdb *s = calloc(1, sizeof(*s));
	MDB_txn *txn = NULL;
	int rc, dead = 0;

	if (s == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	s->base.vt = &lmdb_vtable;
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, map_size_bytes ? map_size_bytes : DEFAULT_MAP_SIZE)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, 256)) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot set up the store: %s", mdb_strerror(rc));
		goto fail;
	}
	if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600)) != 0) {
		kl_fail(err, rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ? KL_ECORRUPT : KL_EINTERNAL,
			"cannot open the store in %.200s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	mdb_reader_check(s->env, &dead);
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
		if (txn != NULL && rc != 0)
			mdb_txn_abort(txn);
		kl_fail(err, KL_EINTERNAL, "cannot open the store database: %s", mdb_strerror(rc));
		goto fail;
	}
	return &s->base;
fail:
	if (s->env != NULL)
		mdb_env_close(s->env);
	free(s);
	return NULL;
}
