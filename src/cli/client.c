/* client.c owns the conversation with kluisd: URLs, the token on every call but health, the
 * JSON in and out, paging, and turning an error answer into one line on stderr. It must never
 * print a body or a token; answers are parsed with the wiping allocator (json_util_init). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/output.h"
#include "util/json.h"

#define CLIENT_URL_MAX 8192
#define CLIENT_PAGES_MAX 100000	/* a server that never stops paging is a broken server */

int client_nomem(void)
{
	fprintf(stderr, "kluis: out of memory\n");
	return CLI_EFAIL;
}

int client_need_url(const struct cli *c)
{
	if (c->cfg.url != NULL && c->cfg.url[0] != '\0')
		return CLI_OK;
	fprintf(stderr, "kluis: no server URL: give --url URL, set KLUIS_URL, or put url = URL in "
			"the config file\n");
	return CLI_EUSAGE;
}

char *client_url(const char *base, const char *query, ...)
{
	struct kl_err err;
	struct buf b;
	const char *seg;
	va_list ap;
	bool ok;

	buf_init(&b, CLIENT_URL_MAX);
	ok = buf_append_str(&b, base, &err) == 0;
	va_start(ap, query);
	while (ok && (seg = va_arg(ap, const char *)) != NULL)
		ok = buf_putc(&b, '/', &err) == 0 && http_escape(seg, &b, &err) == 0;
	va_end(ap);
	if (ok && query != NULL)
		ok = buf_putc(&b, '?', &err) == 0 && buf_append_str(&b, query, &err) == 0;
	if (!ok) {
		buf_clear(&b);
		return NULL;
	}
	return (char *)buf_steal(&b, NULL);
}

/* A server's error text on one line: line breaks and tabs become one space (Azure's Forbidden
 * message has "\r\n" between its parts), other control characters '?', at most 400 bytes. */
static void print_clean(const char *s)
{
	size_t n = 0;
	bool space = false;

	for (; *s != '\0' && n < 400; s++, n++) {
		if (*s == '\r' || *s == '\n' || *s == '\t' || *s == ' ') {
			space = true;
			continue;
		}
		if (space)
			fputc(' ', stderr);
		space = false;
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, stderr);
	}
}

void client_print_error(long status, const struct buf *body)
{
	struct kl_err err;
	json_t *j = NULL;
	const char *code = NULL, *msg = NULL;

	if (body->len > 0 && (j = json_util_parse(body->data, body->len, &err)) != NULL) {
		code = json_string_value(output_path(j, "error.code"));
		msg = json_string_value(output_path(j, "error.message"));
	}
	if (status == 401) {
		code = "Unauthorized";
		if (msg == NULL)
			msg = "no valid token";
	}
	fprintf(stderr, "kluis: ");
	print_clean(code ? code : "HTTPError");
	fprintf(stderr, ": ");
	print_clean(msg ? msg : "the server answered with an error");
	fprintf(stderr, " (HTTP %ld)", status);
	if (status == 401)
		fprintf(stderr, ": check --token/KLUIS_TOKEN");
	fputc('\n', stderr);
	json_decref(j);
}

int client_call(struct cli *c, const char *method, const char *url, const json_t *body, bool auth,
		json_t **out)
{
	struct http_resp resp = { 0 };
	struct kl_err err;
	struct buf req;
	json_t *j = NULL;
	int rc = CLI_EFAIL;

	if (out != NULL)
		*out = NULL;
	buf_init_secret(&req, HTTP_BODY_MAX);	/* request bodies carry secret values */
	if (body != NULL && json_util_dump(body, &req, &err) != 0) {
		fprintf(stderr, "kluis: cannot build the request: %s\n", err.msg);
		goto out;
	}
	if (http_request(c->http, method, url, body ? &req : NULL, auth ? c->cfg.token : NULL,
			 &resp) != 0) {
		rc = CLI_EUNREACH;
		goto out;
	}
	if (resp.status < 200 || resp.status > 299) {
		client_print_error(resp.status, &resp.body);
		goto out;
	}
	if (out != NULL && resp.body.len > 0) {
		if ((j = json_util_parse(resp.body.data, resp.body.len, &err)) == NULL) {
			fprintf(stderr, "kluis: the answer from %.200s is not JSON (HTTP %ld)\n",
				url, resp.status);
			goto out;
		}
		*out = j;
	}
	rc = CLI_OK;
out:
	http_resp_clear(&resp);
	buf_clear(&req);
	return rc;
}

/* The port of url's authority ("https://host:port/..."), or "" when it names none. */
static void url_port(const char *url, char *out, size_t n)
{
	const char *auth = strstr(url, "://"), *end, *colon = NULL, *p;

	out[0] = '\0';
	if (auth == NULL)
		return;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (p = auth; p < end; p++) {
		if (*p == ']')
			colon = NULL;	/* an IPv6 literal's colons are not the port's */
		else if (*p == ':')
			colon = p;
	}
	if (colon != NULL && (size_t)(end - colon - 1) < n)
		snprintf(out, n, "%.*s", (int)(end - colon - 1), colon + 1);
}

