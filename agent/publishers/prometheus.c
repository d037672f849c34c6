/*
 * publishers/prometheus.c: the prometheus:// publisher — the latest value of every
 * series, rendered as exposition text on the agent's /metrics.
 *
 * publish() is a memory update (inline_publish: no queue, no thread), called
 * from many worker threads at once; render() from HTTP threads. One mutex
 * guards everything: updates are a hash lookup and a store, and a render of
 * a few thousand series takes well under a millisecond, so finer locking would
 * buy nothing measurable.
 *
 * Mapping (docs/PUBLISHERS.md has the table):
 * - family name: `<prefix>_<meter>` (prefix "meterd", `?prefix=`), every
 *   character outside [a-zA-Z0-9_] becomes '_' (':' is reserved for recording
 *   rules). Cumulative samples are counters and get `_total` appended (unless
 *   already there); gauge and delta samples are gauges.
 * - labels: resource, source, then the sample's labels sorted by name; names
 *   sanitised to [a-zA-Z_][a-zA-Z0-9_]*, a sample label that would clash
 *   with resource/source or start with "__" (reserved) gets "exported_"
 *   prepended, as Prometheus does on scrape; later duplicates are dropped.
 *   Values escaped (\\ \" \n).
 * - no timestamps: Prometheus stamps live exporters at scrape time, and an
 *   explicit old timestamp makes it drop or mis-order series.
 * - scraped series (the scrape pollster marks them: meter `scrape.<name>`
 *   with a first label `__name__="<name>"`): the family is that name as scraped (no
 *   prefix, no `_total` added), typed counter when cumulative and named
 *   `*_total`, else untyped (a sample does not carry its family's type: a
 *   summary's quantile series typed gauge would fail promtool's lint), the
 *   scraped labels are kept, and meterd adds `instance` (the target's host:port), `resource` and
 *   `source`; where a scraped label has one of those names the scraped one is
 *   kept and meterd's becomes `exported_<name>` (the issue's rule).
 * - `?names=psi_perf_monitor`: the cgroup pollsters' pressure and perf meters
 *   under seed 002's names instead (registry_psi_perf_monitor_name: family,
 *   gauge, the seed's HELP), with its labels type/window (PSI),
 *   container_name (the container id, else the resource) and pod_name (the
 *   pod UID) beside meterd's: the cgroup path names no container or pod.
 * Series identity is the family name plus the rendered label set, which is
 * also the hash key. A family keeps the type it was created with; a sample
 * of another type under the same name is skipped (and reported).
 *
 * Families are kept sorted by name and series by label text, inserting on
 * creation (rare) so render is a straight walk: stable output for diffing.
 *
 * Staleness: a series not updated for `stale_intervals` (default 3) times its
 * observed update interval, or for `max_age` seconds (default 600) whichever
 * comes first, is dropped — so a removed target disappears. The interval rule
 * never fires before `min_age` seconds (default 10): two updates in one burst
 * (a retried poll) would otherwise measure a tiny interval and make a live
 * series flicker. Swept at each render and every 10 s of publishing.
 *
 * Ownership (cluster mode): a series of a shared target leaves /metrics at
 * the instant this member stops owning the target (the table's handover
 * instant, asked at render through sample_batch.owned) and is dropped then,
 * so a target regained later shows nothing until its next poll here; the
 * successor's series appear with its first poll. Reading every member's
 * /metrics at one instant, each target is exported once, except between a
 * handover and the successor's first poll (none). A late poll of a target
 * already handed over lands in the store but is never rendered.
 */
#include "agent/publishers/common.h"
#include "agent/publisher.h"
#include "registry/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 64

typedef struct prom_family prom_family;

typedef struct prom_series {
    char *labels; /* "{resource=\"...\",...}" */
    double value;
    int64_t updated_ms, interval_ms; /* monotonic */
    /* cluster mode: the shared target polled (sample_batch.owned); NULL owned:
     * always exported */
    char *target;
    bool (*owned)(void *ctx, const char *target, int64_t wall_ms);
    void *owned_ctx;
    prom_family *fam;
    pub_map_entry *entry;
} prom_series;

