/* The rule that a certificate's key and secret are managed: the keys and secrets APIs may read
 * them (any version, lists, deleted reads, key operations) but never change them; only the
 * certificate's own operations (vault/certlife.c and the certificate layer) do. Owns the refusal
 * and the questions behind it; never writes to the store. */
#include <string.h>

#include "vault/internal.h"

int obj_fail_managed(struct kl_err *err, enum obj_kind k, const char *op)
{
	return kl_fail_az(err, KL_EFORBIDDEN, "Forbidden",
			  k == OBJ_KEY ? "KeyManagedByKeyVault" : "SecretManagedByKeyVault",
			  "Operation \"%s\" is not allowed as this object's lifetime is managed by "
			  "Key Vault.", op);
}

int obj_cert_heads(const struct vault *v, const char *lname, uint64_t *live, uint64_t *deleted,
		   struct kl_err *err)
{
	if (obj_head_version(v, OBJ_CERT, 'h', lname, live, err) != 0 ||
	    obj_head_version(v, OBJ_CERT, 'd', lname, deleted, err) != 0)
		return -1;
	return 0;
}

int obj_refuse_managed(const struct vault *v, enum obj_kind k, const char *lname,
		       const struct head *h, const char *op, struct kl_err *err)
{
	uint64_t live, deleted;

	if (k == OBJ_CERT)
		return 0;
	if (obj_cert_heads(v, lname, &live, &deleted, err) != 0)
		return -1;
	if (live != 0 || deleted != 0)
		return obj_fail_managed(err, k, op);
	return obj_refuse_managed_latest(v, k, lname, h, op, err);
}

int obj_refuse_managed_latest(const struct vault *v, enum obj_kind k, const char *lname,
			      const struct head *h, const char *op, struct kl_err *err)
{
	struct obj o;
	int rc = -1;

	obj_init(&o);
	if (k != OBJ_CERT && h != NULL) {
		if (obj_version_load(v, k, lname, h->latest, &o, NULL, NULL, err) != 0)
			goto out;
		if (o.managed) {
			obj_fail_managed(err, k, op);
			goto out;
		}
	}
	rc = 0;
out:
	obj_clear(&o);
	return rc;
}
