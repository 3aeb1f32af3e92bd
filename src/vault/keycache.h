/* Parsed private keys of immutable key versions, kept so that an operation does not pay for
 * unsealing and decoding the key each time (decoding alone costs more than an ES256 signature).
 * Only material is cached: attributes and key_ops are read from the store on every call. Entries
 * are reference counted, so a key in use by one thread survives its eviction by another; every
 * key is freed (and wiped, by keyops_free) when its last user lets go. Thread-safe. */
#ifndef KLUIS_VAULT_KEYCACHE_H
#define KLUIS_VAULT_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

struct keyops_key;
struct keycache;
struct keycache_ref;

/* A cache of at most slots entries (direct-mapped by id). NULL when out of memory. */
struct keycache *keycache_new(size_t slots);
/* Frees every entry not in use; entries in use are freed by their last release. NULL: no-op. */
void keycache_free(struct keycache *c);

/* The key cached under id, with a reference the caller releases; NULL when absent. */
struct keycache_ref *keycache_get(struct keycache *c, const char *id);
/* Caches key (the cache takes ownership) under id and returns a reference to it; NULL when out of
 * memory, in which case key has been freed. */
struct keycache_ref *keycache_put(struct keycache *c, const char *id, struct keyops_key *key);
const struct keyops_key *keycache_key(const struct keycache_ref *r);
void keycache_release(struct keycache *c, struct keycache_ref *r);

/* Drops every entry whose id starts with prefix (all versions of a deleted key). */
void keycache_forget(struct keycache *c, const char *prefix);

/* Lookups that found their key, and lookups that did not, since keycache_new (for /metrics). */
void keycache_stats(const struct keycache *c, uint64_t *hits, uint64_t *misses);

#endif
