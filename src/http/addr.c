/* Parsing of the --listen address into a socket address, and the listening socket on it. Owns
 * no state; never resolves a name through DNS (a listen address that depends on a resolver is a
 * start-up surprise), never accepts a port it would have to guess. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/addr.h"

/* PORT: 1..5 decimal digits, 1..65535, nothing else (no sign, no spaces). */
static int parse_port(const char *s, unsigned short *out, struct kl_err *err)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= 5 || s[i] < '0' || s[i] > '9')
			return kl_fail(err, KL_EINVAL,
				       "the port '%.16s' is not a number from 1 to 65535", s);
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0)
		return kl_fail(err, KL_EINVAL, "the port is missing (expected HOST:PORT)");
	if (v < 1 || v > 65535)
		return kl_fail(err, KL_EINVAL, "the port %lu is not from 1 to 65535", v);
	*out = (unsigned short)v;
	return 0;
}

int http_addr_parse(const char *text, struct http_addr *out, struct kl_err *err)
{
	char host[HTTP_ADDR_TEXT_MAX + 1];
	const char *port_text, *colon;
	size_t n, host_len;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	n = text != NULL ? strnlen(text, HTTP_ADDR_TEXT_MAX + 1) : 0;
	if (n == 0 || n > HTTP_ADDR_TEXT_MAX) {
		kl_fail(err, KL_EINVAL,
			"the listen address must be HOST:PORT (at most %d characters)",
			HTTP_ADDR_TEXT_MAX);
		goto out;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':') {
			kl_fail(err, KL_EINVAL,
				"an IPv6 listen address must be written [ADDRESS]:PORT");
			goto out;
		}
		host_len = (size_t)(close - text - 1);
		port_text = close + 2;
		memcpy(host, text + 1, host_len);
		host[host_len] = '\0';
		out->is_ipv6 = true;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			kl_fail(err, KL_EINVAL, "the listen address '%.64s' has no port "
				"(expected HOST:PORT)", text);
			goto out;
		}
		host_len = (size_t)(colon - text);
		if (memchr(text, ':', host_len) != NULL) {
			kl_fail(err, KL_EINVAL, "an IPv6 listen address must be written in "
				"brackets, e.g. [::1]:8443");
			goto out;
		}
		port_text = colon + 1;
		memcpy(host, text, host_len);
		host[host_len] = '\0';
	}
	if (host_len == 0) {
		kl_fail(err, KL_EINVAL,
			"the listen address has no host (use 0.0.0.0 or [::] for every interface)");
		goto out;
	}
	if (parse_port(port_text, &out->port, err) != 0)
		goto out;

	if (out->is_ipv6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
			kl_fail(err, KL_EINVAL, "'%.64s' is not an IPv6 address", host);
			goto out;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(out->port);
		out->len = sizeof(*a6);
		/* The canonical text, in brackets as URLs write it. */
		out->host[0] = '[';
		inet_ntop(AF_INET6, &a6->sin6_addr, out->host + 1, sizeof(out->host) - 2);
		strcat(out->host, "]");
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ss;

		if (strcasecmp(host, "localhost") == 0) {
			a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			snprintf(out->host, sizeof(out->host), "localhost");
		} else if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
			inet_ntop(AF_INET, &a4->sin_addr, out->host, sizeof(out->host));
		} else {
			kl_fail(err, KL_EINVAL,
				"the listen host '%.64s' is not an IP address or localhost "
				"(names are not resolved)", host);
			goto out;
		}
		a4->sin_family = AF_INET;
		a4->sin_port = htons(out->port);
		out->len = sizeof(*a4);
	}
	rc = 0;
out:
	return rc;
}

int http_addr_listen(const struct http_addr *a, int backlog, int *out, struct kl_err *err)
{
	int fd, one = 1, rc = -1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		kl_fail(err, KL_EUNAVAIL, "cannot create a socket for %s:%u: %s", a->host, a->port,
			strerror(errno));
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (a->is_ipv6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)) {
		kl_fail(err, KL_EUNAVAIL, "cannot set up a socket for %s:%u: %s", a->host, a->port,
			strerror(errno));
		goto out;
	}
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
		kl_fail(err, KL_EUNAVAIL, "cannot bind %s:%u: %s", a->host, a->port,
			strerror(errno));
		goto out;
	}
	if (listen(fd, backlog) != 0) {
		kl_fail(err, KL_EUNAVAIL, "cannot listen on %s:%u: %s", a->host, a->port,
			strerror(errno));
		goto out;
	}
	*out = fd;
	fd = -1;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
