/* http_addr_parse: the --listen address, without DNS. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http/addr.h"

static void test_ipv4_address_and_port(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.ss;

	(void)state;
	assert_int_equal(http_addr_parse("127.0.0.1:8443", &a, &err), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 8443);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(a.port, 8443);
	assert_false(a.is_ipv6);
	assert_string_equal(a.host, "127.0.0.1");
}

static void test_every_interface(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };

	(void)state;
	assert_int_equal(http_addr_parse("0.0.0.0:1", &a, &err), 0);
	assert_int_equal(a.port, 1);
	assert_int_equal(http_addr_parse("[::]:65535", &a, &err), 0);
	assert_true(a.is_ipv6);
	assert_int_equal(a.port, 65535);
	assert_string_equal(a.host, "[::]");
}

static void test_localhost_means_ipv4_loopback(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a.ss;

	(void)state;
	assert_int_equal(http_addr_parse("LocalHost:9000", &a, &err), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_string_equal(a.host, "localhost");
	assert_int_equal(a.port, 9000);
}

static void test_ipv6_in_brackets(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a.ss;

	(void)state;
	assert_int_equal(http_addr_parse("[::1]:8443", &a, &err), 0);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 8443);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_true(a.is_ipv6);
	assert_string_equal(a.host, "[::1]");
}

static void test_ipv6_host_is_canonical(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };

	(void)state;
	assert_int_equal(http_addr_parse("[0:0:0:0:0:0:0:1]:443", &a, &err), 0);
	assert_string_equal(a.host, "[::1]");
	assert_int_equal(http_addr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:443",
					 &a, &err),
			 0);
	assert_true(strlen(a.host) < sizeof(a.host));
}

static void test_refuses(const char *text)
{
	struct http_addr a;
	struct kl_err err = { 0 };

	assert_int_equal(http_addr_parse(text, &a, &err), -1);
	assert_int_equal(err.code, KL_EINVAL);
	assert_true(err.msg[0] != '\0');
}

static void test_refuses_bad_ports(void **state)
{
	(void)state;
	test_refuses("127.0.0.1:0");
	test_refuses("127.0.0.1:65536");
	test_refuses("127.0.0.1:99999999999999999999");
	test_refuses("127.0.0.1:");
	test_refuses("127.0.0.1:+80");
	test_refuses("127.0.0.1:-1");
	test_refuses("127.0.0.1: 80");
	test_refuses("127.0.0.1:80x");
	test_refuses("127.0.0.1");
	test_refuses("[::1]:");
	test_refuses("[::1]");
}

static void test_refuses_bad_hosts(void **state)
{
	(void)state;
	test_refuses(":8443");
	test_refuses("[]:8443");
	test_refuses("example.com:8443");
	test_refuses("256.0.0.1:8443");
	test_refuses("127.1:8443");
	test_refuses("::1:8443");
	test_refuses("[::1:8443");
	test_refuses("[::1]8443");
	test_refuses("[127.0.0.1]:8443");
	test_refuses("[fe80::1%eth0]:8443");
	test_refuses("");
	test_refuses(NULL);
}

static void test_refuses_overlong_text(void **state)
{
	char text[HTTP_ADDR_TEXT_MAX + 16];

	(void)state;
	memset(text, '1', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	memcpy(text, "127.0.0.1:", 10);
	test_refuses(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_address_and_port),
		cmocka_unit_test(test_every_interface),
		cmocka_unit_test(test_localhost_means_ipv4_loopback),
		cmocka_unit_test(test_ipv6_in_brackets),
		cmocka_unit_test(test_ipv6_host_is_canonical),
		cmocka_unit_test(test_refuses_bad_ports),
		cmocka_unit_test(test_refuses_bad_hosts),
		cmocka_unit_test(test_refuses_overlong_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
