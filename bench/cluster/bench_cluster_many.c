/*
 * bench_cluster_many.c: push propagation in groups of 20 to 200 members,
 * printed as one JSON object.
 *
 * Real meterd processes would need 200 processes' CPU; here every member is
 * a light one in this process: its own coord_t (its own ZooKeeper session,
 * member node, election node, watches) and the apply path without
 * pollsters: the revision's Ed25519 signature checked (group/, as the
 * agent's trusted_keys path), its YAML parsed and validated (pipeline/),
 * then the applied number and the trace reported in its member node. The
 * leader plans a slot table (partition/) on every membership change and
 * writes it when it differs; that planning is timed. One ZooKeeper 3.8,
 * standalone, maxClientCnxns=0 (one address: the default allows 60), its
 * default forceSync=yes (BENCH_NO_FSYNC=1: forceSync=no).
 *
 * For each size (BENCH_SIZES, default 20,50,100,200) the group grows to it,
 * settles, then BENCH_PUSHES (default 100) pushes, one at a time: the
 * stages of stages.h for every member (the ack seen by the pusher is
 * stamped in the observer's members callback), ZooKeeper's load per push
 * (writes: zxids used; requests: packets received, pings included) and the
 * leader's planning time. BENCH_TARGETS (default 200) targets per
 * revision. BENCH_PUBSUB=1 adds the leader's pub-sub, members delivering a
 * copy whose signature verifies without a read (BENCH_PUBSUB=confirm: each
 * confirmed by a read, the path before issue 19). BENCH_PARSE=each: every
 * member checks and parses its own copy (default: once per revision for the
 * process, see checked()). The members acknowledge under acks/<N> and the
 * pusher follows those names, as meterctl push --wait does (docs/CLUSTER.md
 * "Aggregated acks"; each member's trace for the breakdown is taken from
 * its memory, without a read); BENCH_ACKS=0: the members write their node
 * only and the pusher watches every member node (the path before).
 *
 * Run: build/bench/cluster/bench_cluster_many
 */
#include "group/group.h"
#include "harness/zk.h"
#include "partition/partition.h"
#include "pipeline/pipeline.h"
#include "stages.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_MEMBERS 400
#define SESSION_MS  8000
#define GAP_MS      50 /* between pushes */

typedef struct bench bench;

typedef struct light {
    bench *b;
    int idx;
    char id[64];
    coord_t *c;
    pthread_mutex_t mu; /* info: written on its event thread, read by the pusher */
    coord_member_info_t info;
    /* leader's planning (its event thread only) */
    bool leading;
    partition_table *table;
    int64_t epoch;
} light;

struct bench {
    th_zk zk;
    char url[300];
    group_signer *signer;
    group_trust *trust;
    int targets;
    bool pubsub, pubsub_verify;
    bool acks; /* members ack under acks/<N>, the pusher lists them (default) */
    /* light mode (BENCH_PARSE unset): one check and one parse per revision
     * for the whole process, see checked() */
    bool each;
    pthread_mutex_t once_mu;
    int64_t once_rev;  /* the revision checked below, 0: none */
    char once_sha[65]; /* its body's sha256 */
    int once_verified; /* 1 the signature verified, -1 refused, 0 not tried */
    int once_parsed;   /* 1 parsed and valid, -1 not, 0 not tried */
    double once_us[2]; /* what the one check and the one parse cost */
    light m[MAX_MEMBERS];
    int n;
    coord_t *obs;
    /* the current push, stamped by the observer's members callback */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int64_t want_rev;
    st_seen seen[MAX_MEMBERS];
    int n_seen;
    /* leader planning times, µs (under mu) */
    double plan_us[4096];
    int n_plan;
};

static void fail(const char *what)
{
    fprintf(stderr, "bench_cluster_many: %s\n", what);
    exit(1);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    return coord_trace_now_us() / 1000;
}

