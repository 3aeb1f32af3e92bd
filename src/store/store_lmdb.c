/* store_lmdb.c owns the embedded backend: one LMDB environment in a directory holding one
 * unnamed database. Each stored value is an 8-byte big-endian record version followed by the
 * record's bytes. Every write transaction is synced to disk before it returns (never NOSYNC,
 * NOMETASYNC or WRITEMAP), so an acknowledged write survives kill -9 and power loss.
 *
 * Grouped commits: LMDB has one writer at a time and each commit costs two syncs, so concurrent
 * store_txn calls queue, and one of them (the leader) applies every queued call in one write
 * transaction, each in a nested transaction of its own (a failed check undoes only its own
 * call), commits and syncs once, and only then returns each caller its own result. A call that
 * finds no leader leads at once: a lone writer waits for nobody.
 *
 * It is the only includer of <lmdb.h>. It never logs or copies into an error a key's or a
 * value's contents: values hold sealed secrets, keys hold object names. */
#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
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
/* A group takes at most this many calls, and no more once their keys and values pass
 * GROUP_BYTES_MAX (the first call always goes): LMDB keeps a write transaction's dirty pages in
 * memory until it commits, and a long group delays its first caller. */
#define GROUP_CALLS_MAX 128
/* Read transactions ended are kept (reset: holding no snapshot, pinning no page) for the next
 * read to renew: mdb_txn_begin allocates and takes LMDB's reader-table lock each time. */
#define READ_TXN_POOL 32
#define GROUP_BYTES_MAX ((size_t)8 << 20)

/* One store_txn call in the queue: it lives on its caller's stack until is_done. */
struct pending {
	const struct store_op *ops;
	size_t n_ops;
	size_t bytes;		/* its keys and values */
	struct kl_err *err;	/* the caller's: the leader fills it */
	int rc;
	bool is_done;		/* rc and err are final */
	bool is_leader;		/* its caller runs the next group */
	pthread_cond_t wake;
	struct pending *next;
};

struct store_lmdb {
	struct store base;	/* first: a struct store * is a struct store_lmdb * */
	MDB_env *env;
	MDB_dbi dbi;
	bool has_mu;
	pthread_mutex_t mu;	/* guards the queue, has_leader and stats */
	struct pending *head, *tail;	/* calls not yet taken into a group, in arrival order */
	bool has_leader;	/* a caller runs a group or is about to: the queue waits for it */
	struct store_lmdb_stats stats;
	bool has_read_mu;
	pthread_mutex_t read_mu;	/* guards read_txns */
	MDB_txn *read_txns[READ_TXN_POOL];	/* reset read transactions, to renew */
	size_t n_read_txns;
};

/* A read transaction: a kept one renewed, else a new one. */
static int read_begin(struct store_lmdb *s, MDB_txn **txn)
{
	MDB_txn *t = NULL;

	pthread_mutex_lock(&s->read_mu);
	if (s->n_read_txns > 0)
		t = s->read_txns[--s->n_read_txns];
	pthread_mutex_unlock(&s->read_mu);
	if (t != NULL) {
		if (mdb_txn_renew(t) == 0) {
			*txn = t;
			return 0;
		}
		mdb_txn_abort(t);
	}
	return mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
}

/* Ends a read transaction of read_begin: kept for the next read while the pool has room. */
static void read_end(struct store_lmdb *s, MDB_txn *txn)
{
	if (txn == NULL)
		return;
	mdb_txn_reset(txn);
	pthread_mutex_lock(&s->read_mu);
	if (s->n_read_txns < READ_TXN_POOL) {
		s->read_txns[s->n_read_txns++] = txn;
		txn = NULL;
	}
	pthread_mutex_unlock(&s->read_mu);
	if (txn != NULL)
		mdb_txn_abort(txn);
}

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

/* Reads key inside txn: appends its bytes to val and sets *version (0 and *found false when
 * absent). */
static int read_in(struct store_lmdb *s, MDB_txn *txn, const void *key, size_t key_len,
		   struct buf *val, uint64_t *version, bool *found, struct kl_err *err)
{
	MDB_val k = { .mv_size = key_len, .mv_data = (void *)key }, v;
	const unsigned char *bytes;
	uint64_t ver;
	size_t n;
	int rc, ret = -1;

	*found = false;
	*version = 0;
	rc = mdb_get(txn, s->dbi, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		lmdb_fail(err, "get", rc);
		goto out;
	}
	/* v points into the map, valid only until the transaction ends: copy it first. */
	if (rc == 0) {
		if (record_split(&v, &ver, &bytes, &n, err) != 0 ||
		    buf_append(val, bytes, n, err) != 0)
			goto out;
		*found = true;
		*version = ver;
	}
	ret = 0;
out:
	return ret;
}

