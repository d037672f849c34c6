/*
 * federate.c: the agents' /metrics pages as one exposition page.
 *
 * Every sample gets the label member="<member id>"; a sample that already
 * has a `member` label keeps it and gets exported_member instead (the
 * issue's rule: the existing label is kept). Each agent exports the same
 * families (meterd's self-metrics, the same pollsters), and the text format
 * wants one HELP/TYPE per family and a family's samples together
 * (`promtool check metrics` refuses anything else), so samples are
 * regrouped by family, in the order families are first seen; the first
 * agent's HELP and TYPE lines are kept. Last comes meterproxy_federation_up,
 * 1 or 0 per member, and a comment per unreachable member saying why: an
 * agent that did not answer degrades the page, and the page says so.
 */
#include "proxy/proxy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

typedef struct family {
    char *name;        /* as in the TYPE line, or the sample's name when untyped */
    char *help, *type; /* whole lines (with '\n'), NULL when not seen */
    buf samples;
} family;

typedef struct families {
    family *v;
    size_t n, cap;
    size_t *slots; /* hash: index + 1, 0 empty */
    size_t nslots;
    bool oom;
} families;

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static int rehash(families *fs)
{
    size_t n = fs->nslots ? fs->nslots * 2 : 64;
    size_t *s = calloc(n, sizeof *s);
    if (s == NULL) return -1;
    for (size_t i = 0; i < fs->n; i++) {
        size_t j = hash(fs->v[i].name, strlen(fs->v[i].name)) & (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = i + 1;
    }
    free(fs->slots);
    fs->slots = s;
    fs->nslots = n;
    return 0;
}

/* The index of the family called name[0..n), made when new; -1 when out of
 * memory (indexes, not pointers: the array moves as it grows). */
static long family_of(families *fs, const char *name, size_t n)
{
    if (fs->nslots == 0 && rehash(fs) != 0) return -1;
    size_t j = hash(name, n) & (fs->nslots - 1);
    for (; fs->slots[j]; j = (j + 1) & (fs->nslots - 1)) {
        family *f = &fs->v[fs->slots[j] - 1];
        if (strlen(f->name) == n && memcmp(f->name, name, n) == 0) return (long)fs->slots[j] - 1;
    }
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        family *v = realloc(fs->v, cap * sizeof *v);
        if (v == NULL) return -1;
        fs->v = v;
        fs->cap = cap;
    }
    family *f = &fs->v[fs->n];
    memset(f, 0, sizeof *f);
    f->name = strndup(name, n);
    if (f->name == NULL) return -1;
    fs->slots[j] = ++fs->n;
    if (fs->n * 2 > fs->nslots && rehash(fs) != 0) return -1;
    return (long)fs->n - 1;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static size_t name_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && name_char(s[i], i == 0))
        i++;
    return i;
}

/* Whether the label set starting after '{' names `label`. */
static bool has_label(const char *s, size_t n, const char *label)
{
    size_t i = 0, want = strlen(label);
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == ','))
            i++;
        if (i < n && s[i] == '}') return false;
        size_t k = name_len(s + i, n - i);
        if (k == want && memcmp(s + i, label, k) == 0) return true;
        i += k;
        while (i < n && s[i] != '"')
            i++;
        for (i++; i < n && s[i] != '"'; i++)
            if (s[i] == '\\') i++;
        i++;
    }
    return false;
}

/* A sample line with the member label added. */
static void relabel(buf *out, const char *line, size_t n, const char *label)
{
    size_t k = name_len(line, n);
    put(out, line, k);
    if (k < n && line[k] == '{') {
        bool clash = has_label(line + k + 1, n - k - 1, "member");
        put(out, "{", 1);
        puts_(out, clash ? "exported_member=\"" : "member=\"");
        puts_(out, label);
        put(out, "\"", 1);
        size_t rest = k + 1;
        while (rest < n && line[rest] == ' ')
            rest++;
        if (rest < n && line[rest] != '}') put(out, ",", 1);
        put(out, line + k + 1, n - k - 1);
    } else {
        puts_(out, "{member=\"");
        puts_(out, label);
        put(out, "\"}", 2);
        put(out, line + k, n - k);
    }
    put(out, "\n", 1);
}

