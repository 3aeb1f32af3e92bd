/* The certificate operation (o/<vault>/c/q/<name>): its record, its state as a function of the
 * stored facts and the clock (C4: reads never write, so read-only nodes agree), cancellation
 * and removal. Never makes keys or certificates (certcreate.c does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/rec.h"
#include "vault/certs_internal.h"

#define OP_FORMAT 1
#define OP_REC_MAX (64u * 1024)
#define CSR_MAX (32u * 1024)

void cert_key_op(char *out, const struct vault *v, const char *lname)
{
	keyspace_cert_operation(out, v->name, lname);
}

void cert_op_init(struct cert_op *op)
{
	memset(op, 0, sizeof(*op));
	buf_init(&op->csr, CSR_MAX);
}

void cert_op_clear(struct cert_op *op)
{
	buf_clear(&op->csr);
	cert_op_init(op);
}

enum cert_op_status cert_op_status_at(const struct cert_op *op, int64_t now_ms)
{
	if (op->merged)
		return CERT_OP_COMPLETED;
	if (op->cancellation_requested)
		return CERT_OP_CANCELLED;
	if (op->kind == CERT_OP_UNKNOWN || now_ms < op->created_ms + op->delay_s * 1000)
		return CERT_OP_IN_PROGRESS;
	return op->kind == CERT_OP_SELF ? CERT_OP_COMPLETED : CERT_OP_FAILED;
}

int cert_op_encode(const struct cert_op *op, struct buf *out, struct kl_err *err)
{
	if (rec_put_u8(out, OP_FORMAT, err) != 0 || rec_put_u8(out, (uint8_t)op->kind, err) != 0 ||
	    rec_put_str(out, op->version, err) != 0 || rec_put_str(out, op->request_id, err) != 0 ||
	    rec_put_str(out, op->issuer, err) != 0 || rec_put_str(out, op->cty, err) != 0 ||
	    rec_put_u8(out, op->has_transparency, err) != 0 ||
	    rec_put_u8(out, op->transparency, err) != 0 ||
	    rec_put_str(out, op->provider, err) != 0 || rec_put_i64(out, op->created_ms, err) != 0 ||
	    rec_put_i64(out, op->delay_s, err) != 0 ||
	    rec_put_u8(out, op->cancellation_requested, err) != 0 ||
	    rec_put_u8(out, op->merged, err) != 0 ||
	    rec_put_u8(out, op->preserve_order, err) != 0 ||
	    rec_put_bytes(out, op->csr.data, op->csr.len, err) != 0)
		return -1;
	return 0;
}

int cert_op_decode(const void *p, size_t n, struct cert_op *op, struct kl_err *err)
{
	struct rec_reader r;
	const unsigned char *csr;
	size_t csr_len;

	cert_op_clear(op);
	rec_reader_init(&r, p, n);
	if (rec_get_u8(&r) != OP_FORMAT)
		goto bad;
	op->kind = rec_get_u8(&r);
	if (op->kind > CERT_OP_ISSUER || !rec_get_fixed_str(&r, op->version, sizeof(op->version)) ||
	    !rec_get_fixed_str(&r, op->request_id, sizeof(op->request_id)) ||
	    !rec_get_fixed_str(&r, op->issuer, sizeof(op->issuer)) ||
	    !rec_get_fixed_str(&r, op->cty, sizeof(op->cty)))
		goto bad;
	op->has_transparency = rec_get_u8(&r) != 0;
	op->transparency = rec_get_u8(&r) != 0;
	if (!rec_get_fixed_str(&r, op->provider, sizeof(op->provider)))
		goto bad;
	op->created_ms = rec_get_i64(&r);
	op->delay_s = rec_get_i64(&r);
	op->cancellation_requested = rec_get_u8(&r) != 0;
	op->merged = rec_get_u8(&r) != 0;
	op->preserve_order = rec_get_u8(&r) != 0;
	if ((csr = rec_get_bytes(&r, &csr_len)) == NULL || !rec_done(&r))
		goto bad;
	if (csr_len > 0 && buf_append(&op->csr, csr, csr_len, err) != 0)
		return -1;
	return 0;
bad:
	return kl_fail(err, KL_ECORRUPT, "a stored certificate operation is damaged");
}

int cert_op_load(const struct vault *v, const char *lname, struct cert_op *op, bool *found,
		 uint64_t *store_version, struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, OP_REC_MAX);
	*found = false;
	if (store_version != NULL)
		*store_version = 0;
	cert_key_op(key, v, lname);
	if (store_get(v->core->st, key, strlen(key), &val, store_version, err) != 0) {
		if (err->code == KL_ENOTFOUND) {
			kl_err_clear(err);
			rc = 0;
		}
		goto out;
	}
	if (cert_op_decode(val.data, val.len, op, err) != 0)
		goto out;
	op->status = cert_op_status_at(op, clock_now_ms());
	*found = true;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

static int fail_no_op(struct kl_err *err, const char *name)
{
	return kl_fail_az(err, KL_ENOTFOUND, "PendingCertificateNotFound", NULL,
			  "Pending certificate not found: %.127s", name);
}

/* The operation of a live certificate name into op; 404 PendingCertificateNotFound otherwise. */
static int load_live(struct vault *v, const char *name, char *lname, struct cert_op *op,
		     uint64_t *op_version, struct kl_err *err)
{
	uint64_t hv;
	bool found;

	if (name == NULL || !vault_name_is_valid_object(name) ||
	    !lower_copy(lname, OBJ_NAME_MAX + 1, name))
		return fail_no_op(err, name ? name : "");
	if (obj_head_version(v, OBJ_CERT, 'h', lname, &hv, err) != 0 ||
	    cert_op_load(v, lname, op, &found, op_version, err) != 0)
		return -1;
	if (hv == 0 || !found)
		return fail_no_op(err, name);
	return 0;
}

