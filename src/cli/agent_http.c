/* agent_http.c owns the identity agent's loopback HTTP server (libmicrohttpd, a thread per
 * connection; the CLI's only includer of <microhttpd.h>) and the two request shapes it answers:
 * IMDS (GET /metadata/identity/oauth2/token[/]?api-version=&resource=[&client_id=...]) and Cloud
 * Shell (POST /msi/token with the form resource=[&client_id=...]), both with `Metadata: true`,
 * both answered with the body of spec identity.md §2.2. It refuses what IMDS refuses: a request
 * without the Metadata header, one carrying X-Forwarded-For (it came through a proxy), any peer
 * that is not loopback. It must never log a request's token or answer body; the answer's bytes
 * are wiped when libmicrohttpd is done with them. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "cli/agent.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

#define FORM_MAX 8192		/* bytes of a Cloud Shell form */
#define CONN_LIMIT 64
#define CONN_TIMEOUT_S 30
#define IMDS_PATH "/metadata/identity/oauth2/token"
#define CLOUD_SHELL_PATH "/msi/token"

struct agent_server {
	struct MHD_Daemon *daemon;
	struct agent *agent;
};

/* The parameters of one request: from the query (IMDS) or the form (Cloud Shell). */
enum param { P_RESOURCE, P_API_VERSION, P_CLIENT_ID, P_OBJECT_ID, P_MSI_RES_ID, P_MI_RES_ID, P_N };
static const char *const param_names[P_N] = {
	"resource", "api-version", "client_id", "object_id", "msi_res_id", "mi_res_id",
};

struct request {
	bool is_post;
	struct MHD_PostProcessor *pp;
	size_t form_bytes;
	bool form_bad;		/* too long, or a parameter given twice */
	char *form[P_N];	/* Cloud Shell's form values (malloc'd) */
};

static void request_free(struct request *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->pp != NULL)
		MHD_destroy_post_processor(r->pp);
	for (i = 0; i < P_N; i++)
		free(r->form[i]);
	free(r);
}

static void wipe_free(void *p)
{
	if (p != NULL) {
		secure_wipe(p, strlen(p));
		free(p);
	}
}

/* Queues status with body (a JSON object, stolen) as the answer; its bytes are wiped after. */
static enum MHD_Result reply(struct MHD_Connection *conn, int status, json_t *body)
{
	struct MHD_Response *resp;
	struct kl_err err;
	struct buf b;
	enum MHD_Result rc = MHD_NO;
	char *text;
	size_t len;

	buf_init_secret(&b, 64 * 1024);
	if (body == NULL || json_util_dump(body, &b, &err) != 0 || buf_putc(&b, '\n', &err) != 0) {
		json_decref(body);
		buf_clear(&b);
		return MHD_NO;	/* out of memory: libmicrohttpd closes the connection */
	}
	json_decref(body);
	text = (char *)buf_steal(&b, &len);
	resp = MHD_create_response_from_buffer_with_free_callback(len, text, wipe_free);
	if (resp == NULL) {
		wipe_free(text);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "application/json; charset=utf-8") == MHD_YES &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_SERVER, "kluis-identity-agent") ==
		    MHD_YES &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES)
		rc = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result refuse(struct MHD_Connection *conn, const char *url, int status,
			      const char *error, const char *description)
{
	LOG_INFO(NULL, "refused %.64s: %d %s", url, status, description);
	return reply(conn, status, json_pack("{s:s, s:s}", "error", error, "error_description",
					     description));
}

