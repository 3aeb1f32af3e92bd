/* The end of a deleted name: its purge, asked for (obj_purge) or due (obj_purge_due, the purge
 * job), as one store transaction that holds only while the deleted head is unchanged. Split from
 * object.c, whose key layout it uses; it never touches a live name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "vault/internal.h"

int obj_purge_name(struct vault_core *core, const char *vname, enum obj_kind kind,
		   const char *lname, const char *refuse_op, struct kl_err *err)
{
	struct vault v = { .core = core };
	char dkey[KEYBUF], pkey[KEYBUF], prefix[KEYBUF], side[KEYBUF], side_index[KEYBUF];
	struct key_list versions = { 0 };
	struct store_op *ops = NULL;
	struct head h;
	uint64_t dv, cert_dv;
	size_t i, n = 0;
	int rc = -1;

	snprintf(v.name, sizeof(v.name), "%s", vname);
	if (kind == OBJ_CERT)
		return cert_purge_name(core, vname, lname, err);
	if (refuse_op == NULL) {
		/* the job: a deleted certificate's key or secret goes with the certificate, never
		 * alone */
		if (obj_head_version(&v, OBJ_CERT, 'd', lname, &cert_dv, err) != 0)
			goto out;
		if (cert_dv != 0)
			return cert_purge_name(core, vname, lname, err);
	}
	keyspace_obj_head(dkey, &v, kind, 'd', lname);
	if (obj_head_load(&v, kind, 'd', lname, &h, &dv, err) != 0)
		goto out;
	if (refuse_op != NULL && obj_refuse_managed(&v, kind, lname, &h, refuse_op, err) != 0)
		goto out;
	keyspace_purge_schedule(pkey, h.scheduled_purge, vname, obj_kinds[kind].tag, lname);
	keyspace_obj_versions(prefix, vname, obj_kinds[kind].tag, lname);
	if (store_scan(core->st, prefix, strlen(prefix), NULL, 0, key_list_collect, &versions, err) != 0)
		goto out;
	/* per-name records beside the versions (a key's rotation policy) and their index */
	keyspace_obj_side(side, vname, obj_kinds[kind].tag, lname);
	keyspace_rotation_index(side_index, vname, lname);
	if ((ops = calloc(versions.n + 5, sizeof(*ops))) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	ops[n++] = (struct store_op){ .kind = STORE_CHECK, .key = dkey, .key_len = strlen(dkey), .version = dv };
	ops[n++] = (struct store_op){ .kind = STORE_DEL, .key = dkey, .key_len = strlen(dkey) };
	ops[n++] = (struct store_op){ .kind = STORE_DEL, .key = pkey, .key_len = strlen(pkey) };
	if (kind == OBJ_KEY) {
		ops[n++] = (struct store_op){ .kind = STORE_DEL, .key = side, .key_len = strlen(side) };
		ops[n++] = (struct store_op){ .kind = STORE_DEL, .key = side_index,
					      .key_len = strlen(side_index) };
	}
	for (i = 0; i < versions.n; i++)
		ops[n++] = (struct store_op){ .kind = STORE_DEL, .key = versions.keys[i],
					      .key_len = strlen(versions.keys[i]) };
	rc = store_txn(core->st, ops, n, err);
out:
	free(ops);
	key_list_clear(&versions);
	return rc;
}

int obj_fail_purge_protected(struct kl_err *err)
{
	return kl_fail_az(err, KL_EFORBIDDEN, "Forbidden", NULL,
			  "Operation \"purge\" is not allowed because purge protection is enabled "
			  "for this vault. Key Vault service will automatically purge it after the "
			  "retention period has passed.");
}

int obj_purge(struct vault *v, enum obj_kind kind, const char *name, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1];
	int attempt;

	if (name == NULL || !vault_name_is_valid_object(name) || !lower_copy(lname, sizeof(lname), name))
		return obj_fail_deleted_not_found(err, kind, name ? name : "");
	if (v->purge_protection)
		return obj_fail_purge_protected(err);
	for (attempt = 0; attempt < OBJ_TXN_ATTEMPTS; attempt++) {
		if (obj_purge_name(v->core, v->name, kind, lname, "purge", err) == 0)
			return 0;
		if (err->code == KL_ENOTFOUND)
			return obj_fail_deleted_not_found(err, kind, name);
		if (err->code != KL_ECONFLICT)
			return -1;
		kl_err_clear(err);
		vault_txn_backoff(attempt);
	}
	return kl_fail(err, KL_EUNAVAIL, "the object changed too often concurrently; retry");
}

struct due_scan {
	char until[32];		/* "p/<16 hex>" of now */
	struct key_list keys;
};

static int collect_due(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		       uint64_t version, struct kl_err *err)
{
	struct due_scan *d = arg;

	(void)val;
	(void)val_len;
	(void)version;
	if (key_len < 18 || memcmp(key, d->until, 18) > 0)
		return 1;	/* schedules are in time order: nothing later is due */
	if (key_list_add(&d->keys, key, key_len, err) != 0)
		return -1;
	return d->keys.n >= 256 ? 1 : 0;
}

int obj_purge_due(struct vault_core *core, int64_t now, size_t *n_purged, struct kl_err *err)
{
	struct due_scan d;
	size_t i;
	int rc = -1;

	*n_purged = 0;
	memset(&d, 0, sizeof(d));
	snprintf(d.until, sizeof(d.until), KEYSPACE_PURGE_SCHEDULE "%016llx",
		 (unsigned long long)now);
	do {
		key_list_clear(&d.keys);
		if (store_scan(core->st, KEYSPACE_PURGE_SCHEDULE, 2, NULL, 0, collect_due, &d,
			       err) != 0)
			goto out;
		for (i = 0; i < d.keys.n; i++) {
			/* p/<16 hex>/<vault>/<tag>/<name> */
			char vname[VAULT_NAME_MAX + 1], lname[OBJ_NAME_MAX + 1], tag;
			char *rest = d.keys.keys[i] + 19;
			char *slash1 = strchr(rest, '/');
			enum obj_kind kind;

			if (slash1 == NULL || (size_t)(slash1 - rest) > VAULT_NAME_MAX || slash1[1] == '\0' ||
			    slash1[2] != '/' || strlen(slash1 + 3) > OBJ_NAME_MAX) {
				LOG_WARN(NULL, "dropping malformed purge schedule %.64s", d.keys.keys[i]);
				store_del(core->st, d.keys.keys[i], strlen(d.keys.keys[i]), err);
				continue;
			}
			memcpy(vname, rest, (size_t)(slash1 - rest));
			vname[slash1 - rest] = '\0';
			tag = slash1[1];
			snprintf(lname, sizeof(lname), "%s", slash1 + 3);
			kind = tag == 'k' ? OBJ_KEY : tag == 'c' ? OBJ_CERT : OBJ_SECRET;
			if (obj_purge_name(core, vname, kind, lname, NULL, err) == 0) {
				(*n_purged)++;
				continue;
			}
			if (err->code == KL_ENOTFOUND) {	/* recovered meanwhile: stale schedule */
				kl_err_clear(err);
				store_del(core->st, d.keys.keys[i], strlen(d.keys.keys[i]), err);
				continue;
			}
			if (err->code != KL_ECONFLICT)
				goto out;
			kl_err_clear(err);	/* changed under us; the next pass sees it again */
		}
	} while (d.keys.n >= 256);
	rc = 0;
out:
	key_list_clear(&d.keys);
	return rc;
}
