/* The token request body parser (api/identity/identity_form.c): the encodings MSAL and
 * azure-identity send, every refusal, the limits, the wiping of the decoded text, and every
 * allocation failing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/identity/identity_form.h"

/* malloc and calloc of this binary fail the Nth call when armed (glibc's own allocator behind
 * them, so free stays glibc's). Not under AddressSanitizer, which owns the allocator. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NO_INTERPOSE 1
#endif
#endif

static bool armed;
static long alloc_count, alloc_fail_at;

#ifndef NO_INTERPOSE
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);

void *malloc(size_t n)
{
	if (armed && ++alloc_count == alloc_fail_at)
		return NULL;
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	if (armed && ++alloc_count == alloc_fail_at)
		return NULL;
	return __libc_calloc(n, m);
}
#endif

static void expect_ok(const char *body, struct form *f)
{
	struct kl_err err = { 0 };

	form_init(f);
	if (form_parse(body, strlen(body), f, &err) != 0)
		fail_msg("%s: %s", body, err.msg);
}

static void expect_refused(const char *body, size_t len, enum kl_errc code)
{
	struct kl_err err = { 0 };
	struct form f;

	form_init(&f);
	assert_int_equal(form_parse(body, len, &f, &err), -1);
	assert_int_equal(err.code, code);
	assert_null(f.text);
	assert_int_equal(f.n, 0);
}

static void test_msal_secret_request(void **state)
{
	struct form f;
	size_t len;

	(void)state;
	expect_ok("client_id=3f1c&scope=https%3A%2F%2Fvault.azure.net%2F.default"
		  "&grant_type=client_credentials&client_secret=kls1.a%2Bb~c"
		  "&x-client-SKU=msal.js.node&x-ms-lib-capability=retry-after,+h429"
		  "&claims=%7B%22access_token%22%3A+%7B%7D%7D", &f);
	assert_int_equal(f.n, 7);
	assert_string_equal(form_get(&f, "client_id", NULL), "3f1c");
	assert_string_equal(form_get(&f, "scope", NULL), "https://vault.azure.net/.default");
	assert_string_equal(form_get(&f, "client_secret", &len), "kls1.a+b~c");
	assert_int_equal(len, 10);
	assert_string_equal(form_get(&f, "x-ms-lib-capability", NULL), "retry-after, h429");
	assert_string_equal(form_get(&f, "claims", NULL), "{\"access_token\": {}}");
	assert_null(form_get(&f, "Client_Id", NULL));	/* names are case-sensitive */
	assert_null(form_get(&f, "resource", NULL));
	form_clear(&f);
	assert_null(f.text);
	assert_int_equal(f.n, 0);
}

static void test_raw_values_and_edges(void **state)
{
	struct form f;

	(void)state;
	/* Python's requests leaves ':' and '/' as they are; empty fields and '=' in values */
	expect_ok("&resource=https://vault.azure.net&&flag&empty=&b64=YQ==&", &f);
	assert_int_equal(f.n, 4);
	assert_string_equal(form_get(&f, "resource", NULL), "https://vault.azure.net");
	assert_string_equal(form_get(&f, "flag", NULL), "");
	assert_string_equal(form_get(&f, "empty", NULL), "");
	assert_string_equal(form_get(&f, "b64", NULL), "YQ==");
	form_clear(&f);
	expect_ok("", &f);
	assert_int_equal(f.n, 0);
	assert_null(form_get(&f, "a", NULL));
	form_clear(&f);
	/* an empty request body has no buffer at all (found by request_fuzz under UBSan) */
	{
		struct kl_err err = { 0 };

		assert_int_equal(form_parse(NULL, 0, &f, &err), 0);
		assert_int_equal(f.n, 0);
	}
	expect_ok("x", &f);	/* the smallest field: the buffer is exactly full */
	assert_string_equal(form_get(&f, "x", NULL), "");
	form_clear(&f);
	expect_ok("caf%C3%A9=%E2%82%AC", &f);	/* UTF-8 in names and values */
	assert_string_equal(form_get(&f, "caf\xc3\xa9", NULL), "\xe2\x82\xac");
	form_clear(&f);
}

