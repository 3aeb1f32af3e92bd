/* api/audit: the audit line is one valid JSON object with every field, whatever bytes the client
 * put in the names it sent (quotes, control characters, invalid UTF-8, very long), and its time
 * stamp is RFC 3339 UTC with milliseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/audit.h"

static struct audit_event sample(void)
{
	struct audit_event ev = {
		.time_ms = 1700000000123,
		.request_id = "00000000-0000-4000-8000-000000000001",
		.client_request_id = "client-1",
		.client_addr = "127.0.0.1:5555",
		.method = "GET",
		.operation = "GetSecret",
		.is_authenticated = true,
		.is_admin = false,
		.principal_id = "11111111-2222-4333-8444-555555555555",
		.principal_name = "billing-app",
		.vault = "payments",
		.object = "db-password",
		.version = "0123456789abcdef0123456789abcdef",
		.status = 200,
		.result = "OK",
		.duration_us = 1234567,
		.region = "westeurope",
		.is_read_only = false,
	};
	return ev;
}

/* Formats ev, checks the line's shape (one line, no raw control byte, fits) and parses it. */
static json_t *format_and_parse(const struct audit_event *ev)
{
	char line[AUDIT_LINE_MAX];
	size_t len = audit_format(ev, line), i;
	json_error_t jerr;
	json_t *j;

	assert_true(len > 2 && len <= AUDIT_LINE_MAX);
	assert_int_equal(line[len - 1], '\n');
	for (i = 0; i + 1 < len; i++)
		assert_true((unsigned char)line[i] >= 0x20 && line[i] != 0x7f);
	j = json_loadb(line, len, 0, &jerr);	/* jansson refuses invalid UTF-8 too */
	if (j == NULL)
		fail_msg("not JSON (%s): %.*s", jerr.text, (int)len, line);
	assert_true(json_is_object(j));
	return j;
}

static const char *str(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

static void test_every_field(void **state)
{
	struct audit_event ev = sample();
	json_t *j = format_and_parse(&ev), *p;

	(void)state;
	assert_string_equal(str(j, "time"), "2023-11-14T22:13:20.123Z");
	assert_string_equal(str(j, "requestId"), ev.request_id);
	assert_string_equal(str(j, "clientRequestId"), "client-1");
	assert_string_equal(str(j, "clientAddress"), "127.0.0.1:5555");
	assert_string_equal(str(j, "method"), "GET");
	assert_string_equal(str(j, "operation"), "GetSecret");
	p = json_object_get(j, "principal");
	assert_string_equal(str(p, "id"), ev.principal_id);
	assert_string_equal(str(p, "name"), "billing-app");
	assert_true(json_is_false(json_object_get(p, "isAdmin")));
	assert_string_equal(str(j, "vault"), "payments");
	assert_string_equal(str(j, "object"), "db-password");
	assert_string_equal(str(j, "version"), ev.version);
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
	assert_string_equal(str(j, "result"), "OK");
	assert_true(json_is_real(json_object_get(j, "durationMs")));
	assert_true(json_real_value(json_object_get(j, "durationMs")) == 1234.567);
	assert_string_equal(str(j, "region"), "westeurope");
	assert_string_equal(str(j, "mode"), "read-write");
	assert_int_equal(json_object_size(j), 15);
	json_decref(j);
}

static void test_absent_parts_are_null(void **state)
{
	struct audit_event ev = sample();
	json_t *j;

	(void)state;
	ev.is_authenticated = false;
	ev.client_request_id = NULL;
	ev.vault = ev.object = NULL;
	ev.version = "";	/* the latest version: no version in the path */
	ev.operation = NULL;
	ev.status = 0;
	ev.result = "NoResponse";
	ev.duration_us = 7;
	ev.is_read_only = true;
	j = format_and_parse(&ev);
	assert_true(json_is_null(json_object_get(j, "principal")));
	assert_true(json_is_null(json_object_get(j, "clientRequestId")));
	assert_true(json_is_null(json_object_get(j, "vault")));
	assert_true(json_is_null(json_object_get(j, "object")));
	assert_true(json_is_null(json_object_get(j, "version")));
	assert_string_equal(str(j, "operation"), "unknown");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 0);
	assert_true(json_real_value(json_object_get(j, "durationMs")) == 0.007);
	assert_string_equal(str(j, "mode"), "read-only");
	json_decref(j);
	ev = sample();
	ev.is_admin = true;
	ev.principal_id = "";
	ev.principal_name = "admin";
	j = format_and_parse(&ev);
	assert_true(json_is_true(json_object_get(json_object_get(j, "principal"), "isAdmin")));
	assert_string_equal(str(json_object_get(j, "principal"), "id"), "");
	json_decref(j);
}

/* A token request's line has a "token" member (how the client authenticated, the resource, the
 * outcome); other lines have none. */
