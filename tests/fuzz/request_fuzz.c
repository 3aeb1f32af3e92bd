/* libFuzzer target: whole requests as the network delivers them, written as a small HTTP/1.1
 * message, through the same steps as the server: the path and the query percent-decoded by
 * http_unescape (the server's unescape callback), then api_begin (routing, Host to vault,
 * api-version, the Authorization header, the 401 challenge), api_dispatch (every handler and its
 * JSON body, maxresults and $skiptoken paging, names and versions) and api_req_done (the audit
 * line), driven by api_drive.h as http/ drives them. The deployment has three vaults' worth of
 * principals:
 *
 *   METHOD TARGET [HTTP/1.1]\n        TARGET is path[?query], the query split on & and =
 *   Name: value\n                     Host, Authorization, x-ms-client-request-id, Content-Type,
 *                                     X-IDENTITY-HEADER
 *   \n
 *   body
 *
 * In the Authorization and X-IDENTITY-HEADER values $ADMIN, $USER, $OTHER and $REVOKED stand for
 * real tokens: the admin,
 * "fuzz-user" (Key Vault Secrets User on vault default), "fuzz-other" (Secrets Officer on vault
 * other) and a revoked token of fuzz-user. What must hold for every input:
 *   - an answer below 500, a JSON error body with code and message for every status >= 400, a
 *     challenge on every 401, header values without control characters; on the identity
 *     provider's routes an OAuth error body (error, error_description, error_codes) instead, and
 *     an access token only for fuzz-user's or fuzz-other's kluis token on /msi/token (no client
 *     secret exists, so the token endpoint never issues one);
 *   - an unauthenticated request succeeds only on a public route; fuzz-user only reads and lists
 *     secrets of vault default; fuzz-other only touches secrets of vault other; neither ever sees
 *     the other vault's canary value, and no answer ever carries the admin token;
 *   - the audit line is one line of valid JSON without the admin token.
 * Requests of the admin that would change who may do what (vault create/update/delete, access
 * policies, role assignments, principal deletion, token revocation) are routed and authenticated
 * but not dispatched, so that the principals above keep their rights; mgmt_request_fuzz covers
 * those bodies. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/internal.h"
#include "api_drive.h"
#include "fixture.h"
#include "http/internal.h"
#include "util/json.h"
#include "util/log.h"
#include "util/logfile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RG "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.KeyVault"
#define CANARY_DEFAULT "canary-of-vault-default-5d1e"
#define CANARY_OTHER "canary-of-vault-other-93b7"
#define MAX_INPUT (64u * 1024)

static struct fixture_dir dir;
static struct vault_core *core;
static struct api_ctx *api;
static struct logfile *audit;
static char audit_path[320];
static char tok_admin[128], tok_user[128], tok_other[128], tok_revoked[128];

/* --- set-up: requests of the admin ------------------------------------------------------------ */

static json_t *setup_call(const char *method, const char *host, const char *path, const char *query,
			  const char *body, int want)
{
	char bearer[160];
	const struct api_drive_req d = { .method = method, .host = host, .path = path,
					 .api_version = query, .authorization = bearer,
					 .body = body, .body_len = api_drive_len(body) };
	struct api_resp resp;
	struct kl_err err = { 0 };
	json_t *j;

	snprintf(bearer, sizeof(bearer), "Bearer %s", tok_admin);
	if (api_drive(api, &d, &resp, &err) != 0)
		abort();
	if (resp.status != want) {
		fprintf(stderr, "fuzz setup: %s %s: %d %.*s\n", method, path, resp.status,
			(int)resp.body.len, (const char *)resp.body.data);
		abort();
	}
	j = api_drive_json(&resp);
	api_resp_free(&resp);
	return j;
}

/* The token in a 201 answer of the admin API, copied into out. */
static void take_token(json_t *j, char *out, size_t n, char *id, size_t id_n)
{
	const char *t = json_string_value(json_object_get(j, "token"));
	const char *tid = json_string_value(json_object_get(j, "id"));

	if (t == NULL || strlen(t) >= n || (id != NULL && (tid == NULL || strlen(tid) >= id_n)))
		abort();
	snprintf(out, n, "%s", t);
	if (id != NULL)
		snprintf(id, id_n, "%s", tid);
	json_decref(j);
}

