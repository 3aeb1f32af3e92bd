/* fence.c owns the regions' epoch: the record, in the store, of which region the deployment's
 * writes belong to (m/region-epoch: epoch 0 and no region until a promotion), the promotion that
 * moves them to this node's region, and the fence that keeps a node of a region that lost them
 * from acknowledging a write (decisions.md §33).
 *
 * Each node checks every FENCE_POLL_MS, in a thread of its own: its own store's record, and, when
 * it was given the other region's database (--peer-postgres), that database's role and record.
 *   - Its own record names another region, or the peer's names another region under a higher
 *     epoch: the node is fenced. It refuses every write (mode read-only, and the store's fence
 *     fails any transaction), and copies the peer's record into its own store, so that the other
 *     nodes of its region, and itself after a restart, are fenced even if the peer is gone then.
 *   - Otherwise its writes are leased: a check that found the peer a streaming standby, or could
 *     not reach it (the other region being down must not stop this one), lets writes run for
 *     FENCE_LEASE_MS from the check's start; a check that found the peer promoting (its replay
 *     paused: the first step of vault_promote) or a primary in the same epoch renews nothing. So
 *     a node that was frozen, or cut off from its store, for longer than the lease (a promotion
 *     waits that long) acknowledges nothing from before it looked at the peer again. Without a
 *     peer there is no lease.
 * The limit: a node that cannot reach the peer's database keeps writing. When the two regions
 * are cut apart with clients on both sides and the operator promotes anyway (force), both take
 * writes until the link returns; decisions.md §33 says what closes that (a third site). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "vault/core.h"
#include "vault/fence.h"
#include "vault/internal.h"

#define EPOCH_KEY KEYSPACE_META_REGION_EPOCH
#define EPOCH_REC_MAX 128
#define FENCE_POLL_MS 500
#define FENCE_UNREACHABLE_POLL_MS 2000
#define FENCE_LEASE_MS 10000
#define PROMOTED_WAIT_MS 30000	/* for the store to take writes once promoted */
#define CATCH_UP_WAIT_MS 10000	/* for a switchover's standby to replay the primary's last commit */

struct fence {
	vault_peer_open_fn open_peer;	/* NULL: no peer, no lease */
	void *open_peer_arg;
	pthread_mutex_t mu;		/* guards the peer store and what the last check saw */
	pthread_cond_t cv;		/* wakes the thread to stop */
	pthread_t thread;
	bool running, stop;
	struct store *peer;		/* opened on first use */
	uint64_t lease_until;		/* the lease given to the store; CLOCK_MONOTONIC ms */
	bool peer_reachable, peer_primary, peer_paused;
	struct vault_epoch own, peer_epoch;
};

static void epoch_encode(const struct vault_epoch *e, char out[EPOCH_REC_MAX])
{
	snprintf(out, EPOCH_REC_MAX, "kluis-epoch-1 %" PRIu64 " %s %" PRId64, e->epoch, e->region,
		 e->promoted_at_ms);
}

