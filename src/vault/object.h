/* Versioned objects of a vault (secrets, keys, certificates): heads, versions, soft delete, recovery,
 * purge, listing and backup. The payload is opaque here: `pub` is stored as is, `material` is
 * sealed under the data key with the version's store key as additional data. No JSON, no HTTP.
 *
 * Store layout (all keys ASCII; vault and object names lowercased):
 *   o/<vault>/<kind>/h/<name>            live head: display name, latest version
 *   o/<vault>/<kind>/d/<name>            deleted head: same + deletion dates
 *   o/<vault>/<kind>/v/<name>/<version>  one version: attributes, tags, pub, sealed material
 *   p/<purge time, be64 hex>/<vault>/<kind>/<name>   purge schedule of deleted heads
 * A name is live (h), deleted (d) or free; never both h and d: every change that moves it is one
 * store transaction with compares, so concurrent writers on any backend stay consistent.
 * Thread safety: all functions may run concurrently; they share only the store. */
#ifndef KLUIS_VAULT_OBJECT_H
#define KLUIS_VAULT_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/secbuf.h"
#include "vault/vault.h"

#define OBJ_VERSION_LEN 32
#define OBJ_MAX_VERSIONS_PER_BACKUP 500

enum obj_kind { OBJ_SECRET, OBJ_KEY, OBJ_CERT };

/* Reads the object; *out must have been zeroed (or obj_clear'd) and is filled on success. The
 * material is opened only when material is not NULL (the caller then owns *material). An empty or
 * NULL version means the latest. KL_ENOTFOUND with the kind's Azure code when absent. */
int obj_get(struct vault *v, enum obj_kind kind, const char *name, const char *version,
	    struct obj *out, struct secbuf **material, struct kl_err *err);

/* Creates a new version of name from in (attributes, content type, tags, managed, pub) and the
 * plaintext material (may be NULL/0). Sets created = updated = now and a fresh version id. When the
 * name is deleted: KL_ECONFLICT ObjectIsDeletedButRecoverable. out receives the stored version.
 * When the store lost its connection during the commit (KL_EOUTCOME), the new version is looked
 * for: found, the create succeeded; not found, KL_EOUTCOME (it may still land), never run again. */
int obj_create(struct vault *v, enum obj_kind kind, const char *name, const struct obj *in,
	       const void *material, size_t material_len, struct obj *out, struct kl_err *err);

/* obj_create for a client's request that carries an idempotency id (vault/idem.h; NULL: none, and
 * then exactly obj_create). It is a parameter of its own, not a field of in: in describes the
 * version to store, and is also what the certificate layer and restores build, while the record
 * belongs to the request that asks. Within IDEM_RETENTION_S of a create with the same id and
 * fingerprint, nothing is written and out is the version that create made (as it is now: an
 * update since shows); the same id with another fingerprint is KL_ECONFLICT
 * ClientRequestIdReused, and nothing is written. The record is read with the heads (no extra
 * round trip) and written in the version's transaction. */
struct obj_idem;
int obj_create_idem(struct vault *v, enum obj_kind kind, const char *name, const struct obj *in,
		    const void *material, size_t material_len, const struct obj_idem *idem,
		    struct obj *out, struct kl_err *err);

/* Applies patch to one version (latest when version is empty) and stores it; out is the result. */
int obj_update(struct vault *v, enum obj_kind kind, const char *name, const char *version,
	       const struct obj_patch *patch, struct obj *out, struct kl_err *err);

/* Moves name and all its versions to the deleted state; out is the latest version with the
 * deletion fields set. */
int obj_delete(struct vault *v, enum obj_kind kind, const char *name, struct obj *out,
	       struct kl_err *err);

/* The latest version of a deleted name, with deletion fields. */
int obj_get_deleted(struct vault *v, enum obj_kind kind, const char *name, struct obj *out,
		    struct kl_err *err);

/* Back to live; out is the latest version. */
int obj_recover(struct vault *v, enum obj_kind kind, const char *name, struct obj *out,
		struct kl_err *err);

/* Removes a deleted name for good. KL_EFORBIDDEN while purge protection is on. */
int obj_purge(struct vault *v, enum obj_kind kind, const char *name, struct kl_err *err);

/* Pages. `after` is a cursor from a previous page (NULL or "" for the first); at most max items
 * (1..25) land in page; page->next is set when more may follow. list: one item per live name
 * (its latest version); list_versions: every version of a live name; list_deleted: one item per
 * deleted name. */
int obj_list(struct vault *v, enum obj_kind kind, const char *after, size_t max,
	     struct obj_page *page, struct kl_err *err);
int obj_list_versions(struct vault *v, enum obj_kind kind, const char *name, const char *after,
		      size_t max, struct obj_page *page, struct kl_err *err);
int obj_list_deleted(struct vault *v, enum obj_kind kind, const char *after, size_t max,
		     struct obj_page *page, struct kl_err *err);

/* Appends a sealed, authenticated backup of every version of a live name to blob. */
int obj_backup(struct vault *v, enum obj_kind kind, const char *name, struct buf *blob,
	       struct kl_err *err);

/* Restores a blob made by obj_backup in this deployment. A damaged or foreign blob is KL_EINVAL;
 * a name that is live is KL_ECONFLICT, deleted KL_ECONFLICT ObjectIsDeletedButRecoverable. out is
 * the latest restored version. */
int obj_restore(struct vault *v, enum obj_kind kind, const void *blob, size_t blob_len,
		struct obj *out, struct kl_err *err);

/* Purges every deleted object of any vault whose scheduled purge date is at or before now.
 * *n_purged counts them. Used by the purge job and by tests. */
int obj_purge_due(struct vault_core *core, int64_t now, size_t *n_purged, struct kl_err *err);

#endif
