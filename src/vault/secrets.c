/* Secret-specific rules on top of versioned objects: a disabled version cannot be read. Never
 * logs or copies a value; the value leaves only as the caller's secbuf. */
#include "vault/secrets.h"

static int fail_disabled(struct kl_err *err)
{
	return kl_fail_az(err, KL_EFORBIDDEN, "Forbidden", "SecretDisabled",
			  "Operation get is not allowed on a disabled secret.");
}

int secret_get(struct vault *v, const char *name, const char *version, struct obj *out,
	       struct secbuf **value, struct kl_err *err)
{
	struct secbuf *plain = NULL;
	int rc = -1;

	if (obj_get(v, OBJ_SECRET, name, version, out, &plain, err) != 0)
		goto out;
	if (!out->attrs.enabled) {
		fail_disabled(err);
		obj_clear(out);
		goto out;
	}
	*value = plain;
	plain = NULL;
	rc = 0;
out:
	secbuf_free(plain);
	return rc;
}

int secret_get_deleted(struct vault *v, const char *name, struct obj *out, struct kl_err *err)
{
	if (obj_get_deleted(v, OBJ_SECRET, name, out, err) != 0)
		return -1;
	if (!out->attrs.enabled) {
		obj_clear(out);
		return fail_disabled(err);
	}
	return 0;
}
