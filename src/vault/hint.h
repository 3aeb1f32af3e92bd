/* The latest-version hint: per node, an object's live head key -> the version id that head named
 * when this node last read or wrote it. obj_get reads the head and the hinted version in one
 * store round trip (store_get_many) and trusts only the head it read with it: a stale hint (another
 * node wrote a newer version, or the name was deleted and made again) costs one more read, never
 * a wrong answer. Bounded (direct-mapped slots: a newer entry evicts an older one), thread-safe.
 * Holds names and version ids only, no material. */
#ifndef KLUIS_VAULT_HINT_H
#define KLUIS_VAULT_HINT_H

#include <stdbool.h>
#include <stddef.h>

#define HINT_KEY_MAX 191	/* longer keys are not hinted (a head key is at most ~160 bytes) */
#define HINT_VERSION_MAX 32	/* a version id: 32 hex digits */

struct hint;

/* A hint of at most slots entries (1 or more). NULL when out of memory. */
struct hint *hint_new(size_t slots);
/* NULL: no-op. */
void hint_free(struct hint *h);

/* Copies the version hinted for key into ver (HINT_VERSION_MAX + 1 bytes); false when there is
 * none (ver is then ""). */
bool hint_get(struct hint *h, const char *key, char *ver);
/* Hints ver (at most HINT_VERSION_MAX characters, else ignored) for key, replacing what the slot
 * held. */
void hint_set(struct hint *h, const char *key, const char *ver);
/* Drops the hint for key, if any. */
void hint_forget(struct hint *h, const char *key);

/* Lookups that found a hint and lookups that did not, since hint_new. */
void hint_stats(struct hint *h, size_t *hits, size_t *misses);

#endif
