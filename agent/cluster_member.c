/*
 * cluster_member.c: what this member tells the others and its operator:
 * the member node (applied revision, owned count, the digest of the table
 * in force) and the ack of the revision it answers for, the cluster part of /v1/status and /health,
 * and the ZooKeeper session counters as self-metrics.
 */
#include "agent/cluster_int.h"

#include <inttypes.h>
#include <string.h>

/* How many of the revision's targets (group/'s definition, what the leader
 * plans with and meterctl counts) this member owns at at_ms (a->mu held:
 * the pipeline). */
static size_t owned_targets(struct cluster_group *cg, int64_t at_ms)
{
    group_targets tg;
    if (group_revision_targets(cg->g->pipe, &tg) != 0) return 0;
    size_t owned = 0;
    for (size_t i = 0; i < tg.n; i++) {
        poll_target t = {.id = (char *)tg.ids[i], .resource = (char *)tg.ids[i]};
        owned += cluster_owns(cg, &t, at_ms);
    }
    group_targets_free(&tg);
    return owned;
}

void cluster_publish_info(struct cluster_group *cg)
{
    agent *a = cg->a;
    int64_t now = loop_wall_ms();
    pthread_mutex_lock(&cg->mu);
    group_clock_promote(&cg->clock, now);
    pthread_mutex_unlock(&cg->mu);
    pthread_mutex_lock(&a->mu);
    cg->info.owned = (int64_t)owned_targets(cg, now);
    pthread_mutex_unlock(&a->mu);
    cg->info.insecure = cluster_opts_of(cg)->insecure;
    pthread_mutex_lock(&cg->mu);
    /* the table this member obeys now; a pending one is reported once in force */
    snprintf(cg->info.assignment_digest, sizeof cg->info.assignment_digest, "%s",
             cg->clock.cur.digest);
    pthread_mutex_unlock(&cg->mu);
    metrics_gauge(cg->m_owned, (double)cg->info.owned);
    /* what the node says beyond the revision's state (cg->info.state):
     * leaving (the leader plans without us, cluster_leave.c), or fenced
     * (the session may have expired: nothing shared polled until the table
     * is read again, cluster_session.c; meterctl status names it) */
    coord_member_info_t out = cg->info;
    pthread_mutex_lock(&cg->mu);
    bool fenced = !cg->synced && cg->was_synced, ready = cg->synced && cg->ready_sid;
    pthread_mutex_unlock(&cg->mu);
    /* the ready marker: meterctl status trusts this member's report only
     * when the session named owns the node (it read the table in force in
     * that session, and since its last reconnection) */
    if (ready)
        snprintf(out.ready, sizeof out.ready, "%llx:%lld", (unsigned long long)cg->ready_sid,
                 (long long)cg->ready_reconnects);
    else
        snprintf(out.ready, sizeof out.ready, "none");
    coord_status_t st;
    coord_get_status(cg->c, &st);
    out.session_timeout_ms = st.session_timeout_ms;
    if (cg->leave)
        snprintf(out.state, sizeof out.state, "leaving");
    else if (fenced && strcmp(out.state, "rejected") != 0)
        snprintf(out.state, sizeof out.state, "fenced");
    /* the revision this node answers for: acknowledged once, with the node
     * in one write (docs/CLUSTER.md "Aggregated acks") */
    bool rejected = strcmp(cg->info.state, "rejected") == 0;
    int64_t ack = rejected ? cg->applied_rev : cg->info.applied_revision;
    int rc = coord_member_ack(cg->c, &out, ack > 0 ? ack : 0, rejected);
    if (rc != 0 && rc != COORD_ENOCONN)
        log_warn(&a->log, "cluster", "%s: member update: %s", cg->member_id, coord_strerror(rc));
}

/* "unconfirmed for N ms", or "never connected" (no N to give). */
static void unconfirmed_text(const coord_status_t *st, char *buf, size_t cap)
{
    if (st->unconfirmed_ms == INT64_MAX)
        snprintf(buf, cap, "never connected");
    else
        snprintf(buf, cap, "unconfirmed for %" PRId64 " ms", st->unconfirmed_ms);
}

/* Not connected since start: the client library only tells its stderr. */
static void log_unreached(struct cluster_group *cg, const coord_status_t *st)
{
    if (st->unconfirmed_ms != INT64_MAX) {
        cg->unreached_s = 0;
        return;
    }
    int s = ++cg->unreached_s;
    if (s == 5 || (s > 5 && s % 60 == 0))
        log_warn(&cg->a->log, "cluster",
                 "%s: no ZooKeeper session after %d s (%s, session %s): still trying; shared "
                 "targets are not polled until the slot table is read",
                 cg->member_id, s, cluster_opts_of(cg)->backend_url, coord_state_name(st->state));
}

