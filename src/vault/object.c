/* Versioned objects: the life of a name (live, deleted, purged) and of its versions, as store
 * transactions with compares so that concurrent requests, and later several nodes, never leave a
 * name both live and deleted or a head pointing at a missing version (its keys: keyspace.h, its
 * retries: txnretry.h, its creates: objcreate.c, its purges: objpurge.c). Plain material exists
 * here only between seal_open and the caller, in secbufs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/log.h"
#include "vault/hint.h"
#include "vault/internal.h"
#include "vault/txnretry.h"

const struct kind_info obj_kinds[] = {
	[OBJ_SECRET] = { 's', "secret", "Secret", "SecretNotFound" },
	[OBJ_KEY] = { 'k', "key", "Key", "KeyNotFound" },
	[OBJ_CERT] = { 'c', "certificate", "Certificate", "CertificateNotFound" },
};

/* ---- errors ---- */

int obj_fail_not_found(struct kl_err *err, enum obj_kind k, const char *name, const char *ver)
{
	const struct kind_info *ki = &obj_kinds[k];

	return kl_fail_az(err, KL_ENOTFOUND, ki->not_found, NULL,
			  "A %s with (name/id) %.127s%s%.32s was not found in this key vault. If you "
			  "recently deleted this %s you may be able to recover it using the correct "
			  "recovery command. For help resolving this issue, please see "
			  "https://go.microsoft.com/fwlink/?linkid=2125182",
			  ki->lower, name,
			  /* certificates name a version as the service does: {n}/versions/{v} */
			  !(ver && *ver) ? "" : k == OBJ_CERT ? "/versions/" : "/", ver ? ver : "",
			  ki->lower);
}

int obj_fail_deleted_not_found(struct kl_err *err, enum obj_kind k, const char *name)
{
	return kl_fail_az(err, KL_ENOTFOUND, obj_kinds[k].not_found, NULL, "Deleted %s not found: %.127s",
			  obj_kinds[k].title, name);
}

int obj_fail_is_deleted(struct kl_err *err, enum obj_kind k, const char *name)
{
	return kl_fail_az(err, KL_ECONFLICT, "Conflict", "ObjectIsDeletedButRecoverable",
			  "%s %.127s is currently in a deleted but recoverable state, and its name "
			  "cannot be reused; in this state, the %s can only be recovered or purged.",
			  obj_kinds[k].title, name, obj_kinds[k].lower);
}

/* ---- loading ---- */

