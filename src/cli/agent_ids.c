/* agent_ids.c owns the identity agent's identities, its token cache and every conversation with
 * kluisd: whom a credential belongs to (GET /kluis/v1/deployment), and access tokens, traded for
 * a kluis token at GET /msi/token (X-IDENTITY-HEADER) or for a client assertion at the adfs token
 * URL (agent_cert.c); agent_answer.c turns kluisd's answers into the agent's. It must never log,
 * print or answer with a credential or an access token (only agent_http.c's 200 body carries
 * one), and it keeps every one in wiping memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/agent.h"
#include "cli/client.h"
#include "cli/config.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

#define AGENT_MSI_API_VERSION "2019-08-01"

int agent_init(struct agent *a, const char *url, const char *ca)
{
	memset(a, 0, sizeof(*a));
	a->url = url;
	a->ca = ca;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->fetch_lock, NULL);
	if ((a->http = http_new(ca)) == NULL)
		return -1;
	return 0;
}

static void cached_clear(struct agent_cached *c)
{
	free(c->resource);
	secbuf_free(c->token);
	memset(c, 0, sizeof(*c));
}

void agent_clear(struct agent *a)
{
	size_t i;

	for (i = 0; i < a->n_ids; i++) {
		free(a->ids[i].path);
		free(a->ids[i].client_id);
		secbuf_free(a->ids[i].token);
		agent_cert_free(&a->ids[i]);
	}
	for (i = 0; i < a->n_cache; i++)
		cached_clear(&a->cache[i]);
	http_free(a->http);
	pthread_mutex_destroy(&a->lock);
	pthread_mutex_destroy(&a->fetch_lock);
	memset(a, 0, sizeof(*a));
}

int agent_add_identity(struct agent *a, const char *spec)
{
	struct agent_identity *id;
	const char *colon;
	int rc;

	if (a->n_ids == AGENT_IDENTITIES_MAX) {
		fprintf(stderr, "kluis: at most %d identities\n", AGENT_IDENTITIES_MAX);
		return CLI_EUSAGE;
	}
	id = &a->ids[a->n_ids];
	memset(id, 0, sizeof(*id));
	if (strncmp(spec, "token:", 6) == 0 && spec[6] != '\0') {
		id->kind = AGENT_ID_TOKEN;
		if ((id->path = strdup(spec + 6)) == NULL)
			return client_nomem();
		if ((id->token = config_read_token_file(id->path)) == NULL) {
			free(id->path);
			return CLI_EFAIL;
		}
	} else if (strncmp(spec, "cert:", 5) == 0 && (colon = strrchr(spec + 5, ':')) != NULL &&
		   colon > spec + 5 && colon[1] != '\0') {
		id->kind = AGENT_ID_CERT;
		if ((id->path = strndup(spec + 5, (size_t)(colon - spec - 5))) == NULL ||
		    (id->client_id = strdup(colon + 1)) == NULL) {
			free(id->path);
			return client_nomem();
		}
		if ((rc = agent_cert_load(id)) != CLI_OK) {
			free(id->path);
			free(id->client_id);
			return rc;
		}
	} else {
		fprintf(stderr, "kluis: --identity must be token:PATH or cert:PATH:CLIENT_ID, not "
				"'%.64s'\n", spec);
		return CLI_EUSAGE;
	}
	a->n_ids++;
	return CLI_OK;
}

/* GET /msi/token with the identity's kluis token in X-IDENTITY-HEADER. */
static void fetch_msi(struct agent *a, const struct agent_identity *id, const char *resource,
		      struct agent_answer *ans)
{
	struct http_opts o = { .secret_header = "X-IDENTITY-HEADER", .secret_value = id->token,
			       .timeout_s = AGENT_FETCH_TIMEOUT_S };
	struct kl_err err;
	struct buf url;

	buf_init(&url, 8192);
	if (buf_printf(&url, &err, "%s/msi/token?api-version=" AGENT_MSI_API_VERSION "&resource=",
		       a->url) != 0 ||
	    http_escape(resource, &url, &err) != 0) {
		agent_refuse(ans, 500, "server_error", "out of memory");
		goto out;
	}
	agent_ask_kluisd(a, id, "GET", buf_cstr(&url), NULL, &o, ans);
out:
	buf_clear(&url);
}

