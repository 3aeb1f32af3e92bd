/* api/ without sockets: requests built in memory go through api_begin and api_dispatch against a
 * real deployment (LMDB in a temporary directory). */
#include "api_fixture.h"

struct result {
	int status;
	json_t *body;
	char www_auth[512];
	char retry_after[16];
	char request_id[64];
	char client_id[64];	/* echoed */
	char sent_client_id[64];
};

static void result_clear(struct result *r)
{
	json_decref(r->body);
	memset(r, 0, sizeof(*r));
}

#define NO_CLIENT_ID ""

/* Sends one request with x-ms-client-request-id client_id (NO_CLIENT_ID: none; NULL: a fresh
 * one, as the SDKs send one per request: a create with a used id is replayed or refused); query
 * is "a=b&c=d" already decoded (no escapes), or NULL. */
static void send_req_id(struct api_env *e, const char *method, const char *host, const char *path,
			const char *query, const char *authz, const char *body,
			const char *client_id, struct result *out)
{
	static unsigned seq;
	struct api_drive_req d = { .method = method, .host = host, .path = path, .query = query,
				   .authorization = authz, .body = body,
				   .body_len = api_drive_len(body) };
	struct api_resp resp;

	memset(out, 0, sizeof(*out));
	if (client_id == NULL)
		snprintf(out->sent_client_id, sizeof(out->sent_client_id), "client-id-%u", ++seq);
	else
		snprintf(out->sent_client_id, sizeof(out->sent_client_id), "%s", client_id);
	if (out->sent_client_id[0] != '\0')
		d.client_request_id = out->sent_client_id;
	api_env_drive(e, &d, &resp);
	out->status = resp.status;
	if (resp.body.len > 0)
		assert_non_null(out->body = api_drive_json(&resp));
	api_drive_header_copy(&resp, "WWW-Authenticate", out->www_auth, sizeof(out->www_auth));
	api_drive_header_copy(&resp, "Retry-After", out->retry_after, sizeof(out->retry_after));
	api_drive_header_copy(&resp, "x-ms-request-id", out->request_id, sizeof(out->request_id));
	api_drive_header_copy(&resp, "x-ms-client-request-id", out->client_id,
			      sizeof(out->client_id));
	api_resp_free(&resp);
}

static void send_req(struct api_env *e, const char *method, const char *host, const char *path,
		     const char *query, const char *authz, const char *body, struct result *out)
{
	send_req_id(e, method, host, path, query, authz, body, NULL, out);
}

#define HOST "default.vault.localhost:8443"
#define V "api-version=7.5"

/* Sends one request as the admin to the default vault and expects status. */
static void send_expect(struct api_env *e, const char *method, const char *path, const char *body,
			int status)
{
	struct result r;

	send_req(e, method, HOST, path, V, e->bearer, body, &r);
	if (r.status != status)
		fail_msg("%s %s: %d, expected %d", method, path, r.status, status);
	result_clear(&r);
}

static const char *err_code(const struct result *r)
{
	return json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
}

