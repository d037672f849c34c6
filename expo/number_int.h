/* number_int.h: expo's number reader, shared by its files only. */
#ifndef METERD_EXPO_NUMBER_INT_H
#define METERD_EXPO_NUMBER_INT_H

#include <stdbool.h>
#include <stddef.h>

/* The n bytes at s (a NUL-terminated token, n < cap) as a double: false
 * unless strtod reads the whole token, and for an overflow (1e999), which
 * Go's ParseFloat refuses too. */
bool expo_number_parse(const char *s, size_t n, size_t cap, double *v);

#endif
