/* Memory for the few long-lived secrets (the data key, master keys): each allocation gets pages
 * of its own, locked in RAM so they are never written to swap (mlock), left out of core dumps
 * (MADV_DONTDUMP) and zeroed in a forked child (MADV_WIPEONFORK), and wiped when freed. A page
 * per allocation is wasteful on purpose: there are a handful, and nothing else shares the page.
 * Locking can fail (RLIMIT_MEMLOCK, `ulimit -l`): the memory is then still usable, a warning is
 * logged, and the secret may reach swap. Thread-safe (no shared state). */
#ifndef KLUIS_UTIL_LOCKEDMEM_H
#define KLUIS_UTIL_LOCKEDMEM_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* n zeroed bytes (n > 0) on pages of their own; NULL with KL_ENOMEM. *is_locked (when not NULL)
 * tells whether mlock succeeded. */
void *lockedmem_alloc(size_t n, bool *is_locked, struct kl_err *err);

/* Wipes the n bytes, unlocks and unmaps; NULL is a no-op. n must be what was allocated. */
void lockedmem_free(void *p, size_t n);

#endif
