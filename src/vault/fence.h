/* The regions' epoch and the write fence (decisions.md §33): which region of a deployment takes
 * writes, how the secondary region is promoted when the primary region is lost for good, and how
 * a node of the old primary region is kept from acknowledging a write once that has happened. */
#ifndef KLUIS_VAULT_FENCE_H
#define KLUIS_VAULT_FENCE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

struct store;
struct vault_core;

#define VAULT_REGION_MAX 32

/* A region name: 1-VAULT_REGION_MAX of a-z, 0-9 and '-'. */
bool vault_region_name_ok(const char *name);

/* Opens the store of the other region's database, for the fence's checks; called again until it
 * succeeds. NULL with err when it cannot be reached now. */
typedef struct store *(*vault_peer_open_fn)(void *arg, struct kl_err *err);

/* What the promotion record says: epoch 0 and region "" before any promotion. */
struct vault_epoch {
	uint64_t epoch;
	char region[VAULT_REGION_MAX + 1];
	int64_t promoted_at_ms;	/* Unix ms; 0 before any promotion */
};

struct vault_region_status {
	char region[VAULT_REGION_MAX + 1];	/* this node's */
	struct vault_epoch epoch;		/* as this node's store holds it */
	bool fenced;		/* another region took over: this node refuses every write */
	bool leased;		/* a peer is checked, and this node's writes are within their lease */
	/* the other region's database, when one is configured */
	bool peer;		/* one is configured */
	bool peer_reachable;	/* at the last check */
	bool peer_primary, peer_paused;
	struct vault_epoch peer_epoch;
	/* this node's store, when a standby */
	bool standby, streaming;
	int64_t lag_ms, replayed_at_ms;	/* -1: unknown */
};

/* The fence's view now, with a fresh look at this node's store (its role, replication). */
int vault_region_status(struct vault_core *core, struct vault_region_status *out,
			struct kl_err *err);

struct vault_promotion {
	struct vault_epoch epoch;	/* the new one (a dry run: what it would be) */
	int64_t replayed_at_ms;		/* the last transaction replayed before it: what was not
					 * replayed by then may be lost; -1 unknown */
	int64_t lag_ms;			/* as last seen; -1 unknown */
	bool streaming;			/* whether it still received from the old primary */
	uint64_t took_ms;
};

/* Makes this node's region the deployment's primary: its store (a standby) is promoted and a new
 * epoch recorded in it, after the old primary region's nodes' write leases have run out. Refused
 * (KL_ECONFLICT) when the store is no standby, or when the other region's database still answers
 * as a primary (unless force). dry_run: checks and reports only. */
int vault_promote(struct vault_core *core, bool force, bool dry_run, struct vault_promotion *out,
		  struct kl_err *err);

struct vault_switchover {
	struct vault_epoch epoch;	/* the new one (a dry run: what it would be) */
	uint64_t wal_pos;		/* the old primary's position after the new epoch was
					 * recorded there, which this store replayed before its
					 * promotion */
	uint64_t paused_ms;		/* from the new epoch recorded in the old primary region
					 * (its writes refused from then on) to this store taking
					 * writes */
	uint64_t took_ms;
};

/* A planned switchover to this node's region, both regions healthy: the new epoch is recorded in
 * the primary region's store, whose nodes refuse every write from that commit on; this node's
 * store (its standby) replays up to the primary's position after it, so that it holds every
 * acknowledged write, and is promoted. Refused (KL_ECONFLICT) when the store is no standby, or
 * is not streaming, or the other region's database does not answer as a primary (a region lost
 * for good is promoted instead). When the standby does not catch up within a time limit, the
 * old epoch is put back and the old primary region takes writes again. */
int vault_switchover(struct vault_core *core, bool dry_run, struct vault_switchover *out,
		     struct kl_err *err);

#endif
