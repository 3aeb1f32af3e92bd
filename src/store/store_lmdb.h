/* The embedded backend: one LMDB environment in a directory, durable at commit (no NOSYNC).
 * Concurrent transactions are committed in groups: one durable commit for all the calls that
 * queued while the previous group was writing; each call returns its own result after it. */
#ifndef KLUIS_STORE_STORE_LMDB_H
#define KLUIS_STORE_STORE_LMDB_H

#include "store/store.h"

/* Opens (creating when missing) the LMDB environment in dir, which must exist. map_size_bytes
 * bounds the database (0 picks a default of 64 GiB of address space; sparse on disk). */
struct store *store_lmdb_open(const char *dir, size_t map_size_bytes, struct kl_err *err);

/* How the grouped commits went since the store was opened. */
struct store_lmdb_stats {
	uint64_t groups;	/* write transactions begun, one per group */
	uint64_t calls;		/* store_txn calls they carried */
	size_t largest_group;	/* calls in the largest group */
	size_t waiting;		/* calls queued now, including a leader's not yet taken */
};

/* A snapshot of the counters of st, which must be a store_lmdb_open store. Thread-safe. */
void store_lmdb_stats(struct store *st, struct store_lmdb_stats *out);

#endif
