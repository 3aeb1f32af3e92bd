/* Backup and restore of a certificate with its managed key and secret: one blob sealed under the
 * deployment's data key (as backup.c seals one object, with a format byte and additional data of
 * its own, so neither kind of blob restores as the other) carrying every version of the three
 * kinds with their plain material, the policy record and the renewal index entry; restore writes
 * them all in one store transaction with checks on the six heads. Plain material lives only in
 * wiping buffers here; the policy is carried as opaque bytes. Why a blob is refused is logged,
 * never sent: the client sees the service's one text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/rec.h"
#include "vault/certlife.h"
#include "vault/internal.h"

#define CERT_BACKUP_FORMAT 2	/* format 1 is one object (backup.c) */
#define CERT_BACKUP_AAD "kluis/backup/v2/certificate"
#define SIDE_MAX (256u * 1024)	/* a policy record or an index entry */
#define N_PARTS 3

static const enum obj_kind part_kinds[N_PARTS] = { OBJ_CERT, OBJ_KEY, OBJ_SECRET };

static int fail_invalid(struct kl_err *err, const char *why)
{
	LOG_WARN(NULL, "certificate restore refused: %s", why);
	return kl_fail(err, KL_EINVAL, "Backup blob contains invalid or corrupt version.");
}

/* ---- backup ---- */

/* One record beside the versions, when present: *present and its value appended to val. */
static int side_get(const struct vault *v, const char *key, bool *present, struct buf *val,
		    struct kl_err *err)
{
	*present = store_get(v->core->st, key, strlen(key), val, NULL, err) == 0;
	if (*present)
		return 0;
	if (err->code != KL_ENOTFOUND)
		return -1;
	kl_err_clear(err);
	return 0;
}

/* The store versions of the live heads of the three kinds (0: absent), and which of them the
 * certificate's backup takes: the certificate, and its key and secret when managed. */
static int live_heads(const struct vault *v, const char *lname, struct head *h, uint64_t *hv,
		      bool *on, struct kl_err *err)
{
	struct obj o;
	size_t i;
	int rc = -1;

	obj_init(&o);
	for (i = 0; i < N_PARTS; i++) {
		on[i] = false;
		if (obj_head_load(v, part_kinds[i], 'h', lname, &h[i], &hv[i], err) != 0) {
			if (err->code != KL_ENOTFOUND)
				goto out;
			kl_err_clear(err);
			hv[i] = 0;
			continue;
		}
		obj_clear(&o);
		if (obj_version_load(v, part_kinds[i], lname, h[i].latest, &o, NULL, NULL, err) != 0)
			goto out;
		on[i] = part_kinds[i] == OBJ_CERT || o.managed;
	}
	rc = 0;
out:
	obj_clear(&o);
	return rc;
}

/* The payload of one attempt: heads read first and again last, so that a version created or a
 * name deleted meanwhile makes the caller try again rather than back up a mix. */
static int cert_payload(const struct vault *v, const char *name, const char *lname,
			struct buf *payload, bool *stable, struct kl_err *err)
{
	char pkey[KEYBUF], akey[KEYBUF];
	struct head h[N_PARTS], again[N_PARTS];
	uint64_t hv[N_PARTS], hv2[N_PARTS];
	bool on[N_PARTS], on2[N_PARTS], has_policy, has_renewal;
	struct buf versions, policy, renewal;
	size_t i, n;
	int rc = -1;

