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
 * KL_ECONFLICT; deleted: KL_ECONFLICT ObjectIsDeletedButRecoverable. out is the latest version.
 *
 * The live-name conflict is the service's CERT_RESTORE_CONFLICT_FMT, whose %s is the id of the
 * blob's latest certificate version, https://<host>/certificates/<name>/<version>. The vault has
 * no host: err->msg holds the text with the path "certificates/<name>/<version>" in its place,
 * cut at the size of msg, and out->name and out->version (only those; out must have been
 * obj_init'd) name that version, so api/ can render the whole text with the id. */
int cert_restore(struct vault *v, const void *blob, size_t blob_len, struct obj *out,
		 struct kl_err *err);

#define CERT_RESTORE_CONFLICT_FMT                                                                  \
	"There was a conflict restoring the certificate '%s'. This can happen if either: a second "  \
	"certificate with the same name was created after the first certificate was deleted; thus "  \
	"trying to restore a certificate whose name is already in use. To fix this, rename the "     \
	"second certificate to something else so that the restore works. The second probable cause " \
	"of this exception is when multiple operations are performed in parallel against the "       \
	"certificate. To avoid this error, perform operations against a certificate in a "           \
	"sequential manner."

#endif
