/* Vaults as resources (vaults.h): records V/<lowercase name> holding a vault_info, changed only
 * in transactions that check the record's version, so concurrent writers never lose a change.
 * A purge first marks the vault as purging (the name stays taken), then deletes what the vault
 * held in bounded transactions, then the record: an interrupted purge is finished by the job. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "vault/assignments.h"
#include "vault/internal.h"

#define DAY_S 86400

static int fail_not_found(struct kl_err *err, const char *name, bool deleted)
{
	return kl_fail_az(err, KL_ENOTFOUND, deleted ? "DeletedVaultNotFound" : "VaultNotFound", NULL,
			  deleted ? "The deleted vault '%.64s' was not found."
				  : "The vault '%.64s' was not found.", name);
}

/* Loads the record of name whatever its state; KL_ENOTFOUND (plain) when there is none. */
static int load(struct vault_core *core, const char *name, struct vault_info *out, uint64_t *version,
		struct kl_err *err)
{
	char key[KEYBUF];
	struct buf val;
	int rc = -1;

	buf_init(&val, VAULT_PROPS_MAX + 4096);
	if (!vault_name_is_valid_vault(name) || !keyspace_vault(key, name)) {
		kl_fail(err, KL_ENOTFOUND, "no such vault");
		goto out;
	}
	if (store_get(core->st, key, strlen(key), &val, version, err) != 0 ||
	    vault_rec_decode(val.data, val.len, out, err) != 0)
		goto out;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

/* Writes vi as the record of its name, provided the record still has version expect (0: absent). */
static int store_rec(struct vault_core *core, const struct vault_info *vi, uint64_t expect,
		     struct kl_err *err)
{
	char key[KEYBUF];
	struct buf rec;
	int rc = -1;

	buf_init(&rec, VAULT_PROPS_MAX + 4096);
	if (!keyspace_vault(key, vi->name)) {
		kl_fail(err, KL_EINVAL, "vault name too long");
		goto out;
	}
	if (vault_rec_encode(vi, &rec, err) != 0)
		goto out;
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = key, .key_len = strlen(key), .version = expect },
		{ .kind = STORE_PUT, .key = key, .key_len = strlen(key), .val = rec.data, .val_len = rec.len },
	};
	rc = store_txn(core->st, ops, 2, err);
out:
	buf_clear(&rec);
	return rc;
}

static int check_fields(const struct vault_info *in, struct kl_err *err)
{
	if (!vault_name_is_valid_vault(in->name))
		return kl_fail_az(err, KL_EINVAL, "VaultNameNotValid", NULL,
				  "The vault name '%.64s' is not valid: 3 to 24 characters of letters, "
				  "digits and hyphens, starting with a letter, ending with a letter or "
				  "digit, without consecutive hyphens.", in->name);
	if (in->retention_days < 7 || in->retention_days > 90)
		return kl_fail(err, KL_EINVAL, "softDeleteRetentionInDays must be 7 to 90.");
	return 0;
}

int vaults_create(struct vault_core *core, const struct vault_info *in, struct kl_err *err)
{
	struct vault_info cur, rec;
	int rc = -1;

	vault_info_init(&cur);
	vault_info_init(&rec);
	if (check_fields(in, err) != 0)
		goto out;
	if (load(core, in->name, &cur, NULL, err) == 0) {
		if (cur.state == VAULT_LIVE)
			kl_fail_az(err, KL_ECONFLICT, "VaultAlreadyExists", NULL,
				   "The vault name '%.64s' is already in use.", in->name);
		else
			kl_fail_az(err, KL_ECONFLICT, "ConflictError", NULL,
				   "A vault with the same name '%.64s' is in a deleted but recoverable "
				   "state: recover it, or purge it before creating a new one.", in->name);
		goto out;
	}
	if (err->code != KL_ENOTFOUND)
		goto out;
	kl_err_clear(err);
	memcpy(&rec, in, offsetof(struct vault_info, props));
	if (buf_append(&rec.props, in->props.data, in->props.len, err) != 0)
		goto out;
	rec.created = rec.updated = clock_now_s();
	rec.state = VAULT_LIVE;
	rec.deleted_date = rec.scheduled_purge = 0;
	if (store_rec(core, &rec, 0, err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "VaultAlreadyExists", NULL,
				   "The vault name '%.64s' is already in use.", in->name);
		goto out;
	}
	rc = 0;
out:
	vault_info_clear(&cur);
	vault_info_clear(&rec);
	return rc;
}

int vaults_update(struct vault_core *core, const struct vault_info *in, uint64_t expect,
		  struct kl_err *err)
{
	struct vault_info cur, rec;
	uint64_t version;
	int rc = -1;

