/* The parsed-key cache (see keycache.h). A fixed table of slots chosen by a hash of the id; a
 * collision replaces the older entry. One mutex guards the table and the reference counts; the
 * cryptography itself runs outside it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyops.h"
#include "util/hash.h"
#include "vault/keycache.h"

struct keycache_ref {
	char *id;
	struct keyops_key *key;
	unsigned refs;		/* the cache's own reference counts as one while it is in a slot */
};

struct keycache {
	pthread_mutex_t mu;
	size_t n;
	struct keycache_ref **slots;
	_Atomic uint64_t hits, misses;	/* lookups, for /metrics: atomics, outside the mutex */
};

struct keycache *keycache_new(size_t slots)
{
	struct keycache *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->slots = calloc(slots, sizeof(*c->slots))) == NULL) {
		free(c);
		return NULL;
	}
	c->n = slots;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void ref_destroy(struct keycache_ref *r)
{
	keyops_free(r->key);
	free(r->id);
	free(r);
}

/* Drops one reference; the caller holds the mutex. True when r must be destroyed. */
static bool unref_locked(struct keycache_ref *r)
{
	return --r->refs == 0;
}

static size_t slot_of(const struct keycache *c, const char *id)
{
	return (size_t)(hash_fnv1a(id, strlen(id)) % c->n);
}

struct keycache_ref *keycache_get(struct keycache *c, const char *id)
{
	struct keycache_ref *r;

	pthread_mutex_lock(&c->mu);
	r = c->slots[slot_of(c, id)];
	if (r != NULL && strcmp(r->id, id) == 0)
		r->refs++;
	else
		r = NULL;
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add_explicit(r != NULL ? &c->hits : &c->misses, 1, memory_order_relaxed);
	return r;
}

struct keycache_ref *keycache_put(struct keycache *c, const char *id, struct keyops_key *key)
{
	struct keycache_ref *r = calloc(1, sizeof(*r)), *old;
	bool destroy_old = false;
	size_t s;

	if (r == NULL || (r->id = strdup(id)) == NULL) {
		free(r);
		keyops_free(key);
		return NULL;
	}
	r->key = key;
	r->refs = 2;	/* the slot's and the caller's */
	s = slot_of(c, id);
	pthread_mutex_lock(&c->mu);
	old = c->slots[s];
	c->slots[s] = r;
	if (old != NULL)
		destroy_old = unref_locked(old);
	pthread_mutex_unlock(&c->mu);
	if (destroy_old)
		ref_destroy(old);
	return r;
}

const struct keyops_key *keycache_key(const struct keycache_ref *r)
{
	return r->key;
}

void keycache_release(struct keycache *c, struct keycache_ref *r)
{
	bool destroy;

	if (r == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	destroy = unref_locked(r);
	pthread_mutex_unlock(&c->mu);
	if (destroy)
		ref_destroy(r);
}

void keycache_forget(struct keycache *c, const char *prefix)
{
	size_t i, len = strlen(prefix);

	for (i = 0; i < c->n; i++) {
		struct keycache_ref *r;
		bool destroy = false;

		pthread_mutex_lock(&c->mu);
		r = c->slots[i];
		if (r != NULL && strncmp(r->id, prefix, len) == 0) {
			c->slots[i] = NULL;
			destroy = unref_locked(r);
		}
		pthread_mutex_unlock(&c->mu);
		if (destroy)
			ref_destroy(r);
	}
}

void keycache_stats(const struct keycache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
	*misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
}

void keycache_free(struct keycache *c)
{
	if (c == NULL)
		return;
	keycache_forget(c, "");
	pthread_mutex_destroy(&c->mu);
	free(c->slots);
	free(c);
}
