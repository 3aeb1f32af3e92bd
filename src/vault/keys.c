/* Keys as versioned objects: creation, import, metadata, updates and the operations done with a
 * key version. The private key exists in plain only inside a struct keyops_key for the length of
 * one call and in the wiping buffer it is serialised into before sealing; it never leaves this
 * file otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/keyops.h"
#include "crypto/rand.h"
#include "util/clock.h"
#include "util/rec.h"
#include "vault/internal.h"
#include "vault/keys.h"

#define META_FORMAT 1
#define MATERIAL_MAX (16u * 1024)

static const unsigned default_ops_rsa = JWK_OP_ENCRYPT | JWK_OP_DECRYPT | JWK_OP_SIGN |
					JWK_OP_VERIFY | JWK_OP_WRAP | JWK_OP_UNWRAP;
static const unsigned default_ops_ec = JWK_OP_SIGN | JWK_OP_VERIFY;
static const unsigned default_ops_oct = JWK_OP_ENCRYPT | JWK_OP_DECRYPT | JWK_OP_WRAP |
					JWK_OP_UNWRAP;

void key_meta_init(struct key_meta *m)
{
	memset(m, 0, sizeof(*m));
	jwk_init(&m->pub);
}

void key_meta_clear(struct key_meta *m)
{
	jwk_clear(&m->pub);
	key_meta_init(m);
}

/* The family of a type label: "RSA-HSM" is RSA. -1 when unknown. */
static int kty_family(const char *kty)
{
	if (strcmp(kty, "RSA") == 0 || strcmp(kty, "RSA-HSM") == 0)
		return KEYOPS_RSA;
	if (strcmp(kty, "EC") == 0 || strcmp(kty, "EC-HSM") == 0)
		return KEYOPS_EC;
	if (strcmp(kty, "oct") == 0 || strcmp(kty, "oct-HSM") == 0)
		return KEYOPS_OCT;
	return -1;
}

static int meta_encode(const struct key_meta *m, struct buf *out, struct kl_err *err)
{
	const struct jwk *j = &m->pub;

	if (rec_put_u8(out, META_FORMAT, err) != 0 || rec_put_str(out, m->kty, err) != 0 ||
	    rec_put_u64(out, m->key_ops, err) != 0 || rec_put_u64(out, m->bits, err) != 0 ||
	    rec_put_str(out, j->crv, err) != 0 || rec_put_bytes(out, j->n.data, j->n.len, err) != 0 ||
	    rec_put_bytes(out, j->e.data, j->e.len, err) != 0 ||
	    rec_put_bytes(out, j->x.data, j->x.len, err) != 0 ||
	    rec_put_bytes(out, j->y.data, j->y.len, err) != 0)
		return -1;
	return 0;
}

int key_meta_encode(const struct key_meta *m, struct buf *out, struct kl_err *err)
{
	return meta_encode(m, out, err);
}

static int get_member(struct rec_reader *r, struct buf *b, struct kl_err *err)
{
	const unsigned char *p;
	size_t n;

	if ((p = rec_get_bytes(r, &n)) == NULL)
		return kl_fail(err, KL_ECORRUPT, "a stored key description is damaged");
	return n > 0 ? buf_append(b, p, n, err) : 0;
}

int key_meta_of(const struct obj *o, struct key_meta *m, struct kl_err *err)
{
	struct rec_reader r;
	char *kty = NULL, *crv = NULL;
	int rc = -1;

	key_meta_clear(m);
	rec_reader_init(&r, o->pub.data, o->pub.len);
	if (rec_get_u8(&r) != META_FORMAT || (kty = rec_get_str(&r)) == NULL || strlen(kty) >= 16)
		goto bad;
	m->key_ops = (unsigned)rec_get_u64(&r);
	m->bits = (unsigned)rec_get_u64(&r);
	crv = rec_get_str(&r);
	if (r.bad || (crv != NULL && strlen(crv) >= 16))
		goto bad;
	snprintf(m->kty, sizeof(m->kty), "%s", kty);
	snprintf(m->pub.kty, sizeof(m->pub.kty), "%s", kty);
	snprintf(m->pub.crv, sizeof(m->pub.crv), "%s", crv ? crv : "");
	m->pub.has_key_ops = true;
	m->pub.key_ops = m->key_ops;
	if (get_member(&r, &m->pub.n, err) != 0 || get_member(&r, &m->pub.e, err) != 0 ||
	    get_member(&r, &m->pub.x, err) != 0 || get_member(&r, &m->pub.y, err) != 0)
		goto out;
	if (!rec_done(&r) || kty_family(m->kty) < 0)
		goto bad;
	rc = 0;
	goto out;
bad:
	rec_fail(&r, err, "a stored key description is damaged");
out:
	free(kty);
	free(crv);
	return rc;
}

