/* The administration API for the identity provider's signing keys (docs/admin-api.md): the keys
 * that verify access tokens now, and their rotation. Answers carry kids and dates only, never key
 * material; the rotation is an ordinary audited admin request. */
#include "api/internal.h"
#include "vault/identity.h"

static json_t *key_json(const struct identity_signing_key *k)
{
	return json_pack("{s:s, s:I, s:o}", "kid", k->kid, "created", (json_int_t)k->created,
			 "retired", k->retired != 0 ? json_integer(k->retired) : json_null());
}

int admin_signing_keys_list(struct api_call *c)
{
	struct identity_signing_key *list = NULL;
	json_t *arr = NULL, *k;
	size_t n = 0, i;
	int rc = -1;

	if (identity_signing_list(c->ctx->core, &list, &n, &c->err) != 0)
		goto out;
	if ((arr = json_array()) == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((k = key_json(&list[i])) == NULL || json_array_append_new(arr, k) != 0) {
			kl_fail(&c->err, KL_ENOMEM, "out of memory");
			goto out;
		}
	rc = api_reply_json(c, 200, json_pack("{s:o}", "value", arr));
	arr = NULL;
out:
	json_decref(arr);
	free(list);
	return rc;
}

int admin_signing_keys_rotate(struct api_call *c)
{
	struct identity_signing_key k;

	if (identity_signing_rotate(c->ctx->core, &k, &c->err) != 0)
		return -1;
	return api_reply_json(c, 200, key_json(&k));
}