	buf_init_secret(&versions, BACKUP_MAX_BYTES);
	buf_init(&policy, SIDE_MAX);
	buf_init(&renewal, SIDE_MAX);
	*stable = false;
	if (live_heads(v, lname, h, hv, on, err) != 0)
		goto out;
	if (!on[0]) {
		obj_fail_not_found(err, OBJ_CERT, name, NULL);
		goto out;
	}
	keyspace_obj_side(pkey, v->name, 'c', lname);
	keyspace_renewal_index(akey, v->name, lname);
	if (side_get(v, pkey, &has_policy, &policy, err) != 0 ||
	    side_get(v, akey, &has_renewal, &renewal, err) != 0)
		goto out;
	if (rec_put_u8(payload, (uint8_t)obj_kinds[OBJ_CERT].tag, err) != 0 ||
	    rec_put_str(payload, h[0].display, err) != 0 ||
	    rec_put_str(payload, h[0].latest, err) != 0 || rec_put_u8(payload, has_policy, err) != 0 ||
	    rec_put_bytes(payload, policy.data, policy.len, err) != 0 ||
	    rec_put_u8(payload, has_renewal, err) != 0 ||
	    rec_put_bytes(payload, renewal.data, renewal.len, err) != 0)
		goto out;
	for (i = 0; i < N_PARTS; i++) {
		if (rec_put_u8(payload, (uint8_t)obj_kinds[part_kinds[i]].tag, err) != 0 ||
		    rec_put_u8(payload, on[i], err) != 0)
			goto out;
		if (!on[i])
			continue;
		buf_reset(&versions);
		if (backup_versions(v, part_kinds[i], lname, false, &versions, &n, err) != 0 ||
		    rec_put_str(payload, h[i].latest, err) != 0 || rec_put_u64(payload, n, err) != 0 ||
		    buf_append(payload, versions.data, versions.len, err) != 0)
			goto out;
	}
	if (live_heads(v, lname, again, hv2, on2, err) != 0)
		goto out;
	*stable = memcmp(hv, hv2, sizeof(hv)) == 0;
	rc = 0;
out:
	buf_clear(&versions);
	buf_clear(&policy);
	buf_clear(&renewal);
	return rc;
}

int cert_backup(struct vault *v, const char *name, struct buf *blob, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	struct buf payload;
	bool stable = false;
	int attempt, rc = -1;

	buf_init_secret(&payload, BACKUP_MAX_BYTES);
	if (obj_check_name(OBJ_CERT, name, lname, err) != 0)
		goto out;
	for (attempt = 0; attempt < OBJ_TXN_ATTEMPTS && !stable; attempt++) {
		buf_reset(&payload);
		if (cert_payload(v, name, lname, &payload, &stable, err) != 0)
			goto out;
		if (!stable)
			vault_txn_backoff(attempt);
	}
	if (!stable) {
		kl_fail(err, KL_EUNAVAIL, "the certificate changed too often concurrently; retry");
		goto out;
	}
	if (buf_append(blob, BACKUP_MAGIC, 4, err) != 0 ||
	    rec_put_u8(blob, CERT_BACKUP_FORMAT, err) != 0 ||
	    seal_seal(v->core->data_key, CERT_BACKUP_AAD, strlen(CERT_BACKUP_AAD), payload.data,
		      payload.len, blob, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&payload);
	return rc;
}

/* ---- restore ---- */

/* What a restore writes: per kind, the resealed versions and the head; the side records. */
struct restore_part {
	bool on;
	struct head h;
	size_t n;
	struct buf *recs;
	char (*keys)[KEYBUF];
	struct buf hrec;
};

struct restore_plan {
	char display[OBJ_NAME_MAX + 1], lname[OBJ_NAME_MAX + 1];
	struct restore_part parts[N_PARTS];
	bool has_policy, has_renewal;
	struct buf policy, renewal;
};

static void plan_init(struct restore_plan *p)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < N_PARTS; i++)
		buf_init(&p->parts[i].hrec, 4096);
	buf_init(&p->policy, SIDE_MAX);
	buf_init(&p->renewal, SIDE_MAX);
}

static void plan_clear(struct restore_plan *p)
{
	size_t i, j;

	for (i = 0; i < N_PARTS; i++) {
		for (j = 0; j < p->parts[i].n; j++)
			buf_clear(&p->parts[i].recs[j]);
		free(p->parts[i].recs);
		free(p->parts[i].keys);
		buf_clear(&p->parts[i].hrec);
	}
	buf_clear(&p->policy);
	buf_clear(&p->renewal);
	memset(p, 0, sizeof(*p));
}

/* A side record's presence and value from the payload. */
static bool get_side(struct rec_reader *rd, bool *present, struct buf *val, struct kl_err *err)
{
	const unsigned char *b;
	size_t n;

	*present = rec_get_u8(rd) != 0;
	if ((b = rec_get_bytes(rd, &n)) == NULL || n > SIDE_MAX)
		return false;
	return !*present || n == 0 || buf_append(val, b, n, err) == 0;
}

/* Reads one kind's section into part, resealing its versions for v. -1 with err: KL_EINVAL from
 * fail_invalid, or an internal failure. */
static int parse_part(const struct vault *v, struct rec_reader *rd, enum obj_kind kind,
		      struct restore_plan *plan, struct restore_part *part, struct kl_err *err)
{
	char *latest = NULL, ver[33];
	uint64_t n, i;
	bool managed, latest_found = false;
	int rc = -1;