bool vault_region_name_ok(const char *r)
{
	size_t i;

	for (i = 0; r[i] != '\0'; i++)
		if (i >= VAULT_REGION_MAX ||
		    !((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return false;
	return i > 0;
}

/* The record of st into *e (epoch 0 when absent), its store version into *version. */
static int epoch_read(struct store *st, struct vault_epoch *e, uint64_t *version,
		      struct kl_err *err)
{
	char text[EPOCH_REC_MAX], region[VAULT_REGION_MAX + 2];
	struct buf b;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	*version = 0;
	buf_init(&b, EPOCH_REC_MAX);
	if (store_get(st, EPOCH_KEY, strlen(EPOCH_KEY), &b, version, err) != 0) {
		if (err->code == KL_ENOTFOUND) {
			kl_err_clear(err);
			rc = 0;
		}
		goto out;
	}
	if (b.len >= sizeof(text)) {
		kl_fail(err, KL_ECORRUPT, "the region epoch record is malformed");
		goto out;
	}
	memcpy(text, b.data, b.len);
	text[b.len] = '\0';
	if (sscanf(text, "kluis-epoch-1 %" SCNu64 " %33s %" SCNd64, &e->epoch, region,
		   &e->promoted_at_ms) != 3 || !vault_region_name_ok(region)) {
		kl_fail(err, KL_ECORRUPT, "the region epoch record is malformed");
		goto out;
	}
	memcpy(e->region, region, strlen(region) + 1);
	rc = 0;
out:
	buf_clear(&b);
	return rc;
}

/* Puts e as st's record if the record's version is still version; epoch 0 (the state before
 * any promotion, which a switchover given up puts back) removes it. */
static int epoch_write(struct store *st, const struct vault_epoch *e, uint64_t version,
		       struct kl_err *err)
{
	char text[EPOCH_REC_MAX];

	epoch_encode(e, text);
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = EPOCH_KEY, .key_len = strlen(EPOCH_KEY),
		  .version = version },
		{ .kind = e->epoch == 0 ? STORE_DEL : STORE_PUT, .key = EPOCH_KEY,
		  .key_len = strlen(EPOCH_KEY), .val = text, .val_len = strlen(text) },
	};
	return store_txn(st, ops, 2, err);
}

static bool other_region(const struct vault_core *core, const struct vault_epoch *e)
{
	return e->region[0] != '\0' && strcmp(e->region, core->region) != 0;
}

/* One look at the own store and the peer; sets the store's fence and the node's mode. */
static void fence_check(struct vault_core *core)
{
	struct fence *f = core->fence;
	struct vault_epoch own, peer = { 0 };
	struct store_repl repl = { 0 };
	struct kl_err err = { 0 };
	enum store_role role = STORE_PRIMARY;
	uint64_t start = clock_mono_ms(), version, ignored;
	bool fenced, clean = true, reachable = false, was;

	if (epoch_read(core->st, &own, &version, &err) != 0)
		return;	/* the own store does not answer: its writes fail anyway */
	fenced = other_region(core, &own);
	pthread_mutex_lock(&f->mu);
	/* A fenced node looks too: what it sees is in its status, and a switchover back to its
	 * region starts from it. */
	if (f->open_peer != NULL) {
		if (f->peer == NULL && (f->peer = f->open_peer(f->open_peer_arg, &err)) == NULL)
			kl_err_clear(&err);
		/* At most a few seconds against a frozen peer: a read's limit, then one connect
		 * (its failover wait is 0), and no second read once the first failed. */
		reachable = f->peer != NULL && store_role(f->peer, &role, &repl, &err) == 0 &&
			    epoch_read(f->peer, &peer, &ignored, &err) == 0;
		/* A node its own store fences stays fenced, whatever the peer says. */
		if (!fenced && reachable && peer.epoch > own.epoch && other_region(core, &peer))
			fenced = true;
		else if (!fenced && reachable && role == STORE_STANDBY && repl.paused)
			clean = false;	/* being promoted */
		else if (!fenced && reachable && role == STORE_PRIMARY && peer.epoch == own.epoch &&
			 !(own.region[0] != '\0' && !other_region(core, &own)))
			clean = false;	/* two primaries in one epoch: not ours to settle */
		f->peer_primary = reachable && role == STORE_PRIMARY;
		f->peer_paused = reachable && role == STORE_STANDBY && repl.paused;
	}
	if (f->open_peer != NULL && reachable != f->peer_reachable)
		LOG_WARN(NULL, "the other region's database %s", reachable
			 ? "answers again" : "does not answer: this region's writes go on");
	f->peer_reachable = reachable;
	f->own = own;
	f->peer_epoch = peer;
	/* A lease from the check's start when the peer answered (what it said may date from then);
	 * from now when it did not (it is as unreachable now as during the check). */
	if (fenced)
		f->lease_until = 0;
	else if (f->open_peer != NULL && clean)
		f->lease_until = (reachable ? start : clock_mono_ms()) + FENCE_LEASE_MS;
	else if (f->open_peer != NULL && f->lease_until == 0)
		f->lease_until = 1;	/* not yet granted: already past */
	/* UINT64_MAX: a version no record has, so every write fails on the fence. */
	store_fence_set(core->st, fenced ? UINT64_MAX : version, fenced ? 0 : f->lease_until);
	pthread_mutex_unlock(&f->mu);
	was = atomic_exchange(&core->fenced, fenced);
	if (fenced && !was)
		LOG_WARN(NULL, "region %s has taken over the writes (epoch %" PRIu64 "): this node "
			       "of region %s refuses every change from now on",
			 peer.epoch > own.epoch ? peer.region : own.region,
			 peer.epoch > own.epoch ? peer.epoch : own.epoch, core->region);
	else if (was && !fenced)
		LOG_WARN(NULL, "the writes are this region's (%s) again (epoch %" PRIu64 ")",
			 core->region, own.epoch);
	/* Copied into the own store: its region stays fenced without the peer. A standby cannot
	 * take it; its primary will, or already has. */
	if (fenced && peer.epoch > own.epoch && epoch_write(core->st, &peer, version, &err) != 0)
		LOG_DEBUG(NULL, "the new region epoch is not recorded here yet: %s", err.msg);
	if (was != fenced)
		vault_mode_refresh(core);
}

static void *fence_loop(void *arg)
{
	struct vault_core *core = arg;
	struct fence *f = core->fence;
	struct timespec until;

	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		pthread_mutex_unlock(&f->mu);
		fence_check(core);
		pthread_mutex_lock(&f->mu);
		/* A peer that does not answer is asked less often: each try may wait seconds. */
		until = clock_after_ms(CLOCK_REALTIME, f->open_peer == NULL || f->peer_reachable
						       ? FENCE_POLL_MS : FENCE_UNREACHABLE_POLL_MS);
		while (!f->stop && pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int fence_open(struct vault_core *core, const struct vault_core_config *cfg, struct kl_err *err)
{
	struct fence *f;

	snprintf(core->region, sizeof(core->region), "%s", cfg->region ? cfg->region : "local");
	if (!vault_region_name_ok(core->region))
		return kl_fail(err, KL_EINVAL, "a region name is 1-%d of a-z, 0-9 and '-'",
			       VAULT_REGION_MAX);
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	f->open_peer = cfg->open_peer;
	f->open_peer_arg = cfg->open_peer_arg;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	core->fence = f;
	atomic_init(&core->fenced, false);
	if (store_fence(core->st, EPOCH_KEY, err) != 0)
		return -1;
	/* With a peer, no write before the first look at it. */
	store_fence_set(core->st, 0, f->open_peer != NULL ? 1 : 0);
	return 0;
}

int fence_start(struct vault_core *core, struct kl_err *err)
{
	struct fence *f = core->fence;
	int rc;

	fence_check(core);	/* before the first request */
	if ((rc = pthread_create(&f->thread, NULL, fence_loop, core)) != 0)
		return kl_fail(err, KL_EINTERNAL, "cannot start the region fence: %s", strerror(rc));
	f->running = true;
	return 0;
}

void fence_close(struct vault_core *core)
{
	struct fence *f = core->fence;

	if (f == NULL)
		return;
	if (f->running) {
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
	}
	store_close(f->peer);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
	core->fence = NULL;
}

int vault_region_status(struct vault_core *core, struct vault_region_status *out,
			struct kl_err *err)
{
	struct fence *f = core->fence;
	struct store_repl repl;
	enum store_role role;
	uint64_t version;

	memset(out, 0, sizeof(*out));
	if (store_role(core->st, &role, &repl, err) != 0 ||
	    epoch_read(core->st, &out->epoch, &version, err) != 0)
		return -1;
	memcpy(out->region, core->region, sizeof(out->region));
	out->standby = role == STORE_STANDBY;
	out->streaming = repl.streaming;
	out->lag_ms = repl.lag_ms;
	out->replayed_at_ms = repl.replayed_at_ms;
	out->fenced = atomic_load(&core->fenced);
	pthread_mutex_lock(&f->mu);
	out->peer = f->open_peer != NULL;
	out->leased = out->peer && !out->fenced && clock_mono_ms() < f->lease_until;
	out->peer_reachable = f->peer_reachable;
	out->peer_primary = f->peer_primary;
	out->peer_paused = f->peer_paused;
	out->peer_epoch = f->peer_epoch;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec left = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&left, &left) != 0)
		;
}

/* The start of a promotion or a switchover (what): a fresh look at the peer, this node's status
 * into *s, refused unless its store is a standby; the next epoch, naming this region, into
 * *next. */
static int takeover_begin(struct vault_core *core, const char *what,
			  struct vault_region_status *s, struct vault_epoch *next,
			  struct kl_err *err)
{
	fence_check(core);
	if (vault_region_status(core, s, err) != 0)
		return -1;
	if (!s->standby)
		return kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
				  "This region's store already takes writes: there is nothing to "
				  "%s.", what);
	memset(next, 0, sizeof(*next));
	next->epoch = (s->epoch.epoch > s->peer_epoch.epoch ? s->epoch.epoch
							    : s->peer_epoch.epoch) + 1;
	memcpy(next->region, core->region, sizeof(next->region));
	return 0;
}

