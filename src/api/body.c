/* Request bodies: parsing and the type and size rules of the fields operations share
 * (attributes, tags, strings). Every failure is a 400 naming the field; parsed bodies live in
 * jansson's wiping allocator, so a secret value never outlives its request. */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "util/json.h"

int body_object(const struct api_req *req, json_t **out, struct kl_err *err)
{
	json_t *j;

	if (req->body.len == 0)
		return kl_fail(err, KL_EINVAL, "The request body is empty; a JSON object is required.");
	if ((j = json_util_parse(req->body.data, req->body.len, err)) == NULL)
		return -1;
	if (!json_is_object(j)) {
		json_decref(j);
		return kl_fail(err, KL_EINVAL, "The request body must be a JSON object.");
	}
	*out = j;
	return 0;
}

int body_opt_string(json_t *obj, const char *field, const char **out, struct kl_err *err)
{
	json_t *v = json_object_get(obj, field);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return kl_fail(err, KL_EINVAL, "The field '%s' must be a string.", field);
	*out = json_string_value(v);
	return 0;
}

int body_opt_bool(json_t *obj, const char *field, bool *out, struct kl_err *err)
{
	json_t *v = obj != NULL ? json_object_get(obj, field) : NULL;

	*out = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return kl_fail(err, KL_EINVAL, "The field '%s' must be a boolean.", field);
	*out = json_is_true(v);
	return 0;
}

size_t body_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* An IntDate member: absent or null leaves *set false. */
static int int_date(json_t *attrs, const char *field, bool *set, int64_t *value, struct kl_err *err)
{
	json_t *v = json_object_get(attrs, field);

	*set = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return kl_fail(err, KL_EINVAL, "The attribute '%s' must be an integer (Unix seconds).",
			       field);
	if (json_integer_value(v) < 0 || json_integer_value(v) > 253402300799LL)
		return kl_fail(err, KL_EINVAL, "The attribute '%s' is out of range.", field);
	*set = true;
	*value = json_integer_value(v);
	return 0;
}

int body_attrs(json_t *obj, struct obj_patch *p, struct kl_err *err)
{
	json_t *a = json_object_get(obj, "attributes"), *en;

	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_object(a))
		return kl_fail(err, KL_EINVAL, "The field 'attributes' must be an object.");
	en = json_object_get(a, "enabled");
	if (en != NULL && !json_is_null(en)) {
		if (!json_is_boolean(en))
			return kl_fail(err, KL_EINVAL, "The attribute 'enabled' must be a boolean.");
		p->set_enabled = true;
		p->enabled = json_is_true(en);
	}
	if (int_date(a, "nbf", &p->set_nbf, &p->nbf, err) != 0 ||
	    int_date(a, "exp", &p->set_exp, &p->exp, err) != 0)
		return -1;
	p->has_nbf = p->set_nbf;
	p->has_exp = p->set_exp;
	return 0;
}

void body_tags_free(struct obj_tag *tags, size_t n)
{
	(void)n;	/* the strings belong to the parsed body */
	free(tags);
}

int body_tags(json_t *obj, struct obj_patch *p, struct obj_tag **tags, struct kl_err *err)
{
	json_t *t = json_object_get(obj, "tags"), *v;
	const char *k;
	size_t n = 0;

	*tags = NULL;
	if (t == NULL || json_is_null(t))
		return 0;
	if (!json_is_object(t))
		return kl_fail(err, KL_EINVAL, "The field 'tags' must be an object of strings.");
	if (json_object_size(t) > OBJ_MAX_TAGS)
		return kl_fail(err, KL_EINVAL, "At most %d tags are allowed.", OBJ_MAX_TAGS);
	if (json_object_size(t) > 0 && (*tags = calloc(json_object_size(t), sizeof(**tags))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	json_object_foreach(t, k, v) {
		if (!json_is_string(v))
			return kl_fail(err, KL_EINVAL, "The value of tag '%.64s' must be a string.", k);
		if (*k == '\0' || body_utf8_chars(k) > OBJ_TAG_MAX_CHARS ||
		    body_utf8_chars(json_string_value(v)) > OBJ_TAG_MAX_CHARS)
			return kl_fail(err, KL_EINVAL, "Tag names must be 1 to %d characters and values at "
				       "most %d.", OBJ_TAG_MAX_CHARS, OBJ_TAG_MAX_CHARS);
		if (strlen(json_string_value(v)) != json_string_length(v) || strlen(k) == 0)
			return kl_fail(err, KL_EINVAL, "Tags must not contain NUL characters.");
		(*tags)[n].name = (char *)k;
		(*tags)[n].value = (char *)json_string_value(v);
		n++;
	}
	p->set_tags = true;
	p->tags = *tags;
	p->n_tags = n;
	return 0;
}

int body_new_object(json_t *body, struct obj *in, struct obj_tag **tags, struct kl_err *err)
{
	struct obj_patch p = { 0 };

	*tags = NULL;
	if (body_attrs(body, &p, err) != 0 || body_tags(body, &p, tags, err) != 0)
		return -1;
	in->attrs.enabled = p.set_enabled ? p.enabled : true;
	in->attrs.has_nbf = p.set_nbf;
	in->attrs.nbf = p.nbf;
	in->attrs.has_exp = p.set_exp;
	in->attrs.exp = p.exp;
	in->has_tags = p.set_tags;
	in->tags = *tags;
	in->n_tags = p.n_tags;
	return 0;
}

void body_new_object_done(struct obj *in, struct obj_tag *tags)
{
	in->tags = NULL;
	in->n_tags = 0;
	in->content_type = NULL;
	free(tags);
}
