/* `kluis identity-agent`: the command. Reads its identities and its loopback address, asks kluisd
 * whom each identity is, serves (agent_http.c) until SIGTERM or SIGINT, then stops cleanly;
 * SIGHUP reads the identities' files again. It
 * must never listen on an address that is not loopback: its answers are tokens for anyone who
 * can reach it, guarded only by the Metadata header, as Azure's instance metadata service is. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/agent.h"
#include "cli/cmd.h"
#include "util/log.h"

/* --listen ADDR:PORT: an IPv4 loopback address or [::1], and a port (0: any free one). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	const char *colon = strrchr(s, ':');
	char host[64], *end;
	size_t hl;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || (hl = (size_t)(colon - s)) == 0 || hl >= sizeof(host))
		return cmd_usage_error("--listen must be ADDR:PORT, e.g. 127.0.0.1:%d",
				       AGENT_DEFAULT_PORT);
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535)
		return cmd_usage_error("--listen: '%.16s' is not a port", colon + 1);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
			goto not_loopback;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return CLI_OK;
	}
	if (inet_pton(AF_INET, host, &v4->sin_addr) != 1 ||
	    (ntohl(v4->sin_addr.s_addr) >> 24) != 127)
		goto not_loopback;
	v4->sin_family = AF_INET;
	v4->sin_port = htons((uint16_t)port);
	*len = sizeof(*v4);
	return CLI_OK;
not_loopback:
	return cmd_usage_error("--listen: %.64s is not a loopback address (127.0.0.0/8 or [::1]): "
			       "the agent hands out tokens to whoever reaches it", host);
}

static int agent_run(struct cli *c, const struct args *a)
{
	const char *listen_at = args_get(a, "listen"), *spec;
	struct agent_server *srv = NULL;
	struct sockaddr_storage ss;
	socklen_t ss_len = 0;
	struct agent *ag = NULL;
	sigset_t stop, old;
	size_t iter = 0;
	char where[80];
	int rc, sig = 0;

	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if ((rc = parse_listen(listen_at ? listen_at : "127.0.0.1:40342", &ss, &ss_len)) != CLI_OK)
		return rc;
	if ((ag = calloc(1, sizeof(*ag))) == NULL)
		return client_nomem();
	if (agent_init(ag, c->cfg.url, c->cfg.ca) != 0) {
		rc = CLI_EFAIL;
		goto out;
	}
	while ((spec = args_next(a, "identity", &iter)) != NULL)
		if ((rc = agent_add_identity(ag, spec)) != CLI_OK)
			goto out;
	if (ag->n_ids == 0) {
		rc = cmd_usage_error("give at least one --identity token:PATH or "
				     "cert:PATH:CLIENT_ID");
		goto out;
	}
	if ((rc = agent_resolve(ag)) != CLI_OK)
		goto out;
	/* The server's threads inherit this mask: the signals reach sigwait below only. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	signal(SIGPIPE, SIG_IGN);
	if ((srv = agent_server_start(ag, (struct sockaddr *)&ss, ss_len)) == NULL) {
		rc = CLI_EFAIL;
		goto unmask;
	}
	if (ss.ss_family == AF_INET6)
		snprintf(where, sizeof(where), "[::1]:%u", agent_server_port(srv));
	else
		snprintf(where, sizeof(where), "%s:%u",
			 inet_ntoa(((struct sockaddr_in *)&ss)->sin_addr), agent_server_port(srv));
	LOG_INFO(NULL, "listening on http://%s for %zu identit%s of %s (IMDS: GET "
		 "/metadata/identity/oauth2/token; Cloud Shell: POST /msi/token)", where,
		 ag->n_ids, ag->n_ids == 1 ? "y" : "ies", c->cfg.url);
	while (sigwait(&stop, &sig) == 0 && sig == SIGHUP)
		agent_reload(ag);
	LOG_INFO(NULL, "stopping on signal %d", sig);
	agent_server_stop(srv);
	rc = CLI_OK;
unmask:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	agent_clear(ag);
	free(ag);
	return rc;
}

static const struct opt agent_opts[] = {
	{ "identity", 0, OPT_VALUE, "SPEC",
	  "token:PATH (a file with a kluis token) or cert:PATH:CLIENT_ID (a PEM with the key and "
	  "certificate, and the principal's id or name); repeat for more; the first is the "
	  "system-assigned one" },
	{ "listen", 0, OPT_VALUE, "ADDR:PORT",
	  "loopback address to serve on (default 127.0.0.1:40342; port 0: any free one)" },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct cmd agent_cmds[] = {
	{ "identity-agent", "identity-agent --identity token:PATH|cert:PATH:CLIENT_ID ... "
	  "[--listen ADDR:PORT]",
	  "serve access tokens for these identities on loopback, as Azure's instance metadata "
	  "service (set AZURE_POD_IDENTITY_AUTHORITY_HOST=http://ADDR:PORT) and Cloud Shell "
	  "(MSI_ENDPOINT=http://ADDR:PORT/msi/token, for az login --identity) do; client_id, "
	  "object_id, msi_res_id or mi_res_id (a principal's id or name) picks an identity; "
	  "SIGHUP reads the files again (a rotated token); runs until SIGTERM or SIGINT",
	  agent_opts, 0, 0, agent_run },
	{ NULL, NULL, NULL, NULL, 0, 0, NULL },
};

const struct cmd_group cmd_identity_agent_group = {
	"identity-agent", "the identity agent: access tokens on loopback", agent_cmds, true,
};
