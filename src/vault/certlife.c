/* The life of a certificate name as one: delete, recover and purge move the certificate and its
 * managed key and secret together, each in one store transaction whose checks cover the heads of
 * all three kinds, so no reader ever sees them in different states (backup and restore are in
 * certbackup.c). Owns the certificate's side records only to drop them (the operation on delete,
 * everything on purge); never reads or writes their content, never opens material. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "vault/certlife.h"
#include "vault/internal.h"

#define N_PARTS 3

/* One of the three objects of a certificate name, as read for one attempt of a change. */
struct part {
	enum obj_kind kind;
	bool on;		/* exists in the state read, and is acted on */
	struct head h;
	uint64_t hv;		/* store version of the head read (0: absent) */
	char hkey[KEYBUF], dkey[KEYBUF], pkey[KEYBUF];
	struct buf rec;		/* the head's new encoding */
};

static const enum obj_kind part_kinds[N_PARTS] = { OBJ_CERT, OBJ_KEY, OBJ_SECRET };

static void parts_init(struct part *p, const struct vault *v, const char *lname)
{
	size_t i;

	for (i = 0; i < N_PARTS; i++) {
		memset(&p[i], 0, sizeof(p[i]));
		p[i].kind = part_kinds[i];
		keyspace_obj_head(p[i].hkey, v, p[i].kind, 'h', lname);
		keyspace_obj_head(p[i].dkey, v, p[i].kind, 'd', lname);
		buf_init(&p[i].rec, 4096);
	}
}

static void parts_clear(struct part *p)
{
	size_t i;

	for (i = 0; i < N_PARTS; i++)
		buf_clear(&p[i].rec);
}

/* Reads the heads of the three kinds in state ('h' or 'd'). The certificate is on when present;
 * its key and secret when present and managed (an unmanaged key or secret of the name is not the
 * certificate's: it is left alone, and only checked unchanged). */
static int parts_load(const struct vault *v, struct part *p, char state, const char *lname,
		      struct kl_err *err)
{
	struct obj o;
	size_t i;
	int rc = -1;

	obj_init(&o);
	for (i = 0; i < N_PARTS; i++) {
		p[i].on = false;
		p[i].hv = 0;
		buf_reset(&p[i].rec);
		if (obj_head_load(v, p[i].kind, state, lname, &p[i].h, &p[i].hv, err) != 0) {
			if (err->code != KL_ENOTFOUND)
				goto out;
			kl_err_clear(err);
			p[i].hv = 0;
			continue;
		}
		if (p[i].kind == OBJ_CERT) {
			p[i].on = true;
			continue;
		}
		obj_clear(&o);
		if (obj_version_load(v, p[i].kind, lname, p[i].h.latest, &o, NULL, NULL, err) != 0)
			goto out;
		p[i].on = o.managed;
		if (!o.managed)
			LOG_WARN(NULL, "%s %.127s of certificate %s/%.127s is not managed; left alone",
				 obj_kinds[p[i].kind].lower, lname, v->name, lname);
	}
	rc = 0;
out:
	obj_clear(&o);
	return rc;
}

static void op_check(struct store_op *op, const char *key, uint64_t version)
{
	*op = (struct store_op){ .kind = STORE_CHECK, .key = key, .key_len = strlen(key),
				 .version = version };
}

static void op_del(struct store_op *op, const char *key)
{
	*op = (struct store_op){ .kind = STORE_DEL, .key = key, .key_len = strlen(key) };
}

static void op_put(struct store_op *op, const char *key, const struct buf *val)
{
	*op = (struct store_op){ .kind = STORE_PUT, .key = key, .key_len = strlen(key),
				 .val = val->data, .val_len = val->len };
}

/* One delete or recover of a certificate name: what each attempt reads and writes. */
struct life_txn {
	struct vault *v;
	const char *name, *lname, *qkey;
	struct part p[N_PARTS];
	struct obj o;
	struct store_op ops[N_PARTS * 5 + 1];
};

