/* Backup and restore of one object with all its versions. A backup blob is the object's versions
 * with their plain material, sealed as a whole under the deployment's data key: opaque and
 * authenticated, so a tampered blob or one from another deployment is refused, and restore can
 * place the versions in any vault of this deployment (each version is resealed under its new
 * record key). Plain material lives only in wiping buffers here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/rec.h"
#include "vault/internal.h"
#include "vault/keys.h"

#define BACKUP_FORMAT 1

static void backup_aad(char out[32], enum obj_kind kind)
{
	snprintf(out, 32, "kluis/backup/v1/%c", obj_kinds[kind].tag);
}

struct backup_scan {
	const struct vault *v;
	enum obj_kind kind;
	bool refuse_managed;
	struct buf *versions;	/* wiping: holds plain material */
	size_t n;
};

/* Re-encodes one stored version with its material opened. */
static int backup_version(void *arg, const void *key, size_t key_len, const void *val,
			  size_t val_len, uint64_t version, struct kl_err *err)
{
	struct backup_scan *s = arg;
	struct obj o;
	struct secbuf *plain = NULL;
	struct buf rec;
	const unsigned char *sealed;
	size_t sealed_len;
	bool has_m;
	int rc = -1;

	(void)version;
	obj_init(&o);
	buf_init_secret(&rec, VERSION_REC_MAX);
	if (++s->n > OBJ_MAX_VERSIONS_PER_BACKUP) {
		kl_fail(err, KL_EINVAL, "An object with more than %d versions cannot be backed up.",
			OBJ_MAX_VERSIONS_PER_BACKUP);
		goto out;
	}
	if (version_decode(val, val_len, &o, &has_m, &sealed, &sealed_len, err) != 0)
		goto out;
	if (o.managed && s->refuse_managed) {
		obj_fail_managed(err, s->kind, "backup");	/* the certificate's backup holds it */
		goto out;
	}
	if (has_m && seal_open(s->v->core->data_key, key, key_len, sealed, sealed_len, &plain, err) != 0)
		goto out;
	if (version_encode(&o, has_m, plain ? plain->data : NULL, plain ? plain->len : 0, &rec, err) != 0 ||
	    rec_put_bytes(s->versions, rec.data, rec.len, err) != 0)
		goto out;
	rc = 0;
out:
	secbuf_free(plain);
	buf_clear(&rec);
	obj_clear(&o);
	return rc;
}

int backup_versions(const struct vault *v, enum obj_kind kind, const char *lname,
		    bool refuse_managed, struct buf *versions, size_t *n, struct kl_err *err)
{
	char prefix[KEYBUF];
	struct backup_scan s = { .v = v, .kind = kind, .refuse_managed = refuse_managed,
				 .versions = versions };

	keyspace_obj_version(prefix, v, kind, lname, "");
	if (store_scan(v->core->st, prefix, strlen(prefix), NULL, 0, backup_version, &s, err) != 0)
		return -1;
	*n = s.n;
	return 0;
}

int obj_backup(struct vault *v, enum obj_kind kind, const char *name, struct buf *blob,
	       struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], aad[32];
	struct buf versions, payload;
	struct head h;
	size_t n = 0;
	int rc = -1;

	buf_init_secret(&versions, BACKUP_MAX_BYTES);
	buf_init_secret(&payload, BACKUP_MAX_BYTES);
	if (obj_check_name(kind, name, lname, err) != 0)
		goto out;
	if (obj_head_load(v, kind, 'h', lname, &h, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, kind, name, NULL);
		goto out;
	}
	/* a certificate has its own backup (certbackup.c), which carries its key and secret */
	if (backup_versions(v, kind, lname, kind != OBJ_CERT, &versions, &n, err) != 0)
		goto out;
	backup_aad(aad, kind);
	if (rec_put_u8(&payload, (uint8_t)obj_kinds[kind].tag, err) != 0 ||
	    rec_put_str(&payload, h.display, err) != 0 || rec_put_str(&payload, h.latest, err) != 0 ||
	    rec_put_u64(&payload, n, err) != 0 ||
	    buf_append(&payload, versions.data, versions.len, err) != 0 ||
	    buf_append(blob, BACKUP_MAGIC, 4, err) != 0 || rec_put_u8(blob, BACKUP_FORMAT, err) != 0 ||
	    seal_seal(v->core->data_key, aad, strlen(aad), payload.data, payload.len, blob, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&versions);
	buf_clear(&payload);
	return rc;
}

