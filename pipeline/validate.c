/* validate.c -- the node tree to a `pipeline`, with Ceilometer's rules.
 *
 * The rules are Ceilometer's (ceilometer/agent.py Source, polling/manager.py
 * PollingSource, pipeline/base.py Sink and PipelineManager), each error
 * message quoting Ceilometer's own wording where it has one so operators can
 * search for it:
 *   - `sources` required, a list; each source a mapping with `name`;
 *   - `meters` required and non-empty ("No meters specified"); included and
 *     excluded meters never mixed (ours: unless each exclusion narrows an
 *     included pattern, 'scrape.*' with '!scrape.go_*'); '*' never with included meters;
 *   - `interval` an integer > 0 (a missing one defaults to 600 s with a
 *     warning, as Ceilometer before Rocky did; newer releases require it);
 *   - `resources`, `discovery` lists (null means empty);
 *   - source and sink names unique; a source's sinks must exist
 *     ("Dangling sink"); a sink needs publishers ("No publisher specified").
 * Our additions: a source with no `sinks` goes to the sink named "default",
 * or to a built-in default sink (prometheus://) when the file defines none;
 * duplicate mapping keys are errors (PyYAML silently keeps the last one, a
 * classic source of "my change did nothing"); unknown keys and transformers
 * are warnings (Ceilometer ignores them), except keys starting with "x-"
 * (extension fields, a place to keep anchors), which are ignored silently.
 * A source's `parameters:` (our extension) are read by params.c.
 * Names, meter patterns, resources and discovery entries are non-empty text
 * of at most PL_MAX_TEXT bytes without control characters (C0, DEL, C1):
 * they are copied into every sample and log line, so a multi-megabyte name
 * would cost that much per scrape.
 *
 * It reports everything it can in one pass: a bad source does not stop the
 * next one from being checked. At the end the diagnostics are sorted by
 * position, so the first one printed is the first problem in the file.
 */
#include "pipeline/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *file;
    const pl_limits *lim;
    pipeline_diags *d;
    pipeline *p;
    bool oom;
    char q1[PL_QUOTE_MAX * 4 + 8], q2[PL_QUOTE_MAX * 4 + 8];
} vctx;

/* what each source keeps from the tree for the cross checks */
typedef struct {
    const pl_node *sinks_node; /* the `sinks:` list, or NULL */
    bool ok;                   /* parsed without error */
} source_aux;

static const char *const source_keys[] = {"name",          "interval", "meters",     "resources",
                                          "discovery",     "sinks",    "parameters", "file_sd",
                                          "target_labels", NULL};
static const char *const sink_keys[] = {"name", "publishers", "transformers", NULL};
/* "version": the canonical form's own (an expanded file_sd is pushed as it) */
static const char *const top_keys[] = {"sources", "sinks", "version", NULL};

#define ERR(v, n, ...) pl_diag((v)->d, (v)->file, PIPELINE_ERROR, (n)->line, (n)->col, __VA_ARGS__)
#define WARN(v, n, ...)                                                                            \
    pl_diag((v)->d, (v)->file, PIPELINE_WARNING, (n)->line, (n)->col, __VA_ARGS__)

static const char *q1(vctx *v, const char *s)
{
    return pl_quote(s, strlen(s), v->q1, sizeof v->q1);
}

static const char *q2(vctx *v, const char *s)
{
    return pl_quote(s, strlen(s), v->q2, sizeof v->q2);
}

bool pl_is_null(const pl_node *n)
{
    if (n == NULL) return true;
    if (n->kind != PL_SCALAR || !n->plain) return false;
    return n->len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
           strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

static const pl_node *map_get(const pl_node *map, const char *key)
{
    for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
        const pl_node *k = map->kids[i];
        if (k->kind == PL_SCALAR && strcmp(k->value, key) == 0) return map->kids[i + 1];
    }
    return NULL;
}

