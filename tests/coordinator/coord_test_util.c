/*
 * coord_test_util.c: test nodes recording their callbacks, a raw ZooKeeper
 * client, percentiles. See coord_test_util.h.
 */
#include "coord_test_util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void turl(th_zk *z, char *out, size_t cap)
{
    snprintf(out, cap, "zookeeper://%s/meterd-test", z->hosts);
}

static void on_state(void *arg, coord_state_t st)
{
    tnode *n = arg;
    pthread_mutex_lock(&n->mu);
    n->state = st;
    n->state_calls++;
    if (st == COORD_EXPIRED) n->expired_seen++;
    pthread_mutex_unlock(&n->mu);
}

static void on_members(void *arg, const coord_members_t *m)
{
    tnode *n = arg;
    pthread_mutex_lock(&n->mu);
    coord_members_free(&n->members);
    n->members = *m;
    n->members.members = malloc((m->count ? m->count : 1) * sizeof *m->members);
    if (m->count) memcpy(n->members.members, m->members, m->count * sizeof *m->members);
    n->members_calls++;
    pthread_mutex_unlock(&n->mu);
}

static void on_leader(void *arg, const coord_leader_t *l)
{
    tnode *n = arg;
    pthread_mutex_lock(&n->mu);
    n->leader = *l;
    n->leader_calls++;
    pthread_mutex_unlock(&n->mu);
}

static void on_revision(void *arg, const coord_revision_t *r)
{
    tnode *n = arg;
    int64_t at = tnow_us();
    pthread_mutex_lock(&n->mu);
    if (n->rev_calls && r->number <= n->rev.number) n->rev_dupes++;
    n->rev_at_us = at;
    coord_revision_free(&n->rev);
    n->rev = *r;
    n->rev.body = malloc(r->body_len + 1);
    memcpy(n->rev.body, r->body, r->body_len + 1);
    n->rev_calls++;
    while (n->hold_at && r->number == n->hold_at && !n->released)
        pthread_cond_wait(&n->cv, &n->mu);
    pthread_mutex_unlock(&n->mu);
}

static void on_assignment(void *arg, const void *table, size_t len, int64_t epoch)
{
    tnode *n = arg;
    pthread_mutex_lock(&n->mu);
    n->table_len = len < sizeof n->table ? len : sizeof n->table;
    memcpy(n->table, table, n->table_len);
    n->epoch = epoch;
    pthread_mutex_unlock(&n->mu);
}

static void on_malformed(void *arg, int64_t version, const char *why)
{
    tnode *n = arg;
    pthread_mutex_lock(&n->mu);
    n->bad_version = version;
    snprintf(n->bad_why, sizeof n->bad_why, "%s", why);
    n->bad_calls++;
    pthread_mutex_unlock(&n->mu);
}

static void on_log(void *arg, int level, const char *msg)
{
    tnode *n = arg;
    if (level <= (getenv("COORD_DEBUG") ? COORD_LOG_DEBUG : COORD_LOG_INFO))
        fprintf(stderr, "[%s] %s\n", n->name, msg);
}

int tnode_open(tnode *n, th_zk *z, const char *group, const tnode_opts *o)
{
    memset(n, 0, sizeof *n);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    snprintf(n->name, sizeof n->name, "%s", o->member_id ? o->member_id : "observer");
    char url[512], err[256];
    turl(z, url, sizeof url);
    coord_member_info_t info = {.pid = 1, .weight = 1};
    snprintf(info.host, sizeof info.host, "test-%s", n->name);
    snprintf(info.namespaces, sizeof info.namespaces, "central");
    snprintf(info.state, sizeof info.state, "starting");
    coord_config_t cfg = {
        .backend_url = url,
        .group = group,
        .member_id = o->member_id,
        .session_timeout_ms = o->timeout_ms ? o->timeout_ms : 2000,
        .auth = o->auth,
        .keep_revisions = o->keep,
        .candidate = o->candidate,
        .endpoint = o->endpoint,
        .pubsub_listen = o->pubsub_listen,
        .pubsub_trust = o->pubsub_trust,
        .pubsub_verify = o->pubsub_verify,
        .max_node_bytes = o->max_node_bytes,
        .info = &info,
        .cb = {on_state, on_members, on_leader, on_revision, on_assignment, on_log, on_malformed},
        .cb_arg = n,
    };
    n->c = coord_open(&cfg, err, sizeof err);
    if (!n->c) {
        fprintf(stderr, "coord_open: %s\n", err);
        return -1;
    }
    return 0;
}

void tnode_close(tnode *n)
{
    coord_close(n->c);
    n->c = NULL;
    coord_members_free(&n->members);
    coord_revision_free(&n->rev);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
}

int64_t tnode_member_session(tnode *n, const char *id)
{
    int64_t s = 0;
    pthread_mutex_lock(&n->mu);
    for (size_t i = 0; i < n->members.count; i++)
        if (strcmp(n->members.members[i].id, id) == 0) s = n->members.members[i].session;
    pthread_mutex_unlock(&n->mu);
    return s;
}

bool tnode_has_member(tnode *n, const char *id)
{
    return tnode_member_session(n, id) != 0;
}

size_t tnode_member_count(tnode *n)
{
    pthread_mutex_lock(&n->mu);
    size_t k = n->members.count;
    pthread_mutex_unlock(&n->mu);
    return k;
}

void tnode_leader(tnode *n, coord_leader_t *out)
{
    pthread_mutex_lock(&n->mu);
    *out = n->leader;
    pthread_mutex_unlock(&n->mu);
}