static void test_no_token_gets_challenge(void **state)
{
	struct api_env *e = *state;
	struct result r;
	char expect[256];

	send_req(e, "GET", HOST, "/secrets/a", V, NULL, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(err_code(&r), "Unauthorized");
	snprintf(expect, sizeof(expect),
		 "Bearer authorization=\"https://" HOST "/%s\", resource=\"https://vault.localhost:8443\"",
		 vault_core_tenant(e->core));
	assert_string_equal(r.www_auth, expect);
	assert_string_equal(r.client_id, r.sent_client_id);
	assert_int_equal(strlen(r.request_id), 36);
	result_clear(&r);
}

static void test_request_ids_are_unique_uuids(void **state)
{
	struct api_env *e = *state;
	struct result a, b;

	send_req(e, "GET", NULL, "/health", NULL, NULL, NULL, &a);
	send_req(e, "GET", NULL, "/health", NULL, NULL, NULL, &b);
	assert_int_equal(strlen(a.request_id), 36);
	assert_string_not_equal(a.request_id, b.request_id);
	assert_true(a.request_id[8] == '-' && a.request_id[13] == '-' && a.request_id[14] == '4');
	assert_true(strchr("89ab", a.request_id[19]) != NULL);
	result_clear(&a);
	result_clear(&b);
}

static void test_wrong_token_is_401(void **state)
{
	struct api_env *e = *state;
	struct result r;

	send_req(e, "GET", HOST, "/secrets", V, "Bearer kl1.notthetoken", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_true(strlen(r.www_auth) > 0);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", V, "Basic abc", NULL, &r);
	assert_int_equal(r.status, 401);
	result_clear(&r);
}

static void test_api_version_rules(void **state)
{
	struct api_env *e = *state;
	struct result r;
	const char *msg;

	send_req(e, "GET", HOST, "/secrets", NULL, e->bearer, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(err_code(&r), "BadParameter");
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", "api-version=1999-01-01", e->bearer, NULL, &r);
	assert_int_equal(r.status, 400);
	msg = json_string_value(json_object_get(json_object_get(r.body, "error"), "message"));
	assert_non_null(strstr(msg, "The specified version (1999-01-01) is not recognized"));
	result_clear(&r);
	/* what the JS SDK sends: 4.11 sent 2025-07-01, 4.12 sends 2026-04-01; Python sends 7.3 */
	send_req(e, "GET", HOST, "/secrets", "api-version=2025-07-01", e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", "api-version=2026-04-01", e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", "api-version=7.3", e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
}

static void test_set_get_update_latest(void **state)
{
	struct api_env *e = *state;
	struct result r;
	char id[256], ver[64];
	json_t *a;

	send_req(e, "PUT", HOST, "/secrets/Alpha", V, e->bearer,
		 "{\"value\":\"s3cr3t\",\"contentType\":\"text/plain\",\"attributes\":{},"
		 "\"tags\":{\"env\":\"test\"}}", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "value")), "s3cr3t");
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(r.body, "id")));
	assert_memory_equal(id, "https://" HOST "/secrets/Alpha/", strlen("https://" HOST "/secrets/Alpha/"));
	snprintf(ver, sizeof(ver), "%s", strrchr(id, '/') + 1);
	assert_int_equal(strlen(ver), 32);
	a = json_object_get(r.body, "attributes");
	assert_true(json_is_true(json_object_get(a, "enabled")));
	assert_string_equal(json_string_value(json_object_get(a, "recoveryLevel")), "Recoverable+Purgeable");
	assert_int_equal(json_integer_value(json_object_get(a, "recoverableDays")), 90);
	result_clear(&r);

	/* latest by empty version segment, by missing segment, by exact version; case-insensitive */
	send_req(e, "GET", HOST, "/secrets/alpha/", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "id")), id);
	result_clear(&r);
	send_expect(e, "GET", "/secrets/ALPHA", NULL, 200);
	send_req(e, "GET", HOST, strchr(id + 8, '/'), V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "value")), "s3cr3t");
	result_clear(&r);

	/* update: disable; then get is 403 SecretDisabled, update response has no value */
	send_req(e, "PATCH", HOST, "/secrets/Alpha/", V, e->bearer,
		 "{\"attributes\":{\"enabled\":false},\"contentType\":\"x\"}", &r);
	assert_int_equal(r.status, 200);
	assert_null(json_object_get(r.body, "value"));
	assert_string_equal(json_string_value(json_object_get(r.body, "contentType")), "x");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "tags"), "env")), "test");
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets/Alpha", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(err_code(&r), "Forbidden");
	result_clear(&r);
}

