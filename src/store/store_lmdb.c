/* store_lmdb.c owns the embedded backend: one LMDB environment in a directory holding one
 * unnamed database. Each stored value is an 8-byte big-endian record version followed by the
 * record's bytes. Every write transaction is synced to disk before it returns (never NOSYNC,
 * NOMETASYNC or WRITEMAP), so an acknowledged write survives kill -9 and power loss.
 * It is the only includer of <lmdb.h>. It never logs or copies into an error a key's or a
 * value's contents: values hold sealed secrets, keys hold object names. */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_lmdb.h"
#include "util/log.h"
#include "util/rec.h"

/* Address space, not disk: the data file grows only as pages are used. */
#if SIZE_MAX > 0xffffffffu
#define DEFAULT_MAP_SIZE ((size_t)64 << 30)
#else
#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#endif
/* Read transactions run on pool threads and during scans; LMDB's default of 126 slots is
 * raised so that a busy node does not see MDB_READERS_FULL. */
#define MAX_READERS 256
#define VERSION_BYTES 8

struct store_lmdb {
	struct store base;	/* first: a struct store * is a struct store_lmdb * */
	MDB_env *env;
	MDB_dbi dbi;
};

/* Logs LMDB's reason once and fills err with a kind the layers above can act on. */
static int lmdb_fail(struct kl_err *err, const char *what, int rc)
{
	LOG_ERROR(NULL, "LMDB %s: %s", what, mdb_strerror(rc));
	if (rc == MDB_MAP_FULL)
		kl_fail(err, KL_EUNAVAIL, "the store is full");
	else if (rc == MDB_READERS_FULL)
		kl_fail(err, KL_EUNAVAIL, "the store is busy");
	else
		kl_fail(err, KL_EINTERNAL, "the store failed (%s)", what);
	return -1;
}

/* Splits a stored value into its record version and its bytes. */
static int record_split(const MDB_val *v, uint64_t *version, const unsigned char **bytes,
			size_t *n, struct kl_err *err)
{
	int rc = -1;

	if (v->mv_size < VERSION_BYTES) {
		LOG_ERROR(NULL, "LMDB holds a %zu-byte record, shorter than its version",
			  v->mv_size);
		kl_fail(err, KL_ECORRUPT, "a stored record is shorter than its header");
		goto out;
	}
	*version = rec_from_be64(v->mv_data);
	*bytes = (const unsigned char *)v->mv_data + VERSION_BYTES;
	*n = v->mv_size - VERSION_BYTES;
	rc = 0;
out:
	return rc;
}

/* Bytewise order, a proper prefix first: LMDB's default key order. */
static int key_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c == 0)
		c = (a_len > b_len) - (a_len < b_len);
	return c;
}

static bool has_prefix(const MDB_val *k, const void *prefix, size_t prefix_len)
{
	return k->mv_size >= prefix_len &&
	       (prefix_len == 0 || memcmp(k->mv_data, prefix, prefix_len) == 0);
}