void agent_ask_kluisd(struct agent *a, const struct agent_identity *id, const char *method,
		      const char *url, const struct buf *body, const struct http_opts *o,
		      struct agent_answer *ans)
{
	struct http_resp r = { 0 };

	if (http_request_opts(a->http, method, url, body, NULL, o, &r) != 0)
		agent_refuse(ans, 503, "temporarily_unavailable", "cannot reach kluisd at %.200s "
			     "(the agent's log says why)", a->url);
	else
		agent_take_token(ans, id, &r);
	http_resp_clear(&r);
}

static void fetch(struct agent *a, size_t idx, const char *resource, struct agent_answer *ans)
{
	const struct agent_identity *id = &a->ids[idx];

	if (id->kind == AGENT_ID_TOKEN)
		fetch_msi(a, id, resource, ans);
	else
		agent_cert_fetch(a, id, resource, ans);
}

/* Whom identity idx is: GET /kluis/v1/deployment with its kluis token, or with an access token
 * for the management plane (what a certificate gets). 0 and the fields of the identity set
 * (under lock); -1 with ans saying why. */
static int resolve_one(struct agent *a, size_t idx, struct agent_answer *ans)
{
	struct agent_identity *id = &a->ids[idx];
	struct agent_answer mgmt = { 0 };
	struct http_opts o = { .timeout_s = AGENT_FETCH_TIMEOUT_S };
	struct http_resp r = { 0 };
	struct kl_err err;
	const char *cid, *cname;
	json_t *j = NULL;
	char *url = NULL;
	int rc = -1;

	if (id->kind == AGENT_ID_CERT) {
		agent_cert_fetch(a, id, "https://management.azure.com/", &mgmt);
		if (mgmt.status != 200) {
			*ans = mgmt;
			mgmt.token = NULL;
			goto out;
		}
	}
	if ((url = client_url(a->url, NULL, "kluis", "v1", "deployment", NULL)) == NULL) {
		agent_refuse(ans, 500, "server_error", "out of memory");
		goto out;
	}
	if (http_request_opts(a->http, "GET", url, NULL, id->kind == AGENT_ID_TOKEN ? id->token
			      : mgmt.token, &o, &r) != 0) {
		agent_refuse(ans, 503, "temporarily_unavailable", "cannot reach kluisd at %.200s",
			     a->url);
		goto out;
	}
	if (r.status != 200) {
		agent_refuse_from_kluisd(ans, id, "the question who it is", &r);
		goto out;
	}
	j = json_util_parse(r.body.data, r.body.len, &err);
	cid = json_string_value(json_object_get(json_object_get(j, "caller"), "id"));
	cname = json_string_value(json_object_get(json_object_get(j, "caller"), "name"));
	if (json_is_true(json_object_get(json_object_get(j, "caller"), "isAdministrator"))) {
		agent_refuse(ans, 403, "unauthorized_client", "%s holds the deployment's admin "
			     "token: give the agent a token of the application's own principal",
			     id->path);
		goto out;
	}
	if (cid == NULL || cname == NULL || *cid == '\0' || strlen(cid) > AGENT_ID_MAX ||
	    strlen(cname) > AGENT_NAME_MAX) {
		agent_refuse(ans, 502, "temporarily_unavailable", "kluisd did not say who the "
			     "identity of %s is", id->path);
		goto out;
	}
	pthread_mutex_lock(&a->lock);
	snprintf(id->id, sizeof(id->id), "%s", cid);
	snprintf(id->name, sizeof(id->name), "%s", cname);
	id->resolved = true;
	pthread_mutex_unlock(&a->lock);
	LOG_INFO(NULL, "identity %zu (%s %s) is principal %s (%s)", idx,
		 id->kind == AGENT_ID_TOKEN ? "token file" : "certificate", id->path, cname, cid);
	rc = 0;
out:
	json_decref(j);
	http_resp_clear(&r);
	agent_answer_clear(&mgmt);
	free(url);
	return rc;
}

int agent_resolve(struct agent *a)
{
	struct agent_answer ans;
	size_t i;
	int rc = CLI_OK;

	pthread_mutex_lock(&a->fetch_lock);
	for (i = 0; i < a->n_ids; i++) {
		memset(&ans, 0, sizeof(ans));
		if (resolve_one(a, i, &ans) == 0)
			continue;
		if (ans.status >= 500 || ans.status == 429) {
			LOG_WARN(NULL, "identity %zu: %s; asking again when a request needs it", i,
				 ans.description);
		} else {
			fprintf(stderr, "kluis: %s\n", ans.description);
			rc = CLI_EFAIL;
		}
		agent_answer_clear(&ans);
	}
	pthread_mutex_unlock(&a->fetch_lock);
	return rc;
}