static int lmdb_get(struct store *st, const void *key, size_t key_len, struct buf *val,
		    uint64_t *version, struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	MDB_txn *txn = NULL;
	uint64_t ver;
	bool found;
	int rc, ret = -1;

	if ((rc = read_begin(s, &txn)) != 0) {
		lmdb_fail(err, "read transaction", rc);
		goto out;
	}
	if (read_in(s, txn, key, key_len, val, &ver, &found, err) != 0)
		goto out;
	if (!found) {
		kl_fail(err, KL_ENOTFOUND, "the record does not exist");
		goto out;
	}
	if (version != NULL)
		*version = ver;
	ret = 0;
out:
	read_end(s, txn);
	return ret;
}

/* Every key in one read transaction: one snapshot. */
static int lmdb_get_many(struct store *st, struct store_read *reads, size_t n,
			 struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	MDB_txn *txn = NULL;
	size_t i;
	int rc, ret = -1;

	if ((rc = read_begin(s, &txn)) != 0) {
		lmdb_fail(err, "read transaction", rc);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (read_in(s, txn, reads[i].key, reads[i].key_len, reads[i].val,
			    &reads[i].version, &reads[i].found, err) != 0)
			goto out;
	ret = 0;
out:
	read_end(s, txn);
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

	if ((rc = read_begin(s, &txn)) != 0) {
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
	read_end(s, txn);
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

/* Applies one call's ops inside txn: every check first, against the state before them; then
 * the writes in order. */
static int ops_apply(struct store_lmdb *s, MDB_txn *txn, const struct store_op *ops,
		     size_t n_ops, struct kl_err *err)
{
	uint64_t version;
	size_t i;
	int ret = -1;

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
	ret = 0;
out:
	return ret;
}

/* Applies one member of a group in a nested transaction of txn: on failure nothing of it stays
 * and txn goes on. */
static int member_apply(struct store_lmdb *s, MDB_txn *txn, struct pending *p)
{
	MDB_txn *child = NULL;
	int rc, ret = -1;

	if ((rc = mdb_txn_begin(s->env, txn, 0, &child)) != 0) {
		lmdb_fail(p->err, "nested transaction", rc);
		goto out;
	}
	if (ops_apply(s, child, p->ops, p->n_ops, p->err) != 0)
		goto out;
	rc = mdb_txn_commit(child);	/* into txn; frees child whatever its result */
	child = NULL;
	if (rc != 0) {
		lmdb_fail(p->err, "nested commit", rc);
		goto out;
	}
	ret = 0;
out:
	if (child != NULL)
		mdb_txn_abort(child);
	return ret;
}

/* Fails every member of a group with LMDB's rc, logged once for the group. */
static void group_fail(struct pending *group, const char *what, int rc)
{
	struct kl_err e = { 0 };
	struct pending *p;

	lmdb_fail(&e, what, rc);
	for (p = group; p != NULL; p = p->next) {
		p->rc = -1;
		if (p->err != NULL)
			*p->err = e;
	}
}

/* Runs a group in the write transaction txn (which it ends) and sets each member's rc and err.
 * A group of one runs in txn itself: a lone writer pays for no nested transaction. The commit is
 * LMDB's durable one (data pages synced, then the meta page written synchronously): when it
 * returns, every member that succeeded is on disk. */
static void group_run(struct store_lmdb *s, MDB_txn *txn, struct pending *group)
{
	struct pending *p;
	bool is_any_ok = false;
	int rc;

	for (p = group; p != NULL; p = p->next) {
		if (group->next == NULL)
			p->rc = ops_apply(s, txn, p->ops, p->n_ops, p->err);
		else
			p->rc = member_apply(s, txn, p);
		is_any_ok = is_any_ok || p->rc == 0;
	}
	if (!is_any_ok) {	/* nothing to write: no commit, no sync */
		mdb_txn_abort(txn);
		return;
	}
	/* On failure nothing of the group is written. Every member hears it, also one whose check
	 * failed: that check saw writes of the group that are now undone. */
	if ((rc = mdb_txn_commit(txn)) != 0)	/* frees txn, whatever its result */
		group_fail(group, "commit", rc);
}

/* Takes the group from the head of the queue (the leader's own call first). Under s->mu. */
static struct pending *queue_take(struct store_lmdb *s)
{
	struct pending *group = s->head, *last = s->head;
	size_t n = 1, bytes = last->bytes;

	while (last->next != NULL && n < GROUP_CALLS_MAX &&
	       last->next->bytes <= GROUP_BYTES_MAX - bytes) {
		last = last->next;
		bytes += last->bytes;
		n++;
	}
	s->head = last->next;
	if (s->head == NULL)
		s->tail = NULL;
	last->next = NULL;
	s->stats.groups++;
	s->stats.calls += n;
	if (n > s->stats.largest_group)
		s->stats.largest_group = n;
	return group;
}

/* The keys and values of a call, saturating: what bounds a group. */
static size_t ops_bytes(const struct store_op *ops, size_t n_ops)
{
	size_t i, sum = 0, add;

	for (i = 0; i < n_ops; i++) {
		add = ops[i].key_len + (ops[i].kind == STORE_PUT ? ops[i].val_len : 0);
		sum = add < ops[i].key_len || add > SIZE_MAX - sum ? SIZE_MAX : sum + add;
	}
	return sum;
}

/* Leads one group: LMDB's write lock first (another process may hold it), so that whoever
 * queues meanwhile rides along; then the group from the queue, run, and every member but the
 * leader woken with its result. Hands the lead to the next queued call, if any. */
static void group_lead(struct store_lmdb *s)
{
	struct pending *group, *p, *next;
	MDB_txn *txn = NULL;
	int rc;

	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	pthread_mutex_lock(&s->mu);
	group = queue_take(s);
	pthread_mutex_unlock(&s->mu);
	if (rc != 0)
		group_fail(group, "write transaction", rc);
	else
		group_run(s, txn, group);
	pthread_mutex_lock(&s->mu);
	/* The leader's own call is the group's first; each other caller may return (and its
	 * struct pending vanish) once it sees is_done, so next is read before. */
	for (p = group->next; p != NULL; p = next) {
		next = p->next;
		p->is_done = true;
		pthread_cond_signal(&p->wake);
	}
	if (s->head != NULL) {
		s->head->is_leader = true;
		pthread_cond_signal(&s->head->wake);
	} else {
		s->has_leader = false;
	}
	pthread_mutex_unlock(&s->mu);
}

static int lmdb_txn(struct store *st, const struct store_op *ops, size_t n_ops,
		    struct kl_err *err)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	struct pending me = { .ops = ops, .n_ops = n_ops, .bytes = ops_bytes(ops, n_ops),
			      .err = err, .rc = -1 };

	if (pthread_cond_init(&me.wake, NULL) != 0) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&s->mu);
	if (s->tail != NULL)
		s->tail->next = &me;
	else
		s->head = &me;
	s->tail = &me;
	/* A queue with calls in it always has a leader: finding none, this call is alone. */
	if (!s->has_leader) {
		s->has_leader = true;
		me.is_leader = true;
	}
	while (!me.is_done && !me.is_leader)
		pthread_cond_wait(&me.wake, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (!me.is_done)
		group_lead(s);	/* sets me.rc and *err */
	pthread_cond_destroy(&me.wake);
out:
	return me.rc;
}

static void lmdb_close(struct store *st)
{
	struct store_lmdb *s = (struct store_lmdb *)st;

	assert(s->head == NULL && !s->has_leader);	/* no call may still be running */
	if (s->stats.groups > 0)
		LOG_DEBUG(NULL, "the store committed %llu transactions in %llu groups (largest %zu)",
			  (unsigned long long)s->stats.calls, (unsigned long long)s->stats.groups,
			  s->stats.largest_group);
	while (s->n_read_txns > 0)
		mdb_txn_abort(s->read_txns[--s->n_read_txns]);
	mdb_env_close(s->env);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->read_mu);
	free(s);
}

static const struct store_vtable lmdb_vtable = {
	.get = lmdb_get,
	.scan = lmdb_scan,
	.txn = lmdb_txn,
	.get_many = lmdb_get_many,
	.close = lmdb_close,
	.name = "lmdb",
};

void store_lmdb_stats(struct store *st, struct store_lmdb_stats *out)
{
	struct store_lmdb *s = (struct store_lmdb *)st;
	struct pending *p;

	assert(st->vt == &lmdb_vtable);
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	out->waiting = 0;
	for (p = s->head; p != NULL; p = p->next)
		out->waiting++;
	pthread_mutex_unlock(&s->mu);
}

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
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	s->has_mu = true;
	if (pthread_mutex_init(&s->read_mu, NULL) != 0) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	s->has_read_mu = true;
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
		if (s->has_mu)
			pthread_mutex_destroy(&s->mu);
		if (s->has_read_mu)
			pthread_mutex_destroy(&s->read_mu);
		free(s);
	}
	return st;
}
