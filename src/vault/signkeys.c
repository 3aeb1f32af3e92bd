/* The keys that sign kluis access tokens (identity.h, signing keys): records K/kl-<hex> (RSA-2048,
 * the private key sealed under the data key with the record's key as aad, like every other key
 * material) and m/signkey (the kid of the active key, so that two nodes never make two active keys
 * at once), and the in-process cache of the unsealed keys. The cache is reloaded every 60 s, so a
 * rotation on another node reaches this one within a minute, and at most once a second when a
 * token names a kid it does not hold. Never writes on a read-only node; never lets a private key
 * out of this file (callers get signatures and public JWKs). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyops.h"
#include "crypto/rand.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/rec.h"
#include "util/secbuf.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"

#define SIGNKEY_FORMAT 1
#define SIGNKEY_PREFIX KEYSPACE_SIGNING_KEYS "kl-"	/* K/<kid>; the kid starts "kl-" */
#define SIGNKEY_ACTIVE KEYSPACE_META_SIGNKEY
#define SIGNKEY_BITS 2048
#define SIGNKEY_MAX IDENTITY_SIGNING_KEYS_MAX	/* records loaded; rotation keeps within it */
#define SIGNKEY_REFRESH_MS 60000	/* the cache's age before it is reloaded */
#define SIGNKEY_MISS_MS 1000		/* reloads for an unknown kid, at most one per */
#define SIGNKEY_KEEP_S (IDENTITY_LIFETIME_MAX_S + 2 * IDENTITY_SKEW_S)	/* after retirement */

struct signkey {
	struct identity_signing_key meta;
	struct keyops_key *key;		/* NULL in lists that do not unseal */
};

struct signkeys {
	pthread_rwlock_t lock;		/* readers sign and verify; a reload swaps the set */
	pthread_mutex_t reload_mu;	/* one reload at a time */
	struct signkey *keys;		/* newest first */
	size_t n;
	_Atomic uint64_t loaded_ms;	/* clock_mono_ms of the last load; 0: never */
	_Atomic uint64_t miss_ms;	/* of the last reload for an unknown kid */
};

static void keys_free(struct signkey *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		keyops_free(keys[i].key);
	free(keys);
}

struct signkeys *signkeys_new(struct kl_err *err)
{
	struct signkeys *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->reload_mu, NULL);
	return s;
}

void signkeys_free(struct signkeys *s)
{
	if (s == NULL)
		return;
	keys_free(s->keys, s->n);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->reload_mu);
	free(s);
}

/* ---- records ---- */

static int rec_encode(const struct identity_signing_key *m, const void *sealed, size_t sealed_len,
		      struct buf *out, struct kl_err *err)
{
	if (rec_put_u8(out, SIGNKEY_FORMAT, err) != 0 || rec_put_str(out, m->kid, err) != 0 ||
	    rec_put_i64(out, m->created, err) != 0 || rec_put_i64(out, m->retired, err) != 0 ||
	    rec_put_bytes(out, sealed, sealed_len, err) != 0)
		return -1;
	return 0;
}

/* *sealed points into p (borrowed). */
static int rec_decode(const void *p, size_t n, struct identity_signing_key *m,
		      const unsigned char **sealed, size_t *sealed_len, struct kl_err *err)
{
	struct rec_reader r;

	rec_reader_init(&r, p, n);
	memset(m, 0, sizeof(*m));
	if (rec_get_u8(&r) != SIGNKEY_FORMAT || !rec_get_fixed_str(&r, m->kid, sizeof(m->kid)))
		return kl_fail(err, KL_ECORRUPT, "a stored signing key is damaged");
	m->created = rec_get_i64(&r);
	m->retired = rec_get_i64(&r);
	*sealed = rec_get_bytes(&r, sealed_len);
	if (!rec_done(&r))
		return kl_fail(err, KL_ECORRUPT, "a stored signing key is damaged");
	return 0;
}

/* The active key first (a rotation within one second makes keys of the same created), then by
 * creation and retirement, newest first. */
static int cmp_newest_first(const void *a, const void *b)
{
	const struct signkey *x = a, *y = b;

	if ((x->meta.retired == 0) != (y->meta.retired == 0))
		return x->meta.retired == 0 ? -1 : 1;
	if (x->meta.created != y->meta.created)
		return x->meta.created > y->meta.created ? -1 : 1;
	if (x->meta.retired != y->meta.retired)
		return x->meta.retired > y->meta.retired ? -1 : 1;
	return strcmp(y->meta.kid, x->meta.kid);
}