static int delete_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			struct kl_err *err)
{
	struct life_txn *t = arg;
	struct part *p = t->p;
	struct store_op *op = t->ops;
	int64_t now, purge;
	size_t i, n;

	(void)attempt;
	obj_clear(&t->o);
	if (parts_load(t->v, p, 'h', t->lname, err) != 0)
		return -1;
	if (!p[0].on)
		return obj_fail_not_found(err, OBJ_CERT, t->name, NULL);
	if (obj_version_load(t->v, OBJ_CERT, t->lname, p[0].h.latest, &t->o, NULL, NULL, err) != 0)
		return -1;
	now = clock_now_s();
	purge = now + (int64_t)t->v->retention_days * 86400;
	for (i = 0, n = 0; i < N_PARTS; i++) {
		if (!p[i].on) {	/* absent (or not the certificate's): must stay so */
			op_check(&op[n++], p[i].hkey, p[i].hv);
			continue;
		}
		p[i].h.deleted_date = now;
		p[i].h.scheduled_purge = purge;
		keyspace_purge_schedule(p[i].pkey, purge, t->v->name, obj_kinds[p[i].kind].tag,
					t->lname);
		if (head_encode(&p[i].h, &p[i].rec, err) != 0)
			return -1;
		op_check(&op[n++], p[i].hkey, p[i].hv);
		op_check(&op[n++], p[i].dkey, 0);
		op_del(&op[n++], p[i].hkey);
		op_put(&op[n++], p[i].dkey, &p[i].rec);
		op[n++] = (struct store_op){ .kind = STORE_PUT, .key = p[i].pkey,
					     .key_len = strlen(p[i].pkey), .val = "", .val_len = 0 };
	}
	op_del(&op[n++], t->qkey);	/* the operation ends with the certificate */
	*ops = op;
	*n_ops = n;
	return 0;
}

static const struct vault_txn delete_txn = { .build = delete_build, .what = "certificate" };

int cert_delete(struct vault *v, const char *name, struct obj *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], qkey[KEYBUF];
	struct life_txn t = { .v = v, .name = name, .lname = lname, .qkey = qkey };
	int rc = -1;

	if (obj_check_name(OBJ_CERT, name, lname, err) != 0)
		return -1;
	obj_init(&t.o);
	parts_init(t.p, v, lname);
	keyspace_cert_operation(qkey, v->name, lname);
	if (vault_txn_retry(v->core, &delete_txn, &t, err) != 0)
		goto out;
	if (t.p[1].on)
		key_forget_cached(v, lname);
	memcpy(t.o.name, t.p[0].h.display, sizeof(t.o.name));
	obj_set_deleted_fields(&t.o, &t.p[0].h);
	*out = t.o;
	obj_init(&t.o);
	rc = 0;
out:
	obj_clear(&t.o);
	parts_clear(t.p);
	return rc;
}

int cert_get_deleted(struct vault *v, const char *name, struct obj *out, struct kl_err *err)
{
	return obj_get_deleted(v, OBJ_CERT, name, out, err);
}

static int recover_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			 struct kl_err *err)
{
	struct life_txn *t = arg;
	struct part *p = t->p;
	struct store_op *op = t->ops;
	size_t i, n;

	(void)attempt;
	if (parts_load(t->v, p, 'd', t->lname, err) != 0)
		return -1;
	if (!p[0].on)
		return obj_fail_deleted_not_found(err, OBJ_CERT, t->name);
	for (i = 0, n = 0; i < N_PARTS; i++) {
		if (!p[i].on) {
			op_check(&op[n++], p[i].dkey, p[i].hv);
			continue;
		}
		keyspace_purge_schedule(p[i].pkey, p[i].h.scheduled_purge, t->v->name,
				 obj_kinds[p[i].kind].tag, t->lname);
		p[i].h.deleted_date = p[i].h.scheduled_purge = 0;
		if (head_encode(&p[i].h, &p[i].rec, err) != 0)
			return -1;
		op_check(&op[n++], p[i].dkey, p[i].hv);
		op_check(&op[n++], p[i].hkey, 0);
		op_del(&op[n++], p[i].dkey);
		op_del(&op[n++], p[i].pkey);
		op_put(&op[n++], p[i].hkey, &p[i].rec);
	}
	*ops = op;
	*n_ops = n;
	return 0;
}

