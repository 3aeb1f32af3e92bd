/* A deployment with a chosen certificate issue delay, and requests through api_dispatch, for the
 * certificates API tests. Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_CERTS_SUPPORT_H
#define KLUIS_TESTS_CERTS_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/internal.h"
#include "fixture.h"
#include "util/json.h"

#define HOST "default.vault.localhost"

struct env {
	struct fixture_dir dir;
	struct vault_core *core;
	struct api_ctx *api;
	char bearer[160];
};

/* The answer of one request: status, parsed body (NULL when empty), Location header. */
struct res {
	int status;
	json_t *body;
	char location[512];
};

static inline void res_clear(struct res *r)
{
	json_decref(r->body);
	memset(r, 0, sizeof(*r));
}

/* One request; path may carry "?a=b&c=d" (added as query parameters). */
static inline int req(struct env *e, const char *method, const char *path, const char *body,
		      struct res *out)
{
	struct api_req rq;
	struct api_resp resp;
	struct kl_err err = { 0 };
	char p[1024], *q;
	size_t i;
	int status;

	assert_int_equal(api_req_init(e->api, &rq, &err), 0);
	api_resp_init(&resp);
	snprintf(rq.method, sizeof(rq.method), "%s", method);
	snprintf(p, sizeof(p), "%s", path);
	if ((q = strchr(p, '?')) != NULL) {
		char *save = NULL, *kv;

		*q++ = '\0';
		for (kv = strtok_r(q, "&", &save); kv != NULL; kv = strtok_r(NULL, "&", &save)) {
			char *eq = strchr(kv, '=');

			assert_non_null(eq);
			*eq = '\0';
			assert_int_equal(api_req_add_query(&rq, kv, eq + 1, &err), 0);
		}
	}
	rq.path = strdup(p);
	rq.host = strdup(HOST);
	rq.authorization = strdup(e->bearer);
	assert_int_equal(api_req_add_query(&rq, "api-version", "7.6", &err), 0);
	if (api_begin(e->api, &rq, &resp) == 0) {
		if (body != NULL)
			assert_int_equal(buf_append_str(&rq.body, body, &err), 0);
		api_dispatch(e->api, &rq, &resp);
	}
	status = resp.status;
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->status = status;
		out->body = NULL;
		if (resp.body.len > 0)
			out->body = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
		for (i = 0; i < resp.n_headers; i++)
			if (strcmp(resp.headers[i].name, "Location") == 0)
				snprintf(out->location, sizeof(out->location), "%s",
					 resp.headers[i].value);
	}
	api_req_free(&rq);
	api_resp_free(&resp);
	return status;
}

/* Status of a request whose body is not needed. */
static inline int st(struct env *e, const char *method, const char *path, const char *body)
{
	return req(e, method, path, body, NULL);
}

static inline const char *jstr(json_t *j, const char *path)
{
	char buf[256], *save = NULL, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL && j != NULL;
	     part = strtok_r(NULL, ".", &save))
		j = json_object_get(j, part);
	return json_string_value(j);
}

static inline json_t *jget(json_t *j, const char *path)
{
	char buf[256], *save = NULL, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL && j != NULL;
	     part = strtok_r(NULL, ".", &save))
		j = json_object_get(j, part);
	return j;
}

static inline const char *err_code(const struct res *r)
{
	return jstr(r->body, "error.code");
}

/* A fresh deployment whose Self certificates are issued delay_s seconds after create. */
static inline int env_open(void **state, int delay_s)
{
	struct env *e = calloc(1, sizeof(*e));
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct vault_core_config vcfg = { .default_vault = "default", .retention_days = 90,
					  .cert_issue_delay_s = delay_s };
	struct kl_err err = { 0 };
	struct store *st;
	char token[128];

	if (e == NULL || fixture_dir_make(&e->dir) != 0)
		return -1;
	vcfg.data_dir = e->dir.path;
	if ((st = store_lmdb_open(e->dir.store, 64u * 1024 * 1024, &err)) == NULL ||
	    (e->core = vault_core_open(&vcfg, st, &err)) == NULL ||
	    (e->api = api_ctx_new(&cfg, e->core, &err)) == NULL ||
	    fixture_admin_token(&e->dir, token, sizeof(token)) != 0)
		return -1;
	snprintf(e->bearer, sizeof(e->bearer), "Bearer %s", token);
	*state = e;
	return 0;
}

static inline int env_close(void **state)
{
	struct env *e = *state;

	api_ctx_free(e->api);
	vault_core_close(e->core);
	fixture_dir_remove(&e->dir);
	free(e);
	return 0;
}

#define SELF_POLICY(subject) \
	"{\"policy\":{\"x509_props\":{\"subject\":\"" subject "\"},\"issuer\":{\"name\":\"Self\"}}}"

#endif