/* Stores a new version of name holding key k, labelled kty, with key_ops. */
static int store_key(struct vault *v, const char *name, const struct keyops_key *k,
		     const char *kty, unsigned key_ops, const struct obj *in, const char *op,
		     const struct obj_idem *idem, struct obj *out, struct key_meta *meta,
		     struct kl_err *err)
{
	struct key_meta m;
	struct buf material;
	struct obj o;
	int rc = -1;

	key_meta_init(&m);
	obj_init(&o);
	buf_init_secret(&material, MATERIAL_MAX);
	snprintf(m.kty, sizeof(m.kty), "%s", kty);
	m.key_ops = key_ops;
	m.bits = keyops_bits(k);
	if (keyops_public_jwk(k, &m.pub, err) != 0 || keyops_serialize(k, &material, err) != 0)
		goto out;
	o.attrs = in->attrs;
	o.has_tags = in->has_tags;
	if ((in->has_tags && obj_set_tags(&o, in->tags, in->n_tags, err) != 0) ||
	    meta_encode(&m, &o.pub, err) != 0)
		goto out;
	if (obj_create_as(v, OBJ_KEY, name, &o, material.data, material.len, op, idem, out,
			  err) != 0 ||
	    key_meta_of(out, meta, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&material);
	obj_clear(&o);
	key_meta_clear(&m);
	return rc;
}

int key_create(struct vault *v, const char *name, const struct key_spec *spec,
	       const struct obj *in, const struct obj_idem *idem, struct obj *out,
	       struct key_meta *meta, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	unsigned ops;
	int fam, rc = -1;

	if (obj_check_name(OBJ_KEY, name, (char[OBJ_NAME_MAX + 1]){ 0 }, err) != 0) {
		kl_fail(err, KL_EINVAL, "The key name is not valid.");
		goto out;
	}
	fam = spec->kty ? kty_family(spec->kty) : -1;
	if (fam < 0) {
		kl_fail(err, KL_EINVAL, "The key type (kty) '%.16s' is not supported; use RSA, RSA-HSM, "
			"EC, EC-HSM, oct or oct-HSM.", spec->kty ? spec->kty : "");
		goto out;
	}
	if (fam == KEYOPS_RSA) {
		k = keyops_generate_rsa(spec->bits ? spec->bits : 2048, spec->exponent, err);
		ops = default_ops_rsa;
	} else if (fam == KEYOPS_EC) {
		k = keyops_generate_ec(spec->crv ? spec->crv : "P-256", err);
		ops = default_ops_ec;
	} else {
		k = keyops_generate_oct(spec->bits ? spec->bits : 256, err);
		ops = default_ops_oct;
	}
	if (k == NULL)
		goto out;
	rc = store_key(v, name, k, spec->kty, spec->has_key_ops ? spec->key_ops : ops, in, "create",
		       idem, out, meta, err);
out:
	keyops_free(k);
	return rc;
}

int key_import(struct vault *v, const char *name, const struct jwk *jwk, bool hsm,
	       const struct obj *in, const struct obj_idem *idem, struct obj *out,
	       struct key_meta *meta, struct kl_err *err)
{
	struct keyops_key *k = NULL;
	char kty[16];
	unsigned ops;
	int fam, rc = -1;

	fam = kty_family(jwk->kty);
	if (fam < 0) {
		kl_fail(err, KL_EINVAL, "The JWK key type (kty) '%.16s' is not supported.", jwk->kty);
		goto out;
	}
	if ((k = keyops_from_jwk(jwk, err)) == NULL)
		goto out;
	ops = fam == KEYOPS_RSA ? default_ops_rsa : fam == KEYOPS_EC ? default_ops_ec : default_ops_oct;
	snprintf(kty, sizeof(kty), "%s%s", fam == KEYOPS_RSA ? "RSA" : fam == KEYOPS_EC ? "EC" : "oct",
		 hsm || strstr(jwk->kty, "-HSM") != NULL ? "-HSM" : "");
	rc = store_key(v, name, k, kty, jwk->has_key_ops ? jwk->key_ops : ops, in, "import", idem,
		       out, meta, err);
out:
	keyops_free(k);
	return rc;
}

int key_get(struct vault *v, const char *name, const char *version, struct obj *out,
	    struct key_meta *meta, struct kl_err *err)
{
	if (obj_get(v, OBJ_KEY, name, version, out, NULL, err) != 0)
		return -1;
	if (key_meta_of(out, meta, err) != 0) {
		obj_clear(out);
		return -1;
	}
	return 0;
}

int key_update(struct vault *v, const char *name, const char *version,
	       const struct obj_patch *patch, bool set_ops, unsigned key_ops, struct obj *out,
	       struct key_meta *meta, struct kl_err *err)
{
	struct obj_patch p = *patch;
	struct key_meta m;
	struct obj cur;
	struct buf pub;
	int rc = -1;

