/* The ordered key-value store every backend implements: byte keys in lexicographic order, byte
 * values, and a version per record that grows by one on every write of that key. Nothing above
 * this interface knows which backend it runs on.
 *
 * Thread safety: one struct store may be used from many threads at once; each call is its own
 * transaction. Errors: KL_ENOTFOUND from get, KL_ECONFLICT from a failed check in txn,
 * KL_EUNAVAIL when the backend is unreachable, KL_EINTERNAL otherwise. */
#ifndef KLUIS_STORE_STORE_H
#define KLUIS_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define STORE_KEY_MAX 511	/* bytes; LMDB's default limit */

struct store;

/* One step of an atomic transaction. */
enum store_op_kind {
	STORE_PUT,	/* write val under key; its version becomes old + 1 (1 when new) */
	STORE_DEL,	/* remove key; removing an absent key is not an error */
	STORE_CHECK,	/* the transaction fails with KL_ECONFLICT unless key's version == version
			   (0 means the key must be absent) */
};

struct store_op {
	enum store_op_kind kind;
	const void *key;
	size_t key_len;
	const void *val;	/* STORE_PUT only */
	size_t val_len;
	uint64_t version;	/* STORE_CHECK only */
};

/* Called for each record of a scan in key order. Return 0 to go on, 1 to stop, -1 (with err
 * filled) to abort the scan with that error. The pointers are valid only during the call. */
typedef int (*store_scan_fn)(void *arg, const void *key, size_t key_len, const void *val,
			     size_t val_len, uint64_t version, struct kl_err *err);

/* What the backend's server is: a primary takes writes, a standby (a hot standby replica of
 * another region, or a demoted primary) does not. The embedded store is always a primary. */
enum store_role { STORE_PRIMARY, STORE_STANDBY };

/* How far a standby is behind its primary. lag_ms: 0 when the standby streams and has applied
 * all it received; otherwise the age of the last transaction it applied (it may be further
 * behind: nothing tells a standby cut off from its primary what it missed); -1 when unknown or
 * not a standby. */
struct store_repl {
	bool streaming;		/* connected to a primary and receiving */
	int64_t lag_ms;
};

struct store_vtable {
	int (*get)(struct store *st, const void *key, size_t key_len, struct buf *val,
		   uint64_t *version, struct kl_err *err);
	int (*scan)(struct store *st, const void *prefix, size_t prefix_len, const void *after,
		    size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err);
	int (*txn)(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err);
	/* NULL for backends that are always primary. */
	int (*role)(struct store *st, enum store_role *role, struct store_repl *repl,
		    struct kl_err *err);
	void (*close)(struct store *st);
	const char *name;	/* "lmdb", "postgres" */
};

struct store {
	const struct store_vtable *vt;
};

/* Appends the value of key to val (which the caller initialised) and sets *version (may be
 * NULL). KL_ENOTFOUND when absent. */
int store_get(struct store *st, const void *key, size_t key_len, struct buf *val,
	      uint64_t *version, struct kl_err *err);

/* Visits the records whose key starts with prefix, in key order, starting strictly after the
 * key `after` (NULL or after_len 0: from the first). */
int store_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
	       size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err);

/* Applies every op or none. Checks are evaluated before any write. Keys longer than
 * STORE_KEY_MAX or empty give KL_EINVAL. */
int store_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err);

/* A single put or delete, as a one-op transaction. */
int store_put(struct store *st, const void *key, size_t key_len, const void *val, size_t val_len,
	      struct kl_err *err);
int store_del(struct store *st, const void *key, size_t key_len, struct kl_err *err);

/* The backend's role now (asks the server each time: callers poll it), and how far behind it is
 * when a standby (repl may be NULL). KL_EUNAVAIL when the server cannot be reached. */
int store_role(struct store *st, enum store_role *role, struct store_repl *repl,
	       struct kl_err *err);

/* Closes the backend and frees st; NULL is a no-op. */
void store_close(struct store *st);

#endif
