/* The node's mode, derived from its storage and never guessed (DESIGN.md, Modes): read-write
 * while the store is a primary, read-only when it is a standby, when the node was started
 * read-only, or when another region took over the writes (fence.c). Polled by the core's background thread, read by every request without a lock.
 * Also the lease that lets one node of a cluster at a time run the writing jobs. */
#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/rec.h"
#include "vault/core.h"
#include "vault/internal.h"

#define LEASE_KEY KEYSPACE_META_JOBS_LEASE
#define LEASE_LEN (36 + 8)	/* holder's node id, then expiry (big-endian Unix seconds) */

static const char *role_name(int role)
{
	return role == VAULT_STORAGE_PRIMARY ? "primary"
	     : role == VAULT_STORAGE_STANDBY ? "standby" : "unreachable";
}

void vault_mode_refresh(struct vault_core *core)
{
	enum store_role role;
	struct store_repl repl = { .streaming = false, .lag_ms = -1 };
	struct kl_err err = { 0 };
	int was = atomic_load(&core->storage_role), now;
	int mode;

	if (store_role(core->st, &role, &repl, &err) != 0)
		now = VAULT_STORAGE_UNREACHABLE;
	else
		now = role == STORE_PRIMARY ? VAULT_STORAGE_PRIMARY : VAULT_STORAGE_STANDBY;
	/* Unreachable storage keeps the mode it had: the load balancer's check of
	 * /health/writable fails anyway (it reports the storage), and requests get 503. */
	if (now != VAULT_STORAGE_UNREACHABLE) {
		mode = core->forced_read_only || now == VAULT_STORAGE_STANDBY ||
		       atomic_load(&core->fenced) ? VAULT_MODE_READ_ONLY : VAULT_MODE_READ_WRITE;
		if (atomic_exchange(&core->mode, mode) != mode)
			LOG_WARN(NULL, "mode is now %s (storage %s%s)", mode == VAULT_MODE_READ_ONLY
				 ? "read-only" : "read-write", role_name(now),
				 atomic_load(&core->fenced) ? "; another region took over" : "");
	}
	atomic_store(&core->repl_lag_ms, repl.lag_ms);
	atomic_store(&core->repl_streaming, repl.streaming);
	if (was != now) {
		atomic_store(&core->storage_role, now);
		if (now == VAULT_STORAGE_UNREACHABLE)
			LOG_WARN(NULL, "the storage is unreachable: %s", err.msg);
	}
}

enum vault_mode vault_core_mode(const struct vault_core *core)
{
	return (enum vault_mode)atomic_load(&core->mode);
}

bool vault_core_fenced(const struct vault_core *core)
{
	return atomic_load(&core->fenced);
}

const char *vault_core_storage_role(const struct vault_core *core)
{
	return role_name(atomic_load(&core->storage_role));
}

double vault_core_replication_lag(const struct vault_core *core)
{
	int64_t ms = atomic_load(&core->repl_lag_ms);

	return ms < 0 ? -1.0 : (double)ms / 1000.0;
}

bool vault_core_replication_streaming(const struct vault_core *core)
{
	return atomic_load(&core->repl_streaming);
}

bool vault_core_writable(const struct vault_core *core)
{
	return atomic_load(&core->mode) == VAULT_MODE_READ_WRITE &&
	       atomic_load(&core->storage_role) == VAULT_STORAGE_PRIMARY;
}

bool vault_jobs_lease(struct vault_core *core, int64_t now, int64_t hold_s)
{
	unsigned char rec[LEASE_LEN];
	struct kl_err err = { 0 };
	struct buf cur;
	uint64_t version = 0;
	bool held = false;

	buf_init(&cur, 256);
	if (store_get(core->st, LEASE_KEY, strlen(LEASE_KEY), &cur, &version, &err) == 0) {
		bool mine = cur.len == LEASE_LEN && memcmp(cur.data, core->node_id, 36) == 0;
		int64_t until = cur.len == LEASE_LEN ? (int64_t)rec_from_be64(cur.data + 36) : 0;

		if (!mine && until > now)
			goto out;	/* another node holds it */
	} else if (err.code != KL_ENOTFOUND) {
		goto out;
	}
	memcpy(rec, core->node_id, 36);
	rec_be64(rec + 36, (uint64_t)(now + hold_s));
	kl_err_clear(&err);
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = LEASE_KEY, .key_len = strlen(LEASE_KEY), .version = version },
		{ .kind = STORE_PUT, .key = LEASE_KEY, .key_len = strlen(LEASE_KEY), .val = rec,
		  .val_len = sizeof(rec) },
	};
	held = store_txn(core->st, ops, 2, &err) == 0;
out:
	buf_clear(&cur);
	return held;
}

void vault_jobs_release(struct vault_core *core)
{
	struct kl_err err = { 0 };
	struct buf cur;
	uint64_t version = 0;

	buf_init(&cur, 256);
	if (store_get(core->st, LEASE_KEY, strlen(LEASE_KEY), &cur, &version, &err) == 0 &&
	    cur.len == LEASE_LEN && memcmp(cur.data, core->node_id, 36) == 0) {
		struct store_op ops[] = {
			{ .kind = STORE_CHECK, .key = LEASE_KEY, .key_len = strlen(LEASE_KEY),
			  .version = version },
			{ .kind = STORE_DEL, .key = LEASE_KEY, .key_len = strlen(LEASE_KEY) },
		};
		store_txn(core->st, ops, 2, &err);	/* a standby cannot: it expires */
	}
	buf_clear(&cur);
}
