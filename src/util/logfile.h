/* An append-only file of lines, such as the audit log: each line goes out in one write(2) on an
 * O_APPEND descriptor, so lines written by several threads never interleave, and the file can be
 * reopened under the same path after an outside tool has renamed it (log rotation).
 *
 * Thread safety: logfile_write may be called from any number of threads at once, and concurrently
 * with one logfile_reopen (main's SIGHUP handling): the reopen swaps the file under the same
 * descriptor number (dup3), so a writer never sees a closed or reused descriptor. logfile_open
 * and logfile_free run before and after all other calls. */
#ifndef KLUIS_UTIL_LOGFILE_H
#define KLUIS_UTIL_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct logfile;

/* Opens path for appending (created 0600 when missing), or stderr when path is "-" (never
 * reopened, never closed). NULL with err filled: KL_EINVAL when the file cannot be opened (the
 * message says why), KL_ENOMEM. path is copied. */
struct logfile *logfile_open(const char *path, struct kl_err *err);
/* Closes the file (not stderr). NULL is a no-op. */
void logfile_free(struct logfile *f);

/* Opens the path anew and makes it the file written from now on; the previous file is closed.
 * On failure the previous file stays in use and err says why. A no-op for stderr. */
int logfile_reopen(struct logfile *f, struct kl_err *err);

/* Writes line (len bytes, ending with '\n') with a single write(2). Never blocks on a lock, never
 * retries a partial write (that would let another thread's line in between): a failed or short
 * write is counted, warned about once (then again after the next success), and -1 returned. */
int logfile_write(struct logfile *f, const char *line, size_t len);

/* Lines written, and writes that failed, since logfile_open. */
void logfile_stats(const struct logfile *f, uint64_t *lines, uint64_t *failures);

/* The path given to logfile_open. */
const char *logfile_path(const struct logfile *f);

#endif
