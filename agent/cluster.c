/*
 * cluster.c: cluster mode. With [coordination] backend_url set, the agent
 * joins one ZooKeeper group per enabled namespace (through coordinator/, the
 * only module that talks to ZooKeeper) and each group runs the pipeline
 * revisions pushed to it, restricted to its namespace's pollsters.
 *
 * Revisions: the coordinator hands every new revision (from its ZooKeeper
 * watch or the leader's pub-sub) to us; we check the signature when a key is
 * configured, validate, apply by diff (the standalone reload path), and
 * report the applied number and sha256, or the refusal, in our member node.
 *
 * Slots: the group leader plans the slot table (partition/) from the
 * previous one, the live members and the number of targets per slot, and
 * CAS-writes it. Every member obeys the newest table from its effective
 * instant: a poll due at t belongs to the owner under the table in force at
 * t, so a planned move has one owner at every instant (no duplicates, no
 * gaps); a departed member's slots are reassigned with immediate effect.
 * Until a table exists every member owns every slot; a member absent from
 * the table in force (it just joined) polls nothing shared until the leader
 * includes it.
 *
 * Losing ZooKeeper: `on_loss = keep` (default) keeps polling the last
 * assignment: no gaps, but if the session expires meanwhile another member
 * may own the same slots (duplicates). `fence` stops shared polls once the
 * session may have expired (unconfirmed for the session timeout): no
 * duplicates, but gaps until the session is back.
 *
 * Threads: coordinator callbacks run on its event thread; they copy what
 * they got and post it to the agent's loop, where all state here changes.
 * owns() runs on the loop and HTTP threads and reads the tables under `mu`.
 */
#include "agent/core.h"
#include "coordinator/coordinator.h"
#include "partition/partition.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { LOSS_KEEP, LOSS_FENCE } loss_policy;

typedef struct cluster_opts {
    char backend_url[1024];
    char member_base[128];
    int session_timeout_ms;
    int weight;
    char auth[512];
    unsigned char key[512];
    size_t key_len;
    bool have_key;
    loss_policy on_loss;
    int handover_ms;
    int keep_revisions;
    char pubsub_listen[256];
} cluster_opts;

struct cluster_group {
    agent_group *g;
    agent *a;
    coord_t *c;
    char member_id[192];
    bool stopped; /* coord closed: posted events are dropped */

    pthread_mutex_t mu; /* the tables, read by owns() on other threads */
    bool synced;        /* the stored table (or its absence) is known */
    /* the table in force, and the tables waiting for their instants, in
     * order: a table planned while another is pending must not erase it, or
     * members would disagree between the two instants */
    partition_table *cur;
    int32_t my_cur;
    char cur_digest[65]; /* sha256 of its stored bytes: what members report */
    struct {
        partition_table *t;
        int32_t me;
        char digest[65];
    } pend[4];
    int n_pend;
    int64_t epoch; /* of the newest table received */
    loop_timer effective_timer;

    /* loop thread */
    bool is_leader;
    partition_member *members; /* last snapshot: ids owned here */
    size_t n_members;
    loop_timer replan_timer;
    int64_t applied_rev;
    coord_member_info_t info;
    coord_state_t state;
    bool fenced_logged;
    metrics_metric *m_rebalances, *m_moved, *m_targets_moved, *m_owned, *m_expiries, *m_reconnects,
        *m_apply_latency;
    int64_t reported_expiries, reported_reconnects;
};

typedef struct cluster_state {
    cluster_opts opt;
    struct cluster_group *groups[AGENT_MAX_GROUPS];
    size_t n;
} cluster_state;

bool cluster_enabled(const agent *a)
{
    return config_extra(&a->cfg, "coordination", "backend_url") != NULL;
}

/* ---- options ---- */

static int read_secret_file(const char *path, unsigned char *out, size_t cap, size_t *len,
                            char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%s: mode %03o lets others read a secret; chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        return -1;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        n--;
    out[n] = 0;
    if (!n) {
        snprintf(err, errlen, "%s: empty", path);
        return -1;
    }
    *len = n;
    return 0;
}

