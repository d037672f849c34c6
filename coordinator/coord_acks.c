/*
 * coord_acks.c: acknowledgements of a push that cost the pusher O(1) reads
 * (issue 19; docs/CLUSTER.md "Aggregated acks").
 *
 * Layout: acks/<N, 10 digits> is created by the push of revision N, in the
 * multi that writes the pipeline node; under it each member that took N in
 * keeps one ephemeral child, applied-<member-id> or rejected-<member-id>,
 * holding its member JSON (the trace of the stages). A member writes it in
 * the multi that updates its member node and deletes its previous ack
 * child: one round trip and one transaction log append, as the plain
 * update was, and one ack child per member at a time. The leader deletes
 * the empty acks/<M> below the kept revisions.
 *
 * The pusher's side, following them, is coord_acks_wait.c.
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void coord_acks_path(const coord_t *c, int64_t number, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%010lld", c->acks_dir, (long long)number);
}

void coord_acks_child(const coord_t *c, int64_t number, bool rejected, const char *id, char *out,
                      size_t cap)
{
    char dir[700];
    coord_acks_path(c, number, dir, sizeof dir);
    snprintf(out, cap, "%s/%s%s", dir,
             rejected ? COORD_ACK_REJECTED_PREFIX : COORD_ACK_APPLIED_PREFIX, id);
}

/* ---- the member's side ------------------------------------------------------ */

/* The op of a failed multi that failed, and its code (the others say OK or
 * "rolled back"). -1 when none says (the request itself failed). */
static int failed_op(const zoo_op_result_t *res, int n, int *err)
{
    for (int i = 0; i < n; i++)
        if (res[i].err != ZOK && res[i].err != ZRUNTIMEINCONSISTENCY) {
            *err = res[i].err;
            return i;
        }
    return -1;
}

int coord_acks_member_write(coord_t *c, zhandle_t *zh, const char *json, int len, bool set_member,
                            int64_t ack, bool rejected)
{
    const clientid_t *id = zoo_client_id(zh);
    int64_t sid = id ? id->client_id : 0;
    if (sid != c->ack_sid) { /* our ack child died with its session */
        c->ack_sid = sid;
        c->ack_done = 0;
        c->ack_path[0] = 0;
    }
    bool want = ack > 0 && (ack != c->ack_done || rejected != c->ack_done_rejected);
    if (!want) return set_member ? zoo_set(zh, c->member_path, json, len, -1) : ZOK;
    char path[900];
    coord_acks_child(c, ack, rejected, c->member_id, path, sizeof path);
    bool create = true, del = c->ack_path[0] && strcmp(c->ack_path, path) != 0, created = false;
    int zrc = ZOK;
    for (int attempt = 0; attempt < 4; attempt++) {
        zoo_op_t ops[3];
        zoo_op_result_t res[3];
        int kind[3], n = 0;
        if (set_member) {
            zoo_set_op_init(&ops[n], c->member_path, json, len, -1, NULL);
            kind[n++] = 0;
        }
        if (create) {
            zoo_create_op_init(&ops[n], path, json, len, coord_acl_for(c, path), ZOO_EPHEMERAL,
                               NULL, 0);
            kind[n++] = 1;
        }
        if (del) {
            zoo_delete_op_init(&ops[n], c->ack_path, -1);
            kind[n++] = 2;
        }
        if (n == 0) break;
        for (int i = 0; i < n; i++)
            res[i].err = ZOK;
        zrc = zoo_multi(zh, n, ops, res);
        if (zrc == ZOK) {
            created |= create;
            if (del) c->ack_path[0] = 0;
            break;
        }
        int err = zrc, op = coord_zerr(zrc) == COORD_ENOCONN ? -1 : failed_op(res, n, &err);
        if (op < 0 || kind[op] == 0) return zrc; /* the member node's own trouble: as before */
        if (kind[op] == 1) {
            /* exists: ours, from a write whose reply a reconnection lost;
             * no acks/<N>: a pusher that makes none, or pruned; refused:
             * ACLs of an older layout. The member node says it anyway. */
            if (err == ZNODEEXISTS)
                created = true;
            else
                coord_log(c, err == ZNONODE ? COORD_LOG_DEBUG : COORD_LOG_WARN,
                          "ack of revision %lld not written: %s (the member node says it)",
                          (long long)ack, zerror(err));
            create = false;
        } else {
            if (err != ZNONODE)
                coord_log(c, COORD_LOG_WARN, "cannot delete our previous ack %s: %s", c->ack_path,
                          zerror(err));
            c->ack_path[0] = 0;
            del = false;
        }
        zrc = ZOK;
    }
    if (zrc == ZOK) {
        c->ack_done = ack;
        c->ack_done_rejected = rejected;
        if (created) snprintf(c->ack_path, sizeof c->ack_path, "%s", path);
    }
    return zrc;
}

/* ---- the pusher's and the leader's side ---------------------------------------- */

int coord_acks_prepare(coord_t *c, zhandle_t *zh)
{
    pthread_mutex_lock(&c->mu);
    bool ready = c->acks_dir_ready;
    pthread_mutex_unlock(&c->mu);
    if (ready) return COORD_OK;
    /* one look (a pusher is often a process per push); the members judge
     * its ACL at first contact (coord_acl_check_below) */
    struct Stat st;
    int zrc = zoo_exists(zh, c->acks_dir, 0, &st);
    int rc = zrc == ZOK       ? COORD_OK
             : zrc == ZNONODE ? coord_ensure_path(c, zh, c->acks_dir)
                              : coord_zerr(zrc);
    if (rc != COORD_OK) return rc;
    pthread_mutex_lock(&c->mu);
    c->acks_dir_ready = true;
    pthread_mutex_unlock(&c->mu);
    return COORD_OK;
}

void coord_acks_prune(coord_t *c, zhandle_t *zh, int64_t newest)
{
    struct String_vector kids = {0, NULL};
    if (zoo_get_children(zh, c->acks_dir, 0, &kids) != ZOK) return;
    for (int i = 0; i < kids.count; i++) {
        char *end;
        long long m = strtoll(kids.data[i], &end, 10);
        if (*end || m <= 0 || m > newest - c->keep_revisions) continue;
        char path[700];
        coord_acks_path(c, m, path, sizeof path);
        /* not empty: a member still holds its ack there (it runs M) */
        int zrc = zoo_delete(zh, path, -1);
        if (zrc != ZOK && zrc != ZNONODE && zrc != ZNOTEMPTY)
            coord_log(c, COORD_LOG_WARN, "cannot prune %s: %s", path, zerror(zrc));
    }
    deallocate_String_vector(&kids);
}
