/* The administration API, part three (docs/admin-api.md, docs/operations.md): the master key's
 * status on this node and its rotation. Answers carry key ids only, never key bytes. */
#include "api/internal.h"
#include "vault/masterkey.h"

static json_t *status_json(const struct masterkey_status *st)
{
	return json_pack("{s:s, s:s, s:b}", "keyId", st->store_key_id, "nodeKeyId", st->node_key_id,
			 "nodeKeyCurrent", st->node_key_current);
}

int admin_master_key_get(struct api_call *c)
{
	struct masterkey_status st;

	if (masterkey_status(c->ctx->core, &st, &c->err) != 0)
		return -1;
	return api_reply_json(c, 200, status_json(&st));
}

int admin_master_key_rotate(struct api_call *c)
{
	char old_id[MASTERKEY_ID_HEX + 1], new_id[MASTERKEY_ID_HEX + 1];
	struct masterkey_status st;
	json_t *j;

	if (masterkey_rotate(c->ctx->core, old_id, new_id, &c->err) != 0 ||
	    masterkey_status(c->ctx->core, &st, &c->err) != 0)
		return -1;
	if ((j = status_json(&st)) != NULL)
		json_object_set_new(j, "previousKeyId", json_string(old_id));
	return api_reply_json(c, 200, j);
}