/* Label value escaping of the text format: \ " and newline. */
static void escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') out[o++] = '\\';
        if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
            continue;
        }
        out[o++] = *in;
    }
    out[o] = 0;
}

static bool is_suffix_of(const family *f, const char *name, size_t n)
{
    size_t fl = strlen(f->name);
    if (n < fl || memcmp(name, f->name, fl) != 0) return false;
    const char *s = name + fl;
    size_t sl = n - fl;
    return sl == 0 || (sl == 7 && memcmp(s, "_bucket", 7) == 0) ||
           (sl == 6 && memcmp(s, "_count", 6) == 0) || (sl == 4 && memcmp(s, "_sum", 4) == 0);
}

/* One agent's page into the families. */
static void take(families *fs, const char *text, size_t len, const char *label)
{
    long cur = -1;
    for (const char *p = text, *end = text + len; p < end && !fs->oom;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = p;
        p += n + 1;
        while (n && line[n - 1] == '\r')
            n--;
        if (n == 0) continue;
        if (line[0] == '#') {
            bool help = n > 7 && memcmp(line, "# HELP ", 7) == 0;
            bool type = n > 7 && memcmp(line, "# TYPE ", 7) == 0;
            if (!help && !type) continue; /* a comment: the agent's own */
            size_t k = name_len(line + 7, n - 7);
            if ((cur = family_of(fs, line + 7, k)) < 0) {
                fs->oom = true;
                return;
            }
            char **slot = help ? &fs->v[cur].help : &fs->v[cur].type;
            if (*slot == NULL && (*slot = strndup(line, n)) == NULL) fs->oom = true;
            continue;
        }
        size_t k = name_len(line, n);
        if (k == 0) continue; /* not a sample: dropped rather than passed on broken */
        long f = cur >= 0 && is_suffix_of(&fs->v[cur], line, k) ? cur : family_of(fs, line, k);
        if (f < 0) {
            fs->oom = true;
            return;
        }
        relabel(&fs->v[f].samples, line, n, label);
        if (fs->v[f].samples.oom) fs->oom = true;
    }
}

char *proxy_federate(const proxy_fed_input *in, size_t n, size_t *len)
{
    families fs = {0};
    for (size_t i = 0; i < n; i++) {
        if (in[i].error || fs.oom) {
            free(in[i].owned);
            continue;
        }
        char label[400];
        escape(in[i].member, label, sizeof label);
        take(&fs, in[i].text, in[i].len, label);
        free(in[i].owned);
    }
    buf out = {0};
    for (size_t i = 0; i < fs.n; i++) {
        family *f = &fs.v[i];
        if (f->samples.len == 0) continue; /* a HELP/TYPE with no sample left */
        if (f->help) {
            puts_(&out, f->help);
            put(&out, "\n", 1);
        }
        if (f->type) {
            puts_(&out, f->type);
            put(&out, "\n", 1);
        }
        put(&out, f->samples.p, f->samples.len);
        free(f->samples.p); /* as the page grows: memory peaks lower */
        f->samples.p = NULL;
    }
    puts_(&out, "# HELP meterproxy_federation_up Whether the member's /metrics answered "
                "(1) or not (0) in this page.\n# TYPE meterproxy_federation_up gauge\n");
    for (size_t i = 0; i < n; i++) {
        char label[400], line[600];
        escape(in[i].member, label, sizeof label);
        snprintf(line, sizeof line, "meterproxy_federation_up{member=\"%s\"} %d\n", label,
                 in[i].error ? 0 : 1);
        puts_(&out, line);
    }
    for (size_t i = 0; i < n; i++) {
        if (!in[i].error) continue;
        char line[1024];
        snprintf(line, sizeof line, "# meterproxy: member %s unreachable: %s\n", in[i].member,
                 in[i].error);
        for (char *c = line + 2; *c && c[1]; c++) /* one comment line, whatever it says */
            if (*c == '\n' || *c == '\r') *c = ' ';
        puts_(&out, line);
    }
    bool oom = fs.oom || out.oom;
    for (size_t i = 0; i < fs.n; i++) {
        free(fs.v[i].name);
        free(fs.v[i].help);
        free(fs.v[i].type);
        free(fs.v[i].samples.p);
    }
    free(fs.v);
    free(fs.slots);
    if (oom) {
        free(out.p);
        return NULL;
    }
    *len = out.len;
    return out.p;
}
