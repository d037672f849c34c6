/*
 * cache.c: each served group's state, kept current by ZooKeeper's watches.
 *
 * One observer handle per group (member_id NULL: the proxy never joins a
 * group nor stands in its election, like meterctl). The coordinator's
 * callbacks (on its event thread: no executor, the proxy has no loop of its
 * own) copy each change into the group's groupview under the group's lock;
 * requests render from it under the same lock. So a request never waits on
 * ZooKeeper, and a burst of requests costs ZooKeeper nothing: its load is
 * one watch per node per change, whatever the request rate.
 *
 * The kept revisions' list is read again (on the store thread) after each
 * new revision, since a push also prunes the oldest one.
 *
 * Which groups: those under the chroot (coordinator's group listing, a
 * child watch), restricted to `[coordination] groups` when it names some.
 * The named ones are opened at start (they answer "unknown" until created);
 * any other that appears is opened when the listing sees it. Entries are
 * only ever appended, each whole before the count that publishes it grows,
 * so handlers walk them without a lock.
 */
#include "proxy/proxy.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void on_state(void *arg, coord_state_t st)
{
    proxy_group *g = arg;
    pthread_mutex_lock(&g->mu);
    g->state = st;
    g->changes++;
    pthread_mutex_unlock(&g->mu);
    proxy_log(g->px, st == COORD_CONNECTED ? COORD_LOG_INFO : COORD_LOG_WARN,
              "group %s: ZooKeeper %s", g->name, coord_state_name(st));
}

static void on_members(void *arg, const coord_members_t *m)
{
    proxy_group *g = arg;
    coord_members_t copy = *m;
    copy.members = NULL;
    if (m->count) {
        copy.members = malloc(m->count * sizeof *m->members);
        if (copy.members == NULL) {
            proxy_log(g->px, COORD_LOG_ERROR, "group %s: out of memory: members not updated",
                      g->name);
            return;
        }
        memcpy(copy.members, m->members, m->count * sizeof *m->members);
    }
    pthread_mutex_lock(&g->mu);
    groupview_set_members(&g->v, &copy);
    g->changes++;
    pthread_mutex_unlock(&g->mu);
}

static void on_leader(void *arg, const coord_leader_t *l)
{
    proxy_group *g = arg;
    pthread_mutex_lock(&g->mu);
    g->v.leader = *l;
    g->changes++;
    pthread_mutex_unlock(&g->mu);
}

/* Store thread: the kept revisions, read one by one (K is small). */
static void on_list(void *arg, int rc, const int64_t *numbers, size_t count)
{
    proxy_group *g = arg;
    if (rc != COORD_OK) {
        proxy_log(g->px, COORD_LOG_WARN, "group %s: listing revisions: %s", g->name,
                  coord_strerror(rc));
        return;
    }
    pthread_mutex_lock(&g->mu);
    int64_t cur = g->v.has_rev ? g->v.rev.number : 0;
    pthread_mutex_unlock(&g->mu);
    json_t *list = json_array();
    for (size_t i = 0; list && i < count; i++) {
        coord_revision_t r;
        int grc = coord_revision_get(g->c, numbers[i], &r);
        if (grc == COORD_ENOENT) continue; /* pruned meanwhile */
        if (grc != COORD_OK) {
            proxy_log(g->px, COORD_LOG_WARN, "group %s: reading revision %lld: %s", g->name,
                      (long long)numbers[i], coord_strerror(grc));
            json_decref(list);
            return;
        }
        json_array_append_new(list, groupview_revision_entry_json(&r, r.number == cur));
        coord_revision_free(&r);
    }
    pthread_mutex_lock(&g->mu);
    json_decref(g->revisions);
    g->revisions = list;
    g->revisions_for = cur;
    g->changes++;
    pthread_mutex_unlock(&g->mu);
}

/* What the agents would say of a revision before applying it: whether its
 * signature verifies with the trusted keys (when the proxy has them) and
 * whether its body is a valid pipeline. Outside the group's lock. */
static void judge(proxy_group *g, const coord_revision_t *rev, int *verified, char *why,
                  size_t whylen, json_t **errors)
{
    *verified = -1;
    why[0] = '\0';
    if (g->px->trust)
        *verified = group_revision_check(g->px->trust, g->name, rev->number, rev->signature,
                                         rev->body, rev->body_len, why, whylen) == 0;
    pipeline_diags d = {0};
    *errors = NULL;
    if (groupview_check_revision((const char *)rev->body, rev->body_len, "revision", NULL, &d) != 0)
        *errors = groupview_diags_json(&d);
    pipeline_diags_free(&d);
}