static const struct vault_txn recover_txn = { .build = recover_build, .what = "certificate" };

int cert_recover(struct vault *v, const char *name, struct obj *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], display[OBJ_NAME_MAX + 1];
	struct life_txn t = { .v = v, .name = name, .lname = lname };
	int rc = -1;

	if (name == NULL || !vault_name_is_valid_object(name) || !lower_copy(lname, sizeof(lname), name))
		return obj_fail_deleted_not_found(err, OBJ_CERT, name ? name : "");
	obj_init(&t.o);
	parts_init(t.p, v, lname);
	if (vault_txn_retry(v->core, &recover_txn, &t, err) != 0)
		goto out;
	memcpy(display, t.p[0].h.display, sizeof(display));
	rc = obj_get(v, OBJ_CERT, display, NULL, out, NULL, err);
out:
	parts_clear(t.p);
	return rc;
}

/* The store keys of every version of kind k of lname, added to l. */
static int collect_versions(const struct vault *v, enum obj_kind k, const char *lname,
			    struct key_list *l, struct kl_err *err)
{
	char prefix[KEYBUF];

	keyspace_obj_version(prefix, v, k, lname, "");
	return store_scan(v->core->st, prefix, strlen(prefix), NULL, 0, key_list_collect, l, err);
}

int cert_purge_name(struct vault_core *core, const char *vname, const char *lname,
		    struct kl_err *err)
{
	struct vault v = { .core = core };
	char side[5][KEYBUF];
	struct key_list versions = { 0 };
	struct store_op *ops = NULL;
	struct part p[N_PARTS];
	size_t i, n = 0, n_side = 0;
	int rc = -1;

	snprintf(v.name, sizeof(v.name), "%s", vname);
	parts_init(p, &v, lname);
	if (parts_load(&v, p, 'd', lname, err) != 0)
		goto out;
	if (!p[0].on) {
		kl_fail(err, KL_ENOTFOUND, "the certificate is not deleted");
		goto out;
	}
	for (i = 0; i < N_PARTS; i++)
		if (p[i].on && collect_versions(&v, p[i].kind, lname, &versions, err) != 0)
			goto out;
	keyspace_obj_side(side[n_side++], vname, 'c', lname);
	keyspace_cert_operation(side[n_side++], vname, lname);
	keyspace_renewal_index(side[n_side++], vname, lname);
	if (p[1].on) {	/* a rotation policy of the key, should one have been stored */
		keyspace_obj_side(side[n_side++], vname, 'k', lname);
		keyspace_rotation_index(side[n_side++], vname, lname);
	}
	if ((ops = calloc(versions.n + N_PARTS * 3 + n_side, sizeof(*ops))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < N_PARTS; i++) {
		op_check(&ops[n++], p[i].dkey, p[i].hv);
		if (!p[i].on)
			continue;
		keyspace_purge_schedule(p[i].pkey, p[i].h.scheduled_purge, vname,
					obj_kinds[p[i].kind].tag, lname);
		op_del(&ops[n++], p[i].dkey);
		op_del(&ops[n++], p[i].pkey);
	}
	for (i = 0; i < n_side; i++)
		op_del(&ops[n++], side[i]);
	for (i = 0; i < versions.n; i++)
		op_del(&ops[n++], versions.keys[i]);
	if (store_txn(core->st, ops, n, err) != 0)
		goto out;
	if (p[1].on)
		key_forget_cached(&v, lname);
	rc = 0;
out:
	free(ops);
	key_list_clear(&versions);
	parts_clear(p);
	return rc;
}

int cert_purge(struct vault *v, const char *name, struct kl_err *err)
{
	return obj_purge(v, OBJ_CERT, name, err);	/* obj_purge_name cascades to cert_purge_name */
}
