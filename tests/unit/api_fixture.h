/* The fixture the api/ unit tests share: a fresh deployment (fixture.h) with api/ over it and the
 * admin's bearer token, and requests through it as http/ makes them (api_drive.h), asserted to
 * be built. Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_API_FIXTURE_H
#define KLUIS_TESTS_API_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/internal.h"
#include "api_drive.h"
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

/* d through e's api/ (api_drive), which must manage to build it; the answer into *resp, which
 * the caller frees with api_resp_free. */
static inline void api_env_drive(struct api_env *e, const struct api_drive_req *d,
				 struct api_resp *resp)
{
	struct kl_err err = { 0 };

	if (api_drive(e->api, d, resp, &err) != 0)
		fail_msg("api_drive %s %s: %s", d->method, d->path, err.msg);
}

/* d through e's api/; returns the status and, when out is given, the body parsed into *out (NULL
 * when empty or not JSON). */
static inline int api_env_send(struct api_env *e, const struct api_drive_req *d, json_t **out)
{
	struct kl_err err = { 0 };
	int status = api_drive_status(e->api, d, out, &err);

	if (status < 0)
		fail_msg("api_drive %s %s: %s", d->method, d->path, err.msg);
	return status;
}

/* One request as the admin to host with the given api-version and body (NULL: none); returns
 * the status and, when out is given, the body in *out (NULL when empty). */
static inline int api_env_call(struct api_env *e, const char *method, const char *host,
			       const char *path, const char *version, const char *body,
			       json_t **out)
{
	const struct api_drive_req d = { .method = method, .host = host, .path = path,
					 .api_version = version, .authorization = e->bearer,
					 .body = body, .body_len = api_drive_len(body) };

	return api_env_send(e, &d, out);
}

/* POSTs body to path at host as the admin; returns the status, the body parsed into *out (NULL
 * when empty; a body that is not JSON fails the test). */
static inline int api_env_admin_post(struct api_env *e, const char *host, const char *path,
				     const char *body, json_t **out)
{
	const struct api_drive_req d = { .method = "POST", .host = host, .path = path,
					 .authorization = e->bearer, .body = body,
					 .body_len = strlen(body) };
	struct api_resp resp;
	int status;

	api_env_drive(e, &d, &resp);
	status = resp.status;
	*out = NULL;
	if (resp.body.len > 0)
		assert_non_null(*out = api_drive_json(&resp));
	api_resp_free(&resp);
	return status;
}

/* A principal name with role on the default vault, made through the admin API at admin_host;
 * its "Bearer ..." into bearer. */
static inline void api_env_make_principal(struct api_env *e, const char *admin_host,
					  const char *name, const char *role, char *bearer,
					  size_t n)
{
	char body[256];
	json_t *j;

	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	assert_int_equal(api_env_admin_post(e, admin_host, "/kluis/v1/principals", body, &j), 201);
	snprintf(bearer, n, "Bearer %s", json_string_value(json_object_get(j, "token")));
	json_decref(j);
	snprintf(body, sizeof(body), "{\"principal\":\"%s\",\"role\":\"%s\",\"vault\":\"default\"}",
		 name, role);
	assert_int_equal(api_env_admin_post(e, admin_host, "/kluis/v1/roleAssignments", body, &j),
			 201);
	json_decref(j);
}

#endif