static double load_avg(void)
{
    double l[1] = {0};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* ---- a light member ---- */

static int verify(bench *b, const coord_revision_t *r, char *why, size_t whylen)
{
    return group_revision_check(b->trust, "central", r->number, r->signature, r->body, r->body_len,
                                why, whylen);
}

static int parse(const coord_revision_t *r)
{
    char name[64];
    snprintf(name, sizeof name, "revision-%lld.yaml", (long long)r->number);
    pipeline *p = NULL;
    if (pipeline_parse((const char *)r->body, r->body_len, name, NULL, &p, NULL) != 0) return -1;
    pipeline_free(p); /* no pollsters: applying is taking it */
    return 0;
}

/*
 * Light mode: real members each check and parse on their own host, in
 * parallel; 200 of them in one process on 2 cores would measure this
 * machine's CPU, not the group's propagation. So the first member to see a
 * revision (same number, same body bytes) checks and parses it, once for
 * the process, and the others take its verdict (they wait for it: a member
 * is no earlier than the one check). BENCH_PARSE=each: every member checks
 * and parses its own copy. which: 0 the signature, 1 the parse.
 */
static int checked(bench *b, const coord_revision_t *r, int which)
{
    if (b->each) return which ? parse(r) : verify(b, r, (char[512]){0}, 512);
    pthread_mutex_lock(&b->once_mu);
    if (b->once_rev != r->number || strcmp(b->once_sha, r->sha256) != 0) {
        b->once_rev = r->number;
        snprintf(b->once_sha, sizeof b->once_sha, "%s", r->sha256);
        b->once_verified = b->once_parsed = 0;
    }
    int *v = which ? &b->once_parsed : &b->once_verified;
    if (!*v) {
        char why[512];
        int64_t t0 = coord_trace_now_us();
        *v = (which ? parse(r) : verify(b, r, why, sizeof why)) == 0 ? 1 : -1;
        b->once_us[which] = (double)(coord_trace_now_us() - t0);
    }
    int rc = *v > 0 ? 0 : -1;
    pthread_mutex_unlock(&b->once_mu);
    return rc;
}

static void on_revision(void *arg, const coord_revision_t *r)
{
    light *l = arg;
    /* as the agent: a pub-sub copy was verified on delivery (signed_ok) */
    if (!r->signature_verified && checked(l->b, r, 0) != 0) {
        fprintf(stderr, "%s: revision %lld refused\n", l->id, (long long)r->number);
        return;
    }
    if (checked(l->b, r, 1) != 0) {
        fprintf(stderr, "%s: revision %lld does not parse\n", l->id, (long long)r->number);
        return;
    }
    int64_t validated = coord_trace_now_us();
    pthread_mutex_lock(&l->mu);
    l->info.applied_revision = r->number;
    snprintf(l->info.applied_sha256, sizeof l->info.applied_sha256, "%s", r->sha256);
    snprintf(l->info.state, sizeof l->info.state, "running");
    l->info.trace = (coord_apply_trace_t){.revision = r->number,
                                          .committed_us = r->committed_ms * 1000,
                                          .notified_us = r->notified_us,
                                          .received_us = r->received_us,
                                          .validated_us = validated,
                                          .applied_us = coord_trace_now_us(),
                                          .via_pubsub = r->via_pubsub};
    if (l->b->acks)
        coord_member_ack(l->c, &l->info, r->number, false);
    else
        coord_member_update(l->c, &l->info);
    pthread_mutex_unlock(&l->mu);
}

/* pubsub_verify: the same check as on_revision's (group/), on the event
 * thread; a copy that verifies needs no read from ZooKeeper. */
static bool signed_ok(void *arg, const coord_revision_t *r)
{
    light *l = arg;
    return checked(l->b, r, 0) == 0;
}

static void plan(light *l, const coord_members_t *m)
{
    if (!l->leading || !m->count) return;
    partition_member *pm = calloc(m->count, sizeof *pm);
    if (!pm) return;
    for (size_t i = 0; i < m->count; i++)
        pm[i] = (partition_member){.id = m->members[i].id, .weight = 1};
    partition_options opt;
    partition_options_init(&opt);
    opt.epoch = (uint64_t)l->epoch + 1;
    partition_table *next = NULL;
    partition_plan_stats st;
    char err[200];
    int64_t t0 = coord_trace_now_us();
    int rc = partition_plan(l->table, pm, m->count, NULL, &opt, &next, &st, err, sizeof err);
    int64_t t1 = coord_trace_now_us();
    free(pm);
    if (rc != 0) return;
    bench *b = l->b;
    pthread_mutex_lock(&b->mu);
    if (b->n_plan < (int)(sizeof b->plan_us / sizeof *b->plan_us))
        b->plan_us[b->n_plan++] = (double)(t1 - t0);
    pthread_mutex_unlock(&b->mu);
    bool same = l->table && l->table->n_members == next->n_members && !st.slots_moved;
    uint8_t *buf = NULL;
    size_t len = 0;
    int64_t epoch = 0;
    if (!same && partition_table_encode(next, &buf, &len, err, sizeof err) == 0 &&
        coord_assignment_write(l->c, l->epoch, buf, len, &epoch) == 0) {
        partition_table_free(l->table);
        l->table = next;
        l->epoch = epoch;
        next = NULL;
    }
    free(buf);
    partition_table_free(next);
}

static void on_members(void *arg, const coord_members_t *m)
{
    plan(arg, m);
}

static void on_leader(void *arg, const coord_leader_t *ld)
{
    light *l = arg;
    l->leading = ld->is_me;
    if (!l->leading) return;
    coord_members_t m;
    if (coord_members_get(l->c, &m) == 0) {
        /* continue from the stored table, as the agent does */
        void *t = NULL;
        size_t len = 0;
        int64_t epoch = 0;
        char err[200];
        partition_table *prev = NULL;
        if (coord_assignment_read(l->c, &t, &len, &epoch) == 0 && len &&
            partition_table_decode(t, len, &prev, err, sizeof err) == 0) {
            partition_table_free(l->table);
            l->table = prev;
        }
        l->epoch = epoch;
        free(t);
        plan(l, &m);
        coord_members_free(&m);
    }
}

static void on_log(void *arg, int level, const char *msg)
{
    if (level <= COORD_LOG_WARN) fprintf(stderr, "%s: %s\n", ((light *)arg)->id, msg);
}

static void light_start(bench *b, int i)
{
    light *l = &b->m[i];
    pthread_mutex_init(&l->mu, NULL);
    l->b = b;
    l->idx = i;
    snprintf(l->id, sizeof l->id, "light-%03d", i);
    snprintf(l->info.host, sizeof l->info.host, "light-%03d", i);
    snprintf(l->info.namespaces, sizeof l->info.namespaces, "central");
    snprintf(l->info.state, sizeof l->info.state, "starting");
    l->info.weight = 1;
    coord_config_t cc = {
        .backend_url = b->url,
        .group = "central",
        .member_id = l->id,
        .session_timeout_ms = SESSION_MS,
        .candidate = true,
        .pubsub_listen = b->pubsub ? "tcp://127.0.0.1:0" : NULL,
        .pubsub_verify = b->pubsub_verify ? signed_ok : NULL,
        .info = &l->info,
        .cb = {.members = on_members, .leader = on_leader, .revision = on_revision, .log = on_log},
        .cb_arg = l};
    char err[300];
    if (!(l->c = coord_open(&cc, err, sizeof err))) fail(err);
}

/* ---- the pusher ---- */

static void obs_members(void *arg, const coord_members_t *m)
{
    bench *b = arg;
    int64_t now = coord_trace_now_us();
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; b->want_rev && i < m->count && i < MAX_MEMBERS; i++) {
        /* members are sorted by id, and ids are light-NNN: i is the index */
        int k = atoi(m->members[i].id + 6);
        if (k < 0 || k >= b->n || b->seen[k].seen_us) continue;
        if (m->members[i].info.applied_revision < b->want_rev) continue;
        b->seen[k].seen_us = now;
        b->seen[k].info = m->members[i].info;
        b->n_seen++;
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

/* Acks: follows revision rev's until `until` says enough or 60 s pass
 * (then fails); `until` sees each view, and each member's first ack at
 * seen_us. */
static void follow_acks(bench *b, int64_t rev, bool (*until)(bench *, const coord_acks_view_t *))
{
    coord_acks_t *a = coord_acks_open(b->obs, rev, 600000);
    if (!a) fail("out of memory");
    coord_acks_view_t v = {0};
    int64_t t0 = now_ms();
    for (;;) {
        int rc = coord_acks_next(a, 1000, &v);
        if (rc == 0 && until(b, &v)) break;
        if (now_ms() - t0 > 60000) fail("revision not acknowledged within 60 s");
    }
    coord_acks_view_free(&v);
    coord_acks_close(a);
}

static bool all_acked(bench *b, const coord_acks_view_t *v)
{
    int n = 0;
    for (size_t i = 0; i < v->count; i++)
        n += v->members[i].ack == COORD_ACK_APPLIED;
    return n == b->n && (int)v->count == b->n;
}

/* Stamps the members whose ack is new (the pusher's side of the stages). */
static bool stamp_acks(bench *b, const coord_acks_view_t *v)
{
    int64_t now = coord_trace_now_us();
    for (size_t i = 0; i < v->count; i++) {
        int k = atoi(v->members[i].id + 6); /* light-NNN */
        if (v->members[i].ack != COORD_ACK_APPLIED || k < 0 || k >= b->n || b->seen[k].seen_us)
            continue;
        b->seen[k].seen_us = now;
        pthread_mutex_lock(&b->m[k].mu);
        b->seen[k].info = b->m[k].info; /* its trace, from memory: no read */
        pthread_mutex_unlock(&b->m[k].mu);
        b->n_seen++;
    }
    return b->n_seen >= b->n;
}

static bool group_is(bench *b, int n, int64_t rev)
{
    if (b->acks) {
        follow_acks(b, rev, all_acked); /* b->n is n already */
        return true;
    }
    coord_members_t m;
    if (coord_members_get(b->obs, &m) != 0) return false;
    bool ok = (int)m.count == n;
    for (size_t i = 0; ok && i < m.count; i++)
        ok = m.members[i].info.applied_revision >= rev;
    coord_members_free(&m);
    return ok;
}

static char *body_for(bench *b, int push)
{
    size_t cap = 512 + (size_t)b->targets * 48;
    char *y = malloc(cap);
    if (!y) fail("out of memory");
    size_t len = (size_t)snprintf(y, cap,
                                  "# bench push %d\nsources:\n  - name: probes\n    interval: 1\n"
                                  "    meters: [tcp.connect.up]\n    resources:\n",
                                  push);
    for (int i = 0; i < b->targets + push % 2; i++)
        len += (size_t)snprintf(y + len, cap - len, "      - tcp://127.0.0.1:%d\n", i + 1);
    snprintf(y + len, cap - len,
             "sinks:\n  - name: default\n    publishers: ['file:///dev/null']\n");
    return y;
}

static int64_t rev_now;

static int64_t push(bench *b, int k)
{
    char *body = body_for(b, k);
    char sig[GROUP_SIGNATURE_MAX];
    if (group_revision_sign_ed25519(b->signer, "central", rev_now + 1, body, strlen(body), sig) !=
        0)
        fail("cannot sign");
    int64_t number = 0;
    int rc = coord_revision_push(b->obs, rev_now, body, strlen(body), "bench", sig, &number);
    free(body);
    if (rc != 0) fail(coord_strerror(rc));
    return rev_now = number;
}

/* CPU ms used so far: this process (the members and the pusher), and the
 * ZooKeeper server's JVM (/proc, utime + stime). */
static void cpu_ms(bench *b, double *self, double *zk)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *self = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
            (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
    *zk = 0;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)b->zk.proc[0].pid);
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* fields after the command name */
    unsigned long long ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        *zk = (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* "Received: N" and "Zxid: 0x..." of `srvr` */
static void zk_counters(bench *b, int64_t *requests, int64_t *zxid)
{
    char out[4096] = "";
    *requests = *zxid = 0;
    if (th_zk_4lw(&b->zk, 0, "srvr", out, sizeof out) != 0) return;
    const char *p = strstr(out, "Received: ");
    if (p) *requests = strtoll(p + 10, NULL, 10);
    p = strstr(out, "Zxid: ");
    if (p) *zxid = strtoll(p + 6, NULL, 16) & 0xffffffffLL; /* counter, not the epoch */
}

static void grow(bench *b, int to)
{
    for (int i = b->n; i < to; i++)
        light_start(b, i);
    b->n = to;
    int64_t t0 = now_ms();
    /* every member joined and applied the current revision */
    while (!group_is(b, to, rev_now)) {
        if (now_ms() - t0 > 120000) fail("the group did not form within 120 s");
        sleep_ms(20);
    }
    sleep_ms(1000); /* the joins' tables and acks settle */
}

static void measure(bench *b, int pushes, FILE *out)
{
    st_stats st = {0};
    int64_t req0, zx0, req1, zx1;
    pthread_mutex_lock(&b->mu);
    b->n_plan = 0;
    pthread_mutex_unlock(&b->mu);
    double load0 = load_avg(), cpu0, zcpu0, cpu1, zcpu1;
    zk_counters(b, &req0, &zx0);
    cpu_ms(b, &cpu0, &zcpu0);
    int64_t t_start = now_ms();
    for (int k = 0; k < pushes; k++) {
        pthread_mutex_lock(&b->mu);
        memset(b->seen, 0, sizeof b->seen);
        b->n_seen = 0;
        b->want_rev = rev_now + 1;
        pthread_mutex_unlock(&b->mu);
        int64_t t0 = coord_trace_now_us();
        push(b, k);
        int64_t t_commit = coord_trace_now_us();
        if (b->acks) follow_acks(b, rev_now, stamp_acks); /* seen: this thread only */
        pthread_mutex_lock(&b->mu);
        while (b->n_seen < b->n) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 2 * 1000 * 1000; /* the backstop: a snapshot we missed */
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&b->cond, &b->mu, &ts);
            if (coord_trace_now_us() - t0 > 60000000) fail("a push was not applied within 60 s");
        }
        double total = (double)(coord_trace_now_us() - t0) / 1000.0;
        st_add_push(&st, b->seen, b->n, t_commit, total);
        b->want_rev = 0;
        pthread_mutex_unlock(&b->mu);
        sleep_ms(GAP_MS);
    }
    int64_t elapsed = now_ms() - t_start;
    int64_t ps_received = 0, ps_verified = 0, ps_connected = 0;
    for (int i = 0; i < b->n; i++) {
        coord_status_t cs;
        coord_get_status(b->m[i].c, &cs);
        ps_received += cs.pubsub_received;
        ps_verified += cs.pubsub_verified;
        ps_connected += cs.pubsub_connected;
    }
    zk_counters(b, &req1, &zx1);
    cpu_ms(b, &cpu1, &zcpu1);
    fprintf(out, "\"%d\":{\"load\":[%.2f,%.2f],\"push\":", b->n, load0, load_avg());
    st_print(out, &st);
    pthread_mutex_lock(&b->mu);
    fprintf(out,
            ",\"zookeeper_per_push\":{\"writes\":%.1f,\"requests\":%.1f,\"cpu_ms\":%.1f},"
            "\"members_cpu_ms_per_push\":%.1f,\"seconds\":%.1f,"
            "\"pubsub_so_far\":{\"connected\":%lld,\"received\":%lld,\"verified\":%lld},"
            "\"leader_plans\":{\"n\":%d,\"p50_us\":%.0f,\"max_us\":%.0f},"
            "\"last_check_us\":%.0f,\"last_parse_us\":%.0f}",
            (double)(zx1 - zx0) / pushes, (double)(req1 - req0) / pushes, (zcpu1 - zcpu0) / pushes,
            (cpu1 - cpu0) / pushes, (double)elapsed / 1000, (long long)ps_connected,
            (long long)ps_received, (long long)ps_verified, b->n_plan,
            st_pct(b->plan_us, b->n_plan, 50), st_pct(b->plan_us, b->n_plan, 100), b->once_us[0],
            b->once_us[1]);
    pthread_mutex_unlock(&b->mu);
    st_free(&st);
}

