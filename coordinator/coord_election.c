/*
 * coord_election.c: leader election per group, ZooKeeper's recipe.
 *
 * Each candidate creates election/<guid>-n_<seq> (ephemeral sequential); the
 * lowest sequence leads. A candidate watches only its predecessor, so a
 * departure wakes one process, not the whole group (no herd on the election
 * itself). The guid prefix is new for every session: if a create's reply is
 * lost with the connection, the node may exist anyway, and we find it again
 * by its prefix instead of leaving an orphan that would lead in our name
 * until the session ends.
 *
 * Every process (candidates and observers) also reads and watches the
 * leader's node, whose data {"member":..,"endpoint":..} advertises the
 * pub-sub endpoint: learning a new leader's endpoint has to reach everyone,
 * so that one notification per process on a leader change is the price, and
 * it costs one read each. The leader watches its own node so that someone
 * deleting it is noticed. Names that do not follow the pattern (someone
 * else's nodes) are ignored.
 */
#include "coord_int.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct candidate {
    long long seq;
    const char *name;
} candidate;

static int cmp_candidate(const void *a, const void *b)
{
    long long x = ((const candidate *)a)->seq, y = ((const candidate *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Sequence number of "<guid>-n_<digits>", or -1. */
static long long seq_of(const char *name)
{
    const char *p = strstr(name, "-n_");
    if (!p) return -1;
    for (const char *q; (q = strstr(p + 1, "-n_"));)
        p = q;
    p += 3;
    if (!*p || strlen(p) > 18) return -1;
    for (const char *d = p; *d; d++)
        if (!isdigit((unsigned char)*d)) return -1;
    return atoll(p);
}

static int create_node(coord_t *c, zhandle_t *zh, struct String_vector *kids)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s-n_", c->guid);
    for (int i = 0; i < kids->count; i++)
        if (strncmp(kids->data[i], prefix, strlen(prefix)) == 0) {
            snprintf(c->elect_node, sizeof c->elect_node, "%s", kids->data[i]);
            c->node_endpoint[0] = 0; /* unknown: advertised again if we lead */
            coord_log(c, COORD_LOG_INFO, "found our election node %s again", c->elect_node);
            return COORD_OK;
        }
    char endpoint[256];
    coord_pubsub_advertised(c, endpoint, sizeof endpoint);
    json_t *o = json_pack("{s:s, s:s}", "member", c->member_id, "endpoint", endpoint);
    char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!data) return COORD_ESYS;
    char path[700], created[800];
    snprintf(path, sizeof path, "%s/%s", c->election_dir, prefix);
    int zrc = zoo_create(zh, path, data, (int)strlen(data), coord_acl_for(c, path),
                         ZOO_EPHEMERAL_SEQUENTIAL, created, sizeof created);
    free(data);
    if (zrc != ZOK) return coord_zerr(zrc); /* a retry looks for the guid first */
    const char *base = strrchr(created, '/');
    snprintf(c->elect_node, sizeof c->elect_node, "%.255s", base ? base + 1 : created);
    snprintf(c->node_endpoint, sizeof c->node_endpoint, "%s", endpoint);
    return COORD_OK;
}

/* Fills l from the leader node's data (and watches it). */
static int read_leader(coord_t *c, zhandle_t *zh, const char *name, coord_leader_t *l)
{
    char path[1024], *buf = NULL;
    size_t len = 0;
    struct Stat st;
    snprintf(path, sizeof path, "%s/%s", c->election_dir, name);
    int rc = coord_get_node(c, zh, path, true, 4096, &buf, &len, &st);
    if (rc == COORD_ETOOBIG) {
        coord_log(c, COORD_LOG_WARN, "leader node %s is too large: endpoint unknown", name);
        rc = COORD_OK;
    }
    if (rc != COORD_OK) return rc;
    memset(l, 0, sizeof *l);
    l->known = true;
    json_t *o = buf ? json_loadb(buf, len, 0, NULL) : NULL;
    const char *member = o ? json_string_value(json_object_get(o, "member")) : NULL;
    const char *endpoint = o ? json_string_value(json_object_get(o, "endpoint")) : NULL;
    if (!member) coord_log(c, COORD_LOG_WARN, "leader node %s has malformed data", name);
    snprintf(l->member_id, sizeof l->member_id, "%s", member ? member : "");
    snprintf(l->endpoint, sizeof l->endpoint, "%s", endpoint ? endpoint : "");
    json_decref(o);
    free(buf);
    return COORD_OK;
}

int coord_election_run(coord_t *c, zhandle_t *zh)
{
    for (int round = 0; round < 8; round++) {
        struct String_vector kids = {0, NULL};
        int zrc = zoo_get_children(zh, c->election_dir, 0, &kids);
        if (zrc != ZOK) return coord_zerr(zrc);
        int rc = COORD_OK;
        if (c->candidate && !c->elect_node[0]) {
            rc = create_node(c, zh, &kids);
            deallocate_String_vector(&kids);
            if (rc != COORD_OK) return rc;
            continue; /* list again, now with our node */
        }
        candidate *cands = calloc(kids.count ? (size_t)kids.count : 1, sizeof *cands);
        if (!cands) {
            deallocate_String_vector(&kids);
            return COORD_ESYS;
        }
        size_t n = 0;
        for (int i = 0; i < kids.count; i++) {
            long long seq = seq_of(kids.data[i]);
            if (seq < 0)
                coord_log(c, COORD_LOG_DEBUG, "ignoring election node %s", kids.data[i]);
            else
                cands[n++] = (candidate){seq, kids.data[i]};
        }
        qsort(cands, n, sizeof *cands, cmp_candidate);
        for (size_t i = 0; i < n; i++)
            coord_log(c, COORD_LOG_DEBUG, "candidate %zu: %s (mine: %s)", i, cands[i].name,
                      c->elect_node);
        long me = -1;
        for (size_t i = 0; c->candidate && i < n; i++)
            if (strcmp(cands[i].name, c->elect_node) == 0) me = (long)i;
        bool again = false;
        coord_leader_t l = {0};
        char path[1024];
        if (c->candidate && me < 0) {
            coord_log(c, COORD_LOG_WARN, "our election node %s vanished: standing again",
                      c->elect_node);
            c->elect_node[0] = 0;
            again = true;
        } else if (me == 0) {
            l.known = l.is_me = true;
            snprintf(l.member_id, sizeof l.member_id, "%s", c->member_id);
            snprintf(l.endpoint, sizeof l.endpoint, "%s", c->endpoint);
            snprintf(path, sizeof path, "%s/%s", c->election_dir, c->elect_node);
            struct Stat st;
            zrc = zoo_wexists(zh, path, coord_watcher, c, &st);
            if (zrc == ZNONODE)
                again = true;
            else if (zrc != ZOK)
                rc = coord_zerr(zrc);
        } else {
            if (me > 0) {
                snprintf(path, sizeof path, "%s/%s", c->election_dir, cands[me - 1].name);
                struct Stat st;
                zrc = zoo_wexists(zh, path, coord_watcher, c, &st);
                if (zrc == ZNONODE)
                    again = true; /* predecessor left meanwhile */
                else if (zrc != ZOK)
                    rc = coord_zerr(zrc);
            }
            if (!again && rc == COORD_OK && n > 0) {
                rc = read_leader(c, zh, cands[0].name, &l);
                if (rc == COORD_ENOENT) {
                    again = true;
                    rc = COORD_OK;
                }
            } else if (!again && rc == COORD_OK) {
                /* nobody stands: watch the folder to learn of the first candidate */
                struct String_vector w = {0, NULL};
                zrc = zoo_wget_children(zh, c->election_dir, coord_watcher, c, &w);
                if (zrc == ZOK && w.count > 0) again = true;
                deallocate_String_vector(&w);
                if (zrc != ZOK) rc = coord_zerr(zrc);
            }
        }
        free(cands);
        deallocate_String_vector(&kids);
        if (rc != COORD_OK) return rc;
        if (again) continue;
        /* leading: every member's data read and watched before we say so */
        rc = coord_members_on_leader(c, zh, l.is_me);
        if (rc != COORD_OK) return rc;
        /* leading: PUB open and advertised (fixes l.endpoint); else follow */
        rc = coord_pubsub_on_leader(c, zh, &l);
        coord_deliver_leader(c, &l);
        return rc;
    }
    return COORD_ECONFLICT; /* churn: the retry timer tries again */
}

void coord_leader_get(coord_t *c, coord_leader_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->leader;
    pthread_mutex_unlock(&c->mu);
}
