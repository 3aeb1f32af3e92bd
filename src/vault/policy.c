/* Key rotation policies and automatic rotation. A policy is one record per key name beside its
 * versions (not versioned itself), plus an index entry under "r/" so the rotation job finds every
 * policy without scanning vault contents. Deleting a key keeps its policy; purging removes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"
#include "util/rec.h"
#include "vault/internal.h"
#include "vault/keys.h"

#define POLICY_FORMAT 1
#define MIN_EXPIRY_S (28 * 86400)

int key_duration_parse(const char *s, int64_t *seconds, struct kl_err *err)
{
	static const struct {
		char unit;
		int64_t seconds;
		bool in_time;
	} units[] = { { 'Y', 365 * 86400, false }, { 'M', 30 * 86400, false }, { 'W', 7 * 86400, false },
		      { 'D', 86400, false },       { 'H', 3600, true },        { 'M', 60, true },
		      { 'S', 1, true } };
	const char *p = s;
	bool in_time = false, any = false, any_time = false;
	size_t next_unit = 0, i;
	int64_t total = 0;

	if (s == NULL || *p++ != 'P')
		goto bad;
	while (*p != '\0') {
		int64_t n = 0;
		int digits = 0;

		if (*p == 'T') {
			if (in_time)
				goto bad;
			in_time = true;
			p++;
			continue;
		}
		while (*p >= '0' && *p <= '9' && digits < 6) {
			n = n * 10 + (*p++ - '0');
			digits++;
		}
		if (digits == 0)
			goto bad;
		for (i = next_unit; i < sizeof(units) / sizeof(units[0]); i++)
			if (units[i].unit == *p && units[i].in_time == in_time)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			goto bad;
		total += n * units[i].seconds;
		next_unit = i + 1;
		any = true;
		any_time |= in_time;
		p++;
	}
	if (!any || (in_time && !any_time))	/* "P1DT": a T needs a time after it */
		goto bad;
	*seconds = total;
	return 0;
bad:
	return kl_fail(err, KL_EINVAL, "'%.32s' is not an ISO 8601 duration (e.g. P90D, P1Y, PT12H).",
		       s ? s : "");
}

static int policy_encode(const struct key_policy *p, struct buf *out, struct kl_err *err)
{
	size_t i;

	if (rec_put_u8(out, POLICY_FORMAT, err) != 0 || rec_put_u64(out, p->n_actions, err) != 0)
		return -1;
	for (i = 0; i < p->n_actions; i++)
		if (rec_put_u8(out, (uint8_t)p->actions[i].trigger, err) != 0 ||
		    rec_put_str(out, p->actions[i].duration, err) != 0 ||
		    rec_put_i64(out, p->actions[i].seconds, err) != 0 ||
		    rec_put_u8(out, (uint8_t)p->actions[i].action, err) != 0)
			return -1;
	if (rec_put_u8(out, p->has_expiry, err) != 0 || rec_put_str(out, p->expiry, err) != 0 ||
	    rec_put_i64(out, p->expiry_seconds, err) != 0 || rec_put_i64(out, p->created, err) != 0 ||
	    rec_put_i64(out, p->updated, err) != 0)
		return -1;
	return 0;
}

static int policy_decode(const void *p, size_t n, struct key_policy *out, struct kl_err *err)
{
	struct rec_reader r;
	uint64_t count;
	size_t i;

	memset(out, 0, sizeof(*out));
	rec_reader_init(&r, p, n);
	if (rec_get_u8(&r) != POLICY_FORMAT || (count = rec_get_u64(&r)) > POLICY_MAX_ACTIONS)
		goto bad;
	out->n_actions = count;
	for (i = 0; i < count; i++) {
		out->actions[i].trigger = rec_get_u8(&r);
		if (!rec_get_fixed_str(&r, out->actions[i].duration,
				       sizeof(out->actions[i].duration)))
			goto bad;
		out->actions[i].seconds = rec_get_i64(&r);
		out->actions[i].action = rec_get_u8(&r);
	}
	out->has_expiry = rec_get_u8(&r) != 0;
	if (!rec_get_fixed_str(&r, out->expiry, sizeof(out->expiry)))
		goto bad;
	out->expiry_seconds = rec_get_i64(&r);
	out->created = rec_get_i64(&r);
	out->updated = rec_get_i64(&r);
	if (!rec_done(&r))
		goto bad;
	out->is_set = true;
	return 0;
bad:
	return kl_fail(err, KL_ECORRUPT, "a stored rotation policy is damaged");
}

int key_policy_get(struct vault *v, const char *name, struct key_policy *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], key[KEYBUF];
	struct head h;
	struct buf val;
	int rc = -1;

	buf_init(&val, 64 * 1024);
	memset(out, 0, sizeof(*out));
	if (obj_check_name(OBJ_KEY, name, lname, err) != 0)
		goto out;
	if (obj_head_load(v, OBJ_KEY, 'h', lname, &h, NULL, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, OBJ_KEY, name, NULL);
		goto out;
	}
	keyspace_obj_side(key, v->name, 'k', lname);
	if (store_get(v->core->st, key, strlen(key), &val, NULL, err) != 0) {
		if (err->code != KL_ENOTFOUND)
			goto out;
		kl_err_clear(err);
		rc = 0;
		goto out;
	}
	rc = policy_decode(val.data, val.len, out, err);
out:
	buf_clear(&val);
	return rc;
}

