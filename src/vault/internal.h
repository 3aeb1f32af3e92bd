/* What the files of vault/ share and nobody else sees: the core's fields and the record codec. */
#ifndef KLUIS_VAULT_INTERNAL_H
#define KLUIS_VAULT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "crypto/token.h"
#include "store/store.h"
#include "vault/core.h"
#include "vault/fence.h"
#include "vault/keycache.h"
#include "vault/keyspace.h"
#include "util/buf.h"
#include "vault/object.h"
#include "vault/txnretry.h"
#include "vault/vault.h"
#include "vault/vaults.h"

#define KEYBUF 512	/* store keys we build are far shorter than STORE_KEY_MAX */
#define VERSION_REC_MAX (1024u * 1024)	/* the largest version record read or written */
#define VAULT_META_DATA_KEY KEYSPACE_META_DATA_KEY	/* the data key, under the master key */

struct signkeys;
struct replay_mem;
struct hint;
struct authcache;

struct vault_core {
	struct store *st;
	struct seal_key *data_key;
	char *data_dir;			/* DIR: the master key files (masterkey.c) */
	pthread_mutex_t master_mu;	/* one master key rotation at a time */
	char tenant[37];
	unsigned char admin_digest[TOKEN_DIGEST_LEN];
	/* OpenID tokens, when an issuer is trusted (vault_core_trust_oidc) */
	const struct jwt_keyset *oidc_keys;
	const char *oidc_issuer, *oidc_audience;
	int purge_interval_s;
	vault_job_event_fn job_event;	/* vault_core_on_job_event; NULL: none */
	void *job_event_arg;
	int cert_issue_delay_s;		/* vault_core_config's */
	struct keycache *keys;		/* parsed private keys of key versions */
	unsigned char id_base[16];	/* request ids: random per process ... */
	_Atomic uint64_t id_seq;	/* ... combined with a counter */
	/* the mode (mode.c): enum vault_mode and enum vault_storage_role values */
	bool forced_read_only;
	_Atomic int mode;
	_Atomic int storage_role;
	_Atomic int64_t repl_lag_ms;	/* struct store_repl of the last poll */
	_Atomic bool repl_streaming;
	int mode_poll_ms;
	char node_id[37];		/* DIR/node-id: who holds the jobs lease */
	/* the identity provider (vault/identity.h, vault/identity_internal.h) */
	char id_dns_suffix[256];	/* identity_configure's, lowercase; "" until then */
	int id_lifetime_s;
	struct signkeys *signkeys;	/* signkeys.c: the unsealed signing keys */
	struct replay_mem *replay;	/* replay.c: assertions seen on a read-only node */
	/* the purge job */
	pthread_t job;
	bool job_running;
	bool job_stop;
	pthread_mutex_t job_mu;
	pthread_cond_t job_cv;
	struct hint *hints;		/* hint.c: live head key -> its latest version id */
	/* the authentication caches and the change epoch's poller (authcache.h) */
	struct authcache *auth;
	/* the regions' epoch and the write fence (fence.c) */
	char region[VAULT_REGION_MAX + 1];
	struct fence *fence;
	_Atomic bool fenced;		/* another region took over the writes */
};

/* The head of a name: live or deleted. */
struct head {
	char display[OBJ_NAME_MAX + 1];
	char latest[33];
	int64_t deleted_date, scheduled_purge;	/* 0 when live */
};

int head_encode(const struct head *h, struct buf *out, struct kl_err *err);
int head_decode(const void *p, size_t n, struct head *h, struct kl_err *err);

/* A version record: the object's fields and its sealed (or, inside backups, plain) material.
 * has_material distinguishes an empty value from none. */
int version_encode(const struct obj *o, bool has_material, const void *material,
		   size_t material_len, struct buf *out, struct kl_err *err);
/* Decodes into o (zeroed by the caller); *material points into p (borrowed). */
int version_decode(const void *p, size_t n, struct obj *o, bool *has_material,
		   const unsigned char **material, size_t *material_len, struct kl_err *err);
/* Loads the version record ver of lname as stored, for rewrites: its fields into o (zeroed by
 * the caller), its store version into *store_version, its sealed material appended to sealed as
 * is. A record over max_len bytes fails (store_get's KL_ETOOBIG). */
int obj_version_load_raw(const struct vault *v, enum obj_kind k, const char *lname,
			 const char *ver, size_t max_len, struct obj *o, uint64_t *store_version,
			 struct buf *sealed, bool *has_material, struct kl_err *err);

/* Vault records (V/<lowercase name>): format 1 had the name, dates and retention only; decoding
 * it gives a live vault with role assignments and empty labels. vi->props must be initialised. */