	if (rec_get_u8(rd) != (uint8_t)obj_kinds[kind].tag) {
		fail_invalid(err, "sections out of order");
		goto out;
	}
	part->on = rec_get_u8(rd) != 0;
	if (!part->on) {
		rc = rd->bad ? fail_invalid(err, "truncated") : 0;
		goto out;
	}
	latest = rec_get_str(rd);
	n = rec_get_u64(rd);
	if (rd->bad || latest == NULL || !vault_version_is_valid(latest) || n == 0 ||
	    n > OBJ_MAX_VERSIONS_PER_BACKUP) {
		if (rd->nomem)
			kl_fail(err, KL_ENOMEM, "out of memory");
		else
			fail_invalid(err, "a section's head is damaged");
		goto out;
	}
	snprintf(part->h.display, sizeof(part->h.display), "%s", plan->display);
	snprintf(part->h.latest, sizeof(part->h.latest), "%s", latest);
	part->recs = calloc(n, sizeof(*part->recs));
	part->keys = calloc(n, sizeof(*part->keys));
	if (part->recs == NULL || part->keys == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *rec;
		size_t rec_len;

		buf_init(&part->recs[i], 1024u * 1024);
		part->n = i + 1;
		if ((rec = rec_get_bytes(rd, &rec_len)) == NULL) {
			fail_invalid(err, "a version is cut short");
			goto out;
		}
		if (backup_version_reseal(v, kind, plan->lname, rec, rec_len, part->keys[i],
					  &part->recs[i], ver, &managed, err) != 0) {
			if (err->code == KL_EINVAL)
				fail_invalid(err, err->msg);
			goto out;
		}
		if (kind != OBJ_CERT && !managed) {
			fail_invalid(err, "a key or secret version is not managed");
			goto out;
		}
		latest_found |= strcmp(ver, part->h.latest) == 0;
	}
	if (!latest_found) {
		fail_invalid(err, "the latest version is missing");
		goto out;
	}
	rc = head_encode(&part->h, &part->hrec, err);
out:
	free(latest);
	return rc;
}

/* Opens and parses a blob into plan. */
static int parse_blob(const struct vault *v, const void *blob, size_t blob_len,
		      struct restore_plan *plan, struct kl_err *err)
{
	const unsigned char *b = blob;
	struct secbuf *payload = NULL;
	struct rec_reader rd;
	char *display = NULL, *latest = NULL;
	size_t i;
	int rc = -1;

	if (blob_len < 5 || memcmp(b, BACKUP_MAGIC, 4) != 0) {
		fail_invalid(err, "not a kluis backup");
		goto out;
	}
	if (b[4] != CERT_BACKUP_FORMAT) {
		fail_invalid(err, "a backup of a key or secret, or of a later format");
		goto out;
	}
	if (seal_open(v->core->data_key, CERT_BACKUP_AAD, strlen(CERT_BACKUP_AAD), b + 5,
		      blob_len - 5, &payload, err) != 0) {
		fail_invalid(err, "the seal does not open: damaged, or made by another deployment");
		goto out;
	}
	rec_reader_init(&rd, payload->data, payload->len);
	if (rec_get_u8(&rd) != (uint8_t)obj_kinds[OBJ_CERT].tag) {
		fail_invalid(err, "not a certificate backup");
		goto out;
	}
	display = rec_get_str(&rd);
	latest = rec_get_str(&rd);
	if (rd.bad || display == NULL || latest == NULL || !vault_name_is_valid_object(display) ||
	    !vault_version_is_valid(latest) ||
	    !lower_copy(plan->lname, sizeof(plan->lname), display)) {
		fail_invalid(err, "the name or latest version is damaged");
		goto out;
	}
	snprintf(plan->display, sizeof(plan->display), "%s", display);
	if (!get_side(&rd, &plan->has_policy, &plan->policy, err) ||
	    !get_side(&rd, &plan->has_renewal, &plan->renewal, err)) {
		if (err->code == KL_OK)
			fail_invalid(err, "a side record is damaged");
		goto out;
	}
	for (i = 0; i < N_PARTS; i++)
		if (parse_part(v, &rd, part_kinds[i], plan, &plan->parts[i], err) != 0)
			goto out;
	if (!plan->parts[0].on || strcmp(plan->parts[0].h.latest, latest) != 0) {
		fail_invalid(err, "no certificate versions, or not the latest named");
		goto out;
	}
	if (!rec_done(&rd)) {
		fail_invalid(err, "trailing bytes");
		goto out;
	}
	rc = 0;
out:
	free(display);
	free(latest);
	secbuf_free(payload);
	return rc;
}