/* Keys must be scalars, unique and known (unknown: warning). */
static bool check_keys(vctx *v, const pl_node *map, const char *const *allowed, const char *where)
{
    bool ok = true;
    for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
        const pl_node *k = map->kids[i];
        if (k->kind != PL_SCALAR) {
            ERR(v, k, "expected a plain key in %s, found %s", where, pl_kind_name(k));
            ok = false;
            continue;
        }
        if (strlen(k->value) != k->len) {
            ERR(v, k, "a key in %s contains a NUL character", where);
            ok = false;
            continue;
        }
        if (k->plain && strcmp(k->value, "<<") == 0) {
            ERR(v, k, "merge keys ('<<') are not supported in %s: write the keys out", where);
            ok = false;
            continue;
        }
        for (size_t j = 0; j < i; j += 2) {
            const pl_node *prev = map->kids[j];
            if (prev->kind == PL_SCALAR && strcmp(prev->value, k->value) == 0) {
                ERR(v, k, "duplicate key '%s' in %s (first at line %d, column %d)", q1(v, k->value),
                    where, prev->line, prev->col);
                ok = false;
                break;
            }
        }
        /* "x-" keys are extension fields (the docker-compose convention), a home for anchors */
        bool known = strncmp(k->value, "x-", 2) == 0;
        for (size_t a = 0; allowed[a]; a++)
            if (strcmp(allowed[a], k->value) == 0) known = true;
        if (!known) {
            char list[128] = "";
            for (size_t a = 0; allowed[a]; a++) {
                strncat(list, a ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, allowed[a], sizeof list - strlen(list) - 1);
            }
            WARN(v, k, "unknown key '%s' in %s is ignored (expected one of: %s)", q1(v, k->value),
                 where, list);
        }
    }
    return ok;
}

/* C0 controls, DEL, and C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F;
 * libyaml has checked the UTF-8). */
bool pl_has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) return true;
        if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

/* A scalar as a fresh C string: non-null, no NUL, at most max bytes and, when
 * `text` (not a URL, which has a grammar of its own), no control characters
 * (names end up in logs, ZooKeeper nodes, samples and tables). */
static char *text_of(vctx *v, const pl_node *n, const char *what, size_t max, bool text)
{
    if (n->kind != PL_SCALAR || pl_is_null(n)) {
        ERR(v, n, "expected %s, found %s", what,
            pl_is_null(n) ? "an empty value" : pl_kind_name(n));
        return NULL;
    }
    if (strlen(n->value) != n->len) {
        ERR(v, n, "%s contains a NUL character", what);
        return NULL;
    }
    if (n->len == 0) {
        ERR(v, n, "expected %s, found an empty string", what);
        return NULL;
    }
    if (n->len > max) {
        ERR(v, n, "%s is %zu bytes long, more than the limit of %zu bytes ('%s')", what, n->len,
            max, q1(v, n->value));
        return NULL;
    }
    if (text && pl_has_control(n->value, n->len)) {
        ERR(v, n, "%s '%s' contains a control character", what, q1(v, n->value));
        return NULL;
    }
    char *s = strdup(n->value);
    if (s == NULL) v->oom = true;
    return s;
}

/* A list of strings. A null value is an empty list when null_ok. */
static bool string_list(vctx *v, const pl_node *n, const char *key, const char *list_what,
                        const char *item_what, bool null_ok, char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (pl_is_null(n)) {
        if (null_ok) return true;
        ERR(v, n, "expected a list of %s for '%s', found an empty value", list_what, key);
        return false;
    }
    if (n->kind != PL_SEQ) {
        ERR(v, n, "expected a list of %s for '%s', found %s", list_what, key, pl_kind_name(n));
        return false;
    }
    *out = calloc(n->n_kids ? n->n_kids : 1, sizeof **out);
    if (*out == NULL) {
        v->oom = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n->n_kids; i++) {
        char *s = text_of(v, n->kids[i], item_what, PL_MAX_TEXT, true);
        if (s == NULL) {
            ok = false;
            continue;
        }
        (*out)[(*nout)++] = s;
    }
    return ok;
}

/* Each resource against the pollsters the source selects (lim->check_resource). */
static bool check_resources(vctx *v, const pl_node *res, const pipeline_source *s)
{
    if (!v->lim->check_resource) return true;
    bool ok = true;
    for (size_t i = 0; i < res->n_kids; i++) {
        const pl_node *k = res->kids[i];
        if (k->kind != PL_SCALAR || pl_is_null(k)) continue; /* string_list said so */
        char err[512];
        if (v->lim->check_resource(v->lim->check_param_ctx, s, k->value, err, sizeof err) == 0)
            continue;
        ERR(v, k, "source '%s': %s", q1(v, s->name ? s->name : "?"), err);
        ok = false;
    }
    return ok;
}