static void cleanup(void)
{
	api_ctx_free(api);
	logfile_free(audit);
	vault_core_close(core);
	fixture_dir_remove(&dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char vault[] = "{\"location\":\"here\",\"properties\":{\"tenantId\":\"t\","
				    "\"enableRbacAuthorization\":true,"
				    "\"sku\":{\"family\":\"A\",\"name\":\"standard\"}}}";
	struct vault_core_config ccfg = { .default_vault = "default", .retention_days = 90 };
	struct api_config cfg = { .dns_suffix = "vault.localhost", .default_vault = "default" };
	struct kl_err err = { 0 };
	struct store *st;
	char path[400], tid[64];

	(void)argc;
	(void)argv;
	json_util_init();
	log_set_min_level(LOG_LV_ERROR);
	if (fixture_dir_make(&dir) != 0)
		abort();
	ccfg.data_dir = dir.path;
	snprintf(audit_path, sizeof(audit_path), "%s/audit.log", dir.path);
	/* A map far larger than a fuzzing session fills: a full store would be a false 503. */
	if ((st = store_lmdb_open(dir.store, 4096u * 1024 * 1024, &err)) == NULL ||
	    (core = vault_core_open(&ccfg, st, &err)) == NULL ||
	    (audit = logfile_open(audit_path, &err)) == NULL)
		abort();
	cfg.audit = audit;
	if ((api = api_ctx_new(&cfg, core, &err)) == NULL ||
	    fixture_admin_token(&dir, tok_admin, sizeof(tok_admin)) != 0)
		abort();
	atexit(cleanup);
	json_decref(setup_call("PUT", "localhost", RG "/vaults/other", "2026-02-01", vault, 201));
	take_token(setup_call("POST", "localhost", "/kluis/v1/principals", NULL,
			      "{\"name\":\"fuzz-user\"}", 201), tok_user, sizeof(tok_user), NULL, 0);
	take_token(setup_call("POST", "localhost", "/kluis/v1/principals", NULL,
			      "{\"name\":\"fuzz-other\"}", 201), tok_other, sizeof(tok_other), NULL, 0);
	take_token(setup_call("POST", "localhost", "/kluis/v1/principals/fuzz-user/tokens", NULL,
			      "{}", 201), tok_revoked, sizeof(tok_revoked), tid, sizeof(tid));
	snprintf(path, sizeof(path), "/kluis/v1/principals/fuzz-user/tokens/%s", tid);
	json_decref(setup_call("DELETE", "localhost", path, NULL, NULL, 200));
	json_decref(setup_call("POST", "localhost", "/kluis/v1/roleAssignments", NULL,
			       "{\"principal\":\"fuzz-user\",\"role\":\"Key Vault Secrets User\","
			       "\"vault\":\"default\"}", 201));
	json_decref(setup_call("POST", "localhost", "/kluis/v1/roleAssignments", NULL,
			       "{\"principal\":\"fuzz-other\",\"role\":\"Key Vault Secrets Officer\","
			       "\"vault\":\"other\"}", 201));
	json_decref(setup_call("PUT", "default.vault.localhost", "/secrets/canary", "7.6",
			       "{\"value\":\"" CANARY_DEFAULT "\"}", 200));
	json_decref(setup_call("PUT", "other.vault.localhost", "/secrets/canary", "7.6",
			       "{\"value\":\"" CANARY_OTHER "\"}", 200));
	json_decref(setup_call("POST", "default.vault.localhost", "/keys/k1/create", "7.6",
			       "{\"kty\":\"EC\",\"crv\":\"P-256\"}", 200));
	json_decref(setup_call("POST", "default.vault.localhost", "/keys/k2/create", "7.6",
			       "{\"kty\":\"oct-HSM\",\"key_size\":256}", 200));
	if (truncate(audit_path, 0) != 0)
		abort();
	return 0;
}

/* --- the input as a request ------------------------------------------------------------------- */

/* Copies s with each $NAME replaced by its token. */
static char *expand_tokens(const char *s)
{
	static const struct {
		const char *name;
		const char *tok;
	} subst[] = { { "$ADMIN", tok_admin }, { "$USER", tok_user }, { "$OTHER", tok_other },
		      { "$REVOKED", tok_revoked } };
	size_t cap = strlen(s) * 32 + 1, o = 0, i;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	while (*s != '\0') {
		for (i = 0; i < sizeof(subst) / sizeof(subst[0]); i++)
			if (strncmp(s, subst[i].name, strlen(subst[i].name)) == 0)
				break;
		if (i < sizeof(subst) / sizeof(subst[0])) {
			memcpy(out + o, subst[i].tok, strlen(subst[i].tok));
			o += strlen(subst[i].tok);
			s += strlen(subst[i].name);
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	return out;
}

/* One line of the input: [*p, end of line), advancing *p past the line end. NULL for a line
 * with a NUL byte: libmicrohttpd refuses one in the request line and the headers. */
static char *take_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	char *line;

	if (len > 0 && (*p)[len - 1] == '\r')
		len--;
	if (memchr(*p, '\0', len) != NULL)
		return NULL;
	if ((line = strndup(*p, len)) == NULL)
		abort();
	*p = nl ? nl + 1 : end;
	return line;
}

/* The input as the HTTP layer hands it on: the strings of a request (owned here; the body points
 * into the input). */
struct input {
	char method[16];
	char *path, *host, *authorization, *identity_header, *client_request_id, *content_type;
	char *query;			/* split in place into params */
	struct api_drive_param *params;
	size_t n_params;
	const char *body;
	size_t body_len;
};

static void input_clear(struct input *in)
{
	char *owned[] = { in->path, in->host, in->authorization, in->identity_header,
			  in->client_request_id, in->content_type, in->query };
	size_t i;

	for (i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		free(owned[i]);
	free(in->params);
}

/* The query, split and decoded as libmicrohttpd does before kluis sees it. */
static void split_query(struct input *in, const char *q)
{
	char *save = NULL, *part, *eq;
	size_t n = 1;
	const char *c;

	for (c = q; *c != '\0'; c++)
		n += *c == '&';
	if ((in->query = strdup(q)) == NULL ||
	    (in->params = calloc(n, sizeof(*in->params))) == NULL)
		abort();
	for (part = strtok_r(in->query, "&", &save); part != NULL;
	     part = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(part, '=')) != NULL)
			*eq++ = '\0';
		http_unescape(NULL, NULL, part);
		if (eq != NULL)
			http_unescape(NULL, NULL, eq);
		in->params[in->n_params].name = part;
		in->params[in->n_params++].value = eq ? eq : "";
	}
}

/* Fills in from the input; -1 when the input is not a request the HTTP layer would pass on. */
static int parse_input(const uint8_t *data, size_t size, struct input *in)
{
	const char *p = (const char *)data, *end = p + size;
	char *line = NULL, *sp, *target, *q, *value;
	int rc = -1;

	if (memchr(data, '\n', size) == NULL)
		return -1;
	line = take_line(&p, end);
	if (line == NULL || (sp = strchr(line, ' ')) == NULL || sp == line ||
	    (size_t)(sp - line) >= sizeof(in->method))
		goto out;
	memcpy(in->method, line, (size_t)(sp - line));
	target = sp + 1;
	if ((sp = strchr(target, ' ')) != NULL)
		*sp = '\0';	/* " HTTP/1.1" */
	if ((q = strchr(target, '?')) != NULL)
		*q++ = '\0';
	http_unescape(NULL, NULL, target);
	if ((in->path = strdup(target)) == NULL)
		abort();
	if (q != NULL)
		split_query(in, q);
	while (p < end) {
		free(line);
		if ((line = take_line(&p, end)) == NULL)
			goto out;
		if (*line == '\0')
			break;	/* the body follows */
		if ((value = strchr(line, ':')) == NULL)
			goto out;
		*value++ = '\0';
		while (*value == ' ' || *value == '\t')
			value++;
		if (strcasecmp(line, "Host") == 0) {
			if (in->host != NULL)
				goto out;	/* http/ refuses a repeated Host */
			in->host = strdup(value);
		} else if (strcasecmp(line, "Authorization") == 0) {
			if (in->authorization != NULL)
				goto out;
			in->authorization = expand_tokens(value);
		} else if (strcasecmp(line, "X-IDENTITY-HEADER") == 0) {
			if (in->identity_header != NULL)
				goto out;	/* http/ refuses a repeated one */
			in->identity_header = expand_tokens(value);
		} else if (strcasecmp(line, "x-ms-client-request-id") == 0) {
			free(in->client_request_id);
			in->client_request_id = strdup(value);
		} else if (strcasecmp(line, "Content-Type") == 0) {
			free(in->content_type);
			in->content_type = strdup(value);
		}
	}
	in->body = p;
	in->body_len = (size_t)(end - p);
	rc = 0;
out:
	free(line);
	return rc;
}

/* --- what must hold --------------------------------------------------------------------------- */

static void fail(const char *why, const struct api_req *req, const struct api_resp *resp)
{
	fprintf(stderr, "request_fuzz: %s: %s %s as '%s' -> %d %.*s\n", why, req->method,
		req->path ? req->path : "(null)", api_req_who(req)->name, resp->status,
		(int)(resp->body.len > 400 ? 400 : resp->body.len), (const char *)resp->body.data);
	abort();
}

/* Whether s occurs in [p, p + n). By hand and without coverage instrumentation: libFuzzer learns
 * the arguments of memmem and of instrumented comparisons, and would then write the admin token
 * into its inputs. */
__attribute__((no_sanitize("coverage"))) static bool occurs(const void *p, size_t n, const char *s)
{
	const unsigned char *h = p;
	size_t len = strlen(s), i, j;

	for (i = 0; len > 0 && i + len <= n; i++) {
		for (j = 0; j < len && h[i + j] == (unsigned char)s[j]; j++)
			;
		if (j == len)
			return true;
	}
	return false;
}

static bool contains(const struct buf *b, const char *s)
{
	return b->len > 0 && occurs(b->data, b->len, s);
}

static const uint8_t *input;	/* the input being run */
static size_t input_len;

static bool input_names(const char *s)
{
	return occurs(input, input_len, s);
}

/* The identity provider's answers: OAuth errors, no challenge, tokens only for the principals'
 * kluis tokens on the App Service route. */
static void check_identity_answer(const struct api_req *req, const struct api_resp *resp,
				  json_t *j)
{
	const struct route *r = api_req_route(req);
	json_t *codes = json_object_get(j, "error_codes");

	if (resp->status >= 400 &&
	    (!json_is_string(json_object_get(j, "error")) ||
	     !json_is_string(json_object_get(j, "error_description")) ||
	     json_array_size(codes) != 1 || !json_is_integer(json_array_get(codes, 0))))
		fail("an identity provider error without an OAuth error body", req, resp);
	if (resp->status < 300 && json_object_get(j, "access_token") != NULL &&
	    (strcmp(r->op, "IssueManagedIdentityToken") != 0 ||
	     (strcmp(api_req_who(req)->name, "fuzz-user") != 0 &&
	      strcmp(api_req_who(req)->name, "fuzz-other") != 0)))
		fail("an access token for no credential", req, resp);
}

static void check_answer(const struct api_req *req, const struct api_resp *resp)
{
	const struct route *r = api_req_route(req);
	bool ok = resp->status >= 200 && resp->status < 300;
	const char *vault = api_req_vault(req) ? api_req_vault(req) : "";
	const unsigned char *v;
	json_t *j = NULL, *e;
	size_t i;

	if (resp->status < 200 || resp->status >= 500)
		fail("no answer, or a server error", req, resp);
	for (i = 0; i < resp->n_headers; i++)
		for (v = (const unsigned char *)resp->headers[i].value; *v != '\0'; v++)
			if (*v < 0x20 || *v == 0x7f)
				fail("a control character in a response header", req, resp);
	if (resp->body.len > 0 &&
	    (j = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL)) == NULL &&
	    !(r != NULL && strcmp(r->op, "GetMetrics") == 0))
		fail("a body that is not JSON", req, resp);
	if (r != NULL && route_plane_of(r) == PLANE_IDENTITY) {
		check_identity_answer(req, resp, j);
		json_decref(j);
		if (contains(&resp->body, tok_admin) && !input_names(tok_admin))
			fail("the admin token in an answer", req, resp);
		return;
	}
	if (resp->status >= 400) {
		e = json_object_get(j, "error");
		if (!json_is_string(json_object_get(e, "code")) ||
		    !json_is_string(json_object_get(e, "message")))
			fail("an error without an Azure error body", req, resp);
	}
	json_decref(j);
	if (resp->status == 401 && api_drive_header(resp, "WWW-Authenticate") == NULL)
		fail("a 401 without a challenge", req, resp);
	if (contains(&resp->body, tok_admin) && !input_names(tok_admin))
		fail("the admin token in an answer", req, resp);
	if (api_req_who(req)->is_admin)
		return;
	/* (An error message may quote the path: a canary the input names itself is no leak.) */
	if (strcmp(api_req_who(req)->name, "fuzz-other") != 0 && contains(&resp->body, CANARY_OTHER) &&
	    !input_names(CANARY_OTHER))
		fail("vault other's secret shown to someone else", req, resp);
	if (strcmp(api_req_who(req)->name, "fuzz-user") != 0 && contains(&resp->body, CANARY_DEFAULT) &&
	    !input_names(CANARY_DEFAULT))
		fail("vault default's secret shown to someone else", req, resp);
	if (!ok || r == NULL || r->cls == ROUTE_PUBLIC)
		return;
	if (api_req_who(req)->name[0] == '\0')
		fail("an unauthenticated request succeeded", req, resp);
	if (r->perm == PERM_DEPLOYMENT)
		return;	/* any principal may ask who it is and which vaults it sees */
	if (strcmp(api_req_who(req)->name, "fuzz-user") == 0 && route_plane_of(r) == PLANE_DATA &&
	    strcasecmp(vault, "default") == 0 &&
	    (r->perm == PERM_SECRET_GET || r->perm == PERM_SECRET_LIST))
		return;
	if (strcmp(api_req_who(req)->name, "fuzz-other") == 0 && route_plane_of(r) == PLANE_DATA &&
	    strcasecmp(vault, "other") == 0 && r->perm >= PERM_SECRET_GET &&
	    r->perm <= PERM_SECRET_PURGE)
		return;
	fail("a principal did what its role does not allow", req, resp);
}