int vault_rec_encode(const struct vault_info *vi, struct buf *out, struct kl_err *err);
int vault_rec_decode(const void *p, size_t n, struct vault_info *vi, struct kl_err *err);

struct kind_info {
	char tag;		/* in store keys */
	const char *lower;	/* in messages */
	const char *title;
	const char *not_found;	/* Azure error code */
};
extern const struct kind_info obj_kinds[];

/* The service's errors for a missing, a missing deleted, and a deleted name. All return -1. */
int obj_fail_not_found(struct kl_err *err, enum obj_kind k, const char *name, const char *ver);
int obj_fail_deleted_not_found(struct kl_err *err, enum obj_kind k, const char *name);
int obj_fail_is_deleted(struct kl_err *err, enum obj_kind k, const char *name);

/* Validates name and writes its lowercase store form (OBJ_NAME_MAX + 1 bytes) to lname. */
int obj_check_name(enum obj_kind k, const char *name, char *lname, struct kl_err *err);

/* Loads the head in state 'h' (live) or 'd' (deleted); KL_ENOTFOUND when absent. */
int obj_head_load(const struct vault *v, enum obj_kind k, char state, const char *lname,
		  struct head *h, uint64_t *version, struct kl_err *err);
/* 0 with *version = 0 when the head is absent; -1 only on store errors. */
int obj_head_version(const struct vault *v, enum obj_kind k, char state, const char *lname,
		     uint64_t *version, struct kl_err *err);
/* Loads a version into o (zeroed by the caller); with material, opens it too. */
int obj_version_load(const struct vault *v, enum obj_kind k, const char *lname, const char *ver,
		     struct obj *o, uint64_t *store_version, struct secbuf **material,
		     struct kl_err *err);
void obj_set_deleted_fields(struct obj *o, const struct head *h);

/* How often a change is retried after KL_ECONFLICT: vault/txnretry.h owns the loop. */
#define OBJ_TXN_ATTEMPTS VAULT_TXN_ATTEMPTS

/* The service's refusal of a purge while the vault has purge protection (KL_EFORBIDDEN). */
int obj_fail_purge_protected(struct kl_err *err);

/* Removes the deleted name lname of vault vname for good: head, schedule, every version and the
 * per-name side records, in one transaction that holds only while the deleted head is unchanged
 * (KL_ECONFLICT otherwise; KL_ENOTFOUND when it is not deleted). With refuse_op, a name whose
 * latest version is managed is refused with obj_fail_managed(refuse_op). Kind OBJ_CERT, and a
 * key or secret whose certificate is deleted too, purge the certificate with its key and secret
 * (cert_purge_name). Used by obj_purge and the purge job. */
int obj_purge_name(struct vault_core *core, const char *vname, enum obj_kind kind,
		   const char *lname, const char *refuse_op, struct kl_err *err);

/* ---- managed objects (managed.c): a certificate's key and secret are read-only through the keys
 * and secrets APIs. ---- */

/* KL_EFORBIDDEN "Forbidden", innererror KeyManagedByKeyVault (OBJ_KEY) or SecretManagedByKeyVault,
 * `Operation "<op>" is not allowed as this object's lifetime is managed by Key Vault.`; op is the
 * service's operation word (set, update, delete, recover, purge, backup, restore, rotate, ...).
 * Returns -1. */
int obj_fail_managed(struct kl_err *err, enum obj_kind k, const char *op);

/* Store versions of the live and the deleted certificate head of lname (0 when absent). */
int obj_cert_heads(const struct vault *v, const char *lname, uint64_t *live, uint64_t *deleted,
		   struct kl_err *err);

/* Refuses, with obj_fail_managed(op), a change of the key or secret lname through its own API
 * when a certificate of that name exists (live or deleted) or when the latest version of h (NULL:
 * no head) is managed. 0 when allowed (always for OBJ_CERT); then both certificate heads are
 * absent, which the caller's transaction checks (keyspace_obj_head of OBJ_CERT, version 0). */
int obj_refuse_managed(const struct vault *v, enum obj_kind k, const char *lname,
		       const struct head *h, const char *op, struct kl_err *err);

/* The second half of obj_refuse_managed: only whether h's latest version is managed. For
 * callers whose transaction checks the certificate heads absent anyway (and asks after a
 * conflict). */
int obj_refuse_managed_latest(const struct vault *v, enum obj_kind k, const char *lname,
			      const struct head *h, const char *op, struct kl_err *err);

/* obj_create_idem with the operation word of the refusal over a managed name (NULL: "set" for a
 * secret, "create" for a key). A version created with in->managed set (the certificate layer's
 * own) is never refused. idem may be NULL (no record). */
