/* authcache.c owns the node's caches of authentication and authorization answers
 * (authcache.h): three fixed tables, each behind one mutex, and the thread that polls the store's
 * change epoch. It never reads a record itself (the callers fill it with what they read), never
 * caches a refusal or the admin token, and never logs a key of its tables (a token's digest). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/secbuf.h"
#include "vault/authcache.h"
#include "vault/internal.h"

#define WHO_SLOTS 4096
#define RIGHTS_SLOTS 4096
#define VAULT_SLOTS 1024
#define KEY_MAX 64	/* a digest (32), "<principal id>/<vault>" (62), a vault name (24) */

struct entry {
	bool used;
	uint8_t key_len;
	unsigned char key[KEY_MAX];
	uint64_t epoch;		/* authcache_epoch before the fill's reads */
	uint64_t filled_ms;	/* clock_mono_ms when put */
	int64_t until_s;	/* Unix seconds it is good before; 0: no limit of its own */
	union {
		struct principal_ref who;
		uint64_t perms;
		struct vault vault;
	} val;
};

struct table {
	pthread_mutex_t mu;
	size_t n;
	struct entry *slots;
};

struct authcache {
	struct table who, rights, vaults;
	_Atomic uint64_t hits, misses;
	_Atomic uint64_t poll_ok_ms;	/* clock_mono_ms when the last good poll started; 0: the
					 * poller is not running, nothing is trusted */
	pthread_mutex_t poll_mu;	/* one poll at a time */
	/* the poller */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* on CLOCK_MONOTONIC */
	pthread_t thread;
	bool running, stop;
	bool failing;			/* the poller's own: the last poll failed (logged once) */
};

static int table_init(struct table *t, size_t n)
{
	if ((t->slots = calloc(n, sizeof(*t->slots))) == NULL)
		return -1;
	t->n = n;
	pthread_mutex_init(&t->mu, NULL);
	return 0;
}

static void table_clear(struct table *t)
{
	if (t->slots == NULL)
		return;
	secure_wipe(t->slots, t->n * sizeof(*t->slots));
	free(t->slots);
	t->slots = NULL;
	pthread_mutex_destroy(&t->mu);
}

struct authcache *authcache_new(struct kl_err *err)
{
	struct authcache *c = calloc(1, sizeof(*c));
	pthread_condattr_t attr;

	if (c == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->poll_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &attr);
	pthread_condattr_destroy(&attr);
	if (table_init(&c->who, WHO_SLOTS) != 0 || table_init(&c->rights, RIGHTS_SLOTS) != 0 ||
	    table_init(&c->vaults, VAULT_SLOTS) != 0) {
		authcache_free(c);
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	return c;
}

void authcache_free(struct authcache *c)
{
	if (c == NULL)
		return;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->poll_mu);
	table_clear(&c->who);
	table_clear(&c->rights);
	table_clear(&c->vaults);
	free(c);
}

int authcache_watch(struct store *st, struct kl_err *err)
{
	/* the records whose changes the answers depend on: vault/keyspace.h */
	return store_watch(st, keyspace_watched, keyspace_n_watched, KEYSPACE_META_AUTH_EPOCH,
			   err);
}

/* ---- the poller ---- */

/* One poll of the epoch, by the poller or by a request that found the poller late; polls run one
 * at a time (poll_mu, held by the caller). After the poll has bumped the epoch for what it saw,
 * poll_ok_ms moves to the time the poll started: an entry is trusted only while that is recent,
 * so a change the poll missed is younger than it. */
static int poll_locked(struct vault_core *core, struct kl_err *err)
{
	struct authcache *c = core->auth;
	uint64_t started = clock_mono_ms(), prev;

	if (store_epoch_poll(core->st, err) != 0)
		return -1;
	prev = atomic_load(&c->poll_ok_ms);
	while (prev != 0 && prev < started &&
	       !atomic_compare_exchange_weak(&c->poll_ok_ms, &prev, started))
		;	/* prev == 0: stopped meanwhile, and it stays so */
	return 0;
}

