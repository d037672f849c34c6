/* diag.c -- the diagnostics list: errors and warnings with file:line:column.
 *
 * Every problem the module finds becomes one pipeline_diag the caller owns.
 * Messages never carry the position prefix (so a JSON client gets clean
 * fields); pipeline_diags_format adds it in the compiler style that editors
 * and CI annotators understand ("file:line:col: error: ..."). User text is
 * quoted through pl_quote, which bounds its length and escapes control
 * bytes (C0 and DEL as \xXX, the C1 range U+0080..U+009F as \u00XX), so a
 * hostile pipeline cannot forge extra output lines or terminal escapes in
 * an operator's terminal or log.
 *
 * Allocation failure while recording a diagnostic degrades to a fixed
 * message in a preallocated slot when possible; it never aborts.
 */
#include "pipeline/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int diag_push(pipeline_diags *d, pipeline_diag item)
{
    /* capacity is implicit: 8, then doubled whenever count reaches a power of two */
    if (d->count == 0 || (d->count >= 8 && (d->count & (d->count - 1)) == 0)) {
        size_t cap = d->count ? d->count * 2 : 8;
        pipeline_diag *n = realloc(d->items, cap * sizeof *n);
        if (n == NULL) return -1;
        d->items = n;
    }
    d->items[d->count++] = item;
    if (item.severity == PIPELINE_ERROR) d->errors++;
    return 0;
}

/* Bytes in the UTF-8 sequence led by c (1 for ASCII and for stray bytes). */
static size_t utf8_len(unsigned char c)
{
    return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

/* Cuts an incomplete UTF-8 sequence off the end of s (left by a truncating
 * snprintf), so messages stay valid UTF-8 for JSON clients. */
static void utf8_trim_tail(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
        i--;
    if (i > 0 && (unsigned char)s[i - 1] >= 0xc0 && i - 1 + utf8_len((unsigned char)s[i - 1]) > n)
        s[i - 1] = '\0';
}

void pl_diag(pipeline_diags *d, const char *file, pipeline_severity sev, int line, int col,
             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pl_vdiag(d, file, sev, line, col, fmt, ap);
    va_end(ap);
}

void pl_vdiag(pipeline_diags *d, const char *file, pipeline_severity sev, int line, int col,
              const char *fmt, va_list ap)
{
    if (d == NULL) return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    utf8_trim_tail(msg);
    pipeline_diag item = {.severity = sev,
                          .file = strdup(file ? file : "<buffer>"),
                          .line = line,
                          .column = col,
                          .message = strdup(msg)};
    if (item.file == NULL || item.message == NULL || diag_push(d, item) != 0) {
        free(item.file);
        free(item.message);
        /* Still count the error so callers never mistake a failed run for success. */
        if (sev == PIPELINE_ERROR) d->errors++;
    }
}

void pl_diag_oom(pipeline_diags *d, const char *file)
{
    pl_diag(d, file, PIPELINE_ERROR, 0, 0, "out of memory");
}

const char *pl_quote(const char *s, size_t len, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    while (i < len && i < PL_QUOTE_MAX) {
        unsigned char c = (unsigned char)s[i];
        size_t step = utf8_len(c);
        if (i + step > len) step = 1;
        if (o + step + 5 > cap) break; /* room for the sequence, "..." and NUL */
        if (c == '\'' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == 0xc2 && step == 2 && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            /* a C1 control (U+0080..U+009F): terminals act on these too */
            if (o + 10 > cap) break;
            unsigned char c1 = (unsigned char)s[i + 1];
            memcpy(buf + o, "\\u00", 4);
            o += 4;
            buf[o++] = hex[c1 >> 4];
            buf[o++] = hex[c1 & 15];
            i += 2;
            continue;
        } else if (c < 0x20 || c == 0x7f) {
            if (o + 9 > cap) break;
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            /* a whole UTF-8 sequence or nothing: never cut a character in two */
            memcpy(buf + o, s + i, step);
            o += step;
            i += step;
            continue;
        }
        i++;
    }
    if (i < len && o + 4 <= cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

void pipeline_diags_free(pipeline_diags *d)
{
    if (d == NULL) return;
    for (size_t i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    d->items = NULL;
    d->count = d->errors = 0;
}

int pipeline_diags_format(const pipeline_diags *d, char *buf, size_t cap)
{
    size_t need = 0;
    if (cap > 0) buf[0] = '\0';
    for (size_t i = 0; d != NULL && i < d->count; i++) {
        const pipeline_diag *it = &d->items[i];
        const char *sev = it->severity == PIPELINE_ERROR ? "error" : "warning";
        int n;
        char *dst = need < cap ? buf + need : NULL;
        size_t room = need < cap ? cap - need : 0;
        if (it->line > 0)
            n = snprintf(dst, room, "%s:%d:%d: %s: %s\n", it->file, it->line, it->column, sev,
                         it->message);
        else
            n = snprintf(dst, room, "%s: %s: %s\n", it->file, sev, it->message);
        if (n < 0) return -1;
        need += (size_t)n;
    }
    return need > (size_t)2147483647 ? -1 : (int)need;
}
