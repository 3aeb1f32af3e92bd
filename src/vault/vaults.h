/* The vaults of a deployment as resources: create, read, change, list, soft delete, recover and
 * purge. What the management plane and the admin API build on. The core keeps the fields it acts
 * on (retention, purge protection, the permission model, the deletion dates) and the labels a
 * vault is found under; everything else about a vault (tags, sku, access policies, network
 * rules...) is an opaque blob that the API layer writes and reads back. No JSON, no HTTP. */
#ifndef KLUIS_VAULT_VAULTS_H
#define KLUIS_VAULT_VAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "vault/vault.h"

#define VAULT_SUB_MAX 64	/* subscription label */
#define VAULT_RG_MAX 90		/* resource group name, as Azure limits it */
#define VAULT_LOC_MAX 64
#define VAULT_PROPS_MAX (2u * 1024 * 1024)
#define VAULT_DEFAULT_RG "kluis"	/* where the deployment's own vaults live */
#define VAULT_DEFAULT_LOCATION "local"

enum vault_state { VAULT_LIVE, VAULT_DELETED, VAULT_PURGING };

struct vault_info {
	char name[VAULT_NAME_MAX + 1];		/* as given at creation */
	char subscription[VAULT_SUB_MAX + 1];	/* "" on vaults of before the management plane */
	char resource_group[VAULT_RG_MAX + 1];
	char location[VAULT_LOC_MAX + 1];
	int64_t created, updated;		/* Unix seconds, set by the core */
	int retention_days;			/* 7..90 */
	bool purge_protection;			/* once on, never off */
	bool rbac;				/* role assignments (true) or access policies */
	enum vault_state state;
	int64_t deleted_date, scheduled_purge;	/* 0 while live */
	struct buf props;			/* the API layer's, stored as is */
};

void vault_info_init(struct vault_info *vi);
void vault_info_clear(struct vault_info *vi);

/* Creates a live vault from in (name, labels, retention, flags, props; the dates are set here).
 * A name held by a live vault is KL_ECONFLICT "VaultAlreadyExists"; by a deleted or purging one,
 * KL_ECONFLICT "ConflictError". */
int vaults_create(struct vault_core *core, const struct vault_info *in, struct kl_err *err);

/* Replaces the changeable fields of the live vault in->name (labels, retention, flags, props),
 * provided it still has store version expect (from vaults_get; KL_ECONFLICT otherwise). Purge
 * protection cannot be turned off (KL_EINVAL). */
int vaults_update(struct vault_core *core, const struct vault_info *in, uint64_t expect,
		  struct kl_err *err);

/* The vault of that name in state live (deleted false) or deleted (deleted true); KL_ENOTFOUND
 * "VaultNotFound" otherwise. *version (may be NULL) is its store version for vaults_update. */
int vaults_get(struct vault_core *core, const char *name, bool deleted, struct vault_info *out,
	       uint64_t *version, struct kl_err *err);

/* Calls fn for each vault in state live (deleted false) or deleted (true), in name order. fn
 * returns 0 to go on, 1 to stop, -1 to fail with its err. The info is only valid during the
 * call. */
typedef int (*vaults_fn)(void *arg, const struct vault_info *vi, struct kl_err *err);
int vaults_each(struct vault_core *core, bool deleted, vaults_fn fn, void *arg, struct kl_err *err);

/* Soft-deletes a live vault: it stops answering and is purged when its retention ends. */
int vaults_delete(struct vault_core *core, const char *name, struct kl_err *err);

/* Brings a deleted vault back, with everything it held. */
int vaults_recover(struct vault_core *core, const char *name, struct kl_err *err);

/* Purges a deleted vault for good: its objects, schedules and role assignments, then the name.
 * Refused (KL_EFORBIDDEN) while purge protection holds it and its retention has not ended. */
int vaults_purge(struct vault_core *core, const char *name, struct kl_err *err);

/* The job: purges deleted vaults whose retention ended and finishes interrupted purges. */
int vaults_purge_due(struct vault_core *core, int64_t now, size_t *n_purged, struct kl_err *err);

#endif
