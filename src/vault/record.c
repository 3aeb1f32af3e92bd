/* The stored form of heads, versions and vault records (util/rec codec). Owns the byte layout and
 * its format numbers; never sees a store or a key. Sealed material passes through as bytes. */
#include <stdlib.h>
#include <string.h>

#include "util/rec.h"
#include "vault/internal.h"

#define HEAD_FORMAT 1
#define VERSION_FORMAT 1
#define VAULT_FORMAT 2

bool lower_copy(char *out, size_t n, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i + 1 >= n)
			return false;
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	}
	out[i] = '\0';
	return true;
}

int head_encode(const struct head *h, struct buf *out, struct kl_err *err)
{
	if (rec_put_u8(out, HEAD_FORMAT, err) != 0 || rec_put_str(out, h->display, err) != 0 ||
	    rec_put_str(out, h->latest, err) != 0 || rec_put_i64(out, h->deleted_date, err) != 0 ||
	    rec_put_i64(out, h->scheduled_purge, err) != 0)
		return -1;
	return 0;
}

int head_decode(const void *p, size_t n, struct head *h, struct kl_err *err)
{
	struct rec_reader r;

	rec_reader_init(&r, p, n);
	memset(h, 0, sizeof(*h));
	if (rec_get_u8(&r) != HEAD_FORMAT ||
	    !rec_get_fixed_str(&r, h->display, sizeof(h->display)) ||
	    !rec_get_fixed_str(&r, h->latest, sizeof(h->latest)))
		return kl_fail(err, KL_ECORRUPT, "a stored object head is damaged");
	h->deleted_date = rec_get_i64(&r);
	h->scheduled_purge = rec_get_i64(&r);
	if (!rec_done(&r))
		return kl_fail(err, KL_ECORRUPT, "a stored object head is damaged");
	return 0;
}

int version_encode(const struct obj *o, bool has_material, const void *material,
		   size_t material_len, struct buf *out, struct kl_err *err)
{
	const struct obj_attrs *a = &o->attrs;
	size_t i;

	if (rec_put_u8(out, VERSION_FORMAT, err) != 0 || rec_put_str(out, o->version, err) != 0 ||
	    rec_put_i64(out, a->created, err) != 0 || rec_put_i64(out, a->updated, err) != 0 ||
	    rec_put_u8(out, a->enabled, err) != 0 || rec_put_u8(out, a->has_nbf, err) != 0 ||
	    rec_put_i64(out, a->nbf, err) != 0 || rec_put_u8(out, a->has_exp, err) != 0 ||
	    rec_put_i64(out, a->exp, err) != 0 || rec_put_str(out, o->content_type, err) != 0 ||
	    rec_put_u8(out, o->has_tags, err) != 0 || rec_put_u64(out, o->n_tags, err) != 0)
		return -1;
	for (i = 0; i < o->n_tags; i++)
		if (rec_put_str(out, o->tags[i].name, err) != 0 ||
		    rec_put_str(out, o->tags[i].value, err) != 0)
			return -1;
	if (rec_put_u8(out, o->managed, err) != 0 ||
	    rec_put_bytes(out, o->pub.data, o->pub.len, err) != 0 ||
	    rec_put_u8(out, has_material, err) != 0 ||
	    rec_put_bytes(out, material, has_material ? material_len : 0, err) != 0)
		return -1;
	return 0;
}

