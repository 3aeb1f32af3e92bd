/* throttle.c owns the request budgets (throttle.h): their configuration, the fixed table of
 * buckets and its striped locks. It knows nothing of routes, HTTP or Azure's error bodies
 * (throttle_gate.c turns a refusal into a 429). It must never allocate or read a clock while
 * counting, never hold a lock while doing anything but arithmetic on one set of buckets, and
 * never grow: a flood of distinct vaults or principals evicts buckets, it does not add them. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/throttle.h"

#define STRIPES 64u	/* locks; set i is guarded by stripe i % STRIPES */
#define SCALE_ONE 1000000ull	/* scale in millionths */
#define SCALE_MIN 1000ull	/* 0.001 */
#define SCALE_MAX (100000ull * SCALE_ONE)
#define LIMIT_MAX 1000000000000ull
#define WINDOW_MAX_S 3600u
#define ITEM_MAX 64

_Static_assert((THROTTLE_SETS & (THROTTLE_SETS - 1)) == 0, "THROTTLE_SETS is a power of two");

enum scope { SCOPE_VAULT = 1, SCOPE_PRINCIPAL = 2 };

/* Azure Key Vault's limits per vault per region per 10 s (learn.microsoft.com/azure/key-vault/
 * general/service-limits: software keys; Resource Manager's token buckets for the management
 * plane: reads 25/s, writes and deletes 10/s). spec/azure-keyvault-api.md §8. */
static const uint64_t azure_per_10s[THROTTLE_BUDGETS] = {
	[THROTTLE_NONE] = 0,
	[THROTTLE_SECRETS] = 4000,
	[THROTTLE_SECRET_CREATE] = 300,
	[THROTTLE_KEYS] = 4000,
	[THROTTLE_KEY_CREATE] = 20,
	[THROTTLE_MGMT_READ] = 250,
	[THROTTLE_MGMT_WRITE] = 100,
	[THROTTLE_IDENTITY] = 0,	/* not Azure's: THROTTLE_IDENTITY_PER_10S, unscaled */
};

static const char *const budget_names[THROTTLE_BUDGETS] = {
	[THROTTLE_NONE] = "",
	[THROTTLE_SECRETS] = "secrets",
	[THROTTLE_SECRET_CREATE] = "secret-create",
	[THROTTLE_KEYS] = "keys",
	[THROTTLE_KEY_CREATE] = "key-create",
	[THROTTLE_MGMT_READ] = "mgmt-read",
	[THROTTLE_MGMT_WRITE] = "mgmt-write",
	[THROTTLE_IDENTITY] = "identity",
};

struct bucket {
	uint64_t hash;		/* of (scope, budget, name); 0: never used */
	int64_t start_us;	/* when its window opened */
	uint64_t count;		/* units counted in that window */
	uint8_t scope;
	uint8_t budget;
	char name[THROTTLE_NAME_MAX + 1];	/* cut at THROTTLE_NAME_MAX; the hash has it all */
};

/* One lock per cache line, so that two workers on different stripes never share one. */
struct stripe {
	pthread_mutex_t lock;
	char pad[64 - sizeof(pthread_mutex_t) % 64];
};

struct throttle {
	struct throttle_config cfg;
	int64_t window_us;
	struct bucket *buckets;		/* THROTTLE_SETS sets of THROTTLE_WAYS */
	struct stripe stripes[STRIPES];
	_Atomic uint64_t evictions;
};

/* --- configuration -------------------------------------------------------------------------- */

/* Azure's limit of b times scale (millionths), prorated from 10 s to the window; at least 1. */
static uint64_t scaled(enum throttle_budget b, uint64_t scale_micro, unsigned window_s)
{
	uint64_t den = 10 * SCALE_ONE;
	uint64_t n = azure_per_10s[b] * scale_micro * window_s;	/* < 4000 * 1e11 * 3600 < 2^61 */

	n = (n + den - 1) / den;
	return n > 0 ? n : 1;
}

static void apply_scale(struct throttle_config *cfg, uint64_t scale_micro)
{
	int b;

	for (b = THROTTLE_NONE + 1; b < THROTTLE_BUDGETS; b++)
		cfg->vault[b] = cfg->principal[b] = scaled((enum throttle_budget)b, scale_micro,
							   cfg->window_s);
	/* Token requests are counted per client address only, at a rate of their own: a client
	 * that needs more than 20 tokens a second is not caching them. */
	cfg->vault[THROTTLE_IDENTITY] =
		((uint64_t)THROTTLE_IDENTITY_PER_10S * cfg->window_s + 9) / 10;
	cfg->principal[THROTTLE_IDENTITY] = 0;
}

