/* http/deadline: the deadlines of connections and the room made under the connection limits, on
 * socketpairs standing in for client connections. Sweeps are given the time, so nothing waits but
 * the one test of the sweeper thread, which waits for the peer to see its stream end. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

static struct http_deadlines *registry(unsigned idle_s, unsigned request_s, unsigned max_conns,
				       unsigned max_per_addr, bool run_sweeper)
{
	struct http_deadline_config cfg = { .idle_s = idle_s, .request_s = request_s,
					    .max_conns = max_conns, .max_per_addr = max_per_addr };
	struct kl_err err = { 0 };
	struct http_deadlines *d = http_deadline_new(&cfg, run_sweeper, &err);

	assert_non_null(d);
	return d;
}

/* A client address: IPv4 127.0.0.n, or IPv6 ::n when n > 100. */
static const struct sockaddr *addr_of(struct sockaddr_storage *ss, unsigned n)
{
	memset(ss, 0, sizeof(*ss));
	if (n > 100) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_addr.s6_addr[15] = (uint8_t)n;
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(0x7f000000u | n);
	}
	return (const struct sockaddr *)ss;
}

/* A connection that has been answered once and is idle since since_us. */
static struct http_conn_deadline *open_idle(struct http_deadlines *d, int fd, unsigned addr,
					    uint64_t since_us)
{
	struct sockaddr_storage ss;
	struct http_conn_deadline *c = http_deadline_open(d, fd, addr_of(&ss, addr), since_us);

	assert_non_null(c);
	http_deadline_request_started(c, since_us);
	http_deadline_request_read(c);
	http_deadline_request_done(c, since_us);
	return c;
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
	struct http_deadlines *d = registry(60, 30, 0, 0, false);
	struct http_conn_deadline *idle, *reading, *serving;
	struct pair a, b, c;

	(void)state;
	pair_open(&a);
	pair_open(&b);
	pair_open(&c);
	idle = open_idle(d, a.ours, 1, T0);
	assert_non_null(reading = http_deadline_open(d, b.ours, NULL, T0));
	assert_non_null(serving = http_deadline_open(d, c.ours, NULL, T0));
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

/* A connection that has not asked anything gets the shorter deadline; once answered, the idle
 * one, however long (clients pool connections for minutes). */
static void test_new_connection_gets_the_shorter_deadline(void **state)
{
	struct http_deadlines *d = registry(600, 30, 0, 0, false);
	struct http_deadlines *d2 = registry(5, 30, 0, 0, false);
	struct http_conn_deadline *fresh, *pooled, *fresh2;
	struct pair a, b, c;

	(void)state;
	pair_open(&a);
	pair_open(&b);
	pair_open(&c);
	assert_non_null(fresh = http_deadline_open(d, a.ours, NULL, T0));
	pooled = open_idle(d, b.ours, 1, T0);
	assert_int_equal(http_deadline_sweep(d, T0 + S(30)), 0);
	assert_int_equal(http_deadline_sweep(d, T0 + S(31)), 1);	/* 31 s without a request */
	assert_true(is_shut(&a));
	assert_int_equal(http_deadline_sweep(d, T0 + S(600)), 0);	/* 10 min idle in a pool */
	assert_false(is_shut(&b));
	assert_int_equal(http_deadline_sweep(d, T0 + S(601)), 1);
	assert_true(is_shut(&b));
	/* with an idle timeout shorter than the request timeout, the idle one */
	assert_non_null(fresh2 = http_deadline_open(d2, c.ours, NULL, T0));
	assert_int_equal(http_deadline_sweep(d2, T0 + S(5)), 0);
	assert_int_equal(http_deadline_sweep(d2, T0 + S(6)), 1);
	http_deadline_close(d, fresh);
	http_deadline_close(d, pooled);
	http_deadline_close(d2, fresh2);
	http_deadline_free(d);
	http_deadline_free(d2);
	pair_close(&a);
	pair_close(&b);
	pair_close(&c);
}

/* At the total limit, a new connection takes the place of the one idle the longest; with none
 * idle (new, reading or serving), the new one is shut down. Closing frees a place. */
static void test_total_limit_closes_the_longest_idle(void **state)
{
	struct http_deadlines *d = registry(600, 30, 3, 0, false);
	struct http_conn_deadline *c[6];
	struct sockaddr_storage ss;
	struct pair p[6];
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++)
		pair_open(&p[i]);
	c[0] = open_idle(d, p[0].ours, 1, T0 + S(20));
	c[1] = open_idle(d, p[1].ours, 2, T0 + S(10));	/* idle the longest */
	assert_non_null(c[2] = http_deadline_open(d, p[2].ours, addr_of(&ss, 3), T0 + S(5)));
	for (i = 0; i < 3; i++)
		assert_false(is_shut(&p[i]));
	/* the fourth: c[1] makes room (another address: the total limit) */
	assert_non_null(c[3] = http_deadline_open(d, p[3].ours, addr_of(&ss, 4), T0 + S(30)));
	assert_true(is_shut(&p[1]));
	assert_false(is_shut(&p[0]) || is_shut(&p[2]) || is_shut(&p[3]));
	/* the fifth: c[0], the only one idle, makes room */
	assert_non_null(c[4] = http_deadline_open(d, p[4].ours, addr_of(&ss, 5), T0 + S(31)));
	assert_true(is_shut(&p[0]));
	/* the sixth: nothing idle (c[2] new, c[3] reading, c[4] serving): it is refused */
	http_deadline_request_started(c[3], T0 + S(31));
	http_deadline_request_started(c[4], T0 + S(31));
	http_deadline_request_read(c[4]);
	assert_non_null(c[5] = http_deadline_open(d, p[5].ours, addr_of(&ss, 6), T0 + S(32)));
	assert_true(is_shut(&p[5]));
	assert_false(is_shut(&p[2]) || is_shut(&p[3]) || is_shut(&p[4]));
	/* the shut ones closing frees nothing (they no longer counted); a live one does */
	http_deadline_close(d, c[5]);
	http_deadline_close(d, c[1]);
	http_deadline_close(d, c[0]);
	http_deadline_close(d, c[2]);
	pair_close(&p[5]);
	pair_open(&p[5]);
	assert_non_null(c[5] = http_deadline_open(d, p[5].ours, addr_of(&ss, 6), T0 + S(33)));
	assert_false(is_shut(&p[5]));
	for (i = 3; i < 6; i++)
		http_deadline_close(d, c[i]);
	http_deadline_free(d);
	for (i = 0; i < 6; i++)
		pair_close(&p[i]);
}