/* IMDS's api-versions: dates, the identity endpoint's first being 2018-02-01. */
static bool api_version_ok(const char *v)
{
	size_t i;

	if (strlen(v) != 10 || v[4] != '-' || v[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (v[i] < '0' || v[i] > '9'))
			return false;
	return strcmp(v, "2018-02-01") >= 0;
}

static bool resource_ok(const char *r)
{
	size_t i;

	for (i = 0; r[i] != '\0'; i++)
		if (i >= AGENT_RESOURCE_MAX || (unsigned char)r[i] <= 0x20 ||
		    (unsigned char)r[i] >= 0x7f)
			return false;
	return i > 0;
}

/* Answers a token request whose parameters are p (NULL: absent). */
static enum MHD_Result answer_token(struct agent_server *s, struct MHD_Connection *conn,
				    const char *url, const char *const *p, bool needs_version)
{
	struct agent_answer ans;
	const char *sel = NULL;
	char on[24], in[24];
	enum MHD_Result rc;
	int64_t left;
	size_t i;

	if (needs_version && p[P_API_VERSION] == NULL)
		return refuse(conn, url, 400, "invalid_request",
			      "Required query variable 'api-version' is missing");
	if (p[P_API_VERSION] != NULL && !api_version_ok(p[P_API_VERSION]))
		return refuse(conn, url, 400, "invalid_request",
			      "Invalid api-version: this agent speaks 2018-02-01 and later");
	if (p[P_RESOURCE] == NULL)
		return refuse(conn, url, 400, "invalid_request",
			      "Required query variable 'resource' is missing");
	if (!resource_ok(p[P_RESOURCE]))
		return refuse(conn, url, 400, "invalid_resource",
			      "The resource must be 1 to 255 printable characters");
	for (i = P_CLIENT_ID; i < P_N; i++) {
		if (p[i] == NULL)
			continue;
		if (sel != NULL)
			return refuse(conn, url, 400, "invalid_request", "Give only one of "
				      "client_id, object_id, msi_res_id and mi_res_id");
		sel = p[i];
	}
	agent_get_token(s->agent, p[P_RESOURCE], sel, &ans);
	if (ans.status != 200) {
		rc = reply(conn, ans.status >= 400 ? ans.status : 500,
			   json_pack("{s:s, s:s}", "error", ans.error ? ans.error : "server_error",
				     "error_description", ans.description));
		agent_answer_clear(&ans);
		return rc;
	}
	left = ans.expires_on - clock_now_s();
	snprintf(on, sizeof(on), "%lld", (long long)ans.expires_on);
	snprintf(in, sizeof(in), "%lld", (long long)(left > 0 ? left : 0));
	rc = reply(conn, 200, json_pack("{s:s%, s:s, s:s, s:s, s:s, s:s}", "access_token",
					(const char *)ans.token->data, ans.token->len, "client_id",
					ans.client_id, "expires_in", in, "expires_on", on,
					"resource", p[P_RESOURCE], "token_type", "Bearer"));
	agent_answer_clear(&ans);
	return rc;
}

static enum MHD_Result on_form_field(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *filename, const char *content_type,
				     const char *transfer_encoding, const char *data, uint64_t off,
				     size_t size)
{
	struct request *r = cls;
	size_t i, have;
	char *grown;

	(void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
	for (i = 0; i < P_N; i++) {
		if (strcmp(key, param_names[i]) != 0)
			continue;
		have = r->form[i] ? strlen(r->form[i]) : 0;
		if ((off == 0 && r->form[i] != NULL) || off != have) {
			r->form_bad = true;	/* given twice */
			return MHD_NO;
		}
		if ((grown = realloc(r->form[i], have + size + 1)) == NULL) {
			r->form_bad = true;
			return MHD_NO;
		}
		memcpy(grown + have, data, size);
		grown[have + size] = '\0';
		r->form[i] = grown;
	}
	return MHD_YES;	/* other fields are ignored, as IMDS ignores them */
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	(void)cls, (void)len;
	return is_loopback(addr) ? MHD_YES : MHD_NO;
}

/* The first call for a request: checks what needs no body. MHD_YES with *done false to go on. */
static enum MHD_Result first_call(struct MHD_Connection *conn, const char *url, const char *method,
				  struct request **out, bool *done)
{
	const char *md = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Metadata");
	bool imds = strcmp(url, IMDS_PATH) == 0 || strcmp(url, IMDS_PATH "/") == 0;
	bool shell = strcmp(url, CLOUD_SHELL_PATH) == 0 || strcmp(url, CLOUD_SHELL_PATH "/") == 0;
	struct request *r;

	*done = true;
	if (!imds && !shell)
		return refuse(conn, url, 404, "not_found", "This agent serves "
			      IMDS_PATH " (GET) and " CLOUD_SHELL_PATH " (POST) only");
	if ((imds && strcmp(method, "GET") != 0) || (shell && strcmp(method, "POST") != 0))
		return refuse(conn, url, 405, "invalid_request", imds ? "Use GET" : "Use POST");
	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For") != NULL)
		return refuse(conn, url, 400, "invalid_request",
			      "Request contains X-Forwarded-For: the agent answers local callers "
			      "only, never through a proxy");
	if (md == NULL || strcasecmp(md, "true") != 0)
		return refuse(conn, url, 400, "invalid_request",
			      "Required metadata header not specified");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return MHD_NO;
	r->is_post = shell;
	if (shell && (r->pp = MHD_create_post_processor(conn, 1024, on_form_field, r)) == NULL) {
		free(r);
		return refuse(conn, url, 400, "invalid_request",
			      "The body must be a form (application/x-www-form-urlencoded)");
	}
	*out = r;
	*done = false;
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct agent_server *s = cls;
	struct request *r = *req_cls;
	const char *p[P_N];
	size_t i;
	bool done;
	enum MHD_Result rc;

	(void)version;
	if (r == NULL) {
		rc = first_call(conn, url, method, &r, &done);
		*req_cls = r;
		return rc;
	}
	if (r->is_post && *upload_size > 0) {
		r->form_bytes += *upload_size;
		if (r->form_bytes > FORM_MAX)
			r->form_bad = true;
		else if (!r->form_bad)
			MHD_post_process(r->pp, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->is_post && r->form_bad)
		return refuse(conn, url, 400, "invalid_request", "The form is longer than 8192 "
			      "bytes or gives a parameter twice");
	for (i = 0; i < P_N; i++)
		p[i] = r->is_post ? r->form[i]
				  : MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
								param_names[i]);
	return answer_token(s, conn, url, p, !r->is_post);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	request_free(*req_cls);
	*req_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
							      va_list ap)
{
	char line[256];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	LOG_WARN(NULL, "libmicrohttpd: %s", line);
}

struct agent_server *agent_server_start(struct agent *a, const struct sockaddr *addr,
					socklen_t addr_len)
{
	struct agent_server *s = calloc(1, sizeof(*s));
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_ERROR_LOG;

	(void)addr_len;
	if (s == NULL) {
		fprintf(stderr, "kluis: out of memory\n");
		return NULL;
	}
	s->agent = a;
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(flags, 0, on_accept, s, on_request, s,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				     MHD_OPTION_SOCK_ADDR, addr,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_END);
	if (s->daemon == NULL) {
		fprintf(stderr, "kluis: cannot listen (address in use, or not a local address?)\n");
		free(s);
		return NULL;
	}
	return s;
}

unsigned agent_server_port(const struct agent_server *s)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon,
								MHD_DAEMON_INFO_BIND_PORT);

	return info != NULL ? info->port : 0;
}

void agent_server_stop(struct agent_server *s)
{
	if (s != NULL) {
		MHD_stop_daemon(s->daemon);
		free(s);
	}
}
