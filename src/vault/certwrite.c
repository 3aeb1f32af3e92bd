/* Writing certificate versions: the one store transaction that stores a certificate version with
 * its managed key and secret versions (same version id), the policy and the operation, and the
 * building of those three objects from a key and a chain. Private keys exist here in plain only
 * inside a struct keyops_key and in wiping buffers, from serialisation until sealing; they must
 * never reach a log or an error message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/rand.h"
#include "util/b64url.h"
#include "util/clock.h"
#include "util/jwk.h"
#include "util/log.h"
#include "vault/certs_internal.h"
#include "vault/keys.h"

#define ATTEMPTS 32
#define REC_MAX (4u * 1024 * 1024)
#define MATERIAL_MAX (64u * 1024)
#define SECRET_MAX (256u * 1024)
#define MAX_OPS 32

static const char *const kind_word[] = { "secret", "key", "certificate" };

int64_t cert_issue_delay(const struct vault *v)
{
	return v->core->cert_issue_delay_s;
}

unsigned cert_key_ops_of(unsigned ku, bool is_ec)
{
	unsigned ops = 0;

	if (ku & (X509_KU_DIGITAL_SIGNATURE | X509_KU_NON_REPUDIATION | X509_KU_KEY_CERT_SIGN |
		  X509_KU_CRL_SIGN))
		ops |= JWK_OP_SIGN | JWK_OP_VERIFY;
	if (is_ec) /* EC keys never get the four RSA-only operations (C3) */
		return ops;
	if (ku & X509_KU_KEY_ENCIPHERMENT)
		ops |= JWK_OP_WRAP | JWK_OP_UNWRAP;
	if (ku & X509_KU_DATA_ENCIPHERMENT)
		ops |= JWK_OP_ENCRYPT | JWK_OP_DECRYPT;
	if (ku & X509_KU_ENCIPHER_ONLY)
		ops |= JWK_OP_ENCRYPT;
	if (ku & X509_KU_DECIPHER_ONLY)
		ops |= JWK_OP_DECRYPT;
	return ops;
}

void cert_profile_of(const struct cert_policy *p, int64_t nbf, int64_t exp,
		     struct x509_profile *out)
{
	memset(out, 0, sizeof(*out));
	out->subject = p->subject != NULL ? p->subject : "";
	out->sans.dns = p->sans.dns;
	out->sans.n_dns = p->sans.n_dns;
	out->sans.emails = p->sans.emails;
	out->sans.n_emails = p->sans.n_emails;
	out->sans.upns = p->sans.upns;
	out->sans.n_upns = p->sans.n_upns;
	out->sans.uris = p->sans.uris;
	out->sans.n_uris = p->sans.n_uris;
	out->sans.ips = p->sans.ips;
	out->sans.n_ips = p->sans.n_ips;
	out->key_usage = p->key_usage;
	out->ekus = p->ekus;
	out->n_ekus = p->n_ekus;
	out->not_before = nbf;
	out->not_after = exp;
}

void cert_validity(const struct cert_policy *p, int64_t t, int64_t *nbf, int64_t *exp)
{
	time_t tt = (time_t)t;
	struct tm tm;

	*nbf = t - 600;
	gmtime_r(&tt, &tm);
	tm.tm_year += (tm.tm_mon + p->validity_months) / 12;
	tm.tm_mon = (tm.tm_mon + p->validity_months) % 12;
	*exp = (int64_t)timegm(&tm);
}

struct keyops_key *cert_load_key(struct vault *v, const char *lname, const char *version,
				 struct kl_err *err)
{
	struct secbuf *material = NULL;
	struct keyops_key *k = NULL;
	struct key_meta m;
	struct obj o;

	obj_init(&o);
	key_meta_init(&m);
	if (obj_version_load(v, OBJ_KEY, lname, version, &o, NULL, &material, err) == 0 &&
	    key_meta_of(&o, &m, err) == 0)
		k = keyops_deserialize(strncmp(m.kty, "EC", 2) == 0 ? KEYOPS_EC : KEYOPS_RSA,
				       material->data, material->len, err);
	secbuf_free(material);
	key_meta_clear(&m);
	obj_clear(&o);
	return k;
}

void cert_issue_init(struct cert_issue *is)
{
	obj_init(&is->key);
	obj_init(&is->secret);
	obj_init(&is->cert);
	buf_init_secret(&is->key_val, MATERIAL_MAX);
	buf_init_secret(&is->secret_val, SECRET_MAX);
	buf_init(&is->pub, REC_MAX);
}

void cert_issue_clear(struct cert_issue *is)
{
	obj_clear(&is->key);
	obj_clear(&is->secret);
	obj_clear(&is->cert);
	buf_clear(&is->key_val);
	buf_clear(&is->secret_val);
	buf_clear(&is->pub);
}

