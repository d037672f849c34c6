/*
 * parse.c: the exposition-format parser (text 0.0.4 and OpenMetrics 1.0).
 *
 * One pass over the buffer, line by line. A sample's name and its unescaped
 * labels are written into one scratch area sized by the line limit (an
 * unescaped line is never longer than the raw one, plus a NUL per string),
 * reset for each line; the callback copies what it keeps. The only growing
 * allocation is the set of 64-bit series hashes that catches duplicates
 * (doubling, so amortised O(1) per sample); a 64-bit collision between two
 * different series of one body is as likely as a cosmic ray and would only
 * refuse the body, never mix series.
 *
 * Strictness follows what a scraper must not accept silently rather than
 * every MUST of the specs: a body that ends mid-line (text) or without
 * `# EOF` (OpenMetrics) is truncated and refused; unknown escapes in label
 * values are kept literally, as the Prometheus server does; comments other
 * than HELP/TYPE/UNIT/EOF are ignored in both formats.
 */
#include "expo/expo.h"
#include "expo/number_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAMILY_BIT (1ULL << 63) /* family hashes share the set: top bit set, series clear */

typedef struct parser {
    const char *buf;
    size_t len;
    expo_format fmt;
    expo_limits lim;
    /* the current line */
    size_t line, ls, le; /* line number, [ls, le) */
    char *scratch;       /* names and unescaped values of this line */
    size_t sused, scap;
    expo_label *labels;
    size_t n_labels;
    /* the current family (last TYPE line) */
    char *fam;
    expo_type ftype;
    char *unit;
    bool eof_seen;
    /* series and family hashes seen: open addressing, 0 = empty */
    uint64_t *set;
    size_t set_cap, set_n;
    expo_stats st;
    char *err;
    size_t errlen;
    unsigned char cls[256]; /* char_class() of every byte, filled once per parse */
} parser;

static const char *const type_names[] = {
    [EXPO_UNTYPED] = "untyped", [EXPO_COUNTER] = "counter",
    [EXPO_GAUGE] = "gauge",     [EXPO_HISTOGRAM] = "histogram",
    [EXPO_SUMMARY] = "summary", [EXPO_GAUGE_HISTOGRAM] = "gaugehistogram",
    [EXPO_INFO] = "info",       [EXPO_STATESET] = "stateset",
};

const char *expo_type_name(expo_type t)
{
    return (unsigned)t < sizeof type_names / sizeof *type_names ? type_names[t] : "?";
}

expo_format expo_format_of(const char *content_type)
{
    return content_type && strstr(content_type, "application/openmetrics-text") ? EXPO_OPENMETRICS
                                                                                : EXPO_TEXT;
}

__attribute__((format(printf, 3, 4))) static int fail(parser *p, size_t pos, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%zu:%zu: %s", p->line, pos - p->ls + 1, msg);
    return -1;
}

/* ---- hashing and the seen-set ---- */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Eight bytes a step (a byte-wise FNV took a quarter of the parse time). */
static uint64_t hash_str(uint64_t h, const char *s)
{
    size_t n = strlen(s);
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9fb21c651e98df25ULL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w ^ ((uint64_t)n << 56)) * 0x9fb21c651e98df25ULL;
    return h ^ (h >> 32);
}

/* Inserts h (never 0): 1 inserted, 0 already there, -1 out of memory. */
static int set_add(parser *p, uint64_t h)
{
    if (h == 0) h = 1;
    if ((p->set_n + 1) * 2 > p->set_cap) {
        size_t ncap = p->set_cap ? p->set_cap * 2 : 1024;
        uint64_t *n = calloc(ncap, sizeof *n);
        if (!n) return -1;
        for (size_t i = 0; i < p->set_cap; i++) {
            if (!p->set[i]) continue;
            size_t j = p->set[i] & (ncap - 1);
            while (n[j])
                j = (j + 1) & (ncap - 1);
            n[j] = p->set[i];
        }
        free(p->set);
        p->set = n;
        p->set_cap = ncap;
    }
    size_t j = h & (p->set_cap - 1);
    while (p->set[j]) {
        if (p->set[j] == h) return 0;
        j = (j + 1) & (p->set_cap - 1);
    }
    p->set[j] = h;
    p->set_n++;
    return 1;
}

