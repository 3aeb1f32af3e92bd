/* A fast non-cryptographic hash for the node's in-memory tables (slot choice only: never for
 * anything an attacker could gain from colliding, and never in place of a MAC or a digest). */
#ifndef KLUIS_UTIL_HASH_H
#define KLUIS_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits, of the n bytes at p. */
uint64_t hash_fnv1a(const void *p, size_t n);

#endif
