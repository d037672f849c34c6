/*
 * cluster_leave.c: a planned leave is a planned handover. Stopping first and
 * leaving after would make our slots orphans, moved with immediate effect
 * while nobody polls them (a hole of a few tens of ms per leave). So on
 * SIGTERM the member announces its leave (its node's state "leaving") and
 * keeps polling; the leader (itself, when the leaver leads) plans a table
 * without it whose moves take effect after handover_ms, like any move
 * between live members; the leaver stops its loop once no table in force or
 * pending gives it anything (after a margin for the polls due just before
 * that instant), and only then closes its session. Overlapping leaves:
 * every leaving member is left out of every plan, by whichever leader.
 *
 * Bounded: when no such table is in force within handover_ms + LEAVE_PLAN_MS
 * (ZooKeeper unreachable, no leader), it goes anyway; when nobody else is
 * left to take over, or its session is gone or may be (unconfirmed for its
 * timeout: the leader has then moved its slots at once), at once. A
 * connection lost while the session lives on is no reason to go: the
 * client reconnects within the session (a loaded machine drops connections),
 * and whoever leads hands the slots over as planned; going would leave them
 * unpolled until that table's instant. SIGTERM to exit is therefore at most
 * handover_ms + LEAVE_PLAN_MS + the drain of the polls in flight +
 * flush_timeout. A second SIGTERM stops at once.
 */
#include "agent/cluster_int.h"

#include <stdlib.h>
#include <string.h>

#define LEAVE_PLAN_MS   2000 /* announce, plan, write, read back: a few round trips */
#define LEAVE_MARGIN_MS 100  /* polls due just before the instant fire first */

bool cluster_member_leaving(const coord_member_t *m)
{
    return !strcmp(m->info.state, "leaving");
}

/* Nothing of ours is in force or pending, or nobody could take it over. */
static bool handed_over(struct cluster_group *cg)
{
    if (cg->stopped || !cg->n_members) return true;
    coord_status_t st;
    coord_get_status(cg->c, &st);
    if (st.state != COORD_CONNECTED && st.state != COORD_DISCONNECTED) return true;
    if (st.state == COORD_DISCONNECTED && st.unconfirmed_ms >= st.session_timeout_ms)
        return true; /* our session's end is the leave: the others own our slots */
    pthread_mutex_lock(&cg->mu);
    const group_clock *ck = &cg->clock;
    /* no table: every member polls every target, ours included */
    bool done =
        !cg->synced || !group_clock_has_table(ck) ||
        (!ck->n_pending && (!ck->cur.t || partition_member_index(ck->cur.t, cg->member_id) < 0));
    pthread_mutex_unlock(&cg->mu);
    return done;
}

void cluster_leave_timer(void *arg)
{
    agent *a = arg;
    cluster_state *cs = a->cluster_state;
    if (!cs->leave_margin)
        log_warn(&a->log, "cluster",
                 "planned leave: no table without this member in force after %d ms; "
                 "leaving anyway (its slots become orphans)",
                 cs->opt.handover_ms + LEAVE_PLAN_MS);
    loop_stop(a->loop);
}

void cluster_leave_check(struct cluster_group *cg)
{
    agent *a = cg->a;
    cluster_state *cs = a->cluster_state;
    if (!cs->leaving || cs->leave_margin) return;
    for (size_t i = 0; i < cs->n; i++)
        if (!handed_over(cs->groups[i])) return;
    cs->leave_margin = true;
    log_info(&a->log, "cluster", "planned leave: handed over, stopping");
    loop_timer_at(a->loop, &cs->leave_timer, loop_now_ms() + LEAVE_MARGIN_MS);
}

bool cluster_leave(agent *a)
{
    cluster_state *cs = a->cluster_state;
    if (!cs || cs->leaving || !cs->n) return false;
    cs->leaving = true;
    loop_timer_at(a->loop, &cs->leave_timer, loop_now_ms() + cs->opt.handover_ms + LEAVE_PLAN_MS);
    log_info(&a->log, "cluster", "planned leave: handing over (at most %d ms), polling meanwhile",
             cs->opt.handover_ms + LEAVE_PLAN_MS);
    for (size_t i = 0; i < cs->n; i++) {
        struct cluster_group *cg = cs->groups[i];
        cg->leave = true;
        /* out of our own plans now, not once our node's change comes back */
        for (size_t j = 0; j < cg->n_members; j++)
            if (!strcmp(cg->members[j].id, cg->member_id)) {
                free((char *)cg->members[j].id);
                memmove(&cg->members[j], &cg->members[j + 1],
                        (cg->n_members - j - 1) * sizeof *cg->members);
                cg->n_members--;
                break;
            }
        cluster_publish_info(cg);       /* "leaving": the leader plans without us */
        cluster_schedule_replan(cg, 0); /* or we do, when we lead */
    }
    cluster_leave_check(cs->groups[0]);
    return true;
}
