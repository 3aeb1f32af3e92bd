/* log.c owns the server log on stderr: one line per event, written with a single write(2) so
 * lines from different threads never interleave. It must never allocate (it runs on failure
 * paths, including out of memory) and never let a control character from the message or the
 * request id start a forged line: those are escaped. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

/* Under PIPE_BUF, so one write to a pipe is atomic too. */
#define LOG_LINE_MAX 2048
#define LOG_REQID_MAX 64

/* Set once from main before threads start, read-only after. */
static enum log_level log_min_level = LOG_LV_INFO;

void log_set_min_level(enum log_level min)
{
	log_min_level = min;
}

static const char *log_level_name(enum log_level lv)
{
	const char *name = "?";

	switch (lv) {
	case LOG_LV_DEBUG: name = "DEBUG"; break;
	case LOG_LV_INFO: name = "INFO"; break;
	case LOG_LV_WARN: name = "WARN"; break;
	case LOG_LV_ERROR: name = "ERROR"; break;
	}
	return name;
}

/* Copies s to out[*pos..cap), at most max input bytes, escaping control bytes as \xNN. */
static void log_put_escaped(char *out, size_t cap, size_t *pos, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; s[i] != '\0' && i < max && *pos < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != 0x7f) {
			out[(*pos)++] = (char)c;
		} else if (*pos + 4 <= cap) {
			out[(*pos)++] = '\\';
			out[(*pos)++] = 'x';
			out[(*pos)++] = hex[c >> 4];
			out[(*pos)++] = hex[c & 15];
		} else {
			break;
		}
	}
}

static void log_write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;	/* nowhere left to report it */
		p += w;
		n -= (size_t)w;
	}
}

/* Formats and writes one line; ap holds fmt's arguments. */
static void log_vemit(enum log_level lv, const char *reqid, const char *func, const char *fmt,
		      va_list ap) __attribute__((format(printf, 4, 0)));

static void log_vemit(enum log_level lv, const char *reqid, const char *func, const char *fmt,
		      va_list ap)
{
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX];
	struct timespec ts = { 0 };
	struct tm tm;
	size_t pos = 0;
	int n;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		snprintf(msg, sizeof(msg), "(unformattable message)");
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     (int)(ts.tv_nsec / 1000000), log_level_name(lv));
	pos = n > 0 ? (size_t)n : 0;
	/* Everything below keeps one byte free for the newline. */
	log_put_escaped(line, sizeof(line) - 1, &pos, reqid != NULL ? reqid : "-", LOG_REQID_MAX);
	if (pos < sizeof(line) - 1)
		line[pos++] = ' ';
	log_put_escaped(line, sizeof(line) - 1, &pos, func != NULL ? func : "-", 128);
	if (pos + 2 < sizeof(line) - 1) {
		line[pos++] = ':';
		line[pos++] = ' ';
	}
	log_put_escaped(line, sizeof(line) - 1, &pos, msg, sizeof(msg));
	line[pos++] = '\n';
	log_write_all(line, pos);
}

void log_msg(enum log_level lv, const char *reqid, const char *func, const char *fmt, ...)
{
	va_list ap;

	if (lv >= log_min_level) {
		va_start(ap, fmt);
		log_vemit(lv, reqid, func, fmt, ap);
		va_end(ap);
	}
}
