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
 * Series identity is the family name plus the rendered label set (stored
 * as family, target and label text: prom_store.h). A family keeps the type it was created with; a
 * sample of another type under the same name is skipped (and reported).
 *
 * The store (families sorted by name, series by target and label text, the targets
 * whose instance/resource/source text their series share) is prom_store.c.
 *
 * Publishing a target's next scrape: sample i of a batch is checked against
 * the series sample i of the target's previous batch stored (the memo),
 * comparing its raw name and labels with the stored key as they would
 * render, so an unchanged series costs no key, no hash and no lookup.
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
#include "agent/publisher.h"
#include "agent/publishers/common.h"
#include "agent/publishers/prom_store.h"
#include "registry/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 64

typedef struct prom_pub {
    pthread_mutex_t mu;
    prom_store st;
    char prefix[64];
    bool psi_names; /* ?names=psi_perf_monitor */
    prom_stale stale;
    int64_t last_sweep_ms;
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
    prom_store_init(&p->st);
    for (char *c = prefix; *c; c++)
        if (!(*c == '_' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
              (*c >= 'A' && *c <= 'Z')))
            *c = '_';
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix);
    p->psi_names = names[0] != 0;
    p->stale = (prom_stale){max_age * 1000, min_age * 1000, stale};
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

static int name_cmp(const char *x, size_t xn, const char *y, size_t yn)
{
    int c = memcmp(x, y, xn < yn ? xn : yn);
    return c ? c : (xn > yn) - (xn < yn);
}