/* ---- lexing helpers ---- */
/* Character classes by table: bit 1 starts a label name, 2 continues one,
 * 4 starts a metric name, 8 continues one (metric names also take ':'). */
static unsigned char char_class(int c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return 15;
    if (c >= '0' && c <= '9') return 2 | 8;
    return c == ':' ? 4 | 8 : 0;
}

static bool name_start(const unsigned char *cls, int c, bool colon)
{
    return cls[(unsigned char)c] & (colon ? 4 : 1);
}

static bool name_char(const unsigned char *cls, int c, bool colon)
{
    return cls[(unsigned char)c] & (colon ? 8 : 2);
}

static size_t skip_ws(const parser *p, size_t i)
{
    while (i < p->le && (p->buf[i] == ' ' || p->buf[i] == '\t'))
        i++;
    return i;
}

/* A name at i into scratch; its end, or 0 when none is there. */
static size_t lex_name(parser *p, size_t i, bool colon, const char **out)
{
    size_t s = i;
    if (i >= p->le || !name_start(p->cls, p->buf[i], colon)) return 0;
    while (i < p->le && name_char(p->cls, p->buf[i], colon))
        i++;
    char *d = p->scratch + p->sused;
    memcpy(d, p->buf + s, i - s);
    d[i - s] = 0;
    p->sused += i - s + 1;
    *out = d;
    return i;
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) return 1;
    size_t k = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (k == 0 || k > 4 || n < k) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (k == 3 && s[0] == 0xe0 && s[1] < 0xa0) return 0;  /* overlong */
    if (k == 3 && s[0] == 0xed && s[1] >= 0xa0) return 0; /* surrogates */
    if (k == 4 && s[0] == 0xf0 && s[1] < 0x90) return 0;
    if (k == 4 && s[0] == 0xf4 && s[1] >= 0x90) return 0;
    return k;
}

/* A quoted label value at i (on the opening quote) into scratch: its end, or 0. */
static size_t lex_value(parser *p, size_t i, const char **out)
{
    size_t start = i++;
    char *d = p->scratch + p->sused, *o = d;
    while (i < p->le && p->buf[i] != '"') {
        unsigned char c = (unsigned char)p->buf[i];
        if (c == '\\' && i + 1 < p->le &&
            (p->buf[i + 1] == 'n' || p->buf[i + 1] == '\\' || p->buf[i + 1] == '"')) {
            *o++ = p->buf[i + 1] == 'n' ? '\n' : p->buf[i + 1];
            i += 2;
        } else if (c == '\\') {
            *o++ = '\\'; /* unknown escapes stay as written (Prometheus' server) */
            i++;
        } else if (c == 0) {
            return fail(p, i, "NUL byte in a label value"), 0;
        } else {
            size_t k = utf8_len((const unsigned char *)p->buf + i, p->le - i);
            if (k == 0) return fail(p, i, "invalid UTF-8 in a label value"), 0;
            memcpy(o, p->buf + i, k);
            o += k;
            i += k;
        }
        if ((size_t)(o - d) > p->lim.max_label_value)
            return fail(p, start, "label value longer than %zu bytes", p->lim.max_label_value), 0;
    }
    if (i >= p->le) return fail(p, start, "unterminated label value (expected '\"')"), 0;
    *o = 0;
    p->sused += (size_t)(o - d) + 1;
    *out = d;
    return i + 1;
}

/* The token at i (up to whitespace or end of line) as a C string in tok. */
static size_t lex_token(const parser *p, size_t i, char *tok, size_t cap, size_t *n)
{
    size_t s = i;
    while (i < p->le && p->buf[i] != ' ' && p->buf[i] != '\t')
        i++;
    *n = i - s;
    size_t c = *n < cap - 1 ? *n : cap - 1;
    memcpy(tok, p->buf + s, c);
    tok[c] = 0;
    return i;
}