/* The restored versions, resealed for this vault, and the store ops that write them. */
struct restore_set {
	struct buf *recs;
	char (*keys)[KEYBUF];
	size_t n;
};

static void restore_set_clear(struct restore_set *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		buf_clear(&r->recs[i]);
	free(r->recs);
	free(r->keys);
	memset(r, 0, sizeof(*r));
}

static int invalid_blob(struct kl_err *err)
{
	return kl_fail(err, KL_EINVAL, "The backup blob is invalid, damaged, or was not made by this "
			"deployment.");
}

/* Whether version o is one the API can serve: a key's description (vault/keys.c reads it on every
 * use) must parse. A blob that passed the seal but holds one that does not (a later format, or a
 * payload sealed by a holder of the data key) is refused rather than stored unusable. */
static bool is_servable(enum obj_kind kind, const struct obj *o)
{
	struct kl_err kerr = { 0 };
	struct key_meta km;
	bool ok;

	if (kind != OBJ_KEY)
		return true;
	key_meta_init(&km);
	ok = key_meta_of(o, &km, &kerr) == 0;
	key_meta_clear(&km);
	return ok;
}

int backup_version_reseal(const struct vault *v, enum obj_kind kind, const char *lname,
			  const void *rec, size_t rec_len, char *key, struct buf *out, char *version,
			  bool *managed, struct kl_err *err)
{
	const unsigned char *m;
	size_t m_len;
	struct obj o;
	struct buf sealed;
	bool has_m;
	int rc = -1;

	obj_init(&o);
	buf_init(&sealed, VERSION_REC_MAX);
	if (version_decode(rec, rec_len, &o, &has_m, &m, &m_len, err) != 0 ||
	    !vault_version_is_valid(o.version) || !is_servable(kind, &o)) {
		kl_fail(err, KL_EINVAL, "a backed up %s version is not valid", obj_kinds[kind].lower);
		goto out;
	}
	keyspace_obj_version(key, v, kind, lname, o.version);
	if ((has_m && seal_seal(v->core->data_key, key, strlen(key), m, m_len, &sealed, err) != 0) ||
	    version_encode(&o, has_m, sealed.data, sealed.len, out, err) != 0)
		goto out;
	memcpy(version, o.version, 33);
	*managed = o.managed;
	rc = 0;
out:
	obj_clear(&o);
	buf_clear(&sealed);
	return rc;
}

/* Parses the opened payload into r, resealing every version's material under its key in v. */
static int restore_parse(struct vault *v, enum obj_kind kind, const struct secbuf *payload,
			 struct head *h, char *lname, struct restore_set *r, struct kl_err *err)
{
	struct rec_reader rd;
	uint64_t n, i;
	char *display = NULL, *latest = NULL;
	bool latest_found = false;
	int rc = -1;

	rec_reader_init(&rd, payload->data, payload->len);
	if (rec_get_u8(&rd) != (uint8_t)obj_kinds[kind].tag) {
		kl_fail(err, KL_EINVAL, "The backup blob is not a %s backup.", obj_kinds[kind].lower);
		goto out;
	}
	display = rec_get_str(&rd);
	latest = rec_get_str(&rd);
	n = rec_get_u64(&rd);
	if (rd.bad || display == NULL || latest == NULL || !vault_name_is_valid_object(display) ||
	    !vault_version_is_valid(latest) || n == 0 || n > OBJ_MAX_VERSIONS_PER_BACKUP) {
		if (rd.nomem)
			kl_fail(err, KL_ENOMEM, "out of memory");
		else
			invalid_blob(err);
		goto out;
	}
	memset(h, 0, sizeof(*h));
	snprintf(h->display, sizeof(h->display), "%s", display);
	snprintf(h->latest, sizeof(h->latest), "%s", latest);
	lower_copy(lname, OBJ_NAME_MAX + 1, display);
	r->recs = calloc(n, sizeof(*r->recs));
	r->keys = calloc(n, sizeof(*r->keys));
	if (r->recs == NULL || r->keys == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *rec;
		size_t rec_len;
		char ver[33];
		bool managed;

		rec = rec_get_bytes(&rd, &rec_len);
		if (rec == NULL) {
			invalid_blob(err);
			goto out;
		}
		buf_init(&r->recs[i], VERSION_REC_MAX);
		r->n = i + 1;
		if (backup_version_reseal(v, kind, lname, rec, rec_len, r->keys[i], &r->recs[i], ver,
					  &managed, err) != 0) {
			if (err->code == KL_EINVAL)
				invalid_blob(err);
			goto out;
		}
		if (managed && kind != OBJ_CERT) {
			obj_fail_managed(err, kind, "restore");
			goto out;
		}
		latest_found |= strcmp(ver, h->latest) == 0;
	}
	if (!rec_done(&rd) || !latest_found) {
		invalid_blob(err);
		goto out;
	}
	rc = 0;
out:
	free(display);
	free(latest);
	return rc;
}

