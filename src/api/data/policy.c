/* Key rotation policies on the wire: KeyRotationPolicy JSON to struct key_policy and back.
 * Action types compare case-insensitively and come back capitalised, as the service does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/internal.h"
#include "vault/keys.h"

static json_t *policy_json(const struct api_call *c, const char *name, const struct key_policy *p)
{
	json_t *j = json_object(), *actions = json_array(), *attrs = json_object();
	char *id = NULL;
	size_t i;

	if (j == NULL || actions == NULL || attrs == NULL || asprintf(&id, "https://%s/keys/%s/rotationpolicy", c->host, name) < 0) {
		json_decref(j);
		json_decref(actions);
		json_decref(attrs);
		return NULL;
	}
	json_object_set_new(j, "id", json_string(id));
	free(id);
	for (i = 0; i < p->n_actions; i++) {
		const struct policy_action_rule *a = &p->actions[i];

		json_array_append_new(actions, json_pack("{s:{s:s}, s:{s:s}}", "trigger",
			a->trigger == POLICY_AFTER_CREATE ? "timeAfterCreate" : "timeBeforeExpiry",
			a->duration, "action", "type", a->action == POLICY_ROTATE ? "Rotate" : "Notify"));
	}
	json_object_set_new(j, "lifetimeActions", actions);
	if (p->is_set) {
		if (p->has_expiry)
			json_object_set_new(attrs, "expiryTime", json_string(p->expiry));
		json_object_set_new(attrs, "created", json_integer(p->created));
		json_object_set_new(attrs, "updated", json_integer(p->updated));
	}
	json_object_set_new(j, "attributes", attrs);
	return j;
}

int keys_policy_get(struct api_call *c)
{
	struct key_policy p;
	const char *name;

	if ((name = api_name_param(c, "key")) == NULL || key_policy_get(&c->vault, name, &p, &c->err) != 0)
		return -1;
	return api_reply_json(c, 200, policy_json(c, name, &p));
}

/* One lifetimeActions entry. */
static int read_action(struct api_call *c, json_t *a, struct policy_action_rule *r)
{
	json_t *trigger = json_object_get(a, "trigger"), *action = json_object_get(a, "action");
	json_t *after = json_object_get(trigger, "timeAfterCreate");
	json_t *before = json_object_get(trigger, "timeBeforeExpiry");
	json_t *type = json_object_get(action, "type"), *d;

	if (!json_is_object(a) || !json_is_object(trigger) || !json_is_object(action))
		return kl_fail(&c->err, KL_EINVAL, "Each lifetime action needs a trigger and an action.");
	if (after != NULL && json_is_null(after))
		after = NULL;
	if (before != NULL && json_is_null(before))
		before = NULL;
	if ((after == NULL) == (before == NULL))
		return kl_fail(&c->err, KL_EINVAL, "A trigger needs exactly one of timeAfterCreate and "
			       "timeBeforeExpiry.");
	d = after ? after : before;
	if (!json_is_string(d) || json_string_length(d) >= sizeof(r->duration))
		return kl_fail(&c->err, KL_EINVAL, "A trigger's time must be an ISO 8601 duration.");
	if (!json_is_string(type))
		return kl_fail(&c->err, KL_EINVAL, "The action type must be Rotate or Notify.");
	if (strcasecmp(json_string_value(type), "rotate") == 0)
		r->action = POLICY_ROTATE;
	else if (strcasecmp(json_string_value(type), "notify") == 0)
		r->action = POLICY_NOTIFY;
	else
		return kl_fail(&c->err, KL_EINVAL, "The action type must be Rotate or Notify.");
	r->trigger = after ? POLICY_AFTER_CREATE : POLICY_BEFORE_EXPIRY;
	snprintf(r->duration, sizeof(r->duration), "%s", json_string_value(d));
	return 0;
}

int keys_policy_set(struct api_call *c)
{
	struct key_policy in, out;
	json_t *body = NULL, *actions, *attrs, *expiry, *a;
	const char *name;
	size_t i;
	int rc = -1;

	memset(&in, 0, sizeof(in));
	if ((name = api_name_param(c, "key")) == NULL || body_object(c->req, &body, &c->err) != 0)
		goto out;
	actions = json_object_get(body, "lifetimeActions");
	attrs = json_object_get(body, "attributes");
	if (actions != NULL && !json_is_null(actions)) {
		if (!json_is_array(actions) || json_array_size(actions) > POLICY_MAX_ACTIONS - 1) {
			kl_fail(&c->err, KL_EINVAL, "lifetimeActions must be an array of at most %d "
				"actions.", POLICY_MAX_ACTIONS - 1);
			goto out;
		}
		json_array_foreach(actions, i, a) {
			if (read_action(c, a, &in.actions[in.n_actions++]) != 0)
				goto out;
		}
	}
	if (attrs != NULL && !json_is_null(attrs)) {
		if (!json_is_object(attrs)) {
			kl_fail(&c->err, KL_EINVAL, "The field 'attributes' must be an object.");
			goto out;
		}
		expiry = json_object_get(attrs, "expiryTime");
		if (expiry != NULL && !json_is_null(expiry)) {
			if (!json_is_string(expiry) || json_string_length(expiry) >= sizeof(in.expiry)) {
				kl_fail(&c->err, KL_EINVAL, "expiryTime must be an ISO 8601 duration.");
				goto out;
			}
			in.has_expiry = true;
			snprintf(in.expiry, sizeof(in.expiry), "%s", json_string_value(expiry));
		}
	}
	if (key_policy_set(&c->vault, name, &in, &out, &c->err) != 0)
		goto out;
	rc = api_reply_json(c, 200, policy_json(c, name, &out));
out:
	json_decref(body);
	return rc;
}