/* Loads the head in state 'h' or 'd'. *version is its store version; KL_ENOTFOUND when absent. */
int obj_head_load(const struct vault *v, enum obj_kind k, char state, const char *lname,
		     struct head *h, uint64_t *version, struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, 4096);
	keyspace_obj_head(key, v, k, state, lname);
	if (store_get(v->core->st, key, strlen(key), &val, version, err) != 0 ||
	    head_decode(val.data, val.len, h, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

/* Is there a head in that state? 0 with *version (0 when absent), -1 on a store error. */
int obj_head_version(const struct vault *v, enum obj_kind k, char state, const char *lname,
			uint64_t *version, struct kl_err *err)
{
	struct head h;

	*version = 0;
	if (obj_head_load(v, k, state, lname, &h, version, err) == 0)
		return 0;
	if (err->code != KL_ENOTFOUND)
		return -1;
	kl_err_clear(err);
	*version = 0;
	return 0;
}

/* Decodes the version record val (stored under key) into o; with material, opens the sealed
 * material too. */
static int version_open(const struct vault *v, const char *key, const struct buf *val,
			struct obj *o, struct secbuf **material, struct kl_err *err)
{
	const unsigned char *sealed = NULL;
	size_t sealed_len = 0;
	bool has_material = false;
	int rc = -1;

	if (version_decode(val->data, val->len, o, &has_material, &sealed, &sealed_len, err) != 0)
		goto out;
	if (material != NULL) {
		if (!has_material) {
			kl_fail(err, KL_ECORRUPT, "a stored object version has no material");
			goto out;
		}
		if (seal_open(v->core->data_key, key, strlen(key), sealed, sealed_len, material,
			      err) != 0) {
			if (err->code == KL_ECORRUPT)
				LOG_ERROR(NULL, "sealed material of %s failed authentication", key);
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

/* Loads one version record into o; with material, opens the sealed material too. */
int obj_version_load(const struct vault *v, enum obj_kind k, const char *lname, const char *ver,
			struct obj *o, uint64_t *store_version, struct secbuf **material,
			struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, VERSION_REC_MAX);
	keyspace_obj_version(key, v, k, lname, ver);
	if (store_get(v->core->st, key, strlen(key), &val, store_version, err) != 0 ||
	    version_open(v, key, &val, o, material, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

int obj_version_load_raw(const struct vault *v, enum obj_kind k, const char *lname,
			 const char *ver, size_t max_len, struct obj *o, uint64_t *store_version,
			 struct buf *sealed, bool *has_material, struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	const unsigned char *m = NULL;
	size_t m_len = 0;
	int rc = -1;

	buf_init(&val, max_len);
	keyspace_obj_version(key, v, k, lname, ver);
	if (store_get(v->core->st, key, strlen(key), &val, store_version, err) != 0 ||
	    version_decode(val.data, val.len, o, has_material, &m, &m_len, err) != 0 ||
	    buf_append(sealed, m, m_len, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

void obj_set_deleted_fields(struct obj *o, const struct head *h)
{
	o->is_deleted = true;
	o->deleted_date = h->deleted_date;
	o->scheduled_purge = h->scheduled_purge;
}

int obj_check_name(enum obj_kind k, const char *name, char *lname, struct kl_err *err)
{
	if (name == NULL || !vault_name_is_valid_object(name) || !lower_copy(lname, OBJ_NAME_MAX + 1, name))
		return obj_fail_not_found(err, k, name ? name : "", NULL);
	return 0;
}

static int check_version(enum obj_kind k, const char *name, const char *version, char *lver,
			 struct kl_err *err)
{
	if (!vault_version_is_valid(version) || !lower_copy(lver, 33, version))
		return obj_fail_not_found(err, k, name, version);
	return 0;
}

/* ---- operations ---- */

/* The head and the version it should name in one store round trip: the version asked for, or
 * the latest as this node's hint has it. The head read with it says whether the hint held; when
 * it did not (another node wrote since, or no hint yet), the version the head names is read
 * next. */
int obj_get(struct vault *v, enum obj_kind kind, const char *name, const char *version,
	    struct obj *out, struct secbuf **material, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], lver[33], hkey[KEYBUF], vkey[KEYBUF];
	bool latest = version == NULL || *version == '\0', guessed = true;
	/* a head and a small version (a secret of some hundred bytes, an EC key) fit without an
	 * allocation; the version holds sealed bytes only */
	unsigned char hstore[512], vstore[2048];
	struct store_read reads[2];
	struct buf hval, vval;
	struct head h;
	int rc = -1;

	buf_init_on(&hval, 4096, hstore, sizeof(hstore));
	buf_init_on(&vval, VERSION_REC_MAX, vstore, sizeof(vstore));
	if (obj_check_name(kind, name, lname, err) != 0 ||
	    (!latest && check_version(kind, name, version, lver, err) != 0))
		goto out;
	keyspace_obj_head(hkey, v, kind, 'h', lname);
	if (latest)
		guessed = hint_get(v->core->hints, hkey, lver);
	reads[0] = (struct store_read){ .key = hkey, .key_len = strlen(hkey), .val = &hval };
	reads[1] = (struct store_read){ .key = vkey, .val = &vval };
	if (guessed) {
		keyspace_obj_version(vkey, v, kind, lname, lver);
		reads[1].key_len = strlen(vkey);
	}
	if (store_get_many(v->core->st, reads, guessed ? 2 : 1, err) != 0)
		goto out;
	if (!reads[0].found) {
		if (latest && guessed)
			hint_forget(v->core->hints, hkey);
		obj_fail_not_found(err, kind, name, version);
		goto out;
	}
	if (head_decode(hval.data, hval.len, &h, err) != 0)
		goto out;
	if (latest && (!guessed || strcmp(h.latest, lver) != 0)) {
		memcpy(lver, h.latest, sizeof(lver));
		hint_set(v->core->hints, hkey, lver);
		keyspace_obj_version(vkey, v, kind, lname, lver);
		reads[1].key_len = strlen(vkey);
		buf_reset(&vval);
		if (store_get_many(v->core->st, &reads[1], 1, err) != 0)
			goto out;
	}
	if (!reads[1].found) {
		obj_fail_not_found(err, kind, name, version);
		goto out;
	}
	if (version_open(v, vkey, &vval, out, material, err) != 0) {
		obj_clear(out);
		goto out;
	}
	memcpy(out->name, h.display, sizeof(out->name));
	rc = 0;
out:
	buf_clear(&hval);
	buf_clear(&vval);
	return rc;
}

static int apply_patch(struct obj *o, const struct obj_patch *p, struct kl_err *err)
{
	char *ct = NULL;

	if (p->set_enabled)
		o->attrs.enabled = p->enabled;
	if (p->set_nbf) {
		o->attrs.has_nbf = p->has_nbf;
		o->attrs.nbf = p->has_nbf ? p->nbf : 0;
	}
	if (p->set_exp) {
		o->attrs.has_exp = p->has_exp;
		o->attrs.exp = p->has_exp ? p->exp : 0;
	}
	if (p->set_content_type) {
		if (p->content_type != NULL && (ct = strdup(p->content_type)) == NULL)
			return kl_fail(err, KL_ENOMEM, "out of memory");
		free(o->content_type);
		o->content_type = ct;
	}
	if (p->set_tags && obj_set_tags(o, p->tags, p->n_tags, err) != 0)
		return -1;
	if (p->set_pub) {
		buf_reset(&o->pub);
		if (p->pub_len > 0 && buf_append(&o->pub, p->pub, p->pub_len, err) != 0)
			return -1;
	}
	o->attrs.updated = clock_now_s();
	return 0;
}

static int update(struct vault *v, enum obj_kind kind, const char *name, const char *version,
		  const struct obj_patch *patch, bool allow_managed, struct obj *out,
		  struct kl_err *err);

int obj_update(struct vault *v, enum obj_kind kind, const char *name, const char *version,
	       const struct obj_patch *patch, struct obj *out, struct kl_err *err)
{
	return update(v, kind, name, version, patch, false, out, err);
}

int obj_update_managed(struct vault *v, enum obj_kind kind, const char *name, const char *version,
		       const struct obj_patch *patch, struct obj *out, struct kl_err *err)
{
	return update(v, kind, name, version, patch, true, out, err);
}

/* One update, delete or recover of a name: what each attempt reads and writes. */
struct change_txn {
	struct vault *v;
	enum obj_kind kind;
	const char *name, *version, *lname;
	const struct obj_patch *patch;
	bool allow_managed;
	char lver[33], hkey[KEYBUF], dkey[KEYBUF], vkey[KEYBUF], pkey[KEYBUF];
	struct obj o;
	struct buf sealed, rec;
	struct head h;
	struct store_op ops[5];
};

static int update_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			struct kl_err *err)
{
	struct change_txn *c = arg;
	uint64_t hv, sv;
	bool has_material;

	(void)attempt;
	obj_clear(&c->o);
	buf_reset(&c->sealed);
	buf_reset(&c->rec);
	if (obj_head_load(c->v, c->kind, 'h', c->lname, &c->h, &hv, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, c->kind, c->name, c->version);
		return -1;
	}
	if (c->version == NULL || *c->version == '\0')
		memcpy(c->lver, c->h.latest, sizeof(c->lver));
	if (obj_version_load_raw(c->v, c->kind, c->lname, c->lver, VERSION_REC_MAX, &c->o, &sv,
				 &c->sealed, &has_material, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, c->kind, c->name, c->version);
		return -1;
	}
	if (c->o.managed && !c->allow_managed && c->kind != OBJ_CERT)
		return obj_fail_managed(err, c->kind, "update");
	if (apply_patch(&c->o, c->patch, err) != 0 ||
	    version_encode(&c->o, has_material, c->sealed.data, c->sealed.len, &c->rec, err) != 0)
		return -1;
	keyspace_obj_version(c->vkey, c->v, c->kind, c->lname, c->lver);
	c->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = c->hkey,
				       .key_len = strlen(c->hkey), .version = hv };
	c->ops[1] = (struct store_op){ .kind = STORE_CHECK, .key = c->vkey,
				       .key_len = strlen(c->vkey), .version = sv };
	c->ops[2] = (struct store_op){ .kind = STORE_PUT, .key = c->vkey, .key_len = strlen(c->vkey),
				       .val = c->rec.data, .val_len = c->rec.len };
	*ops = c->ops;
	*n_ops = 3;
	return 0;
}

static void change_init(struct change_txn *c, struct vault *v, enum obj_kind kind,
			const char *name, const char *lname)
{
	memset(c, 0, sizeof(*c));
	c->v = v;
	c->kind = kind;
	c->name = name;
	c->lname = lname;
	obj_init(&c->o);
	buf_init(&c->sealed, VERSION_REC_MAX);
	buf_init(&c->rec, VERSION_REC_MAX);
	keyspace_obj_head(c->hkey, v, kind, 'h', lname);
	keyspace_obj_head(c->dkey, v, kind, 'd', lname);
}

static void change_clear(struct change_txn *c)
{
	obj_clear(&c->o);
	buf_clear(&c->sealed);
	buf_clear(&c->rec);
}

static int update(struct vault *v, enum obj_kind kind, const char *name, const char *version,
		  const struct obj_patch *patch, bool allow_managed, struct obj *out,
		  struct kl_err *err)
{
	static const struct vault_txn txn = { .build = update_build, .what = "object" };
	char lname[OBJ_NAME_MAX + 1];
	struct change_txn c;
	int rc = -1;

	if (obj_check_name(kind, name, lname, err) != 0)
		return -1;
	change_init(&c, v, kind, name, lname);
	c.version = version;
	c.patch = patch;
	c.allow_managed = allow_managed;
	if (version != NULL && *version != '\0' &&
	    check_version(kind, name, version, c.lver, err) != 0)
		goto out;
	if (vault_txn_retry(v->core, &txn, &c, err) != 0)
		goto out;
	memcpy(c.o.name, c.h.display, sizeof(c.o.name));
	*out = c.o;
	obj_init(&c.o);
	rc = 0;
out:
	change_clear(&c);
	return rc;
}

static int delete_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			struct kl_err *err)
{
	struct change_txn *c = arg;
	uint64_t hv;

	(void)attempt;
	obj_clear(&c->o);
	buf_reset(&c->rec);
	if (obj_head_load(c->v, c->kind, 'h', c->lname, &c->h, &hv, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, c->kind, c->name, NULL);
		return -1;
	}
	if (obj_version_load(c->v, c->kind, c->lname, c->h.latest, &c->o, NULL, NULL, err) != 0)
		return -1;
	if (c->o.managed && c->kind != OBJ_CERT)
		return obj_fail_managed(err, c->kind, "delete");
	c->h.deleted_date = clock_now_s();
	c->h.scheduled_purge = c->h.deleted_date + (int64_t)c->v->retention_days * 86400;
	keyspace_purge_schedule(c->pkey, c->h.scheduled_purge, c->v->name, obj_kinds[c->kind].tag,
			 c->lname);
	if (head_encode(&c->h, &c->rec, err) != 0)
		return -1;
	c->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = c->hkey,
				       .key_len = strlen(c->hkey), .version = hv };
	c->ops[1] = (struct store_op){ .kind = STORE_CHECK, .key = c->dkey,
				       .key_len = strlen(c->dkey), .version = 0 };
	c->ops[2] = (struct store_op){ .kind = STORE_DEL, .key = c->hkey,
				       .key_len = strlen(c->hkey) };
	c->ops[3] = (struct store_op){ .kind = STORE_PUT, .key = c->dkey, .key_len = strlen(c->dkey),
				       .val = c->rec.data, .val_len = c->rec.len };
	c->ops[4] = (struct store_op){ .kind = STORE_PUT, .key = c->pkey, .key_len = strlen(c->pkey),
				       .val = "", .val_len = 0 };
	*ops = c->ops;
	*n_ops = 5;
	return 0;
}

int obj_delete(struct vault *v, enum obj_kind kind, const char *name, struct obj *out,
	       struct kl_err *err)
{
	static const struct vault_txn txn = { .build = delete_build, .what = "object" };
	char lname[OBJ_NAME_MAX + 1];
	struct change_txn c;
	int rc = -1;

	if (obj_check_name(kind, name, lname, err) != 0)
		return -1;
	change_init(&c, v, kind, name, lname);
	if (vault_txn_retry(v->core, &txn, &c, err) != 0)
		goto out;
	memcpy(c.o.name, c.h.display, sizeof(c.o.name));
	obj_set_deleted_fields(&c.o, &c.h);
	*out = c.o;
	obj_init(&c.o);
	rc = 0;
out:
	change_clear(&c);
	return rc;
}

int obj_get_deleted(struct vault *v, enum obj_kind kind, const char *name, struct obj *out,
		    struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	struct head h;

	if (name == NULL || !vault_name_is_valid_object(name) || !lower_copy(lname, sizeof(lname), name))
		return obj_fail_deleted_not_found(err, kind, name ? name : "");
	if (obj_head_load(v, kind, 'd', lname, &h, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_deleted_not_found(err, kind, name);
		return -1;
	}
	if (obj_version_load(v, kind, lname, h.latest, out, NULL, NULL, err) != 0) {
		obj_clear(out);
		return -1;
	}
	memcpy(out->name, h.display, sizeof(out->name));
	obj_set_deleted_fields(out, &h);
	return 0;
}

static int recover_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
			 struct kl_err *err)
{
	struct change_txn *c = arg;
	uint64_t dv;

	(void)attempt;
	buf_reset(&c->rec);
	if (obj_head_load(c->v, c->kind, 'd', c->lname, &c->h, &dv, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_deleted_not_found(err, c->kind, c->name);
		return -1;
	}
	if (obj_refuse_managed(c->v, c->kind, c->lname, &c->h, "recover", err) != 0)
		return -1;
	keyspace_purge_schedule(c->pkey, c->h.scheduled_purge, c->v->name, obj_kinds[c->kind].tag,
			 c->lname);
	c->h.deleted_date = c->h.scheduled_purge = 0;
	if (head_encode(&c->h, &c->rec, err) != 0)
		return -1;
	c->ops[0] = (struct store_op){ .kind = STORE_CHECK, .key = c->dkey,
				       .key_len = strlen(c->dkey), .version = dv };
	c->ops[1] = (struct store_op){ .kind = STORE_CHECK, .key = c->hkey,
				       .key_len = strlen(c->hkey), .version = 0 };
	c->ops[2] = (struct store_op){ .kind = STORE_DEL, .key = c->dkey,
				       .key_len = strlen(c->dkey) };
	c->ops[3] = (struct store_op){ .kind = STORE_DEL, .key = c->pkey,
				       .key_len = strlen(c->pkey) };
	c->ops[4] = (struct store_op){ .kind = STORE_PUT, .key = c->hkey, .key_len = strlen(c->hkey),
				       .val = c->rec.data, .val_len = c->rec.len };
	*ops = c->ops;
	*n_ops = 5;
	return 0;
}

int obj_recover(struct vault *v, enum obj_kind kind, const char *name, struct obj *out,
		struct kl_err *err)
{
	static const struct vault_txn txn = { .build = recover_build, .what = "object" };
	char lname[OBJ_NAME_MAX + 1];
	struct change_txn c;
	int rc = -1;

	if (name == NULL || !vault_name_is_valid_object(name) || !lower_copy(lname, sizeof(lname), name))
		return obj_fail_deleted_not_found(err, kind, name ? name : "");
	change_init(&c, v, kind, name, lname);
	if (vault_txn_retry(v->core, &txn, &c, err) != 0)
		goto out;
	rc = obj_get(v, kind, c.h.display, NULL, out, NULL, err);
out:
	change_clear(&c);
	return rc;
}
