/* api/observe: requests built in memory, answered by api_begin and api_dispatch against a real
 * deployment, then finished with api_req_done as http/ does (api_drive.h). Their audit lines name
 * the operation, principal, vault and object, and never the token, the body, the query or a
 * secret value from the response; GET /metrics needs no token and counts them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/internal.h"
#include "api_drive.h"
#include "fixture.h"
#include "util/json.h"
#include "util/logfile.h"

#define HOST "default.vault.localhost:8443"
#define VALUE "VALUE-d41d8cd98f00b204e9800998ecf8427e"
#define QUERY_SECRET "QUERY-9e107d9d372bb6826bd81d3542a419d6"
#define BOGUS_TOKEN "kl1.BOGUS-e4d909c290d0fb1ca068ffaddf22cbd0"

struct env {
	struct fixture_dir dir;
	char audit_path[320];
	struct logfile *audit;
	struct vault_core *core;
	struct api_ctx *api;
	char token[128];
	char bearer[160];
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default",
				  .region = "westeurope" };
	struct kl_err err = { 0 };

	json_util_init();
	if (e == NULL || fixture_dir_make(&e->dir) != 0)
		return -1;
	snprintf(e->audit_path, sizeof(e->audit_path), "%s/audit.log", e->dir.path);
	if ((e->audit = logfile_open(e->audit_path, &err)) == NULL ||
	    (e->core = fixture_core_open(&e->dir, 90, &err)) == NULL)
		return -1;
	cfg.audit = e->audit;
	if ((e->api = api_ctx_new(&cfg, e->core, &err)) == NULL ||
	    fixture_admin_token(&e->dir, e->token, sizeof(e->token)) != 0)
		return -1;
	snprintf(e->bearer, sizeof(e->bearer), "Bearer %s", e->token);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	api_ctx_free(e->api);
	vault_core_close(e->core);
	logfile_free(e->audit);
	fixture_dir_remove(&e->dir);
	free(e);
	return 0;
}

/* One request through the whole pipeline, finished as http/ finishes it (api_drive). The response
 * body is copied into body (when not NULL). Returns the status. */
static int send_req(struct env *e, const char *method, const char *path, const char *query_value,
		    const char *authz, const char *json, char *body, size_t body_size)
{
	const struct api_drive_param extra = { .name = "extra", .value = query_value };
	const struct api_drive_req d = { .method = method, .host = HOST, .path = path,
					 .api_version = "7.5", .params = &extra,
					 .n_params = query_value != NULL ? 1 : 0,
					 .authorization = authz, .client_request_id = "client-req-7",
					 .content_type = "application/json",
					 .client_addr = "127.0.0.1:40000", .body = json,
					 .body_len = api_drive_len(json) };
	struct api_resp resp;
	struct kl_err err = { 0 };
	int status;

	assert_int_equal(api_drive(e->api, &d, &resp, &err), 0);
	status = resp.status;
	if (body != NULL)
		api_drive_body_copy(&resp, body, body_size);
	api_resp_free(&resp);
	return status;
}

/* The audit log's lines, parsed; the raw text into raw. */
static json_t *audit_lines(struct env *e, char *raw, size_t raw_size)
{
	FILE *f = fopen(e->audit_path, "r");
	json_t *lines = json_array(), *j;
	char line[8192];
	size_t used = 0;

	assert_non_null(f);
	raw[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_non_null(strchr(line, '\n'));
		assert_non_null(j = json_loads(line, 0, NULL));
		json_array_append_new(lines, j);
		used += (size_t)snprintf(raw + used, raw_size - used, "%s", line);
		assert_true(used < raw_size);
	}
	fclose(f);
	return lines;
}

static const char *field(json_t *line, const char *key)
{
	return json_string_value(json_object_get(line, key));
}

