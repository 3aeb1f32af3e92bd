/* Hexadecimal text: bytes to lowercase digits, one digit's value, and the shape of the ids kluis
 * makes (lowercase UUIDs). Pure functions; depend on nothing. */
#ifndef KLUIS_UTIL_HEX_H
#define KLUIS_UTIL_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* The n bytes at p as 2n lowercase digits and a NUL: out holds 2n + 1 bytes. */
void hex_encode(const void *p, size_t n, char *out);

/* The value of one hex digit (either case), or -1. */
int hex_value(char c);

/* 36 characters of lowercase hex digits and '-': an id as kluis writes them. */
bool hex_is_uuid(const char *s);

#endif
