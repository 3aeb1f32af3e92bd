/* The audit log's line: one JSON object per request (docs/observability.md lists the fields).
 * The event holds only what may be written: there is no field for a header, a token, a query or a
 * body, so none can reach the log. Every string is escaped as JSON, invalid UTF-8 becomes U+FFFD,
 * and each is capped (AUDIT_*_MAX input bytes), so a line never exceeds AUDIT_LINE_MAX.
 * Thread safety: pure functions of their arguments. */
#ifndef KLUIS_API_AUDIT_H
#define KLUIS_API_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One write of a line this long is still atomic on a pipe (stderr): PIPE_BUF is 4096. */
#define AUDIT_LINE_MAX 4096
#define AUDIT_NAME_MAX 256	/* object names: 127 when valid; longer ones are cut */
#define AUDIT_SHORT_MAX 64	/* every other string field */

struct audit_event {
	int64_t time_ms;		/* Unix milliseconds */
	const char *request_id;		/* ours (x-ms-request-id) */
	const char *client_request_id;	/* x-ms-client-request-id as sent, or NULL */
	const char *client_addr;	/* "ip:port" */
	const char *method;
	const char *operation;		/* the route's, or "unknown" */
	bool is_authenticated;		/* false: no principal fields */
	bool is_admin;
	const char *principal_id;	/* "" for the bootstrap administrator */
	const char *principal_name;
	const char *vault;		/* NULL when the operation has none */
	const char *object;		/* object name, NULL when none */
	const char *version;		/* object version, NULL or "" when none */
	int status;			/* HTTP status sent; 0: none (the connection ended first) */
	const char *result;		/* "OK" or the Azure error code */
	uint64_t duration_us;
	const char *region;
	bool is_read_only;		/* the node's mode when it answered */
	/* A token request (NULL grant: none): how the client authenticated, the resource it asked
	 * for, whether a token was issued. Never the secret, the assertion or the token. */
	const char *grant;
	const char *resource;
	bool is_token_issued;
};

/* Writes ev as one line (JSON object and '\n') into out, which has room for AUDIT_LINE_MAX
 * bytes; returns the line's length. Never fails. */
size_t audit_format(const struct audit_event *ev, char out[AUDIT_LINE_MAX]);

/* RFC 3339 UTC with milliseconds ("2024-05-06T07:08:09.123Z", 24 bytes and a NUL) of Unix
 * milliseconds ms, without the C library's time zone machinery. */
void audit_format_time(int64_t ms, char out[25]);

#endif
