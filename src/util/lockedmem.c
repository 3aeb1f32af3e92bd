/* lockedmem.c owns the pages of long-lived secrets. It must never return memory without trying to
 * lock it and keep it out of core dumps, never fail because locking failed (a key in swap is
 * better than a vault that will not start; the warning says how to fix it), and never unmap a
 * page without wiping it first. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/lockedmem.h"
#include "util/log.h"
#include "util/secbuf.h"

static size_t lockedmem_span(size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t p = page > 0 ? (size_t)page : 4096;

	return (n + p - 1) / p * p;
}

void *lockedmem_alloc(size_t n, bool *is_locked, struct kl_err *err)
{
	size_t span;
	void *p;

	if (is_locked != NULL)
		*is_locked = false;
	if (n == 0 || n > 1024 * 1024) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	span = lockedmem_span(n);
	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		kl_fail(err, KL_ENOMEM, "out of memory");
		return NULL;
	}
	/* Best effort, each: older kernels lack MADV_WIPEONFORK; kluisd never forks anyway. */
	if (madvise(p, span, MADV_DONTDUMP) != 0)
		LOG_WARN(NULL, "cannot keep a key's memory out of core dumps: %s", strerror(errno));
#ifdef MADV_WIPEONFORK
	(void)madvise(p, span, MADV_WIPEONFORK);
#endif
	if (mlock(p, span) != 0)
		LOG_WARN(NULL, "cannot lock a key's memory in RAM (%s): it may be written to swap. "
			 "Raise the locked-memory limit (ulimit -l, systemd LimitMEMLOCK=) by a few "
			 "pages, or run without swap", strerror(errno));
	else if (is_locked != NULL)
		*is_locked = true;
	return p;	/* anonymous pages are zeroed */
}

void lockedmem_free(void *p, size_t n)
{
	size_t span;

	if (p == NULL)
		return;
	span = lockedmem_span(n);
	secure_wipe(p, span);
	(void)munlock(p, span);	/* fails harmlessly when it was never locked */
	(void)munmap(p, span);
}
