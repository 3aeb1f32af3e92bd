/* Every allocation of a request made to fail in turn, as curl's torture tests do, over the
 * request path of each operation family: the 1st, 2nd, ... allocation the request makes fails
 * until a run makes fewer than that. Each run must end in an answer (or in api_drive's own
 * refusal, which http/ answers 503), and that answer must be the one the request gets when
 * memory is plentiful or a server error: never a 4xx that tells the client its request, its
 * token or the object it names is wrong. A write that failed leaves the object as it was or as
 * written, readable. Leaks are found by the sanitizer run (CI runs the unit tests under ASan).
 *
 * The allocations counted are this thread's calls to malloc, calloc, realloc, strdup and
 * strndup from kluis's own code (linked with -Wl,--wrap for them: tests/CMakeLists.txt) and
 * jansson's (its allocator is kluis's json_alloc). OpenSSL's and libpq's are not counted here
 * (x509alloc_test.c does OpenSSL's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api_fixture.h"

#define VAULT_HOST "default.vault.localhost"
#define RG "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.KeyVault"

static _Thread_local bool armed;
static _Thread_local long alloc_count, alloc_fail_at;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static bool fail_now(void)
{
	return armed && ++alloc_count == alloc_fail_at;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return fail_now() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

struct fam {
	const char *name;
	const char *method, *host, *path, *version, *body;
	bool as_principal;	/* with the Secrets Officer's token instead of the admin's */
	int want;		/* the status with memory to spare */
	const char *check_secret;	/* a secret the request writes: readable after each run */
};

struct env {
	struct api_env e;
	char officer[160];	/* "Bearer ..." of a principal with Key Vault Secrets Officer */
	char sign_path[160];	/* /keys/k1/{version}/sign */
	char reference[8192];	/* a GET's body with memory to spare */
};

static int setup(void **state)
{
	struct env *v = calloc(1, sizeof(*v));
	json_t *j = NULL;

	if (v == NULL || api_env_open(&v->e, NULL, 0) != 0)
		return -1;
	*state = v;
	api_env_make_principal(&v->e, VAULT_HOST, "officer", "Key Vault Secrets Officer",
			       v->officer, sizeof(v->officer));
	assert_int_equal(api_env_call(&v->e, "PUT", "localhost", RG "/vaults/payments",
				      "2026-02-01",
				      "{\"location\":\"here\",\"properties\":{\"tenantId\":\"t\","
				      "\"sku\":{\"family\":\"A\",\"name\":\"standard\"}}}", NULL),
			 201);
	assert_int_equal(api_env_call(&v->e, "PUT", VAULT_HOST, "/secrets/s1", "7.6",
				      "{\"value\":\"one\",\"tags\":{\"a\":\"b\"}}", NULL), 200);
	assert_int_equal(api_env_call(&v->e, "POST", VAULT_HOST, "/certificates/c1/create", "7.6",
				      "{\"policy\":{\"key_props\":{\"kty\":\"EC\",\"crv\":"
				      "\"P-256\"},\"x509_props\":{\"subject\":\"CN=c1\"},"
				      "\"issuer\":{\"name\":\"Self\"}}}", NULL), 202);
	assert_int_equal(api_env_call(&v->e, "POST", VAULT_HOST, "/keys/k1/create", "7.6",
				      "{\"kty\":\"EC\",\"crv\":\"P-256\"}", &j), 200);
	snprintf(v->sign_path, sizeof(v->sign_path), "%s/sign",
		 strstr(json_string_value(json_object_get(json_object_get(j, "key"), "kid")),
			"/keys/"));
	json_decref(j);
	return 0;
}

static int teardown(void **state)
{
	struct env *v = *state;

	api_env_close(&v->e);
	free(v);
	return 0;
}

/* One run of f with the fail_at-th allocation failing (0: none); returns how many allocations
 * it made, and checks its answer. A GET that succeeds anyway must answer exactly what it answers
 * with memory to spare: no member silently left out. */
static long run_once(struct env *v, const struct fam *f, long fail_at)
{
	const struct api_drive_req d = {
		.method = f->method, .host = f->host, .path = f->path, .api_version = f->version,
		.authorization = f->as_principal ? v->officer : v->e.bearer,
		.content_type = f->body != NULL ? "application/json" : NULL,
		.body = f->body, .body_len = api_drive_len(f->body),
	};
	struct kl_err err = { 0 };
	struct api_resp resp;
	json_t *j;
	int rc;
	long made;

	alloc_count = 0;
	alloc_fail_at = fail_at;
	armed = true;
	rc = api_drive(v->e.api, &d, &resp, &err);
	armed = false;
	made = alloc_count;
	if (rc != 0) {
		/* api_drive could not build the request: http/ answers that 503 itself. */
		if (err.code != KL_ENOMEM)
			fail_msg("%s, allocation %ld failing: api_drive: %s", f->name, fail_at,
				 err.msg);
	} else if (resp.status != f->want && resp.status < 500) {
		char body[300];

		api_drive_body_copy(&resp, body, sizeof(body));
		fail_msg("%s, allocation %ld failing: %d instead of %d or a server error: %s",
			 f->name, fail_at, resp.status, f->want, body);
	} else if (resp.status == f->want && f->want < 300 && strcmp(f->method, "GET") == 0) {
		char body[sizeof(v->reference)];

		api_drive_body_copy(&resp, body, sizeof(body));
		if (fail_at == 0)
			memcpy(v->reference, body, sizeof(body));
		else if (strcmp(body, v->reference) != 0) {
			size_t at = 0;

			while (body[at] == v->reference[at])
				at++;
			at = at > 40 ? at - 40 : 0;
			fail_msg("%s, allocation %ld failing: %d with another body, from byte %zu:\n"
				 "%.200s\ninstead of\n%.200s", f->name, fail_at, resp.status, at,
				 body + at, v->reference + at);
		}
	} else if (resp.status >= 500) {
		/* a clear Azure-style error, not an empty answer */
		/* The one fault here is a shortage: 503 ServiceUnavailable, which the SDKs retry,
		 * never a message that blames the request or the stored data. */
		char body[300];

		api_drive_body_copy(&resp, body, sizeof(body));
		assert_non_null(j = api_drive_json(&resp));
		if (resp.status != 503 ||
		    strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
			   "ServiceUnavailable") != 0 ||
		    strcmp(json_string_value(json_object_get(json_object_get(j, "error"),
							      "message")), "out of memory") != 0)
			fail_msg("%s, allocation %ld failing: %d %s", f->name, fail_at, resp.status,
				 body);
		json_decref(j);
	}
	api_resp_free(&resp);
	if (f->check_secret != NULL) {
		char path[128];

		snprintf(path, sizeof(path), "/secrets/%s", f->check_secret);
		assert_int_equal(api_env_call(&v->e, "GET", VAULT_HOST, path, "7.6", NULL, &j), 200);
		assert_non_null(json_string_value(json_object_get(j, "value")));
		json_decref(j);
	}
	return made;
}

