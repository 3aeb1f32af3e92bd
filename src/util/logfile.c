/* logfile.c owns one append-only line file (see logfile.h): its descriptor, its path and its
 * counters. It must never block a writer on a lock, never close a descriptor a writer may be
 * using (a reopen replaces the file behind the same number with dup3), and never look at what the
 * lines say. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "util/logfile.h"

#define LOGFILE_MODE 0600	/* audit lines name principals and objects: not for every user */

struct logfile {
	char *path;
	int fd;			/* constant from open to free: reopen swaps the file behind it */
	bool is_stderr;
	_Atomic uint64_t lines;
	_Atomic uint64_t failures;
	atomic_bool is_failing;	/* the last write failed: warn once per run of failures */
};

static int open_append(const char *path, int *out, struct kl_err *err)
{
	int fd;

	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, LOGFILE_MODE);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return kl_fail(err, KL_EINVAL, "cannot open %.128s for appending: %s", path,
			       strerror(errno));
	*out = fd;
	return 0;
}

struct logfile *logfile_open(const char *path, struct kl_err *err)
{
	struct logfile *f = calloc(1, sizeof(*f)), *ret = NULL;

	if (f == NULL || (f->path = strdup(path)) == NULL) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	f->fd = -1;
	if (strcmp(path, "-") == 0) {
		f->is_stderr = true;
		f->fd = STDERR_FILENO;
	} else if (open_append(path, &f->fd, err) != 0) {
		goto out;
	}
	ret = f;	/* the caller owns it now */
	f = NULL;
out:
	logfile_free(f);
	return ret;
}

void logfile_free(struct logfile *f)
{
	if (f == NULL)
		return;
	if (!f->is_stderr && f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f);
}

int logfile_reopen(struct logfile *f, struct kl_err *err)
{
	int fd = -1;

	if (f->is_stderr)
		return 0;
	if (open_append(f->path, &fd, err) != 0)
		return -1;
	/* Atomically: f->fd now names the new file; the old one is closed once no write(2) in
	 * another thread still uses it (the kernel holds it for them). */
	if (dup3(fd, f->fd, O_CLOEXEC) < 0) {
		kl_fail(err, KL_EINTERNAL, "cannot switch to the reopened %.128s: %s", f->path,
			strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int logfile_write(struct logfile *f, const char *line, size_t len)
{
	ssize_t n;
	int saved;

	do
		n = write(f->fd, line, len);
	while (n < 0 && errno == EINTR);	/* EINTR: nothing was written, retrying is safe */
	if (n >= 0 && (size_t)n == len) {
		atomic_fetch_add_explicit(&f->lines, 1, memory_order_relaxed);
		if (atomic_load_explicit(&f->is_failing, memory_order_relaxed) &&
		    atomic_exchange(&f->is_failing, false))
			LOG_INFO(NULL, "writing to %.128s works again", f->path);
		return 0;
	}
	saved = n < 0 ? errno : ENOSPC;	/* a short write: the device filled up */
	atomic_fetch_add_explicit(&f->failures, 1, memory_order_relaxed);
	if (!atomic_exchange(&f->is_failing, true))
		LOG_WARN(NULL, "cannot write to %.128s: %s (counting failed lines until it works)",
			 f->path, strerror(saved));
	return -1;
}

void logfile_stats(const struct logfile *f, uint64_t *lines, uint64_t *failures)
{
	*lines = atomic_load_explicit(&f->lines, memory_order_relaxed);
	*failures = atomic_load_explicit(&f->failures, memory_order_relaxed);
}

const char *logfile_path(const struct logfile *f)
{
	return f->path;
}