/* The secret's value: standard base64 of a PFX, or PEM text. */
static int secret_value(const struct cert_policy *p, const struct keyops_key *k,
			const struct x509_chain *chain, struct buf *out, struct kl_err *err)
{
	const struct keyops_key *key = p->exportable ? k : NULL;
	struct buf der;
	int rc = -1;

	if (strcmp(p->content_type, CERT_CT_PEM) == 0)
		return x509_export_pem(key, chain, out, err);
	buf_init_secret(&der, SECRET_MAX);
	if (x509_export_pfx(key, chain, &der, err) == 0 &&
	    b64_std_encode(der.data, der.len, out, err) == 0)
		rc = 0;
	buf_clear(&der);
	return rc;
}

/* The attributes every object of the version shares. */
static void version_attrs(struct obj *o, const struct cert_new *in, int64_t nbf, int64_t exp)
{
	o->attrs.enabled = in->enabled;
	o->attrs.has_nbf = o->attrs.has_exp = true;
	o->attrs.nbf = nbf;
	o->attrs.exp = exp;
	o->attrs.created = o->attrs.updated = clock_now_s();
	o->managed = true;
}

int cert_issue_build(const struct cert_policy *p, const struct keyops_key *k,
		     const struct x509_chain *chain, const char *version, const char *prev,
		     bool preserve_order, const struct cert_new *in, struct cert_issue *is,
		     struct kl_err *err)
{
	struct x509_info info;
	struct key_meta m;
	struct cert c;
	int64_t nbf, exp;
	int rc = -1;

	x509_info_init(&info);
	key_meta_init(&m);
	cert_init(&c);
	/* the key version, stored as keys.c stores one */
	snprintf(m.kty, sizeof(m.kty), "%s", p->kty);
	m.key_ops = cert_key_ops_of(p->key_usage, keyops_type(k) == KEYOPS_EC);
	m.bits = keyops_bits(k);
	if (keyops_public_jwk(k, &m.pub, err) != 0 || keyops_serialize(k, &is->key_val, err) != 0 ||
	    key_meta_encode(&m, &is->key.pub, err) != 0)
		goto out;
	if (chain != NULL && chain->n > 0) {
		if (x509_info_of(chain->der[0].data, chain->der[0].len, &info, err) != 0)
			goto out;
		nbf = info.not_before;
		exp = info.not_after;
	} else {
		cert_validity(p, clock_now_s(), &nbf, &exp);
	}
	version_attrs(&is->key, in, nbf, exp);
	snprintf(is->key.version, sizeof(is->key.version), "%s", version);
	/* the certificate version */
	version_attrs(&is->cert, in, nbf, exp);
	snprintf(is->cert.version, sizeof(is->cert.version), "%s", version);
	is->cert.managed = false;
	if ((in->has_tags && obj_set_tags(&is->cert, in->tags, in->n_tags, err) != 0) ||
	    (is->cert.content_type = strdup(p->content_type)) == NULL) {
		if (err->code == KL_OK)
			kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	is->cert.has_tags = in->has_tags;
	c.preserve_order = preserve_order;
	snprintf(c.prev, sizeof(c.prev), "%s", prev ? prev : "");
	if (chain != NULL && chain->n > 0) {
		c.chain = chain->der; /* borrowed for encoding only */
		c.n_chain = chain->n;
		snprintf(c.x5t, sizeof(c.x5t), "%s", info.x5t);
	}
	rc = cert_pub_encode(&c, &is->cert.pub, err);
	c.chain = NULL;
	c.n_chain = 0;
	if (rc != 0)
		goto out;
	rc = -1;
	/* the secret version, once there is a chain */
	if (chain != NULL && chain->n > 0) {
		version_attrs(&is->secret, in, nbf, exp);
		snprintf(is->secret.version, sizeof(is->secret.version), "%s", version);
		if ((is->secret.content_type = strdup(p->content_type)) == NULL) {
			kl_fail(err, KL_ENOMEM, "out of memory");
			goto out;
		}
		if (secret_value(p, k, chain, &is->secret_val, err) != 0)
			goto out;
	}
	rc = 0;
out:
	cert_clear(&c);
	key_meta_clear(&m);
	x509_info_clear(&info);
	return rc;
}

/* ---- the transaction ---- */

/* Store ops with their own copies of the keys; values are borrowed from the caller. */
struct txn {
	struct store_op ops[MAX_OPS];
	char keys[MAX_OPS][KEYBUF];
	size_t n;
};

static int txn_add(struct txn *t, enum store_op_kind kind, const char *key, const void *val,
		   size_t val_len, uint64_t version, struct kl_err *err)
{
	if (t->n >= MAX_OPS)
		return kl_fail(err, KL_EINTERNAL, "a certificate write has too many steps");
	snprintf(t->keys[t->n], KEYBUF, "%s", key);
	t->ops[t->n] = (struct store_op){ .kind = kind,
					  .key = t->keys[t->n],
					  .key_len = strlen(t->keys[t->n]),
					  .val = val != NULL ? val : "",
					  .val_len = val_len,
					  .version = version };
	t->n++;
	return 0;
}

/* 409 when a key or secret head of the name holds an object no certificate manages. */
static int check_unmanaged(struct vault *v, enum obj_kind k, const char *lname, const char *name,
			   struct kl_err *err)
{
	struct head h;
	struct obj o;
	int rc = -1;

