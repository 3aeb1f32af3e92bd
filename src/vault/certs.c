/* Reading certificates: the version record's pub codec, whether a version counts as issued (its
 * chain, and the operation that makes it: C4), the latest issued version, lists, and updates of
 * a version's attributes and tags mirrored onto its key and secret. Never creates versions
 * (certcreate.c) and never opens key material. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/rec.h"
#include "vault/certs_internal.h"

#define PUB_FORMAT 1
#define PREV_STEPS 16 /* how far back get-latest looks for an issued version */
#define CERT_REC_MAX (4u * 1024 * 1024) /* a version record read for a rewrite */

void cert_init(struct cert *c)
{
	memset(c, 0, sizeof(*c));
	obj_init(&c->o);
	cert_policy_init(&c->policy);
}

static void chain_free(struct cert *c, size_t n)
{
	size_t i;

	for (i = 0; c->chain != NULL && i < n; i++)
		buf_clear(&c->chain[i]);
	free(c->chain);
	c->chain = NULL;
	c->n_chain = 0;
}

void cert_clear(struct cert *c)
{
	chain_free(c, CERT_CHAIN_MAX);
	obj_clear(&c->o);
	cert_policy_clear(&c->policy);
	cert_init(c);
}

void cert_page_clear(struct cert_page *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		cert_clear(&p->items[i]);
	p->n = 0;
	p->next[0] = '\0';
}

int cert_pub_encode(const struct cert *c, struct buf *out, struct kl_err *err)
{
	size_t i;

	if (rec_put_u8(out, PUB_FORMAT, err) != 0 || rec_put_u8(out, c->preserve_order, err) != 0 ||
	    rec_put_str(out, c->x5t, err) != 0 || rec_put_str(out, c->prev, err) != 0 ||
	    rec_put_u64(out, c->n_chain, err) != 0)
		return -1;
	for (i = 0; i < c->n_chain; i++)
		if (rec_put_bytes(out, c->chain[i].data, c->chain[i].len, err) != 0)
			return -1;
	return 0;
}

