/*
 * cluster.c: cluster mode. With [coordination] backend_url set, the agent
 * joins one ZooKeeper group per enabled namespace (through coordinator/, the
 * only module that talks to ZooKeeper) and each group runs the pipeline
 * revisions pushed to it, restricted to its namespace's pollsters. What a
 * group agrees on (signatures, the slot-table clock, a revision's targets)
 * is group/'s; this file holds the life cycle and what each coordinator
 * event does; cluster_int.h lists the other cluster_*.c files.
 *
 * No call into the coordinator blocks the loop, which fires every poll
 * timer: a slow or unreachable ZooKeeper must not delay polling. The
 * coordinator runs our callbacks and completions on the loop (its executor
 * is loop_post), and the calls we make are:
 *   cluster.c          coord_open (connects in the background),
 *                      coord_close (cluster_stop, after the loop stopped:
 *                      it may wait for a store call in flight);
 *   cluster_table.c    coord_assignment_read_async (first contact),
 *                      coord_assignment_write_async (the leader's plan),
 *                      coord_get_status (a short lock, also on HTTP and
 *                      worker threads through cluster_owns);
 *   cluster_revision.c coord_revision_list_async, coord_revision_get_async
 *                      (falling back through the kept revisions);
 *   cluster_member.c   coord_member_update (written in the background),
 *                      coord_get_status, coord_leader_get (short locks).
 * The blocking forms (coord_wait_ready, coord_revision_read/get/list/push,
 * coord_assignment_read/write) are never called from agent/.
 */
#include "agent/cluster_int.h"
#include "registry/registry.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool cluster_enabled(const agent *a)
{
    return config_extra(&a->cfg, "coordination", "backend_url") != NULL;
}

static void free_members(partition_member *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        free((char *)m[i].id);
    free(m);
}

static void free_leaving(struct cluster_group *cg)
{
    for (size_t i = 0; i < cg->n_leaving; i++)
        free(cg->leaving[i]);
    free(cg->leaving);
    cg->leaving = NULL;
    cg->n_leaving = 0;
}

/* ---- coordinator callbacks: on the loop (the executor), data lent for the call ---- */

static int post_to_loop(void *loop_, void (*fn)(void *arg), void *arg)
{
    return loop_post(loop_, fn, arg);
}

static void on_state(void *arg, coord_state_t state)
{
    struct cluster_group *cg = arg;
    if (state != cg->state)
        log_info(&cg->a->log, "cluster", "%s: ZooKeeper session %s", cg->member_id,
                 coord_state_name(state));
    cg->state = state;
    cluster_session_state(cg, state);
    cluster_leave_check(cg); /* cut off while leaving: nobody can hear us */
}

static void on_members(void *arg, const coord_members_t *m)
{
    struct cluster_group *cg = arg;
    partition_member *members = calloc(m->count ? m->count : 1, sizeof *members);
    if (!members) {
        log_error(&cg->a->log, "cluster", "%s: out of memory: membership change lost",
                  cg->member_id);
        return;
    }
    char **leaving = calloc(m->count ? m->count : 1, sizeof *leaving);
    if (!leaving) {
        free(members);
        log_error(&cg->a->log, "cluster", "%s: out of memory: membership change lost",
                  cg->member_id);
        return;
    }
    size_t n = 0, n_leaving = 0;
    for (size_t i = 0; i < m->count; i++) {
        /* a planned leave: plans leave it out, and hand its slots over */
        if (cluster_member_leaving(&m->members[i]) ||
            (cg->leave && !strcmp(m->members[i].id, cg->member_id))) {
            if ((leaving[n_leaving] = strdup(m->members[i].id)) != NULL) n_leaving++;
            continue;
        }
        int64_t w = m->members[i].info.weight;
        members[n].weight = w < 1                      ? 1
                            : w > PARTITION_MAX_WEIGHT ? PARTITION_MAX_WEIGHT
                                                       : (uint32_t)w;
        if ((members[n].id = strdup(m->members[i].id)) != NULL) n++;
    }
    cluster_table_sync(cg);
    free_members(cg->members, cg->n_members);
    cg->members = members;
    cg->n_members = n;
    free_leaving(cg);
    cg->leaving = leaving;
    cg->n_leaving = n_leaving;
    cluster_schedule_replan(cg, 20); /* joins and leaves often come in bursts */
    cluster_leave_check(cg);         /* nobody left to take over */
}

static void on_leader(void *arg, const coord_leader_t *l)
{
    struct cluster_group *cg = arg;
    if (l->is_me != cg->is_leader)
        log_info(&cg->a->log, "cluster", "%s: %s", cg->member_id,
                 l->is_me ? "elected leader" : "no longer leader");
    cg->is_leader = l->is_me;
    cluster_table_sync(cg);
    cluster_schedule_replan(cg, 0); /* a new leader continues from the stored table */
}

static void on_revision(void *arg, const coord_revision_t *r)
{
    struct cluster_group *cg = arg;
    pthread_mutex_lock(&cg->mu);
    cg->node_error[0] = 0; /* a valid revision replaced the bad node */
    pthread_mutex_unlock(&cg->mu);
    cluster_apply_revision(arg, r);
}