int obj_restore(struct vault *v, enum obj_kind kind, const void *blob, size_t blob_len,
		struct obj *out, struct kl_err *err)
{
	char aad[32], lname[OBJ_NAME_MAX + 1], hkey[KEYBUF], dkey[KEYBUF], chkey[KEYBUF];
	char cdkey[KEYBUF];
	const unsigned char *b = blob;
	struct secbuf *payload = NULL;
	struct restore_set r = { 0 };
	struct store_op *ops = NULL;
	struct buf hrec;
	struct head h, cur;
	uint64_t hv, dv = 0;
	size_t i, n = 0;
	int rc = -1;

	buf_init(&hrec, 4096);
	backup_aad(aad, kind);
	if (blob_len < 5 || memcmp(b, BACKUP_MAGIC, 4) != 0 || b[4] != BACKUP_FORMAT) {
		invalid_blob(err);
		goto out;
	}
	if (seal_open(v->core->data_key, aad, strlen(aad), b + 5, blob_len - 5, &payload, err) != 0) {
		invalid_blob(err);
		goto out;
	}
	if (restore_parse(v, kind, payload, &h, lname, &r, err) != 0)
		goto out;
	if (obj_head_load(v, kind, 'h', lname, &cur, &hv, err) != 0) {
		if (err->code != KL_ENOTFOUND)
			goto out;
		kl_err_clear(err);
		hv = 0;
		if (obj_head_load(v, kind, 'd', lname, &cur, &dv, err) != 0) {
			if (err->code != KL_ENOTFOUND)
				goto out;
			kl_err_clear(err);
			dv = 0;
		}
	}
	/* over a certificate's name, or its key or secret: refused as managed */
	if (obj_refuse_managed(v, kind, lname, hv || dv ? &cur : NULL, "restore", err) != 0)
		goto out;
	if (dv != 0) {
		obj_fail_is_deleted(err, kind, h.display);
		goto out;
	}
	if (hv != 0) {
		kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
			   "%s %.127s already exists in this vault; delete and purge it before "
			   "restoring a backup of it.", obj_kinds[kind].title, h.display);
		goto out;
	}
	keyspace_obj_head(hkey, v, kind, 'h', lname);
	keyspace_obj_head(dkey, v, kind, 'd', lname);
	keyspace_obj_head(chkey, v, OBJ_CERT, 'h', lname);
	keyspace_obj_head(cdkey, v, OBJ_CERT, 'd', lname);
	if (head_encode(&h, &hrec, err) != 0)
		goto out;
	if ((ops = calloc(r.n + 5, sizeof(*ops))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	ops[n++] = (struct store_op){ .kind = STORE_CHECK, .key = hkey, .key_len = strlen(hkey) };
	ops[n++] = (struct store_op){ .kind = STORE_CHECK, .key = dkey, .key_len = strlen(dkey) };
	if (kind != OBJ_CERT) {
		ops[n++] = (struct store_op){ .kind = STORE_CHECK, .key = chkey, .key_len = strlen(chkey) };
		ops[n++] = (struct store_op){ .kind = STORE_CHECK, .key = cdkey, .key_len = strlen(cdkey) };
	}
	for (i = 0; i < r.n; i++)
		ops[n++] = (struct store_op){ .kind = STORE_PUT, .key = r.keys[i],
					      .key_len = strlen(r.keys[i]), .val = r.recs[i].data,
					      .val_len = r.recs[i].len };
	ops[n++] = (struct store_op){ .kind = STORE_PUT, .key = hkey, .key_len = strlen(hkey),
				      .val = hrec.data, .val_len = hrec.len };
	if (store_txn(v->core->st, ops, n, err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
				   "%s %.127s was created while it was being restored.",
				   obj_kinds[kind].title, h.display);
		goto out;
	}
	rc = obj_get(v, kind, h.display, NULL, out, NULL, err);
out:
	free(ops);
	restore_set_clear(&r);
	secbuf_free(payload);
	buf_clear(&hrec);
	return rc;
}