int cert_pub_decode(const void *p, size_t n, struct cert *c, struct kl_err *err)
{
	struct rec_reader r;
	char *x5t = NULL, *prev = NULL;
	uint64_t count, i;
	int rc = -1;

	chain_free(c, CERT_CHAIN_MAX);
	rec_reader_init(&r, p, n);
	if (rec_get_u8(&r) != PUB_FORMAT)
		goto bad;
	c->preserve_order = rec_get_u8(&r) != 0;
	x5t = rec_get_str(&r);
	prev = rec_get_str(&r);
	count = rec_get_u64(&r);
	if (r.bad || x5t == NULL || prev == NULL || strlen(x5t) >= sizeof(c->x5t) ||
	    strlen(prev) >= sizeof(c->prev) || count > CERT_CHAIN_MAX)
		goto bad;
	snprintf(c->x5t, sizeof(c->x5t), "%s", x5t);
	snprintf(c->prev, sizeof(c->prev), "%s", prev);
	if ((c->chain = calloc(CERT_CHAIN_MAX, sizeof(*c->chain))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < CERT_CHAIN_MAX; i++)
		buf_init(&c->chain[i], 64 * 1024);
	for (i = 0; i < count; i++) {
		const unsigned char *der;
		size_t len;

		if ((der = rec_get_bytes(&r, &len)) == NULL)
			goto bad;
		if (buf_append(&c->chain[i], der, len, err) != 0)
			goto out;
		c->n_chain++;
	}
	if (!rec_done(&r))
		goto bad;
	rc = 0;
	goto out;
bad:
	rec_fail(&r, err, "a stored certificate version is damaged");
out:
	free(x5t);
	free(prev);
	return rc;
}

int cert_from_obj(struct vault *v, struct obj *o, struct cert *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	struct cert_op op;
	bool found;
	int rc = -1;

	cert_op_init(&op);
	out->o = *o;
	obj_init(o);
	if (!lower_copy(lname, sizeof(lname), out->o.name)) {
		kl_fail(err, KL_ECORRUPT, "a stored certificate name is damaged");
		goto out;
	}
	if (cert_pub_decode(out->o.pub.data, out->o.pub.len, out, err) != 0 ||
	    cert_op_load(v, lname, &op, &found, NULL, err) != 0)
		goto out;
	out->has_op = found;
	out->issued = out->n_chain > 0 && !(found && strcmp(op.version, out->o.version) == 0 &&
					    op.status != CERT_OP_COMPLETED);
	if (!out->issued) {
		chain_free(out, CERT_CHAIN_MAX);
		out->x5t[0] = '\0';
		out->o.attrs.enabled = false;
	}
	rc = 0;
out:
	cert_op_clear(&op);
	return rc;
}

/* The version of name (live) as a struct cert. */
static int load_version(struct vault *v, const char *name, const char *version, struct cert *out,
			struct kl_err *err)
{
	struct obj o;
	int rc;

	obj_init(&o);
	if (obj_get(v, OBJ_CERT, name, version, &o, NULL, err) != 0)
		return -1;
	rc = cert_from_obj(v, &o, out, err);
	obj_clear(&o);
	return rc;
}

/* Replaces c (the latest version, not issued) by the newest issued version before it, if any. */
static int newest_issued(struct vault *v, struct cert *c, struct kl_err *err)
{
	struct cert older;
	int step;

	for (step = 0; step < PREV_STEPS && !c->issued && c->prev[0] != '\0'; step++) {
		cert_init(&older);
		if (load_version(v, c->o.name, c->prev, &older, err) != 0) {
			cert_clear(&older);
			if (err->code != KL_ENOTFOUND)
				return -1;
			kl_err_clear(err); /* a version lost to a restore: keep the pending one */
			return 0;
		}
		if (older.issued) {
			older.has_op = c->has_op;
			cert_clear(c);
			*c = older;
			return 0;
		}
		snprintf(c->prev, sizeof(c->prev), "%s", older.prev);
		cert_clear(&older);
	}
	return 0;
}

int cert_get(struct vault *v, const char *name, const char *version, struct cert *out,
	     struct kl_err *err)
{
	bool latest = version == NULL || *version == '\0';

	if (load_version(v, name, version, out, err) != 0 ||
	    (latest && newest_issued(v, out, err) != 0))
		goto fail;
	if (latest) {
		if (cert_policy_load(v, out->o.name, &out->policy, err) != 0)
			goto fail;
		out->has_policy = true;
	}
	return 0;
fail:
	cert_clear(out);
	return -1;
}

/* Moves the items of an object page into a certificate page. */
static int page_from(struct vault *v, struct obj_page *op, bool latest, bool include_pending,
		     struct cert_page *page, struct kl_err *err)
{
	size_t i;

	for (i = 0; i < op->n; i++) {
		struct cert *c = &page->items[page->n];

		cert_init(c);
		if (cert_from_obj(v, &op->items[i], c, err) != 0 ||
		    (latest && newest_issued(v, c, err) != 0)) {
			cert_clear(c);
			return -1;
		}
		if (latest && !c->issued && !include_pending) {
			cert_clear(c);
			continue;
		}
		page->n++;
	}
	memcpy(page->next, op->next, sizeof(page->next));
	return 0;
}

/* Which listing list_page() runs. */
enum list_what { LIST_LATEST, LIST_VERSIONS, LIST_DELETED };

/* One page of the listing what (of name's versions for LIST_VERSIONS) as certificates. */
static int list_page(struct vault *v, enum list_what what, const char *name, const char *after,
		     size_t max, bool include_pending, struct cert_page *page, struct kl_err *err)
{
	struct obj_page *op = calloc(1, sizeof(*op));
	int rc = -1;

	page->n = 0;
	page->next[0] = '\0';
	if (op == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if ((what == LIST_LATEST && obj_list(v, OBJ_CERT, after, max, op, err) != 0) ||
	    (what == LIST_VERSIONS &&
	     obj_list_versions(v, OBJ_CERT, name, after, max, op, err) != 0) ||
	    (what == LIST_DELETED && obj_list_deleted(v, OBJ_CERT, after, max, op, err) != 0)) {
		if (what == LIST_VERSIONS && err->code == KL_ENOTFOUND) {
			kl_err_clear(err);	/* C1 #4: an unknown name is an empty page */
			rc = 0;
		}
		goto out;
	}
	rc = page_from(v, op, what == LIST_LATEST, include_pending, page, err);
out:
	if (op != NULL)
		obj_page_clear(op);
	free(op);
	return rc;
}

int cert_list(struct vault *v, const char *after, size_t max, bool include_pending,
	      struct cert_page *page, struct kl_err *err)
{
	return list_page(v, LIST_LATEST, NULL, after, max, include_pending, page, err);
}

int cert_list_versions(struct vault *v, const char *name, const char *after, size_t max,
		       struct cert_page *page, struct kl_err *err)
{
	return list_page(v, LIST_VERSIONS, name, after, max, true, page, err);
}

int cert_list_deleted(struct vault *v, const char *after, size_t max, struct cert_page *page,
		      struct kl_err *err)
{
	return list_page(v, LIST_DELETED, NULL, after, max, true, page, err);
}

/* ---- update ---- */

int cert_update(struct vault *v, const char *name, const char *version, bool set_enabled,
		bool enabled, bool set_tags, const struct obj_tag *tags, size_t n_tags,
		const struct cert_policy *policy, struct cert *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], ver[OBJ_VERSION_LEN + 1];
	struct obj objs[3];
	struct buf sealed[3];
	struct cert_policy pol;
	struct cert_write w = { .name = name };
	struct head h;
	bool has_m[3] = { false, false, false };
	int k, attempt, rc = -1;

	cert_policy_init(&pol);
	for (k = 0; k < 3; k++) {
		obj_init(&objs[k]);
		buf_init(&sealed[k], CERT_REC_MAX);
	}
	if (obj_check_name(OBJ_CERT, name, lname, err) != 0)
		goto out;
	if (version != NULL && *version != '\0' &&
	    (!vault_version_is_valid(version) || !lower_copy(ver, sizeof(ver), version))) {
		obj_fail_not_found(err, OBJ_CERT, name, version);
		goto out;
	}
	for (attempt = 0; attempt < 16; attempt++) {
		memset(&w.objs, 0, sizeof(w.objs));
		w.policy = NULL;
		if (obj_head_load(v, OBJ_CERT, 'h', lname, &h, NULL, err) != 0) {
			if (err->code == KL_ENOTFOUND)
				obj_fail_not_found(err, OBJ_CERT, name, version);
			goto out;
		}
		if (version == NULL || *version == '\0')
			memcpy(ver, h.latest, sizeof(ver));
		for (k = 0; k < 3; k++) {
			uint64_t sv = 0;

			obj_clear(&objs[k]);
			buf_reset(&sealed[k]);
			if (obj_version_load_raw(v, (enum obj_kind)k, lname, ver, CERT_REC_MAX,
						 &objs[k], &sv, &sealed[k], &has_m[k], err) != 0) {
				if (err->code != KL_ENOTFOUND)
					goto out;
				kl_err_clear(err);
				if (k == OBJ_CERT) {
					obj_fail_not_found(err, OBJ_CERT, name, version);
					goto out;
				}
				continue; /* a pending version has no secret yet */
			}
			if (k != OBJ_CERT && !objs[k].managed)
				continue; /* not this certificate's */
			if (set_enabled)
				objs[k].attrs.enabled = enabled;
			if (k == OBJ_CERT && set_tags &&
			    obj_set_tags(&objs[k], tags, n_tags, err) != 0)
				goto out;
			if (k == OBJ_CERT && set_tags)
				objs[k].has_tags = true;
			objs[k].attrs.updated = clock_now_s();
			w.objs[k] = (struct cert_write_obj){
				.present = true,
				.o = &objs[k],
				.replace = true,
				.replace_version = sv,
				.material = has_m[k] ? sealed[k].data : NULL,
				.material_len = sealed[k].len,
				.material_sealed = true,
			};
		}
		if (policy != NULL && policy->given != 0) {
			if (cert_policy_load(v, name, &pol, err) != 0 ||
			    cert_policy_merge(&pol, policy, err) != 0)
				goto out;
			pol.updated = clock_now_s();
			w.policy = &pol;
		}
		if (cert_write_run(v, &w, err) == 0)
			break;
		if (err->code != KL_ECONFLICT || err->azure_code != NULL)
			goto out;
		kl_err_clear(err);
	}
	if (attempt == 16) {
		kl_fail(err, KL_EUNAVAIL, "the certificate changed too often concurrently; retry");
		goto out;
	}
	/* the answer of an update carries the policy (C2) */
	if (cert_get(v, name, ver, out, err) != 0)
		goto out;
	if (cert_policy_load(v, name, &out->policy, err) != 0) {
		cert_clear(out);
		goto out;
	}
	out->has_policy = true;
	rc = 0;
out:
	for (k = 0; k < 3; k++) {
		obj_clear(&objs[k]);
		buf_clear(&sealed[k]);
	}
	cert_policy_clear(&pol);
	return rc;
}