static int policy_validate(struct key_policy *p, struct kl_err *err)
{
	bool has_notify = false;
	size_t i;

	if (p->has_expiry) {
		if (key_duration_parse(p->expiry, &p->expiry_seconds, err) != 0)
			return -1;
		if (p->expiry_seconds < MIN_EXPIRY_S)
			return kl_fail(err, KL_EINVAL, "expiryTime must be at least 28 days (P28D).");
	}
	for (i = 0; i < p->n_actions; i++) {
		struct policy_action_rule *a = &p->actions[i];

		if (key_duration_parse(a->duration, &a->seconds, err) != 0)
			return -1;
		/* without expiryTime, timeBeforeExpiry counts from the exp a version was given */
		if (a->trigger == POLICY_BEFORE_EXPIRY && p->has_expiry && a->seconds >= p->expiry_seconds)
			return kl_fail(err, KL_EINVAL, "timeBeforeExpiry must be shorter than "
				       "expiryTime.");
		if (a->action == POLICY_ROTATE && a->trigger == POLICY_AFTER_CREATE && a->seconds < 7 * 86400)
			return kl_fail(err, KL_EINVAL, "Automatic rotation must be at least 7 days after "
				       "creation (P7D).");
		has_notify |= a->action == POLICY_NOTIFY;
	}
	if (!has_notify && p->n_actions < POLICY_MAX_ACTIONS) {
		/* the service adds this default */
		struct policy_action_rule *a = &p->actions[p->n_actions++];

		a->trigger = POLICY_BEFORE_EXPIRY;
		snprintf(a->duration, sizeof(a->duration), "P30D");
		a->seconds = 30 * 86400;
		a->action = POLICY_NOTIFY;
	}
	return 0;
}

int key_policy_set(struct vault *v, const char *name, const struct key_policy *in,
		   struct key_policy *out, struct kl_err *err)
{
	char lname[OBJ_NAME_MAX + 1], key[KEYBUF], ikey[KEYBUF], hkey[KEYBUF];
	struct key_policy p = *in, old;
	struct head h;
	struct buf val;
	uint64_t hv;
	int rc = -1;

	buf_init(&val, 64 * 1024);
	if (obj_check_name(OBJ_KEY, name, lname, err) != 0 || policy_validate(&p, err) != 0 ||
	    key_policy_get(v, name, &old, err) != 0)
		goto out;
	if (obj_head_load(v, OBJ_KEY, 'h', lname, &h, &hv, err) != 0) {
		if (err->code == KL_ENOTFOUND)
			obj_fail_not_found(err, OBJ_KEY, name, NULL);
		goto out;
	}
	/* the head's check below keeps this true until the policy is stored */
	if (obj_refuse_managed(v, OBJ_KEY, lname, &h, "setrotationpolicy", err) != 0)
		goto out;
	p.is_set = true;
	p.updated = clock_now_s();
	p.created = old.is_set ? old.created : p.updated;
	if (policy_encode(&p, &val, err) != 0)
		goto out;
	keyspace_obj_side(key, v->name, 'k', lname);
	keyspace_rotation_index(ikey, v->name, lname);
	keyspace_obj_head(hkey, v, OBJ_KEY, 'h', lname);
	struct store_op ops[] = {
		{ .kind = STORE_CHECK, .key = hkey, .key_len = strlen(hkey), .version = hv },
		{ .kind = STORE_PUT, .key = key, .key_len = strlen(key), .val = val.data, .val_len = val.len },
		{ .kind = STORE_PUT, .key = ikey, .key_len = strlen(ikey), .val = "", .val_len = 0 },
	};
	if (store_txn(v->core->st, ops, 3, err) != 0) {
		if (err->code == KL_ECONFLICT)
			kl_fail(err, KL_EUNAVAIL, "the key changed concurrently; retry");
		goto out;
	}
	*out = p;
	rc = 0;
out:
	buf_clear(&val);
	return rc;
}

/* Is a Rotate action of p due for a key whose latest version is o? */
static bool rotation_due(const struct key_policy *p, const struct obj *o, int64_t now)
{
	size_t i;

	for (i = 0; i < p->n_actions; i++) {
		const struct policy_action_rule *a = &p->actions[i];

		if (a->action != POLICY_ROTATE)
			continue;
		if (a->trigger == POLICY_AFTER_CREATE && o->attrs.created + a->seconds <= now)
			return true;
		if (a->trigger == POLICY_BEFORE_EXPIRY && o->attrs.has_exp &&
		    o->attrs.exp - a->seconds <= now)
			return true;
	}
	return false;
}

struct rotate_run {
	int64_t now;
	size_t *n_rotated;
};

/* One entry of the rotation index: rotates key lname of vault vname when its policy says so. */
static void rotate_one(struct vault_core *core, const char *vname, const char *lname, void *arg)
{
	struct rotate_run *run = arg;
	struct key_policy p;
	struct key_meta m;
	struct obj o, rotated;
	struct vault v;
	struct kl_err e = { 0 };

	if (vault_open(core, vname, &v, &e) != 0 || key_policy_get(&v, lname, &p, &e) != 0)
		return;	/* vault or key gone (deleted keys keep their policy) */
	key_meta_init(&m);
	obj_init(&o);
	obj_init(&rotated);
	if (key_get(&v, lname, NULL, &o, &m, &e) == 0 && rotation_due(&p, &o, run->now)) {
		if (key_rotate(&v, lname, NULL, &rotated, &m, &e) == 0)
			(*run->n_rotated)++;
		else
			LOG_WARN(NULL, "automatic rotation of key %s/%s failed: %s", vname,
				 lname, e.msg);
	}
	obj_clear(&o);
	obj_clear(&rotated);
	key_meta_clear(&m);
}

int key_rotate_due(struct vault_core *core, int64_t now, size_t *n_rotated, struct kl_err *err)
{
	struct rotate_run run = { .now = now, .n_rotated = n_rotated };

	*n_rotated = 0;
	return jobindex_walk(core, KEYSPACE_ROTATION_INDEX, rotate_one, &run, err);
}
