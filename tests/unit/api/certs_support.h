/* A deployment with a chosen certificate issue delay, and requests through api_dispatch, for the
 * certificates API tests. Header-only so each test binary stands alone. */
#ifndef KLUIS_TESTS_CERTS_SUPPORT_H
#define KLUIS_TESTS_CERTS_SUPPORT_H

#include "api_fixture.h"

#define HOST "default.vault.localhost"

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
static inline int req(struct api_env *e, const char *method, const char *path, const char *body,
		      struct res *out)
{
	struct api_drive_req d = { .method = method, .host = HOST, .api_version = "7.6",
				   .authorization = e->bearer, .body = body,
				   .body_len = api_drive_len(body) };
	struct api_resp resp;
	char p[1024], *q;
	int status;

	snprintf(p, sizeof(p), "%s", path);
	if ((q = strchr(p, '?')) != NULL)
		*q++ = '\0';
	d.path = p;
	d.query = q;
	api_env_drive(e, &d, &resp);
	status = resp.status;
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->status = status;
		out->body = api_drive_json(&resp);
		api_drive_header_copy(&resp, "Location", out->location, sizeof(out->location));
	}
	api_resp_free(&resp);
	return status;
}

/* Status of a request whose body is not needed. */
static inline int st(struct api_env *e, const char *method, const char *path, const char *body)
{
	return req(e, method, path, body, NULL);
}

/* The member at a dotted path ("error.code"), or NULL. */
static inline json_t *jget(json_t *j, const char *path)
{
	char buf[256], *save = NULL, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL && j != NULL;
	     part = strtok_r(NULL, ".", &save))
		j = json_object_get(j, part);
	return j;
}

/* The string at a dotted path, or NULL. */
static inline const char *jstr(json_t *j, const char *path)
{
	return json_string_value(jget(j, path));
}

static inline const char *err_code(const struct res *r)
{
	return jstr(r->body, "error.code");
}

/* A fresh deployment whose Self certificates are issued delay_s seconds after create. */
static inline int env_open(void **state, int delay_s)
{
	return api_env_setup(state, NULL, delay_s);
}

static inline int env_close(void **state)
{
	return api_env_teardown(state);
}

#define SELF_POLICY(subject) \
	"{\"policy\":{\"x509_props\":{\"subject\":\"" subject "\"},\"issuer\":{\"name\":\"Self\"}}}"

#endif
