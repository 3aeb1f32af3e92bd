/* HAProxy's agent check, served (http/lbagent.h). One thread waits on the listener and on a stop
 * pipe; each accepted connection gets its line in one non-blocking send and is closed, so a
 * checker that does not read cannot hold the thread. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/lbagent.h"

#define AGENT_BACKLOG 64

struct lbagent {
	int listen_fd;
	int stop_pipe[2];	/* a byte on [1] (or its close) ends the thread */
	bool (*ready)(void *arg);
	void *arg;
	pthread_t thread;
};

static void answer(struct lbagent *a, int fd)
{
	static const char ready_line[] = "ready 100%\n", drain_line[] = "drain\n";
	const char *line = a->ready(a->arg) ? ready_line : drain_line;

	/* One short line into an empty socket buffer: it fits, or the checker is gone. */
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

static void *serve(void *arg)
{
	struct lbagent *a = arg;
	struct pollfd p[2] = {
		{ .fd = a->listen_fd, .events = POLLIN },
		{ .fd = a->stop_pipe[0], .events = POLLIN },
	};
	int fd;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents != 0)
			break;
		while ((fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
			answer(a, fd);
		/* Out of descriptors (or memory): the listener stays readable, so wait a little
		 * rather than spin; the checker's next try comes within a second anyway. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			poll(NULL, 0, 100);
	}
	return NULL;
}

struct lbagent *lbagent_start(const struct http_addr *addr, bool (*ready)(void *arg), void *arg,
			      struct kl_err *err)
{
	struct lbagent *a = calloc(1, sizeof(*a));

	if (a == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory for the load balancer's agent");
		return NULL;
	}
	a->listen_fd = a->stop_pipe[0] = a->stop_pipe[1] = -1;
	a->ready = ready;
	a->arg = arg;
	if (http_addr_listen(addr, AGENT_BACKLOG, &a->listen_fd, err) != 0)
		goto fail;
	if (pipe2(a->stop_pipe, O_CLOEXEC) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot make the agent's stop pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&a->thread, NULL, serve, a) != 0) {
		kl_fail(err, KL_EINTERNAL, "cannot start the load balancer's agent thread");
		goto fail;
	}
	return a;
fail:
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	if (a->stop_pipe[0] >= 0) {
		close(a->stop_pipe[0]);
		close(a->stop_pipe[1]);
	}
	free(a);
	return NULL;
}

void lbagent_stop(struct lbagent *a)
{
	if (a == NULL)
		return;
	close(a->stop_pipe[1]);	/* the thread sees POLLHUP on [0] */
	pthread_join(a->thread, NULL);
	close(a->stop_pipe[0]);
	close(a->listen_fd);
	free(a);
}