static bool parse_interval(vctx *v, const pl_node *n, int64_t *out)
{
    static const char expect[] = "expected a whole number of seconds > 0 for 'interval'";
    if (n->kind != PL_SCALAR || pl_is_null(n)) {
        ERR(v, n, "%s, found %s", expect, pl_is_null(n) ? "an empty value" : pl_kind_name(n));
        return false;
    }
    /* Ceilometer does int(value): a quoted "60" is 60 too, surrounding blanks allowed. */
    const char *s = n->value;
    while (*s == ' ')
        s++;
    bool neg = false;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    const char *digits = s;
    int64_t val = 0;
    bool big = false;
    while (*s >= '0' && *s <= '9') {
        if (val > PIPELINE_MAX_INTERVAL)
            big = true;
        else
            val = val * 10 + (*s - '0');
        s++;
    }
    const char *end = s;
    while (*s == ' ')
        s++;
    if (end == digits || *s != '\0' || strlen(n->value) != n->len) {
        ERR(v, n, "%s, found '%s' (Ceilometer: 'Invalid interval value')", expect, q1(v, n->value));
        return false;
    }
    if (n->plain && digits[0] == '0' && end - digits > 1) {
        ERR(v, n, "interval '%s' has a leading zero, which YAML 1.1 reads as octal; %s",
            q1(v, n->value), "write it without the zero");
        return false;
    }
    if (neg && val != 0) val = -val;
    if (val <= 0) {
        ERR(v, n,
            "interval must be > 0 seconds, found %s (Ceilometer: 'Interval value should > 0')",
            q1(v, n->value));
        return false;
    }
    if (big || val > PIPELINE_MAX_INTERVAL) {
        ERR(v, n, "interval %s is longer than the maximum of %d seconds (one year)",
            q1(v, n->value), PIPELINE_MAX_INTERVAL);
        return false;
    }
    *out = val;
    return true;
}

/* Ceilometer's check_source_filtering, with positions. */
static bool check_meters(vctx *v, const pl_node *list, const char *src)
{
    const pl_node *first_in = NULL, *first_ex = NULL, *star = NULL;
    char q3[PL_QUOTE_MAX * 4 + 8];
    bool ok = true;
    for (size_t i = 0; i < list->n_kids; i++) {
        const pl_node *m = list->kids[i];
        if (m->kind != PL_SCALAR || m->len == 0) continue; /* already reported */
        if (m->value[0] == '!') {
            if (m->value[1] == '\0') {
                ERR(v, m, "source '%s': '!' alone excludes nothing; expected '!meter_name'",
                    q1(v, src));
                ok = false;
            }
            if (!first_ex) first_ex = m;
        } else if (m->value[0] != '*') {
            if (!first_in) first_in = m;
        }
        if (strcmp(m->value, "*") == 0 && !star) star = m;
        if (strcmp(m->value, "!*") == 0)
            WARN(v, m, "source '%s' excludes every meter ('!*'): it polls nothing", q1(v, src));
    }
    /* our extension: an exclusion that only narrows an included pattern
     * ('scrape.*' with '!scrape.go_*', a family of scraped series) is no mix */
    if (first_in && first_ex) {
        first_ex = NULL;
        for (size_t i = 0; i < list->n_kids && !first_ex; i++) {
            const pl_node *m = list->kids[i];
            if (m->kind != PL_SCALAR || m->len < 2 || m->value[0] != '!') continue;
            bool narrows = false;
            for (size_t k = 0; k < list->n_kids && !narrows; k++) {
                const pl_node *in = list->kids[k];
                narrows = in->kind == PL_SCALAR && in->len && in->value[0] != '!' &&
                          in->value[0] != '*' && pipeline_glob_match(in->value, m->value + 1);
            }
            if (!narrows) first_ex = m;
        }
    }
    if (first_in && first_ex) {
        const pl_node *at = first_in->line > first_ex->line || (first_in->line == first_ex->line &&
                                                                first_in->col > first_ex->col)
                                ? first_in
                                : first_ex;
        ERR(v, at,
            "source '%s' mixes included ('%s') and excluded ('%s') meters; use only included "
            "meters, or '*' and exclusions, or exclusions that narrow an included pattern "
            "('x.*' with '!x.y*') (Ceilometer: 'Both included and excluded meters specified')",
            q1(v, src), q2(v, first_in->value),
            pl_quote(first_ex->value, first_ex->len, q3, sizeof q3));
        ok = false;
    }
    if (star && first_in) {
        const pl_node *at = first_in->line > star->line ||
                                    (first_in->line == star->line && first_in->col > star->col)
                                ? first_in
                                : star;
        ERR(v, at,
            "source '%s' lists the included meter '%s' together with the wildcard '*', which "
            "already selects it (Ceilometer: 'Included meters specified with wildcard')",
            q1(v, src), q2(v, first_in->value));
        ok = false;
    }
    return ok;
}

