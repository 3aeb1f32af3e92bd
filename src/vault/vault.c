/* Vault handles, name rules, and the lifetime of the domain structs. Owns nothing persistent
 * beyond reading vault records (through the node's vault cache, vault/authcache.h); never sees
 * JSON or HTTP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/secbuf.h"
#include "vault/authcache.h"
#include "vault/internal.h"

void obj_init(struct obj *o)
{
	memset(o, 0, sizeof(*o));
	buf_init(&o->pub, 1024 * 1024);
}

static void tags_free(struct obj_tag *tags, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(tags[i].name);
		free(tags[i].value);
	}
	free(tags);
}

void obj_clear(struct obj *o)
{
	free(o->content_type);
	tags_free(o->tags, o->n_tags);
	buf_clear(&o->pub);
	obj_init(o);
}

void obj_page_clear(struct obj_page *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		obj_clear(&p->items[i]);
	p->n = 0;
	p->next[0] = '\0';
}

int obj_set_tags(struct obj *o, const struct obj_tag *tags, size_t n, struct kl_err *err)
{
	struct obj_tag *copy = NULL;
	size_t i;
	int rc = -1;

	if (n > 0 && (copy = calloc(n, sizeof(*copy))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		copy[i].name = strdup(tags[i].name);
		copy[i].value = strdup(tags[i].value);
		if (copy[i].name == NULL || copy[i].value == NULL) {
			tags_free(copy, i + 1);
			copy = NULL;
			kl_fail(err, KL_ENOMEM, "out of memory");
			goto out;
		}
	}
	tags_free(o->tags, o->n_tags);
	o->tags = copy;
	o->n_tags = n;
	o->has_tags = true;
	copy = NULL;
	rc = 0;
out:
	return rc;
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool vault_name_is_valid_object(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= OBJ_NAME_MAX || !(is_alnum(s[i]) || s[i] == '-'))
			return false;
	return i > 0;
}

bool vault_name_is_valid_vault(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 3 || n > VAULT_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) ||
	    !is_alnum(s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!(is_alnum(s[i]) || s[i] == '-') || (s[i] == '-' && s[i + 1] == '-'))
			return false;
	return true;
}

bool vault_version_is_valid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= 32 || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
				 (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return i == 32;
}

void vault_info_init(struct vault_info *vi)
{
	memset(vi, 0, sizeof(*vi));
	buf_init(&vi->props, VAULT_PROPS_MAX);
}

void vault_info_clear(struct vault_info *vi)
{
	buf_clear(&vi->props);
	vault_info_init(vi);
}

int vault_open(struct vault_core *core, const char *name, struct vault *out, struct kl_err *err)
{
	char key[KEYBUF];
	char lname[VAULT_NAME_MAX + 1];
	struct buf val;
	struct vault_info r;
	uint64_t epoch;
	int rc = -1;

	buf_init(&val, VAULT_PROPS_MAX + 4096);
	vault_info_init(&r);
	if (!vault_name_is_valid_vault(name) || !lower_copy(lname, sizeof(lname), name) ||
	    !keyspace_vault(key, name)) {
		kl_fail_az(err, KL_ENOTFOUND, "VaultNotFound", NULL,
			   "The vault '%.64s' does not exist in this deployment.", name);
		goto out;
	}
	if (authcache_vault_find(core, lname, out)) {
		rc = 0;
		goto out;
	}
	epoch = authcache_epoch(core);	/* before the read: a change meanwhile voids the entry */
	if (store_get(core->st, key, strlen(key), &val, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail_az(err, KL_ENOTFOUND, "VaultNotFound", NULL,
				   "The vault '%.64s' does not exist in this deployment.", name);
		goto out;
	}
	if (vault_rec_decode(val.data, val.len, &r, err) != 0)
		goto out;
	if (r.state != VAULT_LIVE) {
		kl_fail_az(err, KL_ENOTFOUND, "VaultNotFound", NULL,
			   "The vault '%.64s' does not exist in this deployment.", name);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->core = core;
	memcpy(out->name, lname, sizeof(lname));
	out->retention_days = r.retention_days;
	out->purge_protection = r.purge_protection;
	out->rbac = r.rbac;
	out->created = r.created;
	authcache_vault_put(core, out, epoch);
	rc = 0;
out:
	vault_info_clear(&r);
	buf_clear(&val);
	return rc;
}

const char *vault_recovery_level(const struct vault *v)
{
	if (v->retention_days >= 90)
		return v->purge_protection ? "Recoverable" : "Recoverable+Purgeable";
	return v->purge_protection ? "CustomizedRecoverable" : "CustomizedRecoverable+Purgeable";
}