/* Waits until core's store, just promoted, takes writes. */
static int wait_writable(struct vault_core *core, struct kl_err *err)
{
	enum store_role role = STORE_STANDBY;
	uint64_t deadline = clock_mono_ms() + PROMOTED_WAIT_MS;

	while (store_role(core->st, &role, NULL, err) != 0 || role != STORE_PRIMARY) {
		kl_err_clear(err);
		if (clock_mono_ms() > deadline)
			return kl_fail(err, KL_EUNAVAIL, "the promoted store does not take writes");
		sleep_ms(100);
	}
	return 0;
}

int vault_promote(struct vault_core *core, bool force, bool dry_run, struct vault_promotion *out,
		  struct kl_err *err)
{
	struct vault_region_status s;
	struct store_repl repl;
	enum store_role role = STORE_STANDBY;
	uint64_t start = clock_mono_ms(), version;
	struct vault_epoch own;

	memset(out, 0, sizeof(*out));
	if (takeover_begin(core, "promote", &s, &out->epoch, err) != 0)
		return -1;
	if (s.peer && s.peer_reachable && s.peer_primary && !force)
		return kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
				  "The other region's database still answers as a primary (epoch "
				  "%" PRIu64 "): promoting now would give the deployment two "
				  "primaries. Stop that region, or promote with force.",
				  s.peer_epoch.epoch);
	out->replayed_at_ms = s.replayed_at_ms;
	out->lag_ms = s.lag_ms;
	out->streaming = s.streaming;
	if (dry_run)
		goto done;
	/* The old primary region's nodes see the pause and renew no lease from now on. */
	if (store_promote(core->st, STORE_REPLAY_PAUSE, err) != 0)
		return -1;
	LOG_WARN(NULL, "promoting region %s to epoch %" PRIu64 ": replay paused, waiting %d ms for "
		       "the other region's write leases to run out",
		 core->region, out->epoch.epoch, FENCE_LEASE_MS + 1000);
	sleep_ms(FENCE_LEASE_MS + 1000);
	if (store_role(core->st, &role, &repl, err) == 0 && repl.replayed_at_ms > 0)
		out->replayed_at_ms = repl.replayed_at_ms;
	kl_err_clear(err);
	if (store_promote(core->st, STORE_PROMOTE, err) != 0) {
		struct kl_err ignored = { 0 };

		store_promote(core->st, STORE_REPLAY_RESUME, &ignored);	/* still a standby */
		return -1;
	}
	if (wait_writable(core, err) != 0)
		return -1;
	out->epoch.promoted_at_ms = clock_now_ms();
	if (epoch_read(core->st, &own, &version, err) != 0 ||
	    epoch_write(core->st, &out->epoch, version, err) != 0)
		return -1;
	LOG_WARN(NULL, "region %s is the deployment's primary region now (epoch %" PRIu64 ")",
		 core->region, out->epoch.epoch);
	fence_check(core);
	vault_mode_refresh(core);