	vault_info_init(&cur);
	vault_info_init(&rec);
	if (check_fields(in, err) != 0)
		goto out;
	if (load(core, in->name, &cur, &version, err) != 0 || cur.state != VAULT_LIVE) {
		fail_not_found(err, in->name, false);
		goto out;
	}
	if (version != expect) {
		kl_fail_az(err, KL_ECONFLICT, "ConflictError", NULL,
			   "The vault '%.64s' was changed concurrently; retry.", in->name);
		goto out;
	}
	if (cur.purge_protection && !in->purge_protection) {
		kl_fail_az(err, KL_EINVAL, "BadRequest", NULL,
			   "Purge protection cannot be turned off once it is on.");
		goto out;
	}
	memcpy(&rec, in, offsetof(struct vault_info, props));
	if (buf_append(&rec.props, in->props.data, in->props.len, err) != 0)
		goto out;
	memcpy(rec.name, cur.name, sizeof(rec.name));	/* the case given at creation */
	rec.created = cur.created;
	rec.updated = clock_now_s();
	rec.state = VAULT_LIVE;
	rec.deleted_date = rec.scheduled_purge = 0;
	if (store_rec(core, &rec, version, err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "ConflictError", NULL,
				   "The vault '%.64s' was changed concurrently; retry.", in->name);
		goto out;
	}
	rc = 0;
out:
	vault_info_clear(&cur);
	vault_info_clear(&rec);
	return rc;
}

int vaults_get(struct vault_core *core, const char *name, bool deleted, struct vault_info *out,
	       uint64_t *version, struct kl_err *err)
{
	if (load(core, name, out, version, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			fail_not_found(err, name, deleted);
		return -1;
	}
	if (out->state != (deleted ? VAULT_DELETED : VAULT_LIVE))
		return fail_not_found(err, name, deleted);
	return 0;
}

struct each_scan {
	bool deleted;
	vaults_fn fn;
	void *arg;
	struct vault_info vi;
};

static int each_one(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		    uint64_t version, struct kl_err *err)
{
	struct each_scan *e = arg;

	(void)key;
	(void)key_len;
	(void)version;
	if (vault_rec_decode(val, val_len, &e->vi, err) != 0)
		return -1;
	if (e->vi.state != (e->deleted ? VAULT_DELETED : VAULT_LIVE))
		return 0;
	return e->fn(e->arg, &e->vi, err);
}

int vaults_each(struct vault_core *core, bool deleted, vaults_fn fn, void *arg, struct kl_err *err)
{
	struct each_scan e = { .deleted = deleted, .fn = fn, .arg = arg };
	int rc;

	vault_info_init(&e.vi);
	rc = store_scan(core->st, KEYSPACE_VAULTS, 2, NULL, 0, each_one, &e, err);
	vault_info_clear(&e.vi);
	return rc;
}

/* Moves name from state `from` to `to` with the dates that go with it. */
static int change_state(struct vault_core *core, const char *name, enum vault_state from,
			enum vault_state to, struct kl_err *err)
{
	struct vault_info vi;
	uint64_t version;
	int rc = -1;

	vault_info_init(&vi);
	if (load(core, name, &vi, &version, err) != 0 || vi.state != from) {
		fail_not_found(err, name, from == VAULT_DELETED);
		goto out;
	}
	if (to == VAULT_DELETED) {
		vi.deleted_date = clock_now_s();
		vi.scheduled_purge = vi.deleted_date + (int64_t)vi.retention_days * DAY_S;
	} else if (to == VAULT_LIVE) {
		vi.deleted_date = vi.scheduled_purge = 0;
	}
	vi.state = to;
	if (store_rec(core, &vi, version, err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail_az(err, KL_ECONFLICT, "ConflictError", NULL,
				   "The vault '%.64s' was changed concurrently; retry.", name);
		goto out;
	}
	rc = 0;
out:
	vault_info_clear(&vi);
	return rc;
}

int vaults_delete(struct vault_core *core, const char *name, struct kl_err *err)
{
	return change_state(core, name, VAULT_LIVE, VAULT_DELETED, err);
}

int vaults_recover(struct vault_core *core, const char *name, struct kl_err *err)
{
	return change_state(core, name, VAULT_DELETED, VAULT_LIVE, err);
}

/* Purge schedules are p/<16 hex>/<vault>/<tag>/<name>: keep those of other vaults. */
static bool other_vault_schedule(const char *key, void *arg)
{
	const char *lname = arg;
	size_t n = strlen(lname);

	return !(strlen(key) > 19 + n && strncmp(key + 19, lname, n) == 0 && key[19 + n] == '/');
}

/* Deletes everything a purging vault held, then its record. */
static int finish_purge(struct vault_core *core, const char *name, struct kl_err *err)
{
	char lname[VAULT_NAME_MAX + 1], prefix[KEYBUF], key[KEYBUF];
	struct vault_info vi;
	uint64_t version;
	size_t n = 0;
	int rc = -1;

	vault_info_init(&vi);
	if (!lower_copy(lname, sizeof(lname), name) || !keyspace_vault(key, name)) {
		kl_fail(err, KL_EINVAL, "vault name too long");
		goto out;
	}
	snprintf(prefix, sizeof(prefix), "%s%s/", KEYSPACE_OBJECTS, lname);
	if (store_del_prefix(core->st, prefix, NULL, NULL, &n, err) != 0)
		goto out;
	snprintf(prefix, sizeof(prefix), "%s%s/", KEYSPACE_ROTATION_INDEX, lname);
	if (store_del_prefix(core->st, prefix, NULL, NULL, &n, err) != 0)
		goto out;
	/* the idempotency records of its creates (they would expire anyway) */
	snprintf(prefix, sizeof(prefix), "%s%s/", KEYSPACE_IDEMPOTENCY, lname);
	if (store_del_prefix(core->st, prefix, NULL, NULL, &n, err) != 0)
		goto out;
	/* the certificate renewal index */
	snprintf(prefix, sizeof(prefix), "%s%s/", KEYSPACE_RENEWAL_INDEX, lname);
	if (store_del_prefix(core->st, prefix, NULL, NULL, &n, err) != 0 ||
	    store_del_prefix(core->st, KEYSPACE_PURGE_SCHEDULE, other_vault_schedule, lname, &n,
			     err) != 0 ||
	    assignments_drop_vault(core, lname, err) != 0)
		goto out;
	snprintf(prefix, sizeof(prefix), "%s/", lname);	/* cached keys are <vault>/<name>/<version> */
	keycache_forget(core->keys, prefix);
	if (load(core, name, &vi, &version, err) != 0 || vi.state != VAULT_PURGING) {
		kl_fail(err, KL_ECONFLICT, "the vault changed during its purge");
		goto out;
	}
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = key, .key_len = strlen(key), .version = version },
		{ .kind = STORE_DEL, .key = key, .key_len = strlen(key) },
	};
	if (store_txn(core->st, ops, 2, err) != 0)
		goto out;
	LOG_INFO(NULL, "purged vault %s (%zu records)", lname, n);
	rc = 0;
out:
	vault_info_clear(&vi);
	return rc;
}