static void check_known_meters(vctx *v, const pl_node *list, const char *src)
{
    if (v->lim->n_known == 0) return;
    for (size_t i = 0; i < list->n_kids; i++) {
        const pl_node *m = list->kids[i];
        if (m->kind != PL_SCALAR || m->len == 0 || m->len > PL_MAX_TEXT) continue; /* reported */
        const char *pat = m->value[0] == '!' ? m->value + 1 : m->value;
        if (strcmp(pat, "*") == 0 || *pat == '\0') continue;
        bool hit = false;
        for (size_t k = 0; k < v->lim->n_known && !hit; k++)
            hit = pipeline_glob_match(pat, v->lim->known[k]) ||
                  pl_family_covers(v->lim->known[k], pat);
        if (hit) continue;
        if (pl_has_glob(pat))
            WARN(v, m, "source '%s': pattern '%s' matches no meter this agent knows", q1(v, src),
                 q2(v, m->value));
        else
            WARN(v, m, "source '%s': unknown meter '%s' (no pollster provides it)", q1(v, src),
                 q2(v, m->value));
    }
}

static bool parse_source(vctx *v, const pl_node *n, pipeline_source *s, source_aux *aux)
{
    s->line = n->line;
    s->column = n->col;
    if (n->kind != PL_MAP) {
        ERR(v, n, "expected a source (a mapping with name, interval, meters...), found %s",
            pl_kind_name(n));
        return false;
    }
    bool ok = check_keys(v, n, source_keys, "a source");
    const pl_node *name = map_get(n, "name");
    if (name == NULL) {
        ERR(v, n, "source has no 'name' (Ceilometer: 'Required field name not specified')");
        ok = false;
    } else if ((s->name = text_of(v, name, "a source name", PL_MAX_TEXT, true)) == NULL) {
        ok = false;
    }
    const char *label = s->name ? s->name : "?";

    const pl_node *interval = map_get(n, "interval");
    s->interval = PIPELINE_DEFAULT_INTERVAL;
    if (interval == NULL)
        WARN(v, n,
             "source '%s' has no 'interval': polling every %d s (newer Ceilometer requires it)",
             q1(v, label), PIPELINE_DEFAULT_INTERVAL);
    else if (!parse_interval(v, interval, &s->interval))
        ok = false;

    const pl_node *meters = map_get(n, "meters");
    if (meters == NULL) {
        ERR(v, n, "source '%s' has no 'meters' (Ceilometer: 'Missing meters value')", q1(v, label));
        ok = false;
    } else if (pl_is_null(meters) || (meters->kind == PL_SEQ && meters->n_kids == 0)) {
        ERR(v, meters,
            "source '%s': expected a non-empty list of meters (Ceilometer: 'No meters "
            "specified')",
            q1(v, label));
        ok = false;
    } else {
        if (!string_list(v, meters, "meters", "meter names", "a meter name", false, &s->meters,
                         &s->n_meters))
            ok = false;
        if (meters->kind == PL_SEQ) {
            if (!check_meters(v, meters, label)) ok = false;
            check_known_meters(v, meters, label);
        }
    }

    const pl_node *res = map_get(n, "resources");
    if (res && !string_list(v, res, "resources", "resource URLs", "a resource URL", true,
                            &s->resources, &s->n_resources)) {
        ok = false;
    }
    const pl_node *disc = map_get(n, "discovery");
    if (disc && !string_list(v, disc, "discovery", "discovery names", "a discovery name", true,
                             &s->discovery, &s->n_discovery)) {
        ok = false;
    }
    const pl_node *sinks = map_get(n, "sinks");
    if (sinks &&
        !string_list(v, sinks, "sinks", "sink names", "a sink name", true, &s->sinks, &s->n_sinks))
        ok = false;
    aux->sinks_node = sinks && sinks->kind == PL_SEQ ? sinks : NULL;
    const pl_node *params = map_get(n, "parameters");
    /* checked last: a pollster's schema applies to the meters the source selects */
    if (params && !pl_parse_params(params, v->file, v->lim, s, v->d, &v->oom)) ok = false;
    /* after the meters and parameters: the pollsters they select judge a resource */
    if (res && res->kind == PL_SEQ && !check_resources(v, res, s)) ok = false;
    const pl_node *sd = map_get(n, "file_sd");
    if (sd && !string_list(v, sd, "file_sd", "file_sd file paths", "a file path", true, &s->file_sd,
                           &s->n_file_sd))
        ok = false;
    const pl_node *tl = map_get(n, "target_labels");
    if (tl && !pl_parse_target_labels(tl, v->file, s, v->d, &v->oom)) ok = false;
    aux->ok = ok;
    return ok;
}