int version_decode(const void *p, size_t n, struct obj *o, bool *has_material,
		   const unsigned char **material, size_t *material_len, struct kl_err *err)
{
	struct obj_attrs *a = &o->attrs;
	struct rec_reader r;
	const unsigned char *pub;
	size_t pub_len, i;
	uint64_t n_tags;
	int rc = -1;

	rec_reader_init(&r, p, n);
	if (rec_get_u8(&r) != VERSION_FORMAT ||
	    !rec_get_fixed_str(&r, o->version, sizeof(o->version)))
		goto bad;
	a->created = rec_get_i64(&r);
	a->updated = rec_get_i64(&r);
	a->enabled = rec_get_u8(&r) != 0;
	a->has_nbf = rec_get_u8(&r) != 0;
	a->nbf = rec_get_i64(&r);
	a->has_exp = rec_get_u8(&r) != 0;
	a->exp = rec_get_i64(&r);
	o->content_type = rec_get_str(&r);
	o->has_tags = rec_get_u8(&r) != 0;
	n_tags = rec_get_u64(&r);
	if (r.bad || n_tags > OBJ_MAX_TAGS)
		goto bad;
	o->tags = n_tags ? calloc(n_tags, sizeof(*o->tags)) : NULL;
	if (n_tags && o->tags == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	o->n_tags = n_tags;
	for (i = 0; i < n_tags; i++) {
		o->tags[i].name = rec_get_str(&r);
		o->tags[i].value = rec_get_str(&r);
		if (o->tags[i].name == NULL || o->tags[i].value == NULL)
			goto bad;
	}
	o->managed = rec_get_u8(&r) != 0;
	pub = rec_get_bytes(&r, &pub_len);
	*has_material = rec_get_u8(&r) != 0;
	*material = rec_get_bytes(&r, material_len);
	if (!rec_done(&r) || pub == NULL || *material == NULL)
		goto bad;
	buf_reset(&o->pub);
	if (pub_len > 0 && buf_append(&o->pub, pub, pub_len, err) != 0)
		goto out;
	rc = 0;
	goto out;
bad:
	rec_fail(&r, err, "a stored object version is damaged");
out:
	return rc;
}

int vault_rec_encode(const struct vault_info *v, struct buf *out, struct kl_err *err)
{
	if (rec_put_u8(out, VAULT_FORMAT, err) != 0 || rec_put_str(out, v->name, err) != 0 ||
	    rec_put_i64(out, v->created, err) != 0 || rec_put_u64(out, (uint64_t)v->retention_days, err) != 0 ||
	    rec_put_u8(out, v->purge_protection, err) != 0 ||
	    rec_put_str(out, v->subscription, err) != 0 || rec_put_str(out, v->resource_group, err) != 0 ||
	    rec_put_str(out, v->location, err) != 0 || rec_put_i64(out, v->updated, err) != 0 ||
	    rec_put_u8(out, v->rbac, err) != 0 || rec_put_u8(out, (uint8_t)v->state, err) != 0 ||
	    rec_put_i64(out, v->deleted_date, err) != 0 || rec_put_i64(out, v->scheduled_purge, err) != 0 ||
	    rec_put_bytes(out, v->props.data, v->props.len, err) != 0)
		return -1;
	return 0;
}

int vault_rec_decode(const void *p, size_t n, struct vault_info *v, struct kl_err *err)
{
	struct rec_reader r;
	const unsigned char *props;
	uint64_t days;
	uint8_t format, state;
	size_t props_len = 0;

	rec_reader_init(&r, p, n);
	buf_reset(&v->props);
	format = rec_get_u8(&r);
	if ((format != 1 && format != VAULT_FORMAT) ||
	    !rec_get_fixed_str(&r, v->name, sizeof(v->name)))
		goto bad;
	v->created = v->updated = rec_get_i64(&r);
	days = rec_get_u64(&r);
	v->purge_protection = rec_get_u8(&r) != 0;
	v->subscription[0] = v->resource_group[0] = v->location[0] = '\0';
	v->rbac = true;
	v->state = VAULT_LIVE;
	v->deleted_date = v->scheduled_purge = 0;
	if (format == VAULT_FORMAT) {
		if (!rec_get_fixed_str(&r, v->subscription, sizeof(v->subscription)) ||
		    !rec_get_fixed_str(&r, v->resource_group, sizeof(v->resource_group)) ||
		    !rec_get_fixed_str(&r, v->location, sizeof(v->location)))
			goto bad;
		v->updated = rec_get_i64(&r);
		v->rbac = rec_get_u8(&r) != 0;
		state = rec_get_u8(&r);
		v->deleted_date = rec_get_i64(&r);
		v->scheduled_purge = rec_get_i64(&r);
		props = rec_get_bytes(&r, &props_len);
		if (state > VAULT_PURGING || props == NULL ||
		    buf_append(&v->props, props, props_len, err) != 0)
			goto bad;
		v->state = (enum vault_state)state;
	}
	if (!rec_done(&r) || days < 7 || days > 90)
		goto bad;
	v->retention_days = (int)days;
	return 0;
bad:
	if (err->code == KL_ENOMEM)
		return -1;
	return kl_fail(err, KL_ECORRUPT, "a stored vault record is damaged");
}