static void test_bad_bodies_change_nothing(void **state)
{
	struct api_env *e = *state;
	static const char *const bodies[] = {
		"", "{", "[]", "{\"value\":1}", "{\"value\":\"x\",\"tags\":[]}",
		"{\"value\":\"x\",\"attributes\":{\"enabled\":\"yes\"}}",
		"{\"value\":\"x\",\"attributes\":{\"exp\":\"soon\"}}", "{\"contentType\":\"x\"}",
		"{\"value\":\"x\"} trailing", "{\"value\":\"x\",\"contentType\":5}",
	};
	struct result r;
	size_t i;

	send_expect(e, "PUT", "/secrets/keep", "{\"value\":\"original\"}", 200);
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		send_req(e, "PUT", HOST, "/secrets/keep", V, e->bearer, bodies[i], &r);
		assert_int_equal(r.status, 400);
		assert_string_equal(err_code(&r), "BadParameter");
		result_clear(&r);
	}
	send_expect(e, "PUT", "/secrets/bad_name", "{\"value\":\"x\"}", 400);
	send_req(e, "GET", HOST, "/secrets/keep", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "value")), "original");
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets/keep/versions", V, e->bearer, NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.body, "value")), 1);
	result_clear(&r);
}

static void test_paging_follows_skiptoken(void **state)
{
	struct api_env *e = *state;
	struct result r;
	char path[64], next[1024];
	size_t seen = 0, pages = 0;
	int i;

	for (i = 0; i < 30; i++) {
		snprintf(path, sizeof(path), "/secrets/page-%02d", i);
		send_req(e, "PUT", HOST, path, V, e->bearer, "{\"value\":\"v\"}", &r);
		assert_int_equal(r.status, 200);
		result_clear(&r);
	}
	snprintf(next, sizeof(next), "%s", V "&maxresults=7");
	for (;;) {
		json_t *nl;
		const char *q;

		send_req(e, "GET", HOST, "/secrets", next, e->bearer, NULL, &r);
		assert_int_equal(r.status, 200);
		seen += json_array_size(json_object_get(r.body, "value"));
		pages++;
		nl = json_object_get(r.body, "nextLink");
		if (json_is_null(nl)) {
			result_clear(&r);
			break;
		}
		q = strchr(json_string_value(nl), '?');
		assert_memory_equal(json_string_value(nl), "https://" HOST "/secrets?", strlen("https://" HOST "/secrets?"));
		snprintf(next, sizeof(next), "%s", q + 1);
		result_clear(&r);
	}
	/* other tests may have stored a few secrets too: every one is seen exactly once */
	assert_true(seen >= 30);
	assert_true(pages >= 5);
	send_req(e, "GET", HOST, "/secrets", V "&$skiptoken=garbage!", e->bearer, NULL, &r);
	assert_int_equal(r.status, 400);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", V "&maxresults=0", e->bearer, NULL, &r);
	assert_int_equal(r.status, 400);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", V "&maxresults=abc", e->bearer, NULL, &r);
	assert_int_equal(r.status, 400);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets", V "&maxresults=1000", e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.body, "value")), 25);
	result_clear(&r);
}

/* The versions of a name that has no live object are an empty page, as the service answers:
 * never made, deleted, and purged alike, with or without maxresults; a bad name stays a 400. */
static void test_versions_of_absent_name_are_empty(void **state)
{
	static const char *const paths[] = { "/secrets/never-made/versions", "/keys/never-made/versions",
					     "/secrets/vgone/versions", "/keys/vgone/versions" };
	static const char *const queries[] = { V, V "&maxresults=5" };
	struct api_env *e = *state;
	struct result r;
	size_t i, j;

	send_expect(e, "PUT", "/secrets/vgone", "{\"value\":\"v\"}", 200);
	send_expect(e, "POST", "/keys/vgone/create", "{\"kty\":\"EC\"}", 200);
	send_expect(e, "DELETE", "/secrets/vgone", NULL, 200);
	send_expect(e, "DELETE", "/keys/vgone", NULL, 200);
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		for (j = 0; j < sizeof(queries) / sizeof(queries[0]); j++) {
			send_req(e, "GET", HOST, paths[i], queries[j], e->bearer, NULL, &r);
			assert_int_equal(r.status, 200);
			assert_true(json_is_array(json_object_get(r.body, "value")));
			assert_int_equal(json_array_size(json_object_get(r.body, "value")), 0);
			assert_true(json_is_null(json_object_get(r.body, "nextLink")));
			result_clear(&r);
		}
	}
	send_expect(e, "DELETE", "/deletedsecrets/vgone", NULL, 204);
	send_req(e, "GET", HOST, "/secrets/vgone/versions", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.body, "value")), 0);
	result_clear(&r);
	send_expect(e, "GET", "/secrets/bad_name/versions", NULL, 400);
}