/* f with each of its allocations failing in turn. */
static void torture(void **state, const struct fam *f)
{
	struct env *v = *state;
	long n = run_once(v, f, 0), i;

	assert_true(n > 0);
	for (i = 1; run_once(v, f, i) >= i; i++)
		;
	print_message("%s: %ld allocations, each failed in turn\n", f->name, i - 1);
}

#define FAMILY(fn, ...)                                  \
	static void fn(void **state)                     \
	{                                                \
		const struct fam f = { #fn, __VA_ARGS__ }; \
		torture(state, &f);                      \
	}

FAMILY(secret_get, "GET", VAULT_HOST, "/secrets/s1", "7.6", NULL, false, 200, NULL)
FAMILY(secret_get_principal, "GET", VAULT_HOST, "/secrets/s1", "7.6", NULL, true, 200, NULL)
FAMILY(secret_set, "PUT", VAULT_HOST, "/secrets/s1", "7.6",
       "{\"value\":\"two\",\"contentType\":\"text/plain\",\"tags\":{\"x\":\"y\"}}", true, 200, "s1")
FAMILY(secret_update, "PATCH", VAULT_HOST, "/secrets/s1/", "7.6",
       "{\"tags\":{\"p\":\"q\"}}", false, 200, "s1")
FAMILY(secret_list, "GET", VAULT_HOST, "/secrets", "7.6", NULL, false, 200, NULL)
FAMILY(secret_missing, "GET", VAULT_HOST, "/secrets/nosuch", "7.6", NULL, false, 404, NULL)
FAMILY(secret_bad_json, "PUT", VAULT_HOST, "/secrets/s2", "7.6", "{\"value\":", false, 400, NULL)
FAMILY(key_get, "GET", VAULT_HOST, "/keys/k1", "7.6", NULL, false, 200, NULL)

/* A path parameter larger than the request arena's first block: the route's copy of it is the
 * request's first allocation. */
static void secret_long_name(void **state)
{
	static char path[9100];
	struct fam f = { "secret_long_name", "GET", VAULT_HOST, path, "7.6", NULL, false, 400,
			 NULL };

	memcpy(path, "/secrets/", 9);
	memset(path + 9, 'a', sizeof(path) - 10);
	torture(state, &f);
}

static void key_sign(void **state)
{
	struct env *v = *state;
	const struct fam f = { "key_sign", "POST", VAULT_HOST, v->sign_path, "7.6",
			       "{\"alg\":\"ES256\",\"value\":"
			       "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}", false, 200, NULL };

	torture(state, &f);
}
FAMILY(admin_principals, "GET", VAULT_HOST, "/kluis/v1/principals", NULL, NULL, false, 200, NULL)
FAMILY(cert_get, "GET", VAULT_HOST, "/certificates/c1", "7.6", NULL, false, 200, NULL)
FAMILY(cert_policy_get, "GET", VAULT_HOST, "/certificates/c1/policy", "7.6", NULL, false, 200,
       NULL)
FAMILY(secret_backup, "POST", VAULT_HOST, "/secrets/s1/backup", "7.6", NULL, false, 200, NULL)
FAMILY(key_create, "POST", VAULT_HOST, "/keys/k2/create", "7.6",
       "{\"kty\":\"EC\",\"crv\":\"P-256\",\"tags\":{\"t\":\"1\"}}", false, 200, NULL)
FAMILY(arm_vault_read, "GET", "localhost", RG "/vaults/payments", "2026-02-01", NULL, false, 200,
       NULL)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secret_get),		cmocka_unit_test(secret_get_principal),
		cmocka_unit_test(secret_set),		cmocka_unit_test(secret_update),
		cmocka_unit_test(secret_list),		cmocka_unit_test(secret_missing),
		cmocka_unit_test(secret_bad_json),	cmocka_unit_test(key_get),
		cmocka_unit_test(key_sign),		cmocka_unit_test(admin_principals),
		cmocka_unit_test(secret_backup),	cmocka_unit_test(key_create),
		cmocka_unit_test(secret_long_name),	cmocka_unit_test(cert_get),
		cmocka_unit_test(cert_policy_get),
		cmocka_unit_test(arm_vault_read),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