/* The request's audit line: exactly one line of JSON, no token in it. */
static void check_audit(const struct api_req *req, const struct api_resp *resp)
{
	char line[8192];
	ssize_t n;
	int fd = open(audit_path, O_RDWR | O_CLOEXEC);
	json_t *j;

	if (fd < 0)
		abort();
	n = read(fd, line, sizeof(line));
	if (n <= 0 || (size_t)n == sizeof(line) || line[n - 1] != '\n' ||
	    memchr(line, '\n', (size_t)n - 1) != NULL)
		fail("not one audit line", req, resp);
	if ((j = json_loadb(line, (size_t)n - 1, 0, NULL)) == NULL || !json_is_object(j) ||
	    (occurs(line, (size_t)n, tok_admin) && !input_names(tok_admin)))
		fail("an audit line that is not JSON, or holds a token", req, resp);
	json_decref(j);
	if (ftruncate(fd, 0) != 0)
		abort();
	close(fd);
}

/* Admin operations that would change the principals' rights (see the top comment). */
static bool changes_rights(const struct route *r)
{
	static const char *const ops[] = { "VaultsCreateOrUpdate", "VaultsUpdate", "VaultsDelete",
					   "VaultsUpdateAccessPolicy", "VaultsPurgeDeleted",
					   "CreateRoleAssignment", "DeleteRoleAssignment",
					   "DeletePrincipal", "RevokeToken" };
	size_t i;

	for (i = 0; r != NULL && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(r->op, ops[i]) == 0)
			return true;
	return false;
}

