/* UTF-8 well-formedness, for text that came from a client and must go into JSON or a log. */
#ifndef KLUIS_UTIL_UTF8_H
#define KLUIS_UTIL_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (at most avail bytes, avail > 0), 0 when it is
 * not one: overlong forms, surrogates and code points past U+10FFFF are not. */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

#endif