int vaults_purge(struct vault_core *core, const char *name, struct kl_err *err)
{
	struct vault_info vi;
	int rc = -1;

	vault_info_init(&vi);
	if (vaults_get(core, name, true, &vi, NULL, err) != 0)
		goto out;
	if (vi.purge_protection && clock_now_s() < vi.scheduled_purge) {
		kl_fail_az(err, KL_ECONFLICT, "ConflictError", NULL,
			   "The vault '%.64s' has purge protection: it is purged automatically when "
			   "its retention ends, and cannot be purged before.", name);
		goto out;
	}
	if (change_state(core, name, VAULT_DELETED, VAULT_PURGING, err) != 0 ||
	    finish_purge(core, name, err) != 0)
		goto out;
	rc = 0;
out:
	vault_info_clear(&vi);
	return rc;
}

struct due {
	int64_t now;
	struct key_list names;
};

static int collect_due(void *arg, const struct vault_info *vi, struct kl_err *err)
{
	struct due *d = arg;

	if (vi->state == VAULT_PURGING || (vi->state == VAULT_DELETED && vi->scheduled_purge <= d->now))
		return key_list_add(&d->names, vi->name, strlen(vi->name), err);
	return 0;
}

static int each_any(void *arg, const void *key, size_t key_len, const void *val, size_t val_len,
		    uint64_t version, struct kl_err *err)
{
	struct each_scan *e = arg;

	(void)key;
	(void)key_len;
	(void)version;
	if (vault_rec_decode(val, val_len, &e->vi, err) != 0)
		return -1;
	return e->fn(e->arg, &e->vi, err);
}

int vaults_purge_due(struct vault_core *core, int64_t now, size_t *n_purged, struct kl_err *err)
{
	struct due d = { .now = now };
	struct each_scan e = { .fn = collect_due, .arg = &d };
	size_t i;
	int rc = -1;

	*n_purged = 0;
	vault_info_init(&e.vi);
	if (store_scan(core->st, KEYSPACE_VAULTS, 2, NULL, 0, each_any, &e, err) != 0)
		goto out;
	for (i = 0; i < d.names.n; i++) {
		struct vault_info vi;
		bool ok;

		vault_info_init(&vi);
		ok = load(core, d.names.keys[i], &vi, NULL, err) == 0 &&
		     (vi.state == VAULT_PURGING ||
		      change_state(core, d.names.keys[i], VAULT_DELETED, VAULT_PURGING, err) == 0) &&
		     finish_purge(core, d.names.keys[i], err) == 0;
		vault_info_clear(&vi);
		if (!ok) {
			LOG_WARN(NULL, "purge of vault %s failed: %s", d.names.keys[i], err->msg);
			kl_err_clear(err);	/* recovered meanwhile, or the next pass retries */
			continue;
		}
		(*n_purged)++;
	}
	rc = 0;
out:
	vault_info_clear(&e.vi);
	key_list_clear(&d.names);
	return rc;
}