/* ---- comment lines ---- */
static int parse_type(const char *w, size_t n, expo_format fmt, expo_type *t)
{
    static const struct {
        const char *w;
        expo_type t;
        bool om;   /* OpenMetrics only */
        bool text; /* text only */
    } tab[] = {
        {"counter", EXPO_COUNTER, false, false},
        {"gauge", EXPO_GAUGE, false, false},
        {"histogram", EXPO_HISTOGRAM, false, false},
        {"summary", EXPO_SUMMARY, false, false},
        {"untyped", EXPO_UNTYPED, false, true},
        {"unknown", EXPO_UNTYPED, true, false},
        {"gaugehistogram", EXPO_GAUGE_HISTOGRAM, true, false},
        {"info", EXPO_INFO, true, false},
        {"stateset", EXPO_STATESET, true, false},
    };
    for (size_t i = 0; i < sizeof tab / sizeof *tab; i++) {
        if (strlen(tab[i].w) != n || memcmp(tab[i].w, w, n) != 0) continue;
        if ((tab[i].om && fmt != EXPO_OPENMETRICS) || (tab[i].text && fmt == EXPO_OPENMETRICS))
            return -1;
        *t = tab[i].t;
        return 0;
    }
    return -1;
}

static int comment(parser *p, size_t i)
{
    i = skip_ws(p, i + 1);
    size_t kw = i;
    while (i < p->le && p->buf[i] >= 'A' && p->buf[i] <= 'Z')
        i++;
    size_t kwlen = i - kw;
    bool is = kwlen == 4 && i < p->le && (p->buf[i] == ' ' || p->buf[i] == '\t');
    if (p->fmt == EXPO_OPENMETRICS && kwlen == 3 && memcmp(p->buf + kw, "EOF", 3) == 0 &&
        skip_ws(p, i) == p->le) {
        p->eof_seen = true;
        return 0;
    }
    bool help = is && memcmp(p->buf + kw, "HELP", 4) == 0;
    bool type = is && memcmp(p->buf + kw, "TYPE", 4) == 0;
    bool unit = is && memcmp(p->buf + kw, "UNIT", 4) == 0 && p->fmt == EXPO_OPENMETRICS;
    if (!help && !type && !unit) return 0; /* a plain comment */
    i = skip_ws(p, i);
    const char *name;
    size_t e = lex_name(p, i, true, &name);
    if (e == 0) return fail(p, i, "expected a metric name after # %.4s", p->buf + kw);
    if (e < p->le && p->buf[e] != ' ' && p->buf[e] != '\t')
        return fail(p, e, "invalid character in a metric name");
    size_t v = skip_ws(p, e);
    if (type) {
        size_t w = v;
        while (w < p->le && p->buf[w] != ' ' && p->buf[w] != '\t')
            w++;
        expo_type t;
        if (parse_type(p->buf + v, w - v, p->fmt, &t) != 0)
            return fail(p, v, "unknown metric type \"%.*s\" (expected %s)",
                        (int)(w - v > 40 ? 40 : w - v), p->buf + v,
                        p->fmt == EXPO_OPENMETRICS
                            ? "counter, gauge, histogram, gaugehistogram, summary, info, "
                              "stateset or unknown"
                            : "counter, gauge, histogram, summary or untyped");
        if (skip_ws(p, w) != p->le) return fail(p, w, "unexpected text after the type");
        int r = set_add(p, mix(hash_str(0x84222325cbf29ce4ULL, name)) | FAMILY_BIT);
        if (r < 0) return fail(p, i, "out of memory");
        if (r == 0) return fail(p, i, "second TYPE line for metric family %s", name);
        strcpy(p->fam, name);
        p->ftype = t;
        p->unit[0] = 0;
        p->st.families++;
    } else if (unit) {
        if (strcmp(name, p->fam) == 0) {
            size_t n = p->le - v < 63 ? p->le - v : 63;
            memcpy(p->unit, p->buf + v, n);
            p->unit[n] = 0;
        }
    }
    return 0;
}

