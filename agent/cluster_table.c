/*
 * cluster_table.c: slots. The group leader plans the slot table (partition/)
 * from the previous one, the live members and the number of targets per
 * slot (group/: the revision's targets), and CAS-writes it. Every member
 * obeys the newest table from its effective instant: a poll due at t belongs
 * to the owner under the table in force at t (group_clock_owner_at(), the
 * same answer `meterctl whohas` gives), so a planned move has one owner at
 * every instant (no duplicates, no gaps); a departed member's slots are
 * reassigned with immediate effect. Until a table exists every member owns
 * every slot; a member absent from the table in force (it just joined)
 * polls nothing shared until the leader includes it. Each table the leader
 * writes names the table in force when it was planned (format version 2):
 * ZooKeeper keeps only the newest, and a member that reads just that one
 * learns from it which table holds until its instant.
 *
 * Losing ZooKeeper: `on_loss = keep` (default) keeps polling the last
 * assignment: no gaps, but if the session expires meanwhile another member
 * may own the same slots (duplicates). `fence` stops shared polls once the
 * session may have expired (unconfirmed for the session timeout): no
 * duplicates, but gaps until the session is back. Either way a session
 * known to have expired, or a stall of this process past it, drops the
 * table until read again (cluster_session.c).
 */
#include "agent/cluster_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Whether target id is ours at due_ms; `polling`: for a poll (the
 * scheduler), which a stall of the loop also stops. */
static bool owns_at(struct cluster_group *cg, const char *id, int64_t due_ms, bool polling)
{
    if (cluster_opts_of(cg)->on_loss == LOSS_FENCE) {
        coord_status_t st;
        coord_get_status(cg->c, &st);
        if (st.state != COORD_CONNECTED && st.unconfirmed_ms >= st.session_timeout_ms) return false;
    }
    pthread_mutex_lock(&cg->mu);
    /* just joined, or the session may have expired: the table in force may
     * not be ours to know; don't guess. A stall (the loop did not beat) or
     * an instant that fell during one: its owner may have changed meanwhile */
    if (!cg->synced || (polling && (loop_now_ms() - cg->beat_ms > cg->stall_limit_ms ||
                                    due_ms < cg->resumed_wall_ms))) {
        pthread_mutex_unlock(&cg->mu);
        return false;
    }
    /* unknown (joined while a table is pending: the others poll under the
     * one before it, which we never saw): polling everything would
     * duplicate every target */
    group_owner o;
    group_clock_owner_at(&cg->clock, id, due_ms, &o);
    bool owned = o.kind == GROUP_OWNER_NO_TABLE ||
                 (o.kind == GROUP_OWNER_MEMBER && !strcmp(o.owner_id, cg->member_id));
    pthread_mutex_unlock(&cg->mu);
    return owned;
}

bool cluster_owns(void *ctx, const poll_target *t, int64_t due_ms)
{
    return owns_at(ctx, t->id, due_ms, true);
}

/* For /metrics (HTTP threads): a loop that is merely late under load hides
 * nothing (a frozen process answers no scrape either); what the table, the
 * session and the fence say, does. */
bool cluster_exports(struct cluster_group *cg, const char *target, int64_t wall_ms)
{
    return owns_at(cg, target, wall_ms, false);
}

/* The revision's targets and their slot loads (loop thread). */
static int targets_load(struct cluster_group *cg, uint32_t **load)
{
    *load = malloc(PARTITION_SLOTS * sizeof **load);
    group_targets tg;
    if (!*load || group_revision_targets(cg->g->pipe, &tg) != 0) {
        free(*load);
        *load = NULL;
        return -1;
    }
    group_slot_loads(&tg, *load);
    group_targets_free(&tg);
    return 0;
}

