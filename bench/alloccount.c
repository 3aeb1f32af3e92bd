/* alloccount: the benchmark's allocation counter, an LD_PRELOAD shim for kluisd. It counts the
 * calls of malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc, pvalloc and
 * free of the process it is loaded into, in counters of a file (KLUIS_ALLOC_COUNTER names it,
 * mapped shared: the harness reads it with no help from kluisd, before and after a load of a
 * known number of requests). Owns that mapping only; the allocations themselves go to glibc's
 * allocator (__libc_malloc and friends), unchanged. Must never allocate, lock or log: it runs
 * inside malloc, before main and in every thread.
 *
 * Build: cc -O2 -shared -fPIC -o alloccount.so alloccount.c
 * The file holds ALLOC_NCOUNTERS little-endian uint64 counters in the order of enum counter. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

enum counter { C_MALLOC, C_CALLOC, C_REALLOC, C_MEMALIGN, C_FREE, ALLOC_NCOUNTERS };

/* glibc's own entry points: exported for exactly this use (malloc interposition). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

/* Until the constructor has mapped the file (and when it cannot), counts go here. */
static _Atomic uint64_t early[ALLOC_NCOUNTERS];
static _Atomic uint64_t *counters = early;

static inline void count(enum counter c)
{
	atomic_fetch_add_explicit(&counters[c], 1, memory_order_relaxed);
}

__attribute__((constructor)) static void alloccount_init(void)
{
	const char *path = getenv("KLUIS_ALLOC_COUNTER");
	size_t len = ALLOC_NCOUNTERS * sizeof(uint64_t);
	void *map;
	int fd, i;

	if (path == NULL || *path == '\0')
		return;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (ftruncate(fd, (off_t)len) != 0) {
		close(fd);
		return;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	/* What was counted before the mapping (the dynamic loader, other constructors) carries over. */
	for (i = 0; i < ALLOC_NCOUNTERS; i++)
		atomic_store(&((_Atomic uint64_t *)map)[i], atomic_load(&early[i]));
	counters = map;
}

void *malloc(size_t size)
{
	count(C_MALLOC);
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	count(C_CALLOC);
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	count(C_REALLOC);
	return __libc_realloc(p, size);
}

void free(void *p)
{
	if (p != NULL)
		count(C_FREE);
	__libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	count(C_MEMALIGN);
	p = __libc_memalign(align, size);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t size)
{
	count(C_MEMALIGN);
	return __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size)
{
	count(C_MEMALIGN);
	return __libc_memalign(align, size);
}

void *valloc(size_t size)
{
	count(C_MEMALIGN);
	return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	count(C_MEMALIGN);
	return __libc_memalign(page, (size + page - 1) & ~(page - 1));
}