/* A create sent again with its x-ms-client-request-id (its answer was lost) gets the first
 * answer; the id with another body is refused (409, no Retry-After: no retry would help); no id
 * makes a version each time. */
static void test_retried_create_is_replayed_or_refused(void **state)
{
	struct api_env *e = *state;
	const char *body = "{\"value\":\"a\"}";
	struct result a, b, k1, k2;
	const char *inner;

	send_req_id(e, "PUT", HOST, "/secrets/retried", V, e->bearer, body, "retry-1", &a);
	send_req_id(e, "PUT", HOST, "/secrets/retried", V, e->bearer, body, "retry-1", &b);
	assert_int_equal(a.status, 200);
	assert_int_equal(b.status, 200);
	assert_string_equal(json_string_value(json_object_get(b.body, "id")),
			    json_string_value(json_object_get(a.body, "id")));
	assert_string_equal(json_string_value(json_object_get(b.body, "value")), "a");
	assert_true(json_equal(json_object_get(b.body, "attributes"),
			       json_object_get(a.body, "attributes")));
	assert_string_equal(b.client_id, "retry-1");
	result_clear(&b);
	send_req_id(e, "PUT", HOST, "/secrets/retried", V, e->bearer, "{\"value\":\"b\"}",
		    "retry-1", &b);
	assert_int_equal(b.status, 409);
	assert_string_equal(err_code(&b), "Conflict");
	inner = json_string_value(json_object_get(
		json_object_get(json_object_get(b.body, "error"), "innererror"), "code"));
	assert_non_null(inner);
	assert_string_equal(inner, "ClientRequestIdReused");
	assert_string_equal(b.retry_after, "");
	result_clear(&b);
	send_req(e, "GET", HOST, "/secrets/retried", V, e->bearer, NULL, &b);
	assert_string_equal(json_string_value(json_object_get(b.body, "value")), "a");
	assert_string_equal(json_string_value(json_object_get(b.body, "id")),
			    json_string_value(json_object_get(a.body, "id")));
	result_clear(&a);
	result_clear(&b);
	/* without the header: a version per request */
	send_req_id(e, "PUT", HOST, "/secrets/retried", V, e->bearer, body, NO_CLIENT_ID, &a);
	send_req_id(e, "PUT", HOST, "/secrets/retried", V, e->bearer, body, NO_CLIENT_ID, &b);
	assert_string_equal(a.client_id, "");
	assert_string_not_equal(json_string_value(json_object_get(a.body, "id")),
				json_string_value(json_object_get(b.body, "id")));
	result_clear(&a);
	result_clear(&b);
	/* a key's create and rotation: the first key again */
	body = "{\"kty\":\"EC\",\"crv\":\"P-256\"}";
	send_req_id(e, "POST", HOST, "/keys/retried/create", V, e->bearer, body, "retry-k", &k1);
	send_req_id(e, "POST", HOST, "/keys/retried/create", V, e->bearer, body, "retry-k", &k2);
	assert_int_equal(k1.status, 200);
	assert_true(json_equal(json_object_get(k1.body, "key"), json_object_get(k2.body, "key")));
	result_clear(&k1);
	result_clear(&k2);
	send_req_id(e, "POST", HOST, "/keys/retried/rotate", V, e->bearer, NULL, "retry-r", &k1);
	send_req_id(e, "POST", HOST, "/keys/retried/rotate", V, e->bearer, NULL, "retry-r", &k2);
	assert_int_equal(k1.status, 200);
	assert_true(json_equal(json_object_get(k1.body, "key"), json_object_get(k2.body, "key")));
	result_clear(&k1);
	result_clear(&k2);
}

/* A blob that cannot be restored gets the service's own words, which the SDKs' tests compare:
 * whatever the fault (zeros, not base64url, the other kind's blob, a flipped byte). */
