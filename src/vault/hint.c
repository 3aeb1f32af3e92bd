/* hint.c owns the latest-version hint (hint.h): a fixed array of slots, each a key and a version
 * id, found by a hash of the key, under a few striped locks. It never reads the store, never
 * decides what is true (obj_get checks every hint against the head it reads with it) and holds no
 * secret material. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "vault/hint.h"

#define HINT_LOCKS 16	/* slot i is under lock i % HINT_LOCKS */

struct hint_slot {
	char key[HINT_KEY_MAX + 1];	/* "" when empty */
	char ver[HINT_VERSION_MAX + 1];
};

struct hint {
	struct hint_slot *slots;
	size_t n;
	pthread_mutex_t mu[HINT_LOCKS];
	_Atomic size_t hits, misses;
};

struct hint *hint_new(size_t slots)
{
	struct hint *h = NULL;
	size_t i;

	if (slots == 0 || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->slots = calloc(slots, sizeof(*h->slots))) == NULL) {
		free(h);
		return NULL;
	}
	h->n = slots;
	for (i = 0; i < HINT_LOCKS; i++)
		pthread_mutex_init(&h->mu[i], NULL);
	atomic_init(&h->hits, 0);
	atomic_init(&h->misses, 0);
	return h;
}

void hint_free(struct hint *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < HINT_LOCKS; i++)
		pthread_mutex_destroy(&h->mu[i]);
	free(h->slots);
	free(h);
}

static size_t slot_of(const struct hint *h, const char *key)
{
	return (size_t)(hash_fnv1a(key, strlen(key)) % h->n);
}

bool hint_get(struct hint *h, const char *key, char *ver)
{
	size_t i;
	bool found = false;

	ver[0] = '\0';
	if (key[0] != '\0' && strlen(key) <= HINT_KEY_MAX) {	/* "" is an empty slot's key */
		i = slot_of(h, key);
		pthread_mutex_lock(&h->mu[i % HINT_LOCKS]);
		if (strcmp(h->slots[i].key, key) == 0) {
			memcpy(ver, h->slots[i].ver, sizeof(h->slots[i].ver));
			found = true;
		}
		pthread_mutex_unlock(&h->mu[i % HINT_LOCKS]);
	}
	atomic_fetch_add(found ? &h->hits : &h->misses, 1);
	return found;
}

void hint_set(struct hint *h, const char *key, const char *ver)
{
	size_t i, klen = strlen(key), vlen = strlen(ver);

	if (klen == 0 || klen > HINT_KEY_MAX || vlen == 0 || vlen > HINT_VERSION_MAX)
		return;
	i = slot_of(h, key);
	pthread_mutex_lock(&h->mu[i % HINT_LOCKS]);
	memcpy(h->slots[i].key, key, klen + 1);
	memcpy(h->slots[i].ver, ver, vlen + 1);
	pthread_mutex_unlock(&h->mu[i % HINT_LOCKS]);
}

void hint_forget(struct hint *h, const char *key)
{
	size_t i;

	if (key[0] == '\0' || strlen(key) > HINT_KEY_MAX)
		return;
	i = slot_of(h, key);
	pthread_mutex_lock(&h->mu[i % HINT_LOCKS]);
	if (strcmp(h->slots[i].key, key) == 0)
		memset(&h->slots[i], 0, sizeof(h->slots[i]));
	pthread_mutex_unlock(&h->mu[i % HINT_LOCKS]);
}

void hint_stats(struct hint *h, size_t *hits, size_t *misses)
{
	*hits = atomic_load(&h->hits);
	*misses = atomic_load(&h->misses);
}
