/* lbagent: HAProxy's agent-check answers on a real loopback socket, following the node's
 * writability as it changes; a taken port is refused with the reason. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/lbagent.h"

static bool flag_ready(void *arg)
{
	return atomic_load((atomic_bool *)arg);
}

/* A loopback address with a port that was free a moment ago. */
static void free_addr(struct http_addr *a)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	struct kl_err err = { 0 };
	char text[32];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(text, sizeof(text), "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(http_addr_parse(text, a, &err), 0);
}

/* What one agent connection says, read to its end. */
static void ask(const struct http_addr *a, char *out, size_t size)
{
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)&a->ss, a->len), 0);
	while (n + 1 < size && (r = read(fd, out + n, size - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd);
}

static void test_answers_follow_writability(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };
	atomic_bool writable = true;
	struct lbagent *agent;
	char line[64];
	int i;

	(void)state;
	free_addr(&a);
	agent = lbagent_start(&a, flag_ready, &writable, &err);
	assert_non_null(agent);
	ask(&a, line, sizeof(line));
	assert_string_equal(line, "ready 100%\n");
	atomic_store(&writable, false);
	ask(&a, line, sizeof(line));
	assert_string_equal(line, "drain\n");
	atomic_store(&writable, true);
	for (i = 0; i < 50; i++) {	/* one connection after another, none left hanging */
		ask(&a, line, sizeof(line));
		assert_string_equal(line, "ready 100%\n");
	}
	lbagent_stop(agent);
}

static void test_stop_closes_the_port(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };
	atomic_bool writable = true;
	struct lbagent *agent;
	int fd;

	(void)state;
	free_addr(&a);
	agent = lbagent_start(&a, flag_ready, &writable, &err);
	assert_non_null(agent);
	lbagent_stop(agent);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_not_equal(connect(fd, (const struct sockaddr *)&a.ss, a.len), 0);
	close(fd);
	lbagent_stop(NULL);
}

static void test_taken_port_is_refused(void **state)
{
	struct http_addr a;
	struct kl_err err = { 0 };
	atomic_bool writable = true;
	struct lbagent *first, *second;

	(void)state;
	free_addr(&a);
	first = lbagent_start(&a, flag_ready, &writable, &err);
	assert_non_null(first);
	second = lbagent_start(&a, flag_ready, &writable, &err);
	assert_null(second);
	assert_int_equal(err.code, KL_EUNAVAIL);
	assert_non_null(strstr(err.msg, "Address already in use"));
	lbagent_stop(first);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_follow_writability),
		cmocka_unit_test(test_stop_closes_the_port),
		cmocka_unit_test(test_taken_port_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