static int lmdb_get(struct store *st, const void *key, size_t key_len, struct buf *val,
		    uint64_t *version, struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	MDB_txn *txn = NULL;
	MDB_val k = { .mv_size = key_len, .mv_data = (void *)key }, v;
	const unsigned char *bytes;
	uint64_t ver;
	size_t n;
	int rc, ret = -1;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		lmdb_fail(err, "read transaction", rc);
		goto out;
	}
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		kl_fail(err, KL_ENOTFOUND, "the record does not exist");
		goto out;
	}
	if (rc != 0) {
		lmdb_fail(err, "get", rc);
		goto out;
	}
	/* v points into the map, valid only until the transaction ends: copy it first. */
	if (record_split(&v, &ver, &bytes, &n, err) != 0 || buf_append(val, bytes, n, err) != 0)
		goto out;
	if (version != NULL)
		*version = ver;
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
	const unsigned char *bytes;
	uint64_t ver;
	size_t n;
	bool skip_after;
	int rc, cb, ret = -1;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
		lmdb_fail(err, "read transaction", rc);
		goto out;
	}
	if ((rc = mdb_cursor_open(txn, s->dbi, &cur)) != 0) {
		lmdb_fail(err, "cursor", rc);
		goto out;
	}
	/* Start at the larger of prefix and after: every key in range is >= prefix, so an after
	 * below the prefix excludes nothing, and one at or above it is itself excluded. */
	skip_after = after_len > 0 && key_cmp(after, after_len, prefix, prefix_len) >= 0;
	k.mv_size = skip_after ? after_len : prefix_len;
	k.mv_data = (void *)(skip_after ? after : prefix);
	rc = mdb_cursor_get(cur, &k, &v, k.mv_size == 0 ? MDB_FIRST : MDB_SET_RANGE);
	if (rc == 0 && skip_after && key_cmp(k.mv_data, k.mv_size, after, after_len) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	for (; rc == 0 && has_prefix(&k, prefix, prefix_len);
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (record_split(&v, &ver, &bytes, &n, err) != 0)
			goto out;
		cb = fn(arg, k.mv_data, k.mv_size, bytes, n, ver, err);
		if (cb < 0) {
			/* a callback that forgot to say why still fails the scan */
			if (err != NULL && err->code == KL_OK)
				kl_fail(err, KL_EINTERNAL, "a store scan was aborted");
			goto out;
		}
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

/* The record version of key inside txn: 0 when absent. */
static int version_in(struct store_lmdb *s, MDB_txn *txn, const struct store_op *op,
		      uint64_t *version, struct kl_err *err)
{
	MDB_val k = { .mv_size = op->key_len, .mv_data = (void *)op->key }, v;
	const unsigned char *bytes;
	size_t n;
	int rc, ret = -1;

	*version = 0;
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(err, "get", rc);
		goto out;
	}
	if (rc == 0 && record_split(&v, version, &bytes, &n, err) != 0)
		goto out;
	ret = 0;
out:
	return ret;
}

static int put_in(struct store_lmdb *s, MDB_txn *txn, const struct store_op *op,
		  struct kl_err *err)
{
	MDB_val k = { .mv_size = op->key_len, .mv_data = (void *)op->key }, v;
	uint64_t old;
	int rc, ret = -1;

	if (version_in(s, txn, op, &old, err) != 0)
		goto out;
	if (old == UINT64_MAX || op->val_len > SIZE_MAX - VERSION_BYTES) {
		kl_fail(err, KL_EINTERNAL, "a record cannot be written again");
		goto out;
	}
	/* MDB_RESERVE: LMDB hands out the space and the value is written into it once. */
	v.mv_size = VERSION_BYTES + op->val_len;
	v.mv_data = NULL;
	if ((rc = mdb_put(txn, s->dbi, &k, &v, MDB_RESERVE)) != 0) {
		lmdb_fail(err, "put", rc);
		goto out;
	}
	rec_be64(v.mv_data, old + 1);
	if (op->val_len > 0)
		memcpy((unsigned char *)v.mv_data + VERSION_BYTES, op->val, op->val_len);
	ret = 0;
out:
	return ret;
}

static int del_in(struct store_lmdb *s, MDB_txn *txn, const struct store_op *op,
		  struct kl_err *err)
{
	MDB_val k = { .mv_size = op->key_len, .mv_data = (void *)op->key };
	int rc = mdb_del(txn, s->dbi, &k, NULL), ret = 0;

	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = lmdb_fail(err, "delete", rc);
	return ret;
}

/* Every check first, against the state before this transaction; then the writes in order. */
static int lmdb_txn(struct store *st, const struct store_op *ops, size_t n_ops,
		    struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	MDB_txn *txn = NULL;
	uint64_t version;
	size_t i;
	int rc, ret = -1;

	/* LMDB serialises write transactions: this waits for any other writer to commit. */
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		lmdb_fail(err, "write transaction", rc);
		goto out;
	}
	for (i = 0; i < n_ops; i++) {
		if (ops[i].kind != STORE_CHECK)
			continue;
		if (version_in(s, txn, &ops[i], &version, err) != 0)
			goto out;
		if (version != ops[i].version) {
			kl_fail(err, KL_ECONFLICT, "the record changed concurrently");
			goto out;
		}
	}
	for (i = 0; i < n_ops; i++) {
		if ((ops[i].kind == STORE_PUT && put_in(s, txn, &ops[i], err) != 0) ||
		    (ops[i].kind == STORE_DEL && del_in(s, txn, &ops[i], err) != 0))
			goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;	/* commit frees the transaction, whether it succeeded or not */
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

/* The kind of a failure to open: the operator's directory, a file that is not ours, or us. */
static enum kl_errc open_errc(int rc)
{
	enum kl_errc code = KL_EINTERNAL;

	if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
		code = KL_ECORRUPT;
	else if (rc == ENOENT || rc == ENOTDIR || rc == EACCES || rc == EPERM || rc == EROFS)
		code = KL_EINVAL;
	else if (rc == ENOMEM)
		code = KL_ENOMEM;
	return code;
}

/* Creates s->env, opens it on dir and opens its database. Returns LMDB's code; *step names the
 * step that failed. On failure s->env may be set and is the caller's to close. */
static int env_open(struct store_lmdb *s, const char *dir, size_t map_size_bytes,
		    const char **step)
{
	MDB_txn *txn = NULL;
	int rc, dead = 0;

	*step = "set up";
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, map_size_bytes)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, MAX_READERS)) != 0)
		goto out;
	*step = "open";
	if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600)) != 0)
		goto out;
	/* Reader slots left by a process that died (kill -9) would pin old pages for good. */
	*step = "clear stale readers of";
	if ((rc = mdb_reader_check(s->env, &dead)) != 0)
		goto out;
	if (dead > 0)
		LOG_WARN(NULL, "cleared %d reader slots of dead processes in the store", dead);
	*step = "open the database of";
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)) != 0)
		goto out;
	rc = mdb_txn_commit(txn);
	txn = NULL;	/* freed by commit, whatever its result */
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

