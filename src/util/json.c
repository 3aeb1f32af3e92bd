/* json.c owns kluis's use of jansson: the wiping allocators, strict parsing and compact output.
 * Parsed bodies and serialised responses may hold secrets: jansson's memory is wiped before it
 * is freed, output goes straight into the caller's buf with no temporary copy, and error
 * messages never quote the input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/json.h"
#include "util/secbuf.h"

/* Every block jansson gets is prefixed with its size, so the free can wipe all of it, and with
 * where it came from: inside a request (util/arena.h's current arena) jansson's memory is taken
 * from the request's arena, wiped on free and released with the arena; outside one, malloc. */
union json_alloc_head {
	struct {
		size_t size;
		size_t in_arena;
	} h;
	max_align_t align;
};

static void *json_alloc(size_t n)
{
	union json_alloc_head *h = NULL;
	struct arena *a = arena_current();

	if (n > SIZE_MAX - sizeof(*h))
		return NULL;
	if (a != NULL)
		h = arena_alloc(a, sizeof(*h) + n);
	else
		h = malloc(sizeof(*h) + n);
	if (h != NULL) {
		h->h.size = n;
		h->h.in_arena = a != NULL;
	}
	return h != NULL ? h + 1 : NULL;
}

static void json_free(void *p)
{
	union json_alloc_head *h;
	bool in_arena;

	if (p != NULL) {
		h = (union json_alloc_head *)p - 1;
		in_arena = h->h.in_arena != 0;
		secure_wipe(h, sizeof(*h) + h->h.size);
		if (!in_arena)	/* an arena's blocks go with the arena */
			free(h);
	}
}

void json_util_init(void)
{
	json_set_alloc_funcs(json_alloc, json_free);
}

json_t *json_util_parse(const void *p, size_t n, struct kl_err *err)
{
	json_error_t jerr;
	json_t *v = NULL;
	char *near;

	/* No JSON_DISABLE_EOF_CHECK: trailing garbage is an error. No JSON_ALLOW_NUL: "\u0000" in a
	 * string and raw NUL bytes are errors. Any top-level value: callers check the type. */
	v = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		/* jansson appends " near '<input>'", which may quote a secret: cut it off. */
		if ((near = strstr(jerr.text, " near '")) != NULL)
			*near = '\0';
		if (json_error_code(&jerr) == json_error_out_of_memory)
			kl_fail(err, KL_ENOMEM, "out of memory");
		else
			kl_fail(err, KL_EINVAL,
				"The request body is not valid JSON: %.100s at line %d column %d",
				jerr.text, jerr.line, jerr.column);
	}
	secure_wipe(&jerr, sizeof(jerr));
	return v;
}

struct json_dump_ctx {
	struct buf *out;
	struct kl_err *err;
};

static int json_dump_append(const char *p, size_t n, void *data)
{
	struct json_dump_ctx *c = data;

	return buf_append(c->out, p, n, c->err) == 0 ? 0 : -1;
}

int json_util_dump(const json_t *v, struct buf *out, struct kl_err *err)
{
	struct kl_err derr = { 0 };
	struct json_dump_ctx c = { out, &derr };
	size_t start = out->len;
	int rc = -1;

	if (json_dump_callback(v, json_dump_append, &c, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
		buf_truncate(out, start);
		/* The buf's own failure (ETOOBIG or ENOMEM), or jansson's: its dump allocates (the
		 * set of containers it is inside, against cycles), and the values kluis builds
		 * hold no cycle, no invalid string and no non-finite number, so that is memory. */
		if (derr.code != KL_OK)
			kl_fail(err, derr.code, "%s", derr.msg);
		else
			kl_fail(err, KL_ENOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	return rc;
}