void throttle_config_default(struct throttle_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->window_s = THROTTLE_DEFAULT_WINDOW_S;
	apply_scale(cfg, THROTTLE_DEFAULT_SCALE_MICRO);
}

void throttle_config_describe(const struct throttle_config *cfg, char *out, size_t n)
{
	size_t len;
	int b;

	if (cfg->is_off) {
		snprintf(out, n, "off");
		return;
	}
	snprintf(out, n, "per %u s, per vault (per principal):", cfg->window_s);
	for (b = THROTTLE_NONE + 1; b < THROTTLE_BUDGETS; b++) {
		len = strlen(out);
		if (b == THROTTLE_IDENTITY)
			snprintf(out + len, n - len, "; identity %llu per client address",
				 (unsigned long long)cfg->vault[b]);
		else if (cfg->principal[b] == cfg->vault[b])
			snprintf(out + len, n - len, "%s %s %llu", b > 1 ? "," : "",
				 budget_names[b], (unsigned long long)cfg->vault[b]);
		else
			snprintf(out + len, n - len, "%s %s %llu (%llu)", b > 1 ? "," : "",
				 budget_names[b], (unsigned long long)cfg->vault[b],
				 (unsigned long long)cfg->principal[b]);
	}
}

const char *throttle_budget_name(enum throttle_budget b)
{
	return (unsigned)b < THROTTLE_BUDGETS ? budget_names[b] : "";
}

/* Digits only, in [min, max]. */
static bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0 || v < min)
		return false;
	*out = v;
	return true;
}

/* A decimal "123" or "0.25" (at most six decimals) in millionths. */
static bool parse_scale(const char *s, uint64_t *out)
{
	char whole[16], frac[7] = "000000";
	const char *dot = strchr(s, '.');
	size_t wl = dot ? (size_t)(dot - s) : strlen(s), fl = dot ? strlen(dot + 1) : 0;
	uint64_t w, f;

	if (wl == 0 || wl >= sizeof(whole) || (dot != NULL && (fl == 0 || fl > 6)))
		return false;
	memcpy(whole, s, wl);
	whole[wl] = '\0';
	if (dot != NULL)
		memcpy(frac, dot + 1, fl);
	if (!parse_uint(whole, 0, SCALE_MAX / SCALE_ONE, &w) || !parse_uint(frac, 0, 999999, &f))
		return false;
	*out = w * SCALE_ONE + f;
	return *out >= SCALE_MIN && *out <= SCALE_MAX;
}

static int budget_by_name(const char *name)
{
	int b;

	for (b = THROTTLE_NONE + 1; b < THROTTLE_BUDGETS; b++)
		if (strcmp(name, budget_names[b]) == 0)
			return b;
	return -1;
}

int throttle_config_parse(const char *spec, struct throttle_config *cfg, struct kl_err *err)
{
	uint64_t vault[THROTTLE_BUDGETS] = { 0 }, principal[THROTTLE_BUDGETS] = { 0 };
	uint64_t scale = THROTTLE_DEFAULT_SCALE_MICRO, v;
	const char *p = spec, *end;
	char item[ITEM_MAX], *value;
	int b;

	throttle_config_default(cfg);
	if (strcmp(spec, "off") == 0) {
		cfg->is_off = true;
		return 0;
	}
	for (; ; p = end + 1) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) >= sizeof(item) || end == p)
			return kl_fail(err, KL_EINVAL, "empty or overlong item '%.*s'",
				       (int)(end - p > 64 ? 64 : end - p), p);
		memcpy(item, p, (size_t)(end - p));
		item[end - p] = '\0';
		if ((value = strchr(item, '=')) == NULL)
			return kl_fail(err, KL_EINVAL,
				       "'%s' is not NAME=VALUE (or the whole value 'off')", item);
		*value++ = '\0';
		if (strcmp(item, "window") == 0) {
			if (!parse_uint(value, 1, WINDOW_MAX_S, &v))
				return kl_fail(err, KL_EINVAL, "window must be 1 to 3600 seconds");
			cfg->window_s = (unsigned)v;
		} else if (strcmp(item, "scale") == 0) {
			if (!parse_scale(value, &scale))
				return kl_fail(err, KL_EINVAL,
					       "scale must be a decimal from 0.001 to 100000");
		} else if (strcmp(item, "principal.identity") == 0) {
			return kl_fail(err, KL_EINVAL, "identity is counted per client address: "
				       "there is no principal.identity");
		} else if ((b = budget_by_name(strncmp(item, "principal.", 10) == 0 ? item + 10
										   : item)) > 0) {
			if (!parse_uint(value, 1, LIMIT_MAX, &v))
				return kl_fail(err, KL_EINVAL,
					       "%s must be a number from 1 to 10^12", item);
			*(strncmp(item, "principal.", 10) == 0 ? &principal[b] : &vault[b]) = v;
		} else {
			return kl_fail(err, KL_EINVAL, "unknown item '%s' (window, scale, secrets, "
				       "secret-create, keys, key-create, mgmt-read, mgmt-write, "
				       "identity, principal.BUDGET)", item);
		}
		if (*end == '\0')
			break;
	}
	apply_scale(cfg, scale);
	for (b = THROTTLE_NONE + 1; b < THROTTLE_BUDGETS; b++) {
		if (vault[b] != 0)
			cfg->vault[b] = cfg->principal[b] = vault[b];
		if (principal[b] != 0)
			cfg->principal[b] = principal[b];
	}
	cfg->principal[THROTTLE_IDENTITY] = 0;
	return 0;
}