	key_meta_init(&m);
	obj_init(&cur);
	buf_init(&pub, 64 * 1024);
	if (set_ops) {
		/* key_ops lives in the version's description: rewrite it with the new set */
		if (key_get(v, name, version, &cur, &m, err) != 0)
			goto out;
		m.key_ops = key_ops;
		if (meta_encode(&m, &pub, err) != 0)
			goto out;
		p.set_pub = true;
		p.pub = pub.data;
		p.pub_len = pub.len;
	}
	if (obj_update(v, OBJ_KEY, name, version, &p, out, err) != 0 ||
	    key_meta_of(out, meta, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&pub);
	obj_clear(&cur);
	key_meta_clear(&m);
	return rc;
}

int key_rotate(struct vault *v, const char *name, const struct obj_idem *idem, struct obj *out,
	       struct key_meta *meta, struct kl_err *err)
{
	struct key_spec spec = { 0 };
	struct key_policy pol;
	struct key_meta m;
	struct obj cur, in;
	int rc = -1;

	key_meta_init(&m);
	obj_init(&cur);
	obj_init(&in);
	if (key_get(v, name, NULL, &cur, &m, err) != 0 || key_policy_get(v, name, &pol, err) != 0)
		goto out;
	if (cur.managed) {
		obj_fail_managed(err, OBJ_KEY, "rotate");
		goto out;
	}
	spec.kty = m.kty;
	spec.bits = kty_family(m.kty) == KEYOPS_EC ? 0 : m.bits;
	spec.crv = m.pub.crv[0] ? m.pub.crv : NULL;
	spec.has_key_ops = true;
	spec.key_ops = m.key_ops;
	if (kty_family(m.kty) == KEYOPS_RSA && m.pub.e.len > 0 && m.pub.e.len <= 4) {
		size_t i;

		for (i = 0; i < m.pub.e.len; i++)
			spec.exponent = (spec.exponent << 8) | m.pub.e.data[i];
	}
	in.attrs.enabled = true;
	if (pol.is_set && pol.has_expiry) {
		in.attrs.has_exp = true;
		in.attrs.exp = clock_now_s() + pol.expiry_seconds;
	}
	if (cur.has_tags && obj_set_tags(&in, cur.tags, cur.n_tags, err) != 0)
		goto out;
	rc = key_create(v, cur.name, &spec, &in, idem, out, meta, err);
out:
	obj_clear(&cur);
	obj_clear(&in);
	key_meta_clear(&m);
	return rc;
}

static const struct {
	unsigned bit;
	const char *name;
	bool needs_window;	/* refused outside nbf/exp */
} op_info[] = {
	[KEY_OP_ENCRYPT] = { JWK_OP_ENCRYPT, "encrypt", true },
	[KEY_OP_DECRYPT] = { JWK_OP_DECRYPT, "decrypt", false },
	[KEY_OP_WRAP] = { JWK_OP_WRAP, "wrapKey", true },
	[KEY_OP_UNWRAP] = { JWK_OP_UNWRAP, "unwrapKey", false },
	[KEY_OP_SIGN] = { JWK_OP_SIGN, "sign", true },
	[KEY_OP_VERIFY] = { JWK_OP_VERIFY, "verify", false },
};

static int check_allowed(const struct obj *o, const struct key_meta *m, enum key_op op,
			 struct kl_err *err)
{
	int64_t now = clock_now_s();