struct load_scan {
	struct vault_core *core;
	bool unseal;
	int64_t now;
	struct signkey *keys;
	size_t n;
};

static int load_one(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		    uint64_t version, struct kl_err *err)
{
	struct load_scan *s = arg;
	struct signkey k = { 0 };
	struct secbuf *plain = NULL;
	const unsigned char *sealed;
	size_t sealed_len;
	int rc = -1;

	(void)version;
	if (s->n >= SIGNKEY_MAX)
		return 1;
	if (rec_decode(val, val_len, &k.meta, &sealed, &sealed_len, err) != 0)
		return -1;
	if (k.meta.retired != 0 && k.meta.retired + SIGNKEY_KEEP_S < s->now)
		return 0;	/* verifies nothing any more; the next rotation deletes it */
	if (s->unseal &&
	    (seal_open(s->core->data_key, key, key_len, sealed, sealed_len, &plain, err) != 0 ||
	     (k.key = keyops_deserialize(KEYOPS_RSA, plain->data, plain->len, err)) == NULL))
		goto out;
	s->keys[s->n++] = k;
	k.key = NULL;
	rc = 0;
out:
	secbuf_free(plain);
	keyops_free(k.key);
	return rc;
}

/* The keys of the store that still verify tokens, newest first; unsealed with unseal. */
static int load(struct vault_core *core, bool unseal, struct signkey **out, size_t *n,
		struct kl_err *err)
{
	struct load_scan s = { .core = core, .unseal = unseal, .now = clock_now_s() };

