/* http/deadline: the idle and request deadlines of connections, on socketpairs standing in for
 * client connections. Sweeps are given the time, so nothing waits but the one test of the
 * sweeper thread, which waits for the peer to see its stream end. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/deadline.h"
#include "util/clock.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define T0 S(5000)

struct pair {
	int ours, peer;	/* the server's end, the client's */
};

static void pair_open(struct pair *p)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->ours = sv[0];
	p->peer = sv[1];
}

static void pair_close(struct pair *p)
{
	close(p->ours);
	close(p->peer);
}

/* Has the client's end seen the stream end (the server shut its side down)? */
static bool is_shut(const struct pair *p)
{
	char b;
	ssize_t n = recv(p->peer, &b, 1, MSG_DONTWAIT);

	if (n < 0)
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return n == 0;
}

static void test_each_phase_has_its_deadline(void **state)
{
	struct kl_err err = { 0 };
	struct http_deadlines *d = http_deadline_new(60, 30, false, &err);
	struct http_conn_deadline *idle, *reading, *serving;
	struct pair a, b, c;

	(void)state;
	assert_non_null(d);
	pair_open(&a);
	pair_open(&b);
	pair_open(&c);
	assert_non_null(idle = http_deadline_open(d, a.ours, T0));
	assert_non_null(reading = http_deadline_open(d, b.ours, T0));
	assert_non_null(serving = http_deadline_open(d, c.ours, T0));
	http_deadline_request_started(reading, T0 + S(10));	/* a request line at 10 s */
	http_deadline_request_started(serving, T0 + S(5));
	http_deadline_request_read(serving);			/* all in at once: kluis' turn */

	assert_int_equal(http_deadline_sweep(d, T0 + S(40)), 0);	/* 30 s of reading: allowed */
	assert_int_equal(http_deadline_sweep(d, T0 - S(1)), 0);	/* a clock behind: nothing */
	assert_false(is_shut(&b));
	assert_int_equal(http_deadline_sweep(d, T0 + S(40) + 1), 1);	/* a request too slow */
	assert_true(is_shut(&b));
	assert_false(is_shut(&a));
	assert_int_equal(http_deadline_sweep(d, T0 + S(60)), 0);	/* 60 s idle: allowed */
	assert_int_equal(http_deadline_sweep(d, T0 + S(61)), 1);	/* idle too long; b not again */
	assert_true(is_shut(&a));
	assert_false(is_shut(&c));
	assert_int_equal(http_deadline_sweep(d, T0 + S(1000)), 0);	/* serving: no deadline */

	/* answered: idle again from then, a new request line restarts the request deadline */
	http_deadline_request_done(serving, T0 + S(1000));
	assert_int_equal(http_deadline_sweep(d, T0 + S(1059)), 0);
	http_deadline_request_started(serving, T0 + S(1059));
	assert_int_equal(http_deadline_sweep(d, T0 + S(1080)), 0);
	http_deadline_request_read(serving);
	http_deadline_request_done(serving, T0 + S(1081));
	assert_int_equal(http_deadline_sweep(d, T0 + S(1141)), 0);
	assert_false(is_shut(&c));
	assert_int_equal(http_deadline_sweep(d, T0 + S(1142)), 1);
	assert_true(is_shut(&c));

	http_deadline_close(d, reading);	/* closed in any order; the descriptors are ours */
	http_deadline_close(d, idle);
	http_deadline_close(d, serving);
	assert_int_equal(http_deadline_sweep(d, T0 + S(10000)), 0);
	http_deadline_free(d);
	pair_close(&a);
	pair_close(&b);
	pair_close(&c);
}

static void test_zero_means_no_deadline(void **state)
{
	struct kl_err err = { 0 };
	struct http_deadlines *d = http_deadline_new(0, 0, true, &err);	/* no thread needed */
	struct http_conn_deadline *c;
	struct pair a;

	(void)state;
	assert_non_null(d);
	pair_open(&a);
	c = http_deadline_open(d, a.ours, T0);
	assert_int_equal(http_deadline_sweep(d, T0 + S(100000)), 0);
	http_deadline_request_started(c, T0);
	assert_int_equal(http_deadline_sweep(d, T0 + S(100000)), 0);
	assert_false(is_shut(&a));
	/* NULL (a connection whose state could not be allocated) is accepted everywhere */
	http_deadline_request_started(NULL, T0);
	http_deadline_request_read(NULL);
	http_deadline_request_done(NULL, T0);
	http_deadline_close(d, NULL);
	http_deadline_close(d, c);
	http_deadline_free(d);
	http_deadline_free(NULL);
	pair_close(&a);
}

static void test_sweeper_thread_shuts_a_silent_connection(void **state)
{
	struct kl_err err = { 0 };
	struct http_deadlines *d = http_deadline_new(1, 1, true, &err);
	struct http_conn_deadline *c;
	struct pollfd pfd;
	struct pair a;

	(void)state;
	assert_non_null(d);
	pair_open(&a);
	c = http_deadline_open(d, a.ours, clock_mono_us());
	http_deadline_request_started(c, clock_mono_us());
	pfd.fd = a.peer;
	pfd.events = POLLIN;
	/* within 1 s plus a sweep interval (0.5 s); 10 s of slack for a loaded machine */
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(is_shut(&a));
	http_deadline_close(d, c);
	http_deadline_free(d);	/* joins the thread */
	pair_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_phase_has_its_deadline),
		cmocka_unit_test(test_zero_means_no_deadline),
		cmocka_unit_test(test_sweeper_thread_shuts_a_silent_connection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