void agent_reload(struct agent *a)
{
	struct agent_identity fresh;
	size_t i, n = 0;

	pthread_mutex_lock(&a->fetch_lock);	/* no conversation uses a credential meanwhile */
	for (i = 0; i < a->n_ids; i++) {
		struct agent_identity *id = &a->ids[i];

		memset(&fresh, 0, sizeof(fresh));
		fresh.kind = id->kind;
		fresh.path = id->path;
		fresh.client_id = id->client_id;
		if (id->kind == AGENT_ID_TOKEN && (fresh.token = config_read_token_file(id->path))) {
			secbuf_free(id->token);
			id->token = fresh.token;
			n++;
		} else if (id->kind == AGENT_ID_CERT && agent_cert_load(&fresh) == CLI_OK) {
			agent_cert_free(id);
			id->key = fresh.key;
			memcpy(id->x5t_s256, fresh.x5t_s256, sizeof(id->x5t_s256));
			n++;
		} else {
			LOG_WARN(NULL, "identity %zu: %s unreadable; keeping its credential", i,
				 id->path);
		}
		pthread_mutex_lock(&a->lock);
		id->resolved = false;
		pthread_mutex_unlock(&a->lock);
	}
	pthread_mutex_lock(&a->lock);
	for (i = 0; i < a->n_cache; i++)
		cached_clear(&a->cache[i]);
	a->n_cache = 0;
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_unlock(&a->fetch_lock);
	LOG_INFO(NULL, "reloaded %zu of %zu identities; cached tokens dropped", n, a->n_ids);
}

/* ---- selection and the cache ---- */

/* The last segment of an Azure resource id (".../userAssignedIdentities/NAME"), or s itself. */
static const char *last_segment(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash != NULL && slash[1] != '\0' ? slash + 1 : s;
}

/* The identity sel names (under lock): its index, or -1. *unresolved tells whether an identity
 * that might be it is not known yet. */
static long find_identity(const struct agent *a, const char *sel, bool *unresolved)
{
	const char *last = last_segment(sel);
	size_t i;

	*unresolved = false;
	for (i = 0; i < a->n_ids; i++) {
		const struct agent_identity *id = &a->ids[i];

		if (id->client_id != NULL && (strcasecmp(id->client_id, sel) == 0 ||
					      strcasecmp(id->client_id, last) == 0))
			return (long)i;
		if (!id->resolved) {
			*unresolved = true;
			continue;
		}
		if (strcasecmp(id->id, sel) == 0 || strcasecmp(id->name, sel) == 0 ||
		    strcasecmp(id->id, last) == 0 || strcasecmp(id->name, last) == 0)
			return (long)i;
	}
	return -1;
}

static long select_identity(struct agent *a, const char *sel, struct agent_answer *ans)
{
	struct agent_answer why;
	bool unresolved;
	long idx;
	size_t i;

	if (sel == NULL)
		return 0;
	pthread_mutex_lock(&a->lock);
	idx = find_identity(a, sel, &unresolved);
	pthread_mutex_unlock(&a->lock);
	if (idx < 0 && unresolved) {	/* ask kluisd about the ones not known, then look again */
		pthread_mutex_lock(&a->fetch_lock);
		for (i = 0; i < a->n_ids; i++) {
			memset(&why, 0, sizeof(why));
			if (!a->ids[i].resolved && resolve_one(a, i, &why) != 0)
				LOG_WARN(NULL, "identity %zu: %s", i, why.description);
			agent_answer_clear(&why);
		}
		pthread_mutex_unlock(&a->fetch_lock);
		pthread_mutex_lock(&a->lock);
		idx = find_identity(a, sel, &unresolved);
		pthread_mutex_unlock(&a->lock);
	}
	if (idx < 0) {
		agent_refuse(ans, 400, "invalid_request", "Identity not found: this agent holds no "
			     "identity '%.64s'%s", sel, unresolved ? " (kluisd could not be asked "
			     "about some of its identities)" : "");
		LOG_INFO(NULL, "%s", ans->description);
	}
	return idx;
}

