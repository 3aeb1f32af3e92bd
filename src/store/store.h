/* The ordered key-value store every backend implements: byte keys in lexicographic order, byte
 * values, and a version per record that grows by one on every write of that key. Nothing above
 * this interface knows which backend it runs on.
 *
 * Thread safety: one struct store may be used from many threads at once; each call is its own
 * transaction. Errors: KL_ENOTFOUND from get, KL_ECONFLICT from a failed check in txn,
 * KL_EUNAVAIL when the backend is unreachable, KL_EOUTCOME from txn when the backend was lost
 * once the commit may have reached it: the transaction may or may not have been applied (the
 * embedded store never returns it). A caller never runs such a transaction again as if it had not
 * been applied: it reports the error (503), or reads back something only that transaction wrote to
 * find out. KL_EINTERNAL otherwise. */
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

/* One key of a store_get_many. */
struct store_read {
	const void *key;	/* in */
	size_t key_len;		/* in */
	struct buf *val;	/* in: initialised by the caller; out: the value appended when found */
	uint64_t version;	/* out: the record's version, 0 when absent */
	bool found;		/* out */
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
	bool paused;		/* a standby whose replay is paused (store_pause_replay) */
	int64_t replayed_at_ms;	/* a standby's last replayed transaction, Unix ms; -1: unknown */
	/* Where the write-ahead log stands, in bytes: a primary's flushed end, a standby's replayed
	 * end (0: unknown, or a store without one). A standby has every commit of its primary once
	 * its position reaches the primary's. */
	uint64_t wal_pos;
};

enum store_promote_step { STORE_REPLAY_RESUME, STORE_REPLAY_PAUSE, STORE_PROMOTE };

struct store_vtable {
	int (*get)(struct store *st, const void *key, size_t key_len, struct buf *val,
		   uint64_t *version, struct kl_err *err);
	int (*scan)(struct store *st, const void *prefix, size_t prefix_len, const void *after,
		    size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err);
	int (*txn)(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err);
	/* NULL: store.c reads the keys one by one (not one snapshot). */
	int (*get_many)(struct store *st, struct store_read *reads, size_t n, struct kl_err *err);
	/* NULL for backends that are always primary. */
	int (*role)(struct store *st, enum store_role *role, struct store_repl *repl,
		    struct kl_err *err);
	/* A standby's replay resumed or paused, or the standby made a primary; NULL for backends
	 * that are always primary. */
	int (*promote)(struct store *st, enum store_promote_step step, struct kl_err *err);
	/* Housekeeping of the backend's own (NULL: none), see store_maintain. */
	int (*maintain)(struct store *st, struct kl_err *err);
	void (*close)(struct store *st);
	const char *name;	/* "lmdb", "postgres" */
};

struct store_watch;
struct store_fence;

struct store {
	const struct store_vtable *vt;
	struct store_watch *watch;	/* store.c's: the change epoch (store_watch); NULL: none */
	struct store_fence *fence;	/* store.c's: the write fence (store_fence); NULL: none */
};

/* The backend's own housekeeping, off any request's path: the core's job loop calls it every
 * minute or so on one node of a deployment (PostgreSQL: deletes old commit markers, in bounded
 * batches). 0 when there is nothing to do. */
int store_maintain(struct store *st, struct kl_err *err);

/* Appends the value of key to val (which the caller initialised) and sets *version (may be
 * NULL). KL_ENOTFOUND when absent. */
int store_get(struct store *st, const void *key, size_t key_len, struct buf *val,
	      uint64_t *version, struct kl_err *err);

/* Visits the records whose key starts with prefix, in key order, starting strictly after the
 * key `after` (NULL or after_len 0: from the first). */
int store_scan(struct store *st, const void *prefix, size_t prefix_len, const void *after,
	       size_t after_len, store_scan_fn fn, void *arg, struct kl_err *err);

/* Reads n keys (n <= STORE_MANY_MAX) in one round trip and one snapshot: each read's found,
 * version and val are set; an absent key is not an error. */
#define STORE_MANY_MAX 8
int store_get_many(struct store *st, struct store_read *reads, size_t n, struct kl_err *err);

/* Applies every op or none. Checks are evaluated before any write. Keys longer than
 * STORE_KEY_MAX or empty give KL_EINVAL. KL_EOUTCOME: see the top; the outcome is unknown. */
int store_txn(struct store *st, const struct store_op *ops, size_t n_ops, struct kl_err *err);

/* A single put or delete, as a one-op transaction. */
int store_put(struct store *st, const void *key, size_t key_len, const void *val, size_t val_len,
	      struct kl_err *err);
int store_del(struct store *st, const void *key, size_t key_len, struct kl_err *err);

/* The backend's role now (asks the server each time: callers poll it), and how far behind it is
 * when a standby (repl may be NULL). KL_EUNAVAIL when the server cannot be reached. */
int store_role(struct store *st, enum store_role *role, struct store_repl *repl,
	       struct kl_err *err);

/* The change epoch, for caches of records that change seldom (vault/authcache.h): after
 * store_watch, a transaction that puts or deletes a key under one of the prefixes also puts
 * epoch_key (in the same transaction), and once it has committed the local epoch grows.
 * store_epoch_poll reads epoch_key's version and grows the local epoch when another node (any
 * process sharing the backend, or the primary a standby replicates) has changed it since the last
 * poll, and at the first poll (nothing filled before it is trusted). A cache entry filled while store_epoch() was E is good only while it is still E.
 * store_watch is called once, before the store is shared between threads; prefixes and epoch_key
 * must outlive st. */
int store_watch(struct store *st, const char *const *prefixes, size_t n, const char *epoch_key,
		struct kl_err *err);
uint64_t store_epoch(struct store *st);
int store_epoch_poll(struct store *st, struct kl_err *err);

/* Closes the backend and frees st; NULL is a no-op. */
void store_close(struct store *st);

/* A standby's way to become the primary: STORE_REPLAY_PAUSE stops applying what its primary
 * sends (what it received is kept, and applied by the promotion; STORE_REPLAY_RESUME undoes it);
 * STORE_PROMOTE ends recovery and waits for the store to take writes (up to about a minute).
 * KL_EINVAL on a store that is not a standby or has none; KL_EFORBIDDEN when the store's database
 * role may not. */
int store_promote(struct store *st, enum store_promote_step step, struct kl_err *err);

/* The write fence (the regions' epoch, vault/fence.c): after store_fence, every transaction that
 * writes (but does not write the key itself: the fence's owner checks its own) also checks that key's version is the one store_fence_set gave last, and, with a lease,
 * runs only before lease_until_ms (CLOCK_MONOTONIC milliseconds) and is answered success only
 * when it also returned before then. A transaction that fails on the fence gets KL_EREADONLY, and
 * so does one that committed after the lease ran out (it is in this store, which may no longer
 * be the deployment's; a retry meets the idempotency record where it is). Call store_fence once, before the store is shared between threads. */
int store_fence(struct store *st, const char *key, struct kl_err *err);
/* lease_until_ms 0: no lease (writes are not limited in time). Thread-safe. */
void store_fence_set(struct store *st, uint64_t version, uint64_t lease_until_ms);

#endif
