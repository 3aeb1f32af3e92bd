/* The domain model shared by the operations of one vault: attributes, tags, object versions,
 * pages, and the handle of an open vault. No JSON, no HTTP. */
#ifndef KLUIS_VAULT_VAULT_H
#define KLUIS_VAULT_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

struct vault_core;

#define VAULT_NAME_MAX 24
#define OBJ_NAME_MAX 127
#define OBJ_MAX_TAGS 15
#define OBJ_TAG_MAX_CHARS 512
#define OBJ_CONTENT_TYPE_MAX_CHARS 255
#define OBJ_PAGE_MAX 25

/* An open vault: valid while the core is open; plain data, no cleanup needed. */
struct vault {
	struct vault_core *core;
	char name[VAULT_NAME_MAX + 1];	/* lowercase: the store key */
	int retention_days;		/* soft-delete retention, 7..90 */
	bool purge_protection;
	bool rbac;			/* role assignments, or access policies (the API's) */
	int64_t created;
};

struct obj_attrs {
	bool enabled;
	bool has_nbf, has_exp;
	int64_t nbf, exp;		/* Unix seconds */
	int64_t created, updated;	/* set by the core */
};

struct obj_tag {
	char *name;
	char *value;
};

/* One version of an object, as stored, plus the deletion fields of a deleted name. Fields are
 * owned; obj_clear frees them. */
struct obj {
	char name[OBJ_NAME_MAX + 1];	/* as given at creation */
	char version[33];
	struct obj_attrs attrs;
	char *content_type;		/* NULL when absent */
	bool has_tags;
	struct obj_tag *tags;
	size_t n_tags;
	bool managed;
	struct buf pub;			/* kind-specific public data, stored as is */
	bool is_deleted;
	int64_t deleted_date, scheduled_purge;
};

/* Changes an update may carry; absent fields keep their value. */
struct obj_patch {
	bool set_enabled, enabled;
	bool set_nbf, set_exp;
	bool has_nbf, has_exp;		/* with set_*: false clears the date */
	int64_t nbf, exp;
	bool set_content_type;
	const char *content_type;	/* NULL clears */
	bool set_tags;
	const struct obj_tag *tags;
	size_t n_tags;
	bool set_pub;
	const void *pub;
	size_t pub_len;
};

struct obj_page {
	struct obj items[OBJ_PAGE_MAX];
	size_t n;
	char next[OBJ_NAME_MAX + 1];	/* "" when this is the last page */
};

void obj_init(struct obj *o);
void obj_clear(struct obj *o);
void obj_page_clear(struct obj_page *p);
/* Deep copy of the tags into o (replacing any). */
int obj_set_tags(struct obj *o, const struct obj_tag *tags, size_t n, struct kl_err *err);

/* Opens the vault of that name (case-insensitive). KL_ENOTFOUND VaultNotFound when absent. */
int vault_open(struct vault_core *core, const char *name, struct vault *out, struct kl_err *err);

/* Is s a valid object name (^[0-9a-zA-Z-]{1,127}$)? */
bool vault_name_is_valid_object(const char *s);
/* Is s a valid vault name (3-24 of [a-zA-Z0-9-], starts with a letter, ends with a letter or
 * digit, no "--")? */
bool vault_name_is_valid_vault(const char *s);
/* Is s a version id (32 hex digits, either case)? */
bool vault_version_is_valid(const char *s);

/* The recovery level and days the attributes of this vault's objects report. */
const char *vault_recovery_level(const struct vault *v);

#endif