/* Advertised API endpoint and ZooKeeper session counters, once a second. */
void cluster_zk_metrics(void *arg)
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
        bool fenced = cluster_opts_of(cg)->on_loss == LOSS_FENCE && st.state != COORD_CONNECTED &&
                      st.unconfirmed_ms >= st.session_timeout_ms;
        char unc[64];
        unconfirmed_text(&st, unc, sizeof unc);
        if (fenced && !cg->fenced_logged && st.unconfirmed_ms != INT64_MAX)
            log_warn(&a->log, "cluster",
                     "%s: ZooKeeper %s: fenced, shared targets not polled until the session is "
                     "back (on_loss = fence)",
                     cg->member_id, unc);
        cg->fenced_logged = fenced;
        log_unreached(cg, &st);
        if (!cg->info.api[0] && a->api_port > 0) {
            /* what a client must dial: TLS when the API serves it, an IPv6
             * literal in brackets (RFC 3986) */
            bool v6 = strchr(a->cfg.api_host, ':') != NULL;
            snprintf(cg->info.api, sizeof cg->info.api, "%s://%s%s%s:%d",
                     a->cfg.api_tls_cert_file[0] ? "https" : "http", v6 ? "[" : "", a->cfg.api_host,
                     v6 ? "]" : "", a->api_port);
            cluster_publish_info(cg);
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
    const group_clock *ck = &cg->clock;
    int64_t epoch = ck->epoch,
            eff = ck->n_pending ? ck->pending[ck->n_pending - 1].t->effective_ms : 0;
    char digest[65], node_error[sizeof cg->node_error];
    snprintf(digest, sizeof digest, "%s", ck->cur.digest);
    bool have = group_clock_has_table(ck);
    snprintf(node_error, sizeof node_error, "%s", cg->node_error);
    int64_t node_version = cg->node_error_version;
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
    strbuf_printf(
        out,
        ",\"on_loss\":\"%s\",\"table\":%s,\"epoch\":%" PRId64 ",\"pending_effective_ms\":%" PRId64
        ",\"assignment_digest\":\"%s\",\"insecure\":%s",
        cluster_opts_of(cg)->on_loss == LOSS_FENCE ? "fence" : "keep", have ? "true" : "false",
        epoch, eff, digest, cluster_opts_of(cg)->insecure ? "true" : "false");
    strbuf_puts(out, ",\"malformed_pipeline\":");
    if (node_error[0]) {
        strbuf_printf(out, "{\"version\":%" PRId64 ",\"reason\":", node_version);
        strbuf_put_json_string(out, node_error);
        strbuf_puts(out, "}");
    } else {
        strbuf_puts(out, "null");
    }
    cluster_pubsub_json(cg, &st, out);
    strbuf_puts(out, "}");
}

int cluster_health(agent *a, strbuf *out, int n)
{
    cluster_state *cs = a->cluster_state;
    for (size_t i = 0; cs && i < cs->n; i++) {
        coord_status_t st;
        coord_get_status(cs->groups[i]->c, &st);
        if (st.acl_error[0]) { /* refused the group's nodes: why, and the repair */
            strbuf_puts(out, n++ ? "," : "");
            strbuf_put_json_string(out, st.acl_error);
        }
        char table_error[sizeof cs->groups[i]->table_error], node[600];
        pthread_mutex_lock(&cs->groups[i]->mu);
        snprintf(table_error, sizeof table_error, "%s", cs->groups[i]->table_error);
        node[0] = 0;
        if (cs->groups[i]->node_error[0])
            snprintf(node, sizeof node,
                     "%s: pipeline node (version %" PRId64 ") is not a revision: %s; "
                     "the last valid revision keeps running",
                     cs->groups[i]->member_id, cs->groups[i]->node_error_version,
                     cs->groups[i]->node_error);
        pthread_mutex_unlock(&cs->groups[i]->mu);
        if (table_error[0]) {
            strbuf_puts(out, n++ ? "," : "");
            strbuf_put_json_string(out, table_error);
        }
        if (node[0]) {
            strbuf_puts(out, n++ ? "," : "");
            strbuf_put_json_string(out, node);
        }
        if (st.state == COORD_CONNECTED) continue;
        char msg[300], unc[64];
        unconfirmed_text(&st, unc, sizeof unc);
        snprintf(msg, sizeof msg, "%s: ZooKeeper session %s (%s)", cs->groups[i]->member_id,
                 coord_state_name(st.state), unc);
        strbuf_puts(out, n++ ? "," : "");
        strbuf_put_json_string(out, msg);
    }
    return n;
}

/* /ready in cluster mode: a group serves its share only once its member is
 * joined, the stored table is known and one is in force, and a revision runs. */
int cluster_ready(agent *a, strbuf *out, int n)
{
    cluster_state *cs = a->cluster_state;
    for (size_t i = 0; cs && i < cs->n; i++) {
        struct cluster_group *cg = cs->groups[i];
        coord_status_t st;
        coord_get_status(cg->c, &st);
        pthread_mutex_lock(&cg->mu);
        bool synced = cg->synced, table = group_clock_has_table(&cg->clock);
        pthread_mutex_unlock(&cg->mu);
        pthread_mutex_lock(&a->mu);
        bool applied = cg->g->pipe != NULL;
        pthread_mutex_unlock(&a->mu);
        const char *why = st.state != COORD_CONNECTED ? "ZooKeeper session not connected"
                          : !st.joined                ? "not joined (no member node yet)"
                          : !synced                   ? "assignment table not read yet"
                          : !table                    ? "no assignment table in force yet"
                          : !applied                  ? "no revision applied yet"
                                                      : NULL;
        if (!why) continue;
        char msg[300];
        snprintf(msg, sizeof msg, "%s: %s", cg->member_id, why);
        strbuf_puts(out, n++ ? "," : "");
        strbuf_put_json_string(out, msg);
    }
    return n;
}
