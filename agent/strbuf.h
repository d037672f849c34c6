/*
 * strbuf.h (internal to agent/): a growable byte buffer for building
 * exposition text, JSON lines and datagrams without fixed-size truncation.
 * An allocation failure is sticky (`failed`): callers check once at the end
 * instead of after every append.
 */
#ifndef METERD_AGENT_STRBUF_H
#define METERD_AGENT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *buf; /* always NUL-terminated when len > 0 or after strbuf_init */
    size_t len, cap;
    bool failed;
} strbuf;

void strbuf_init(strbuf *s);
void strbuf_free(strbuf *s);
void strbuf_reset(strbuf *s); /* len = 0, keeps the allocation */
void strbuf_append(strbuf *s, const char *data, size_t len);
void strbuf_puts(strbuf *s, const char *str);
void strbuf_putc(strbuf *s, char c);
__attribute__((format(printf, 2, 3))) void strbuf_printf(strbuf *s, const char *fmt, ...);
/* Shortest text that reads back to the same double ("%.17g" trimmed), no locale. */
void strbuf_put_double(strbuf *s, double v);
/* JSON string literal with quotes and escapes. */
void strbuf_put_json_string(strbuf *s, const char *str);
/* A Prometheus text-format label value with its quotes: \ " and newline
 * escaped. Every label value on /metrics goes through this one function. */
void strbuf_put_prom_label(strbuf *s, const char *value);

#endif