/* The pipeline node is not a revision: the coordinator logged it and keeps
 * the last valid one; /health and /v1/status show why until one replaces it. */
static void on_malformed(void *arg, int64_t version, const char *why)
{
    struct cluster_group *cg = arg;
    pthread_mutex_lock(&cg->mu);
    snprintf(cg->node_error, sizeof cg->node_error, "%s", why);
    cg->node_error_version = version;
    pthread_mutex_unlock(&cg->mu);
}

static void on_assignment(void *arg, const void *table, size_t len, int64_t epoch)
{
    struct cluster_group *cg = arg;
    if (!len) return;                     /* no table yet */
    if (epoch <= cg->clock.epoch) return; /* already read it at first contact */
    cluster_table_install(cg, table, len, epoch);
    pthread_mutex_lock(&cg->mu);
    cg->synced = true;
    pthread_mutex_unlock(&cg->mu);
    cluster_mark_ready(cg); /* read in this connection */
    cluster_publish_info(cg);
    cluster_schedule_replan(cg, 20); /* members may have changed since it was planned */
    cluster_leave_check(cg);
}

/* Any thread (the coordinator logs synchronously); log_msg is thread-safe. */
static void on_log(void *arg, int level, const char *msg)
{
    struct cluster_group *cg = arg;
    log_level l = level == COORD_LOG_ERROR  ? LOG_ERROR
                  : level == COORD_LOG_WARN ? LOG_WARNING
                  : level == COORD_LOG_INFO ? LOG_INFO
                                            : LOG_DEBUG;
    log_msg(&cg->a->log, l, "coordinator", "%s: %s", cg->member_id, msg);
}

/* ---- life cycle ---- */

int cluster_start(agent *a, char *err, size_t errlen)
{
    cluster_state *cs = calloc(1, sizeof *cs);
    if (!cs) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->cluster_state = cs; /* from here on cluster_stop/cluster_free clean up */
    /* before anything can fail: cluster_stop cancels them (calloc's heap_index 0
     * would name another timer's slot) */
    loop_timer_init(&cs->leave_timer, cluster_leave_timer, a);
    loop_timer_init(&cs->beat_timer, cluster_beat, a);
    if (cluster_opts_load(a, &cs->opt, err, errlen) != 0) return -1;
    metrics_logger *ml = metrics_get_logger(a->mx, "meterd.agent.rebalance");
    metrics_logger *mz = metrics_get_logger(a->mx, "meterd.coordinator.zk");
    for (size_t i = 0; registry_namespaces[i]; i++) {
        const char *ns = registry_namespaces[i];
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
        group_clock_init(&cg->clock);
        loop_timer_init(&cg->replan_timer, cluster_replan, cg);
        loop_timer_init(&cg->effective_timer, cluster_table_promote, cg);
        cg->beat_ms = loop_now_ms();
        cg->stall_limit_ms = cluster_stall_limit_ms(cg, cs->opt.session_timeout_ms);
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
            .auth = (const char *)cs->opt.auth,
            .roles = cluster_opts_roles(&cs->opt),
            .keep_revisions = cs->opt.keep_revisions,
            .candidate = true,
            .pubsub_listen = cs->opt.pubsub_listen[0] ? cs->opt.pubsub_listen : NULL,
            .pubsub_tls_cert = cs->opt.tls_cert,
            .pubsub_tls_key = (const char *)cs->opt.tls_key,
            .pubsub_tls_ca = cs->opt.tls_ca,
            /* with trusted keys only: without, no copy verifies (nor is waited for) */
            .pubsub_verify = cs->opt.trusted_keys[0] ? cluster_revision_signed : NULL,
            .info = info,
            .cb = {on_state, on_members, on_leader, on_revision, on_assignment, on_log,
                   on_malformed},
            .cb_arg = cg,
            .executor = {post_to_loop, a->loop},
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
    loop_timer_at(a->loop, &cs->beat_timer, loop_now_ms());
    loop_timer_init(&a->cluster_timer, cluster_zk_metrics, a);
    loop_timer_at(a->loop, &a->cluster_timer, loop_now_ms() + 1000);
    return 0;
}

void cluster_stop(agent *a)
{
    cluster_state *cs = a->cluster_state;
    if (!cs) return;
    loop_timer_cancel(a->loop, &a->cluster_timer);
    loop_timer_cancel(a->loop, &cs->leave_timer);
    loop_timer_cancel(a->loop, &cs->beat_timer);
    for (size_t i = 0; i < cs->n; i++) {
        struct cluster_group *cg = cs->groups[i];
        /* our nodes vanish now: survivors take over. The loop has stopped:
         * what the coordinator posted and loop_free() runs later finds the
         * handle closed and calls nothing; pending completions never run */
        if (cg->c) coord_close(cg->c);
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
        group_clock_free(&cg->clock);
        free_members(cg->members, cg->n_members);
        free_leaving(cg);
        cluster_fall_back_free(cg);
        pthread_mutex_destroy(&cg->mu);
        free(cg);
    }
    cluster_opts_free(&cs->opt);
    free(cs);
    a->cluster_state = NULL;
}