done:
	out->took_ms = clock_mono_ms() - start;
	return 0;
}

static struct store *peer_store(struct vault_core *core)
{
	struct store *peer;

	pthread_mutex_lock(&core->fence->mu);
	peer = core->fence->peer;	/* kept open until fence_close */
	pthread_mutex_unlock(&core->fence->mu);
	return peer;
}

/* Waits until core's store has replayed up to pos; false after CATCH_UP_WAIT_MS. */
static bool caught_up(struct vault_core *core, uint64_t pos)
{
	uint64_t deadline = clock_mono_ms() + CATCH_UP_WAIT_MS;
	struct store_repl repl;
	enum store_role role;
	struct kl_err err = { 0 };

	for (;;) {
		if (store_role(core->st, &role, &repl, &err) == 0 && role == STORE_STANDBY &&
		    repl.wal_pos >= pos)
			return true;
		kl_err_clear(&err);
		if (clock_mono_ms() > deadline)
			return false;
		sleep_ms(10);
	}
}

int vault_switchover(struct vault_core *core, bool dry_run, struct vault_switchover *out,
		     struct kl_err *err)
{
	struct vault_region_status s;
	struct vault_epoch old;
	struct store_repl repl;
	enum store_role role;
	struct store *peer;
	uint64_t start = clock_mono_ms(), paused_at, version, ignored;

