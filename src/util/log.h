/* Server log to stderr: one line per event with time, level, request id, function, message.
 * Callers cap client-supplied text (%.64s) and never pass secrets. Thread-safe. */
#ifndef KLUIS_UTIL_LOG_H
#define KLUIS_UTIL_LOG_H

enum log_level { LOG_LV_DEBUG, LOG_LV_INFO, LOG_LV_WARN, LOG_LV_ERROR };

/* Lines below min are dropped; called once from main before threads start. */
void log_set_min_level(enum log_level min);

void log_msg(enum log_level lv, const char *reqid, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define LOG_DEBUG(reqid, ...) log_msg(LOG_LV_DEBUG, (reqid), __func__, __VA_ARGS__)
#define LOG_INFO(reqid, ...)  log_msg(LOG_LV_INFO, (reqid), __func__, __VA_ARGS__)
#define LOG_WARN(reqid, ...)  log_msg(LOG_LV_WARN, (reqid), __func__, __VA_ARGS__)
#define LOG_ERROR(reqid, ...) log_msg(LOG_LV_ERROR, (reqid), __func__, __VA_ARGS__)

#endif
