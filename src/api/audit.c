/* audit.c owns the audit line's format (audit.h): field order, JSON escaping, caps, the time
 * stamp. It runs once per request, so it formats by hand into a fixed buffer: no allocation, no
 * printf, no locale. It must never be handed, and so never write, a header value, a token, a query
 * parameter or a request or response body; what a request contributes is chosen in observe.c. */
#include <stdbool.h>
#include <string.h>

#include "api/audit.h"
#include "util/utf8.h"

/* Escaped output budgets (quotes included) of the string fields: with the keys and numbers they
 * keep a line under AUDIT_LINE_MAX whatever the input, even all of it needing \u escapes. */
#define SHORT_OUT_MAX 200
#define NAME_OUT_MAX 800
#define N_SHORT_FIELDS 14	/* every string field but the object name */
#define FIXED_OUT_MAX 440	/* keys, punctuation, numbers, booleans, the newline */
_Static_assert(N_SHORT_FIELDS * SHORT_OUT_MAX + NAME_OUT_MAX + FIXED_OUT_MAX < AUDIT_LINE_MAX,
	       "an audit line can outgrow its buffer");

struct line {
	char *p;
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	memcpy(l->p + l->len, s, n);
	l->len += n;
}

#define PUT_LIT(l, s) put((l), (s), sizeof(s) - 1)

static void put_uint(struct line *l, uint64_t v, int min_digits)
{
	char d[20];
	int n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 || n < min_digits);
	while (n > 0)
		l->p[l->len++] = d[--n];
}

/* Plain printable ASCII, copied as it is. */
static bool is_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* s as a JSON string: at most max_in bytes of it, and at most max_out bytes written (quotes
 * included); a cut falls between characters. Control characters and DEL are escaped, invalid
 * UTF-8 becomes U+FFFD, so no byte of s can end the line or the string early. */
static void put_str(struct line *l, const char *str, size_t max_in, size_t max_out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t in_len = strnlen(str, max_in), i = 0, end = l->len + max_out - 1, n, run;
	char esc[6];
	size_t esc_len;
	unsigned char c;

	l->p[l->len++] = '"';
	while (i < in_len) {
		/* The common case first: a run of plain characters in one copy. */
		for (run = i; run < in_len && is_plain(s[run]); run++)
			;
		if (run > i) {
			n = run - i;
			if (n > end - l->len)
				n = end - l->len;
			put(l, str + i, n);
			i += n;
			if (i < run)
				break;	/* out of room */
			continue;
		}
		c = s[i];
		n = 1;
		esc_len = 0;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			esc_len = 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			esc_len = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc_len = 6;
		} else if ((n = utf8_seq_len(s + i, in_len - i)) == 0) {
			memcpy(esc, "\\ufffd", 6);
			esc_len = 6;
			n = 1;
		}
		if (l->len + (esc_len ? esc_len : n) > end)
			break;
		if (esc_len)
			put(l, esc, esc_len);
		else
			put(l, str + i, n);
		i += n;
	}
	l->p[l->len++] = '"';
}

/* A short string field, or null. */
static void put_opt(struct line *l, const char *s)
{
	if (s == NULL)
		PUT_LIT(l, "null");
	else
		put_str(l, s, AUDIT_SHORT_MAX, SHORT_OUT_MAX);
}