	obj_init(&o);
	if (obj_head_load(v, k, 'h', lname, &h, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND) {
			kl_err_clear(err);
			rc = 0;
		}
		goto out;
	}
	if (obj_version_load(v, k, lname, h.latest, &o, NULL, NULL, err) != 0)
		goto out;
	if (!o.managed) {
		kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
			   "A %s named %.127s that no certificate manages already exists; a "
			   "certificate cannot take its name.",
			   kind_word[k], name);
		goto out;
	}
	rc = 0;
out:
	obj_clear(&o);
	return rc;
}

/* The steps of one object of w: heads checked or moved, the version record written. */
static int add_obj(struct vault *v, const struct cert_write *w, enum obj_kind k, const char *lname,
		   const struct buf *rec, struct txn *t, struct buf *hrec, struct kl_err *err)
{
	const struct cert_write_obj *wo = &w->objs[k];
	char hkey[KEYBUF], vkey[KEYBUF];
	struct head h;
	uint64_t hv = 0;

	keyspace_obj_head(hkey, v, k, 'h', lname);
	keyspace_obj_version(vkey, v, k, lname, wo->o->version);
	memset(&h, 0, sizeof(h));
	if (obj_head_load(v, k, 'h', lname, &h, &hv, err) != 0) {
		if (err->code != KL_ENOTFOUND)
			return -1;
		kl_err_clear(err);
		if (!wo->move_head) /* a rewrite of a name that went away meanwhile */
			return obj_fail_not_found(err, k, w->name, wo->o->version);
		hv = 0;
		snprintf(h.display, sizeof(h.display), "%s", w->name);
	}
	if (txn_add(t, STORE_CHECK, hkey, NULL, 0, hv, err) != 0 ||
	    txn_add(t, STORE_CHECK, vkey, NULL, 0, wo->replace ? wo->replace_version : 0, err) !=
		0 ||
	    txn_add(t, STORE_PUT, vkey, rec->data, rec->len, 0, err) != 0)
		return -1;
	if (wo->move_head) {
		memcpy(h.latest, wo->o->version, sizeof(h.latest));
		buf_reset(hrec);
		if (head_encode(&h, hrec, err) != 0 ||
		    txn_add(t, STORE_PUT, hkey, hrec->data, hrec->len, 0, err) != 0)
			return -1;
	}
	return 0;
}

/* One run of a certificate write: what each attempt reads and writes. */
struct write_txn {
	struct vault *v;
	const struct cert_write *w;
	const char *lname, *okey;
	const struct buf *recs;
	struct buf *hrecs;
	const struct cert_policy_rec *prec;
	const struct buf *oprec;
	struct txn *t;
	bool retry;	/* a conflict is retried (never when a version is replaced or the op checked) */
};

static int write_build(void *arg, int attempt, const struct store_op **ops, size_t *n_ops,
		       struct kl_err *err)
{
	struct write_txn *c = arg;
	const struct cert_write *w = c->w;
	struct txn *t = c->t;
	char dkey[KEYBUF];
	int k;

