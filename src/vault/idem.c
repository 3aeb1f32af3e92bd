/* Idempotency records (idem.h): the request's id and fingerprint, the record's codec, and the
 * verdict a create acts on. Never reads or writes the store itself: objcreate.c reads the record with
 * the heads and writes it with the version, idemsweep.c removes expired ones. Holds the fingerprint
 * (derived from a body that may hold a secret) only in the caller's struct and sealed at rest. */
#include <string.h>

#include "crypto/digest.h"
#include "crypto/seal.h"
#include "util/log.h"
#include "util/rec.h"
#include "util/secbuf.h"
#include "vault/idem.h"
#include "vault/internal.h"
#include "vault/principals.h"

#define IDEM_FORMAT 1

/* One part of a digest's input: its length (8 bytes, big-endian), then its bytes, so that no
 * two different sequences of parts hash the same bytes. */
static int put_part(struct crypto_digest *d, const void *p, size_t n, struct kl_err *err)
{
	unsigned char len[8];

	rec_be64(len, (uint64_t)n);
	if (crypto_digest_update(d, len, sizeof(len), err) != 0)
		return -1;
	return n > 0 ? crypto_digest_update(d, p, n, err) : 0;
}

/* SHA-256 over the n parts (p[i], len[i]) into out. */
static int digest_parts(const void *const *p, const size_t *len, size_t n,
			unsigned char out[IDEM_DIGEST_LEN], struct kl_err *err)
{
	unsigned char md[CRYPTO_DIGEST_MAX];
	struct crypto_digest *d;
	size_t i;
	int rc = -1;

	if ((d = crypto_digest_new(256, err)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (put_part(d, p[i], len[i], err) != 0)
			goto out;
	if (crypto_digest_final(d, md, err) != 0)
		goto out;
	memcpy(out, md, IDEM_DIGEST_LEN);
	rc = 0;
out:
	secure_wipe(md, sizeof(md));
	crypto_digest_free(d);
	return rc;
}

int idem_prepare(struct obj_idem *out, const struct principal_ref *who,
		 const char *client_request_id, const char *op, const char *name, const void *body,
		 size_t body_len, struct kl_err *err)
{
	/* the admin token and a principal are told apart by the first part, a principal by its id
	 * (names may be reused after a delete, ids never) */
	const char *kind = who->is_admin ? "admin" : "principal";
	const void *id_parts[] = { kind, who->is_admin ? "" : who->id, client_request_id };
	const size_t id_lens[] = { strlen(kind), who->is_admin ? 0 : strlen(who->id),
				   strlen(client_request_id) };
	const void *fp_parts[] = { op, name, body };
	const size_t fp_lens[] = { strlen(op), strlen(name), body_len };

	if (digest_parts(id_parts, id_lens, 3, out->id, err) != 0 ||
	    digest_parts(fp_parts, fp_lens, 3, out->fingerprint, err) != 0) {
		secure_wipe(out, sizeof(*out));
		return -1;
	}
	return 0;
}

int idem_rec_encode(const struct vault_core *core, const char *key, const struct idem_rec *rec,
		    struct buf *out, struct kl_err *err)
{
	struct buf sealed;
	int rc = -1;

	buf_init(&sealed, 256);
	if (seal_seal(core->data_key, key, strlen(key), rec->fingerprint, IDEM_DIGEST_LEN, &sealed,
		      err) != 0 ||
	    rec_put_u8(out, IDEM_FORMAT, err) != 0 ||
	    rec_put_u8(out, (uint8_t)rec->tag, err) != 0 ||
	    rec_put_i64(out, rec->created, err) != 0 || rec_put_str(out, rec->version, err) != 0 ||
	    rec_put_bytes(out, sealed.data, sealed.len, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&sealed);
	return rc;
}

/* The fields before the sealed fingerprint; r is left at it. */
static bool read_head(struct rec_reader *r, struct idem_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (rec_get_u8(r) != IDEM_FORMAT)
		return false;
	rec->tag = (char)rec_get_u8(r);
	rec->created = rec_get_i64(r);
	return !r->bad;
}

bool idem_rec_created(const void *p, size_t n, int64_t *created)
{
	struct idem_rec rec;
	struct rec_reader r;

	rec_reader_init(&r, p, n);
	if (!read_head(&r, &rec))
		return false;
	*created = rec.created;
	return true;
}

int idem_rec_decode(const struct vault_core *core, const char *key, const void *p, size_t n,
		    struct idem_rec *rec, struct kl_err *err)
{
	struct secbuf *fp = NULL;
	const unsigned char *sealed;
	struct rec_reader r;
	size_t sealed_len;
	int rc = -1;

	rec_reader_init(&r, p, n);
	if (!read_head(&r, rec) || !rec_get_fixed_str(&r, rec->version, sizeof(rec->version)) ||
	    !vault_version_is_valid(rec->version) ||
	    (sealed = rec_get_bytes(&r, &sealed_len)) == NULL || !rec_done(&r)) {
		kl_fail(err, KL_ECORRUPT, "a stored idempotency record is damaged");
		goto out;
	}
	if (seal_open(core->data_key, key, strlen(key), sealed, sealed_len, &fp, err) != 0)
		goto out;
	if (fp->len != IDEM_DIGEST_LEN) {
		kl_fail(err, KL_ECORRUPT, "a stored idempotency record is damaged");
		goto out;
	}
	memcpy(rec->fingerprint, fp->data, IDEM_DIGEST_LEN);
	rc = 0;
out:
	secbuf_free(fp);
	if (rc != 0)
		secure_wipe(rec, sizeof(*rec));
	return rc;
}

int idem_judge(const struct vault_core *core, const char *key, const struct obj_idem *idem,
	       char tag, const struct store_read *r, int64_t now, struct idem_rec *rec,
	       struct kl_err *err)
{
	if (!r->found)
		return IDEM_NEW;
	if (idem_rec_decode(core, key, r->val->data, r->val->len, rec, err) != 0) {
		if (err->code != KL_ECORRUPT)
			return -1;
		/* it answers no retry any more; replacing it loses nothing else */
		LOG_WARN(NULL, "replacing a damaged idempotency record: %s", err->msg);
		kl_err_clear(err);
		return IDEM_NEW;
	}
	if (now - rec->created >= IDEM_RETENTION_S)
		return IDEM_NEW;	/* expired: a new request that happens to reuse the id */
	if (rec->tag != tag || !secure_equal(rec->fingerprint, idem->fingerprint, IDEM_DIGEST_LEN))
		return kl_fail_az(err, KL_ECONFLICT, "Conflict", "ClientRequestIdReused",
				  "The x-ms-client-request-id of this request was already used, "
				  "less than %d seconds ago, for a different request (another "
				  "operation, object name or body). A retry must resend the same "
				  "request; a new request needs a new x-ms-client-request-id.",
				  IDEM_RETENTION_S);
	return IDEM_REPLAY;
}