coord_state_t tnode_state(tnode *n)
{
    pthread_mutex_lock(&n->mu);
    coord_state_t s = n->state;
    pthread_mutex_unlock(&n->mu);
    return s;
}

struct mwait {
    tnode *n;
    const char *id;
    bool present;
    coord_state_t st;
};

static bool member_cond(void *arg)
{
    struct mwait *w = arg;
    return tnode_has_member(w->n, w->id) == w->present;
}

bool tnode_wait_member(tnode *n, const char *id, bool present, int timeout_ms)
{
    struct mwait w = {n, id, present, 0};
    return th_wait_until(member_cond, &w, timeout_ms);
}

static bool leader_cond(void *arg)
{
    struct mwait *w = arg;
    coord_leader_t l;
    tnode_leader(w->n, &l);
    return l.known && l.member_id[0] && (!w->id || strcmp(l.member_id, w->id) != 0);
}

bool tnode_wait_leader(tnode *n, const char *not_this, int timeout_ms)
{
    struct mwait w = {n, not_this, true, 0};
    return th_wait_until(leader_cond, &w, timeout_ms);
}

struct bwait {
    tnode *n;
    int64_t version;
};

static bool malformed_cond(void *arg)
{
    struct bwait *w = arg;
    pthread_mutex_lock(&w->n->mu);
    bool seen = w->n->bad_calls > 0 && w->n->bad_version == w->version;
    pthread_mutex_unlock(&w->n->mu);
    return seen;
}

bool tnode_wait_malformed(tnode *n, int64_t version, int timeout_ms)
{
    struct bwait w = {n, version};
    return th_wait_until(malformed_cond, &w, timeout_ms);
}

static bool state_cond(void *arg)
{
    struct mwait *w = arg;
    return tnode_state(w->n) == w->st;
}

bool tnode_wait_state(tnode *n, coord_state_t st, int timeout_ms)
{
    struct mwait w = {n, NULL, true, st};
    return th_wait_until(state_cond, &w, timeout_ms);
}

static void quiet_log(const char *msg)
{
    (void)msg;
}

static void auth_done(int rc, const void *data)
{
    (void)rc;
    (void)data;
}

zhandle_t *tzk_connect(th_zk *z, const char *auth)
{
    zhandle_t *zh = zookeeper_init2(z->hosts, NULL, 4000, NULL, NULL, 0, quiet_log);
    if (!zh) return NULL;
    if (auth) zoo_add_auth(zh, "digest", auth, (int)strlen(auth), auth_done, NULL);
    int64_t deadline = th_now_ms() + 10000;
    while (zoo_state(zh) != ZOO_CONNECTED_STATE && th_now_ms() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (zoo_state(zh) != ZOO_CONNECTED_STATE) {
        zookeeper_close(zh);
        return NULL;
    }
    return zh;
}

/* Deletes (or only counts) member's election nodes in group. */
static int election_nodes(th_zk *z, const char *group, const char *member, bool delete)
{
    zhandle_t *zh = tzk_connect(z, NULL);
    if (!zh) return -1;
    char dir[256], want[160];
    snprintf(dir, sizeof dir, "/meterd-test/%s/election", group);
    snprintf(want, sizeof want, "\"member\":\"%s\"", member);
    struct String_vector kids = {0, NULL};
    int found = zoo_get_children(zh, dir, 0, &kids) == ZOK ? 0 : -1;
    for (int i = 0; found >= 0 && i < kids.count; i++) {
        char path[512], buf[512];
        int blen = sizeof buf - 1;
        snprintf(path, sizeof path, "%s/%s", dir, kids.data[i]);
        if (zoo_get(zh, path, 0, buf, &blen, NULL) != ZOK) continue; /* gone, or not ours */
        buf[blen < 0 ? 0 : blen] = 0;
        if (!strstr(buf, want)) continue;
        if (delete &&zoo_delete(zh, path, -1) != ZOK)
            found = -1;
        else
            found++;
    }
    deallocate_String_vector(&kids);
    zookeeper_close(zh);
    return found;
}

int tzk_delete_election_node(th_zk *z, const char *group, const char *member)
{
    return election_nodes(z, group, member, true);
}

int tzk_count_election_nodes(th_zk *z, const char *group, const char *member)
{
    return election_nodes(z, group, member, false);
}

int64_t tnow_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *trev_encode(int64_t number, const char *body, size_t *len)
{
    coord_revision_t r = {
        .number = number, .body = (unsigned char *)body, .body_len = strlen(body)};
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(body, strlen(body), md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(r.sha256 + 2 * i, 3, "%02x", md[i]);
    snprintf(r.author, sizeof r.author, "mallory");
    snprintf(r.time, sizeof r.time, "2026-11-22T00:00:00Z");
    char *out = NULL;
    return coord_revision_encode(&r, &out, len) == COORD_OK ? out : NULL;
}

void tnode_release(tnode *n)
{
    pthread_mutex_lock(&n->mu);
    n->released = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}

void tnode_status(tnode *n, coord_status_t *st)
{
    coord_get_status(n->c, st);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double tpercentile(double *v, size_t n, double p)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* One ZooKeeper per test binary: the process-wide state a test may keep. */
static th_zk shared_zk;

th_zk *tzk(void)
{
    return &shared_zk;
}

int tzk_setup(void **state)
{
    (void)state;
    return th_zk_start(&shared_zk);
}

int tzk_teardown(void **state)
{
    (void)state;
    th_zk_stop(&shared_zk);
    return 0;
}
