/* Role assignments (assignments.h): each one is two records written and removed together, one
 * keyed for the per-request lookup (scope, principal) and one keyed by the assignment's id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/rand.h"
#include "util/clock.h"
#include "util/rec.h"
#include "vault/assignments.h"
#include "vault/internal.h"

#define ASSIGN_FORMAT 1
#define DEPLOYMENT_SCOPE KEYSPACE_DEPLOYMENT_SCOPE

static const char *scope_of(const char *vault)
{
	return vault[0] != '\0' ? vault : DEPLOYMENT_SCOPE;
}

static void key_lookup(char *out, const struct assignment *a)
{
	keyspace_assignment(out, a->vault, a->principal_id, a->role_id);
}

static void key_id(char *out, const char *id)
{
	keyspace_assignment_id(out, id);
}

static int encode(const struct assignment *a, struct buf *out, struct kl_err *err)
{
	if (rec_put_u8(out, ASSIGN_FORMAT, err) != 0 || rec_put_str(out, a->id, err) != 0 ||
	    rec_put_str(out, a->principal_id, err) != 0 || rec_put_str(out, a->role_id, err) != 0 ||
	    rec_put_str(out, a->vault, err) != 0 || rec_put_i64(out, a->created, err) != 0)
		return -1;
	return 0;
}

static int decode(const void *p, size_t n, struct assignment *a, struct kl_err *err)
{
	struct rec_reader r;

	rec_reader_init(&r, p, n);
	memset(a, 0, sizeof(*a));
	if (rec_get_u8(&r) != ASSIGN_FORMAT || !rec_get_fixed_str(&r, a->id, sizeof(a->id)) ||
	    !rec_get_fixed_str(&r, a->principal_id, sizeof(a->principal_id)) ||
	    !rec_get_fixed_str(&r, a->role_id, sizeof(a->role_id)) ||
	    !rec_get_fixed_str(&r, a->vault, sizeof(a->vault)))
		return kl_fail(err, KL_ECORRUPT, "a stored role assignment is damaged");
	a->created = rec_get_i64(&r);
	if (!rec_done(&r))
		return kl_fail(err, KL_ECORRUPT, "a stored role assignment is damaged");
	return 0;
}

static bool is_token(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
				  (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
			return false;
	return i > 0;
}

int assignment_create(struct vault_core *core, struct assignment *in, struct kl_err *err)
{
	char lookup[KEYBUF], byid[KEYBUF], pkey[KEYBUF];
	struct buf rec, pval;
	struct vault v;
	uint64_t pversion;
	int rc = -1;

	buf_init(&rec, 4096);
	buf_init(&pval, 64 * 1024);
	if (!is_token(in->principal_id, 36) || !is_token(in->role_id, ASSIGN_ROLE_MAX)) {
		kl_fail(err, KL_EINVAL, "a role assignment needs a principal and a role");
		goto out;
	}
	keyspace_principal(pkey, in->principal_id);
	if (store_get(core->st, pkey, strlen(pkey), &pval, &pversion, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail_az(err, KL_ENOTFOUND, "PrincipalNotFound", NULL,
				   "The principal '%.36s' does not exist.", in->principal_id);
		goto out;
	}
	if (in->vault[0] != '\0') {
		if (vault_open(core, in->vault, &v, err) != 0)
			goto out;
		memcpy(in->vault, v.name, sizeof(in->vault));	/* lowercase */
	}
	if (crypto_random_uuid(in->id, err) != 0)
		goto out;
	in->created = clock_now_s();
	key_lookup(lookup, in);
	key_id(byid, in->id);
	if (encode(in, &rec, err) != 0)
		goto out;
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = pkey, .key_len = strlen(pkey), .version = pversion },
		{ .kind = STORE_CHECK, .key = lookup, .key_len = strlen(lookup), .version = 0 },
		{ .kind = STORE_PUT, .key = lookup, .key_len = strlen(lookup), .val = rec.data,
		  .val_len = rec.len },
		{ .kind = STORE_PUT, .key = byid, .key_len = strlen(byid), .val = rec.data,
		  .val_len = rec.len },
	};
	if (store_txn(core->st, ops, sizeof(ops) / sizeof(ops[0]), err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "RoleAssignmentExists", NULL,
				   "The principal already holds this role on this scope (or changed "
				   "concurrently).");
		goto out;
	}
	rc = 0;
out:
	buf_clear(&rec);
	buf_clear(&pval);
	return rc;
}

int assignment_get(struct vault_core *core, const char *id, struct assignment *out,
		   struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, 4096);
	if (!is_token(id, 36)) {
		kl_fail_az(err, KL_ENOTFOUND, "RoleAssignmentNotFound", NULL,
			   "The role assignment '%.40s' does not exist.", id);
		goto out;
	}
	key_id(key, id);
	if (store_get(core->st, key, strlen(key), &val, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			kl_fail_az(err, KL_ENOTFOUND, "RoleAssignmentNotFound", NULL,
				   "The role assignment '%.40s' does not exist.", id);
		goto out;
	}
	rc = decode(val.data, val.len, out, err);
out:
	buf_clear(&val);
	return rc;
}