static void test_audit_names_the_request_never_its_secrets(void **state)
{
	struct env *e = *state;
	static char raw[1 << 16];
	char body[4096];
	json_t *lines, *l;

	assert_int_equal(send_req(e, "PUT", "/secrets/db-password", QUERY_SECRET, e->bearer,
				  "{\"value\":\"" VALUE "\"}", NULL, 0), 200);
	assert_int_equal(send_req(e, "GET", "/secrets/db-password/", NULL, e->bearer, NULL, body,
				  sizeof(body)), 200);
	assert_non_null(strstr(body, VALUE));	/* the response has it; the audit log must not */
	assert_int_equal(send_req(e, "GET", "/secrets/db-password", NULL, "Bearer " BOGUS_TOKEN,
				  NULL, NULL, 0), 401);
	assert_int_equal(send_req(e, "GET", "/secrets/missing/0123456789abcdef0123456789abcdef",
				  NULL, e->bearer, NULL, NULL, 0), 404);
	assert_int_equal(send_req(e, "POST", "/no/such/" VALUE, NULL, e->bearer, NULL, NULL, 0),
			 404);

	lines = audit_lines(e, raw, sizeof(raw));
	assert_int_equal(json_array_size(lines), 5);
	assert_null(strstr(raw, VALUE));
	assert_null(strstr(raw, e->token));
	assert_null(strstr(raw, BOGUS_TOKEN));
	assert_null(strstr(raw, QUERY_SECRET));
	assert_null(strstr(raw, "Bearer"));

	l = json_array_get(lines, 0);
	assert_string_equal(field(l, "operation"), "SetSecret");
	assert_string_equal(field(l, "method"), "PUT");
	assert_string_equal(field(l, "vault"), "default");
	assert_string_equal(field(l, "object"), "db-password");
	assert_true(json_is_null(json_object_get(l, "version")));
	assert_string_equal(field(l, "result"), "OK");
	assert_int_equal(json_integer_value(json_object_get(l, "status")), 200);
	assert_string_equal(field(json_object_get(l, "principal"), "name"), "admin");
	assert_true(json_is_true(json_object_get(json_object_get(l, "principal"), "isAdmin")));
	assert_string_equal(field(l, "clientRequestId"), "client-req-7");
	assert_string_equal(field(l, "clientAddress"), "127.0.0.1:40000");
	assert_string_equal(field(l, "region"), "westeurope");
	assert_string_equal(field(l, "mode"), "read-write");
	assert_int_equal(strlen(field(l, "requestId")), 36);
	assert_true(json_real_value(json_object_get(l, "durationMs")) >= 0);

	l = json_array_get(lines, 1);
	assert_string_equal(field(l, "operation"), "GetSecret");
	assert_true(json_is_null(json_object_get(l, "version")));	/* "": the latest */

	l = json_array_get(lines, 2);	/* a bad token: no principal */
	assert_int_equal(json_integer_value(json_object_get(l, "status")), 401);
	assert_string_equal(field(l, "result"), "Unauthorized");
	assert_true(json_is_null(json_object_get(l, "principal")));

	l = json_array_get(lines, 3);
	assert_string_equal(field(l, "object"), "missing");
	assert_string_equal(field(l, "version"), "0123456789abcdef0123456789abcdef");
	assert_string_equal(field(l, "result"), "SecretNotFound");

	l = json_array_get(lines, 4);	/* no route: not even the path is kept */
	assert_string_equal(field(l, "operation"), "unknown");
	assert_true(json_is_null(json_object_get(l, "object")));
	assert_string_equal(field(l, "result"), "NotFound");
	json_decref(lines);
}

static void test_metrics_without_token_counts_requests(void **state)
{
	struct env *e = *state;
	bool is_begun = false;
	const struct api_drive_req d = { .method = "GET", .path = "/metrics",
					 .go_on = api_drive_note_begun, .arg = &is_begun };
	struct api_resp resp;
	struct kl_err err = { 0 };
	const char *ct, *text;

	assert_int_equal(send_req(e, "GET", "/secrets/nothing-here", NULL, e->bearer, NULL, NULL,
				  0), 404);
	assert_int_equal(api_drive(e->api, &d, &resp, &err), 0);
	assert_true(is_begun);	/* no token asked for */
	assert_int_equal(resp.status, 200);
	ct = api_drive_header(&resp, "Content-Type");
	assert_non_null(ct);
	assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
	text = buf_cstr(&resp.body);
	assert_non_null(strstr(text,
			       "\nkluis_requests_total{operation=\"GetSecret\",status=\"404\"} "));
	assert_non_null(strstr(text, "\nkluis_requests_in_flight 1\n"));	/* this one */
	assert_non_null(strstr(text, "\nkluis_mode{mode=\"read-write\"} 1\n"));
	assert_non_null(strstr(text, "\nkluis_storage_role{role=\"primary\"} 1\n"));
	assert_non_null(strstr(text, "\nkluis_audit_write_failures_total 0\n"));
	assert_non_null(strstr(text,
			       "\nkluis_node_info{region=\"westeurope\",storage=\"lmdb\"} 1\n"));
	api_resp_free(&resp);
}

/* A background job's event is one audit line of its own: method JOB, the jobs as principal. */
static void test_job_event_is_an_audit_line(void **state)
{
	struct env *e = *state;
	struct vault_job_event ev = { .vault = "default", .operation = "CertificateLifetimeAutoRenew",
				      .object = "web", .version = "0123456789abcdef0123456789abcdef",
				      .result = "OK" };
	char raw[8192];
	json_t *lines, *l;

	api_audit_job_event(e->api, &ev);
	lines = audit_lines(e, raw, sizeof(raw));
	assert_int_equal(json_array_size(lines), 1);
	l = json_array_get(lines, 0);
	assert_string_equal(field(l, "method"), "JOB");
	assert_string_equal(field(l, "operation"), "CertificateLifetimeAutoRenew");
	assert_string_equal(field(l, "vault"), "default");
	assert_string_equal(field(l, "object"), "web");
	assert_string_equal(field(l, "version"), "0123456789abcdef0123456789abcdef");
	assert_string_equal(field(l, "result"), "OK");
	assert_string_equal(json_string_value(json_object_get(json_object_get(l, "principal"),
							      "name")), "kluis-jobs");
	assert_string_equal(field(l, "region"), "westeurope");
	json_decref(lines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_audit_names_the_request_never_its_secrets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_without_token_counts_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_job_event_is_an_audit_line, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
