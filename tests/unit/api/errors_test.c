/* api/errors.c: every error answer carries an Azure error body, even when its message quotes
 * client bytes that are not UTF-8 (found by tests/fuzz/request_fuzz.c: GET /%FF%FE answered 404
 * with an empty body, as jansson refuses to build a string that is not UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/internal.h"
#include "api_drive.h"
#include "fixture.h"
#include "util/json.h"

/* The error object of resp's body; fails the test when there is none. */
static json_t *error_of(const struct api_resp *resp, json_t **doc)
{
	json_t *e;

	*doc = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
	assert_non_null(*doc);
	e = json_object_get(*doc, "error");
	assert_true(json_is_string(json_object_get(e, "code")));
	assert_true(json_is_string(json_object_get(e, "message")));
	return e;
}

static void test_message_with_invalid_utf8_keeps_the_body(void **state)
{
	struct api_resp resp;
	struct kl_err err = { 0 };
	json_t *doc, *e;

	(void)state;
	api_resp_init(&resp);
	kl_fail(&err, KL_EINVAL, "The secret name '%s' is not valid.", "a\xff\xfe" "b\xc0\xaf");
	api_resp_error(&resp, &err);
	assert_int_equal(resp.status, 400);
	e = error_of(&resp, &doc);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "BadParameter");
	assert_string_equal(json_string_value(json_object_get(e, "message")),
			    "The secret name 'a?" "?b?" "?' is not valid.");
	json_decref(doc);
	api_resp_free(&resp);
}

static void test_message_cut_inside_a_character_keeps_the_body(void **state)
{
	struct api_resp resp;
	struct kl_err err = { 0 };
	char name[400];
	json_t *doc, *e;
	const char *msg;
	size_t i;

	(void)state;
	for (i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xbc", 2);	/* ü, two bytes each */
	name[i] = '\0';
	api_resp_init(&resp);
	for (i = 0; i < 2; i++) {	/* the message's size cuts one of the two offsets mid-ü */
		kl_fail(&err, KL_ENOTFOUND, "%.*sNot found: %s", (int)i, "x", name);
		api_resp_error(&resp, &err);
		assert_int_equal(resp.status, 404);
		e = error_of(&resp, &doc);
		msg = json_string_value(json_object_get(e, "message"));
		assert_true(strncmp(msg + i, "Not found: \xc3\xbc", 13) == 0);
		json_decref(doc);
	}
	api_resp_free(&resp);
}

/* The value of header name in resp; NULL when absent. */
static const char *header_of(const struct api_resp *resp, const char *name)
{
	size_t i;

	for (i = 0; i < resp->n_headers; i++)
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	return NULL;
}

/* A write whose commit was lost with the store: 503, the message saying so, and the connection
 * closed so that the client's next try may land on another node. */
static void test_unknown_outcome_is_503(void **state)
{
	struct api_resp resp;
	struct kl_err err = { 0 };
	json_t *doc, *e;

	(void)state;
	api_resp_init(&resp);
	kl_fail(&err, KL_EOUTCOME, "the write may or may not have been applied");
	api_resp_error(&resp, &err);
	assert_int_equal(resp.status, 503);
	assert_int_equal(errors_status(KL_EOUTCOME), 503);
	e = error_of(&resp, &doc);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "ServiceUnavailable");
	assert_string_equal(json_string_value(json_object_get(e, "message")),
			    "the write may or may not have been applied");
	assert_string_equal(header_of(&resp, "Retry-After"), "1");
	assert_string_equal(header_of(&resp, "Connection"), "close");
	json_decref(doc);
	api_resp_free(&resp);
}

/* A write refused for being read-only closes the connection too: the retry goes through the
 * load balancer again, to the region that takes writes now. */
static void test_read_only_closes_the_connection(void **state)
{
	struct api_resp resp;
	struct kl_err err = { 0 };

	(void)state;
	api_resp_init(&resp);
	kl_fail_az(&err, KL_EREADONLY, "VaultIsReadOnly", NULL, "The vault is read-only.");
	api_resp_error(&resp, &err);
	assert_int_equal(resp.status, 503);
	assert_string_equal(header_of(&resp, "Retry-After"), "1");
	assert_string_equal(header_of(&resp, "Connection"), "close");
	api_resp_free(&resp);
}

static void test_unknown_path_not_utf8_gets_a_json_404(void **state)
{
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct fixture_dir dir;
	struct vault_core *core;
	struct api_ctx *api;
	bool is_begun = false;
	const struct api_drive_req d = { .method = "GET", .host = "default.vault.localhost",
					 .path = "/\xff\xfe",	/* GET /%FF%FE once decoded */
					 .go_on = api_drive_note_begun, .arg = &is_begun };
	struct api_resp resp;
	struct kl_err err = { 0 };
	json_t *doc, *e;

	(void)state;
	assert_int_equal(fixture_dir_make(&dir), 0);
	assert_non_null(core = fixture_core_open(&dir, 90, &err));
	assert_non_null(api = api_ctx_new(&cfg, core, &err));
	assert_int_equal(api_drive(api, &d, &resp, &err), 0);
	assert_false(is_begun);	/* answered on the head */
	assert_int_equal(resp.status, 404);
	e = error_of(&resp, &doc);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "NotFound");
	json_decref(doc);
	api_resp_free(&resp);
	api_ctx_free(api);
	vault_core_close(core);
	fixture_dir_remove(&dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_with_invalid_utf8_keeps_the_body),
		cmocka_unit_test(test_message_cut_inside_a_character_keeps_the_body),
		cmocka_unit_test(test_unknown_path_not_utf8_gets_a_json_404),
		cmocka_unit_test(test_unknown_outcome_is_503),
		cmocka_unit_test(test_read_only_closes_the_connection),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