int obj_create_as(struct vault *v, enum obj_kind kind, const char *name, const struct obj *in,
		  const void *material, size_t material_len, const char *op,
		  const struct obj_idem *idem, struct obj *out, struct kl_err *err);

/* obj_update that also changes managed versions: for the certificate layer, which mirrors a
 * certificate's attributes onto its key and secret. */
int obj_update_managed(struct vault *v, enum obj_kind kind, const char *name, const char *version,
		       const struct obj_patch *patch, struct obj *out, struct kl_err *err);

/* backup.c, shared with certbackup.c: a blob is BACKUP_MAGIC, a format byte and a payload sealed
 * under the data key. */
#define BACKUP_MAGIC "KLBK"
#define BACKUP_MAX_BYTES (64u * 1024 * 1024)
/* Appends to versions (a wiping buffer: it holds plain material), as rec_put_bytes items, every
 * version of kind of lname re-encoded with its material opened; *n counts them. More than
 * OBJ_MAX_VERSIONS_PER_BACKUP is KL_EINVAL; with refuse_managed, a managed version is
 * obj_fail_managed(kind, "backup"). */
int backup_versions(const struct vault *v, enum obj_kind kind, const char *lname,
		    bool refuse_managed, struct buf *versions, size_t *n, struct kl_err *err);
/* One version record of a backup payload, checked (a version id; a key's description parses)
 * and re-encoded into out for lname in v with its material sealed under its new record key, which
 * lands in key (KEYBUF bytes); version (33 bytes) and *managed describe it. KL_EINVAL when the
 * record is not a valid version. */
int backup_version_reseal(const struct vault *v, enum obj_kind kind, const char *lname,
			  const void *rec, size_t rec_len, char *key, struct buf *out, char *version,
			  bool *managed, struct kl_err *err);

/* keys.c: drops every cached parsed version of key lname (wiping them). */
void key_forget_cached(const struct vault *v, const char *lname);

/* certlife.c: the cascade purge of a deleted certificate lname of vault vname with its deleted
 * key and secret, its policy, operation and renewal index, one transaction (KL_ECONFLICT when
 * any of the deleted heads changed meanwhile, KL_ENOTFOUND when the certificate is not deleted). */
int cert_purge_name(struct vault_core *core, const char *vname, const char *lname,
		    struct kl_err *err);

/* fence.c: set up in vault_core_open before any thread shares the store; started last. */
int fence_open(struct vault_core *core, const struct vault_core_config *cfg, struct kl_err *err);
int fence_start(struct vault_core *core, struct kl_err *err);
void fence_close(struct vault_core *core);

/* mode.c */
enum vault_storage_role { VAULT_STORAGE_PRIMARY, VAULT_STORAGE_STANDBY, VAULT_STORAGE_UNREACHABLE };
/* Asks the storage its role and sets the mode from it. */
void vault_mode_refresh(struct vault_core *core);
/* Takes or renews the lease that lets one node at a time run the writing jobs, for hold_s
 * seconds; false when another node holds it (or the store fails). */
bool vault_jobs_lease(struct vault_core *core, int64_t now, int64_t hold_s);
/* Gives the lease up if this node holds it. */
void vault_jobs_release(struct vault_core *core);

/* keylist.c: store keys collected by a scan, to act on after it. */
struct key_list {
	char **keys;		/* NUL-terminated copies */
	size_t n, cap;
};
void key_list_clear(struct key_list *l);
int key_list_add(struct key_list *l, const void *key, size_t len, struct kl_err *err);
/* A store_scan_fn that adds every key to the key_list arg. */
int key_list_collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		     uint64_t version, struct kl_err *err);
/* Deletes every record under prefix for which keep (may be NULL) says false, a few hundred per
 * transaction: for data too large for one (a purged vault's objects). *n counts the deletions. */
int store_del_prefix(struct store *st, const char *prefix, bool (*keep)(const char *key, void *arg),
		     void *arg, size_t *n, struct kl_err *err);

/* jobindex.c: calls fn(core, vname, lname, arg) for every entry <prefix><vault>/<lname> of a
 * job's index whose vault name fits, gathering the keys a batch at a time so that no store scan
 * is open while fn runs (fn may write). 0, or -1 when the store fails. */
int jobindex_walk(struct vault_core *core, const char *prefix,
		  void (*fn)(struct vault_core *core, const char *vname, const char *lname,
			     void *arg),
		  void *arg, struct kl_err *err);

/* Lowercase copy of s into out (size n); false when it does not fit. */
bool lower_copy(char *out, size_t n, const char *s);

#endif
