/* The node's caches of what a request's authentication and authorization read from the store:
 * bearer credential (the SHA-256 of the token) -> principal_ref, (principal, vault) -> the rights
 * bitmask api/authz.c computes, and vault name -> struct vault (vault_open). No JSON, no HTTP.
 *
 * Invalidation: the core watches (store_watch) every record prefix these answers depend on
 * (tokens, principals, subjects, credentials, role assignments, vault records, signing keys), so
 * a change made through this node bumps the store's epoch when it commits, and a poller thread
 * (store_epoch_poll every AUTHCACHE_POLL_MS) bumps it when another node (or the primary a
 * standby replicates) changed one. An entry is tagged with the epoch read before the store reads
 * that filled it (authcache_epoch) and is used only while:
 *   - the epoch still equals its tag,
 *   - it is younger than AUTHCACHE_LIFETIME_MS (the backstop),
 *   - a poll that started less than AUTHCACHE_STALE_MS ago succeeded (so a change committed
 *     elsewhere at time t is never answered from the cache after t + AUTHCACHE_STALE_MS, plus a
 *     standby's replication lag); when the poller is late, a lookup polls itself,
 *   - and, for a credential, before its own expiry.
 * Only positive answers are cached; never the admin token. Bounded (fixed tables, a collision
 * replaces the older entry), thread-safe, wiped when freed. */
#ifndef KLUIS_VAULT_AUTHCACHE_H
#define KLUIS_VAULT_AUTHCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto/token.h"
#include "util/err.h"
#include "vault/principals.h"
#include "vault/vault.h"

struct authcache;
struct store;
struct vault_core;

#define AUTHCACHE_POLL_MS 200		/* how often the poller asks the store for the epoch */
#define AUTHCACHE_STALE_MS 800		/* entries are used only this soon after a good poll */
#define AUTHCACHE_LIFETIME_MS 10000	/* the backstop: no entry is used longer */
#define AUTHCACHE_SCOPE_DEPLOYMENT ""	/* the rights scope of deployment-wide roles */

/* A cache set with no entries; NULL (KL_ENOMEM) when out of memory. */
struct authcache *authcache_new(struct kl_err *err);
/* Wipes and frees every entry; NULL is a no-op. The poller must be stopped. */
void authcache_free(struct authcache *c);

/* Watches (store_watch) every record prefix the caches depend on. Once, when the core is set up,
 * before st is shared between threads. */
int authcache_watch(struct store *st, struct kl_err *err);

/* Polls the epoch once (so that the caches may be used from here on), then starts the poller
 * thread; authcache_stop joins it (a no-op when not started). Both from core set-up and
 * tear-down only. A failed first poll fails the start (the store is unreachable). */
int authcache_start(struct vault_core *core, struct kl_err *err);
void authcache_stop(struct vault_core *core);

/* The tag for a fill: read it before the store reads whose results are put. */
uint64_t authcache_epoch(struct vault_core *core);

/* Who presents the credential whose SHA-256 is digest: true with *who filled while an entry is
 * good. until_s: the credential's own expiry (Unix seconds; 0: none). */
bool authcache_who_find(struct vault_core *core, const unsigned char digest[TOKEN_DIGEST_LEN],
			struct principal_ref *who);
void authcache_who_put(struct vault_core *core, const unsigned char digest[TOKEN_DIGEST_LEN],
		       const struct principal_ref *who, int64_t until_s, uint64_t epoch);

/* The rights (PERM_BIT()s of api/) of principal_id on scope: a vault's lowercase name, or
 * AUTHCACHE_SCOPE_DEPLOYMENT for its deployment-wide roles alone. */
bool authcache_rights_find(struct vault_core *core, const char *principal_id, const char *scope,
			   uint64_t *perms);
void authcache_rights_put(struct vault_core *core, const char *principal_id, const char *scope,
			  uint64_t perms, uint64_t epoch);

/* The live vault lname (lowercase), as vault_open gives it. */
bool authcache_vault_find(struct vault_core *core, const char *lname, struct vault *out);
void authcache_vault_put(struct vault_core *core, const struct vault *v, uint64_t epoch);

/* Lookups answered from the caches and lookups that were not, since authcache_new (for /metrics
 * and tests). Lock-free. */
void authcache_stats(const struct vault_core *core, uint64_t *hits, uint64_t *misses);

#endif