static void test_refusals(void **state)
{
	static const char *const bad[] = {
		"a=%", "a=%4", "a=%zz", "a=%G1", "a=b%00c", "%00=x", "=value", "a=1&=2",
		"a=%C3", "a=%FF%FE", "a=%ED%A0%80", "%FF=1", "a%0A=1", "a=1&a=2", "a=1&b=2&a=",
		"grant_type=x&grant_type=x",
	};
	char name[FORM_NAME_MAX + 8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_refused(bad[i], strlen(bad[i]), KL_EINVAL);
	expect_refused("a=b\0c", 5, KL_EINVAL);	/* a raw NUL */
	memset(name, 'n', FORM_NAME_MAX + 1);
	memcpy(name + FORM_NAME_MAX + 1, "=1", 3);
	expect_refused(name, strlen(name), KL_EINVAL);
	name[FORM_NAME_MAX] = '=';	/* exactly FORM_NAME_MAX is fine */
	{
		struct form f;

		expect_ok(name, &f);
		assert_int_equal(f.n, 1);
		form_clear(&f);
	}
}

static void test_messages_quote_no_value(void **state)
{
	struct kl_err err = { 0 };
	struct form f;
	const char *body = "client_secret=kls1.SECRETSECRET%zz";

	(void)state;
	form_init(&f);
	assert_int_equal(form_parse(body, strlen(body), &f, &err), -1);
	assert_null(strstr(err.msg, "SECRET"));
	assert_non_null(strstr(err.msg, "client_secret"));
	body = "client_secret=kls1.SECRETSECRET&client_secret=kls1.OTHER";
	assert_int_equal(form_parse(body, strlen(body), &f, &err), -1);
	assert_null(strstr(err.msg, "SECRET"));
	assert_null(strstr(err.msg, "OTHER"));
	body = "kls1.SECRETSECRET%0A=1";	/* a secret sent as a name is not quoted either */
	assert_int_equal(form_parse(body, strlen(body), &f, &err), -1);
	assert_null(strstr(err.msg, "SECRET"));
}

static void test_limits(void **state)
{
	char *body = malloc(FORM_MAX_BYTES + 2);
	struct form f;
	size_t i, o = 0;

	(void)state;
	assert_non_null(body);
	/* FORM_MAX_FIELDS fields pass, one more does not */
	for (i = 0; i < FORM_MAX_FIELDS; i++)
		o += (size_t)sprintf(body + o, "%sf%zu=%zu", i ? "&" : "", i, i);
	expect_ok(body, &f);
	assert_int_equal(f.n, FORM_MAX_FIELDS);
	assert_string_equal(form_get(&f, "f31", NULL), "31");
	form_clear(&f);
	sprintf(body + o, "&one=more");
	expect_refused(body, strlen(body), KL_EINVAL);
	/* FORM_MAX_BYTES pass, one more byte does not */
	memcpy(body, "v=", 2);
	memset(body + 2, 'a', FORM_MAX_BYTES - 2);
	body[FORM_MAX_BYTES] = '\0';
	expect_ok(body, &f);
	assert_int_equal(strlen(form_get(&f, "v", NULL)), FORM_MAX_BYTES - 2);
	form_clear(&f);
	body[FORM_MAX_BYTES] = 'a';
	body[FORM_MAX_BYTES + 1] = '\0';
	expect_refused(body, FORM_MAX_BYTES + 1, KL_ETOOBIG);
	free(body);
}

/* The decoded text is in the form's wiping buffer, so form_clear leaves no copy behind in it. */
static void test_clear_wipes(void **state)
{
	struct form f;
	unsigned char *text;
	size_t len, i;

	(void)state;
	expect_ok("client_secret=kls1.topsecret", &f);
	text = f.text->data;
	len = f.text->len;
	assert_ptr_equal(form_get(&f, "client_secret", NULL), (char *)text + 14);
	/* the wiping itself is secbuf's (tested there); here: every byte of the form is in it */
	for (i = 0; i < f.n; i++) {
		assert_true(f.fields[i].value >= (char *)text &&
			    f.fields[i].value + f.fields[i].value_len <= (char *)text + len);
		assert_true(f.fields[i].name >= (char *)text);
	}
	form_clear(&f);
	assert_null(f.text);
}

static void test_allocation_failures(void **state)
{
	const char *body = "client_id=a&client_secret=b%2Bc&scope=s";
	struct kl_err err = { 0 };
	struct form f;
	long n;
	int rc;

	(void)state;
#ifdef NO_INTERPOSE
	skip();
#endif
	for (n = 1;; n++) {
		form_init(&f);
		alloc_count = 0;
		alloc_fail_at = n;
		armed = true;
		rc = form_parse(body, strlen(body), &f, &err);
		armed = false;
		if (rc == 0) {
			assert_string_equal(form_get(&f, "client_secret", NULL), "b+c");
			form_clear(&f);
			break;
		}
		assert_int_equal(err.code, KL_ENOMEM);
		assert_null(f.text);
	}
	assert_true(n > 1);	/* at least one allocation was failed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msal_secret_request),
		cmocka_unit_test(test_raw_values_and_edges),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_messages_quote_no_value),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_clear_wipes),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
