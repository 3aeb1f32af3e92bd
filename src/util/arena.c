/* arena.c owns the per-request bump allocator (util/arena.h): chunks, their wiping and freeing,
 * and the thread's current arena. It must never hand out memory that outlives arena_free, nor
 * free a block on its own: everything goes at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/secbuf.h"

#define ARENA_ALIGN 16
#define ARENA_CHUNK_MIN (16 * 1024)
#define ARENA_CHUNK_MAX (1024 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;		/* bytes of data */
	_Alignas(16) unsigned char data[];
};

static _Thread_local struct arena *current;

void arena_init(struct arena *a)
{
	a->chunks = NULL;
	a->cur = a->first;
	a->end = a->first + sizeof(a->first);
	a->next_size = ARENA_CHUNK_MIN;
	a->failed = false;
}

static size_t round_up(size_t n)
{
	return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c;
	size_t size;
	void *p;

	if (a->cur == NULL)	/* zeroed struct */
		arena_init(a);
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / 2) {
		a->failed = true;
		return NULL;
	}
	n = round_up(n);
	if ((size_t)(a->end - a->cur) < n) {
		size = a->next_size;
		while (size < n)
			size *= 2;
		if ((c = malloc(sizeof(*c) + size)) == NULL) {
			a->failed = true;
			return NULL;
		}
		c->size = size;
		c->next = a->chunks;
		a->chunks = c;
		a->cur = c->data;
		a->end = c->data + size;
		if (a->next_size < ARENA_CHUNK_MAX)
			a->next_size *= 2;
	}
	p = a->cur;
	a->cur += n;
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	if ((d = arena_alloc(a, n)) != NULL)
		memcpy(d, s, n);
	return d;
}

bool arena_owns(const struct arena *a, const void *p)
{
	const unsigned char *q = p;
	const struct arena_chunk *c;

	if (a == NULL || q == NULL)
		return false;
	if (q >= a->first && q < a->first + sizeof(a->first))
		return true;
	for (c = a->chunks; c != NULL; c = c->next)
		if (q >= c->data && q < c->data + c->size)
			return true;
	return false;
}

void arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;
	bool in_first;

	if (a == NULL || a->cur == NULL)
		return;
	in_first = a->chunks == NULL;
	for (c = a->chunks; c != NULL; c = next) {
		next = c->next;
		/* The current (newest) chunk is used up to cur; the older ones may be used to
		 * their end (a block that did not fit moved on). */
		secure_wipe(c->data, c == a->chunks ? (size_t)(a->cur - c->data) : c->size);
		free(c);
	}
	secure_wipe(a->first, in_first ? (size_t)(a->cur - a->first) : sizeof(a->first));
	if (current == a)
		current = NULL;
	arena_init(a);
}

struct arena *arena_enter(struct arena *a)
{
	struct arena *prev = current;

	current = a;
	return prev;
}

void arena_leave(struct arena *prev)
{
	current = prev;
}

struct arena *arena_current(void)
{
	return current;
}
