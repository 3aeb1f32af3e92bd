/* Creates of object versions, split from object.c (whose key layout and records they use): a new
 * version and its head in one store transaction, checked against the deleted head, the live head
 * and, for keys and secrets of the API, the certificate heads of the name; with a client's
 * idempotency record (idem.h) read with the heads and written in that transaction; and the
 * settling of a commit whose outcome was lost. Never changes an existing version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/rand.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/secbuf.h"
#include "vault/hint.h"
#include "vault/idem.h"
#include "vault/internal.h"
#include "vault/txnretry.h"

/* After a create's transaction came back KL_EOUTCOME (the store lost its connection once the
 * commit may have reached it): was it applied? Its version key is new (a random id) and written
 * only by that transaction, together with the head, so finding it proves it was; then err is
 * cleared. Not finding it proves nothing (a commit may still land), so err stays as it is and
 * the create is never run again. */
static bool version_landed(const struct vault *v, const char *vkey, struct kl_err *err)
{
	struct kl_err rerr = { 0 };
	struct store_read r;
	struct buf val;
	bool landed;

	buf_init(&val, VERSION_REC_MAX);
	r = (struct store_read){ .key = vkey, .key_len = strlen(vkey), .val = &val };
	landed = store_get_many(v->core->st, &r, 1, &rerr) == 0 && r.found;
	buf_clear(&val);
	if (landed) {
		LOG_WARN(NULL, "the store's answer to a commit was lost, and the commit was applied");
		kl_err_clear(err);
	}
	return landed;
}

int obj_create(struct vault *v, enum obj_kind kind, const char *name, const struct obj *in,
	       const void *material, size_t material_len, struct obj *out, struct kl_err *err)
{
	return obj_create_as(v, kind, name, in, material, material_len, NULL, NULL, out, err);
}

int obj_create_idem(struct vault *v, enum obj_kind kind, const char *name, const struct obj *in,
		    const void *material, size_t material_len, const struct obj_idem *idem,
		    struct obj *out, struct kl_err *err)
{
	return obj_create_as(v, kind, name, in, material, material_len, NULL, idem, out, err);
}

/* One create: its keys and records, fixed before the first attempt, and the heads read by each.
 * With an idempotency record (idem not NULL): its key, the record to write, the one read, and
 * the version replayed from it. */
struct create_txn {
	struct vault *v;
	enum obj_kind kind;
	const char *name, *lname, *op, *version;
	const char *hkey, *dkey, *vkey, *chkey, *cdkey;
	bool check_cert;
	struct buf *rec, *hrec, *dval, *hval;
	struct head h;
	const struct obj_idem *idem;
	const char *ikey;
	struct buf *irec, *ival;
	struct idem_rec iread;
	bool replayed;
	struct obj replay;
	struct store_op ops[8];
};

static struct store_op op_check(const char *key, uint64_t version)
{
	return (struct store_op){ .kind = STORE_CHECK, .key = key, .key_len = strlen(key),
				  .version = version };
}

static struct store_op op_put(const char *key, const struct buf *val)
{
	return (struct store_op){ .kind = STORE_PUT, .key = key, .key_len = strlen(key),
				  .val = val->data, .val_len = val->len };
}

/* The create was made before, by this request's first attempt: its version becomes the answer,
 * as the fresh create gave it, the name displayed as its head has it (pre: the deleted and the
 * live head). KL_ENOTFOUND when the version is gone (purged since). */
static int create_replay(struct create_txn *c, const struct store_read *pre, struct kl_err *err)
{
	const struct buf *live;
	struct head h;

	obj_clear(&c->replay);
	if (obj_version_load(c->v, c->kind, c->lname, c->iread.version, &c->replay, NULL, NULL,
			     err) != 0) {
		obj_clear(&c->replay);
		return -1;
	}
	snprintf(c->replay.name, sizeof(c->replay.name), "%s", c->name);
	live = pre[1].found ? c->hval : pre[0].found ? c->dval : NULL;
	if (live != NULL && head_decode(live->data, live->len, &h, err) == 0)
		memcpy(c->replay.name, h.display, sizeof(c->replay.name));
	kl_err_clear(err);	/* a damaged head: the name as asked */
	c->replayed = true;
	LOG_DEBUG(NULL, "a retried create was answered with the version its first attempt made");
	return 0;
}

/* With an idempotency record: its verdict. VAULT_TXN_DONE when the create was replayed, 0 with
 * *iv (the record's store version, 0 when absent) when it goes ahead, -1 when refused. */