/* The leader's table write is done (loop thread; not after coord_close). */
static void replan_done(void *arg, int rc, int64_t new_epoch)
{
    struct cluster_group *cg = arg;
    agent *a = cg->a;
    cg->replanning = false;
    if (rc == 0 || rc == COORD_ECONFLICT) {
        /* ours, or one written meanwhile (by a previous leader): it reaches
         * us through the watch, whose handler replans on it; planning again
         * before would plan from the same epoch and lose the CAS */
        cg->await_epoch = rc == 0 ? new_epoch : cg->await_epoch + 1;
        if (rc == COORD_ECONFLICT)
            log_info(&a->log, "cluster", "%s: slot table changed under us; replanning on it",
                     cg->member_id);
        else
            log_info(&a->log, "cluster",
                     "%s: slot table epoch %" PRId64 ": %u members, %u slots moved (%u orphaned), "
                     "effective in %" PRId64 " ms",
                     cg->member_id, new_epoch, cg->plan.n_members, cg->plan.slots_moved,
                     cg->plan.slots_orphan, cg->plan.effective_in_ms);
    } else {
        log_warn(&a->log, "cluster", "%s: writing the slot table: %s", cg->member_id,
                 coord_strerror(rc));
        /* not written: once ZooKeeper answers again, plan afresh */
        if (rc == COORD_ENOCONN || rc == COORD_ETIMEOUT) cluster_schedule_replan(cg, 500);
    }
    if (cg->replan_again) {
        cg->replan_again = false;
        cluster_schedule_replan(cg, 0);
    }
}

/* Whether prev gives slots to a member making a planned leave (us included:
 * on_members leaves us out of cg->members once we announced it). */
static bool holds_leaver(const struct cluster_group *cg, const partition_table *prev)
{
    for (size_t i = 0; prev && i < cg->n_leaving; i++)
        if (partition_member_index(prev, cg->leaving[i]) >= 0) return true;
    return cg->leave && prev && partition_member_index(prev, cg->member_id) >= 0;
}