/* Past the per-address limit only a connection of that address makes room: another address's
 * idle connection is never closed for it. Addresses compare whole (IPv4 and IPv6). */
static void test_per_address_limit_takes_only_its_own(void **state)
{
	struct http_deadlines *d = registry(600, 30, 100, 2, false);
	struct http_conn_deadline *c[7];
	struct sockaddr_storage ss;
	struct pair p[7];
	size_t i;

	(void)state;
	for (i = 0; i < 7; i++)
		pair_open(&p[i]);
	c[0] = open_idle(d, p[0].ours, 9, T0);		/* another address, idle the longest */
	c[1] = open_idle(d, p[1].ours, 1, T0 + S(5));
	c[2] = open_idle(d, p[2].ours, 1, T0 + S(6));
	c[3] = http_deadline_open(d, p[3].ours, addr_of(&ss, 1), T0 + S(7));	/* 1's third */
	assert_true(is_shut(&p[1]));		/* 1's own longest idle, not 9's */
	assert_false(is_shut(&p[0]) || is_shut(&p[2]) || is_shut(&p[3]));
	http_deadline_request_started(c[2], T0 + S(8));	/* 1's two now busy */
	c[4] = http_deadline_open(d, p[4].ours, addr_of(&ss, 1), T0 + S(9));
	assert_true(is_shut(&p[4]));		/* refused: 9's idle one stays */
	assert_false(is_shut(&p[0]));
	c[5] = open_idle(d, p[5].ours, 101, T0);	/* ::101 and ::102 are two addresses */
	c[6] = open_idle(d, p[6].ours, 102, T0);
	assert_false(is_shut(&p[5]) || is_shut(&p[6]));
	/* no address known: counted in the total only */
	for (i = 0; i < 7; i++)
		http_deadline_close(d, c[i]);
	assert_non_null(c[0] = http_deadline_open(d, p[0].ours, NULL, T0));
	http_deadline_close(d, c[0]);
	http_deadline_free(d);
	for (i = 0; i < 7; i++)
		pair_close(&p[i]);
}

static void test_zero_means_no_deadline(void **state)
{
	struct http_deadlines *d = registry(0, 0, 0, 0, true);	/* no thread needed */
	struct http_conn_deadline *c;
	struct pair a;

	(void)state;
	pair_open(&a);
	c = http_deadline_open(d, a.ours, NULL, T0);
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
	struct http_deadlines *d = registry(1, 1, 0, 0, true);
	struct http_conn_deadline *c;
	struct pollfd pfd;
	struct pair a;

	(void)state;
	pair_open(&a);
	c = http_deadline_open(d, a.ours, NULL, clock_mono_us());
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
		cmocka_unit_test(test_new_connection_gets_the_shorter_deadline),
		cmocka_unit_test(test_total_limit_closes_the_longest_idle),
		cmocka_unit_test(test_per_address_limit_takes_only_its_own),
		cmocka_unit_test(test_zero_means_no_deadline),
		cmocka_unit_test(test_sweeper_thread_shuts_a_silent_connection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