/* ---- sample lines ---- */
static bool has_suffix(const char *name, const char *fam, const char *const *suffixes)
{
    size_t fl = strlen(fam);
    if (strncmp(name, fam, fl) != 0) return false;
    for (; *suffixes; suffixes++)
        if (strcmp(name + fl, *suffixes) == 0) return true;
    return false;
}

static const char *label_get(const parser *p, const char *name)
{
    for (size_t i = 0; i < p->n_labels; i++)
        if (strcmp(p->labels[i].name, name) == 0) return p->labels[i].value;
    return NULL;
}

/* Which family the series `name` belongs to: fills s->family/type/cumulative.
 * Returns 1 for an OpenMetrics _created series (skipped), 0 otherwise. */
static int classify(parser *p, const char *name, expo_sample *s)
{
    static const char *const counter_sfx[] = {"_total", "_created", NULL};
    static const char *const hist_sfx[] = {"_bucket", "_count", "_sum", "_created", NULL};
    static const char *const ghist_sfx[] = {"_bucket", "_gcount", "_gsum", NULL};
    static const char *const summ_sfx[] = {"_count", "_sum", "_created", NULL};
    static const char *const info_sfx[] = {"_info", NULL};
    static const char *const none[] = {NULL};
    const char *const *sfx = none;
    switch (p->ftype) {
    case EXPO_COUNTER:
        sfx = counter_sfx;
        break;
    case EXPO_HISTOGRAM:
        sfx = hist_sfx;
        break;
    case EXPO_GAUGE_HISTOGRAM:
        sfx = ghist_sfx;
        break;
    case EXPO_SUMMARY:
        sfx = summ_sfx;
        break;
    case EXPO_INFO:
        sfx = info_sfx;
        break;
    default:
        break;
    }
    bool mine = p->fam[0] && (strcmp(name, p->fam) == 0 || has_suffix(name, p->fam, sfx));
    s->family = mine ? p->fam : name;
    s->type = mine ? p->ftype : EXPO_UNTYPED;
    s->unit = mine ? p->unit : "";
    size_t fl = strlen(p->fam);
    const char *suffix = mine ? name + fl : "";
    if (mine && p->fmt == EXPO_OPENMETRICS && strcmp(suffix, "_created") == 0) return 1;
    s->cumulative = s->type == EXPO_COUNTER ||
                    ((s->type == EXPO_HISTOGRAM || s->type == EXPO_SUMMARY) && *suffix);
    return 0;
}

/* The type's own rules on labels: 0, or -1 with err. */
static int check_type_labels(parser *p, const expo_sample *s, size_t at)
{
    const char *sfx = s->name + strlen(s->family);
    const char *need = NULL;
    if ((s->type == EXPO_HISTOGRAM || s->type == EXPO_GAUGE_HISTOGRAM) &&
        strcmp(sfx, "_bucket") == 0)
        need = "le";
    else if (s->type == EXPO_SUMMARY && *sfx == 0)
        need = "quantile";
    else if (s->type == EXPO_HISTOGRAM && *sfx == 0)
        return fail(p, at, "histogram %s: a series must be %s_bucket, _count or _sum", s->family,
                    s->family);
    if (!need) return 0;
    const char *v = label_get(p, need);
    double d;
    if (!v)
        return fail(p, at, "%s %s: series without the \"%s\" label", expo_type_name(s->type),
                    s->family, need);
    if (!expo_number_parse(v, strlen(v), 64, &d))
        return fail(p, at, "%s %s: \"%s\" label \"%.40s\" is not a number", expo_type_name(s->type),
                    s->family, need, v);
    return 0;
}