struct prom_family {
    char *name, *help;
    bool counter;
    bool untyped;    /* scraped, and not a cumulative *_total */
    prom_series **v; /* sorted by labels */
    size_t n, cap;
    pub_map_entry *entry;
};

typedef struct prom_pub {
    pthread_mutex_t mu;
    pub_map series; /* name + labels → prom_series */
    pub_map fams;   /* name → prom_family */
    /* first sample's resource → series_memo: the series of that batch's
     * last publish, by index (a target's page lists the same series in the
     * same order each scrape); dropped whole when a sweep frees a series */
    pub_map memos;
    prom_family **fv; /* sorted by name */
    size_t nf, capf;
    char prefix[64];
    bool psi_names; /* ?names=psi_perf_monitor */
    int64_t max_age_ms, min_age_ms, stale_intervals, last_sweep_ms;
} prom_pub;

static int prom_open(const pipeline_publisher *u, void *pstate, void **self, char *err,
                     size_t errlen)
{
    (void)pstate;
    long max_age = pub_opt_long(u, "max_age"), min_age = pub_opt_long(u, "min_age"),
         stale = pub_opt_long(u, "stale_intervals");
    char prefix[64], names[32];
    pub_opt_str(u, "prefix", prefix, sizeof prefix);
    pub_opt_str(u, "names", names, sizeof names);
    if (names[0] && strcmp(names, "psi_perf_monitor") != 0) {
        snprintf(err, errlen, "%s: names=%s: expected psi_perf_monitor (or nothing)", u->url,
                 names);
        return -1;
    }
    prom_pub *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pub_map_init(&p->series);
    pub_map_init(&p->fams);
    pub_map_init(&p->memos);
    for (char *c = prefix; *c; c++)
        if (!(*c == '_' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
              (*c >= 'A' && *c <= 'Z')))
            *c = '_';
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix);
    p->psi_names = names[0] != 0;
    p->max_age_ms = max_age * 1000;
    p->min_age_ms = min_age * 1000;
    p->stale_intervals = stale;
    p->last_sweep_ms = loop_now_ms();
    *self = p;
    return 0;
}

/* ---- names and labels ---- */

static bool name_char(char c, bool first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (!first && c >= '0' && c <= '9');
}

static void put_name(strbuf *out, const char *prefix, const char *meter, bool counter)
{
    size_t start = out->len;
    if (prefix[0]) {
        strbuf_puts(out, prefix);
        strbuf_putc(out, '_');
    }
    for (const char *c = meter; *c; c++)
        strbuf_putc(out, name_char(*c, false) ? *c : '_');
    if (out->len == start) strbuf_putc(out, '_');
    if (!out->failed && !name_char(out->buf[start], true)) {
        /* a leading digit (empty prefix): shift right by one '_' */
        strbuf_putc(out, 0);
        if (!out->failed) {
            memmove(out->buf + start + 1, out->buf + start, out->len - start - 1);
            out->buf[start] = '_';
        }
    }
    if (counter && !(out->len - start >= 6 && memcmp(out->buf + out->len - 6, "_total", 6) == 0))
        strbuf_puts(out, "_total");
}

/* Sanitised label name into out; prefixed when it would clash or is reserved. */
static void put_label_name(strbuf *out, const char *k)
{
    if (strcmp(k, "resource") == 0 || strcmp(k, "source") == 0 || strncmp(k, "__", 2) == 0 || !*k)
        strbuf_puts(out, "exported_");
    else if (*k >= '0' && *k <= '9')
        strbuf_putc(out, '_');
    for (const char *c = k; *c; c++)
        strbuf_putc(out, name_char(*c, false) ? *c : '_');
}

typedef struct lab {
    size_t key_off, key_len;
    const char *value;
} lab;

