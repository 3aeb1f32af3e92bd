/* Paged listing of objects: live names, versions of a name, deleted names. A page is one ordered
 * store scan after a cursor (the last name or version of the previous page), so pages stay
 * consistent and cheap however many objects a vault holds. Never returns material. Deleted lists
 * of keys and secrets leave out managed ones (a certificate's), so such a page may hold fewer
 * items than asked for and still have a next link. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vault/internal.h"

struct head_scan {
	size_t prefix_len;
	size_t max;
	size_t n;
	bool more;
	char lnames[OBJ_PAGE_MAX][OBJ_NAME_MAX + 1];
	struct head heads[OBJ_PAGE_MAX];
};

static int collect_head(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
			uint64_t version, struct kl_err *err)
{
	struct head_scan *s = arg;
	size_t name_len = key_len - s->prefix_len;

	(void)version;
	if (s->n == s->max) {
		s->more = true;
		return 1;
	}
	if (name_len == 0 || name_len > OBJ_NAME_MAX)
		return kl_fail(err, KL_ECORRUPT, "a stored object key is damaged");
	memcpy(s->lnames[s->n], (const char *)key + s->prefix_len, name_len);
	s->lnames[s->n][name_len] = '\0';
	if (head_decode(val, val_len, &s->heads[s->n], err) != 0)
		return -1;
	s->n++;
	return 0;
}

static int check_page_args(const char *after, size_t max, bool is_version, struct kl_err *err)
{
	size_t i;

	if (max < 1 || max > OBJ_PAGE_MAX)
		return kl_fail(err, KL_EINVAL, "maxresults must be between 1 and %d", OBJ_PAGE_MAX);
	if (after == NULL || *after == '\0')
		return 0;
	for (i = 0; after[i] != '\0'; i++)
		if (!((after[i] >= '0' && after[i] <= '9') || (after[i] >= 'a' && after[i] <= 'z') ||
		      (!is_version && after[i] == '-')))
			return kl_fail(err, KL_EINVAL, "The skip token is not valid.");
	if (is_version ? !vault_version_is_valid(after) : !vault_name_is_valid_object(after))
		return kl_fail(err, KL_EINVAL, "The skip token is not valid.");
	return 0;
}

/* Lists heads in state 'h' or 'd' with their latest versions. */
static int list_heads(struct vault *v, enum obj_kind kind, char state, const char *after, size_t max,
		      struct obj_page *page, struct kl_err *err)
{
	struct head_scan *s = NULL;
	char prefix[KEYBUF], from[KEYBUF];
	size_t i;
	int rc = -1;

	obj_page_clear(page);
	if (check_page_args(after, max, false, err) != 0)
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	keyspace_obj_head(prefix, v, kind, state, "");
	s->prefix_len = strlen(prefix);
	s->max = max;
	snprintf(from, sizeof(from), "%s%s", prefix, after ? after : "");
	if (store_scan(v->core->st, prefix, s->prefix_len, after && *after ? from : NULL,
		       after && *after ? strlen(from) : 0, collect_head, s, err) != 0)
		goto out;
	for (i = 0; i < s->n; i++) {
		struct obj *o = &page->items[page->n];

		obj_init(o);
		if (obj_version_load(v, kind, s->lnames[i], s->heads[i].latest, o, NULL, NULL, err) != 0) {
			obj_clear(o);
			if (err->code != KL_ENOTFOUND)
				goto out;
			LOG_WARN(NULL, "head of %.127s names a missing version", s->lnames[i]);
			kl_err_clear(err);
			continue;
		}
		if (state == 'd' && o->managed && kind != OBJ_CERT) {
			/* a deleted certificate's key and secret are listed with it only (as the
			 * service does); GET deletedkeys/deletedsecrets of the name still answers */
			obj_clear(o);
			continue;
		}
		memcpy(o->name, s->heads[i].display, sizeof(o->name));
		if (state == 'd')
			obj_set_deleted_fields(o, &s->heads[i]);
		page->n++;
	}
	if (s->more && s->n > 0)
		snprintf(page->next, sizeof(page->next), "%s", s->lnames[s->n - 1]);
	rc = 0;
out:
	if (rc != 0)
		obj_page_clear(page);
	free(s);
	return rc;
}

int obj_list(struct vault *v, enum obj_kind kind, const char *after, size_t max,
	     struct obj_page *page, struct kl_err *err)
{
	return list_heads(v, kind, 'h', after, max, page, err);
}

int obj_list_deleted(struct vault *v, enum obj_kind kind, const char *after, size_t max,
		     struct obj_page *page, struct kl_err *err)
{
	return list_heads(v, kind, 'd', after, max, page, err);
}

struct version_scan {
	struct obj_page *page;
	size_t max;
	bool more;
	const char *display;
};

static int collect_version(void *arg, const void *key, size_t key_len, const void *val,
			   size_t val_len, uint64_t version, struct kl_err *err)
{
	struct version_scan *s = arg;
	struct obj *o;
	const unsigned char *m;
	size_t m_len;
	bool has_m;

	(void)key;
	(void)key_len;
	(void)version;
	if (s->page->n == s->max) {
		s->more = true;
		return 1;
	}
	o = &s->page->items[s->page->n];
	obj_init(o);
	if (version_decode(val, val_len, o, &has_m, &m, &m_len, err) != 0) {
		obj_clear(o);
		return -1;
	}
	snprintf(o->name, sizeof(o->name), "%s", s->display);
	s->page->n++;
	return 0;
}

int obj_list_versions(struct vault *v, enum obj_kind kind, const char *name, const char *after,
		      size_t max, struct obj_page *page, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], prefix[KEYBUF], from[KEYBUF];
	struct version_scan s = { .page = page, .max = max };
	struct head h;
	int rc = -1;

	obj_page_clear(page);
	if (check_page_args(after, max, true, err) != 0 || obj_check_name(kind, name, lname, err) != 0)
		goto out;
	if (obj_head_load(v, kind, 'h', lname, &h, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, kind, name, NULL);
		goto out;
	}
	s.display = h.display;
	keyspace_obj_version(prefix, v, kind, lname, "");
	snprintf(from, sizeof(from), "%s%s", prefix, after ? after : "");
	if (store_scan(v->core->st, prefix, strlen(prefix), after && *after ? from : NULL,
		       after && *after ? strlen(from) : 0, collect_version, &s, err) != 0)
		goto out;
	if (s.more && page->n > 0)
		snprintf(page->next, sizeof(page->next), "%s", page->items[page->n - 1].version);
	rc = 0;
out:
	if (rc != 0)
		obj_page_clear(page);
	return rc;
}