static void on_revision(void *arg, const coord_revision_t *rev)
{
    proxy_group *g = arg;
    coord_revision_t copy = *rev;
    copy.body = malloc(rev->body_len + 1);
    if (copy.body == NULL) {
        proxy_log(g->px, COORD_LOG_ERROR, "group %s: out of memory: revision %lld not cached",
                  g->name, (long long)rev->number);
        return;
    }
    memcpy(copy.body, rev->body, rev->body_len);
    copy.body[rev->body_len] = 0;
    int verified;
    char why[sizeof g->verify_error];
    json_t *errors;
    judge(g, rev, &verified, why, sizeof why, &errors);
    if (verified == 0)
        proxy_log(g->px, COORD_LOG_WARN, "group %s: revision %lld: %s (the agents refuse it)",
                  g->name, (long long)rev->number, why);
    pthread_mutex_lock(&g->mu);
    groupview_set_revision(&g->v, &copy);
    g->bad_reason[0] = '\0';
    g->verified = verified;
    snprintf(g->verify_error, sizeof g->verify_error, "%s", why);
    json_decref(g->body_errors);
    g->body_errors = errors;
    g->changes++;
    pthread_mutex_unlock(&g->mu);
    coord_t *c = g->c; /* NULL: its coord_open has not returned yet */
    if (c == NULL || coord_revision_list_async(c, on_list, g) != COORD_OK)
        proxy_log(g->px, COORD_LOG_WARN, "group %s: cannot list revisions", g->name);
}

static void on_assignment(void *arg, const void *table, size_t len, int64_t epoch)
{
    proxy_group *g = arg;
    char err[256];
    pthread_mutex_lock(&g->mu);
    int rc = groupview_set_table(&g->v, table, len, epoch, err, sizeof err);
    g->changes++;
    pthread_mutex_unlock(&g->mu);
    if (rc < 0)
        proxy_log(g->px, COORD_LOG_ERROR, "group %s: slot table epoch %lld is malformed: %s",
                  g->name, (long long)epoch, err);
}

/*
 * A pipeline node that is not a revision: the coordinator keeps the last
 * valid one in force and reports this one (on every read of it: each change,
 * each new session), so that status and /pipeline show it with its reason
 * instead of the last valid revision alone; the next valid revision clears it.
 */
static void on_malformed(void *arg, int64_t version, const char *why)
{
    proxy_group *g = arg;
    pthread_mutex_lock(&g->mu);
    if (!g->v.bad_rev || g->v.bad_rev_version != version) {
        groupview_set_bad_revision(&g->v, version);
        snprintf(g->bad_reason, sizeof g->bad_reason, "%s", why);
        g->changes++;
    }
    pthread_mutex_unlock(&g->mu);
}

static void on_log(void *arg, int level, const char *msg)
{
    proxy_group *g = arg;
    proxy_log(g->px, level, "group %s: %s", g->name, msg);
}

/* Whether the configuration lets the proxy serve a group of this name:
 * every group when `groups` is empty, else those it names. */
bool proxy_cache_allowed(const proxy_ctx *px, const char *name, size_t len)
{
    const char *p = px->cfg.groups;
    bool any = false;
    while (*p) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == 0) break;
        any = true;
        if (n == len && memcmp(p, name, len) == 0) return true;
        p += n;
    }
    return !any;
}

/* Publishes an entry for group `name` (under open_mu), then opens its
 * observer: a handler may see the entry first, with no handle yet (c NULL:
 * "no view yet", as while connecting). The entry, or NULL with err. */