/* The cached token of (idx, resource) that lasts long enough, copied into ans (under lock). */
static bool cache_get(struct agent *a, size_t idx, const char *resource, struct agent_answer *ans)
{
	int64_t now = clock_now_s();
	struct kl_err err;
	size_t i;

	for (i = 0; i < a->n_cache; i++) {
		struct agent_cached *c = &a->cache[i];

		if (c->identity != idx || strcmp(c->resource, resource) != 0)
			continue;
		if (c->expires_on - now <= AGENT_REFRESH_MARGIN_S)
			return false;
		if ((ans->token = secbuf_dup(c->token->data, c->token->len, &err)) == NULL)
			return false;
		ans->status = 200;
		ans->expires_on = c->expires_on;
		return true;
	}
	return false;
}

/* Keeps a copy of ans's token for (idx, resource) (under lock): in the entry of the same key, a
 * free one, or the one that ends first. Nothing is kept when memory is short. */
static void cache_put(struct agent *a, size_t idx, const char *resource,
		      const struct agent_answer *ans)
{
	struct agent_cached fresh = { .identity = idx, .expires_on = ans->expires_on };
	struct kl_err err;
	size_t i, slot = a->n_cache;

	if ((fresh.resource = strdup(resource)) == NULL ||
	    (fresh.token = secbuf_dup(ans->token->data, ans->token->len, &err)) == NULL) {
		cached_clear(&fresh);
		return;
	}
	for (i = 0; i < a->n_cache; i++) {
		if (a->cache[i].identity == idx && strcmp(a->cache[i].resource, resource) == 0) {
			slot = i;
			break;
		}
	}
	if (slot == AGENT_CACHE_MAX) {
		for (slot = 0, i = 1; i < a->n_cache; i++)
			if (a->cache[i].expires_on < a->cache[slot].expires_on)
				slot = i;
	}
	if (slot == a->n_cache)
		a->n_cache++;
	else
		cached_clear(&a->cache[slot]);
	a->cache[slot] = fresh;
}

void agent_get_token(struct agent *a, const char *resource, const char *sel_value,
		     struct agent_answer *out)
{
	struct agent_identity *id;
	char when[32];
	struct tm tm;
	time_t t;
	long idx;
	bool hit;

	memset(out, 0, sizeof(*out));
	if ((idx = select_identity(a, sel_value, out)) < 0)
		return;
	id = &a->ids[idx];
	pthread_mutex_lock(&a->lock);
	hit = cache_get(a, (size_t)idx, resource, out);
	pthread_mutex_unlock(&a->lock);
	if (!hit) {
		pthread_mutex_lock(&a->fetch_lock);
		pthread_mutex_lock(&a->lock);	/* another request may have fetched it meanwhile */
		hit = cache_get(a, (size_t)idx, resource, out);
		pthread_mutex_unlock(&a->lock);
		if (!hit && !id->resolved) {	/* kluisd was out of reach at start */
			struct agent_answer why = { 0 };

			if (resolve_one(a, (size_t)idx, &why) != 0)
				LOG_WARN(NULL, "identity %ld: %s", idx, why.description);
			agent_answer_clear(&why);
		}
		if (!hit) {
			fetch(a, (size_t)idx, resource, out);
			if (out->status == 200) {
				t = (time_t)out->expires_on;
				gmtime_r(&t, &tm);
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
				LOG_INFO(NULL, "identity %ld (%s): new token for %.100s, "
					 "expires %s", idx, id->resolved ? id->name : id->path,
					 resource, when);
			} else {
				LOG_WARN(NULL, "identity %ld: no token for %.100s: %s", idx,
					 resource, out->description);
			}
		}
		pthread_mutex_lock(&a->lock);
		if (!hit && out->status == 200) {
			if (!id->resolved && out->client_id[0] != '\0')	/* kluisd said it */
				snprintf(id->id, sizeof(id->id), "%s", out->client_id);
			cache_put(a, (size_t)idx, resource, out);
		}
		pthread_mutex_unlock(&a->lock);
		pthread_mutex_unlock(&a->fetch_lock);
	}
	pthread_mutex_lock(&a->lock);
	snprintf(out->client_id, sizeof(out->client_id), "%s", id->id);
	pthread_mutex_unlock(&a->lock);
}