static int create_judge(struct create_txn *c, const struct store_read *pre, uint64_t *iv,
			struct kl_err *err)
{
	int r = idem_judge(c->v->core, c->ikey, c->idem, obj_kinds[c->kind].tag, &pre[2],
			   clock_now_s(), &c->iread, err);

	*iv = pre[2].version;
	if (r < 0)
		return -1;
	if (r == IDEM_REPLAY) {
		if (create_replay(c, pre, err) == 0)
			return VAULT_TXN_DONE;
		if (err->code != KL_ENOTFOUND)
			return -1;
		kl_err_clear(err);	/* purged since: a create again, replacing the record */
	}
	return 0;
}

static int create_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			struct kl_err *err)
{
	struct create_txn *c = arg;
	/* the deleted head, the live head and the idempotency record, in one round trip */
	struct store_read pre[3] = {
		{ .key = c->dkey, .key_len = strlen(c->dkey), .val = c->dval },
		{ .key = c->hkey, .key_len = strlen(c->hkey), .val = c->hval },
		{ .key = c->ikey, .key_len = c->idem ? strlen(c->ikey) : 0, .val = c->ival },
	};
	uint64_t hv, iv = 0;
	size_t n = 0;
	int r;

	(void)attempt;
	buf_reset(c->dval);
	buf_reset(c->hval);
	if (c->idem != NULL)
		buf_reset(c->ival);
	if (store_get_many(c->v->core->st, pre, c->idem ? 3 : 2, err) != 0)
		return -1;
	/* the same request again answers as it did, even if the name changed since */
	if (c->idem != NULL && (r = create_judge(c, pre, &iv, err)) != 0)
		return r;
	if (pre[0].found) {
		/* a deleted certificate's key or secret: refused as managed, not as deleted */
		if (c->check_cert && (head_decode(c->dval->data, c->dval->len, &c->h, err) != 0 ||
				      obj_refuse_managed(c->v, c->kind, c->lname, &c->h, c->op, err) != 0))
			return -1;
		return obj_fail_is_deleted(err, c->kind, c->name);
	}
	memset(&c->h, 0, sizeof(c->h));
	hv = pre[1].version;
	if (!pre[1].found)
		snprintf(c->h.display, sizeof(c->h.display), "%s", c->name);
	else if (head_decode(c->hval->data, c->hval->len, &c->h, err) != 0)
		return -1;
	/* the certificate heads are checked absent by the transaction (asked only after a conflict,
	 * in create_conflicted): no reads on the common path. A managed version never exists
	 * without its certificate's head (live or deleted), so that check covers it too. */
	memcpy(c->h.latest, c->version, sizeof(c->h.latest));
	buf_reset(c->hrec);
	if (head_encode(&c->h, c->hrec, err) != 0)
		return -1;
	c->ops[n++] = op_check(c->dkey, 0);
	c->ops[n++] = op_check(c->hkey, hv);
	c->ops[n++] = op_put(c->vkey, c->rec);
	c->ops[n++] = op_put(c->hkey, c->hrec);
	if (c->check_cert) {
		c->ops[n++] = op_check(c->chkey, 0);
		c->ops[n++] = op_check(c->cdkey, 0);
	}
	if (c->idem != NULL) {
		/* one winner among concurrent attempts of one id; the others conflict, replay */
		c->ops[n++] = op_check(c->ikey, iv);
		c->ops[n++] = op_put(c->ikey, c->irec);
	}
	*ops = c->ops;
	*n_ops = n;
	return 0;
}

static bool create_landed(void *arg, struct kl_err *err)
{
	struct create_txn *c = arg;

	return version_landed(c->v, c->vkey, err);
}

/* A conflict of a key or secret may be a certificate holding the name: refused so, not retried. */
static int create_conflicted(void *arg, struct kl_err *err)
{
	struct create_txn *c = arg;

	kl_err_clear(err);
	return c->check_cert ? obj_refuse_managed(c->v, c->kind, c->lname, NULL, c->op, err) : 0;
}

/* The record a create with idem writes beside its version o, under ikey. */
static int create_idem_rec(const struct vault *v, enum obj_kind kind, const struct obj_idem *idem,
			   const struct obj *o, const char *ikey, struct buf *out,
			   struct kl_err *err)
{
	struct idem_rec r = { .tag = obj_kinds[kind].tag, .created = o->attrs.created };
	int rc;