static proxy_group *open_group(proxy_ctx *px, const char *name, char *err, size_t errlen)
{
    proxy_cache *cache = &px->cache;
    size_t n = cache->n;
    if (n == PROXY_MAX_GROUPS || strlen(name) >= sizeof cache->groups[0].name) {
        snprintf(err, errlen, "group %.128s: at most %d groups of < 128 bytes are served", name,
                 PROXY_MAX_GROUPS);
        return NULL;
    }
    proxy_group *g = &cache->groups[n];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->px = px;
    g->state = COORD_CONNECTING;
    g->verified = -1;
    pthread_mutex_init(&g->mu, NULL);
    groupview_init(&g->v);
    /* whole before it is counted: handlers read entries below n unlocked */
    atomic_store(&cache->n, n + 1);
    coord_config_t cfg = {
        .backend_url = px->cfg.backend_url,
        .group = g->name,
        .member_id = NULL,
        .session_timeout_ms = px->cfg.session_timeout_ms,
        .auth = (const char *)px->zk_auth,
        .cb = {.state = on_state,
               .members = on_members,
               .leader = on_leader,
               .revision = on_revision,
               .assignment = on_assignment,
               .log = on_log,
               .malformed = on_malformed},
        .cb_arg = g,
    };
    if (px->has_roles) cfg.roles = &px->roles;
    char msg[256];
    coord_t *c = coord_open(&cfg, msg, sizeof msg);
    if (c == NULL) {
        snprintf(err, errlen, "group %s: %s", g->name, msg);
        pthread_mutex_lock(&g->mu);
        g->state = COORD_CLOSED;
        pthread_mutex_unlock(&g->mu);
        return NULL;
    }
    g->c = c;
    return g;
}

/* The listing's thread: a group that appeared under the chroot is served
 * from now on (when the configuration allows it). */
static void on_groups(void *arg)
{
    proxy_ctx *px = arg;
    char **names = NULL;
    size_t count = 0;
    coord_groups_get(px->cache.lister, &names, &count);
    pthread_mutex_lock(&px->cache.open_mu);
    for (size_t i = 0; i < count; i++) {
        if (!proxy_cache_allowed(px, names[i], strlen(names[i])) ||
            proxy_cache_find(&px->cache, names[i], strlen(names[i])))
            continue;
        char err[400];
        if (open_group(px, names[i], err, sizeof err) == NULL) {
            proxy_log(px, COORD_LOG_WARN, "not served: %s", err);
            continue;
        }
        proxy_log(px, COORD_LOG_INFO, "group %s appeared: served", names[i]);
    }
    pthread_mutex_unlock(&px->cache.open_mu);
    coord_groups_list_free(names, count);
}

static void on_groups_log(void *arg, int level, const char *msg)
{
    proxy_log(arg, level, "groups: %s", msg);
}

int proxy_cache_open(proxy_ctx *px, char *err, size_t errlen)
{
    proxy_cache *cache = &px->cache;
    pthread_mutex_init(&cache->open_mu, NULL);
    /* the configured groups are served from the start, whether or not
     * they exist yet (a group nobody created yet answers "unknown") */
    char list[sizeof px->cfg.groups];
    snprintf(list, sizeof list, "%s", px->cfg.groups);
    char *save = NULL;
    pthread_mutex_lock(&cache->open_mu);
    int rc = 0;
    for (char *t = strtok_r(list, ", \t", &save); t && rc == 0; t = strtok_r(NULL, ", \t", &save))
        if (!proxy_cache_find(cache, t, strlen(t)) && !open_group(px, t, err, errlen)) rc = -1;
    pthread_mutex_unlock(&cache->open_mu);
    if (rc != 0) return -1;
    coord_groups_callbacks_t cb = {.changed = on_groups, .log = on_groups_log, .arg = px};
    cache->lister = coord_groups_open(px->cfg.backend_url, (const char *)px->zk_auth,
                                      px->cfg.session_timeout_ms, &cb, err, errlen);
    return cache->lister ? 0 : -1;
}

void proxy_cache_close(proxy_cache *cache)
{
    coord_groups_close(cache->lister); /* first: it opens groups */
    cache->lister = NULL;
    for (size_t i = 0; i < cache->n; i++) {
        proxy_group *g = &cache->groups[i];
        if (g->c) coord_close(g->c); /* no callback runs after this */
        groupview_free(&g->v);
        json_decref(g->revisions);
        json_decref(g->body_errors);
        for (int k = 0; k < PROXY_R_COUNT; k++)
            free(g->rendered[k].text);
        proxy_located_free(&g->located);
        pthread_mutex_destroy(&g->mu);
    }
    cache->n = 0;
    pthread_mutex_destroy(&cache->open_mu);
}

proxy_group *proxy_cache_find(proxy_cache *cache, const char *name, size_t len)
{
    for (size_t i = 0; i < cache->n; i++)
        if (strlen(cache->groups[i].name) == len && memcmp(cache->groups[i].name, name, len) == 0)
            return &cache->groups[i];
    return NULL;
}