unsigned throttle_key_weight(enum throttle_budget b, const char *kty, unsigned bits)
{
	bool hsm = kty != NULL && strstr(kty, "-HSM") != NULL;
	unsigned w = 1;

	if (b == THROTTLE_KEY_CREATE)	/* Azure: 20 creations of any type, 10 of an HSM key */
		return hsm ? 2 : 1;
	if (b != THROTTLE_KEYS)
		return 1;
	if (kty != NULL && strncmp(kty, "RSA", 3) == 0)
		w = bits > 3072 ? 8 : bits > 2048 ? 4 : 1;
	return hsm ? 2 * w : w;
}

/* --- the table ------------------------------------------------------------------------------ */

struct throttle *throttle_new(const struct throttle_config *cfg, struct kl_err *err)
{
	struct throttle *t = calloc(1, sizeof(*t));
	unsigned i;

	if (t == NULL || (t->buckets = calloc((size_t)THROTTLE_SETS * THROTTLE_WAYS,
					      sizeof(*t->buckets))) == NULL) {
		free(t);
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	t->cfg = *cfg;
	t->window_us = (int64_t)cfg->window_s * 1000000;
	for (i = 0; i < STRIPES; i++)
		pthread_mutex_init(&t->stripes[i].lock, NULL);
	atomic_init(&t->evictions, 0);
	return t;
}

void throttle_free(struct throttle *t)
{
	unsigned i;

	if (t == NULL)
		return;
	for (i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&t->stripes[i].lock);
	free(t->buckets);
	free(t);
}

const struct throttle_config *throttle_config_of(const struct throttle *t)
{
	return &t->cfg;
}

uint64_t throttle_evictions(const struct throttle *t)
{
	return atomic_load_explicit(&t->evictions, memory_order_relaxed);
}

/* FNV-1a with a final mix, so the set index (the low bits) depends on every byte. */
static uint64_t key_hash(enum scope scope, enum throttle_budget b, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = (h ^ (uint64_t)scope) * 0x100000001b3ull;
	h = (h ^ (uint64_t)b) * 0x100000001b3ull;
	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h != 0 ? h : 1;
}

/* Is b's window still open at now? Workers pass their own request's start time, which may be a
 * little before the time another worker opened the window: that is "open", never "ended". */
static bool is_live(const struct throttle *t, const struct bucket *b, int64_t now)
{
	return b->hash != 0 && now - b->start_us < t->window_us;
}

static bool is_key(const struct bucket *b, uint64_t h, enum scope scope, enum throttle_budget bud,
		   const char *name)
{
	return b->hash == h && b->scope == scope && b->budget == bud &&
	       strncmp(b->name, name, THROTTLE_NAME_MAX) == 0;
}

struct key {
	enum scope scope;
	enum throttle_budget budget;
	const char *name;
	uint64_t hash;
	struct bucket *set;
	pthread_mutex_t *lock;
};

static void key_init(struct throttle *t, struct key *k, enum scope scope, enum throttle_budget b,
		     const char *name)
{
	size_t set;

	k->scope = scope;
	k->budget = b;
	k->name = name != NULL ? name : "";
	k->hash = key_hash(scope, b, k->name);
	set = (size_t)(k->hash & (THROTTLE_SETS - 1));
	k->set = &t->buckets[set * THROTTLE_WAYS];
	k->lock = &t->stripes[set % STRIPES].lock;
}

/* The key's bucket, with its window open at now: found, or made in a free way of its set, or in
 * place of the live bucket that has counted least (of those, the oldest): a burst of new names
 * evicts each other before it evicts a busy caller's count. Under the key's lock. */
static struct bucket *bucket_get(struct throttle *t, const struct key *k, int64_t now)
{
	struct bucket *victim = NULL, *b;
	bool victim_live = true, live;
	unsigned i;
	size_t n;

