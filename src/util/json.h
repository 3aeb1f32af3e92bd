/* jansson setup and small typed helpers. Every body kluis parses may hold secrets, so jansson's
 * memory is wiped before it is freed (json_util_init installs wiping allocators). */
#ifndef KLUIS_UTIL_JSON_H
#define KLUIS_UTIL_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "util/buf.h"

/* Installs the wiping allocators; called once before any thread starts. */
void json_util_init(void);

/* Parses exactly one JSON value from p[0..n) (no trailing garbage, no NUL bytes, depth-limited by
 * jansson). NULL with KL_EINVAL and a message naming line and column. */
json_t *json_util_parse(const void *p, size_t n, struct kl_err *err);

/* Appends the compact serialisation of v to out. */
int json_util_dump(const json_t *v, struct buf *out, struct kl_err *err);

#endif