	if (!o->attrs.enabled)
		return kl_fail_az(err, KL_EFORBIDDEN, "Forbidden", "KeyDisabled",
				  "Operation %s is not allowed on a disabled key.", op_info[op].name);
	if ((m->key_ops & op_info[op].bit) == 0)
		return kl_fail_az(err, KL_EFORBIDDEN, "Forbidden", "KeyOperationForbidden",
				  "Operation %s is not permitted on this key.", op_info[op].name);
	if (op_info[op].needs_window && ((o->attrs.has_nbf && now < o->attrs.nbf) ||
					 (o->attrs.has_exp && now >= o->attrs.exp)))
		return kl_fail_az(err, KL_EFORBIDDEN, "Forbidden", "KeyDisabled",
				  "Operation %s is not allowed: the key is not yet valid or has "
				  "expired (nbf/exp).", op_info[op].name);
	return 0;
}

/* The cache id of a key version: vault/name/version, lowercase. */
static void cache_id(char *out, size_t n, const struct vault *v, const char *lname, const char *ver)
{
	snprintf(out, n, "%s/%s/%s", v->name, lname, ver);
}

/* The parsed key of version o->version of lname, from the cache or unsealed and cached. */
static struct keycache_ref *load_key(struct vault *v, const char *lname, const struct obj *o,
				     const struct key_meta *m, struct kl_err *err)
{
	struct keycache_ref *ref;
	struct secbuf *material = NULL;
	struct keyops_key *k = NULL;
	struct obj tmp;
	char id[KEYBUF];

	cache_id(id, sizeof(id), v, lname, o->version);
	if ((ref = keycache_get(v->core->keys, id)) != NULL)
		return ref;
	obj_init(&tmp);
	if (obj_version_load(v, OBJ_KEY, lname, o->version, &tmp, NULL, &material, err) == 0 &&
	    (k = keyops_deserialize((enum keyops_kty)kty_family(m->kty), material->data,
				    material->len, err)) != NULL &&
	    (ref = keycache_put(v->core->keys, id, k)) == NULL)
		kl_fail(err, KL_ENOMEM, "out of memory");
	obj_clear(&tmp);
	secbuf_free(material);
	return ref;
}

int key_operate(struct vault *v, const char *name, const char *version, enum key_op op,
		const char *alg, const struct key_op_in *in, struct key_op_out *out, struct obj *o,
		struct kl_err *err)
{
	struct keyops_input kin = { in->value, in->value_len, in->iv, in->iv_len, in->aad,
				    in->aad_len, in->tag, in->tag_len };
	struct keyops_output kout = { .out = out->out };
	struct keycache_ref *ref = NULL;
	const struct keyops_key *k;
	char lname[OBJ_NAME_MAX + 1];
	struct key_meta m;
	int rc = -1;

	key_meta_init(&m);
	if (obj_get(v, OBJ_KEY, name, version, o, NULL, err) != 0)
		goto out;
	lower_copy(lname, sizeof(lname), o->name);
	if (key_meta_of(o, &m, err) != 0 || check_allowed(o, &m, op, err) != 0 ||
	    (ref = load_key(v, lname, o, &m, err)) == NULL)
		goto out;
	k = keycache_key(ref);
	memcpy(out->kty, m.kty, sizeof(out->kty));
	out->bits = m.bits;
	switch (op) {
	case KEY_OP_ENCRYPT:
		rc = keyops_encrypt(k, alg, &kin, &kout, err);
		break;
	case KEY_OP_DECRYPT:
		rc = keyops_decrypt(k, alg, &kin, &kout, err);
		break;
	case KEY_OP_WRAP:
		rc = keyops_wrap(k, alg, &kin, &kout, err);
		break;
	case KEY_OP_UNWRAP:
		rc = keyops_unwrap(k, alg, &kin, &kout, err);
		break;
	case KEY_OP_SIGN:
		rc = keyops_sign(k, alg, in->value, in->value_len, out->out, err);
		break;
	case KEY_OP_VERIFY:
		rc = keyops_verify(k, alg, in->value, in->value_len, in->signature, in->signature_len,
				   &out->valid, err);
		break;
	}
	if (rc == 0) {
		memcpy(out->iv, kout.iv, sizeof(out->iv));
		out->iv_len = kout.iv_len;
		memcpy(out->tag, kout.tag, sizeof(out->tag));
		out->tag_len = kout.tag_len;
	}
out:
	if (rc != 0)
		obj_clear(o);
	keycache_release(v->core->keys, ref);
	key_meta_clear(&m);
	return rc;
}

void key_forget_cached(const struct vault *v, const char *lname)
{
	char prefix[KEYBUF];

	cache_id(prefix, sizeof(prefix), v, lname, "");
	keycache_forget(v->core->keys, prefix);
}

/* Forgets the cached keys of every version of name. */
static void forget_key(struct vault *v, const char *name)
{
	char lname[OBJ_NAME_MAX + 1];

	if (lower_copy(lname, sizeof(lname), name))
		key_forget_cached(v, lname);
}

int key_release(struct vault *v, const char *name, const char *version, struct kl_err *err)
{
	struct obj o;

	obj_init(&o);
	if (obj_get(v, OBJ_KEY, name, version, &o, NULL, err) != 0)
		return -1;
	if (o.managed) {
		obj_clear(&o);
		return obj_fail_managed(err, OBJ_KEY, "release");
	}
	obj_clear(&o);
	return kl_fail(err, KL_EINVAL, "Key release (secure key release for confidential computing) "
		       "is not supported by kluis.");
}

int key_delete(struct vault *v, const char *name, struct obj *out, struct kl_err *err)
{
	int rc = obj_delete(v, OBJ_KEY, name, out, err);

	forget_key(v, name);
	return rc;
}

int key_purge(struct vault *v, const char *name, struct kl_err *err)
{
	int rc = obj_purge(v, OBJ_KEY, name, err);

	forget_key(v, name);
	return rc;
}

int key_random(unsigned char *out, size_t n, struct kl_err *err)
{
	return crypto_random(out, n, err);
}