static void test_token_fields(void **state)
{
	struct audit_event ev = sample();
	json_t *j, *t;

	(void)state;
	j = format_and_parse(&ev);
	assert_null(json_object_get(j, "token"));
	json_decref(j);
	ev.vault = ev.object = ev.version = NULL;
	ev.operation = "IssueAccessToken";
	ev.grant = "client_secret";
	ev.resource = "https://vault.azure.net/.default";
	ev.is_token_issued = true;
	j = format_and_parse(&ev);
	t = json_object_get(j, "token");
	assert_string_equal(str(t, "grant"), "client_secret");
	assert_string_equal(str(t, "resource"), "https://vault.azure.net/.default");
	assert_string_equal(str(t, "outcome"), "issued");
	assert_int_equal(json_object_size(t), 3);
	assert_int_equal(json_object_size(j), 16);
	json_decref(j);
	ev.grant = "unknown";
	ev.resource = "";
	ev.is_token_issued = false;
	ev.status = 401;
	ev.result = "invalid_client";
	j = format_and_parse(&ev);
	t = json_object_get(j, "token");
	assert_true(json_is_null(json_object_get(t, "resource")));
	assert_string_equal(str(t, "outcome"), "refused");
	json_decref(j);
}

static void test_weird_names_are_escaped(void **state)
{
	struct audit_event ev = sample();
	/* quote, backslash, newline (a forged second line), CR, tab, other controls, DEL, valid
	 * UTF-8 (2 and 4 bytes), then invalid: bytes ff fe, a surrogate (ed a0 80), an overlong
	 * '/' (c0 af), and a sequence cut short by the end (e2 82). */
	static const char name[] = "a\"b\\c\n{\"forged\":1}\rd\te\x01\x1f\x7f"
				   "\xc3\xa9\xf0\x9f\x98\x80"
				   "\xff\xfe\xed\xa0\x80\xc0\xaf\xe2\x82";
	static const char want[] = "a\"b\\c\n{\"forged\":1}\rd\te\x01\x1f\x7f"
				   "\xc3\xa9\xf0\x9f\x98\x80"
				   "\xef\xbf\xbd\xef\xbf\xbd"			/* ff fe */
				   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"	/* ed a0 80 */
				   "\xef\xbf\xbd\xef\xbf\xbd"			/* c0 af */
				   "\xef\xbf\xbd\xef\xbf\xbd";			/* e2 82 */
	json_t *j;

	(void)state;
	ev.object = name;
	ev.version = "v\"1";
	ev.client_request_id = "id\nwith\x1bnewline";
	ev.principal_name = "\xff";
	j = format_and_parse(&ev);
	assert_string_equal(str(j, "object"), want);
	assert_string_equal(str(j, "version"), "v\"1");
	assert_string_equal(str(j, "clientRequestId"), "id\nwith\x1bnewline");
	assert_string_equal(str(json_object_get(j, "principal"), "name"), "\xef\xbf\xbd");
	json_decref(j);
}

static void test_long_fields_are_capped(void **state)
{
	static char worst[20000], utf8[2000], shorts[20000];
	struct audit_event ev = sample();
	json_t *j;
	size_t i;

	(void)state;
	memset(worst, 0x01, sizeof(worst) - 1);	/* each byte becomes six */
	memset(shorts, '"', sizeof(shorts) - 1);
	for (i = 0; i + 2 < sizeof(utf8); i += 2)
		memcpy(utf8 + i, "\xc3\xa9", 2);
	ev.object = worst;
	ev.request_id = ev.client_request_id = ev.client_addr = ev.method = ev.operation = shorts;
	ev.principal_id = ev.principal_name = ev.vault = ev.version = ev.result = shorts;
	ev.region = ev.grant = ev.resource = shorts;
	j = format_and_parse(&ev);	/* fits, and still parses */
	assert_true(strlen(str(json_object_get(j, "token"), "resource")) <= AUDIT_SHORT_MAX);
	assert_true(strlen(str(j, "object")) <= AUDIT_NAME_MAX);
	assert_true(strlen(str(j, "clientRequestId")) <= AUDIT_SHORT_MAX);
	json_decref(j);
	ev = sample();
	ev.object = utf8;	/* cut at AUDIT_NAME_MAX bytes, between two characters */
	j = format_and_parse(&ev);
	assert_int_equal(strlen(str(j, "object")), AUDIT_NAME_MAX);
	json_decref(j);
}

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void test_time_matches_gmtime(void **state)
{
	static const int64_t cases[] = {
		0, 999, 951782400123,	/* 2000-02-29 */
		4107542399999,		/* 2100-02-28T23:59:59.999 */
		1709251199000,		/* 2024-02-29T23:59:59 */
		253402300799999,	/* 9999-12-31T23:59:59.999 */
	};
	char got[25], want[64];
	struct tm tm;
	time_t t;
	size_t i;
	int64_t ms;

	(void)state;
	audit_format_time(0, got);
	assert_string_equal(got, "1970-01-01T00:00:00.000Z");
	audit_format_time(951782400123, got);
	assert_string_equal(got, "2000-02-29T00:00:00.123Z");
	for (i = 0; i < N_CASES + 5000; i++) {	/* then days spread over 1970-2100 */
		ms = i < N_CASES ? cases[i] : (int64_t)(i * 7919 * 86400001ull % 4102444800000ull);
		t = (time_t)(ms / 1000);
		assert_non_null(gmtime_r(&t, &tm));
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(ms % 1000));
		audit_format_time(ms, got);
		assert_string_equal(got, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_field),
		cmocka_unit_test(test_absent_parts_are_null),
		cmocka_unit_test(test_token_fields),
		cmocka_unit_test(test_weird_names_are_escaped),
		cmocka_unit_test(test_long_fields_are_capped),
		cmocka_unit_test(test_time_matches_gmtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
