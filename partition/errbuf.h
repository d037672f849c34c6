/*
 * errbuf.h: private to partition/ (not part of the public API): formatting
 * an error into the caller's (err, errlen) buffer, which may be NULL.
 * static inline so each file keeps its own copy and nothing is exported.
 */
#ifndef METERD_PARTITION_ERRBUF_H
#define METERD_PARTITION_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#endif
