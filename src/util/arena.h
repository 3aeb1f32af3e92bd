/* A request's arena: bump allocation in chunks, every byte wiped and every chunk freed at once
 * when the request ends (arena_free). Nothing allocated from an arena may be used after that.
 *
 * The first ARENA_INLINE bytes live inside struct arena itself (no allocation at all for a
 * small request); later chunks are malloc'd, each at least twice the size of the one before.
 *
 * Thread safety: an arena belongs to one request and is used by one thread at a time. The
 * thread's current arena (arena_enter/arena_leave) is thread-local: while one is entered,
 * util/json.c takes jansson's memory from it. */
#ifndef KLUIS_UTIL_ARENA_H
#define KLUIS_UTIL_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#define ARENA_INLINE 8192

struct arena_chunk;

struct arena {
	struct arena_chunk *chunks;	/* malloc'd ones, newest first */
	unsigned char *cur;		/* next free byte of the current chunk */
	unsigned char *end;		/* end of the current chunk */
	size_t next_size;		/* size of the next malloc'd chunk */
	/* An allocation was refused since the arena was made or freed: what was being built with
	 * it (a reply, through jansson's allocator) may lack a part whose failure went unseen. */
	bool failed;
	_Alignas(16) unsigned char first[ARENA_INLINE];
};

/* An empty arena (also what a zeroed struct arena becomes on first use). */
void arena_init(struct arena *a);
/* n bytes aligned to 16, not zeroed; NULL when out of memory or n is absurd. */
void *arena_alloc(struct arena *a, size_t n);
/* A copy of s (NULL: NULL) in the arena; NULL when out of memory. */
char *arena_strdup(struct arena *a, const char *s);
/* Whether p points into memory of a (NULL a: false). */
bool arena_owns(const struct arena *a, const void *p);
/* Wipes every byte handed out, frees the chunks; a is then empty and reusable. NULL: no-op. */
void arena_free(struct arena *a);

/* Makes a the calling thread's current arena; returns the one it replaces (restore it with
 * arena_leave). */
struct arena *arena_enter(struct arena *a);
void arena_leave(struct arena *prev);
/* The calling thread's current arena, or NULL outside any request. */
struct arena *arena_current(void);

#endif
