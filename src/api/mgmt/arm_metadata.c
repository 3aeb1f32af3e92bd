/* What Resource Manager serves besides Microsoft.KeyVault, as much as `az` 2.45 needs to log in
 * with a managed identity and run `az account` and `az rest` against a kluis cloud: the cloud's
 * metadata document (GET /metadata/endpoints, no token: `az cloud register` reads it) and the
 * subscriptions the caller can see (GET /subscriptions, GET /subscriptions/{sub}). A subscription
 * here is a label on vaults, plus the deployment's own (its tenant id), which every principal
 * sees. Names every URL after the Host the client used, never a configured name (nodes differ).
 * Must never list a subscription through a vault the caller cannot see. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/authz.h"
#include "api/internal.h"
#include "api/mgmt/arm.h"
#include "vault/core.h"

#define ARM_SUBSCRIPTIONS_MAX 1000	/* labels listed (more: not a deployment az lists) */

/* Resource Manager's two shapes of the metadata document: the one object of api-version
 * 2015-01-01 (what `az cloud register` asks for), and from 2019-05-01 on an array of clouds with
 * every endpoint and suffix (what az reads from ARM_CLOUD_METADATA_URL). */
static bool wants_cloud_list(const char *version)
{
	return version != NULL && strcmp(version, "2019-05-01") >= 0;
}

/* The management plane's audiences: the first is the resource az asks a token for at login. */
static json_t *audiences(void)
{
	return json_pack("[s, s]", "https://management.core.windows.net/",
			 "https://management.azure.com/");
}

static json_t *cloud_object(const struct api_call *c, const char *base, const char *login)
{
	const char *port = arm_host_port(c->host);
	char kv_dns[300];

	/* az builds a vault's URL as https://NAME + this suffix, so it carries the port. */
	snprintf(kv_dns, sizeof(kv_dns), "%s%s%s", c->ctx->cfg.dns_suffix, *port ? ":" : "", port);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:o, s:s, s:s}, s:{s:s}}",
			 "name", "kluis", "resourceManager", base, "portal", "", "gallery", "",
			 "graph", "", "authentication", "loginEndpoint", login, "audiences",
			 audiences(), "tenant", vault_core_tenant(c->ctx->core), "identityProvider",
			 "ADFS", "suffixes", "keyVaultDns", kv_dns);
}

int arm_metadata_endpoints(struct api_call *c)
{
	const char *version = api_query(c->req, "api-version");
	char base[300], login[320];
	json_t *doc;

	if (version == NULL || *version == '\0')
		return kl_fail_az(&c->err, KL_EINVAL, "MissingApiVersionParameter", NULL,
				  "The api-version query parameter (?api-version=) is required for "
				  "all requests.");
	snprintf(base, sizeof(base), "https://%s/", c->host);
	snprintf(login, sizeof(login), "https://%s/adfs", c->host);
	if (wants_cloud_list(version))
		doc = json_pack("[o]", cloud_object(c, base, login));
	else	/* kluis serves no gallery, graph or portal: az requires the names, not the sites */
		doc = json_pack("{s:s, s:s, s:s, s:{s:s, s:o}}", "galleryEndpoint", "",
				"graphEndpoint", "", "portalEndpoint", "", "authentication",
				"loginEndpoint", login, "audiences", audiences());
	return api_reply_json(c, 200, doc);
}

/* ---- subscriptions ---- */

struct sub_scan {
	struct api_call *c;
	json_t *seen;	/* lowercase label -> label as given */
};

static int add_label(struct sub_scan *s, const char *label, struct kl_err *err)
{
	char lower[VAULT_SUB_MAX + 1];
	size_t i;

	for (i = 0; label[i] != '\0' && i < VAULT_SUB_MAX; i++)
		lower[i] = (label[i] >= 'A' && label[i] <= 'Z') ? (char)(label[i] + 32) : label[i];
	lower[i] = '\0';
	if (json_object_get(s->seen, lower) != NULL)
		return 0;
	if (json_object_size(s->seen) >= ARM_SUBSCRIPTIONS_MAX)
		return 1;	/* enough: stop the scan */
	if (json_object_set_new(s->seen, lower, json_string(label)) != 0)
		return kl_fail(err, KL_ENOMEM, "out of memory");
	return 0;
}

