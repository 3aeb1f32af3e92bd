/* The deployment: its store, data key, tenant, admin credential and vaults. Opened once by main,
 * shared read-only by every worker thread afterwards (the store does its own locking).
 *
 * Data directory layout (created on first start, refused when inconsistent):
 *   DIR/master.key   32 random bytes, 0600: wraps the data key; never leaves crypto/seal.c
 *   DIR/master.key.new  only during a master key rotation (vault/masterkey.h)
 *   DIR/admin-token  the admin bearer token, 0600; only its SHA-256 digest is stored
 *   DIR/node-id      this node's id (who holds the writing jobs' lease), 0600
 *   DIR/store/       the LMDB environment (when the embedded backend is used)
 *   DIR/tls/         CA and server certificate (crypto/tlsgen) */
#ifndef KLUIS_VAULT_CORE_H
#define KLUIS_VAULT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct store;
struct vault_core;

struct vault_core_config {
	const char *data_dir;
	bool read_only;			/* refuse every write, whatever the storage is */
	int mode_poll_ms;		/* how often the storage's role is asked; 0: 1000 */
	const char *default_vault;	/* created on first start */
	int retention_days;		/* soft-delete retention of vaults created here: 7..90 */
	int purge_interval_s;		/* how often the purge job looks for due items; 0: 60 */
	int cert_issue_delay_s;		/* seconds a Self certificate stays inProgress (vault/certs.h;
					 * kluisd's default is 2); 0: issued at once */
	const char *region;		/* this node's region (1-32 of a-z, 0-9, '-'); NULL: local */
	/* the other region's database, for the write fence (vault/fence.h); NULL: none */
	struct store *(*open_peer)(void *arg, struct kl_err *err);
	void *open_peer_arg;
};

/* Opens the deployment on st (which the core then owns and closes). On a store without
 * deployment metadata it initialises one: master key file, data key, tenant id, admin token file,
 * default vault. Otherwise it checks everything: a missing or foreign master key, or metadata
 * that fails authentication, is KL_ECORRUPT with a message saying what is wrong; a master key or
 * admin token file that group or others can read is KL_EFORBIDDEN; nothing is overwritten (but
 * the master key files of an interrupted rotation are settled: vault/masterkey.h). */
struct vault_core *vault_core_open(const struct vault_core_config *cfg, struct store *st,
				   struct kl_err *err);

/* What a background job did to an object, for the audit log: no principal asked for it. */
struct vault_job_event {
	const char *vault;
	const char *operation;	/* e.g. "CertificateLifetimeEmailContacts" */
	const char *object;	/* the object's name */
	const char *version;	/* the version acted on or made; "" when none */
	const char *result;	/* "Due", "OK", or an error code */
};
typedef void (*vault_job_event_fn)(void *arg, const struct vault_job_event *ev);

/* Every event of the background jobs goes to fn(arg, ...) from then on (NULL: nowhere). Call
 * before vault_core_start_jobs: the jobs read it without a lock. */
void vault_core_on_job_event(struct vault_core *core, vault_job_event_fn fn, void *arg);

/* Starts the background jobs (purge of due deleted items). */
int vault_core_start_jobs(struct vault_core *core, struct kl_err *err);

/* Stops the jobs, closes the store, wipes the keys; NULL is a no-op. */
void vault_core_close(struct vault_core *core);

/* The deployment's tenant id (a UUID), for the 401 challenge. */
const char *vault_core_tenant(const struct vault_core *core);

/* Accept JWTs signed by a key of keys with this iss and aud, for the principal their sub is
 * mapped to (principals.h). keys and the strings must outlive the core; call before serving. */
struct jwt_keyset;
void vault_core_trust_oidc(struct vault_core *core, const struct jwt_keyset *keys,
			   const char *issuer, const char *audience);

/* Constant-time check of a bearer token against the stored admin digest. */
bool vault_core_token_ok(const struct vault_core *core, const char *tok, size_t tok_len);

/* A fresh request id for x-ms-request-id, in UUID form: a random per-process base combined with
 * a counter, so ids never repeat within a process and differ between processes, without paying
 * for the random generator on every request. Thread-safe. */
void vault_core_request_id(struct vault_core *core, char out[37]);

/* The node's mode (DESIGN.md, Modes): read-only when started so or when the storage is a
 * standby; polled from the storage every mode_poll_ms. Lock-free, for every request. */
enum vault_mode { VAULT_MODE_READ_WRITE, VAULT_MODE_READ_ONLY };
enum vault_mode vault_core_mode(const struct vault_core *core);
/* Has another region taken over the writes (vault/fence.h)? Then this node is read-only for
 * that reason, not because its region failed over. Lock-free. */
bool vault_core_fenced(const struct vault_core *core);
/* "primary", "standby" or "unreachable", as last polled. */
const char *vault_core_storage_role(const struct vault_core *core);
/* A standby's replication lag in seconds as of the last poll (struct store_repl in
 * store/store.h); negative when not a standby or unknown. */
double vault_core_replication_lag(const struct vault_core *core);
/* Whether the standby's WAL receiver was streaming from a primary at the last poll. */
bool vault_core_replication_streaming(const struct vault_core *core);
/* Read-write mode on a reachable primary: what /health/writable answers 200 for. */
bool vault_core_writable(const struct vault_core *core);

/* The storage backend's name ("lmdb") for /health. */
const char *vault_core_storage(const struct vault_core *core);

/* Hits and misses of the cache of parsed key versions, since open (for /metrics). Lock-free. */
void vault_core_keycache_stats(const struct vault_core *core, uint64_t *hits, uint64_t *misses);
/* Lookups of the authentication caches (vault/authcache.h) answered from them and not, since
 * start. */
void vault_core_authcache_stats(const struct vault_core *core, uint64_t *hits, uint64_t *misses);

/* Does a vault of this name exist (case-insensitive)? */
int vault_core_vault_exists(struct vault_core *core, const char *name, struct kl_err *err);

#endif