static bool parse_sink(vctx *v, const pl_node *n, pipeline_sink *k)
{
    k->line = n->line;
    k->column = n->col;
    if (n->kind != PL_MAP) {
        ERR(v, n, "expected a sink (a mapping with name and publishers), found %s",
            pl_kind_name(n));
        return false;
    }
    bool ok = check_keys(v, n, sink_keys, "a sink");
    const pl_node *name = map_get(n, "name");
    if (name == NULL) {
        ERR(v, n, "sink has no 'name' (Ceilometer: 'Required field name not specified')");
        ok = false;
    } else if ((k->name = text_of(v, name, "a sink name", PL_MAX_TEXT, true)) == NULL) {
        ok = false;
    }
    const char *label = k->name ? k->name : "?";
    const pl_node *tr = map_get(n, "transformers");
    if (tr && !pl_is_null(tr) && !(tr->kind == PL_SEQ && tr->n_kids == 0))
        WARN(v, tr,
             "sink '%s': transformers are not supported by meterd and are ignored "
             "(Ceilometer deprecated them too)",
             q1(v, label));

    const pl_node *pubs = map_get(n, "publishers");
    if (pubs == NULL || pl_is_null(pubs) || (pubs->kind == PL_SEQ && pubs->n_kids == 0)) {
        ERR(v, pubs ? pubs : n,
            "sink '%s' needs a non-empty list of 'publishers' (Ceilometer: 'No publisher "
            "specified')",
            q1(v, label));
        return false;
    }
    if (pubs->kind != PL_SEQ) {
        ERR(v, pubs, "expected a list of publisher URLs for 'publishers', found %s",
            pl_kind_name(pubs));
        return false;
    }
    k->publishers = calloc(pubs->n_kids, sizeof *k->publishers);
    if (k->publishers == NULL) {
        v->oom = true;
        return false;
    }
    for (size_t i = 0; i < pubs->n_kids; i++) {
        const pl_node *u = pubs->kids[i];
        char *url = text_of(v, u, "a publisher URL", PL_MAX_URL, false);
        if (url == NULL) {
            ok = false;
            continue;
        }
        pipeline_publisher *pub = &k->publishers[k->n_publishers];
        if (pl_publisher_parse(url, u->line, u->col, v->file, v->lim, pub, v->d) != 0) {
            pl_publisher_clear(pub);
            ok = false;
        } else {
            k->n_publishers++;
        }
        free(url);
    }
    return ok;
}

static const char *sink_name(vctx *v, size_t i);

/* Names sorted with their positions in the file order: duplicate detection
 * and sink lookup in O(n log n), so 10,000 sources cost milliseconds. */
typedef struct {
    const char *name;
    size_t idx;
} name_ix;

