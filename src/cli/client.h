/* kluis's view of a deployment: the settings, the HTTPS handle, and calls that turn answers
 * into JSON or into the one-line error the user sees. Every command goes through here. The
 * exit statuses are part of the CLI's contract (docs/cli.md). Not thread-safe. */
#ifndef KLUIS_CLI_CLIENT_H
#define KLUIS_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/config.h"
#include "cli/http.h"

enum cli_status {
	CLI_OK = 0,
	CLI_EFAIL = 1,		/* the server answered with an error, or a local step failed */
	CLI_EUSAGE = 2,		/* unknown command or option, missing or bad argument */
	CLI_EUNREACH = 3,	/* cannot reach the server, TLS failure, bad URL */
	CLI_EINVALID = 4,	/* key verify: the signature does not verify */
};

#define CLI_DATA_API_VERSION "7.6"
#define CLI_ARM_API_VERSION "2026-02-01"

struct cli {
	struct config cfg;
	struct http *http;
	char *vault_uri;	/* the data-plane URL in use, no trailing '/'; set on first use */
};

/* CLI_OK when a server URL is configured; else prints how to give one: CLI_EUSAGE. */
int client_need_url(const struct cli *c);

/* base, then each segment percent-encoded, '/'-joined (an empty segment leaves a trailing
 * '/'), then "?query" when query is not NULL. malloc'd; NULL when out of memory. */
char *client_url(const char *base, const char *query, ...) __attribute__((sentinel));

/* The data-plane base URL of the configured vault: https://NAME.<the deployment's DNS suffix,
 * from GET /kluis/v1/deployment>:<the deployment URL's port>, as kluisd names it; without a
 * vault, the deployment URL, which kluisd serves as its default vault. A CLI status; *base is
 * owned by c. */
int client_vault_base(struct cli *c, const char **base);

/* Sends method url with body (may be NULL) and the token when auth. On a 2xx answer returns
 * CLI_OK and, when out is not NULL, the parsed body in *out (NULL when empty; the caller
 * json_decrefs it). Otherwise prints the error and returns CLI_EFAIL or CLI_EUNREACH. */
int client_call(struct cli *c, const char *method, const char *url, const json_t *body, bool auth,
		json_t **out);

/* GETs url and each nextLink after it, gathering every page's "value" into *items (a new
 * array). Refuses a nextLink to another host. A CLI status. */
int client_list(struct cli *c, const char *url, json_t **items);

/* Prints an error answer as "kluis: CODE: MESSAGE (HTTP STATUS)". */
void client_print_error(long status, const struct buf *body);

/* Messages for local failures; both return CLI_EFAIL. */
int client_nomem(void);

#endif