static int sample_line(parser *p, size_t i, expo_sample_fn fn, void *ctx)
{
    expo_sample s = {.line = p->line};
    const char *name;
    size_t at = i;
    size_t e = lex_name(p, i, true, &name);
    if (e == 0) return fail(p, i, "expected a metric name or a comment");
    s.name = name;
    i = p->fmt == EXPO_TEXT ? skip_ws(p, e) : e;
    p->n_labels = 0;
    if (i >= p->le || p->buf[i] != '{') i = e;
    if (i < p->le && p->buf[i] == '{') {
        i++;
        for (;;) {
            i = skip_ws(p, i);
            if (i < p->le && p->buf[i] == '}') break;
            const char *ln, *lv;
            size_t ne = lex_name(p, i, false, &ln);
            if (ne == 0) return fail(p, i, "expected a label name or '}'");
            if (p->n_labels >= p->lim.max_labels)
                return fail(p, i, "more than %zu labels", p->lim.max_labels);
            for (size_t k = 0; k < p->n_labels; k++)
                if (strcmp(p->labels[k].name, ln) == 0)
                    return fail(p, i, "label %s given twice", ln);
            i = skip_ws(p, ne);
            if (i >= p->le || p->buf[i] != '=') return fail(p, i, "expected '=' after %s", ln);
            i = skip_ws(p, i + 1);
            if (i >= p->le || p->buf[i] != '"')
                return fail(p, i, "expected '\"' to open the value of %s", ln);
            i = lex_value(p, i, &lv);
            if (i == 0) return -1;
            p->labels[p->n_labels++] = (expo_label){ln, lv};
            i = skip_ws(p, i);
            if (i < p->le && p->buf[i] == ',') {
                i++;
                continue;
            }
            if (i < p->le && p->buf[i] == '}') break;
            return fail(p, i, "expected ',' or '}' after a label");
        }
        i++;
    }
    if (i >= p->le || (p->buf[i] != ' ' && p->buf[i] != '\t'))
        return fail(p, i, i >= p->le ? "expected a value" : "expected a space before the value");
    i = skip_ws(p, i);
    char tok[64];
    size_t n, vs = i;
    i = lex_token(p, i, tok, sizeof tok, &n);
    if (!expo_number_parse(tok, n, sizeof tok, &s.value))
        return fail(p, vs, "expected a number, NaN, +Inf or -Inf, got \"%.*s\"",
                    (int)(n > 40 ? 40 : n), p->buf + vs);
    i = skip_ws(p, i);
    if (i < p->le && !(p->fmt == EXPO_OPENMETRICS && p->buf[i] == '#')) {
        size_t ts = i;
        i = lex_token(p, i, tok, sizeof tok, &n);
        char *end;
        errno = 0;
        if (p->fmt == EXPO_TEXT) {
            long long ms = n && n < sizeof tok ? strtoll(tok, &end, 10) : 0;
            if (n == 0 || n >= sizeof tok || *end || errno)
                return fail(p, ts, "expected a timestamp in milliseconds, got \"%.*s\"",
                            (int)(n > 40 ? 40 : n), p->buf + ts);
            s.time_ms = ms;
        } else {
            double sec;
            if (!expo_number_parse(tok, n, sizeof tok, &sec) || !isfinite(sec) || fabs(sec) > 9e15)
                return fail(p, ts, "expected a timestamp in seconds, got \"%.*s\"",
                            (int)(n > 40 ? 40 : n), p->buf + ts);
            s.time_ms = (int64_t)llround(sec * 1000.0);
        }
        s.has_time = true;
        i = skip_ws(p, i);
    }
    /* OpenMetrics exemplars (" # {...} v [ts]") are read past and ignored */
    if (i < p->le && !(p->fmt == EXPO_OPENMETRICS && p->buf[i] == '#'))
        return fail(p, i, "unexpected text after the %s", s.has_time ? "timestamp" : "value");
    if (classify(p, name, &s) == 1) return 0;
    s.labels = p->labels;
    s.n_labels = p->n_labels;
    if (check_type_labels(p, &s, at) != 0) return -1;
    uint64_t h = mix(hash_str(0xcbf29ce484222325ULL, name)), lh = 0;
    for (size_t k = 0; k < p->n_labels; k++)
        lh += mix(
            hash_str(hash_str(0xcbf29ce484222325ULL, p->labels[k].name) * 31, p->labels[k].value));
    int r = set_add(p, mix(h ^ lh) & ~FAMILY_BIT);
    if (r < 0) return fail(p, at, "out of memory");
    if (r == 0)
        return fail(p, at, "duplicate series %s (same name and labels as an earlier line)", name);
    if (p->st.samples >= p->lim.max_series)
        return fail(p, at, "more than %zu series (the series limit)", p->lim.max_series);
    p->st.samples++;
    if (fn) {
        char msg[256] = "";
        if (fn(ctx, &s, msg, sizeof msg) != 0) {
            snprintf(p->err, p->errlen, "%zu: %s", p->line, msg);
            return -1;
        }
    }
    return 0;
}