static void test_restore_refusals_use_the_service_words(void **state)
{
	static const char *const secret_text = "Backup blob contains invalid or corrupt version.";
	static const char *const key_text = "Backup blob contains invalid or corrupt version.";
	struct api_env *e = *state;
	struct result r;
	char body[8192], good[4096], zeros[6400];
	size_t i;

	memset(zeros, 'A', sizeof(zeros) - 1);
	zeros[sizeof(zeros) - 1] = '\0';
	send_req(e, "PUT", HOST, "/secrets/rblob", V, e->bearer, "{\"value\":\"v\"}", &r);
	result_clear(&r);
	send_req(e, "POST", HOST, "/secrets/rblob/backup", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	snprintf(good, sizeof(good), "%s", json_string_value(json_object_get(r.body, "value")));
	result_clear(&r);
	for (i = 0; i < 5; i++) {
		const char *path = i == 3 ? "/keys/restore" : "/secrets/restore";

		if (i == 0)
			snprintf(body, sizeof(body), "{\"value\":\"%s\"}", zeros);
		else if (i == 1)
			snprintf(body, sizeof(body), "{\"value\":\"!not base64url!\"}");
		else if (i == 2)
			snprintf(body, sizeof(body), "{\"value\":\"\"}");
		else
			snprintf(body, sizeof(body), "{\"value\":\"%s%s\"}", good,
				 i == 4 ? "AAAA" : "");
		send_req(e, "POST", HOST, path, V, e->bearer, body, &r);
		assert_int_equal(r.status, 400);
		assert_string_equal(err_code(&r), "Malformed backup blob");
		assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "error"),
								      "message")),
				    i == 3 ? key_text : secret_text);
		result_clear(&r);
	}
	/* Not a blob at all: kluis's own words, still a 400. */
	send_req(e, "POST", HOST, "/keys/restore", V, e->bearer, "{\"value\":1}", &r);
	assert_int_equal(r.status, 400);
	assert_string_not_equal(json_string_value(json_object_get(json_object_get(r.body, "error"),
								  "message")),
				key_text);
	result_clear(&r);
	/* A conflict keeps its own answer. */
	snprintf(body, sizeof(body), "{\"value\":\"%s\"}", good);
	send_req(e, "POST", HOST, "/secrets/restore", V, e->bearer, body, &r);
	assert_int_equal(r.status, 409);
	result_clear(&r);
}

static void test_hosts_route_to_vaults(void **state)
{
	struct api_env *e = *state;
	struct result r;

	send_req(e, "GET", "nosuch.vault.localhost:8443", "/secrets", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(err_code(&r), "VaultNotFound");
	result_clear(&r);
	send_req(e, "GET", "a.b.vault.localhost:8443", "/secrets", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 404);
	result_clear(&r);
	send_req(e, "GET", "127.0.0.1:8443", "/secrets", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", "[::1]:8443", "/secrets", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", "evil\"host", "/secrets", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 400);
	result_clear(&r);
}

static void test_unknown_route_and_method(void **state)
{
	struct api_env *e = *state;
	struct result r;

	send_expect(e, "GET", "/nothing/here", NULL, 404);
	send_expect(e, "POST", "/secrets", NULL, 405);
	send_req(e, "GET", NULL, "/health", NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "mode")), "read-write");
	result_clear(&r);
}

static void test_delete_recover_purge(void **state)
{
	struct api_env *e = *state;
	struct result r;

	send_req(e, "PUT", HOST, "/secrets/gone", V, e->bearer, "{\"value\":\"v1\"}", &r);
	result_clear(&r);
	send_req(e, "DELETE", HOST, "/secrets/gone", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "recoveryId")),
			    "https://" HOST "/deletedsecrets/gone");
	assert_int_equal(json_integer_value(json_object_get(r.body, "scheduledPurgeDate")) -
				 json_integer_value(json_object_get(r.body, "deletedDate")),
			 90 * 86400);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets/gone", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(err_code(&r), "SecretNotFound");
	result_clear(&r);
	send_expect(e, "PUT", "/secrets/gone", "{\"value\":\"v2\"}", 409);
	send_expect(e, "POST", "/deletedsecrets/gone/recover", NULL, 200);
	send_req(e, "GET", HOST, "/secrets/gone", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "value")), "v1");
	result_clear(&r);
	send_req(e, "DELETE", HOST, "/secrets/gone", V, e->bearer, NULL, &r);
	result_clear(&r);
	send_req(e, "DELETE", HOST, "/deletedsecrets/gone", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 204);
	assert_null(r.body);
	result_clear(&r);
	send_expect(e, "GET", "/deletedsecrets/gone", NULL, 404);
	send_expect(e, "PUT", "/secrets/gone", "{\"value\":\"v3\"}", 200);
}