	*out = NULL;
	*n = 0;
	if ((s.keys = calloc(SIGNKEY_MAX, sizeof(*s.keys))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	if (store_scan(core->st, SIGNKEY_PREFIX, strlen(SIGNKEY_PREFIX), NULL, 0, load_one, &s, err) !=
	    0) {
		keys_free(s.keys, s.n);
		return -1;
	}
	qsort(s.keys, s.n, sizeof(*s.keys), cmp_newest_first);
	*out = s.keys;
	*n = s.n;
	return 0;
}

/* ---- the cache ---- */

/* Reloads the cache unless another thread did since `seen` (its loaded_ms when it decided). */
static int reload(struct vault_core *core, uint64_t seen, struct kl_err *err)
{
	struct signkeys *c = core->signkeys;
	struct signkey *keys = NULL, *old;
	size_t n = 0, old_n;
	int rc = 0;

	pthread_mutex_lock(&c->reload_mu);
	if (atomic_load(&c->loaded_ms) == seen) {
		if ((rc = load(core, true, &keys, &n, err)) == 0) {
			pthread_rwlock_wrlock(&c->lock);
			old = c->keys;
			old_n = c->n;
			c->keys = keys;
			c->n = n;
			atomic_store(&c->loaded_ms, clock_mono_ms() | 1);	/* never 0 */
			pthread_rwlock_unlock(&c->lock);
			keys_free(old, old_n);
		} else {
			LOG_WARN(NULL, "cannot load the signing keys: %s", err->msg);
		}
	}
	pthread_mutex_unlock(&c->reload_mu);
	return rc;
}

/* Reloads when the cache is older than SIGNKEY_REFRESH_MS. */
static int fresh(struct vault_core *core, struct kl_err *err)
{
	uint64_t loaded = atomic_load(&core->signkeys->loaded_ms);

	if (loaded != 0 && clock_mono_ms() - loaded < SIGNKEY_REFRESH_MS)
		return 0;
	return reload(core, loaded, err);
}

void signkeys_invalidate(struct vault_core *core)
{
	struct signkeys *c = core->signkeys;

	pthread_mutex_lock(&c->reload_mu);
	atomic_store(&c->loaded_ms, 0);
	pthread_mutex_unlock(&c->reload_mu);
}

/* Signs with the active key of the cache: 1 when there is none. */
static int sign_cached(struct signkeys *c, json_t *header, json_t *claims, struct buf *out,
		       struct kl_err *err)
{
	const struct signkey *active = NULL;
	size_t i;
	int rc = 1;

	pthread_rwlock_rdlock(&c->lock);
	for (i = 0; i < c->n && active == NULL; i++)
		if (c->keys[i].meta.retired == 0)
			active = &c->keys[i];
	if (active == NULL)
		rc = 1;
	else if (json_object_set_new(header, "kid", json_string(active->meta.kid)) != 0)
		rc = kl_fail(err, KL_ENOMEM, "out of memory");
	else
		rc = jws_sign(active->key, header, claims, out, err);
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int signkeys_sign(struct vault_core *core, json_t *header, json_t *claims, struct buf *out,
		  struct kl_err *err)
{
	int rc;

	if (fresh(core, err) != 0 || (rc = sign_cached(core->signkeys, header, claims, out, err)) < 0)
		return -1;
	/* None yet: a node that started read-only and is writable now makes the first one. */
	if (rc > 0 && vault_core_writable(core) &&
	    (identity_signing_ensure(core, err) != 0 || fresh(core, err) != 0 ||
	     (rc = sign_cached(core->signkeys, header, claims, out, err)) < 0))
		return -1;
	if (rc > 0)
		return kl_fail(err, KL_EUNAVAIL,
			       "no signing key for access tokens yet: start a read-write node");
	return 0;
}

/* Verifies with kid's key when the cache holds it: 1 found, 0 not found. */
static int verify_cached(struct signkeys *c, const char *kid, const char *tok,
			 const struct jws_parts *p, bool *valid, struct kl_err *err)
{
	size_t i;
	int rc = 0;

	pthread_rwlock_rdlock(&c->lock);
	for (i = 0; i < c->n; i++)
		if (strcmp(c->keys[i].meta.kid, kid) == 0) {
			rc = jws_verify_key(c->keys[i].key, "RS256", tok, p, valid, err) == 0 ? 1 : -1;
			break;
		}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int signkeys_verify(struct vault_core *core, const char *kid, const char *tok,
		    const struct jws_parts *p, bool *valid, struct kl_err *err)
{
	struct signkeys *c = core->signkeys;
	uint64_t now_ms, miss, loaded;
	int found;

	*valid = false;
	if (fresh(core, err) != 0)
		return -1;
	if ((found = verify_cached(c, kid, tok, p, valid, err)) != 0)
		return found > 0 ? 0 : -1;
	/* A key made on another node since the last load, or a forged kid: reload, but not for
	 * every request that names one. */
	now_ms = clock_mono_ms();
	miss = atomic_load(&c->miss_ms);
	loaded = atomic_load(&c->loaded_ms);
	if ((miss == 0 || now_ms - miss >= SIGNKEY_MISS_MS) &&
	    atomic_compare_exchange_strong(&c->miss_ms, &miss, now_ms)) {
		if (reload(core, loaded, err) != 0)
			return -1;
		if ((found = verify_cached(c, kid, tok, p, valid, err)) != 0)
			return found > 0 ? 0 : -1;
	}
	return kl_fail(err, KL_EUNAUTH, "no signing key has the token's kid");
}

/* ---- the API ---- */

/* A new key's record: kid, sealed private key, record bytes into rec and key (KEYBUF). */
static int make_key(struct vault_core *core, int64_t now, struct identity_signing_key *m,
		    char *key, struct buf *rec, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	struct buf der, sealed;
	char hex[2 * 8 + 1];
	int rc = -1;

	buf_init_secret(&der, 16 * 1024);
	buf_init(&sealed, 16 * 1024);
	memset(m, 0, sizeof(*m));
	if (crypto_random_hex(hex, 8, err) != 0 ||
	    (k = keyops_generate_rsa(SIGNKEY_BITS, 0, err)) == NULL ||
	    keyops_serialize(k, &der, err) != 0)
		goto out;
	snprintf(m->kid, sizeof(m->kid), "kl-%s", hex);
	m->created = now;
	keyspace_signing_key(key, m->kid);
	if (seal_seal(core->data_key, key, strlen(key), der.data, der.len, &sealed, err) != 0 ||
	    rec_encode(m, sealed.data, sealed.len, rec, err) != 0)
		goto out;
	rc = 0;
out:
	keyops_free(k);
	buf_clear(&der);
	buf_clear(&sealed);
	return rc;
}

static int refuse_read_only(const struct vault_core *core, struct kl_err *err)
{
	if (vault_core_mode(core) != VAULT_MODE_READ_ONLY)
		return 0;
	return kl_fail_az(err, KL_EREADONLY, "VaultIsReadOnly", NULL,
			  "This node is read-only: rotate the signing key on a read-write node.");
}

/* Makes a new active key. With force, retires the active one (rotation); without, does nothing
 * when there is an active key (ensure). *made tells which. */
static int new_active(struct vault_core *core, bool force, struct identity_signing_key *out,
		      bool *made, struct kl_err *err)
{
	char key[KEYBUF], okey[KEYBUF], active[IDENTITY_KID_MAX + 2];
	struct store_op ops[5];
	struct buf aval, rec, orec, old;
	uint64_t aversion = 0;
	size_t n_ops = 0;
	int64_t now = clock_now_s();
	int rc = -1;

	*made = false;
	buf_init(&aval, IDENTITY_KID_MAX + 1);
	buf_init(&rec, 16 * 1024);
	buf_init(&orec, 16 * 1024);
	buf_init(&old, 16 * 1024);
	active[0] = '\0';
	if (store_get(core->st, SIGNKEY_ACTIVE, strlen(SIGNKEY_ACTIVE), &aval, &aversion, err) == 0) {
		snprintf(active, sizeof(active), "%.*s", (int)aval.len, (const char *)aval.data);
	} else if (err->code == KL_ENOTFOUND) {
		kl_err_clear(err);
		aversion = 0;
	} else {
		goto out;
	}
	if (active[0] != '\0' && !force) {
		rc = 0;	/* there is one: ensure has nothing to do */
		goto out;
	}
	if (make_key(core, now, out, key, &rec, err) != 0)
		goto out;
	ops[n_ops++] = (struct store_op){ .kind = STORE_CHECK, .key = SIGNKEY_ACTIVE,
					  .key_len = strlen(SIGNKEY_ACTIVE), .version = aversion };
	ops[n_ops++] = (struct store_op){ .kind = STORE_PUT, .key = SIGNKEY_ACTIVE,
					  .key_len = strlen(SIGNKEY_ACTIVE), .val = out->kid,
					  .val_len = strlen(out->kid) };
	ops[n_ops++] = (struct store_op){ .kind = STORE_PUT, .key = key, .key_len = strlen(key),
					  .val = rec.data, .val_len = rec.len };
	if (active[0] != '\0') {
		/* The previous active key: retired now, it still verifies what it signed. */
		struct identity_signing_key m;
		const unsigned char *sealed;
		size_t sealed_len;
		uint64_t over;

		keyspace_signing_key(okey, active);
		if (store_get(core->st, okey, strlen(okey), &old, &over, err) != 0 ||
		    rec_decode(old.data, old.len, &m, &sealed, &sealed_len, err) != 0)
			goto out;
		m.retired = now;
		if (rec_encode(&m, sealed, sealed_len, &orec, err) != 0)
			goto out;
		ops[n_ops++] = (struct store_op){ .kind = STORE_CHECK, .key = okey,
						  .key_len = strlen(okey), .version = over };
		ops[n_ops++] = (struct store_op){ .kind = STORE_PUT, .key = okey,
						  .key_len = strlen(okey), .val = orec.data,
						  .val_len = orec.len };
	}
	rc = store_txn(core->st, ops, n_ops, err);
	if (rc != 0 && err->code == KL_ECONFLICT && !force) {
		kl_err_clear(err);	/* another node made the first key meanwhile */
		rc = 0;
		goto out;
	}
	if (rc != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
				   "The signing key was rotated meanwhile; try again.");
		goto out;
	}
	*made = true;
out:
	buf_clear(&aval);
	buf_clear(&rec);
	buf_clear(&orec);
	buf_clear(&old);
	return rc;
}

/* Deletes the keys retired longer ago than any token they signed can live. */
static int drop_old(struct vault_core *core, struct kl_err *err)
{
	struct key_list l = { 0 };
	int64_t now = clock_now_s();
	size_t i;
	int rc = -1;

	if (store_scan(core->st, SIGNKEY_PREFIX, strlen(SIGNKEY_PREFIX), NULL, 0, key_list_collect, &l,
		       err) != 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		struct identity_signing_key m;
		const unsigned char *sealed;
		size_t sealed_len;
		struct buf val;
		uint64_t version;
		int r;

		buf_init(&val, 16 * 1024);
		r = store_get(core->st, l.keys[i], strlen(l.keys[i]), &val, &version, err);
		if (r == 0 && rec_decode(val.data, val.len, &m, &sealed, &sealed_len, err) == 0 &&
		    m.retired != 0 && m.retired + SIGNKEY_KEEP_S < now) {
			struct store_op ops[] = {
				{ .kind = STORE_CHECK, .key = l.keys[i], .key_len = strlen(l.keys[i]),
				  .version = version },
				{ .kind = STORE_DEL, .key = l.keys[i], .key_len = strlen(l.keys[i]) },
			};

			r = store_txn(core->st, ops, 2, err);
		}
		buf_clear(&val);
		if (r != 0 && err->code != KL_ENOTFOUND && err->code != KL_ECONFLICT)
			goto out;
		kl_err_clear(err);
	}
	rc = 0;
out:
	key_list_clear(&l);
	return rc;
}

int identity_signing_ensure(struct vault_core *core, struct kl_err *err)
{
	struct identity_signing_key m;
	bool made;

	if (!vault_core_writable(core))
		return 0;	/* a read-only node uses what the primary made */
	if (new_active(core, false, &m, &made, err) != 0)
		return -1;
	if (made) {
		LOG_INFO(NULL, "made the access token signing key %s", m.kid);
		signkeys_invalidate(core);
	}
	return 0;
}

int identity_signing_rotate(struct vault_core *core, struct identity_signing_key *out,
			    struct kl_err *err)
{
	struct signkey *live = NULL;
	size_t n = 0;
	bool made;

	if (refuse_read_only(core, err) != 0)
		return -1;
	/* Room first: the old keys that verify nothing any more go, then one more must fit in what a
	 * node loads, or the active key could be left out of its cache. */
	if (drop_old(core, err) != 0)
		LOG_WARN(NULL, "cannot delete old signing keys: %s", err->msg);	/* next time */
	kl_err_clear(err);
	if (load(core, false, &live, &n, err) != 0)
		return -1;
	keys_free(live, n);
	if (n >= SIGNKEY_MAX)
		return kl_fail_az(err, KL_ECONFLICT, "TooManySigningKeys", NULL,
				  "%zu signing keys still verify access tokens, the most kluis keeps; "
				  "a retired key is deleted a day after its retirement, when no token "
				  "it signed can be live. Rotate again then.", n);
	if (new_active(core, true, out, &made, err) != 0)
		return -1;
	signkeys_invalidate(core);
	LOG_INFO(NULL, "rotated the access token signing key: %s is active", out->kid);
	return 0;
}

int identity_signing_list(struct vault_core *core, struct identity_signing_key **out, size_t *n,
			  struct kl_err *err)
{
	struct signkey *list = NULL;
	size_t i;

	*out = NULL;
	*n = 0;
	if (load(core, false, &list, n, err) != 0)
		return -1;
	if ((*out = calloc(*n + 1, sizeof(**out))) == NULL) {
		keys_free(list, *n);
		*n = 0;
		return kl_fail(err, KL_ENOMEM, "out of memory");
	}
	for (i = 0; i < *n; i++)
		(*out)[i] = list[i].meta;
	keys_free(list, *n);
	return 0;
}

int identity_signing_jwks(struct vault_core *core, struct jwk **keys,
			  char (**kids)[IDENTITY_KID_MAX + 1], size_t *n, struct kl_err *err)
{
	struct signkeys *c = core->signkeys;
	struct jwk *k = NULL;
	char(*id)[IDENTITY_KID_MAX + 1] = NULL;
	size_t i, done = 0;
	int rc = -1;

	*keys = NULL;
	*kids = NULL;
	*n = 0;
	if (fresh(core, err) != 0)
		return -1;
	pthread_rwlock_rdlock(&c->lock);
	if ((k = calloc(c->n + 1, sizeof(*k))) == NULL || (id = calloc(c->n + 1, sizeof(*id))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < c->n; i++) {
		jwk_init(&k[i]);
		done++;
		if (keyops_public_jwk(c->keys[i].key, &k[i], err) != 0)
			goto out;
		memcpy(id[i], c->keys[i].meta.kid, sizeof(id[i]));
	}
	*keys = k;
	*kids = id;
	*n = c->n;
	k = NULL;
	id = NULL;
	rc = 0;
out:
	pthread_rwlock_unlock(&c->lock);
	for (i = 0; k != NULL && i < done; i++)
		jwk_clear(&k[i]);
	free(k);
	free(id);
	return rc;
}