static int run(parser *p, expo_sample_fn fn, void *ctx)
{
    size_t pos = 0;
    while (pos < p->len) {
        p->line++;
        p->ls = pos;
        const char *nl = memchr(p->buf + pos, '\n', p->len - pos);
        p->le = nl ? (size_t)(nl - p->buf) : p->len;
        pos = nl ? p->le + 1 : p->len;
        p->st.lines++;
        if (p->le - p->ls > p->lim.max_line)
            return fail(p, p->ls, "line longer than %zu bytes", p->lim.max_line);
        if (p->eof_seen) return fail(p, p->ls, "text after # EOF");
        if (!nl && p->fmt == EXPO_TEXT)
            return fail(p, p->le, "body ends in the middle of a line (truncated?)");
        p->sused = 0;
        size_t i = skip_ws(p, p->ls);
        if (i < p->le && p->le > p->ls && p->buf[p->le - 1] == '\r') p->le--;
        if (i >= p->le) continue;
        int rc = p->buf[i] == '#' ? comment(p, i) : sample_line(p, i, fn, ctx);
        if (rc != 0) return -1;
    }
    if (p->fmt == EXPO_OPENMETRICS && !p->eof_seen) {
        if (p->len == 0 || p->buf[p->len - 1] == '\n') {
            p->line++; /* the line where # EOF should have been */
            p->ls = p->len;
        }
        return fail(p, p->len, "body ends without # EOF (truncated?)");
    }
    return 0;
}

int expo_parse(const char *buf, size_t len, expo_format fmt, const expo_limits *limits,
               expo_sample_fn fn, void *ctx, expo_stats *stats, char *err, size_t errlen)
{
    parser p = {.buf = buf, .len = len, .fmt = fmt, .err = err, .errlen = errlen};
    if (limits) p.lim = *limits;
    if (!p.lim.max_bytes) p.lim.max_bytes = 10u << 20;
    if (!p.lim.max_series) p.lim.max_series = 100000;
    if (!p.lim.max_labels) p.lim.max_labels = 64;
    if (!p.lim.max_label_value) p.lim.max_label_value = 4096;
    if (!p.lim.max_line) p.lim.max_line = 64u << 10;
    for (int c = 0; c < 256; c++)
        p.cls[c] = char_class(c);
    int rc = -1;
    if (len > p.lim.max_bytes) {
        snprintf(err, errlen, "body of %zu bytes exceeds the limit of %zu bytes", len,
                 p.lim.max_bytes);
        goto out;
    }
    size_t linecap = len < p.lim.max_line ? len : p.lim.max_line;
    p.scap = 2 * linecap + 16;
    p.scratch = malloc(p.scap);
    p.fam = malloc(linecap + 1);
    p.unit = malloc(64);
    p.labels = malloc(p.lim.max_labels * sizeof *p.labels);
    if (!p.scratch || !p.fam || !p.unit || !p.labels) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    p.fam[0] = p.unit[0] = 0;
    rc = run(&p, fn, ctx);
out:
    if (stats) *stats = p.st;
    free(p.scratch);
    free(p.fam);
    free(p.unit);
    free(p.labels);
    free(p.set);
    return rc;
}