	memcpy(r.version, o->version, sizeof(r.version));
	memcpy(r.fingerprint, idem->fingerprint, sizeof(r.fingerprint));
	rc = idem_rec_encode(v->core, ikey, &r, out, err);
	secure_wipe(&r, sizeof(r));
	return rc;
}

int obj_create_as(struct vault *v, enum obj_kind kind, const char *name, const struct obj *in,
		  const void *material, size_t material_len, const char *op,
		  const struct obj_idem *idem, struct obj *out, struct kl_err *err)
{
	static const struct vault_txn txn = { .build = create_build,
					      .landed = create_landed,
					      .conflicted = create_conflicted,
					      .what = "object" };
	char lname[OBJ_NAME_MAX + 1], hkey[KEYBUF], dkey[KEYBUF], vkey[KEYBUF];
	char chkey[KEYBUF], cdkey[KEYBUF], ikey[KEYBUF] = "";
	struct obj o;
	struct buf sealed, rec, hrec, dval, hval, irec, ival;
	struct create_txn c;
	int rc = -1;

	obj_init(&o);
	buf_init(&sealed, VERSION_REC_MAX);
	buf_init(&rec, VERSION_REC_MAX);
	buf_init(&hrec, 4096);
	buf_init(&dval, 4096);
	buf_init(&hval, 4096);
	buf_init(&irec, 4096);
	buf_init(&ival, 4096);
	memset(&c, 0, sizeof(c));
	obj_init(&c.replay);
	if (obj_check_name(kind, name, lname, err) != 0)
		goto out;
	/* the new version, sealed under its own store key */
	o.attrs = in->attrs;
	o.attrs.created = o.attrs.updated = clock_now_s();
	o.managed = in->managed;
	if (crypto_random_hex(o.version, 16, err) != 0 ||
	    (in->content_type && (o.content_type = strdup(in->content_type)) == NULL) ||
	    (in->has_tags && obj_set_tags(&o, in->tags, in->n_tags, err) != 0) ||
	    buf_append(&o.pub, in->pub.data, in->pub.len, err) != 0) {
		if (err->code == KL_OK)
			kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (op == NULL)
		op = kind == OBJ_SECRET ? "set" : "create";
	keyspace_obj_head(hkey, v, kind, 'h', lname);
	keyspace_obj_head(dkey, v, kind, 'd', lname);
	keyspace_obj_head(chkey, v, OBJ_CERT, 'h', lname);
	keyspace_obj_head(cdkey, v, OBJ_CERT, 'd', lname);
	keyspace_obj_version(vkey, v, kind, lname, o.version);
	if (material != NULL &&
	    seal_seal(v->core->data_key, vkey, strlen(vkey), material, material_len, &sealed, err) != 0)
		goto out;
	if (version_encode(&o, material != NULL, sealed.data, sealed.len, &rec, err) != 0)
		goto out;
	if (idem != NULL) {
		keyspace_idempotency(ikey, v->name, idem->id);
		if (create_idem_rec(v, kind, idem, &o, ikey, &irec, err) != 0)
			goto out;
	}
	c.v = v;
	c.kind = kind;
	c.name = name;
	c.lname = lname;
	c.op = op;
	c.version = o.version;
	c.hkey = hkey;
	c.dkey = dkey;
	c.vkey = vkey;
	c.chkey = chkey;
	c.cdkey = cdkey;
	/* a key or secret of the API (not the certificate layer's own) checks no certificate holds
	 * the name, in the same transaction */
	c.check_cert = !in->managed && kind != OBJ_CERT;
	c.rec = &rec;
	c.hrec = &hrec;
	c.dval = &dval;
	c.hval = &hval;
	c.idem = idem;
	c.ikey = ikey;
	c.irec = &irec;
	c.ival = &ival;
	if (vault_txn_retry(v->core, &txn, &c, err) != 0)
		goto out;
	if (c.replayed) {
		*out = c.replay;	/* the first attempt's version, not o */
		obj_init(&c.replay);
		rc = 0;
		goto out;
	}
	hint_set(v->core->hints, hkey, o.version);	/* this node's next GET: one round trip */
	memcpy(o.name, c.h.display, sizeof(o.name));
	*out = o;
	obj_init(&o);
	rc = 0;
out:
	obj_clear(&o);
	obj_clear(&c.replay);
	secure_wipe(&c.iread, sizeof(c.iread));
	buf_clear(&sealed);
	buf_clear(&rec);
	buf_clear(&hrec);
	buf_clear(&dval);
	buf_clear(&hval);
	buf_clear(&irec);
	buf_clear(&ival);
	return rc;
}
