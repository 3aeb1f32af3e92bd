/* Backup and restore on the wire, for every kind of object: the blob travels as base64url in
 * {"value": ...}. The blob is sealed by the vault; here it is only encoded. A blob that cannot be
 * restored gets the service's own words on the wire (the SDKs' tests compare them); the precise
 * reason goes to the server log only. Never opens or judges a blob itself. */
#include "api/internal.h"
#include "vault/certlife.h"
#include "util/b64url.h"
#include "util/log.h"

#define BLOB_MAX (64u * 1024 * 1024)

int api_backup(struct api_call *c, enum obj_kind kind, const char *name)
{
	struct buf blob, b64;
	int rc = -1;

	buf_init(&blob, BLOB_MAX);
	buf_init(&b64, BLOB_MAX / 3 * 4 + 4);
	if ((kind == OBJ_CERT ? cert_backup(&c->vault, name, &blob, &c->err)
			      : obj_backup(&c->vault, kind, name, &blob, &c->err)) != 0 ||
	    b64url_encode(blob.data, blob.len, &b64, &c->err) != 0)
		goto out;
	/* A backup that could not be sent back to restore would be useless. */
	if (b64.len + 64 > c->ctx->max_body) {
		kl_fail(&c->err, KL_EINVAL, "The backup of %.64s would be larger than the request limit "
			"of %zu bytes; raise --max-body to back it up.", name, c->ctx->max_body);
		goto out;
	}
	rc = api_reply_json(c, 200, json_pack("{s:s%}", "value", buf_cstr(&b64), b64.len));
out:
	buf_clear(&blob);
	buf_clear(&b64);
	return rc;
}

/* Replaces the reason a blob was refused (not base64url, foreign, tampered, damaged, of another
 * kind: c->err or why) with the service's answer, after logging the reason with the request id.
 * The service's answer, as recorded for a secret (2022, service 1.9.538): code "Malformed backup
 * blob", "... invalid or corrupt version."; the SDKs' own tests compare that text for secrets,
 * keys and certificates alike. */
static int fail_bad_blob(struct api_call *c, enum obj_kind kind, const char *why)
{
	LOG_WARN(c->req->request_id, "restore of a %s refused: %s",
		 kind == OBJ_SECRET ? "secret" : kind == OBJ_KEY ? "key" : "certificate",
		 why != NULL ? why : c->err.msg);
	return kl_fail_az(&c->err, KL_EINVAL, "Malformed backup blob", NULL,
			  "Backup blob contains invalid or corrupt version.");
}

int api_restore(struct api_call *c, enum obj_kind kind, struct obj *out)
{
	struct buf blob;
	json_t *body = NULL, *jv;
	int rc = -1;

	buf_init(&blob, BLOB_MAX);
	if (body_object(c->req, &body, &c->err) != 0)
		goto out;
	jv = json_object_get(body, "value");
	if (!json_is_string(jv)) {
		kl_fail(&c->err, KL_EINVAL, "The field 'value' (the backup blob) is required and must "
			"be a string.");
		goto out;
	}
	if (b64url_decode(json_string_value(jv), json_string_length(jv), &blob, &c->err) != 0) {
		fail_bad_blob(c, kind, "the blob is not valid base64url");
		goto out;
	}
	rc = kind == OBJ_CERT ? cert_restore(&c->vault, blob.data, blob.len, out, &c->err)
			      : obj_restore(&c->vault, kind, blob.data, blob.len, out, &c->err);
	/* Every fault of the blob itself is KL_EINVAL (or KL_ECORRUPT, should a layer below name it
	 * so); a conflict, a deleted name or a store failure keeps its own answer. */
	if (rc != 0 && (c->err.code == KL_EINVAL || c->err.code == KL_ECORRUPT))
		fail_bad_blob(c, kind, NULL);
out:
	buf_clear(&blob);
	json_decref(body);
	return rc;
}