static int scan_one(void *arg, const struct vault_info *vi, struct kl_err *err)
{
	struct sub_scan *s = arg;
	bool yes = true;

	if (vi->subscription[0] == '\0')
		return 0;	/* the deployment's own, listed anyway */
	if (!s->c->who->is_admin && authz_can_see_vault(s->c, vi, &yes) != 0) {
		*err = s->c->err;
		return -1;
	}
	return yes ? add_label(s, vi->subscription, err) : 0;
}

/* The subscriptions c->who can see, lowercase label -> label, in *out (a new object). */
static int visible_subscriptions(struct api_call *c, json_t **out)
{
	struct sub_scan s = { .c = c, .seen = json_object() };

	*out = NULL;
	if (s.seen == NULL)
		return kl_fail(&c->err, KL_ENOMEM, "out of memory");
	if (add_label(&s, vault_core_tenant(c->ctx->core), &c->err) < 0 ||
	    vaults_each(c->ctx->core, false, scan_one, &s, &c->err) < 0) {
		json_decref(s.seen);
		return -1;
	}
	*out = s.seen;
	return 0;
}

/* A Subscription as Resource Manager lists it (api-version 2016-06-01 and later). */
static json_t *subscription_json(const struct api_call *c, const char *sub)
{
	const char *tenant = vault_core_tenant(c->ctx->core);
	bool is_own = strcasecmp(sub, tenant) == 0;
	char id[VAULT_SUB_MAX + 16];

	snprintf(id, sizeof(id), "/subscriptions/%s", sub);
	return json_pack("{s:s, s:s, s:[], s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "id", id,
			 "authorizationSource", "RoleBased", "managedByTenants", "subscriptionId",
			 sub, "tenantId", tenant, "homeTenantId", tenant, "displayName",
			 is_own ? "kluis" : sub, "state", "Enabled", "subscriptionPolicies",
			 "locationPlacementId", "Public_2014-09-01", "quotaId", "kluis",
			 "spendingLimit", "Off");
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int arm_subscriptions_list(struct api_call *c)
{
	const char **keys = NULL;
	json_t *seen = NULL, *items = NULL, *item;
	const char *k;
	json_t *v;
	size_t n = 0, i;
	int rc = -1;

	if (visible_subscriptions(c, &seen) != 0)
		goto out;
	if ((keys = calloc(json_object_size(seen) + 1, sizeof(*keys))) == NULL ||
	    (items = json_array()) == NULL) {
		kl_fail(&c->err, KL_ENOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(seen, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), by_name);	/* a stable order for az's default account */
	for (i = 0; i < n; i++) {
		item = subscription_json(c, json_string_value(json_object_get(seen, keys[i])));
		if (item == NULL || json_array_append_new(items, item) != 0) {
			kl_fail(&c->err, KL_ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = api_reply_json(c, 200, json_pack("{s:O, s:{s:s, s:I}}", "value", items, "count",
					      "type", "Total", "value", (json_int_t)n));
out:
	json_decref(items);
	json_decref(seen);
	free(keys);
	return rc;
}

int arm_subscription_get(struct api_call *c)
{
	const char *sub = api_param(c, 0);
	char lower[VAULT_SUB_MAX + 1];
	json_t *seen = NULL, *label;
	size_t i;
	int rc = -1;

	if (!arm_label_is_valid(sub, VAULT_SUB_MAX, false))
		return kl_fail_az(&c->err, KL_EINVAL, "InvalidSubscriptionId", NULL, "The provided "
				  "subscription identifier '%.64s' is malformed or invalid.", sub);
	for (i = 0; sub[i] != '\0'; i++)
		lower[i] = (sub[i] >= 'A' && sub[i] <= 'Z') ? (char)(sub[i] + 32) : sub[i];
	lower[i] = '\0';
	if (visible_subscriptions(c, &seen) != 0)
		goto out;
	if ((label = json_object_get(seen, lower)) == NULL) {
		kl_fail_az(&c->err, KL_ENOTFOUND, "SubscriptionNotFound", NULL,
			   "The subscription '%.64s' could not be found.", sub);
		goto out;
	}
	rc = api_reply_json(c, 200, subscription_json(c, json_string_value(label)));
out:
	json_decref(seen);
	return rc;
}