void audit_format_time(int64_t ms, char out[25])
{
	struct line l = { out, 0 };
	int64_t days, secs, z, era, yoe, doy, mp, y;
	unsigned doe, d, m;

	if (ms < 0)
		ms = 0;
	days = ms / 86400000;
	secs = (ms / 1000) % 86400;
	/* Days to a date in the proleptic Gregorian calendar (H. Hinnant's civil_from_days). */
	z = days + 719468;
	era = z / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	y += m <= 2;
	put_uint(&l, (uint64_t)(y > 9999 ? 9999 : y), 4);
	out[l.len++] = '-';
	put_uint(&l, m, 2);
	out[l.len++] = '-';
	put_uint(&l, d, 2);
	out[l.len++] = 'T';
	put_uint(&l, (uint64_t)(secs / 3600), 2);
	out[l.len++] = ':';
	put_uint(&l, (uint64_t)(secs / 60 % 60), 2);
	out[l.len++] = ':';
	put_uint(&l, (uint64_t)(secs % 60), 2);
	out[l.len++] = '.';
	put_uint(&l, (uint64_t)(ms % 1000), 3);
	out[l.len++] = 'Z';
	out[l.len] = '\0';
}

size_t audit_format(const struct audit_event *ev, char out[AUDIT_LINE_MAX])
{
	struct line l = { out, 0 };
	char when[25];
	int status = ev->status < 0 || ev->status > 999 ? 0 : ev->status;

	audit_format_time(ev->time_ms, when);
	PUT_LIT(&l, "{\"time\":\"");
	put(&l, when, 24);
	PUT_LIT(&l, "\",\"requestId\":");
	put_opt(&l, ev->request_id);
	PUT_LIT(&l, ",\"clientRequestId\":");
	put_opt(&l, ev->client_request_id);
	PUT_LIT(&l, ",\"clientAddress\":");
	put_opt(&l, ev->client_addr);
	PUT_LIT(&l, ",\"method\":");
	put_opt(&l, ev->method);
	PUT_LIT(&l, ",\"operation\":");
	put_opt(&l, ev->operation ? ev->operation : "unknown");
	PUT_LIT(&l, ",\"principal\":");
	if (ev->is_authenticated) {
		PUT_LIT(&l, "{\"id\":");
		put_opt(&l, ev->principal_id ? ev->principal_id : "");
		PUT_LIT(&l, ",\"name\":");
		put_opt(&l, ev->principal_name ? ev->principal_name : "");
		if (ev->is_admin)
			PUT_LIT(&l, ",\"isAdmin\":true}");
		else
			PUT_LIT(&l, ",\"isAdmin\":false}");
	} else {
		PUT_LIT(&l, "null");
	}
	PUT_LIT(&l, ",\"vault\":");
	put_opt(&l, ev->vault);
	PUT_LIT(&l, ",\"object\":");
	if (ev->object == NULL)
		PUT_LIT(&l, "null");
	else
		put_str(&l, ev->object, AUDIT_NAME_MAX, NAME_OUT_MAX);
	PUT_LIT(&l, ",\"version\":");
	put_opt(&l, ev->version != NULL && *ev->version != '\0' ? ev->version : NULL);
	PUT_LIT(&l, ",\"status\":");
	put_uint(&l, (uint64_t)status, 1);
	PUT_LIT(&l, ",\"result\":");
	put_opt(&l, ev->result ? ev->result : "OK");
	PUT_LIT(&l, ",\"durationMs\":");
	put_uint(&l, ev->duration_us / 1000, 1);
	out[l.len++] = '.';
	put_uint(&l, ev->duration_us % 1000, 3);
	if (ev->grant != NULL) {
		PUT_LIT(&l, ",\"token\":{\"grant\":");
		put_opt(&l, ev->grant);
		PUT_LIT(&l, ",\"resource\":");
		put_opt(&l, ev->resource != NULL && *ev->resource != '\0' ? ev->resource : NULL);
		if (ev->is_token_issued)
			PUT_LIT(&l, ",\"outcome\":\"issued\"}");
		else
			PUT_LIT(&l, ",\"outcome\":\"refused\"}");
	}
	PUT_LIT(&l, ",\"region\":");
	put_opt(&l, ev->region);
	if (ev->is_read_only)
		PUT_LIT(&l, ",\"mode\":\"read-only\"}\n");
	else
		PUT_LIT(&l, ",\"mode\":\"read-write\"}\n");
	return l.len;
}