/* The read-only failover set of the design, by operation: every other operation must be
 * classed as a write so that the gate refuses it. */
static void test_route_classes_match_read_only_set(void **state)
{
	static const char *const allowed[] = {
		"Health", "HealthWritable", "GetMetrics", "GetSecrets", "GetSecretVersions", "GetSecret",
		"BackupSecret", "GetDeletedSecrets", "GetDeletedSecret",
		"GetKeys", "GetKeyVersions", "GetKey", "BackupKey", "Encrypt", "Decrypt", "WrapKey",
		"UnwrapKey", "Sign", "Verify", "GetKeyRotationPolicy", "GetDeletedKeys",
		"GetDeletedKey", "GetRandomBytes", "GetKeyAttestation",
		/* certificates (C11) */
		"GetCertificates", "GetCertificateVersions", "GetCertificate", "BackupCertificate",
		"GetCertificatePolicy", "GetCertificateOperation", "GetDeletedCertificates",
		"GetDeletedCertificate", "GetCertificateContacts", "GetCertificateIssuer",
		"GetCertificateIssuers",
		/* management plane and administration API: reads only */
		"VaultsGet", "VaultsListByResourceGroup", "VaultsListBySubscription", "VaultsList",
		"VaultsListDeleted", "VaultsGetDeleted", "VaultsCheckNameAvailability",
		"GetDeployment", "ListVaults", "GetVault", "ListPrincipals", "GetPrincipal",
		"ListClientSecrets", "ListClientCertificates",
		"ListRoleDefinitions", "ListRoleAssignments", "GetRoleAssignment",
		"SecretsGet", "SecretsList", "KeysGet", "KeysList", "KeysListVersions", "KeysGetVersion",
		"OperationsList", "GetMasterKey", "ListSigningKeys",
		/* the region's fence; a promotion or switchover runs on a read-only node, and
		 * writes its own way */
		"GetRegion", "PromoteRegion", "SwitchoverRegion",
		/* Resource Manager's own, for az */
		"GetCloudMetadata", "SubscriptionsList", "SubscriptionsGet",
		/* the identity provider: a read-only node issues tokens too (nothing is stored) */
		"GetOpenIdConfiguration", "GetOpenIdKeys", "IssueAccessToken",
		"IssueManagedIdentityToken",
	};
	const struct route *t;
	size_t n, i, j;

	(void)state;
	t = routes_table(&n);
	for (i = 0; i < n; i++) {
		bool is_allowed = false;

		for (j = 0; j < sizeof(allowed) / sizeof(allowed[0]); j++)
			is_allowed |= strcmp(t[i].op, allowed[j]) == 0;
		assert_non_null(t[i].handler);
		if (is_allowed)
			assert_true(t[i].cls != ROUTE_WRITE && t[i].cls != ROUTE_ADMIN);
		else
			assert_true(t[i].cls == ROUTE_WRITE || t[i].cls == ROUTE_ADMIN);
		assert_true((t[i].cls == ROUTE_PUBLIC) == (t[i].perm == PERM_NONE));
	}
}

/* A path for route pattern p with every parameter filled in. */
static void fill_route(const char *p, char *out, size_t n)
{
	size_t o = 0;

	while (*p != '\0' && o + 40 < n) {
		if (*p != '{') {
			out[o++] = *p++;
			continue;
		}
		const char *end = strchr(p, '}');
		const char *v = strncmp(p, "{version", 8) == 0 ? "" : strncmp(p, "{sub}", 5) == 0 ? "sub-1"
			      : strncmp(p, "{rg}", 4) == 0 ? "rg-1" : strncmp(p, "{kind}", 6) == 0 ? "add"
			      : strncmp(p, "{loc}", 5) == 0 ? "here" : "s1";

		o += (size_t)snprintf(out + o, n - o, "%s", v);
		p = end + 1;
	}
	out[o] = '\0';
}

