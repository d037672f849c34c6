/*
 * cluster_events.c: the coordinator's callbacks run on its event thread;
 * each copies what it got into an event and posts it to the agent's loop,
 * where cluster.c's handlers change state. Nothing else in cluster mode
 * runs on the coordinator's thread. (To be replaced by the coordinator's
 * executor seam, which posts callbacks onto the caller's loop itself.)
 */
#include "agent/cluster_int.h"

#include <stdlib.h>
#include <string.h>

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

static void event_free(cluster_event *ev)
{
    cluster_free_members(ev->members, ev->n_members);
    coord_revision_free(&ev->rev);
    free(ev->table);
    free(ev);
}

static void on_event(void *arg)
{
    cluster_event *ev = arg;
    struct cluster_group *cg = ev->cg;
    if (!cg->stopped) switch (ev->kind) {
        case EV_STATE:
            cluster_on_state(cg, ev->state);
            break;
        case EV_MEMBERS:
            cluster_on_members(cg, ev->members, ev->n_members);
            ev->members = NULL;
            ev->n_members = 0;
            break;
        case EV_LEADER:
            cluster_on_leader(cg, ev->is_leader);
            break;
        case EV_REVISION:
            cluster_on_revision(cg, &ev->rev);
            break;
        case EV_ASSIGNMENT:
            cluster_on_assignment(cg, ev->table, ev->table_len, ev->epoch);
            break;
        }
    event_free(ev);
}

static void post(struct cluster_group *cg, cluster_event *ev)
{
    ev->cg = cg;
    if (loop_post(cg->a->loop, on_event, ev) != 0) event_free(ev);
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

coord_callbacks_t cluster_event_callbacks(void)
{
    return (coord_callbacks_t){cb_state, cb_members, cb_leader, cb_revision, cb_assignment, cb_log};
}