/* A vault name as it may stand in a host name: letters, digits and '-'. */
static bool vault_name_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return i > 0 && i <= 63;
}

int client_vault_base(struct cli *c, const char **base)
{
	json_t *v = NULL;
	const char *suffix;
	char *url = NULL, port[8];
	size_t i;
	int rc;

	if (c->vault_uri != NULL) {
		*base = c->vault_uri;
		return CLI_OK;
	}
	if ((rc = client_need_url(c)) != CLI_OK)
		return rc;
	if (c->cfg.vault == NULL) {	/* kluisd serves its default vault at the bare address */
		size_t n;

		if ((c->vault_uri = strdup(c->cfg.url)) == NULL)
			return client_nomem();
		for (n = strlen(c->vault_uri); n > 0 && c->vault_uri[n - 1] == '/'; n--)
			c->vault_uri[n - 1] = '\0';
		*base = c->vault_uri;
		return CLI_OK;
	}
	if (!vault_name_ok(c->cfg.vault)) {
		fprintf(stderr, "kluis: a vault name is letters, digits and '-'\n");
		return CLI_EUSAGE;
	}
	/* Vault NAME's data plane is https://NAME.<DNS suffix>:<the deployment's port>, as kluisd
	 * names it in the vault's vaultUri. The suffix comes from GET /kluis/v1/deployment, which
	 * answers any caller: the vault resource itself is only for Reader or above on the vault,
	 * and a principal with data plane rights alone must still reach its secrets. */
	if ((url = client_url(c->cfg.url, NULL, "kluis", "v1", "deployment", NULL)) == NULL)
		return client_nomem();
	if ((rc = client_call(c, "GET", url, NULL, true, &v)) != CLI_OK)
		goto out;
	if ((suffix = json_string_value(json_object_get(v, "dnsSuffix"))) == NULL ||
	    *suffix == '\0') {
		fprintf(stderr, "kluis: the server did not say its DNS suffix\n");
		rc = CLI_EFAIL;
		goto out;
	}
	url_port(c->cfg.url, port, sizeof(port));
	if (asprintf(&c->vault_uri, "https://%s.%s%s%s", c->cfg.vault, suffix, *port ? ":" : "",
		     port) < 0) {
		c->vault_uri = NULL;
		rc = client_nomem();
		goto out;
	}
	for (i = 0; c->vault_uri[i] != '\0'; i++)	/* lowercase, as kluisd writes it */
		if (c->vault_uri[i] >= 'A' && c->vault_uri[i] <= 'Z')
			c->vault_uri[i] = (char)(c->vault_uri[i] + 32);
	*base = c->vault_uri;
	rc = CLI_OK;
out:
	json_decref(v);
	free(url);
	return rc;
}

/* The length of "https://host:port" in url: the part a nextLink must share with the first. */
static size_t origin_len(const char *url)
{
	const char *p = strstr(url, "://"), *slash;

	if (p == NULL)
		return 0;
	slash = strchr(p + 3, '/');
	return slash ? (size_t)(slash - url) : strlen(url);
}

int client_list(struct cli *c, const char *url, json_t **items)
{
	json_t *all = json_array(), *page = NULL, *next;
	char *cur = NULL;
	size_t pages = 0, olen = origin_len(url);
	int rc = CLI_EFAIL;

	*items = NULL;
	if (all == NULL || (cur = strdup(url)) == NULL) {
		rc = client_nomem();
		goto out;
	}
	while (cur != NULL) {
		if (++pages > CLIENT_PAGES_MAX) {
			fprintf(stderr, "kluis: the server keeps paging; stopped after %d pages\n",
				CLIENT_PAGES_MAX);
			goto out;
		}
		if ((rc = client_call(c, "GET", cur, NULL, true, &page)) != CLI_OK)
			goto out;
		rc = CLI_EFAIL;
		if (!json_is_array(json_object_get(page, "value"))) {
			fprintf(stderr, "kluis: the server's list has no value array\n");
			goto out;
		}
		if (json_array_extend(all, json_object_get(page, "value")) != 0) {
			rc = client_nomem();
			goto out;
		}
		free(cur);
		cur = NULL;
		next = json_object_get(page, "nextLink");
		if (json_is_string(next)) {
			/* The token goes with every page: only where the first page came from. */
			if (origin_len(json_string_value(next)) != olen ||
			    strncmp(json_string_value(next), url, olen) != 0) {
				fprintf(stderr, "kluis: refusing a nextLink to another host\n");
				goto out;
			}
			if ((cur = strdup(json_string_value(next))) == NULL) {
				rc = client_nomem();
				goto out;
			}
		}
		json_decref(page);
		page = NULL;
	}
	*items = all;
	all = NULL;
	rc = CLI_OK;
out:
	json_decref(page);
	json_decref(all);
	free(cur);
	return rc;
}