/* Read-only mode: every route the table classes as a write gets 503 VaultIsReadOnly with
 * Retry-After before it touches storage; reads and cryptography work; nothing changes. */
static void test_read_only_gate(void **state)
{
	struct api_env *e = *state;
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct kl_err err = { 0 };
	struct result r;
	const struct route *t;
	char path[512];
	size_t n, i, refused = 0;

	send_expect(e, "PUT", "/secrets/rosecret", "{\"value\":\"before\"}", 200);
	send_expect(e, "POST", "/keys/rokey/create", "{\"kty\":\"EC\"}", 200);
	api_ctx_free(e->api);
	vault_core_close(e->core);
	assert_non_null(e->core = fixture_core_open_mode(&e->dir, 90, true, &err));
	assert_non_null(e->api = api_ctx_new(&cfg, e->core, &err));

	t = routes_table(&n);
	for (i = 0; i < n; i++) {
		enum route_plane plane = route_plane_of(&t[i]);

		if (t[i].cls != ROUTE_WRITE && t[i].cls != ROUTE_ADMIN)
			continue;
		fill_route(t[i].path, path, sizeof(path));
		send_req(e, t[i].method, plane == PLANE_DATA ? HOST : "localhost:8443", path,
			 plane == PLANE_DATA ? V : plane == PLANE_ARM ? "api-version=2026-02-01" : NULL,
			 e->bearer, "{\"value\":\"after\"}", &r);
		if (r.status != 503)
			fprintf(stderr, "%s %s: %d\n", t[i].method, path, r.status);
		assert_int_equal(r.status, 503);
		assert_string_equal(err_code(&r), "VaultIsReadOnly");
		assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
			r.body, "error"), "innererror"), "code")), "RegionalFailover");
		assert_string_equal(r.retry_after, "1");
		result_clear(&r);
		refused++;
	}
	assert_true(refused >= 30);
	send_req(e, "GET", HOST, "/secrets/rosecret/", V, e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "value")), "before");
	result_clear(&r);
	send_req(e, "POST", HOST, "/keys/rokey//sign", V, e->bearer,
		 "{\"alg\":\"ES256\",\"value\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/secrets/rosecret/versions", V, e->bearer, NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.body, "value")), 1);
	result_clear(&r);
	send_req(e, "GET", "localhost:8443", "/subscriptions/sub-1/providers/Microsoft.KeyVault/vaults",
		 "api-version=2026-02-01", e->bearer, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
	send_req(e, "GET", HOST, "/health", NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "mode")), "read-only");
	result_clear(&r);
	send_req(e, "GET", HOST, "/health/writable", NULL, NULL, NULL, &r);
	assert_int_equal(r.status, 503);
	result_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_token_gets_challenge),
		cmocka_unit_test(test_request_ids_are_unique_uuids),
		cmocka_unit_test(test_wrong_token_is_401),
		cmocka_unit_test(test_api_version_rules),
		cmocka_unit_test(test_set_get_update_latest),
		cmocka_unit_test(test_bad_bodies_change_nothing),
		cmocka_unit_test(test_paging_follows_skiptoken),
		cmocka_unit_test(test_versions_of_absent_name_are_empty),
		cmocka_unit_test(test_retried_create_is_replayed_or_refused),
		cmocka_unit_test(test_restore_refusals_use_the_service_words),
		cmocka_unit_test(test_hosts_route_to_vaults),
		cmocka_unit_test(test_unknown_route_and_method),
		cmocka_unit_test(test_delete_recover_purge),
		cmocka_unit_test(test_route_classes_match_read_only_set),
		cmocka_unit_test(test_read_only_gate),
	};

	return cmocka_run_group_tests(tests, api_env_setup_default, api_env_teardown);
}
