/*
 * cluster_fixture.c: see cluster_fixture.h.
 */
#include "cluster_fixture.h"

#include "partition/partition.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t cf_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What `meterctl init-credentials` makes, in the test's folder. */
static void make_credentials(cluster_fx *f)
{
    char *pem = NULL, *mpem = NULL, err[300], line[GROUP_TRUST_LINE_MAX],
         text[GROUP_TRUST_LINE_MAX + 2];
    size_t len = 0, mlen = 0;
    if (group_key_generate(&pem, &len, line, "test operator", err, sizeof err) != 0 ||
        group_signer_load(pem, len, "test key", &f->signer, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    snprintf(f->auth, sizeof f->auth, "meterd-test:%08x%08x", (unsigned)getpid(),
             (unsigned)cf_wall_ms());
    snprintf(text, sizeof text, "%s\n", line);
    if (th_write_file("creds/revision.key", pem, f->key_path, sizeof f->key_path) != 0 ||
        th_write_file("creds/trusted_keys", text, f->trusted_path, sizeof f->trusted_path) != 0 ||
        th_write_file("creds/zk.auth", f->auth, f->auth_path, sizeof f->auth_path) != 0 ||
        group_key_generate(&mpem, &mlen, line, "members", err, sizeof err) != 0 ||
        th_write_file("creds/member.key", mpem, f->table_key_path, sizeof f->table_key_path) != 0 ||
        chmod(f->table_key_path, 0600) || chmod(f->key_path, 0600) ||
        chmod(f->trusted_path, 0600) || chmod(f->auth_path, 0600))
        abort();
    free(pem);
    free(mpem);
}

static void start(cluster_fx *f, bool insecure)
{
    memset(f, 0, sizeof *f);
    f->insecure = insecure;
    if (th_zk_start(&f->zk) != 0) abort();
    snprintf(f->url, sizeof f->url, "zookeeper://%s/meterd", f->zk.hosts);
    th_path(f->out_path, sizeof f->out_path, "out/samples.jsonl");
    make_credentials(f);
    coord_config_t cc = {.backend_url = f->url,
                         .group = "central",
                         .session_timeout_ms = 4000,
                         .auth = insecure ? NULL : f->auth};
    char err[300];
    f->obs = coord_open(&cc, err, sizeof err);
    if (!f->obs || coord_wait_ready(f->obs, 10000 * th_slack()) != 0) {
        fprintf(stderr, "observer: %s\n", err);
        abort();
    }
}

void cf_start(cluster_fx *f)
{
    start(f, false);
}

void cf_start_insecure(cluster_fx *f)
{
    start(f, true);
}

/* Judges node i's last incarnation once it has ended. */
static void judge_node(cluster_fx *f, int i)
{
    th_proc *p = &f->nodes[i].proc;
    if (!p->name[0] || p->pid) return;
    char why[4096];
    if (!th_exit_clean(p, 0, why, sizeof why)) {
        fprintf(stderr, "# unclean daemon: %s", why);
        f->unclean++;
    }
    p->name[0] = 0; /* judged */
}

void cf_node_start(cluster_fx *f, int i, const char *extra)
{
    cf_node *n = &f->nodes[i];
    if (n->proc.pid) th_stop(&n->proc, SIGTERM, 10000 * th_slack());
    judge_node(f, i);
    if (i >= f->n_nodes) f->n_nodes = i + 1;
    snprintf(n->host, sizeof n->host, "node-%d", i);
    if (!n->api_port) n->api_port = th_free_port();
    char rel[64], text[4096], secure[1200];
    if (f->insecure)
        snprintf(secure, sizeof secure, "insecure = true\n");
    else
        snprintf(secure, sizeof secure,
                 "auth_file = %s\ntrusted_keys_file = %s\ntable_key_file = %s\n", f->auth_path,
                 f->trusted_path, f->table_key_path);
    snprintf(rel, sizeof rel, "%s/meterd.conf", n->host);
    snprintf(
        text, sizeof text,
        "[DEFAULT]\nhost = %s\nnamespaces = central\nlog_level = %s\n"
        "[polling]\nworkers = 4\n[api]\nport = %d\n"
        "[coordination]\nbackend_url = %s\nsession_timeout_ms = 2000\nhandover_ms = 1000\n%s%s",
        n->host,
        f->log_level                  ? f->log_level
        : getenv("METERD_TEST_DEBUG") ? "debug"
                                      : "info",
        n->api_port, n->url[0] ? n->url : f->url, secure, extra ? extra : "");
    if (th_write_file(rel, text, n->conf, sizeof n->conf) != 0) abort();
    char *argv[] = {MeterdBinary, "-c", n->conf, NULL};
    if (th_spawn_daemon(&n->proc, n->host, argv, NULL, NULL) != 0) abort();
}

int cf_stop(cluster_fx *f)
{
    /* generous: a loaded machine, a sanitizer or valgrind slow the drain */
    for (int i = 0; i < f->n_nodes; i++) {
        if (f->nodes[i].proc.pid) th_stop(&f->nodes[i].proc, SIGTERM, 10000 * th_slack());
        judge_node(f, i);
    }
    if (f->obs) coord_close(f->obs);
    f->obs = NULL;
    group_signer_free(f->signer);
    f->signer = NULL;
    th_zk_stop(&f->zk);
    return f->unclean;
}

char *cf_pipeline(cluster_fx *f, int n_targets)
{
    f->n_targets = n_targets;
    size_t cap = 512 + (size_t)n_targets * 48;
    char *y = malloc(cap);
    size_t len = (size_t)snprintf(y, cap,
                                  "sources:\n  - name: probes\n    interval: 1\n"
                                  "    meters: [tcp.connect.up]\n    resources:\n");
    /* closed loopback ports: refused at once, a cheap real target */
    for (int i = 0; i < n_targets; i++)
        len += (size_t)snprintf(y + len, cap - len, "      - tcp://127.0.0.1:%d\n", i + 1);
    snprintf(y + len, cap - len, "sinks:\n  - name: default\n    publishers: ['file://%s']\n",
             f->out_path);
    return y;
}

static int64_t current_number(cluster_fx *f)
{
    coord_revision_t cur = {0};
    int64_t n = 0;
    if (coord_revision_read(f->obs, &cur) == 0) n = cur.number;
    coord_revision_free(&cur);
    return n;
}

int64_t cf_push(cluster_fx *f, const char *body)
{
    char sig[GROUP_SIGNATURE_MAX];
    if (group_revision_sign_ed25519(f->signer, "central", current_number(f) + 1, body, strlen(body),
                                    sig) != 0)
        abort();
    return cf_push_signed(f, body, sig);
}

int64_t cf_push_signed(cluster_fx *f, const char *body, const char *signature)
{
    int64_t expected = current_number(f), number = 0;
    int rc = coord_revision_push(f->obs, expected, body, strlen(body), "test", signature, &number);
    if (rc != 0) {
        fprintf(stderr, "push: %s\n", coord_strerror(rc));
        abort();
    }
    return number;
}

bool cf_sole_member_is(void *arg)
{
    cf_sole_want *w = arg;
    coord_members_t m = {0};
    if (coord_members_get(w->fx->obs, &m) != 0) return false;
    bool ok = m.count == 1 && !strcmp(m.members[0].info.state, w->state) &&
              m.members[0].info.applied_revision == w->applied &&
              (!w->error_part || strstr(m.members[0].info.last_error, w->error_part));
    coord_members_free(&m);
    return ok;
}

bool cf_converged(cluster_fx *f, int n, int64_t rev)
{
    coord_members_t m = {0};
    if (coord_members_get(f->obs, &m) != 0) return false;
    bool ok = (int)m.count == n;
    int64_t owned = 0;
    for (size_t i = 0; ok && i < m.count; i++) {
        const coord_member_info_t *in = &m.members[i].info;
        ok = in->applied_revision == rev && in->assignment_digest[0] &&
             !strcmp(in->assignment_digest, m.members[0].info.assignment_digest);
        owned += in->owned;
    }
    ok = ok && owned == f->n_targets;
    /* and the table they agree on is the one planned for all of them, not an
     * older one that a newcomer is still missing from */
    char stored[65] = "";
    if (ok && cf_table_read(f, stored, NULL, NULL, NULL) != 0) ok = false;
    for (size_t i = 0; ok && i < m.count; i++)
        ok = !strcmp(m.members[i].info.assignment_digest, stored) &&
             cf_table_has(f, m.members[i].id) == 1;
    coord_members_free(&m);
    return ok;
}

typedef struct conv_arg {
    cluster_fx *f;
    int n;
    int64_t rev;
} conv_arg;

static bool conv_cond(void *arg)
{
    conv_arg *c = arg;
    return cf_converged(c->f, c->n, c->rev);
}

bool cf_wait_converged(cluster_fx *f, int n, int64_t rev, int timeout_ms)
{
    conv_arg c = {f, n, rev};
    if (th_wait_until(conv_cond, &c, timeout_ms)) return true;
    coord_members_t m = {0};
    if (coord_members_get(f->obs, &m) == 0) {
        for (size_t i = 0; i < m.count; i++)
            fprintf(stderr, "# not converged: %s rev %lld owned %lld table %.12s state %s %s\n",
                    m.members[i].id, (long long)m.members[i].info.applied_revision,
                    (long long)m.members[i].info.owned, m.members[i].info.assignment_digest,
                    m.members[i].info.state, m.members[i].info.last_error);
        coord_members_free(&m);
    }
    return false;
}

int64_t cf_owned(cluster_fx *f, const char *member_id)
{
    coord_members_t m = {0};
    int64_t owned = -1;
    if (coord_members_get(f->obs, &m) != 0) return -1;
    for (size_t i = 0; i < m.count; i++)
        if (!strcmp(m.members[i].id, member_id)) owned = m.members[i].info.owned;
    coord_members_free(&m);
    return owned;
}

int64_t cf_parse_ts(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void cf_count_polls(cluster_fx *f, int64_t from_ms, int64_t to_ms, cf_polls *out)
{
    memset(out, 0, sizeof *out);
    int n = f->n_targets;
    int64_t **ts = calloc((size_t)n, sizeof *ts);
    int *cnt = calloc((size_t)n, sizeof *cnt);
    FILE *fp = fopen(f->out_path, "r");
    char line[2048];
    while (fp && fgets(line, sizeof line, fp)) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        const char *res = json_string_value(json_object_get(j, "resource"));
        int64_t t = cf_parse_ts(json_string_value(json_object_get(j, "timestamp")) ?: "");
        int port = 0;
        if (res && sscanf(res, "tcp://127.0.0.1:%d", &port) == 1 && port >= 1 && port <= n &&
            t >= from_ms && t < to_ms) {
            int k = port - 1;
            ts[k] = realloc(ts[k], (size_t)(cnt[k] + 1) * sizeof **ts);
            ts[k][cnt[k]++] = t;
        }
        json_decref(j);
    }
    if (fp) fclose(fp);
    out->min_polls = 1 << 30;
    out->min_gap_ms = INT64_MAX;
    for (int k = 0; k < n; k++) {
        if (cnt[k]) out->targets_seen++;
        if (cnt[k] < out->min_polls) out->min_polls = cnt[k];
        if (cnt[k] > out->max_polls) out->max_polls = cnt[k];
        if (cnt[k]) qsort(ts[k], (size_t)cnt[k], sizeof **ts, cmp_i64); /* ts[k] NULL when 0 */
        for (int i = 1; i < cnt[k]; i++) {
            int64_t gap = ts[k][i] - ts[k][i - 1];
            if (gap < out->min_gap_ms) out->min_gap_ms = gap;
            if (gap > out->max_gap_ms) out->max_gap_ms = gap;
        }
        free(ts[k]);
    }
    free(ts);
    free(cnt);
}

/* ---- fault tests and the cluster bench ---- */

int cf_node_index(const char *member_id)
{
    int i = -1;
    char ns[32];
    if (sscanf(member_id, "node-%d.%31s", &i, ns) != 2 || strcmp(ns, "central")) return -1;
    return i;
}

void cf_view_get(cluster_fx *f, cf_view *v)
{
    memset(v, 0, sizeof *v);
    coord_members_t m = {0};
    if (coord_members_get(f->obs, &m) != 0) return;
    v->count = (int)m.count;
    v->one_table = m.count > 0;
    for (size_t i = 0; i < m.count; i++) {
        const coord_member_info_t *in = &m.members[i].info;
        v->one_table = v->one_table && in->assignment_digest[0] &&
                       !strcmp(in->assignment_digest, m.members[0].info.assignment_digest);
        v->owned += in->owned;
    }
    coord_members_free(&m);
}

/* Residue of x modulo m in [-m/2, m/2). */
static int64_t centred(int64_t x, int64_t m)
{
    int64_t r = ((x % m) + m + m / 2) % m;
    return r - m / 2;
}

int cf_samples_load(cluster_fx *f, int64_t interval_ms, cf_samples *s)
{
    memset(s, 0, sizeof *s);
    int n = f->n_targets;
    s->n_targets = n;
    s->interval_ms = interval_ms;
    s->t = calloc((size_t)n, sizeof *s->t);
    s->count = calloc((size_t)n, sizeof *s->count);
    s->phase = calloc((size_t)n, sizeof *s->phase);
    int *cap = calloc((size_t)n, sizeof *cap);
    FILE *fp = fopen(f->out_path, "r");
    char line[2048];
    static const char rkey[] = "\"resource\":\"tcp://127.0.0.1:", tkey[] = "\"timestamp\":\"";
    /* the file publisher's lines are flat JSON: plain search is enough and
     * keeps a bench's 100k lines cheap */
    while (fp && fgets(line, sizeof line, fp)) {
        const char *r = strstr(line, rkey), *ts = strstr(line, tkey);
        if (!r || !ts) continue;
        int port = atoi(r + sizeof rkey - 1);
        int64_t t = cf_parse_ts(ts + sizeof tkey - 1);
        if (port < 1 || port > n || t < 0) continue;
        int k = port - 1;
        if (s->count[k] == cap[k]) {
            cap[k] = cap[k] ? 2 * cap[k] : 64;
            s->t[k] = realloc(s->t[k], (size_t)cap[k] * sizeof **s->t);
        }
        s->t[k][s->count[k]++] = t;
    }
    if (fp) fclose(fp);
    free(cap);
    for (int k = 0; k < n; k++) {
        if (!s->count[k]) continue;
        qsort(s->t[k], (size_t)s->count[k], sizeof **s->t, cmp_i64);
        int64_t *d = malloc((size_t)s->count[k] * sizeof *d);
        for (int i = 0; i < s->count[k]; i++)
            d[i] = centred(s->t[k][i] - s->t[k][0], interval_ms);
        qsort(d, (size_t)s->count[k], sizeof *d, cmp_i64);
        int64_t p = (s->t[k][0] + d[s->count[k] / 2]) % interval_ms;
        s->phase[k] = p;
        free(d);
    }
    return fp ? 0 : -1;
}

int cf_task_phases(cluster_fx *f, int i, int64_t *phase)
{
    size_t cap = 256 + (size_t)f->n_targets * 600;
    char *resp = malloc(cap);
    int found = 0;
    json_t *j = NULL;
    if (resp && th_tcp_request("127.0.0.1", f->nodes[i].api_port,
                               "GET /v1/targets HTTP/1.0\r\nHost: x\r\n\r\n", resp, cap,
                               5000 * th_slack(), NULL) > 0) {
        const char *body = strstr(resp, "\r\n\r\n");
        j = body ? json_loads(body + 4, 0, NULL) : NULL;
    }
    for (size_t n = 0; j && n < json_array_size(j); n++) {
        json_t *t = json_array_get(j, n);
        int port = 0;
        const char *id = json_string_value(json_object_get(t, "target"));
        if (!id || sscanf(id, "tcp://127.0.0.1:%d", &port) != 1 || port < 1 || port > f->n_targets)
            continue;
        phase[port - 1] = json_integer_value(json_object_get(t, "offset_ms"));
        found++;
    }
    json_decref(j);
    free(resp);
    return found == f->n_targets ? 0 : -1;
}

void cf_samples_free(cf_samples *s)
{
    for (int k = 0; s->t && k < s->n_targets; k++)
        free(s->t[k]);
    free(s->t);
    free(s->count);
    free(s->phase);
    memset(s, 0, sizeof *s);
}

void cf_samples_window(const cf_samples *s, int64_t from_ms, int64_t to_ms, const bool *mask,
                       cf_window *out)
{
    memset(out, 0, sizeof *out);
    int64_t iv = s->interval_ms;
    for (int k = 0; k < s->n_targets; k++) {
        if (mask && !mask[k]) continue;
        /* a target never seen has no known phase: any instant will do */
        int64_t first = from_ms - centred(from_ms - s->phase[k], iv);
        if (first < from_ms) first += iv;
        int i = 0;
        for (int64_t due = first; due < to_ms; due += iv) {
            int c = 0;
            while (i < s->count[k] && s->t[k][i] < due - iv / 2)
                i++;
            while (i < s->count[k] && s->t[k][i] < due + iv / 2) {
                c++;
                i++;
            }
            out->due++;
            out->polls += c;
            if (!c) out->missed++;
            if (c > 1) out->duplicates += c - 1;
        }
    }
}

void cf_count_window(cluster_fx *f, int64_t from_ms, int64_t to_ms, cf_window *out)
{
    cf_samples s;
    cf_samples_load(f, 1000, &s);
    cf_samples_window(&s, from_ms, to_ms, NULL, out);
    cf_samples_free(&s);
}

int cf_table_read(cluster_fx *f, char digest[65], const char *member_id, bool *mask,
                  int *n_members_out)
{
    void *buf = NULL;
    size_t len = 0;
    int64_t epoch = 0;
    if (coord_assignment_read(f->obs, &buf, &len, &epoch) != 0 || !len) {
        free(buf);
        return -1;
    }
    unsigned char sha[32];
    SHA256(buf, len, sha);
    for (int i = 0; i < 32; i++)
        snprintf(digest + 2 * i, 3, "%02x", sha[i]);
    partition_table *t = NULL;
    char err[300];
    const char *sig;
    const void *table;
    size_t siglen, tlen;
    group_table_split(buf, len, &sig, &siglen, &table, &tlen); /* signed by the leader */
    int rc = partition_table_decode(table, tlen, &t, err, sizeof err);
    free(buf);
    if (rc != 0) return -1;
    if (n_members_out) *n_members_out = (int)t->n_members;
    int32_t me = member_id ? partition_member_index(t, member_id) : -1;
    for (int k = 0; mask && k < f->n_targets; k++) {
        char id[64];
        snprintf(id, sizeof id, "tcp://127.0.0.1:%d", k + 1);
        mask[k] = me >= 0 && partition_owner(t, partition_slot_of(id, strlen(id))) == (uint32_t)me;
    }
    partition_table_free(t);
    return 0;
}

int cf_table_has(cluster_fx *f, const char *member_id)
{
    void *buf = NULL;
    size_t len = 0;
    int64_t epoch = 0;
    if (coord_assignment_read(f->obs, &buf, &len, &epoch) != 0 || !len) {
        free(buf);
        return -1;
    }
    partition_table *t = NULL;
    char err[300];
    const char *sig;
    const void *table;
    size_t siglen, tlen;
    group_table_split(buf, len, &sig, &siglen, &table, &tlen); /* signed by the leader */
    int rc = partition_table_decode(table, tlen, &t, err, sizeof err);
    free(buf);
    if (rc != 0) return -1;
    int has = partition_member_index(t, member_id) >= 0;
    partition_table_free(t);
    return has;
}

void cf_expect_refused(const char *conf, char *out, size_t cap)
{
    char logp[512], cmd[2000];
    th_path(logp, sizeof logp, "refused.log");
    /* timeout: a meterd that wrongly starts must not hang the test */
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' -c '%s' >'%s' 2>&1", MeterdBinary, conf, logp);
    int st = system(cmd);
    FILE *f = fopen(logp, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 124) {
        fprintf(stderr, "meterd -c %s did not refuse to start: %s\n", conf, out);
        abort();
    }
}

int cf_samples_by_port(cluster_fx *f, const char *meter, const char *resource_prefix,
                       const int *ports, int n, bool *value1_seen, cluster_fx *view)
{
    view->n_targets = n;
    if (th_path(view->out_path, sizeof view->out_path, "out/by_port.jsonl") != 0) return -1;
    FILE *in = fopen(f->out_path, "r"), *out = fopen(view->out_path, "w");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return -1;
    }
    char line[4096], name[300], rkey[300];
    snprintf(name, sizeof name, "\"name\":\"%s\"", meter);
    snprintf(rkey, sizeof rkey, "\"resource\":\"%s", resource_prefix);
    static const char tkey[] = "\"timestamp\":\"";
    while (fgets(line, sizeof line, in)) {
        const char *r = strstr(line, rkey), *ts = strstr(line, tkey);
        if (!strstr(line, name) || !r || !ts) continue;
        int port = atoi(r + strlen(rkey)), k = 0;
        while (k < n && ports[k] != port)
            k++;
        const char *te = strchr(ts + sizeof tkey - 1, '"');
        if (k == n || !te) continue;
        if (value1_seen && strstr(line, "\"value\":1,")) value1_seen[k] = true;
        fprintf(out, "{\"resource\":\"tcp://127.0.0.1:%d\",\"timestamp\":\"%.*s\"}\n", k + 1,
                (int)(te - (ts + sizeof tkey - 1)), ts + sizeof tkey - 1);
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : -1;
}
