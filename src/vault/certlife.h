/* The life of a certificate name as one: delete, recover, purge, backup and restore act on the
 * certificate and on its managed key and secret together, each change one store transaction, so
 * the three are never seen in different states. No JSON, no HTTP. Thread-safe like object.h. */
#ifndef KLUIS_VAULT_CERTLIFE_H
#define KLUIS_VAULT_CERTLIFE_H

#include "util/buf.h"
#include "vault/object.h"

/* Moves the certificate, its key and its secret (whichever exist) to the deleted state and drops
 * its operation; out is the latest certificate version with the deletion fields set. Missing or
 * already deleted: KL_ENOTFOUND CertificateNotFound. */
int cert_delete(struct vault *v, const char *name, struct obj *out, struct kl_err *err);
/* The latest version of a deleted certificate, with deletion fields. */
int cert_get_deleted(struct vault *v, const char *name, struct obj *out, struct kl_err *err);
/* Back to live, all three; out is the latest certificate version. */
int cert_recover(struct vault *v, const char *name, struct obj *out, struct kl_err *err);
/* Removes all three for good, with the policy; KL_EFORBIDDEN under purge protection. */
int cert_purge(struct vault *v, const char *name, struct kl_err *err);
/* A sealed blob of every certificate, key and secret version of a live certificate, and its
 * policy, appended to blob. */
int cert_backup(struct vault *v, const char *name, struct buf *blob, struct kl_err *err);
/* Restores a cert_backup blob of this deployment: the three objects with their version ids, and
 * the policy. Damaged, foreign or not a certificate backup: KL_EINVAL with the service's text
 * "Backup blob contains invalid or corrupt version."; name live as certificate, key or secret:
 * KL_ECONFLICT; deleted: KL_ECONFLICT ObjectIsDeletedButRecoverable. out is the latest version. */
int cert_restore(struct vault *v, const void *blob, size_t blob_len, struct obj *out,
		 struct kl_err *err);

#endif
