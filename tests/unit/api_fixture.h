/* The fixture the api/ unit tests share: a fresh deployment (fixture.h) with api/ over it and the
 * admin's bearer token, and one request through api_begin and api_dispatch. Header-only so each
 * test binary stands alone. */
#ifndef KLUIS_TESTS_API_FIXTURE_H
#define KLUIS_TESTS_API_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/internal.h"
#include "fixture.h"
#include "util/json.h"

struct api_env {
	struct fixture_dir dir;
	struct vault_core *core;
	struct api_ctx *api;
	char token[128];	/* the admin token */
	char bearer[160];	/* "Bearer " and the admin token */
};

/* Makes a fresh deployment in e (retention 90 days; Self certificates issued issue_delay_s after
 * create) with api/ over it configured by cfg, or when cfg is NULL by DNS suffix vault.localhost
 * and default vault "default". On failure prints why and returns -1. */
static inline int api_env_open(struct api_env *e, const struct api_config *cfg, int issue_delay_s)
{
	struct api_config dflt = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct vault_core_config vcfg = { .default_vault = "default", .retention_days = 90,
					  .cert_issue_delay_s = issue_delay_s };
	struct kl_err err = { 0 };
	struct store *st;

	json_util_init();
	if (fixture_dir_make(&e->dir) != 0)
		return -1;
	vcfg.data_dir = e->dir.path;
	if ((st = store_lmdb_open(e->dir.store, 64u * 1024 * 1024, &err)) == NULL ||
	    (e->core = vault_core_open(&vcfg, st, &err)) == NULL ||
	    (e->api = api_ctx_new(cfg != NULL ? cfg : &dflt, e->core, &err)) == NULL ||
	    fixture_admin_token(&e->dir, e->token, sizeof(e->token)) != 0) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	snprintf(e->bearer, sizeof(e->bearer), "Bearer %s", e->token);
	return 0;
}

/* Frees api/, closes the core and removes the deployment. */
static inline void api_env_close(struct api_env *e)
{
	api_ctx_free(e->api);
	vault_core_close(e->core);
	fixture_dir_remove(&e->dir);
}

/* A cmocka setup body: an api_env in *state (see api_env_open). */
static inline int api_env_setup(void **state, const struct api_config *cfg, int issue_delay_s)
{
	struct api_env *e = calloc(1, sizeof(*e));

	if (e == NULL || api_env_open(e, cfg, issue_delay_s) != 0)
		return -1;
	*state = e;
	return 0;
}

/* A cmocka setup: api_env_setup with the default api/ configuration and no issue delay. */
static inline int api_env_setup_default(void **state)
{
	return api_env_setup(state, NULL, 0);
}

/* The cmocka teardown for api_env_setup. */
static inline int api_env_teardown(void **state)
{
	struct api_env *e = *state;

	api_env_close(e);
	free(e);
	return 0;
}

/* Starts req (api_req_init) for method host path with authz as its Authorization header (host
 * and authz NULL: none) and the query "a=b&c=d" already decoded (NULL: none; a part without '='
 * is a name with an empty value). */
static inline void api_env_req(struct api_env *e, struct api_req *req, const char *method,
			       const char *host, const char *path, const char *query,
			       const char *authz)
{
	struct kl_err err = { 0 };
	char *q = query ? strdup(query) : NULL, *save = NULL, *tok;

	assert_int_equal(api_req_init(e->api, req, &err), 0);
	snprintf(req->method, sizeof(req->method), "%s", method);
	req->path = strdup(path);
	req->host = host ? strdup(host) : NULL;
	req->authorization = authz ? strdup(authz) : NULL;
	for (tok = q ? strtok_r(q, "&", &save) : NULL; tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq = '\0';
		assert_int_equal(api_req_add_query(req, tok, eq ? eq + 1 : "", &err), 0);
	}
	free(q);
}

/* Answers req into resp (initialised here) as http/ has api/ do it: api_begin, then the body
 * (NULL: none), then api_dispatch when api_begin let the request through. */
static inline void api_env_answer(struct api_env *e, struct api_req *req, struct api_resp *resp,
				  const char *body)
{
	struct kl_err err = { 0 };

	api_resp_init(resp);
	if (api_begin(e->api, req, resp) == 0) {
		if (body != NULL)
			assert_int_equal(buf_append_str(&req->body, body, &err), 0);
		api_dispatch(e->api, req, resp);
	}
}

/* One request as the admin to host with the given api-version; returns the status and, when out
 * is given, the body in *out (NULL when empty). */
static inline int api_env_call(struct api_env *e, const char *method, const char *host,
			       const char *path, const char *version, const char *body,
			       json_t **out)
{
	struct api_req req;
	struct api_resp resp;
	struct kl_err err = { 0 };
	int status;

	api_env_req(e, &req, method, host, path, NULL, e->bearer);
	assert_int_equal(api_req_add_query(&req, "api-version", version, &err), 0);
	api_env_answer(e, &req, &resp, body);
	status = resp.status;
	if (out != NULL)
		*out = resp.body.len ? json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL)
				     : NULL;
	api_req_free(&req);
	api_resp_free(&resp);
	return status;
}

/* POSTs body to path at host as the admin, finished with api_req_done (as http/ finishes a
 * request) when done; returns the status, the body parsed into *out (NULL when empty). */
static inline int api_env_admin_post(struct api_env *e, const char *host, const char *path,
				     const char *body, bool done, json_t **out)
{
	struct api_req req;
	struct api_resp resp;
	int status;

	api_env_req(e, &req, "POST", host, path, NULL, e->bearer);
	api_env_answer(e, &req, &resp, body);
	if (done)
		api_req_done(e->api, &req, &resp, resp.status);
	status = resp.status;
	*out = NULL;
	if (resp.body.len > 0)
		assert_non_null(*out = json_loadb((const char *)resp.body.data, resp.body.len, 0,
						  NULL));
	api_req_free(&req);
	api_resp_free(&resp);
	return status;
}

/* A principal name with role on the default vault, made through the admin API at admin_host
 * (requests finished as http/ does when done); its "Bearer ..." into bearer. */
static inline void api_env_make_principal(struct api_env *e, const char *admin_host,
					  const char *name, const char *role, bool done,
					  char *bearer, size_t n)
{
	char body[256];
	json_t *j;

	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	assert_int_equal(api_env_admin_post(e, admin_host, "/kluis/v1/principals", body, done, &j),
			 201);
	snprintf(bearer, n, "Bearer %s", json_string_value(json_object_get(j, "token")));
	json_decref(j);
	snprintf(body, sizeof(body), "{\"principal\":\"%s\",\"role\":\"%s\",\"vault\":\"default\"}",
		 name, role);
	assert_int_equal(api_env_admin_post(e, admin_host, "/kluis/v1/roleAssignments", body, done,
					    &j),
			 201);
	json_decref(j);
}

#endif
