/*
 * cluster_session.c: a member whose ZooKeeper session may have expired does
 * not obey the table it read in that session. Once the session is gone the
 * leader has given its slots to the others, so polling under its old table
 * duplicates them (and a table read in the old session says nothing about
 * the one in force in the new). Such a member "forgets" (cluster_forget):
 * it polls no shared target until it has read the stored table again, which
 * it can only do in a live session. It keeps the tables it held: the table
 * it reads names the one in force until its instant (group.h), which stays
 * when it is ours (a short stall: still an owner, it polls on at once) and
 * replaces ours when the leader moved on meanwhile (planned out while we
 * were gone, and back in a handover ahead: polling under ours until then
 * duplicated the others). A table from an older leader names none: ours
 * stays until the stored one's instant, as before.
 *
 * When the session may have expired:
 *   - the coordinator reports it expired (certain);
 *   - this process did not run for a while (SIGSTOP, a starved VM): the loop
 *     beats every session/12 and a beat or cluster_owns() that finds the last
 *     beat older than the limit knows the ZooKeeper client could not ping
 *     either. Its silence is that stall plus up to the client's ping period
 *     (session/3) before it, so the session may have expired once the stall
 *     exceeds 2/3 of the timeout, and certainly has past the whole timeout;
 *   - under `fence`, the session unconfirmed for the session timeout.
 * `fence` forgets whenever expiry is possible (no duplicates, a re-read's gap
 * when it was not), and counts a stall as possible expiry from 1/3 of the
 * timeout, the margin for the client's own ping delay. `keep` never stops
 * unless another member certainly owns its slots: it forgets on a certain
 * expiry only, and otherwise re-reads the table while polling under its own
 * (cluster_table_resync): a session that expired unnoticed (it was cut off)
 * duplicates what its old share polls between the others' takeover and that
 * re-read in its new session.
 *
 * Instants that fell during a stall are not polled late either (the
 * scheduler polls the latest one if it is less than half an interval old):
 * in a group their owner may have changed meanwhile.
 */
#include "agent/cluster_int.h"

#include <inttypes.h>

static bool fence(struct cluster_group *cg)
{
    return cluster_opts_of(cg)->on_loss == LOSS_FENCE;
}

void cluster_forget(struct cluster_group *cg, const char *why)
{
    pthread_mutex_lock(&cg->mu);
    bool was = cg->synced;
    cg->synced = false;
    cg->ready_sid = 0; /* the marker says "none" once a session takes it */
    cg->was_synced |= was;
    pthread_mutex_unlock(&cg->mu);
    if (cg->syncing) cg->sync_stale = true; /* a read sent before: its answer is not enough */
    if (was)
        log_warn(&cg->a->log, "cluster",
                 "%s: %s: polling no shared target until the slot table is read again",
                 cg->member_id, why);
    if (was) cluster_publish_info(cg); /* "fenced", written once a session takes it */
    cluster_table_sync(cg);
}

static void reconnected(struct cluster_group *cg);

void cluster_session_state(struct cluster_group *cg, coord_state_t state)
{
    if (state == COORD_EXPIRED) /* the others own our slots now, under either policy */
        cluster_forget(cg, "ZooKeeper session expired");
    else if (state == COORD_CONNECTED)
        reconnected(cg);
}

/* A connection (new session, or the same one again): the ready marker names
 * the connection the table was last read in, so read it again (under keep and
 * a live session polling under ours meanwhile: it was never lost) */
static void reconnected(struct cluster_group *cg)
{
    coord_status_t st;
    coord_get_status(cg->c, &st);
    bool same = st.session_id == cg->ready_sid && st.reconnects == cg->ready_reconnects;
    if (cg->synced && !same)
        cluster_table_resync(cg);
    else
        cluster_table_sync(cg); /* the read in the new session, if one is due */
}

void cluster_mark_ready(struct cluster_group *cg)
{
    coord_status_t st;
    coord_get_status(cg->c, &st);
    /* cut off again since the read was sent: the next connection reads again */
    cg->ready_sid = st.state == COORD_CONNECTED ? st.session_id : 0;
    cg->ready_reconnects = st.reconnects;
}

int64_t cluster_stall_limit_ms(const struct cluster_group *cg, int session_ms)
{
    return cluster_opts_of((struct cluster_group *)cg)->on_loss == LOSS_FENCE ? session_ms / 3
                                                                              : session_ms * 2 / 3;
}

void cluster_beat(void *arg)
{
    agent *a = arg;
    cluster_state *cs = a->cluster_state;
    int64_t now = loop_now_ms();
    for (size_t i = 0; i < cs->n; i++) {
        struct cluster_group *cg = cs->groups[i];
        coord_status_t st;
        coord_get_status(cg->c, &st);
        pthread_mutex_lock(&cg->mu);
        int64_t gap = now - cg->beat_ms;
        cg->beat_ms = now;
        cg->stall_limit_ms = cluster_stall_limit_ms(cg, st.session_timeout_ms);
        bool stalled = gap > cg->stall_limit_ms;
        if (stalled) cg->resumed_wall_ms = loop_wall_ms();
        pthread_mutex_unlock(&cg->mu);
        char why[160];
        if (stalled && (fence(cg) || gap >= st.session_timeout_ms)) {
            snprintf(why, sizeof why,
                     "this process did not run for %" PRId64 " ms: its session may have expired",
                     gap);
            cluster_forget(cg, why);
        } else if (stalled) {
            log_warn(&a->log, "cluster",
                     "%s: this process did not run for %" PRId64 " ms: reading the slot table "
                     "again, polling under ours meanwhile (on_loss = keep)",
                     cg->member_id, gap);
            cluster_table_resync(cg);
        } else if (fence(cg) && st.state != COORD_CONNECTED &&
                   st.unconfirmed_ms >= st.session_timeout_ms) {
            snprintf(why, sizeof why, "ZooKeeper unconfirmed for %" PRId64 " ms",
                     st.unconfirmed_ms);
            cluster_forget(cg, why);
        }
        cluster_leave_check(cg); /* leaving, cut off: until our session may have expired */
    }
    int period = cs->opt.session_timeout_ms / 12;
    loop_timer_at(a->loop, &cs->beat_timer, now + (period > 10 ? period : 10));
}