static int lab_cmp(const void *a, const void *b, void *base)
{
    const lab *x = a, *y = b;
    const char *keys = base;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(keys + x->key_off, keys + y->key_off, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* lab_cmp, then the order labels were written in (key_off grows with it), so
 * of two labels with one name the first written is the one kept (whatever
 * the sort): a sample's own label before a later clash, a scraped label
 * before meterd's renamed one. */
static int lab_order(const void *a, const void *b, void *base)
{
    int c = lab_cmp(a, b, base);
    const lab *x = a, *y = b;
    return c ? c : (x->key_off > y->key_off) - (x->key_off < y->key_off);
}

/* Sorts v by lab_order. Insertion: a series has a handful of labels, mostly
 * written in order already (exporters sort theirs), where qsort_r's calls
 * through a pointer cost more than the sort. */
static void lab_sort(lab *v, size_t n, const char *keys)
{
    for (size_t i = 1; i < n; i++) {
        lab x = v[i];
        size_t j = i;
        for (; j > 0 && lab_order(&v[j - 1], &x, (void *)keys) > 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

/* Appends {resource="..",source="..",k="v",...} for s; keys is scratch. */
static void put_labels(strbuf *out, strbuf *keys, const sample_batch *b, const sample *s)
{
    strbuf_puts(out, "{resource=");
    strbuf_put_prom_label(out, s->resource ? s->resource : "");
    strbuf_puts(out, ",source=");
    strbuf_put_prom_label(out, b->source ? b->source : "");
    size_t n = s->n_labels < MAX_LABELS ? s->n_labels : MAX_LABELS;
    if (n) {
        lab v[MAX_LABELS];
        strbuf_reset(keys);
        for (size_t i = 0; i < n; i++) {
            v[i].key_off = keys->len;
            put_label_name(keys, s->labels[i].key);
            v[i].key_len = keys->len - v[i].key_off;
            v[i].value = s->labels[i].value;
        }
        if (!keys->failed) {
            lab_sort(v, n, keys->buf);
            for (size_t i = 0; i < n; i++) {
                if (i && lab_cmp(&v[i - 1], &v[i], keys->buf) == 0) continue;
                strbuf_putc(out, ',');
                strbuf_append(out, keys->buf + v[i].key_off, v[i].key_len);
                strbuf_putc(out, '=');
                strbuf_put_prom_label(out, v[i].value);
            }
        }
    }
    strbuf_putc(out, '}');
}

/* The scrape pollster's mark: meter scrape.<N> whose first label is
 * __name__="<N>", N a valid metric name. Anything else (another pollster's
 * label that happens to be called __name__) is an ordinary meter. */
static bool is_scraped(const sample *s)
{
    if (s->n_labels == 0 || strcmp(s->labels[0].key, "__name__") != 0 ||
        strncmp(s->name, "scrape.", 7) != 0 || strcmp(s->name + 7, s->labels[0].value) != 0)
        return false;
    const char *n = s->labels[0].value;
    if (!name_char(*n, true) && *n != ':') return false;
    for (; *n; n++)
        if (!name_char(*n, false) && *n != ':') return false;
    return true;
}

/* The target's host:port from its URL, with the scheme's port when none is
 * written (as Prometheus' instance label). */
static void put_instance(strbuf *out, const char *url)
{
    const char *h = strstr(url, "://");
    bool tls = strncmp(url, "https:", 6) == 0;
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/?#");
    strbuf_append(out, h, n);
    const char *close = memchr(h, ']', n);
    const char *colon = memchr(close ? close : h, ':', n - (size_t)((close ? close : h) - h));
    if (!colon) strbuf_puts(out, tls ? ":443" : ":80");
}

/* The instance label of the resource last asked: a batch is one target's
 * series, so one parse of its URL per batch, not per series. */
typedef struct inst_memo {
    strbuf url, inst;
} inst_memo;

static const char *instance_of(inst_memo *m, const char *url)
{
    if (m->url.len == 0 || m->url.failed || strcmp(m->url.buf, url) != 0) {
        strbuf_reset(&m->url);
        strbuf_reset(&m->inst);
        strbuf_puts(&m->url, url);
        put_instance(&m->inst, url);
    }
    return m->inst.failed || !m->inst.buf ? "" : m->inst.buf;
}

/* A scraped series' labels: its own (but __name__) as scraped, then meterd's
 * instance, resource and source, renamed exported_<name> on a clash; sorted. */
static void put_scraped_labels(strbuf *out, strbuf *keys, inst_memo *im, const sample_batch *b,
                               const sample *s)
{
    enum { OWN = 3 };
    static const char *const own[OWN] = {"instance", "resource", "source"};
    lab v[MAX_LABELS + OWN];
    size_t n = 0, max = s->n_labels < MAX_LABELS ? s->n_labels : MAX_LABELS;
    const char *own_value[OWN] = {instance_of(im, s->resource ? s->resource : ""),
                                  s->resource ? s->resource : "", b->source ? b->source : ""};
    strbuf_reset(keys);
    for (size_t i = 1; i < max; i++) {
        v[n].key_off = keys->len;
        for (const char *c = s->labels[i].key; *c; c++)
            strbuf_putc(keys, name_char(*c, false) ? *c : '_');
        v[n].key_len = keys->len - v[n].key_off;
        v[n++].value = s->labels[i].value;
    }
    for (size_t k = 0; k < OWN; k++) {
        bool clash = false;
        for (size_t i = 1; i < max; i++)
            clash |= strcmp(s->labels[i].key, own[k]) == 0;
        v[n].key_off = keys->len;
        if (clash) strbuf_puts(keys, "exported_");
        strbuf_puts(keys, own[k]);
        v[n].key_len = keys->len - v[n].key_off;
        v[n++].value = own_value[k];
    }
    strbuf_putc(out, '{');
    if (!keys->failed) {
        lab_sort(v, n, keys->buf);
        for (size_t i = 0; i < n; i++) {
            if (i && lab_cmp(&v[i - 1], &v[i], keys->buf) == 0) continue;
            if (out->len && out->buf[out->len - 1] != '{') strbuf_putc(out, ',');
            strbuf_append(out, keys->buf + v[i].key_off, v[i].key_len);
            strbuf_putc(out, '=');
            strbuf_put_prom_label(out, v[i].value);
        }
    }
    strbuf_putc(out, '}');
}

/* ---- the series store (mu held) ---- */

static void put_help_text(strbuf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            strbuf_puts(out, "\\\\");
        else if (*s == '\n')
            strbuf_puts(out, "\\n");
        else
            strbuf_putc(out, *s);
    }
}

/* Index where key would go in a sorted array (binary search). */
#define LOWER_BOUND(arr, n, field, key, out)                                                       \
    do {                                                                                           \
        size_t lo_ = 0, hi_ = (n);                                                                 \
        while (lo_ < hi_) {                                                                        \
            size_t mid_ = (lo_ + hi_) / 2;                                                         \
            if (strcmp((arr)[mid_]->field, (key)) < 0)                                             \
                lo_ = mid_ + 1;                                                                    \
            else                                                                                   \
                hi_ = mid_;                                                                        \
        }                                                                                          \
        (out) = lo_;                                                                               \
    } while (0)

static void insert_at(void **v, size_t *n, size_t at, void *item)
{
    memmove(v + at + 1, v + at, (*n - at) * sizeof *v);
    v[at] = item;
    (*n)++;
}

static bool grow_ptrs(void ***v, size_t *cap, size_t n)
{
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 8;
    void **nv = realloc(*v, c * sizeof *nv);
    if (!nv) return false;
    *v = nv;
    *cap = c;
    return true;
}

/* help_text: the family's HELP, NULL for meterd's own from the sample. */
static prom_family *get_family(prom_pub *p, const char *name, size_t nlen, const sample *s,
                               bool counter, const char *help_text)
{
    pub_map_entry *e = pub_map_put(&p->fams, name, nlen);
    if (!e) return NULL;
    if (e->value) return e->value;
    prom_family *f = calloc(1, sizeof *f);
    strbuf help;
    strbuf_init(&help);
    if (help_text) {
        put_help_text(&help, help_text);
    } else {
        strbuf_puts(&help, "meterd meter ");
        put_help_text(&help, s->name);
        if (s->unit && s->unit[0]) {
            strbuf_puts(&help, " (unit ");
            put_help_text(&help, s->unit);
            strbuf_putc(&help, ')');
        }
        strbuf_puts(&help, counter                   ? ", cumulative"
                           : s->type == SAMPLE_DELTA ? ", delta"
                                                     : ", gauge");
    }
    if (!f || help.failed || !grow_ptrs((void ***)&p->fv, &p->capf, p->nf)) {
        free(f);
        strbuf_free(&help);
        pub_map_del(&p->fams, e);
        return NULL;
    }
    f->name = e->key;
    f->help = help.buf;
    f->counter = counter;
    f->entry = e;
    e->value = f;
    size_t at;
    LOWER_BOUND(p->fv, p->nf, name, f->name, at);
    insert_at((void **)p->fv, &p->nf, at, f);
    return f;
}

static prom_series *new_series(prom_family *f, pub_map_entry *e, size_t nlen)
{
    prom_series *se = calloc(1, sizeof *se);
    if (!se || !grow_ptrs((void ***)&f->v, &f->cap, f->n)) {
        free(se);
        return NULL;
    }
    se->labels = e->key + nlen; /* the key is name + labels */
    se->fam = f;
    se->entry = e;
    e->value = se;
    size_t at;
    LOWER_BOUND(f->v, f->n, labels, se->labels, at);
    insert_at((void **)f->v, &f->n, at, se);
    return se;
}

static void free_family(prom_pub *p, prom_family *f)
{
    pub_map_del(&p->fams, f->entry);
    free(f->v);
    free(f->help);
    free(f);
}

static void series_free(prom_pub *p, prom_series *se)
{
    pub_map_del(&p->series, se->entry);
    free(se->target);
    free(se);
}

/* Whether se's target is this member's at wall_ms; asks once per target in
 * a row (a family's series of one target are often adjacent). */
typedef struct own_memo {
    const char *target;
    bool owned;
} own_memo;

static bool series_owned(const prom_series *se, int64_t wall_ms, own_memo *m)
{
    if (!se->owned || !se->target) return true;
    if (m->target && !strcmp(m->target, se->target)) return m->owned;
    m->target = se->target;
    m->owned = se->owned(se->owned_ctx, se->target, wall_ms);
    return m->owned;
}

/* The series a batch stored, by sample index: the next batch of the same
 * target finds sample i's series at v[i] when its rendered key is the one
 * stored (checked byte for byte), without hashing the key and walking a
 * chain of a 100,000-entry table (cache misses, most of publish's time). */
typedef struct series_memo {
    prom_series **v;
    size_t cap;
} series_memo;

static void series_memo_free(void *v)
{
    series_memo *m = v;
    if (m) free(m->v);
    free(m);
}

/* The memo of b (by its first sample's resource), with room for b->n; NULL
 * when none can be had (publish then looks every series up). */
static series_memo *memo_of(prom_pub *p, const sample_batch *b)
{
    if (b->n == 0 || !b->v[0].resource) return NULL;
    const char *r = b->v[0].resource;
    pub_map_entry *e = pub_map_put(&p->memos, r, strlen(r));
    if (!e) return NULL;
    series_memo *m = e->value;
    if (!m && !(m = e->value = calloc(1, sizeof *m))) {
        pub_map_del(&p->memos, e);
        return NULL;
    }
    if (m->cap < b->n) {
        prom_series **v = realloc(m->v, b->n * sizeof *v);
        if (!v) return NULL;
        memset(v + m->cap, 0, (b->n - m->cap) * sizeof *v);
        m->v = v;
        m->cap = b->n;
    }
    return m;
}

/* Drops stale series; with wall_ms >= 0 (render: on an HTTP thread) also
 * those whose target this member no longer owns. */
static void sweep(prom_pub *p, int64_t now, int64_t wall_ms)
{
    own_memo memo = {0};
    size_t nf = 0;
    bool freed = false;
    for (size_t i = 0; i < p->nf; i++) {
        prom_family *f = p->fv[i];
        size_t n = 0;
        for (size_t j = 0; j < f->n; j++) {
            prom_series *se = f->v[j];
            int64_t limit = p->max_age_ms;
            if (se->interval_ms > 0 && p->stale_intervals > 0) {
                int64_t by_interval = se->interval_ms * p->stale_intervals;
                if (by_interval < p->min_age_ms) by_interval = p->min_age_ms;
                if (by_interval < limit) limit = by_interval;
            }
            if (now - se->updated_ms > limit ||
                (wall_ms >= 0 && !series_owned(se, wall_ms, &memo))) {
                if (memo.target == se->target) memo.target = NULL; /* freed with se */
                series_free(p, se);
                freed = true;
            } else {
                f->v[n++] = se;
            }
        }
        f->n = n;
        if (n == 0)
            free_family(p, f);
        else
            p->fv[nf++] = f;
    }
    p->nf = nf;
    p->last_sweep_ms = now;
    if (freed) pub_map_free(&p->memos, series_memo_free); /* they may point at freed series */
}

/* s under seed 002's labels (names=psi_perf_monitor) in *cs, its labels in
 * cl (cap entries): s's own, then type and window (PSI), container_name and
 * pod_name. */
static const sample *compat_sample(const sample *s, const registry_compat_name *cn, sample *cs,
                                   sample_label *cl, size_t cap)
{
    const char *container = s->resource ? s->resource : "", *pod = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n_labels && n + 4 < cap; i++) {
        if (strcmp(s->labels[i].key, "container_id") == 0) container = s->labels[i].value;
        if (strcmp(s->labels[i].key, "pod_uid") == 0) pod = s->labels[i].value;
        cl[n++] = s->labels[i];
    }
    if (cn->type) {
        cl[n++] = (sample_label){"type", cn->type};
        cl[n++] = (sample_label){"window", cn->window};
    }
    cl[n++] = (sample_label){"container_name", container};
    if (pod) cl[n++] = (sample_label){"pod_name", pod};
    *cs = *s;
    cs->labels = cl;
    cs->n_labels = n;
    return cs;
}

/* ---- plugin functions ---- */

/* The batch's target and owner onto se; false on ENOMEM. */
static bool set_owner(prom_series *se, const sample_batch *b)
{
    se->owned = b->owned;
    se->owned_ctx = b->owned_ctx;
    if (!b->target) {
        free(se->target);
        se->target = NULL;
        return true;
    }
    if (se->target && !strcmp(se->target, b->target)) return true;
    free(se->target);
    se->target = strdup(b->target);
    return se->target != NULL;
}

static int prom_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    prom_pub *p = self;
    strbuf key, keys;
    inst_memo im;
    strbuf_init(&key);
    strbuf_init(&keys);
    strbuf_init(&im.url);
    strbuf_init(&im.inst);
    size_t skipped = 0;
    const char *skipped_name = NULL;
    int64_t now = loop_now_ms();
    pthread_mutex_lock(&p->mu);
    series_memo *memo = memo_of(p, b);
    for (size_t i = 0; i < b->n; i++) {
        const sample *s = &b->v[i];
        bool counter = s->type == SAMPLE_CUMULATIVE, scraped = is_scraped(s);
        registry_compat_name cn;
        sample cs;
        sample_label cl[MAX_LABELS];
        bool compat = !scraped && p->psi_names && registry_psi_perf_monitor_name(s->name, &cn);
        if (compat) {
            s = compat_sample(s, &cn, &cs, cl, MAX_LABELS);
            counter = false; /* the seed's families are gauges */
        }
        strbuf_reset(&key);
        if (scraped)
            strbuf_puts(&key, s->labels[0].value); /* a valid name: the parser checked it */
        else if (compat)
            strbuf_puts(&key, cn.family);
        else
            put_name(&key, p->prefix, s->name, counter);
        size_t nlen = key.len;
        if (scraped)
            put_scraped_labels(&key, &keys, &im, b, s);
        else
            put_labels(&key, &keys, b, s);
        if (key.failed || keys.failed) break;
        prom_series *se = memo ? memo->v[i] : NULL, *was = se;
        if (se && (strncmp(se->entry->key, key.buf, key.len) != 0 || se->entry->key[key.len]))
            se = NULL;
        if (!se) {
            pub_map_entry *e = pub_map_get(&p->series, key.buf, key.len);
            se = e ? e->value : NULL;
        }
        if (memo && se != was) memo->v[i] = se;
        if (!se) {
            prom_family *f = get_family(p, key.buf, nlen, s, counter, compat ? cn.help : NULL);
            if (f && f->n == 0 && scraped)
                f->untyped = !(counter && nlen >= 6 && !memcmp(key.buf + nlen - 6, "_total", 6));
            if (f && f->counter != counter) {
                skipped++;
                skipped_name = s->name;
                continue;
            }
            pub_map_entry *e = f ? pub_map_put(&p->series, key.buf, key.len) : NULL;
            se = e ? new_series(f, e, nlen) : NULL;
            if (memo) memo->v[i] = se;
            if (!se) {
                if (e) pub_map_del(&p->series, e);
                if (f && f->n == 0) {
                    /* keep fv consistent: a family always has series */
                    size_t at;
                    LOWER_BOUND(p->fv, p->nf, name, f->name, at);
                    memmove(p->fv + at, p->fv + at + 1, (p->nf - at - 1) * sizeof *p->fv);
                    p->nf--;
                    free_family(p, f);
                }
                key.failed = true;
                break;
            }
        } else if (se->updated_ms && now > se->updated_ms) {
            se->interval_ms = now - se->updated_ms;
        }
        se->value = s->value;
        se->updated_ms = now;
        if (!set_owner(se, b)) {
            key.failed = true;
            break;
        }
    }
    /* no ownership here: a worker may publish while cluster_stop runs */
    if (now - p->last_sweep_ms >= 10000) sweep(p, now, -1);
    pthread_mutex_unlock(&p->mu);
    bool oom = key.failed || keys.failed;
    strbuf_free(&key);
    strbuf_free(&keys);
    strbuf_free(&im.url);
    strbuf_free(&im.inst);
    if (oom) {
        snprintf(err, errlen, "out of memory storing series");
        return PUBLISH_FAIL;
    }
    if (skipped) {
        snprintf(err, errlen, "%zu samples skipped: type differs from the family's (e.g. %s)",
                 skipped, skipped_name);
        return PUBLISH_FAIL;
    }
    return PUBLISH_OK;
}

static void prom_render(void *self, strbuf *out)
{
    prom_pub *p = self;
    pthread_mutex_lock(&p->mu);
    sweep(p, loop_now_ms(), loop_wall_ms());
    for (size_t i = 0; i < p->nf; i++) {
        const prom_family *f = p->fv[i];
        strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                      f->untyped   ? "untyped"
                      : f->counter ? "counter"
                                   : "gauge");
        for (size_t j = 0; j < f->n; j++) {
            strbuf_puts(out, f->name);
            strbuf_puts(out, f->v[j]->labels);
            strbuf_putc(out, ' ');
            strbuf_put_double(out, f->v[j]->value);
            strbuf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&p->mu);
}

static void series_value_free(void *v)
{
    prom_series *se = v;
    free(se->target);
    free(se);
}

static void prom_close(void *self)
{
    prom_pub *p = self;
    for (size_t i = 0; i < p->nf; i++) {
        prom_family *f = p->fv[i];
        free(f->v);
        free(f->help);
        free(f);
    }
    free(p->fv);
    pub_map_free(&p->series, series_value_free);
    pub_map_free(&p->fams, NULL);
    pub_map_free(&p->memos, series_memo_free);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

const publisher_plugin pub_prometheus_plugin = {
    .scheme = "prometheus",
    .inline_publish = true,
    .open = prom_open,
    .publish = prom_publish,
    .render = prom_render,
    .close = prom_close,
};
