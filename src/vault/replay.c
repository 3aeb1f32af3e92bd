/* The register of client assertions already used (identity.h, replay.c): J/<hex SHA-256 of iss,
 * a NUL and jti> holding the assertion's exp, written with "must be absent" so that two nodes
 * racing with the same assertion cannot both win, and swept by the jobs once exp (plus the clock
 * skew the checks allow) has passed. A read-only node cannot write: it notes assertions in this
 * process (bounded) and still refuses those the store already has. Never stores an assertion or
 * its claims beyond the digest and exp. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/token.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/secbuf.h"
#include "util/rec.h"
#include "util/secbuf.h"
#include "vault/identity_internal.h"
#include "vault/internal.h"

#define REPLAY_FORMAT 1
#define REPLAY_PREFIX KEYSPACE_REPLAY
#define REPLAY_MEM_MAX 65536	/* assertions a read-only node remembers at once */
#define REPLAY_SWEEP_BATCH 256	/* deletions per sweep transaction */
#define REPLAY_ISS_MAX 1024
#define REPLAY_JTI_MAX 512

struct replay_entry {
	unsigned char digest[TOKEN_DIGEST_LEN];
	int64_t exp;
};

struct replay_mem {
	pthread_mutex_t mu;
	struct replay_entry *e;
	size_t n;
};

struct replay_mem *replay_mem_new(struct kl_err *err)
{
	struct replay_mem *r = calloc(1, sizeof(*r));

	if (r == NULL || (r->e = calloc(REPLAY_MEM_MAX, sizeof(*r->e))) == NULL) {
		free(r);
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void replay_mem_free(struct replay_mem *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->e);
	free(r);
}

/* Drops the entries past their time (mu held). */
static void mem_sweep(struct replay_mem *r, int64_t now)
{
	size_t i = 0;

	while (i < r->n)
		if (r->e[i].exp + IDENTITY_SKEW_S < now)
			r->e[i] = r->e[--r->n];
		else
			i++;
}

/* Is digest in the table (unexpired)? With add, adds it when it is not. -1 when full. */
static int mem_note(struct replay_mem *r, const unsigned char *digest, int64_t exp, int64_t now,
		    bool add)
{
	size_t i;
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < r->n; i++)
		if (secure_equal(r->e[i].digest, digest, TOKEN_DIGEST_LEN) &&
		    r->e[i].exp + IDENTITY_SKEW_S >= now) {
			rc = 1;
			goto out;
		}
	if (!add)
		goto out;
	if (r->n == REPLAY_MEM_MAX)
		mem_sweep(r, now);
	if (r->n == REPLAY_MEM_MAX) {
		rc = -1;
		goto out;
	}
	memcpy(r->e[r->n].digest, digest, TOKEN_DIGEST_LEN);
	r->e[r->n++].exp = exp;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static int fail_replayed(struct kl_err *err)
{
	return kl_fail_az(err, KL_ECONFLICT, "AssertionReplayed", NULL,
			  "This client assertion was used before.");
}

static int digest_of(const char *iss, const char *jti, unsigned char digest[TOKEN_DIGEST_LEN],
		     char key[KEYBUF], struct kl_err *err)
{
	size_t li = strlen(iss), lj = strlen(jti);
	char both[REPLAY_ISS_MAX + 1 + REPLAY_JTI_MAX];

	if (li == 0 || lj == 0 || li > REPLAY_ISS_MAX || lj > REPLAY_JTI_MAX)
		return kl_fail(err, KL_EINVAL, "an assertion's iss and jti are 1 to %d and %d bytes",
			       REPLAY_ISS_MAX, REPLAY_JTI_MAX);
	memcpy(both, iss, li);
	both[li] = '\0';
	memcpy(both + li + 1, jti, lj);
	if (token_digest(both, li + 1 + lj, digest, err) != 0)
		return -1;
	memcpy(key, REPLAY_PREFIX, 2);
	hex_encode(digest, TOKEN_DIGEST_LEN, key + 2);
	return 0;
}

static int64_t decode_exp(const void *p, size_t n, bool *ok)
{
	struct rec_reader r;
	int64_t exp;

	rec_reader_init(&r, p, n);
	*ok = rec_get_u8(&r) == REPLAY_FORMAT;
	exp = rec_get_i64(&r);
	*ok = *ok && rec_done(&r);
	return exp;
}

/* The store's record of key: 1 when it is there and unexpired (*version set either way). */
static int stored(struct vault_core *core, const char *key, int64_t now, uint64_t *version,
		  struct kl_err *err)
{
	struct buf val;
	int64_t exp;
	bool ok;
	int rc;