/* The service's refusal of a restore over a live name, with the versioned path of the blob's
 * certificate (api/ has the host to make it an id); out names that version. */
static int fail_live(const struct restore_plan *plan, struct obj *out, struct kl_err *err)
{
	char path[KEYBUF];

	snprintf(out->name, sizeof(out->name), "%s", plan->display);
	snprintf(out->version, sizeof(out->version), "%s", plan->parts[0].h.latest);
	snprintf(path, sizeof(path), "certificates/%s/%s", plan->display, plan->parts[0].h.latest);
	return kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL, CERT_RESTORE_CONFLICT_FMT, path);
}

int cert_restore(struct vault *v, const void *blob, size_t blob_len, struct obj *out,
		 struct kl_err *err)
{
	char hkeys[N_PARTS][KEYBUF], dkeys[N_PARTS][KEYBUF], pkey[KEYBUF], akey[KEYBUF];
	struct restore_plan plan;
	struct store_op *ops = NULL;
	uint64_t hv, dv;
	bool any_live = false, any_deleted = false;
	size_t i, j, n = 0, n_ops = N_PARTS * 3 + 2;
	int rc = -1;

	plan_init(&plan);
	if (parse_blob(v, blob, blob_len, &plan, err) != 0)
		goto out;
	for (i = 0; i < N_PARTS; i++) {
		keyspace_obj_head(hkeys[i], v, part_kinds[i], 'h', plan.lname);
		keyspace_obj_head(dkeys[i], v, part_kinds[i], 'd', plan.lname);
		if (obj_head_version(v, part_kinds[i], 'h', plan.lname, &hv, err) != 0 ||
		    obj_head_version(v, part_kinds[i], 'd', plan.lname, &dv, err) != 0)
			goto out;
		any_live |= hv != 0;
		any_deleted |= dv != 0;
		n_ops += plan.parts[i].n;
	}
	if (any_live) {
		fail_live(&plan, out, err);
		goto out;
	}
	if (any_deleted) {
		obj_fail_is_deleted(err, OBJ_CERT, plan.display);
		goto out;
	}
	keyspace_obj_side(pkey, v->name, 'c', plan.lname);
	keyspace_renewal_index(akey, v->name, plan.lname);
	if ((ops = calloc(n_ops, sizeof(*ops))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < N_PARTS; i++) {
		struct restore_part *p = &plan.parts[i];

		ops[n++] = (struct store_op){ .kind = STORE_CHECK, .key = hkeys[i],
					      .key_len = strlen(hkeys[i]) };
		ops[n++] = (struct store_op){ .kind = STORE_CHECK, .key = dkeys[i],
					      .key_len = strlen(dkeys[i]) };
		if (!p->on)
			continue;
		for (j = 0; j < p->n; j++)
			ops[n++] = (struct store_op){ .kind = STORE_PUT, .key = p->keys[j],
						      .key_len = strlen(p->keys[j]),
						      .val = p->recs[j].data, .val_len = p->recs[j].len };
		ops[n++] = (struct store_op){ .kind = STORE_PUT, .key = hkeys[i],
					      .key_len = strlen(hkeys[i]), .val = p->hrec.data,
					      .val_len = p->hrec.len };
	}
	if (plan.has_policy)
		ops[n++] = (struct store_op){ .kind = STORE_PUT, .key = pkey, .key_len = strlen(pkey),
					      .val = plan.policy.data ? (void *)plan.policy.data : "",
					      .val_len = plan.policy.len };
	if (plan.has_renewal)
		ops[n++] = (struct store_op){ .kind = STORE_PUT, .key = akey, .key_len = strlen(akey),
					      .val = plan.renewal.data ? (void *)plan.renewal.data : "",
					      .val_len = plan.renewal.len };
	if (store_txn(v->core->st, ops, n, err) != 0) {
		if (err->code == KL_ECONFLICT)	/* the name was taken meanwhile */
			fail_live(&plan, out, err);
		goto out;
	}
	rc = obj_get(v, OBJ_CERT, plan.display, NULL, out, NULL, err);
out:
	free(ops);
	plan_clear(&plan);
	return rc;
}