static int lab_cmp(const void *a, const void *b, void *base)
{
    const lab *x = a, *y = b;
    const char *keys = base;
    return name_cmp(keys + x->key_off, x->key_len, keys + y->key_off, y->key_len);
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

static const char *const target_label[PROM_OWN_LABELS] = {"instance", "resource", "source"};

/* Whether a scraped label of s has the name of one of meterd's (which then
 * becomes exported_<name>). */
static bool clashes(const sample *s)
{
    for (size_t i = 1; i < s->n_labels; i++)
        for (size_t k = 0; k < PROM_OWN_LABELS; k++)
            if (strcmp(s->labels[i].key, target_label[k]) == 0) return true;
    return false;
}

/* s's scraped labels (not __name__) into keys (names sanitised) and v;
 * their count. */
static size_t scraped_labs(strbuf *keys, const sample *s, lab *v)
{
    size_t n = 0, max = s->n_labels < MAX_LABELS ? s->n_labels : MAX_LABELS;
    strbuf_reset(keys);
    for (size_t i = 1; i < max; i++) {
        v[n].key_off = keys->len;
        for (const char *c = s->labels[i].key; *c; c++)
            strbuf_putc(keys, name_char(*c, false) ? *c : '_');
        v[n].key_len = keys->len - v[n].key_off;
        v[n++].value = s->labels[i].value;
    }
    return n;
}

/* A scraped series' labels in full (a clash): its own (but __name__) as
 * scraped, then meterd's instance, resource and source, renamed
 * exported_<name> on a clash; sorted. */
static void put_scraped_labels(strbuf *out, strbuf *keys, const sample_batch *b, const sample *s)
{
    lab v[MAX_LABELS + PROM_OWN_LABELS];
    size_t n = scraped_labs(keys, s, v);
    strbuf inst;
    strbuf_init(&inst);
    prom_put_instance(&inst, s->resource ? s->resource : "");
    const char *own_value[PROM_OWN_LABELS] = {inst.buf && !inst.failed ? inst.buf : "",
                                              s->resource ? s->resource : "",
                                              b->source ? b->source : ""};
    for (size_t k = 0; k < PROM_OWN_LABELS; k++) {
        bool clash = false;
        for (size_t i = 1; i < s->n_labels && i < MAX_LABELS; i++)
            clash |= strcmp(s->labels[i].key, target_label[k]) == 0;
        v[n].key_off = keys->len;
        if (clash) strbuf_puts(keys, "exported_");
        strbuf_puts(keys, target_label[k]);
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
    strbuf_free(&inst);
}

/* A scraped series' own labels (no clash), sorted, without braces: a split
 * key's (prom_store.h), off[k] where target_label[k] goes. Returns their
 * length. */
static size_t put_own_labels(strbuf *out, strbuf *keys, const sample *s, size_t *off)
{
    lab v[MAX_LABELS];
    size_t n = scraped_labs(keys, s, v), start = out->len, k = 0;
    if (!keys->failed) {
        lab_sort(v, n, keys->buf);
        for (size_t i = 0; i < n; i++) {
            if (i && lab_cmp(&v[i - 1], &v[i], keys->buf) == 0) continue;
            if (out->len > start) strbuf_putc(out, ',');
            for (; k < PROM_OWN_LABELS && name_cmp(target_label[k], strlen(target_label[k]),
                                                   keys->buf + v[i].key_off, v[i].key_len) < 0;
                 k++)
                off[k] = out->len - start;
            strbuf_append(out, keys->buf + v[i].key_off, v[i].key_len);
            strbuf_putc(out, '=');
            strbuf_put_prom_label(out, v[i].value);
        }
    }
    for (; k < PROM_OWN_LABELS; k++)
        off[k] = out->len - start;
    return out->len - start;
}

/* Whether the scraped sample s, its labels as written, renders to se's own
 * labels (a split series), compared in place: no key is built. Rendering
 * them in the order written equals the stored text only when that order is
 * already sorted and free of duplicates (the stored text is), so a match
 * means that put_own_labels would write exactly this text. */
static bool matches_split(const prom_series *se, const sample *s)
{
    const char *k = se->labels, *end = k + se->off[PROM_OWN_LABELS];
    for (size_t i = 1; i < s->n_labels; i++) {
        if (i > 1 && (k == end || *k++ != ',')) return false;
        for (const char *c = s->labels[i].key; *c; c++, k++)
            if (k == end || *k != (name_char(*c, false) ? *c : '_')) return false;
        if (end - k < 2 || k[0] != '=' || k[1] != '"') return false;
        k += 2;
        for (const char *c = s->labels[i].value; *c; c++) {
            char esc = *c == '\\' ? '\\' : *c == '"' ? '"' : *c == '\n' ? 'n' : 0;
            if (esc) {
                if (end - k < 2 || k[0] != '\\' || k[1] != esc) return false;
                k += 2;
            } else if (k == end || *k++ != *c) {
                return false;
            }
        }
        if (k == end || *k++ != '"') return false;
    }
    return k == end;
}

/* A split series' labels as rendered: its own merged with its target's. */
static void put_split_labels(strbuf *out, const prom_series *se)
{
    const prom_tgt *t = se->tgt;
    const char *own = se->labels;
    size_t len = se->off[PROM_OWN_LABELS], at = 0;
    bool first = true;
    strbuf_putc(out, '{');
    for (size_t k = 0; k <= PROM_OWN_LABELS; k++) {
        size_t end = k < PROM_OWN_LABELS ? se->off[k] : len;
        if (end > at) {
            if (!first) strbuf_putc(out, ',');
            strbuf_append(out, own + at, end - at - (end < len)); /* not the ',' before end */
            first = false;
        }
        at = end;
        if (k < PROM_OWN_LABELS) {
            if (!first) strbuf_putc(out, ',');
            strbuf_append(out, t->labels + t->lab[k], t->lab[k + 1] - t->lab[k]);
            first = false;
        }
    }
    strbuf_putc(out, '}');
}

/* ---- the HELP text of a new family ---- */

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

/* help_text: the family's HELP, NULL for meterd's own from the sample.
 * malloc'd, NULL on ENOMEM. */
static char *make_help(const sample *s, bool counter, const char *help_text)
{
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
    if (help.failed) strbuf_free(&help);
    return help.buf;
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

/* What publish keeps from one sample to the next: the target last seen
 * (a batch is mostly one target's) and the last scraped-name verdict (a
 * family's series follow each other, sharing their name strings). */
typedef struct pub_cursor {
    prom_tgt *t;
    const char *resource;
    const char *name, *name0;
    bool scraped;
    /* the last family whose name was checked equal to a sample's name0 */
    const prom_family *fam;
    const char *fam_name0;
} pub_cursor;

static prom_tgt *target_of(prom_pub *p, pub_cursor *c, const sample_batch *b, const sample *s)
{
    const char *r = s->resource ? s->resource : "";
    if (c->t && (c->resource == r || strcmp(c->resource, r) == 0)) return c->t;
    prom_tgt *t = prom_tgt_get(&p->st, b->source ? b->source : "", r);
    if (!t || !prom_tgt_set_owner(t, b)) return NULL;
    c->t = t;
    c->resource = r;
    return t;
}

/* Whether f is the family of the scraped sample s (its __name__ label). */
static bool family_is(pub_cursor *c, const prom_family *f, const sample *s)
{
    const char *n0 = s->labels[0].value;
    if (c->fam == f && c->fam_name0 == n0) return true;
    if (strcmp(f->name, n0) != 0) return false;
    c->fam = f;
    c->fam_name0 = n0;
    return true;
}

static bool scraped_of(pub_cursor *c, const sample *s)
{
    const char *n0 = s->n_labels ? s->labels[0].value : NULL;
    if (c->name != s->name || c->name0 != n0) {
        c->name = s->name;
        c->name0 = n0;
        c->scraped = is_scraped(s);
    }
    return c->scraped;
}

/* s's family name, then its label text (prom_store.h: full or split), into
 * key (failed on ENOMEM); *nlen the name's length, off the split offsets
 * (off[3] PROM_FULL for a full text). */
static void make_key(prom_pub *p, strbuf *key, strbuf *keys, const sample_batch *b, const sample *s,
                     bool scraped, const char *family, bool counter, size_t *nlen, uint16_t *off)
{
    strbuf_reset(key);
    if (scraped)
        strbuf_puts(key, s->labels[0].value); /* a valid name: the parser checked it */
    else if (family)
        strbuf_puts(key, family);
    else
        put_name(key, p->prefix, s->name, counter);
    *nlen = key->len;
    off[PROM_OWN_LABELS] = PROM_FULL;
    if (scraped && !clashes(s)) {
        size_t o[PROM_OWN_LABELS];
        size_t len = put_own_labels(key, keys, s, o);
        if (len < PROM_FULL) {
            for (size_t k = 0; k < PROM_OWN_LABELS; k++)
                off[k] = (uint16_t)o[k];
            off[PROM_OWN_LABELS] = (uint16_t)len;
            return;
        }
        key->len = *nlen; /* too long for a split text's offsets: in full */
    }
    if (scraped)
        put_scraped_labels(key, keys, b, s);
    else
        put_labels(key, keys, b, s);
}

/* The stored series of key (name + labels as make_key wrote them) of
 * target t, else a new one; was: the memo's guess. NULL when skipped
 * (*skip: the type differs from the family's) or on ENOMEM. */
static prom_series *find_or_add(prom_pub *p, const strbuf *key, size_t nlen, const uint16_t *off,
                                prom_tgt *t, prom_series *was, const sample *s, bool scraped,
                                bool counter, const char *help_text, bool *skip)
{
    const char *labels = key->buf + nlen;
    size_t len = key->len - nlen;
    prom_family *f = NULL;
    if (was && was->fam->nlen == nlen && !memcmp(was->fam->name, key->buf, nlen)) {
        f = was->fam;
        if (was->tgt == t &&
            (was->off[PROM_OWN_LABELS] == PROM_FULL) == (off[PROM_OWN_LABELS] == PROM_FULL) &&
            !strncmp(was->labels, labels, len) && !was->labels[len])
            return was;
    } else {
        pub_map_entry *fe = pub_map_get(&p->st.fams, key->buf, nlen);
        f = fe ? fe->value : NULL;
    }
    prom_series *se = f ? prom_series_find(&p->st, f, t, labels, len) : NULL;
    if (se) return se;
    if (!f) {
        char *help = make_help(s, counter, help_text);
        f = help ? prom_family_get(&p->st, key->buf, nlen, &help, counter) : NULL;
        free(help);
        if (!f) return NULL;
        if (scraped)
            f->untyped = !(counter && nlen >= 6 && !memcmp(key->buf + nlen - 6, "_total", 6));
    }
    if (f->counter != counter) {
        *skip = true;
        return NULL;
    }
    return prom_series_new(&p->st, f, t, labels, len, off);
}

static int prom_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    prom_pub *p = self;
    strbuf key, keys;
    strbuf_init(&key);
    strbuf_init(&keys);
    size_t skipped = 0;
    const char *skipped_name = NULL;
    bool oom = false;
    int64_t now = loop_now_ms();
    pub_cursor c = {0};
    pthread_mutex_lock(&p->mu);
    prom_tgt *mt = b->n ? target_of(p, &c, b, &b->v[0]) : NULL;
    prom_series **memo = mt && prom_tgt_memo(mt, b->n) ? mt->memo : NULL;
    oom = b->n && !mt;
    for (size_t i = 0; i < b->n && !oom; i++) {
        const sample *s = &b->v[i];
        prom_tgt *t = target_of(p, &c, b, s);
        if (!t) {
            oom = true;
            break;
        }
        bool counter = s->type == SAMPLE_CUMULATIVE, scraped = scraped_of(&c, s);
        prom_series *se = memo ? memo[i] : NULL;
        registry_compat_name cn;
        sample cs; /* s under seed 002's names: s may point here to the end */
        sample_label cl[MAX_LABELS];
        if (!(se && scraped && se->tgt == t && se->off[PROM_OWN_LABELS] != PROM_FULL &&
              se->fam->counter == counter && family_is(&c, se->fam, s) && matches_split(se, s))) {
            /* not the memo's series as it stands: the key, then the memo's
             * series if it has that key, else the store's */
            bool compat = !scraped && p->psi_names && registry_psi_perf_monitor_name(s->name, &cn);
            if (compat) {
                s = compat_sample(s, &cn, &cs, cl, MAX_LABELS);
                counter = false; /* the seed's families are gauges */
            }
            size_t nlen;
            uint16_t off[PROM_OWN_LABELS + 1];
            make_key(p, &key, &keys, b, s, scraped, compat ? cn.family : NULL, counter, &nlen, off);
            if (key.failed || keys.failed) {
                oom = true;
                break;
            }
            bool skip = false;
            se = find_or_add(p, &key, nlen, off, t, se, s, scraped, counter,
                             compat ? cn.help : NULL, &skip);
            if (memo) memo[i] = se;
            if (skip) {
                skipped++;
                skipped_name = s->name;
                continue;
            }
            if (!se) {
                oom = true;
                break;
            }
        }
        if (se->updated_ms && now > se->updated_ms) {
            int64_t d = now - se->updated_ms;
            se->interval_ms = d < INT32_MAX ? (int32_t)d : INT32_MAX;
        }
        se->value = s->value;
        se->updated_ms = now;
    }
    /* no ownership here: a worker may publish while cluster_stop runs */
    if (now - p->last_sweep_ms >= 10000) {
        prom_store_sweep(&p->st, &p->stale, now, -1);
        p->last_sweep_ms = now;
    }
    pthread_mutex_unlock(&p->mu);
    strbuf_free(&key);
    strbuf_free(&keys);
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
    prom_store_sweep(&p->st, &p->stale, loop_now_ms(), loop_wall_ms());
    for (size_t i = 0; i < p->st.nf; i++) {
        const prom_family *f = p->st.fv[i];
        strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                      f->untyped   ? "untyped"
                      : f->counter ? "counter"
                                   : "gauge");
        for (size_t j = 0; j < f->n; j++) {
            const prom_series *se = f->v[j];
            strbuf_append(out, f->name, f->nlen);
            if (se->off[PROM_OWN_LABELS] == PROM_FULL)
                strbuf_puts(out, se->labels);
            else
                put_split_labels(out, se);
            strbuf_putc(out, ' ');
            strbuf_put_double(out, se->value);
            strbuf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&p->mu);
}

static void prom_close(void *self)
{
    prom_pub *p = self;
    prom_store_free(&p->st);
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