int cert_op_get(struct vault *v, const char *name, struct cert_op *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];

	return load_live(v, name, lname, out, NULL, err);
}

/* The steps that take back the secret of a Self version never issued (C4: it was kept hidden):
 * its version record goes, and its name's head, when it points there, moves back to the newest
 * earlier certificate version that has a secret, or goes too. The key stays (a merge may still
 * complete the version). */
struct retract {
	struct store_op ops[4];
	size_t n;
	char vkey[KEYBUF], hkey[KEYBUF];
	struct buf hrec;
};

static int secret_retract(struct vault *v, const char *lname, const char *version,
			  const char *prev, struct retract *r, struct kl_err *err)
{
	char back[OBJ_VERSION_LEN + 1];
	struct head h;
	uint64_t hv = 0, vv = 0;
	int step;

	keyspace_obj_version(r->vkey, v, OBJ_SECRET, lname, version);
	keyspace_obj_head(r->hkey, v, OBJ_SECRET, 'h', lname);
	{
		struct obj o;
		int rc;

		obj_init(&o);
		rc = obj_version_load(v, OBJ_SECRET, lname, version, &o, &vv, NULL, err);
		obj_clear(&o);
		if (rc != 0) {
			if (err->code != KL_ENOTFOUND)
				return -1;
			kl_err_clear(err);
			return 0;	/* no secret to take back */
		}
	}
	r->ops[r->n++] = (struct store_op){ .kind = STORE_CHECK, .key = r->vkey,
					    .key_len = strlen(r->vkey), .version = vv };
	r->ops[r->n++] = (struct store_op){ .kind = STORE_DEL, .key = r->vkey,
					    .key_len = strlen(r->vkey) };
	if (obj_head_load(v, OBJ_SECRET, 'h', lname, &h, &hv, err) != 0) {
		if (err->code != KL_ENOTFOUND)
			return -1;
		kl_err_clear(err);
		return 0;
	}
	if (strcmp(h.latest, version) != 0)
		return 0;
	r->ops[r->n++] = (struct store_op){ .kind = STORE_CHECK, .key = r->hkey,
					    .key_len = strlen(r->hkey), .version = hv };
	snprintf(back, sizeof(back), "%s", prev);
	for (step = 0; step < 16 && back[0] != '\0'; step++) {
		struct obj o;
		struct cert older;
		int rc;

		obj_init(&o);
		rc = obj_version_load(v, OBJ_SECRET, lname, back, &o, NULL, NULL, err);
		obj_clear(&o);
		if (rc == 0)
			break;
		if (err->code != KL_ENOTFOUND)
			return -1;
		kl_err_clear(err);
		cert_init(&older);	/* no secret there: look one further back */
		if (obj_version_load(v, OBJ_CERT, lname, back, &older.o, NULL, NULL, err) != 0 ||
		    cert_pub_decode(older.o.pub.data, older.o.pub.len, &older, err) != 0) {
			cert_clear(&older);
			if (err->code != KL_ENOTFOUND && err->code != KL_ECORRUPT)
				return -1;
			kl_err_clear(err);
			back[0] = '\0';
			break;
		}
		snprintf(back, sizeof(back), "%s", older.prev);
		cert_clear(&older);
	}
	if (step == 16)
		back[0] = '\0';
	if (back[0] == '\0') {	/* no earlier secret: the name has none */
		r->ops[r->n++] = (struct store_op){ .kind = STORE_DEL, .key = r->hkey,
						    .key_len = strlen(r->hkey) };
		return 0;
	}
	memcpy(h.latest, back, sizeof(h.latest));
	if (head_encode(&h, &r->hrec, err) != 0)
		return -1;
	r->ops[r->n++] = (struct store_op){ .kind = STORE_PUT, .key = r->hkey,
					    .key_len = strlen(r->hkey), .val = r->hrec.data,
					    .val_len = r->hrec.len };
	return 0;
}