static int name_ix_cmp(const void *a, const void *b)
{
    const name_ix *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Sorted index of the non-NULL names; *n_out entries. NULL on OOM. */
static name_ix *name_index(vctx *v, size_t n, const char *(*name_at)(vctx *, size_t), size_t *n_out)
{
    name_ix *ix = calloc(n + 1, sizeof *ix);
    size_t m = 0;
    if (ix == NULL) {
        v->oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (name_at(v, i) != NULL) ix[m++] = (name_ix){name_at(v, i), i};
    qsort(ix, m, sizeof *ix, name_ix_cmp);
    *n_out = m;
    return ix;
}

static int find_sink(const name_ix *ix, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix[mid].name, name);
        if (c == 0) return (int)ix[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static bool add_builtin_sink(vctx *v)
{
    pipeline_sink *k = &v->p->sinks[v->p->n_sinks];
    memset(k, 0, sizeof *k);
    k->builtin = true;
    k->name = strdup(PIPELINE_DEFAULT_SINK);
    k->publishers = calloc(1, sizeof *k->publishers);
    if (k->name == NULL || k->publishers == NULL) {
        free(k->name);
        free(k->publishers);
        v->oom = true;
        return false;
    }
    v->p->n_sinks++;
    if (pl_publisher_parse(PIPELINE_DEFAULT_PUBLISHER, 0, 0, v->file, v->lim, &k->publishers[0],
                           NULL) != 0)
        return false;
    k->n_publishers = 1;
    return true;
}

/* Sources -> sinks: references resolved, default sink applied, unused sinks flagged. */
static bool link_sinks(vctx *v, source_aux *aux)
{
    pipeline *p = v->p;
    bool ok = true, need_builtin = false;
    size_t n_ix = 0;
    name_ix *ix = name_index(v, p->n_sinks, sink_name, &n_ix);
    bool *used = calloc(p->n_sinks + 1, sizeof *used);
    if (ix == NULL || used == NULL) {
        free(ix);
        free(used);
        v->oom = true;
        return false;
    }
    for (size_t i = 0; i < p->n_sources; i++) {
        pipeline_source *s = &p->sources[i];
        if (s->n_sinks == 0) {
            free(s->sinks);
            s->sinks = calloc(1, sizeof *s->sinks);
            if (s->sinks == NULL || (s->sinks[0] = strdup(PIPELINE_DEFAULT_SINK)) == NULL) {
                v->oom = true;
                ok = false;
                break;
            }
            s->n_sinks = 1;
        }
        for (size_t j = 0; j < s->n_sinks; j++) {
            int at = find_sink(ix, n_ix, s->sinks[j]);
            if (at >= 0) {
                used[at] = true;
            } else if (strcmp(s->sinks[j], PIPELINE_DEFAULT_SINK) == 0) {
                need_builtin = true;
            } else {
                /* point at the reference itself when the tree still has it */
                const pl_node *ref = NULL;
                for (size_t r = 0; aux[i].sinks_node && r < aux[i].sinks_node->n_kids; r++) {
                    const pl_node *k = aux[i].sinks_node->kids[r];
                    if (k->kind == PL_SCALAR && strcmp(k->value, s->sinks[j]) == 0) ref = k;
                }
                pl_diag(v->d, v->file, PIPELINE_ERROR, ref ? ref->line : s->line,
                        ref ? ref->col : s->column,
                        "source '%s' names sink '%s', which 'sinks:' does not define "
                        "(Ceilometer: 'Dangling sink')",
                        q1(v, s->name ? s->name : "?"), q2(v, s->sinks[j]));
                ok = false;
            }
        }
    }
    for (size_t i = 0; i < p->n_sinks; i++)
        if (!used[i] && p->sinks[i].name)
            pl_diag(v->d, v->file, PIPELINE_WARNING, p->sinks[i].line, p->sinks[i].column,
                    "sink '%s' is not used by any source", q1(v, p->sinks[i].name));
    free(used);
    free(ix);
    if (ok && need_builtin && !add_builtin_sink(v)) ok = false;
    return ok;
}

static bool check_unique(vctx *v, const char *what, size_t n,
                         const char *(*name_at)(vctx *, size_t),
                         void (*pos_at)(vctx *, size_t, int *, int *))
{
    size_t m = 0;
    name_ix *ix = name_index(v, n, name_at, &m);
    if (ix == NULL) return false;
    bool ok = true;
    for (size_t i = 1, first = 0; i < m; i++) {
        if (strcmp(ix[i].name, ix[first].name) != 0) {
            first = i; /* the lowest index of a run of equal names is the original */
            continue;
        }
        int l1, c1, l2, c2;
        pos_at(v, ix[first].idx, &l1, &c1);
        pos_at(v, ix[i].idx, &l2, &c2);
        pl_diag(v->d, v->file, PIPELINE_ERROR, l2, c2,
                "duplicate %s name '%s' (first at line %d, column %d) (Ceilometer: "
                "'Duplicated %s names')",
                what, q1(v, ix[i].name), l1, c1, what);
        ok = false;
    }
    free(ix);
    return ok;
}

static const char *src_name(vctx *v, size_t i)
{
    return v->p->sources[i].name;
}
static void src_pos(vctx *v, size_t i, int *l, int *c)
{
    *l = v->p->sources[i].line;
    *c = v->p->sources[i].column;
}
static const char *sink_name(vctx *v, size_t i)
{
    return v->p->sinks[i].name;
}
static void sink_pos(vctx *v, size_t i, int *l, int *c)
{
    *l = v->p->sinks[i].line;
    *c = v->p->sinks[i].column;
}

static int diag_cmp(const void *a, const void *b)
{
    const pipeline_diag *x = a, *y = b;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->column != y->column) return x->column < y->column ? -1 : 1;
    /* errors before warnings at one position; then the order found (stable via pointer
     * order is not guaranteed by qsort, so fall back on message text) */
    if (x->severity != y->severity) return x->severity == PIPELINE_ERROR ? -1 : 1;
    return strcmp(x->message, y->message);
}

static bool validate_root(vctx *v, const pl_node *root)
{
    if (root == NULL || pl_is_null(root)) {
        pl_diag(v->d, v->file, PIPELINE_ERROR, 1, 1,
                "empty pipeline: expected a mapping with a 'sources:' list");
        return false;
    }
    if (root->kind != PL_MAP) {
        bool old = root->kind == PL_SEQ && root->n_kids > 0 && root->kids[0]->kind == PL_MAP &&
                   (map_get(root->kids[0], "publishers") || map_get(root->kids[0], "counters"));
        ERR(v, root, "expected a mapping with 'sources:' (and optionally 'sinks:'), found %s%s",
            pl_kind_name(root),
            old ? " (this is Ceilometer's pre-Juno list format; rewrite it as sources: and "
                  "sinks:)"
                : "");
        return false;
    }
    bool ok = check_keys(v, root, top_keys, "the top level");
    pipeline *p = v->p;
    const pl_node *sources = map_get(root, "sources");
    const pl_node *sinks = map_get(root, "sinks");
    source_aux *aux = NULL;
    if (sources == NULL) {
        ERR(v, root,
            "missing 'sources:', the list of what to poll (Ceilometer: 'sources required')");
        ok = false;
    } else if (sources->kind != PL_SEQ) {
        ERR(v, sources, "expected a list of sources for 'sources', found %s",
            pl_is_null(sources) ? "an empty value" : pl_kind_name(sources));
        ok = false;
    } else if (sources->n_kids > v->lim->max_sources) {
        ERR(v, sources, "%zu sources, more than the limit of %zu", sources->n_kids,
            v->lim->max_sources);
        ok = false;
    } else {
        if (sources->n_kids == 0) WARN(v, sources, "no sources: this pipeline polls nothing");
        p->sources = calloc(sources->n_kids + 1, sizeof *p->sources);
        aux = calloc(sources->n_kids + 1, sizeof *aux);
        if (p->sources == NULL || aux == NULL) {
            free(aux);
            v->oom = true;
            return false;
        }
        for (size_t i = 0; i < sources->n_kids; i++) {
            if (!parse_source(v, sources->kids[i], &p->sources[i], &aux[i])) ok = false;
            p->n_sources++;
        }
        if (!check_unique(v, "source", p->n_sources, src_name, src_pos)) ok = false;
    }
    size_t n_sinks = 0;
    if (sinks != NULL && !pl_is_null(sinks)) {
        if (sinks->kind != PL_SEQ) {
            ERR(v, sinks, "expected a list of sinks for 'sinks', found %s", pl_kind_name(sinks));
            ok = false;
        } else {
            n_sinks = sinks->n_kids;
        }
    }
    /* one spare slot for the built-in default sink */
    p->sinks = calloc(n_sinks + 1, sizeof *p->sinks);
    if (p->sinks == NULL) {
        free(aux);
        v->oom = true;
        return false;
    }
    for (size_t i = 0; i < n_sinks; i++) {
        if (!parse_sink(v, sinks->kids[i], &p->sinks[i])) ok = false;
        p->n_sinks++;
    }
    if (!check_unique(v, "sink", p->n_sinks, sink_name, sink_pos)) ok = false;
    if (aux != NULL && !link_sinks(v, aux)) ok = false;
    free(aux);
    return ok && !v->oom;
}

int pl_validate(const pl_tree *tree, const char *file, const pl_limits *lim, pipeline *p,
                pipeline_diags *d)
{
    vctx v = {.file = file, .lim = lim, .d = d, .p = p};
    size_t first = d->count;
    bool ok = validate_root(&v, tree->root);
    if (v.oom) pl_diag_oom(d, file);
    if (d->count - first > 1) qsort(d->items + first, d->count - first, sizeof *d->items, diag_cmp);
    return ok && d->errors == 0 ? 0 : -1;
}
