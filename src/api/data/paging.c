/* Paging: maxresults and the opaque $skiptoken in, absolute nextLink out. The token is the
 * base64url of a versioned cursor; anything else a client sends as a token is a 400. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "util/b64url.h"

#define TOKEN_PREFIX "kl1:"

int paging_args(const struct api_req *req, size_t *max, bool *max_given, char *after,
		size_t after_size, struct kl_err *err)
{
	const char *m = api_query(req, "maxresults"), *t = api_query(req, "$skiptoken");
	struct buf raw;
	unsigned long long n = 0;
	size_t i;
	int rc = -1;

	buf_init(&raw, 512);
	*max = OBJ_PAGE_MAX;
	*max_given = false;
	after[0] = '\0';
	if (m != NULL) {
		for (i = 0; m[i] != '\0'; i++) {
			if (m[i] < '0' || m[i] > '9' || i >= 9) {
				kl_fail(err, KL_EINVAL, "maxresults must be an integer from 1 to %d.",
					OBJ_PAGE_MAX);
				goto out;
			}
			n = n * 10 + (unsigned long long)(m[i] - '0');
		}
		if (i == 0 || n < 1) {
			kl_fail(err, KL_EINVAL, "maxresults must be an integer from 1 to %d.", OBJ_PAGE_MAX);
			goto out;
		}
		*max = n > OBJ_PAGE_MAX ? OBJ_PAGE_MAX : (size_t)n;
		*max_given = true;
	}
	if (t != NULL && *t != '\0') {
		if (strlen(t) > 400 || b64url_decode(t, strlen(t), &raw, err) != 0 ||
		    raw.len <= strlen(TOKEN_PREFIX) || raw.len - strlen(TOKEN_PREFIX) >= after_size ||
		    memcmp(raw.data, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 ||
		    memchr(raw.data, '\0', raw.len) != NULL) {
			kl_fail(err, KL_EINVAL, "The skip token is not valid.");
			goto out;
		}
		memcpy(after, raw.data + strlen(TOKEN_PREFIX), raw.len - strlen(TOKEN_PREFIX));
		after[raw.len - strlen(TOKEN_PREFIX)] = '\0';
	}
	rc = 0;
out:
	buf_clear(&raw);
	return rc;
}

int paging_next_link(const struct api_call *c, const char *path, const char *next, size_t max,
		     bool max_given, json_t *page)
{
	struct buf tok, link;
	struct kl_err err;
	int rc = -1;

	buf_init(&tok, 1024);
	buf_init(&link, 4096);
	if (next == NULL || *next == '\0') {
		json_object_set_new(page, "nextLink", json_null());
		rc = 0;
		goto out;
	}
	if (buf_append_str(&tok, TOKEN_PREFIX, &err) != 0 || buf_append_str(&tok, next, &err) != 0) {
		goto out;
	}
	if (buf_printf(&link, &err, "https://%s%s?api-version=%s&$skiptoken=", c->host, path,
		       c->api_version) != 0 ||
	    b64url_encode(tok.data, tok.len, &link, &err) != 0 ||
	    (max_given && buf_printf(&link, &err, "&maxresults=%zu", max) != 0))
		goto out;
	json_object_set_new(page, "nextLink", json_string(buf_cstr(&link)));
	rc = 0;
out:
	buf_clear(&tok);
	buf_clear(&link);
	return rc;
}

json_t *paging_page(const struct api_call *c, const char *path, json_t *items,
		    const struct obj_page *p, size_t max, bool max_given)
{
	json_t *page = json_object();

	if (page == NULL || items == NULL) {
		json_decref(page);
		json_decref(items);
		return NULL;
	}
	json_object_set_new(page, "value", items);
	if (paging_next_link(c, path, p->next, max, max_given, page) != 0) {
		json_decref(page);
		return NULL;
	}
	return page;
}

int paging_reply(struct api_call *c, const char *path, const struct obj_page *p, size_t max,
		 bool max_given, paging_item_fn item, bool versioned)
{
	json_t *items = json_array();
	size_t i;

	for (i = 0; items != NULL && i < p->n; i++) {
		json_t *it = item(c, &p->items[i], versioned);

		if (it == NULL || json_array_append_new(items, it) != 0) {
			json_decref(items);
			items = NULL;
		}
	}
	return api_reply_json(c, 200, paging_page(c, path, items, p, max, max_given));
}

/* The versions of a name. A name with no live object (never made, deleted, or purged) has no
 * versions to list: the service answers an empty page, not 404, and the SDKs' own tests count on
 * it, so only that case turns into an empty page; a bad name or cursor stays an error. */
static int list_versions(struct api_call *c, enum obj_kind kind, const char *name,
			 const char *after, size_t max, struct obj_page *p)
{
	if (obj_list_versions(&c->vault, kind, name, after, max, p, &c->err) == 0)
		return 0;
	if (c->err.code != KL_ENOTFOUND)
		return -1;
	obj_page_clear(p);
	kl_err_clear(&c->err);
	return 0;
}

int paging_list(struct api_call *c, enum obj_kind kind, enum paging_mode mode, const char *name,
		const char *path, paging_item_fn item)
{
	struct obj_page *p = calloc(1, sizeof(*p));
	char after[OBJ_NAME_MAX + 1];
	size_t max;
	bool given;
	int rc = -1;

	if (p == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	if (paging_args(c->req, &max, &given, after, sizeof(after), &c->err) != 0)
		goto out;
	if (mode == PAGING_LIVE)
		rc = obj_list(&c->vault, kind, after, max, p, &c->err);
	else if (mode == PAGING_VERSIONS)
		rc = list_versions(c, kind, name, after, max, p);
	else
		rc = obj_list_deleted(&c->vault, kind, after, max, p, &c->err);
	if (rc == 0)
		rc = paging_reply(c, path, p, max, given, item, mode == PAGING_VERSIONS);
out:
	if (p != NULL)
		obj_page_clear(p);
	free(p);
	return rc;
}