static int remove_one(struct vault_core *core, const struct assignment *a, struct kl_err *err)
{
	char lookup[KEYBUF], byid[KEYBUF];

	key_lookup(lookup, a);
	key_id(byid, a->id);
	struct store_op ops[] = {
		{ .kind = STORE_DEL, .key = lookup, .key_len = strlen(lookup) },
		{ .kind = STORE_DEL, .key = byid, .key_len = strlen(byid) },
	};
	return store_txn(core->st, ops, 2, err);
}

int assignment_delete(struct vault_core *core, const char *id, struct assignment *out,
		      struct kl_err *err)
{
	if (assignment_get(core, id, out, err) != 0)
		return -1;
	return remove_one(core, out, err);
}

struct each_scan {
	const char *principal_id;
	assignment_fn fn;
	void *arg;
	bool deployment_only;
};

static int each_one(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		    uint64_t version, struct kl_err *err)
{
	struct each_scan *e = arg;
	struct assignment a;

	(void)key;
	(void)key_len;
	(void)version;
	if (decode(val, val_len, &a, err) != 0)
		return -1;
	if (e->principal_id != NULL && strcmp(a.principal_id, e->principal_id) != 0)
		return 0;
	if (e->deployment_only && a.vault[0] != '\0')
		return 0;
	return e->fn(e->arg, &a, err);
}

int assignment_each(struct vault_core *core, const char *vault, const char *principal_id,
		    assignment_fn fn, void *arg, struct kl_err *err)
{
	struct each_scan e = { .principal_id = principal_id, .fn = fn, .arg = arg };
	char prefix[KEYBUF];

	if (vault == NULL)
		snprintf(prefix, sizeof(prefix), "%s", KEYSPACE_ASSIGNMENTS);
	else if (principal_id != NULL && is_token(principal_id, 36))
		snprintf(prefix, sizeof(prefix), "%s%s/%s/", KEYSPACE_ASSIGNMENTS, scope_of(vault),
			 principal_id);
	else
		snprintf(prefix, sizeof(prefix), "%s%s/", KEYSPACE_ASSIGNMENTS, scope_of(vault));
	return store_scan(core->st, prefix, strlen(prefix), NULL, 0, each_one, &e, err);
}

struct roles_scan {
	char (*roles)[ASSIGN_ROLE_MAX + 1];
	size_t max, n;
};

static int add_role(void *arg, const struct assignment *a, struct kl_err *err)
{
	struct roles_scan *r = arg;

	(void)err;
	if (r->n < r->max)
		memcpy(r->roles[r->n++], a->role_id, sizeof(a->role_id));
	return 0;
}

int assignment_roles(struct vault_core *core, const char *vault, const char *principal_id,
		     char roles[][ASSIGN_ROLE_MAX + 1], size_t max, size_t *n, struct kl_err *err)
{
	struct roles_scan r = { .roles = roles, .max = max };
	int rc;

	*n = 0;
	if (!is_token(principal_id, 36))
		return 0;
	rc = assignment_each(core, "", principal_id, add_role, &r, err);
	if (rc == 0 && vault != NULL && vault[0] != '\0')
		rc = assignment_each(core, vault, principal_id, add_role, &r, err);
	*n = r.n;
	return rc;
}

static int collect(void *arg, const struct assignment *a, struct kl_err *err)
{
	struct assignment **list = arg;
	size_t n = 0;
	struct assignment *grown;

	while ((*list)[n].id[0] != '\0')
		n++;
	if ((grown = realloc(*list, (n + 2) * sizeof(*grown))) == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	grown[n] = *a;
	memset(&grown[n + 1], 0, sizeof(grown[n + 1]));
	*list = grown;
	return 0;
}

/* Removes every assignment that assignment_each(vault, principal) visits. */
static int drop(struct vault_core *core, const char *vault, const char *principal_id,
		struct kl_err *err)
{
	struct assignment *list = calloc(1, sizeof(*list));
	size_t i;
	int rc = -1;

	if (list == NULL)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	if (assignment_each(core, vault, principal_id, collect, &list, err) != 0)
		goto out;
	for (i = 0; list[i].id[0] != '\0'; i++)
		if (remove_one(core, &list[i], err) != 0)
			goto out;
	rc = 0;
out:
	free(list);
	return rc;
}

int assignments_drop_vault(struct vault_core *core, const char *vault, struct kl_err *err)
{
	return vault[0] != '\0' ? drop(core, vault, NULL, err) : 0;
}

int assignments_drop_principal(struct vault_core *core, const char *principal_id,
			       struct kl_err *err)
{
	return drop(core, NULL, principal_id, err);
}