void cluster_replan(void *arg)
{
    struct cluster_group *cg = arg;
    agent *a = cg->a;
    if (cg->stopped) return;
    if (!cg->synced || cg->resync) { /* never plan over a table we have not read */
        cluster_table_sync(cg);
        return;
    }
    if (!cg->is_leader || !cg->n_members) return;
    if (cg->replanning) { /* one write at a time: the next plan starts from its result */
        cg->replan_again = true;
        return;
    }
    int64_t now = loop_wall_ms();
    pthread_mutex_lock(&cg->mu);
    const group_clock_table *newest = group_clock_newest(&cg->clock);
    /* over a refused (forged) table too: planned from the last trusted one */
    int64_t epoch = cg->clock.epoch > cg->refused_epoch ? cg->clock.epoch : cg->refused_epoch;
    /* a table we know is stored has not reached us yet: its handler replans */
    bool behind = epoch < cg->await_epoch;
    partition_table *prev = newest && !behind ? partition_table_copy(newest->t) : NULL;
    /* the table in force until the new one's instant, named in it: a member
     * that reads only the new one polls under the same table as the others
     * meanwhile (group.h). Our effective timer may not have run yet. */
    group_clock_promote(&cg->clock, now);
    partition_prev in_force;
    bool named = !behind && group_clock_in_force(&cg->clock, &in_force) == 0;
    int64_t pending_at = group_clock_next_ms(&cg->clock);
    pthread_mutex_unlock(&cg->mu);
    if (behind) return;
    uint32_t *load = NULL;
    if (targets_load(cg, &load) != 0) {
        partition_table_free(prev);
        if (named) partition_table_free(in_force.t);
        return;
    }

    partition_options opt;
    partition_options_init(&opt);
    opt.epoch = (uint64_t)epoch + 1;
    partition_table *next = NULL;
    partition_plan_stats st;
    char err[300];
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
    /* a rebalance alone (the loads changed: a push) waits for the pending
     * table's instant. Superseding it moves that instant out by handover_ms,
     * so pushes more often than that kept a leave's table from ever coming
     * into force: the leaver went at its deadline and its slots were orphans
     * until the next plan (chaos churn, CHAOS_SEED=723930101: 15-28 missed
     * in 3 runs of 7) */
    if (same_members && pending_at >= 0) {
        int64_t wait = pending_at - now + 1;
        cluster_schedule_replan(cg, wait < INT32_MAX ? (int)wait : INT32_MAX);
        goto out;
    }
    /* slots of departed members move at once (nobody polls them); moves
     * between live members, leaving ones included (they poll until then),
     * take effect after a margin every member can meet */
    int handover = cluster_opts_of(cg)->handover_ms;
    next->effective_ms =
        st.slots_orphan && st.slots_orphan == st.slots_moved && !holds_leaver(cg, prev)
            ? now
            : now + handover;
    /* nor is a pending table superseded when the new one may reach members
     * after its instant: those that put it in force keep it (never going
     * back: a leaver out of it may have gone), the others the one before
     * (named in the new one), and they would disagree until the new instant */
    if (next->effective_ms > now && pending_at >= 0 && pending_at - now < handover / 2) {
        cluster_schedule_replan(cg, (int)(pending_at - now) + 1);
        goto out;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    /* a table in force is older than the one planned (its epoch is the
     * stored one's or before) */
    if (partition_table_encode_prev(next, named ? &in_force : NULL, &buf, &len, err, sizeof err) !=
        0) {
        log_error(&a->log, "cluster", "%s: encoding the table: %s", cg->member_id, err);
        goto out;
    }
    /* what the completion logs; the table itself is copied by the call */
    cg->plan.n_members = next->n_members;
    cg->plan.slots_moved = st.slots_moved;
    cg->plan.slots_orphan = st.slots_orphan;
    cg->plan.effective_in_ms = next->effective_ms - now;
    cg->await_epoch = epoch; /* the conflict case counts from here */
    if (cluster_table_seal(cg, epoch + 1, &buf, &len) != 0) goto out;
    int rc = coord_assignment_write_async(cg->c, epoch, buf, len, replan_done, cg);
    free(buf);
    if (rc == 0)
        cg->replanning = true;
    else
        log_warn(&a->log, "cluster", "%s: writing the slot table: %s", cg->member_id,
                 coord_strerror(rc));
out:
    partition_table_free(next);
    partition_table_free(prev);
    if (named) partition_table_free(in_force.t);
    free(load);
}

void cluster_schedule_replan(struct cluster_group *cg, int delay_ms)
{
    if (!cg->is_leader || cg->stopped) return;
    int64_t due = loop_now_ms() + delay_ms;
    if (loop_timer_pending(&cg->replan_timer) && cg->replan_timer.due_ms <= due) return;
    loop_timer_at(cg->a->loop, &cg->replan_timer, due);
}

/* Arms the timer for the next pending instant (mu held). */
static void arm_effective(struct cluster_group *cg)
{
    int64_t next = group_clock_next_ms(&cg->clock);
    if (next < 0) return;
    int64_t wait = next - loop_wall_ms();
    loop_timer_at(cg->a->loop, &cg->effective_timer, loop_now_ms() + (wait > 0 ? wait : 0));
}

void cluster_table_promote(void *arg)
{
    struct cluster_group *cg = arg;
    if (cg->stopped) return;
    pthread_mutex_lock(&cg->mu);
    group_clock_promote(&cg->clock, loop_wall_ms());
    arm_effective(cg); /* the next one, or a monotonic timer that ran early */
    pthread_mutex_unlock(&cg->mu);
    cluster_publish_info(cg);
    cluster_leave_check(cg);
}

void cluster_table_install(struct cluster_group *cg, const uint8_t *buf, size_t len, int64_t epoch)
{
    agent *a = cg->a;
    if (!cluster_table_trusted(cg, buf, len, epoch)) return; /* the previous one stays */
    uint32_t *load = NULL;
    targets_load(cg, &load); /* NULL on ENOMEM: slots are still counted */
    char err[300];
    pthread_mutex_lock(&cg->mu);
    group_clock_promote(&cg->clock, loop_wall_ms());
    const group_clock_table *newest = group_clock_newest(&cg->clock);
    /* installing may supersede it: keep a copy to count the moves against */
    partition_table *before = newest ? partition_table_copy(newest->t) : NULL;
    int rc = group_clock_install(&cg->clock, buf, len, epoch, err, sizeof err);
    const partition_table *t = rc == 0 ? group_clock_newest(&cg->clock)->t : NULL;
    group_moves mv = {0};
    if (t) group_member_moves(before, t, cg->member_id, load, &mv);
    bool member = t && partition_member_index(t, cg->member_id) >= 0;
    int64_t wait = t ? t->effective_ms - loop_wall_ms() : 0;
    bool had_table = before != NULL; /* else nothing was polled under one */
    if (rc == 0) arm_effective(cg);
    pthread_mutex_unlock(&cg->mu);
    partition_table_free(before);
    free(load);
    if (rc < 0) {
        log_error(&a->log, "cluster",
                  "%s: slot table epoch %" PRId64 " is malformed, keeping the previous one: %s",
                  cg->member_id, epoch, err);
        return;
    }
    if (rc > 0) return; /* not newer than what we have */
    cg->g->epoch = (uint64_t)epoch;
    metrics_counter(cg->m_rebalances, 1);
    metrics_counter(cg->m_moved, mv.slots_gained + mv.slots_lost);
    metrics_counter(cg->m_targets_moved, (int64_t)(mv.targets_gained + mv.targets_lost));
    log_info(&a->log, "cluster",
             "%s: slot table epoch %" PRId64 " (%s): slots +%u -%u, in force %s", cg->member_id,
             epoch, member ? "member" : "not in it", mv.slots_gained, mv.slots_lost,
             wait > 0 ? "after a handover delay" : "now");
    /* slots taken from a live member move handover_ms ahead: reaching us
     * after their instant, the instants in between were polled here under
     * the table before, and by their new owner (a clock ahead of the
     * leader's, or a slow propagation: docs/CLUSTER.md, "Clock skew") */
    if (had_table && wait < 0 && mv.slots_lost)
        log_warn(&a->log, "cluster",
                 "%s: slot table epoch %" PRId64 " took %u slots from us %" PRId64
                 " ms after its instant: their instants in between may have been polled twice",
                 cg->member_id, epoch, mv.slots_lost, -wait);
}

/* The first-contact read is done (loop thread; not after coord_close). */
static void sync_done(void *arg, int rc, const void *table, size_t len, int64_t epoch)
{
    struct cluster_group *cg = arg;
    cg->syncing = false;
    if (cg->sync_stale) { /* sent before the session may have expired */
        cg->sync_stale = false;
        cluster_table_sync(cg);
        return;
    }
    if (cg->synced && !cg->resync) { /* the watch was first */
        if (rc == 0) {
            cluster_mark_ready(cg);
            cluster_publish_info(cg);
        }
        return;
    }
    if (rc != 0) { /* owning nothing (fence: or our old share) meanwhile: try again soon */
        log_warn(&cg->a->log, "cluster", "%s: reading the slot table: %s", cg->member_id,
                 coord_strerror(rc));
        loop_timer_at(cg->a->loop, &cg->replan_timer, loop_now_ms() + 500);
        return;
    }
    cg->resync = false;
    if (len) cluster_table_install(cg, table, len, epoch);
    pthread_mutex_lock(&cg->mu);
    cg->synced = true;
    pthread_mutex_unlock(&cg->mu);
    cluster_mark_ready(cg);
    cluster_publish_info(cg);
    cluster_schedule_replan(cg, 0); /* held back until the table was known */
    cluster_leave_check(cg);
}

void cluster_table_resync(struct cluster_group *cg)
{
    cg->resync = true;
    if (cg->syncing) cg->sync_stale = true;
    cluster_table_sync(cg);
}

void cluster_table_sync(struct cluster_group *cg)
{
    if ((cg->synced && !cg->resync) || cg->syncing || cg->stopped) return;
    if (coord_assignment_read_async(cg->c, sync_done, cg) == 0) cg->syncing = true;
}