	(void)attempt;
	t->n = 0;
	for (k = 0; k < 3; k++) {
		uint64_t dv;
		bool involved = w->objs[k].present || k == OBJ_CERT ||
				(w->check_no_unmanaged && k != OBJ_CERT);

		if (!involved)
			continue;
		if (obj_head_version(c->v, (enum obj_kind)k, 'd', c->lname, &dv, err) != 0)
			return -1;
		if (dv != 0) {
			if (k == OBJ_CERT)
				return obj_fail_is_deleted(err, OBJ_CERT, w->name);
			return kl_fail_az(err, KL_ECONFLICT, "Conflict", NULL,
					  "A deleted %s holds the name %.127s; recover or purge it "
					  "first.",
					  kind_word[k], w->name);
		}
		keyspace_obj_head(dkey, c->v, (enum obj_kind)k, 'd', c->lname);
		if (txn_add(t, STORE_CHECK, dkey, NULL, 0, 0, err) != 0)
			return -1;
		if (w->check_no_unmanaged && k != OBJ_CERT &&
		    check_unmanaged(c->v, (enum obj_kind)k, c->lname, w->name, err) != 0)
			return -1;
		if (w->objs[k].present && add_obj(c->v, w, (enum obj_kind)k, c->lname, &c->recs[k],
						  t, &c->hrecs[k], err) != 0)
			return -1;
	}
	if (w->policy != NULL &&
	    (txn_add(t, c->prec->ops[0].kind, c->prec->key, c->prec->ops[0].val,
		     c->prec->ops[0].val_len, 0, err) != 0 ||
	     txn_add(t, c->prec->ops[1].kind, c->prec->index_key, c->prec->ops[1].val,
		     c->prec->ops[1].val_len, 0, err) != 0))
		return -1;
	for (size_t i = 0; i < w->n_extra; i++)
		if (txn_add(t, w->extra[i].kind, w->extra[i].key, w->extra[i].val,
			    w->extra[i].val_len, w->extra[i].version, err) != 0)
			return -1;
	if (w->check_op && txn_add(t, STORE_CHECK, c->okey, NULL, 0, w->op_version, err) != 0)
		return -1;
	if (w->op != NULL &&
	    txn_add(t, STORE_PUT, c->okey, c->oprec->data, c->oprec->len, 0, err) != 0)
		return -1;
	if (w->op == NULL && w->drop_op && txn_add(t, STORE_DEL, c->okey, NULL, 0, 0, err) != 0)
		return -1;
	*ops = t->ops;
	*n_ops = t->n;
	return 0;
}

/* A conflict is the caller's to handle when the write replaces a version or checks the op. */
static int write_conflicted(void *arg, struct kl_err *err)
{
	const struct write_txn *c = arg;

	(void)err;
	return c->retry ? 0 : -1;
}

static const struct vault_txn write_txn = { .build = write_build,
					    .conflicted = write_conflicted,
					    .attempts = ATTEMPTS,
					    .what = "certificate" };

int cert_write_run(struct vault *v, const struct cert_write *w, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], okey[KEYBUF];
	struct buf sealed[3], recs[3], hrecs[3], oprec;
	struct cert_policy_rec prec;
	struct txn *t = calloc(1, sizeof(*t));
	bool retry = !w->check_op;
	struct write_txn c;
	int k, rc = -1;

	buf_init(&oprec, REC_MAX);
	buf_init(&prec.val, REC_MAX);
	for (k = 0; k < 3; k++) {
		buf_init(&sealed[k], REC_MAX);
		buf_init(&recs[k], REC_MAX);
		buf_init(&hrecs[k], 4096);
	}
	if (t == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (obj_check_name(OBJ_CERT, w->name, lname, err) != 0)
		goto out;
	/* seal once: the additional data is the version's store key, which retries do not change */
	for (k = 0; k < 3; k++) {
		const struct cert_write_obj *wo = &w->objs[k];
		char vkey[KEYBUF];

		if (!wo->present)
			continue;
		retry &= !wo->replace;
		keyspace_obj_version(vkey, v, (enum obj_kind)k, lname, wo->o->version);
		if (wo->material != NULL && !wo->material_sealed &&
		    seal_seal(v->core->data_key, vkey, strlen(vkey), wo->material, wo->material_len,
			      &sealed[k], err) != 0)
			goto out;
		if (version_encode(wo->o, wo->material != NULL,
				   wo->material_sealed ? wo->material : sealed[k].data,
				   wo->material_sealed ? wo->material_len : sealed[k].len, &recs[k],
				   err) != 0)
			goto out;
	}
	if ((w->policy != NULL && cert_policy_ops(v, lname, w->policy, &prec, err) != 0) ||
	    (w->op != NULL && cert_op_encode(w->op, &oprec, err) != 0))
		goto out;
	cert_key_op(okey, v, lname);
	c = (struct write_txn){ .v = v, .w = w, .lname = lname, .okey = okey, .recs = recs,
				.hrecs = hrecs, .prec = &prec, .oprec = &oprec, .t = t,
				.retry = retry };
	if (vault_txn_retry(v->core, &write_txn, &c, err) != 0)
		goto out;
	rc = 0;
out:
	for (k = 0; k < 3; k++) {
		buf_clear(&sealed[k]);
		buf_clear(&recs[k]);
		buf_clear(&hrecs[k]);
	}
	buf_clear(&oprec);
	buf_clear(&prec.val);
	free(t);
	return rc;
}