static int parse_int(const config_kv *kv, long lo, long hi, int *out, char *err, size_t errlen,
                     const char *file)
{
    char *end;
    errno = 0;
    long v = strtol(kv->value, &end, 10);
    if (errno || end == kv->value || *end || v < lo || v > hi) {
        snprintf(err, errlen, "%s:%d: [coordination] %s must be an integer in %ld..%ld, got \"%s\"",
                 file, kv->line, kv->key, lo, hi, kv->value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int load_opts(agent *a, cluster_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->session_timeout_ms = COORD_SESSION_TIMEOUT_DEFAULT_MS;
    o->weight = 1;
    o->handover_ms = 1000;
    o->on_loss = LOSS_KEEP;
    snprintf(o->member_base, sizeof o->member_base, "%s", a->cfg.host);
    /* the revision fast path listens where the API does; a wildcard API
     * address cannot be advertised, so the host name stands in for it */
    const char *ah = a->cfg.api_host;
    bool wildcard = !strcmp(ah, "0.0.0.0") || !strcmp(ah, "::") || !strcmp(ah, "*");
    if (strchr(ah, ':') && !wildcard)
        snprintf(o->pubsub_listen, sizeof o->pubsub_listen, "tcp://[%s]:0", ah);
    else
        snprintf(o->pubsub_listen, sizeof o->pubsub_listen, "tcp://%s:0",
                 wildcard ? a->cfg.host : ah);
    const char *file = a->cfg.path[0] ? a->cfg.path : "config";
    for (int i = 0; i < a->cfg.n_extra; i++) {
        const config_kv *kv = &a->cfg.extra[i];
        if (strcmp(kv->section, "coordination") != 0) continue;
        const char *k = kv->key;
        int rc = 0;
        if (!strcmp(k, "backend_url"))
            snprintf(o->backend_url, sizeof o->backend_url, "%s", kv->value);
        else if (!strcmp(k, "member_id"))
            snprintf(o->member_base, sizeof o->member_base, "%s", kv->value);
        else if (!strcmp(k, "session_timeout_ms"))
            rc = parse_int(kv, COORD_SESSION_TIMEOUT_MIN_MS, 600000, &o->session_timeout_ms, err,
                           errlen, file);
        else if (!strcmp(k, "weight"))
            rc = parse_int(kv, 1, PARTITION_MAX_WEIGHT, &o->weight, err, errlen, file);
        else if (!strcmp(k, "handover_ms"))
            rc = parse_int(kv, 0, 600000, &o->handover_ms, err, errlen, file);
        else if (!strcmp(k, "keep_revisions"))
            rc = parse_int(kv, 1, 1000, &o->keep_revisions, err, errlen, file);
        else if (!strcmp(k, "pubsub_listen"))
            snprintf(o->pubsub_listen, sizeof o->pubsub_listen, "%s", kv->value);
        else if (!strcmp(k, "on_loss")) {
            if (!strcmp(kv->value, "keep"))
                o->on_loss = LOSS_KEEP;
            else if (!strcmp(kv->value, "fence"))
                o->on_loss = LOSS_FENCE;
            else {
                snprintf(err, errlen,
                         "%s:%d: [coordination] on_loss must be keep or fence, got "
                         "\"%s\"",
                         file, kv->line, kv->value);
                return -1;
            }
        } else if (!strcmp(k, "auth_file")) {
            size_t n;
            char msg[400];
            if (read_secret_file(kv->value, (unsigned char *)o->auth, sizeof o->auth, &n, msg,
                                 sizeof msg) != 0 ||
                !strchr(o->auth, ':')) {
                snprintf(err, errlen, "%s:%d: [coordination] auth_file: %s", file, kv->line,
                         o->auth[0] && !strchr(o->auth, ':') ? "expected user:secret" : msg);
                return -1;
            }
        } else if (!strcmp(k, "revision_key_file")) {
            char msg[400];
            if (read_secret_file(kv->value, o->key, sizeof o->key, &o->key_len, msg, sizeof msg) !=
                0) {
                snprintf(err, errlen, "%s:%d: [coordination] revision_key_file: %s", file, kv->line,
                         msg);
                return -1;
            }
            o->have_key = true;
        } else if (!strncmp(k, "group_", 6)) {
            /* read where the groups are created */
        } else {
            snprintf(err, errlen,
                     "%s:%d: unknown option \"%s\" in [coordination] (see docs/CONFIG.md)", file,
                     kv->line, k);
            return -1;
        }
        if (rc) return -1;
    }
    coord_url_t u;
    char msg[400];
    if (coord_url_parse(o->backend_url, &u, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s: [coordination] backend_url: %s", file, msg);
        return -1;
    }
    return 0;
}

/* ---- ownership ---- */

static cluster_opts *opts_of(struct cluster_group *cg);

static bool cluster_owns(void *ctx, const poll_target *t, int64_t due_ms)
{
    struct cluster_group *cg = ctx;
    if (opts_of(cg)->on_loss == LOSS_FENCE) {
        coord_status_t st;
        coord_get_status(cg->c, &st);
        if (st.state != COORD_CONNECTED && st.unconfirmed_ms >= st.session_timeout_ms) return false;
    }
    bool owned = true;
    pthread_mutex_lock(&cg->mu);
    if (!cg->synced) { /* just joined: the group's table may exist; don't guess */
        pthread_mutex_unlock(&cg->mu);
        return false;
    }
    const partition_table *tb = cg->cur;
    int32_t me = cg->my_cur;
    for (int i = 0; i < cg->n_pend && due_ms >= cg->pend[i].t->effective_ms; i++) {
        tb = cg->pend[i].t;
        me = cg->pend[i].me;
    }
    if (!tb && cg->n_pend) {
        /* joined while a table is pending: until it is in force the others
         * poll under the one before, which we never saw; polling everything
         * now would duplicate every target */
        pthread_mutex_unlock(&cg->mu);
        return false;
    }
    if (tb) {
        uint32_t slot = partition_slot_of(t->id, strlen(t->id));
        owned = me >= 0 && partition_owner(tb, slot) == (uint32_t)me;
    }
    pthread_mutex_unlock(&cg->mu);
    return owned;
}

/* ---- member node ---- */

static void promote_due(struct cluster_group *cg, int64_t now);

static void publish_info(struct cluster_group *cg)
{
    agent *a = cg->a;
    int64_t now = loop_wall_ms();
    pthread_mutex_lock(&cg->mu);
    promote_due(cg, now);
    pthread_mutex_unlock(&cg->mu);
    pthread_mutex_lock(&a->mu);
    cg->info.owned = (int64_t)group_owned_targets(cg->g, now);
    pthread_mutex_unlock(&a->mu);
    pthread_mutex_lock(&cg->mu);
    /* the table this member obeys now; a pending one is reported once in force */
    snprintf(cg->info.assignment_digest, sizeof cg->info.assignment_digest, "%s", cg->cur_digest);
    pthread_mutex_unlock(&cg->mu);
    metrics_gauge(cg->m_owned, (double)cg->info.owned);
    int rc = coord_member_update(cg->c, &cg->info);
    if (rc != 0 && rc != COORD_ENOCONN)
        log_warn(&a->log, "cluster", "%s: member update: %s", cg->member_id, coord_strerror(rc));
}

/* ---- slot table ---- */

static void compute_loads(agent_group *g, uint32_t *load)
{
    memset(load, 0, PARTITION_SLOTS * sizeof *load);
    if (!g->pipe) return;
    for (size_t i = 0; i < g->pipe->n_sources; i++)
        for (size_t r = 0; r < g->pipe->sources[i].n_resources; r++) {
            const char *id = g->pipe->sources[i].resources[r];
            load[partition_slot_of(id, strlen(id))]++;
        }
}

static void replan(void *arg)
{
    struct cluster_group *cg = arg;
    agent *a = cg->a;
    if (cg->stopped || !cg->is_leader || !cg->n_members) return;
    uint32_t *load = malloc(PARTITION_SLOTS * sizeof *load);
    if (!load) return;
    compute_loads(cg->g, load);
    pthread_mutex_lock(&cg->mu);
    partition_table *prev = cg->n_pend ? cg->pend[cg->n_pend - 1].t : cg->cur;
    prev = prev ? partition_table_copy(prev) : NULL;
    int64_t epoch = cg->epoch;
    pthread_mutex_unlock(&cg->mu);

    partition_options opt;
    partition_options_init(&opt);
    opt.epoch = (uint64_t)epoch + 1;
    partition_table *next = NULL;
    partition_plan_stats st;
    char err[300];
    int64_t now = loop_wall_ms();
    opt.effective_ms = now; /* refined below once we know what moves */
    if (partition_plan(prev, cg->members, cg->n_members, load, &opt, &next, &st, err, sizeof err) !=
        0) {
        log_error(&a->log, "cluster", "%s: planning failed: %s", cg->member_id, err);
        goto out;
    }
    bool same_members = prev && prev->n_members == next->n_members;
    for (uint32_t i = 0; same_members && i < next->n_members; i++)
        same_members = !strcmp(prev->ids[i], next->ids[i]) && prev->weights[i] == next->weights[i];
    if (same_members && st.slots_moved == 0) goto out; /* nothing to say */
    /* slots of departed members move at once (nobody polls them); moves
     * between live members take effect after a margin every member can meet */
    next->effective_ms =
        st.slots_orphan && st.slots_orphan == st.slots_moved ? now : now + opts_of(cg)->handover_ms;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (partition_table_encode(next, &buf, &len, err, sizeof err) != 0) {
        log_error(&a->log, "cluster", "%s: encoding the table: %s", cg->member_id, err);
        goto out;
    }
    int64_t new_epoch = 0;
    int rc = coord_assignment_write(cg->c, epoch, buf, len, &new_epoch);
    free(buf);
    if (rc == COORD_ECONFLICT) {
        /* someone wrote meanwhile (a previous leader): its table reaches us
         * through the watch and triggers another plan */
        log_info(&a->log, "cluster", "%s: slot table changed under us; replanning on it",
                 cg->member_id);
    } else if (rc != 0) {
        log_warn(&a->log, "cluster", "%s: writing the slot table: %s", cg->member_id,
                 coord_strerror(rc));
        if (rc == COORD_ENOCONN) loop_timer_at(a->loop, &cg->replan_timer, loop_now_ms() + 500);
    } else {
        log_info(&a->log, "cluster",
                 "%s: slot table epoch %" PRId64 ": %u members, %u slots moved (%u orphaned), "
                 "effective in %" PRId64 " ms",
                 cg->member_id, new_epoch, next->n_members, st.slots_moved, st.slots_orphan,
                 next->effective_ms - now);
    }
out:
    partition_table_free(next);
    partition_table_free(prev);
    free(load);
}

static void schedule_replan(struct cluster_group *cg, int delay_ms)
{
    if (!cg->is_leader || cg->stopped) return;
    int64_t due = loop_now_ms() + delay_ms;
    if (loop_timer_pending(&cg->replan_timer) && cg->replan_timer.due_ms <= due) return;
    loop_timer_at(cg->a->loop, &cg->replan_timer, due);
}

/* Moves the pending tables whose instant has come into force (mu held). */
static void promote_due(struct cluster_group *cg, int64_t now)
{
    while (cg->n_pend && cg->pend[0].t->effective_ms <= now) {
        partition_table_free(cg->cur);
        cg->cur = cg->pend[0].t;
        cg->my_cur = cg->pend[0].me;
        memcpy(cg->cur_digest, cg->pend[0].digest, sizeof cg->cur_digest);
        memmove(&cg->pend[0], &cg->pend[1], (size_t)(cg->n_pend - 1) * sizeof cg->pend[0]);
        cg->n_pend--;
    }
}

/* Arms the timer for the next pending instant (mu held). */
static void arm_effective(struct cluster_group *cg)
{
    if (!cg->n_pend) return;
    int64_t wait = cg->pend[0].t->effective_ms - loop_wall_ms();
    loop_timer_at(cg->a->loop, &cg->effective_timer, loop_now_ms() + (wait > 0 ? wait : 0));
}

static void promote(void *arg)
{
    struct cluster_group *cg = arg;
    if (cg->stopped) return;
    pthread_mutex_lock(&cg->mu);
    promote_due(cg, loop_wall_ms());
    arm_effective(cg); /* the next one, or a monotonic timer that ran early */
    pthread_mutex_unlock(&cg->mu);
    publish_info(cg);
}

/* Counts the slots and the targets this member gains or loses from `before`
 * (NULL: no table, every slot owned) to t. */
static void count_moves(const partition_table *before, int32_t me_before, const partition_table *t,
                        int32_t me, const char **ids, size_t n_ids, uint32_t *gained,
                        uint32_t *lost, uint32_t *targets)
{
    *gained = *lost = *targets = 0;
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++) {
        bool had = !before || (me_before >= 0 && partition_owner(before, s) == (uint32_t)me_before);
        bool has = me >= 0 && partition_owner(t, s) == (uint32_t)me;
        *gained += has && !had;
        *lost += had && !has;
    }
    for (size_t i = 0; i < n_ids; i++) {
        uint32_t s = partition_slot_of(ids[i], strlen(ids[i]));
        bool had = !before || (me_before >= 0 && partition_owner(before, s) == (uint32_t)me_before);
        bool has = me >= 0 && partition_owner(t, s) == (uint32_t)me;
        *targets += had != has;
    }
}

static void install_table(struct cluster_group *cg, partition_table *t, int64_t epoch,
                          const char *digest)
{
    agent *a = cg->a;
    int32_t me = partition_member_index(t, cg->member_id);
    /* the target ids stay valid: sources change only on this (the loop)
     * thread; a->mu is not held with cg->mu (owns() nests them the other way) */
    pthread_mutex_lock(&a->mu);
    size_t n_ids = 0;
    const char **ids = group_target_ids(cg->g, &n_ids);
    pthread_mutex_unlock(&a->mu);

    pthread_mutex_lock(&cg->mu);
    promote_due(cg, loop_wall_ms());
    const partition_table *before = cg->n_pend ? cg->pend[cg->n_pend - 1].t : cg->cur;
    int32_t me_before = cg->n_pend ? cg->pend[cg->n_pend - 1].me : cg->my_cur;
    uint32_t gained, lost, moved;
    count_moves(before, me_before, t, me, ids, n_ids, &gained, &lost, &moved);
    /* a pending table due at or after the new one's instant is superseded */
    while (cg->n_pend && cg->pend[cg->n_pend - 1].t->effective_ms >= t->effective_ms)
        partition_table_free(cg->pend[--cg->n_pend].t);
    if (cg->n_pend == (int)(sizeof cg->pend / sizeof cg->pend[0]))
        promote_due(cg, cg->pend[0].t->effective_ms); /* too many in flight: oldest first */
    cg->pend[cg->n_pend].t = t;
    cg->pend[cg->n_pend].me = me;
    snprintf(cg->pend[cg->n_pend].digest, sizeof cg->pend[0].digest, "%s", digest);
    cg->n_pend++;
    cg->epoch = epoch;
    arm_effective(cg);
    pthread_mutex_unlock(&cg->mu);
    free(ids);
    cg->g->epoch = (uint64_t)epoch;
    metrics_counter(cg->m_rebalances, 1);
    metrics_counter(cg->m_moved, gained + lost);
    metrics_counter(cg->m_targets_moved, moved);
    int64_t wait = t->effective_ms - loop_wall_ms();
    log_info(&a->log, "cluster",
             "%s: slot table epoch %" PRId64 " (%s): slots +%u -%u, in force %s", cg->member_id,
             epoch, me >= 0 ? "member" : "not in it", gained, lost,
             wait > 0 ? "after a handover delay" : "now");
}

/* ---- events posted from the coordinator's thread ---- */

typedef enum { EV_STATE, EV_MEMBERS, EV_LEADER, EV_REVISION, EV_ASSIGNMENT } ev_kind;

typedef struct cluster_event {
    struct cluster_group *cg;
    ev_kind kind;
    coord_state_t state;
    bool is_leader;
    partition_member *members;
    size_t n_members;
    coord_revision_t rev;
    uint8_t *table;
    size_t table_len;
    int64_t epoch;
} cluster_event;

static void free_members(partition_member *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        free((char *)m[i].id);
    free(m);
}

static bool verify_signature(struct cluster_group *cg, const coord_revision_t *r, char *why,
                             size_t whylen)
{
    cluster_opts *o = opts_of(cg);
    if (!o->have_key) return true;
    if (strncmp(r->signature, "hmac-sha256:", 12) != 0) {
        snprintf(why, whylen, "unsigned revision refused (revision_key_file is set)");
        return false;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), o->key, (int)o->key_len, r->body, r->body_len, mac, &mac_len);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mac_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    const char *given = r->signature + 12;
    if (strlen(given) != 2 * mac_len || CRYPTO_memcmp(given, hex, 2 * mac_len) != 0) {
        snprintf(why, whylen, "signature does not verify: forged or signed with another key");
        return false;
    }
    return true;
}

/* Verifies, validates and applies one revision. 0, or -1 with why set. */
static int try_revision(struct cluster_group *cg, const coord_revision_t *r, char *why,
                        size_t whylen)
{
    agent *a = cg->a;
    agent_group *g = cg->g;
    char name[64];
    snprintf(name, sizeof name, "revision-%" PRId64 ".yaml", r->number);
    pipeline *p = NULL;
    if (!verify_signature(cg, r, why, whylen)) {
        reload_refuse(g, why);
        return -1;
    }
    if ((p = reload_parse(g, (const char *)r->body, r->body_len, name)) == NULL ||
        reload_apply(g, p) != 0) {
        snprintf(why, whylen, "%s", g->pipeline_error);
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    g->revision = (uint64_t)r->number;
    snprintf(g->revision_sha, sizeof g->revision_sha, "%s", r->sha256);
    pthread_mutex_unlock(&a->mu);
    cg->info.applied_revision = r->number;
    snprintf(cg->info.applied_sha256, sizeof cg->info.applied_sha256, "%s", r->sha256);
    log_info(&a->log, "cluster", "%s: revision %" PRId64 " (%.12s, by %s) applied", cg->member_id,
             r->number, r->sha256, r->author[0] ? r->author : "?");
    schedule_replan(cg, 0);    /* the target set may have changed */
    if (r->committed_ms > 0) { /* commit in ZooKeeper to applied here */
        int64_t lat = loop_wall_ms() - r->committed_ms;
        metrics_timer(cg->m_apply_latency, (double)(lat > 0 ? lat : 0));
    }
    return 0;
}

/*
 * A member that has applied nothing yet (it just started) and is handed a
 * revision it must refuse runs what the rest of the group runs: the newest
 * kept revision that it can apply, since the others refused the same one.
 */
static void fall_back(struct cluster_group *cg, int64_t refused)
{
    int64_t numbers[64];
    size_t count = 0;
    if (coord_revision_list(cg->c, numbers, 64, &count) != 0) return;
    if (count > 64) count = 64;
    for (size_t i = count; i-- > 0;) {
        if (numbers[i] >= refused) continue;
        coord_revision_t old = {0};
        char why[512];
        if (coord_revision_get(cg->c, numbers[i], &old) != 0) continue;
        int rc = try_revision(cg, &old, why, sizeof why);
        coord_revision_free(&old);
        if (rc == 0) return;
    }
}

static void apply_revision(struct cluster_group *cg, const coord_revision_t *r)
{
    if (r->number <= cg->applied_rev) return; /* already have it (both paths delivered) */
    cg->applied_rev = r->number;
    char why[512] = "";
    if (try_revision(cg, r, why, sizeof why) == 0) {
        snprintf(cg->info.state, sizeof cg->info.state, "running");
        cg->info.last_error[0] = 0;
    } else {
        if (cg->info.applied_revision == 0) fall_back(cg, r->number);
        snprintf(cg->info.state, sizeof cg->info.state, "rejected");
        snprintf(cg->info.last_error, sizeof cg->info.last_error, "revision %" PRId64 ": %s",
                 r->number, why);
        /* the refusal stays visible in /health until a revision applies */
        pthread_mutex_lock(&cg->a->mu);
        snprintf(cg->g->pipeline_error, sizeof cg->g->pipeline_error, "%s", cg->info.last_error);
        pthread_mutex_unlock(&cg->a->mu);
    }
    publish_info(cg);
}

static void install_bytes(struct cluster_group *cg, const uint8_t *buf, size_t len, int64_t epoch)
{
    partition_table *t = NULL;
    char err[300];
    if (partition_table_decode(buf, len, &t, err, sizeof err) != 0) {
        log_error(&cg->a->log, "cluster",
                  "%s: slot table epoch %" PRId64 " is malformed, keeping the previous one: %s",
                  cg->member_id, epoch, err);
        return;
    }
    unsigned char sha[32];
    SHA256(buf, len, sha);
    char hex[65];
    pipeline_digest_hex(sha, hex);
    install_table(cg, t, epoch, hex);
}

/* First contact: read the stored table (if any) before owning anything. */
static void sync_table(struct cluster_group *cg)
{
    if (cg->synced) return;
    void *buf = NULL;
    size_t len = 0;
    int64_t epoch = 0;
    if (coord_assignment_read(cg->c, &buf, &len, &epoch) != 0) return; /* retried next event */
    if (len && epoch > cg->epoch) install_bytes(cg, buf, len, epoch);
    free(buf);
    pthread_mutex_lock(&cg->mu);
    cg->synced = true;
    pthread_mutex_unlock(&cg->mu);
    publish_info(cg);
}

static void on_event(void *arg)
{
    cluster_event *ev = arg;
    struct cluster_group *cg = ev->cg;
    agent *a = cg->a;
    if (!cg->stopped) switch (ev->kind) {
        case EV_STATE:
            if (ev->state != cg->state)
                log_info(&a->log, "cluster", "%s: ZooKeeper session %s", cg->member_id,
                         coord_state_name(ev->state));
            cg->state = ev->state;
            break;
        case EV_MEMBERS:
            sync_table(cg);
            free_members(cg->members, cg->n_members);
            cg->members = ev->members;
            cg->n_members = ev->n_members;
            ev->members = NULL;
            ev->n_members = 0;
            schedule_replan(cg, 20); /* joins and leaves often come in bursts */
            break;
        case EV_LEADER:
            if (ev->is_leader != cg->is_leader)
                log_info(&a->log, "cluster", "%s: %s", cg->member_id,
                         ev->is_leader ? "elected leader" : "no longer leader");
            cg->is_leader = ev->is_leader;
            sync_table(cg);
            schedule_replan(cg, 0); /* a new leader continues from the stored table */
            break;
        case EV_REVISION:
            apply_revision(cg, &ev->rev);
            break;
        case EV_ASSIGNMENT: {
            if (ev->epoch <= cg->epoch) break; /* already read it at first contact */
            install_bytes(cg, ev->table, ev->table_len, ev->epoch);
            pthread_mutex_lock(&cg->mu);
            cg->synced = true;
            pthread_mutex_unlock(&cg->mu);
            publish_info(cg);
            schedule_replan(cg, 20); /* members may have changed since it was planned */
            break;
        }
        }
    free_members(ev->members, ev->n_members);
    coord_revision_free(&ev->rev);
    free(ev->table);
    free(ev);
}

static void post(struct cluster_group *cg, cluster_event *ev)
{
    ev->cg = cg;
    if (loop_post(cg->a->loop, on_event, ev) != 0) {
        free_members(ev->members, ev->n_members);
        coord_revision_free(&ev->rev);
        free(ev->table);
        free(ev);
    }
}

static void cb_state(void *arg, coord_state_t state)
{
    cluster_event *ev = calloc(1, sizeof *ev);
    if (!ev) return;
    ev->kind = EV_STATE;
    ev->state = state;
    post(arg, ev);
}

static void cb_members(void *arg, const coord_members_t *m)
{
    cluster_event *ev = calloc(1, sizeof *ev);
    if (!ev) return;
    ev->kind = EV_MEMBERS;
    ev->members = calloc(m->count ? m->count : 1, sizeof *ev->members);
    for (size_t i = 0; ev->members && i < m->count; i++) {
        ev->members[i].id = strdup(m->members[i].id);
        int64_t w = m->members[i].info.weight;
        ev->members[i].weight = w < 1                      ? 1
                                : w > PARTITION_MAX_WEIGHT ? PARTITION_MAX_WEIGHT
                                                           : (uint32_t)w;
        if (ev->members[i].id) ev->n_members++;
    }
    post(arg, ev);
}

static void cb_leader(void *arg, const coord_leader_t *l)
{
    cluster_event *ev = calloc(1, sizeof *ev);
    if (!ev) return;
    ev->kind = EV_LEADER;
    ev->is_leader = l->is_me;
    post(arg, ev);
}

static void cb_revision(void *arg, const coord_revision_t *r)
{
    cluster_event *ev = calloc(1, sizeof *ev);
    if (!ev) return;
    ev->kind = EV_REVISION;
    ev->rev = *r;
    ev->rev.body = malloc(r->body_len + 1);
    if (!ev->rev.body) {
        free(ev);
        return;
    }
    memcpy(ev->rev.body, r->body, r->body_len);
    ev->rev.body[r->body_len] = 0;
    post(arg, ev);
}

static void cb_assignment(void *arg, const void *table, size_t len, int64_t epoch)
{
    if (!len) return; /* no table yet */
    cluster_event *ev = calloc(1, sizeof *ev);
    if (!ev || !(ev->table = malloc(len))) {
        free(ev);
        return;
    }
    ev->kind = EV_ASSIGNMENT;
    memcpy(ev->table, table, len);
    ev->table_len = len;
    ev->epoch = epoch;
    post(arg, ev);
}

static void cb_log(void *arg, int level, const char *msg)
{
    struct cluster_group *cg = arg;
    log_level l = level == COORD_LOG_ERROR  ? LOG_ERROR
                  : level == COORD_LOG_WARN ? LOG_WARNING
                  : level == COORD_LOG_INFO ? LOG_INFO
                                            : LOG_DEBUG;
    log_msg(&cg->a->log, l, "coordinator", "%s: %s", cg->member_id, msg);
}

/* ---- life cycle ---- */

static cluster_opts *opts_of(struct cluster_group *cg);

static void zk_metrics(void *arg);

int cluster_start(agent *a, char *err, size_t errlen)
{
    cluster_state *cs = calloc(1, sizeof *cs);
    if (!cs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->cluster_state = cs; /* from here on cluster_stop/cluster_free clean up */
    if (load_opts(a, &cs->opt, err, errlen) != 0) return -1;
    static const char *const namespaces[] = {"central", "compute", "ipmi"};
    metrics_logger *ml = metrics_get_logger(a->mx, "meterd.agent.rebalance");
    metrics_logger *mz = metrics_get_logger(a->mx, "meterd.coordinator.zk");
    for (size_t i = 0; i < 3; i++) {
        const char *ns = namespaces[i];
        agent_group probe = {.ns = ""};
        if (!agent_ns_enabled(a, &probe, ns)) continue;
        char key[32];
        snprintf(key, sizeof key, "group_%s", ns);
        const char *gname = config_extra(&a->cfg, "coordination", key);
        /* "%h" stands for the host name: compute groups are often per host */
        char expanded[64];
        const char *h = gname ? strstr(gname, "%h") : NULL;
        if (h)
            snprintf(expanded, sizeof expanded, "%.*s%s%s", (int)(h - gname), gname, a->cfg.host,
                     h + 2);
        agent_group *g = agent_group_add(a, h ? expanded : gname ? gname : ns, ns);
        struct cluster_group *cg = calloc(1, sizeof *cg);
        if (!g || !cg) {
            free(cg);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        cs->groups[cs->n++] = cg;
        cg->g = g;
        cg->a = a;
        g->cluster = cg;
        g->owns = cluster_owns;
        g->owns_ctx = cg;
        pthread_mutex_init(&cg->mu, NULL);
        cg->my_cur = -1;
        loop_timer_init(&cg->replan_timer, replan, cg);
        loop_timer_init(&cg->effective_timer, promote, cg);
        snprintf(cg->member_id, sizeof cg->member_id, "%s.%s", cs->opt.member_base, ns);
        char msg[300];
        if (partition_id_check(cg->member_id, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "[coordination] member_id: %s", msg);
            return -1;
        }
        if (ml && mz) {
            char m[96];
            snprintf(m, sizeof m, "%s.count", ns);
            cg->m_rebalances = metrics_counter_get(ml, m, msg, sizeof msg);
            snprintf(m, sizeof m, "%s.slots_moved", ns);
            cg->m_moved = metrics_counter_get(ml, m, msg, sizeof msg);
            snprintf(m, sizeof m, "%s.targets_owned", ns);
            cg->m_owned = metrics_gauge_get(ml, m, msg, sizeof msg);
            snprintf(m, sizeof m, "%s.targets_moved", ns);
            cg->m_targets_moved = metrics_counter_get(ml, m, msg, sizeof msg);
            metrics_logger *mr = metrics_get_logger(a->mx, "meterd.agent.revision");
            snprintf(m, sizeof m, "%s.apply_latency", ns);
            cg->m_apply_latency = mr ? metrics_timer_get(mr, m, msg, sizeof msg) : NULL;
            snprintf(m, sizeof m, "%s.session_expiries", ns);
            cg->m_expiries = metrics_counter_get(mz, m, msg, sizeof msg);
            snprintf(m, sizeof m, "%s.reconnects", ns);
            cg->m_reconnects = metrics_counter_get(mz, m, msg, sizeof msg);
        }
        /* until a revision arrives, run the local file (or the embedded default) */
        snprintf(g->pipeline_path, sizeof g->pipeline_path, "%s", a->cfg.cfg_file);
        reload_now(g, "start, before any revision");
        g->pipeline_path[0] = 0;

        coord_member_info_t *info = &cg->info;
        snprintf(info->host, sizeof info->host, "%s", a->cfg.host);
        info->pid = (int64_t)getpid();
        snprintf(info->namespaces, sizeof info->namespaces, "%s", ns);
        info->weight = cs->opt.weight;
        snprintf(info->state, sizeof info->state, "starting");
        coord_config_t cc = {
            .backend_url = cs->opt.backend_url,
            .group = g->name,
            .member_id = cg->member_id,
            .session_timeout_ms = cs->opt.session_timeout_ms,
            .auth = cs->opt.auth[0] ? cs->opt.auth : NULL,
            .keep_revisions = cs->opt.keep_revisions,
            .candidate = true,
            .pubsub_listen = cs->opt.pubsub_listen[0] ? cs->opt.pubsub_listen : NULL,
            .info = info,
            .cb = {cb_state, cb_members, cb_leader, cb_revision, cb_assignment, cb_log},
            .cb_arg = cg,
        };
        cg->c = coord_open(&cc, msg, sizeof msg);
        if (!cg->c) {
            snprintf(err, errlen, "[coordination] group %s: %s", g->name, msg);
            return -1;
        }
        log_info(&a->log, "cluster", "joining group %s as %s (%s)", g->name, cg->member_id,
                 cs->opt.backend_url);
    }
    if (!cs->n) {
        snprintf(err, errlen, "cluster mode: no namespace enabled (namespaces = %s)",
                 a->cfg.namespaces);
        return -1;
    }
    loop_timer_init(&a->cluster_timer, zk_metrics, a);
    loop_timer_at(a->loop, &a->cluster_timer, loop_now_ms() + 1000);
    return 0;
}

static cluster_opts *opts_of(struct cluster_group *cg)
{
    return &((cluster_state *)cg->a->cluster_state)->opt;
}

/* Advertised API endpoint and ZooKeeper session counters, once a second. */
static void zk_metrics(void *arg)
{
    agent *a = arg;
    cluster_state *cs = a->cluster_state;
    for (size_t i = 0; i < cs->n; i++) {
        struct cluster_group *cg = cs->groups[i];
        coord_status_t st;
        coord_get_status(cg->c, &st);
        metrics_counter(cg->m_expiries, st.expiries - cg->reported_expiries);
        metrics_counter(cg->m_reconnects, st.reconnects - cg->reported_reconnects);
        cg->reported_expiries = st.expiries;
        cg->reported_reconnects = st.reconnects;
        bool fenced = opts_of(cg)->on_loss == LOSS_FENCE && st.state != COORD_CONNECTED &&
                      st.unconfirmed_ms >= st.session_timeout_ms;
        if (fenced && !cg->fenced_logged)
            log_warn(&a->log, "cluster",
                     "%s: ZooKeeper unconfirmed for %" PRId64 " ms: fenced, shared targets "
                     "not polled until the session is back (on_loss = fence)",
                     cg->member_id, st.unconfirmed_ms);
        cg->fenced_logged = fenced;
        if (!cg->info.api[0] && a->api_port > 0) {
            snprintf(cg->info.api, sizeof cg->info.api, "http://%s:%d", a->cfg.api_host,
                     a->api_port);
            publish_info(cg);
        }
    }
    loop_timer_at(a->loop, &a->cluster_timer, loop_now_ms() + 1000);
}

void cluster_status_json(agent_group *g, strbuf *out)
{
    struct cluster_group *cg = g->cluster;
    coord_status_t st;
    coord_get_status(cg->c, &st);
    coord_leader_t l;
    coord_leader_get(cg->c, &l);
    pthread_mutex_lock(&cg->mu);
    int64_t epoch = cg->epoch, eff = cg->n_pend ? cg->pend[cg->n_pend - 1].t->effective_ms : 0;
    char digest[65];
    snprintf(digest, sizeof digest, "%s", cg->cur_digest);
    bool have = cg->cur || cg->n_pend;
    pthread_mutex_unlock(&cg->mu);
    strbuf_puts(out, "{\"member_id\":");
    strbuf_put_json_string(out, cg->member_id);
    strbuf_printf(out,
                  ",\"session\":\"%s\",\"session_timeout_ms\":%d,\"unconfirmed_ms\":%" PRId64
                  ",\"expiries\":%" PRId64 ",\"reconnects\":%" PRId64
                  ",\"is_leader\":%s,\"leader\":",
                  coord_state_name(st.state), st.session_timeout_ms, st.unconfirmed_ms, st.expiries,
                  st.reconnects, st.is_leader ? "true" : "false");
    strbuf_put_json_string(out, l.known ? l.member_id : "");
    strbuf_printf(out,
                  ",\"on_loss\":\"%s\",\"table\":%s,\"epoch\":%" PRId64
                  ",\"pending_effective_ms\":%" PRId64 ",\"assignment_digest\":\"%s\"}",
                  opts_of(cg)->on_loss == LOSS_FENCE ? "fence" : "keep", have ? "true" : "false",
                  epoch, eff, digest);
}

int cluster_health(agent *a, strbuf *out, int n)
{
    cluster_state *cs = a->cluster_state;
    for (size_t i = 0; cs && i < cs->n; i++) {
        coord_status_t st;
        coord_get_status(cs->groups[i]->c, &st);
        if (st.state == COORD_CONNECTED) continue;
        char msg[300];
        snprintf(msg, sizeof msg, "%s: ZooKeeper session %s (unconfirmed for %" PRId64 " ms)",
                 cs->groups[i]->member_id, coord_state_name(st.state), st.unconfirmed_ms);
        strbuf_puts(out, n++ ? "," : "");
        strbuf_put_json_string(out, msg);
    }
    return n;
}

void cluster_stop(agent *a)
{
    cluster_state *cs = a->cluster_state;
    if (!cs) return;
    loop_timer_cancel(a->loop, &a->cluster_timer);
    for (size_t i = 0; i < cs->n; i++) {
        struct cluster_group *cg = cs->groups[i];
        if (cg->c) coord_close(cg->c); /* our nodes vanish now: survivors take over */
        cg->c = NULL;
        cg->stopped = true;
        loop_timer_cancel(a->loop, &cg->replan_timer);
        loop_timer_cancel(a->loop, &cg->effective_timer);
        cg->g->owns = NULL;
    }
}

void cluster_free(agent *a)
{
    cluster_state *cs = a->cluster_state;
    if (!cs) return;
    for (size_t i = 0; i < cs->n; i++) {
        struct cluster_group *cg = cs->groups[i];
        partition_table_free(cg->cur);
        for (int k = 0; k < cg->n_pend; k++)
            partition_table_free(cg->pend[k].t);
        free_members(cg->members, cg->n_members);
        pthread_mutex_destroy(&cg->mu);
        free(cg);
    }
    free(cs);
    a->cluster_state = NULL;
}