/* A write that records op and, when the version was to be issued but now never will be, turns
 * the certificate version into a skeleton without chain (C4: "pending version stays"). */
static int write_op(struct vault *v, const char *name, const char *lname, const struct cert_op *op,
		    uint64_t op_version, bool drop, bool unissue, struct kl_err *err)
{
	struct cert_write w = { .name = name,
				.op = drop ? NULL : op,
				.drop_op = drop,
				.check_op = true,
				.op_version = op_version };
	struct retract r = { .n = 0 };
	struct cert c;
	struct buf pub;
	uint64_t sv = 0;
	int rc = -1;

	cert_init(&c);
	buf_init(&pub, 1024);
	buf_init(&r.hrec, 4096);
	if (unissue) {
		if (obj_version_load(v, OBJ_CERT, lname, op->version, &c.o, &sv, NULL, err) != 0 ||
		    cert_pub_decode(c.o.pub.data, c.o.pub.len, &c, err) != 0)
			goto out;
		c.n_chain = 0; /* the skeleton: cert_clear still frees the buffers */
		c.x5t[0] = '\0';
		if (cert_pub_encode(&c, &pub, err) != 0)
			goto out;
		buf_reset(&c.o.pub);
		if (buf_append(&c.o.pub, pub.data, pub.len, err) != 0)
			goto out;
		c.o.attrs.updated = clock_now_s();
		w.objs[OBJ_CERT] = (struct cert_write_obj){
			.present = true, .o = &c.o, .replace = true, .replace_version = sv
		};
		if (secret_retract(v, lname, op->version, c.prev, &r, err) != 0)
			goto out;
		w.extra = r.ops;
		w.n_extra = r.n;
	}
	rc = cert_write_run(v, &w, err);
out:
	buf_clear(&r.hrec);
	buf_clear(&pub);
	cert_clear(&c);
	return rc;
}

int cert_op_cancel(struct vault *v, const char *name, bool requested, struct cert_op *out,
		   struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	struct cert_op op;
	uint64_t ov = 0;
	int rc = -1;

	cert_op_init(&op);
	if (load_live(v, name, lname, &op, &ov, err) != 0)
		goto out;
	if (op.status != CERT_OP_IN_PROGRESS) {
		kl_fail_az(err, KL_EFORBIDDEN, "Forbidden", NULL,
			   "Pending status must be in progress to allow update.");
		goto out;
	}
	if (requested) {
		op.cancellation_requested = true;
		if (write_op(v, name, lname, &op, ov, false, op.kind == CERT_OP_SELF, err) != 0) {
			if (err->code == KL_ECONFLICT && err->azure_code == NULL)
				kl_fail(err, KL_EUNAVAIL,
					"the certificate changed concurrently; retry");
			goto out;
		}
	}
	op.status = CERT_OP_IN_PROGRESS; /* this answer; later reads say cancelled */
	*out = op;
	cert_op_init(&op);
	rc = 0;
out:
	cert_op_clear(&op);
	return rc;
}

int cert_op_delete(struct vault *v, const char *name, struct cert_op *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	struct cert_op op;
	uint64_t ov = 0;
	int rc = -1;

	cert_op_init(&op);
	if (load_live(v, name, lname, &op, &ov, err) != 0)
		goto out;
	if (write_op(v, name, lname, &op, ov, true,
		     op.kind == CERT_OP_SELF && op.status == CERT_OP_IN_PROGRESS, err) != 0) {
		if (err->code == KL_ECONFLICT && err->azure_code == NULL)
			kl_fail(err, KL_EUNAVAIL, "the certificate changed concurrently; retry");
		goto out;
	}
	*out = op;
	cert_op_init(&op);
	rc = 0;
out:
	cert_op_clear(&op);
	return rc;
}
