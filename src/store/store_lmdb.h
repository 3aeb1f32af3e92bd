/* The embedded backend: one LMDB environment in a directory, durable at commit (no NOSYNC). */
#ifndef KLUIS_STORE_STORE_LMDB_H
#define KLUIS_STORE_STORE_LMDB_H

#include "store/store.h"

/* Opens (creating when missing) the LMDB environment in dir, which must exist. map_size_bytes
 * bounds the database (0 picks a default of 64 GiB of address space; sparse on disk). */
struct store *store_lmdb_open(const char *dir, size_t map_size_bytes, struct kl_err *err);

#endif