/* api_drive's go_on: the admin's requests that would change the principals' rights are not
 * dispatched (see the top comment): the connection drops instead, noted in *(bool *)arg. */
static bool keeps_rights(const struct api_req *req, void *arg)
{
	if (api_req_who(req)->is_admin && changes_rights(api_req_route(req))) {
		*(bool *)arg = true;
		return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { 0 };
	struct api_req req;
	struct api_resp resp;
	struct kl_err err = { 0 };
	bool is_dropped = false;

	if (size > MAX_INPUT)
		return 0;
	input = data;
	input_len = size;
	if (parse_input(data, size, &in) == 0) {
		const struct api_drive_req d = {
			.method = in.method, .host = in.host, .path = in.path,
			.params = in.params, .n_params = in.n_params,
			.authorization = in.authorization, .identity_header = in.identity_header,
			.client_request_id = in.client_request_id, .content_type = in.content_type,
			.body = in.body, .body_len = in.body_len,
			.go_on = keeps_rights, .arg = &is_dropped, .keep = &req,
		};

		if (api_drive(api, &d, &resp, &err) != 0)
			abort();
		if (!is_dropped)
			check_answer(&req, &resp);
		check_audit(&req, &resp);
		api_resp_free(&resp);
		api_req_free(&req);
	}
	input_clear(&in);
	return 0;
}
