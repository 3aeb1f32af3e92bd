/* The listen address of kluisd: "HOST:PORT" text to a socket address, without DNS. Pure, no
 * allocation; thread-safe. */
#ifndef KLUIS_HTTP_ADDR_H
#define KLUIS_HTTP_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include "util/err.h"

#define HTTP_ADDR_TEXT_MAX 128	/* longest "HOST:PORT" accepted */

struct http_addr {
	struct sockaddr_storage ss;	/* AF_INET or AF_INET6, port set */
	socklen_t len;			/* of the sockaddr in ss */
	unsigned short port;		/* 1..65535 */
	bool is_ipv6;
	char host[48];			/* for URLs and logs: "127.0.0.1", "[::1]", "localhost" */
};

/* Parses text as HOST:PORT where HOST is an IPv4 address, an IPv6 address in brackets
 * ("[::1]:8443") or "localhost" (which means 127.0.0.1; no other name is resolved), and PORT is
 * 1..65535 in decimal. KL_EINVAL with a message naming what is wrong; *out is then unspecified. */
int http_addr_parse(const char *text, struct http_addr *out, struct kl_err *err);

/* A non-blocking, close-on-exec TCP socket listening on a (SO_REUSEADDR; an IPv6 address only
 * for IPv6) into *out. KL_EUNAVAIL when it cannot be made, bound or listened on: the message
 * names the address and says why (e.g. "Address already in use"). */
int http_addr_listen(const struct http_addr *a, int backlog, int *out, struct kl_err *err);

#endif
