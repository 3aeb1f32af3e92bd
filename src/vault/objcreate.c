/* Creates of object versions, split from object.c (whose key layout and records they use): a new
 * version and its head in one store transaction, checked against the deleted head, the live head
 * and, for keys and secrets of the API, the certificate heads of the name; and the settling of a
 * commit whose outcome was lost. Never changes an existing version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/rand.h"
#include "util/clock.h"
#include "util/log.h"
#include "vault/hint.h"
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
	return obj_create_as(v, kind, name, in, material, material_len, NULL, out, err);
}

/* One create: its keys and records, fixed before the first attempt, and the heads read by each. */
struct create_txn {
	struct vault *v;
	enum obj_kind kind;
	const char *name, *lname, *op, *version;
	const char *hkey, *dkey, *vkey, *chkey, *cdkey;
	bool check_cert;
	struct buf *rec, *hrec, *dval, *hval;
	struct head h;
	struct store_op ops[6];
};

static int create_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			struct kl_err *err)
{
	struct create_txn *c = arg;
	/* the deleted head and the live head, in one round trip */
	struct store_read pre[2] = {
		{ .key = c->dkey, .key_len = strlen(c->dkey), .val = c->dval },
		{ .key = c->hkey, .key_len = strlen(c->hkey), .val = c->hval },
	};
	uint64_t hv;

	(void)attempt;
	buf_reset(c->dval);
	buf_reset(c->hval);
	if (store_get_many(c->v->core->st, pre, 2, err) != 0)
		return -1;
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
	c->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = c->dkey, .key_len = strlen(c->dkey), .version = 0 };
	c->ops[1] = (struct store_op){ .kind = STORE_CHECK, .key = c->hkey, .key_len = strlen(c->hkey), .version = hv };
	c->ops[2] = (struct store_op){ .kind = STORE_PUT, .key = c->vkey, .key_len = strlen(c->vkey), .val = c->rec->data, .val_len = c->rec->len };
	c->ops[3] = (struct store_op){ .kind = STORE_PUT, .key = c->hkey, .key_len = strlen(c->hkey), .val = c->hrec->data, .val_len = c->hrec->len };
	c->ops[4] = (struct store_op){ .kind = STORE_CHECK, .key = c->chkey, .key_len = strlen(c->chkey), .version = 0 };
	c->ops[5] = (struct store_op){ .kind = STORE_CHECK, .key = c->cdkey, .key_len = strlen(c->cdkey), .version = 0 };
	*ops = c->ops;
	*n_ops = c->check_cert ? 6 : 4;
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

int obj_create_as(struct vault *v, enum obj_kind kind, const char *name, const struct obj *in,
		  const void *material, size_t material_len, const char *op, struct obj *out,
		  struct kl_err *err)
{
	static const struct vault_txn txn = { .build = create_build,
					      .landed = create_landed,
					      .conflicted = create_conflicted,
					      .what = "object" };
	char lname[OBJ_NAME_MAX + 1], hkey[KEYBUF], dkey[KEYBUF], vkey[KEYBUF];
	char chkey[KEYBUF], cdkey[KEYBUF];
	struct obj o;
	struct buf sealed, rec, hrec, dval, hval;
	struct create_txn c;
	int rc = -1;

	obj_init(&o);
	buf_init(&sealed, VERSION_REC_MAX);
	buf_init(&rec, VERSION_REC_MAX);
	buf_init(&hrec, 4096);
	buf_init(&dval, 4096);
	buf_init(&hval, 4096);
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
	c = (struct create_txn){ .v = v, .kind = kind, .name = name, .lname = lname, .op = op,
				 .version = o.version, .hkey = hkey, .dkey = dkey, .vkey = vkey,
				 .chkey = chkey, .cdkey = cdkey,
				 /* a key or secret of the API (not the certificate layer's own)
				  * checks no certificate holds the name, in the same transaction */
				 .check_cert = !in->managed && kind != OBJ_CERT,
				 .rec = &rec, .hrec = &hrec, .dval = &dval, .hval = &hval };
	if (vault_txn_retry(v->core, &txn, &c, err) != 0)
		goto out;
	hint_set(v->core->hints, hkey, o.version);	/* this node's next GET: one round trip */
	memcpy(o.name, c.h.display, sizeof(o.name));
	*out = o;
	obj_init(&o);
	rc = 0;
out:
	obj_clear(&o);
	buf_clear(&sealed);
	buf_clear(&rec);
	buf_clear(&hrec);
	buf_clear(&dval);
	buf_clear(&hval);
	return rc;
}