	for (i = 0; i < THROTTLE_WAYS; i++) {
		b = &k->set[i];
		live = is_live(t, b, now);
		if (is_key(b, k->hash, k->scope, k->budget, k->name)) {
			if (!live) {
				b->start_us = now;
				b->count = 0;
			}
			return b;
		}
		if (victim == NULL || (victim_live && (!live || b->count < victim->count ||
						       (b->count == victim->count &&
							b->start_us < victim->start_us)))) {
			victim = b;
			victim_live = live;
		}
	}
	if (victim_live)
		atomic_fetch_add_explicit(&t->evictions, 1, memory_order_relaxed);
	victim->hash = k->hash;
	victim->scope = (uint8_t)k->scope;
	victim->budget = (uint8_t)k->budget;
	n = strnlen(k->name, THROTTLE_NAME_MAX);
	memcpy(victim->name, k->name, n);
	victim->name[n] = '\0';
	victim->start_us = now;
	victim->count = 0;
	return victim;
}

/* Whole seconds until b's window ends, at least 1. */
static unsigned retry_after(const struct throttle *t, const struct bucket *b, int64_t now)
{
	int64_t left = b->start_us + t->window_us - now;

	if (left > t->window_us)
		left = t->window_us;
	if (left < 1)
		left = 1;
	return (unsigned)((left + 999999) / 1000000);
}

/* One unit of the key's budget: 0 with *start the window it went to, or -1 with *retry_s when
 * the window is spent. */
static int take(struct throttle *t, const struct key *k, uint64_t limit, int64_t now,
		int64_t *start, unsigned *retry_s)
{
	struct bucket *b;
	int rc = 0;

	pthread_mutex_lock(k->lock);
	b = bucket_get(t, k, now);
	if (b->count >= limit) {
		*retry_s = retry_after(t, b, now);
		rc = -1;
	} else {
		b->count++;
		*start = b->start_us;
	}
	pthread_mutex_unlock(k->lock);
	return rc;
}

/* Gives back the unit take() counted in the window opened at start, if that window is current. */
static void refund(const struct key *k, int64_t start)
{
	unsigned i;

	pthread_mutex_lock(k->lock);
	for (i = 0; i < THROTTLE_WAYS; i++) {
		struct bucket *b = &k->set[i];

		if (is_key(b, k->hash, k->scope, k->budget, k->name)) {
			if (b->start_us == start && b->count > 0)
				b->count--;
			break;
		}
	}
	pthread_mutex_unlock(k->lock);
}

int throttle_admit(struct throttle *t, enum throttle_budget b, const char *vault,
		   const char *principal, uint64_t now_us, struct throttle_verdict *v)
{
	struct key kv, kp;
	int64_t now = (int64_t)now_us, start_v = 0, start_p;
	uint64_t lv, lp;
	unsigned retry = 1;

	if (t == NULL || t->cfg.is_off || (unsigned)b >= THROTTLE_BUDGETS || b == THROTTLE_NONE)
		return 0;
	lv = t->cfg.vault[b];
	lp = t->cfg.principal[b];
	if (lv != 0) {
		key_init(t, &kv, SCOPE_VAULT, b, vault);
		if (take(t, &kv, lv, now, &start_v, &retry) != 0) {
			*v = (struct throttle_verdict){ false, lv, retry };
			return -1;
		}
	}
	if (lp != 0) {
		key_init(t, &kp, SCOPE_PRINCIPAL, b, principal);
		if (take(t, &kp, lp, now, &start_p, &retry) != 0) {
			if (lv != 0)
				refund(&kv, start_v);
			*v = (struct throttle_verdict){ true, lp, retry };
			return -1;
		}
	}
	return 0;
}

static void charge_one(struct throttle *t, enum scope scope, enum throttle_budget b,
		       const char *name, uint64_t extra, int64_t now)
{
	struct bucket *bk;
	struct key k;

	key_init(t, &k, scope, b, name);
	pthread_mutex_lock(k.lock);
	bk = bucket_get(t, &k, now);
	bk->count = bk->count > UINT64_MAX - extra ? UINT64_MAX : bk->count + extra;
	pthread_mutex_unlock(k.lock);
}

void throttle_charge(struct throttle *t, enum throttle_budget b, const char *vault,
		     const char *principal, uint64_t extra, uint64_t now_us)
{
	if (t == NULL || t->cfg.is_off || (unsigned)b >= THROTTLE_BUDGETS || b == THROTTLE_NONE ||
	    extra == 0)
		return;
	if (t->cfg.vault[b] != 0)
		charge_one(t, SCOPE_VAULT, b, vault, extra, (int64_t)now_us);
	if (t->cfg.principal[b] != 0)
		charge_one(t, SCOPE_PRINCIPAL, b, principal, extra, (int64_t)now_us);
}