	*version = 0;
	buf_init(&val, 64);
	if (store_get(core->st, key, strlen(key), &val, version, err) != 0) {
		rc = err->code == KL_ENOTFOUND ? 0 : -1;
		if (rc == 0)
			kl_err_clear(err);
		goto out;
	}
	exp = decode_exp(val.data, val.len, &ok);
	rc = !ok || exp + IDENTITY_SKEW_S >= now;	/* a damaged record counts as seen */
out:
	buf_clear(&val);
	return rc;
}

int replay_note_at(struct vault_core *core, const char *iss, const char *jti, int64_t exp,
		   int64_t now, struct kl_err *err)
{
	unsigned char digest[TOKEN_DIGEST_LEN];
	char key[KEYBUF];
	struct buf val;
	uint64_t version;
	int r, rc = -1;

	buf_init(&val, 64);
	if (digest_of(iss, jti, digest, key, err) != 0)
		goto out;
	/* Noted while this node was read-only, or by the primary. */
	if ((r = mem_note(core->replay, digest, exp, now, false)) != 0 ||
	    (r = stored(core, key, now, &version, err)) != 0) {
		if (r > 0)
			fail_replayed(err);
		goto out;
	}
	if (vault_core_mode(core) == VAULT_MODE_READ_ONLY) {
		if ((r = mem_note(core->replay, digest, exp, now, true)) != 0) {
			if (r > 0)
				fail_replayed(err);
			else
				kl_fail(err, KL_ETHROTTLED, "too many client assertions at once");
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (rec_put_u8(&val, REPLAY_FORMAT, err) != 0 || rec_put_i64(&val, exp, err) != 0)
		goto out;
	{
		/* version: 0 (absent) or the expired record's, replaced */
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = key, .key_len = strlen(key), .version = version },
			{ .kind = STORE_PUT, .key = key, .key_len = strlen(key), .val = val.data,
			  .val_len = val.len },
		};

		if (store_txn(core->st, ops, 2, err) != 0) {
			if (err->code == KL_ECONFLICT)
				fail_replayed(err);	/* another request or node was first */
			goto out;
		}
	}
	rc = 0;
out:
	secure_wipe(digest, sizeof(digest));
	buf_clear(&val);
	return rc;
}

int identity_replay_note(struct vault_core *core, const char *iss, const char *jti, int64_t exp,
			 struct kl_err *err)
{
	return replay_note_at(core, iss, jti, exp, clock_now_s(), err);
}

struct sweep_scan {
	int64_t now;
	char (*keys)[2 + 2 * TOKEN_DIGEST_LEN + 1];
	uint64_t *versions;
	size_t n;
};

static int sweep_one(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		     uint64_t version, struct kl_err *err)
{
	struct sweep_scan *s = arg;
	int64_t exp;
	bool ok;

	(void)err;
	if (key_len != 2 + 2 * TOKEN_DIGEST_LEN)
		return 0;	/* not one of ours */
	exp = decode_exp(val, val_len, &ok);
	if (ok && exp + IDENTITY_SKEW_S >= s->now)
		return 0;
	memcpy(s->keys[s->n], key, key_len);
	s->keys[s->n][key_len] = '\0';
	s->versions[s->n++] = version;
	return s->n == REPLAY_SWEEP_BATCH ? 1 : 0;
}

int identity_replay_sweep(struct vault_core *core, int64_t now, struct kl_err *err)
{
	struct sweep_scan s = { .now = now };
	struct store_op *ops = NULL;
	size_t i, total = 0;
	int rc = -1;

	pthread_mutex_lock(&core->replay->mu);
	mem_sweep(core->replay, now);
	pthread_mutex_unlock(&core->replay->mu);
	if (vault_core_mode(core) == VAULT_MODE_READ_ONLY)
		return 0;	/* the writable node sweeps the store */
	if ((s.keys = calloc(REPLAY_SWEEP_BATCH, sizeof(*s.keys))) == NULL ||
	    (s.versions = calloc(REPLAY_SWEEP_BATCH, sizeof(*s.versions))) == NULL ||
	    (ops = calloc(2 * REPLAY_SWEEP_BATCH, sizeof(*ops))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		s.n = 0;
		if (store_scan(core->st, REPLAY_PREFIX, 2, NULL, 0, sweep_one, &s, err) != 0)
			goto out;
		if (s.n == 0)
			break;
		/* Each record deleted only as it was read: a concurrent re-note wins. */
		for (i = 0; i < s.n; i++) {
			ops[2 * i] = (struct store_op){ .kind = STORE_CHECK, .key = s.keys[i],
							.key_len = strlen(s.keys[i]),
							.version = s.versions[i] };
			ops[2 * i + 1] = (struct store_op){ .kind = STORE_DEL, .key = s.keys[i],
							    .key_len = strlen(s.keys[i]) };
		}
		if (store_txn(core->st, ops, 2 * s.n, err) != 0) {
			if (err->code != KL_ECONFLICT)
				goto out;
			kl_err_clear(err);
			break;	/* the next sweep tries again */
		}
		total += s.n;
		if (s.n < REPLAY_SWEEP_BATCH)
			break;
	}
	if (total > 0)
		LOG_DEBUG(NULL, "removed %zu expired client assertion records", total);
	rc = 0;
out:
	free(s.keys);
	free(s.versions);
	free(ops);
	return rc;
}
