/* Error kinds to HTTP statuses and Azure error bodies: the only place that picks a status for a
 * failure. The message comes from the core and never holds secrets. */
#include <stdio.h>
#include <string.h>

#include "api/internal.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"

struct errc_map {
	int status;
	const char *code;
};

static const struct errc_map map[] = {
	[KL_OK] = { 500, "InternalError" },
	[KL_EINVAL] = { 400, "BadParameter" },
	[KL_EUNAUTH] = { 401, "Unauthorized" },
	[KL_EFORBIDDEN] = { 403, "Forbidden" },
	[KL_ENOTFOUND] = { 404, "NotFound" },
	[KL_ECONFLICT] = { 409, "Conflict" },
	[KL_ETOOBIG] = { 413, "RequestTooLarge" },
	[KL_ETHROTTLED] = { 429, "Throttled" },
	[KL_EREADONLY] = { 503, "VaultIsReadOnly" },
	[KL_EUNAVAIL] = { 503, "ServiceUnavailable" },
	[KL_ECORRUPT] = { 500, "InternalError" },
	[KL_ENOMEM] = { 503, "ServiceUnavailable" },
	[KL_EINTERNAL] = { 500, "InternalError" },
	[KL_EMETHOD] = { 405, "MethodNotAllowed" },
	[KL_EOUTCOME] = { 503, "ServiceUnavailable" },
};

/* msg with every byte that is not part of well-formed UTF-8 replaced by '?'. Messages quote
 * client text (a name, a path), which may be any bytes, or be cut by the message's size in the
 * middle of a character; jansson refuses a string that is not UTF-8, and the error body with it. */
static void utf8_clean(const char *msg, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t len = strnlen(msg, size - 1), i = 0, n;

	while (i < len) {
		if ((n = utf8_seq_len(s + i, len - i)) == 0) {
			out[i++] = '?';
			continue;
		}
		memcpy(out + i, s + i, n);
		i += n;
	}
	out[len] = '\0';
}

int errors_status(enum kl_errc code)
{
	if ((size_t)code >= sizeof(map) / sizeof(map[0]))
		return 500;
	return map[code].status;
}

void api_resp_error(struct api_resp *resp, const struct kl_err *err)
{
	enum kl_errc kind = (size_t)err->code < sizeof(map) / sizeof(map[0]) ? err->code : KL_EINTERNAL;
	const char *code = err->azure_code ? err->azure_code : map[kind].code;
	const char *inner = err->inner_code;
	struct kl_err derr;
	char msg[sizeof(err->msg)];
	json_t *body, *e;

	if (kind == KL_EREADONLY && inner == NULL)
		inner = "RegionalFailover";
	resp->status = map[kind].status;
	buf_reset(&resp->body);
	utf8_clean(err->msg, msg, sizeof(msg));
	e = json_pack("{s:s, s:s}", "code", code, "message", msg[0] ? msg : "The request failed.");
	if (e != NULL && inner != NULL)
		json_object_set_new(e, "innererror", json_pack("{s:s}", "code", inner));
	body = e ? json_pack("{s:o}", "error", e) : NULL;
	if (body == NULL || json_util_dump(body, &resp->body, &derr) != 0) {
		buf_reset(&resp->body);
		LOG_ERROR(NULL, "cannot render an error body (status %d)", resp->status);
	}
	json_decref(body);
	api_resp_header(resp, "x-ms-error-code", code);
	if (resp->status == 429 || resp->status == 503)
		api_resp_header(resp, "Retry-After", "1");
	/* The storage is unreachable from this node, or this node's region does not take writes
	 * (a secondary region, or one another region took over from): the client's retry should
	 * be free to land on another node or region (a load balancer in TCP mode keeps a
	 * connection where it is, and may send a new one where writes go now). */
	if (kind == KL_EUNAVAIL || kind == KL_EOUTCOME || kind == KL_EREADONLY)
		api_resp_header(resp, "Connection", "close");
}