static void keys(bench *b)
{
    char *pem = NULL, err[300], line[GROUP_TRUST_LINE_MAX];
    size_t len = 0;
    if (group_key_generate(&pem, &len, line, "bench operator", err, sizeof err) != 0 ||
        group_signer_load(pem, len, "bench key", &b->signer, err, sizeof err) != 0 ||
        group_trust_parse(line, strlen(line), "bench trust", &b->trust, err, sizeof err) != 0)
        fail(err);
    free(pem);
}

int main(void)
{
    static bench b;
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cond, NULL);
    pthread_mutex_init(&b.once_mu, NULL);
    b.each = getenv("BENCH_PARSE") && !strcmp(getenv("BENCH_PARSE"), "each");
    const char *e = getenv("BENCH_TARGETS");
    b.targets = e && atoi(e) > 0 ? atoi(e) : 200;
    b.pubsub = getenv("BENCH_PUBSUB") != NULL;
    /* BENCH_PUBSUB=confirm: every copy confirmed by a read (the old path) */
    b.pubsub_verify = b.pubsub && strcmp(getenv("BENCH_PUBSUB"), "confirm") != 0;
    e = getenv("BENCH_PUSHES");
    int pushes = e && atoi(e) > 0 ? atoi(e) : 100;
    const char *sizes = getenv("BENCH_SIZES") ? getenv("BENCH_SIZES") : "20,50,100,200";
    keys(&b);
    double load_start = load_avg();
    /* BENCH_NO_FSYNC=1: forceSync=no, to see ZooKeeper's transaction log's part */
    bool no_fsync = getenv("BENCH_NO_FSYNC") != NULL;
    if (th_zk_start_cfg(&b.zk,
                        no_fsync ? "maxClientCnxns=0\nforceSync=no\n" : "maxClientCnxns=0\n") != 0)
        fail("ZooKeeper did not start");
    snprintf(b.url, sizeof b.url, "zookeeper://%s/meterd", b.zk.hosts);
    b.acks = !getenv("BENCH_ACKS") || strcmp(getenv("BENCH_ACKS"), "0") != 0;
    coord_config_t cc = {.backend_url = b.url,
                         .group = "central",
                         .session_timeout_ms = SESSION_MS,
                         .without_members = b.acks,
                         .cb = {.members = b.acks ? NULL : obs_members},
                         .cb_arg = &b};
    char err[300];
    if (!(b.obs = coord_open(&cc, err, sizeof err)) || coord_wait_ready(b.obs, 30000) != 0)
        fail("the observer did not connect");
    push(&b, -2);

    printf("{\"acks\":%s,\"zk_force_sync\":\"%s\",\"parse\":\"%s\",\"pubsub\":\"%s\","
           "\"targets\":%d,\"pushes\":%d,\"load_start\":%.2f,\"sizes\":{",
           b.acks ? "true" : "false", no_fsync ? "no" : "yes", b.each ? "each" : "once",
           !b.pubsub         ? "off"
           : b.pubsub_verify ? "verified"
                             : "confirm",
           b.targets, pushes, load_start);
    int first = 1;
    for (const char *p = sizes; *p;) {
        int n = atoi(p);
        if (n > 0 && n <= MAX_MEMBERS && n >= b.n) {
            grow(&b, n);
            if (!first) printf(",");
            first = 0;
            measure(&b, pushes, stdout);
            fflush(stdout);
        }
        p += strcspn(p, ",");
        if (*p == ',') p++;
    }
    printf("}}\n");
    fflush(stdout);
    for (int i = b.n - 1; i >= 0; i--) {
        coord_close(b.m[i].c);
        partition_table_free(b.m[i].table);
    }
    coord_close(b.obs);
    th_zk_stop(&b.zk);
    group_signer_free(b.signer);
    group_trust_free(b.trust);
    return 0;
}
