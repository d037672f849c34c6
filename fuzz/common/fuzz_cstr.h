/*
 * fuzz_cstr.h: the parsers of URLs and configuration take C strings, and
 * libFuzzer's data is not terminated; a malloc'd copy of exactly size + 1
 * bytes lets ASan catch any read past the terminator.
 */
#ifndef METERD_FUZZ_CSTR_H
#define METERD_FUZZ_CSTR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* data[0..size) followed by a NUL, or NULL when out of memory. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = 0;
    }
    return s;
}

/* The bytes of p[0..left) up to the first '\n' as a C string (NULL when out
 * of memory); *after: what follows the '\n' (or the end). */
static inline char *fuzz_line(const uint8_t *p, size_t left, const uint8_t **after)
{
    const uint8_t *nl = memchr(p, '\n', left);
    size_t len = nl ? (size_t)(nl - p) : left;
    *after = nl ? nl + 1 : p + left;
    return fuzz_cstr(p, len);
}

#endif
