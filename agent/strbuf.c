/*
 * strbuf.c: growable buffer. Doubles its capacity; a failed allocation sets
 * `failed` and turns later appends into no-ops so callers check once.
 */
#include "agent/strbuf.h"

#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *s)
{
    s->buf = NULL;
    s->len = s->cap = 0;
    s->failed = false;
}

void strbuf_free(strbuf *s)
{
    free(s->buf);
    strbuf_init(s);
}

void strbuf_reset(strbuf *s)
{
    s->len = 0;
    if (s->buf) s->buf[0] = 0;
}

static bool reserve(strbuf *s, size_t extra)
{
    if (s->failed) return false;
    if (s->len + extra + 1 <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            s->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *nb = realloc(s->buf, cap);
    if (!nb) {
        s->failed = true;
        return false;
    }
    s->buf = nb;
    s->cap = cap;
    return true;
}

void strbuf_append(strbuf *s, const char *data, size_t len)
{
    if (!reserve(s, len)) return;
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = 0;
}

void strbuf_puts(strbuf *s, const char *str)
{
    strbuf_append(s, str, strlen(str));
}

void strbuf_putc(strbuf *s, char c)
{
    if (!s->failed && s->len + 2 <= s->cap) { /* the common case, without reserve's call */
        s->buf[s->len++] = c;
        s->buf[s->len] = 0;
        return;
    }
    strbuf_append(s, &c, 1);
}

void strbuf_printf(strbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        strbuf_append(s, small, (size_t)n);
        return;
    }
    if (!reserve(s, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

/* v as decimal digits; v >= 0. */
static void put_uint(strbuf *s, unsigned long long v)
{
    char tmp[24], *e = tmp + sizeof tmp, *d = e;
    do {
        *--d = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    strbuf_append(s, d, (size_t)(e - d));
}

static const double pow10_tab[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

/*
 * The fewest decimals k (1..14) with a == M / 10^k, M < 10^15 an integer;
 * 0 when there are none. Both M and 10^k are exact doubles and IEEE division
 * rounds correctly, so the text "M with k decimals" reads back to a; having
 * at most 15 significant digits, it is also what "%.15g" prints (a is within
 * half an ulp of it, far less than half a unit of the 15th digit).
 */
static int short_decimals(double a, unsigned long long *m)
{
    for (int k = 1; k < 15; k++) {
        double x = a * pow10_tab[k];
        if (x >= 1e15) return 0;
        unsigned long long c = (unsigned long long)(x + 0.5);
        if ((double)c / pow10_tab[k] == a) {
            *m = c;
            return k;
        }
    }
    return 0;
}

void strbuf_put_double(strbuf *s, double v)
{
    if (isnan(v)) {
        strbuf_puts(s, "NaN");
        return;
    }
    if (isinf(v)) {
        strbuf_puts(s, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    double a = fabs(v);
    if (v == (double)(long long)v && a < 1e15) {
        if (v < 0) strbuf_putc(s, '-');
        put_uint(s, (unsigned long long)a);
        return;
    }
    /* the common exporter values (1234.5, 0.25) without printf: the same
     * text as the %.15g below, where %g writes no exponent (1e-4 <= a) */
    unsigned long long m;
    int k = a >= 1e-4 ? short_decimals(a, &m) : 0;
    if (k) {
        char frac[16];
        unsigned long long f = m % (unsigned long long)pow10_tab[k];
        for (int i = k - 1; i >= 0; i--, f /= 10)
            frac[i] = (char)('0' + f % 10);
        if (v < 0) strbuf_putc(s, '-');
        put_uint(s, m / (unsigned long long)pow10_tab[k]);
        strbuf_putc(s, '.');
        strbuf_append(s, frac, (size_t)k);
        return;
    }
    /* shortest of %.15g/%.17g that reads back exactly */
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v) snprintf(tmp, sizeof tmp, "%.17g", v);
    strbuf_puts(s, tmp);
}

void strbuf_put_json_string(strbuf *s, const char *str)
{
    strbuf_putc(s, '"');
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        switch (*p) {
        case '"':
            strbuf_puts(s, "\\\"");
            break;
        case '\\':
            strbuf_puts(s, "\\\\");
            break;
        case '\n':
            strbuf_puts(s, "\\n");
            break;
        case '\r':
            strbuf_puts(s, "\\r");
            break;
        case '\t':
            strbuf_puts(s, "\\t");
            break;
        default:
            if (*p < 0x20)
                strbuf_printf(s, "\\u%04x", *p);
            else
                strbuf_putc(s, (char)*p);
        }
    }
    strbuf_putc(s, '"');
}

void strbuf_put_prom_label(strbuf *s, const char *value)
{
    strbuf_putc(s, '"');
    for (const char *v = value; *v;) {
        size_t plain = strcspn(v, "\\\"\n"); /* appended in one piece: most values have no escape */
        strbuf_append(s, v, plain);
        v += plain;
        if (*v == '\\')
            strbuf_puts(s, "\\\\");
        else if (*v == '"')
            strbuf_puts(s, "\\\"");
        else if (*v == '\n')
            strbuf_puts(s, "\\n");
        else
            break;
        v++;
    }
    strbuf_putc(s, '"');
}