/* Failures to open carry LMDB's reason in err->msg rather than in a log line: they happen at
 * start-up, where the caller logs err once. */
struct store *store_lmdb_open(const char *dir, size_t map_size_bytes, struct kl_err *err)
{
	struct store_lmdb *s = NULL;
	struct store *st = NULL;
	const char *step = NULL;
	int rc;

	if (dir == NULL || dir[0] == '\0') {
		kl_fail(err, KL_EINVAL, "the store needs a directory");
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	s->base.vt = &lmdb_vtable;
	rc = env_open(s, dir, map_size_bytes > 0 ? map_size_bytes : DEFAULT_MAP_SIZE, &step);
	if (rc != 0) {
		kl_fail(err, open_errc(rc), "cannot %s the store in %.96s: %s", step, dir,
			mdb_strerror(rc));
		goto out;
	}
	/* store.h promises keys of STORE_KEY_MAX bytes; an LMDB built otherwise may refuse them. */
	if (mdb_env_get_maxkeysize(s->env) < STORE_KEY_MAX) {
		kl_fail(err, KL_EINTERNAL, "this LMDB takes keys of at most %d bytes, not %d",
			mdb_env_get_maxkeysize(s->env), STORE_KEY_MAX);
		goto out;
	}
	st = &s->base;	/* the caller owns it now */
	s = NULL;
out:
	if (s != NULL) {
		if (s->env != NULL)
			mdb_env_close(s->env);	/* also after a failed mdb_env_open, as LMDB asks */
		free(s);
	}
	return st;
}