static void poll_once(struct vault_core *core)
{
	struct authcache *c = core->auth;
	struct kl_err err = { 0 };
	int rc;

	pthread_mutex_lock(&c->poll_mu);
	rc = poll_locked(core, &err);
	pthread_mutex_unlock(&c->poll_mu);
	if (rc != 0) {
		if (!c->failing)
			LOG_WARN(NULL, "the change epoch cannot be read (%s): the node's "
				 "authentication caches are bypassed until it can", err.msg);
		c->failing = true;
		return;
	}
	if (c->failing)
		LOG_INFO(NULL, "the change epoch is readable again");
	c->failing = false;
}

static void *poller(void *arg)
{
	struct vault_core *core = arg;
	struct authcache *c = core->auth;
	struct timespec until;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		pthread_mutex_unlock(&c->mu);
		poll_once(core);
		pthread_mutex_lock(&c->mu);
		until = clock_after_ms(CLOCK_MONOTONIC, AUTHCACHE_POLL_MS);
		while (!c->stop && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int authcache_start(struct vault_core *core, struct kl_err *err)
{
	struct authcache *c = core->auth;
	uint64_t started = clock_mono_ms();
	int rc;

	if (c->running)
		return 0;
	if (store_epoch_poll(core->st, err) != 0)
		return -1;
	atomic_store(&c->poll_ok_ms, started);	/* from here on polls move it */
	c->stop = false;
	if ((rc = pthread_create(&c->thread, NULL, poller, core)) != 0)
		return kl_fail(err, KL_EINTERNAL, "cannot start the change epoch poller: %s",
			       strerror(rc));
	c->running = true;
	return 0;
}

void authcache_stop(struct vault_core *core)
{
	struct authcache *c = core->auth;

	if (c == NULL || !c->running)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	c->running = false;
	atomic_store(&c->poll_ok_ms, 0);	/* nobody watches the epoch any more */
}

uint64_t authcache_epoch(struct vault_core *core)
{
	return store_epoch(core->st);
}

/* ---- the tables ---- */

static size_t slot_of(const struct table *t, const unsigned char *key, size_t len)
{
	return (size_t)(hash_fnv1a(key, len) % t->n);
}

/* Constant time in the bytes (a key may be a token's digest). */
static bool same_key(const struct entry *e, const unsigned char *key, size_t len)
{
	unsigned char diff = 0;
	size_t i;

	if (e->key_len != len)
		return false;
	for (i = 0; i < len; i++)
		diff |= (unsigned char)(e->key[i] ^ key[i]);
	return diff == 0;
}

/* Whether entries may be trusted now: a good poll started less than AUTHCACHE_STALE_MS ago. When
 * the poller is late (a busy machine), the first request to notice polls itself, rather than
 * trust entries or pass every request to the store; the others meanwhile miss. *now_ms gets the
 * time of the check. */
static bool fresh(struct vault_core *core, uint64_t *now_ms)
{
	struct authcache *c = core->auth;
	/* ok_ms first: polls store a time read before they read the store, so now_ms >= ok_ms. */
	uint64_t ok_ms = atomic_load(&c->poll_ok_ms);
	struct kl_err err = { 0 };
	bool ok;

	*now_ms = clock_mono_ms();
	if (ok_ms == 0)
		return false;	/* no poller: nobody would see another node's changes */
	if (*now_ms - ok_ms < AUTHCACHE_STALE_MS)
		return true;
	if (pthread_mutex_trylock(&c->poll_mu) != 0)
		return false;
	ok = poll_locked(core, &err) == 0;	/* the poller logs a store that fails */
	pthread_mutex_unlock(&c->poll_mu);
	*now_ms = clock_mono_ms();
	return ok && atomic_load(&c->poll_ok_ms) != 0;
}

/* Copies the value of a good entry for key into *val; false (a miss) otherwise. */
static bool table_find(struct vault_core *core, struct table *t, const unsigned char *key,
		       size_t len, void *val, size_t val_len)
{
	struct authcache *c = core->auth;
	uint64_t now_ms, epoch;
	struct entry *e;
	bool hit = false;

	if (len <= KEY_MAX && fresh(core, &now_ms)) {
		epoch = authcache_epoch(core);	/* after the poll fresh() may have made */
		e = &t->slots[slot_of(t, key, len)];
		pthread_mutex_lock(&t->mu);
		hit = e->used && same_key(e, key, len) && e->epoch == epoch &&
		      now_ms - e->filled_ms < AUTHCACHE_LIFETIME_MS &&
		      (e->until_s == 0 || clock_now_s() < e->until_s);
		if (hit)
			memcpy(val, &e->val, val_len);
		pthread_mutex_unlock(&t->mu);
	}
	atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
	return hit;
}

static void table_put(struct vault_core *core, struct table *t, const unsigned char *key,
		      size_t len, const void *val, size_t val_len, int64_t until_s, uint64_t epoch)
{
	struct entry *e;

	/* An entry already stale is not worth a slot (the epoch moved during the fill). */
	if (len > KEY_MAX || epoch != authcache_epoch(core))
		return;
	e = &t->slots[slot_of(t, key, len)];
	pthread_mutex_lock(&t->mu);
	secure_wipe(e, sizeof(*e));
	e->used = true;
	e->key_len = (uint8_t)len;
	memcpy(e->key, key, len);
	e->epoch = epoch;
	e->filled_ms = clock_mono_ms();
	e->until_s = until_s;
	memcpy(&e->val, val, val_len);
	pthread_mutex_unlock(&t->mu);
}

bool authcache_who_find(struct vault_core *core, const unsigned char digest[TOKEN_DIGEST_LEN],
			struct principal_ref *who)
{
	return core->auth != NULL &&
	       table_find(core, &core->auth->who, digest, TOKEN_DIGEST_LEN, who, sizeof(*who));
}

void authcache_who_put(struct vault_core *core, const unsigned char digest[TOKEN_DIGEST_LEN],
		       const struct principal_ref *who, int64_t until_s, uint64_t epoch)
{
	if (core->auth == NULL || who->is_admin || who->id[0] == '\0')
		return;	/* the admin token is checked against its digest every time */
	table_put(core, &core->auth->who, digest, TOKEN_DIGEST_LEN, who, sizeof(*who), until_s,
		  epoch);
}

/* "<principal id>/<scope>"; 0 when it does not fit (then nothing is cached). */
static size_t rights_key(unsigned char *out, const char *principal_id, const char *scope)
{
	int n = snprintf((char *)out, KEY_MAX + 1, "%s/%s", principal_id, scope);

	return n > 0 && n <= KEY_MAX ? (size_t)n : 0;
}

bool authcache_rights_find(struct vault_core *core, const char *principal_id, const char *scope,
			   uint64_t *perms)
{
	unsigned char key[KEY_MAX + 1];
	size_t len = rights_key(key, principal_id, scope);

	return core->auth != NULL && len > 0 &&
	       table_find(core, &core->auth->rights, key, len, perms, sizeof(*perms));
}

void authcache_rights_put(struct vault_core *core, const char *principal_id, const char *scope,
			  uint64_t perms, uint64_t epoch)
{
	unsigned char key[KEY_MAX + 1];
	size_t len = rights_key(key, principal_id, scope);

	if (core->auth != NULL && len > 0 && principal_id[0] != '\0')
		table_put(core, &core->auth->rights, key, len, &perms, sizeof(perms), 0, epoch);
}

bool authcache_vault_find(struct vault_core *core, const char *lname, struct vault *out)
{
	size_t len = strlen(lname);

	return core->auth != NULL && len > 0 && len <= VAULT_NAME_MAX &&
	       table_find(core, &core->auth->vaults, (const unsigned char *)lname, len, out,
			  sizeof(*out));
}

void authcache_vault_put(struct vault_core *core, const struct vault *v, uint64_t epoch)
{
	size_t len = strlen(v->name);

	if (core->auth != NULL && len > 0)
		table_put(core, &core->auth->vaults, (const unsigned char *)v->name, len, v,
			  sizeof(*v), 0, epoch);
}

void authcache_stats(const struct vault_core *core, uint64_t *hits, uint64_t *misses)
{
	*hits = core->auth != NULL ? atomic_load(&core->auth->hits) : 0;
	*misses = core->auth != NULL ? atomic_load(&core->auth->misses) : 0;
}