	memset(out, 0, sizeof(*out));
	if (takeover_begin(core, "switch over to it", &s, &out->epoch, err) != 0)
		return -1;
	if (!s.peer || !s.peer_reachable || !s.peer_primary || (peer = peer_store(core)) == NULL)
		return kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
				  "The other region's database does not answer as a primary: a "
				  "switchover needs both regions (a region lost for good is "
				  "promoted instead).");
	if (!s.streaming)
		return kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
				  "This region's database does not stream from the primary: it "
				  "could not catch up.");
	if (dry_run)
		goto done;
	/* The new epoch in the primary region's store: from its commit on, every write of that
	 * region fails its fence check there, and its nodes see the record within a poll. */
	out->epoch.promoted_at_ms = clock_now_ms();
	if (epoch_read(peer, &old, &version, err) != 0 ||
	    epoch_write(peer, &out->epoch, version, err) != 0)
		return -1;
	paused_at = clock_mono_ms();
	LOG_WARN(NULL, "switching the writes over to region %s (epoch %" PRIu64 "): the other "
		       "region refuses them from now on", core->region, out->epoch.epoch);
	if (store_role(peer, &role, &repl, err) != 0)
		goto undo;
	if (role != STORE_PRIMARY) {
		kl_fail(err, KL_EUNAVAIL, "the other region's database stopped being a primary");
		goto undo;
	}
	out->wal_pos = repl.wal_pos;
	if (!caught_up(core, out->wal_pos)) {
		kl_fail(err, KL_EUNAVAIL, "this region's database did not replay the primary's "
			"last commit within %d ms", CATCH_UP_WAIT_MS);
		goto undo;
	}
	if (store_promote(core->st, STORE_PROMOTE, err) != 0 || wait_writable(core, err) != 0)
		return -1;	/* promoted or not, the old region stays fenced: an operator's call */
	out->paused_ms = clock_mono_ms() - paused_at;
	LOG_WARN(NULL, "region %s is the deployment's primary region now (epoch %" PRIu64 "; "
		       "writes paused %" PRIu64 " ms)", core->region, out->epoch.epoch,
		 out->paused_ms);
	fence_check(core);
	vault_mode_refresh(core);
done:
	out->took_ms = clock_mono_ms() - start;
	return 0;
undo:
	{
		struct kl_err ignore = { 0 };

		/* This store was not promoted: the old region takes writes again. */
		if (epoch_read(peer, &s.peer_epoch, &ignored, &ignore) == 0 &&
		    epoch_write(peer, &old, ignored, &ignore) == 0)
			LOG_WARN(NULL, "switchover to region %s abandoned: the other region takes "
				       "writes again", core->region);
		else
			LOG_ERROR(NULL, "switchover to region %s abandoned, and the old epoch could "
					"not be put back: %s", core->region, ignore.msg);
	}
	return -1;
}
