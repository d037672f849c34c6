/*
 * coord_members.c: our member node and the group's membership view.
 *
 * Joining creates /<group>/members/<member-id> as an ephemeral node: it lives
 * exactly as long as our session, so a dead agent disappears from the group
 * after one session timeout without anyone deciding it. Member ids are stable
 * across restarts; if a node with our id still belongs to an older session
 * (our previous incarnation after kill -9, or a misconfigured twin) we never
 * delete it: we watch it and join when its session ends. That keeps two live
 * processes from fighting over one identity.
 *
 * The view: the children of members/ (with a child watch) plus each child's
 * data, watched (so updates are seen too) by observers and by the leader
 * only: the one member that plans with it. Other members read a child's
 * data when it appears and not again, so an ack written by every member
 * after a push costs the group O(n) reads, not O(n^2) (issue 19). Only
 * children named in a notification, or new ones, are read again, all at
 * once (pipelined). A snapshot is
 * delivered when it differs from the last one; it carries the newest zxid it
 * reflects. Nodes that are not ephemeral, too large, or not our JSON are
 * logged once per change and left out: someone else's junk in our tree never
 * reaches the agent.
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int member_update(coord_t *c, const coord_member_info_t *info, int64_t ack, bool rejected)
{
    if (!c || !info || !c->is_member || ack < 0) return COORD_EINVAL;
    char *json = NULL;
    int rc = coord_member_info_to_json(info, &json);
    if (rc != COORD_OK) return rc;
    size_t len = strlen(json);
    free(json);
    if (len > COORD_MEMBER_MAX_BYTES) return COORD_ETOOBIG;
    pthread_mutex_lock(&c->mu);
    c->info = *info;
    /* with the info it carries: the ack child holds what the node says */
    if (ack > 0) {
        c->ack_want = ack;
        c->ack_want_rejected = rejected;
    }
    c->info_dirty = true;
    c->dirty |= DIRTY_INFO; /* the event thread writes it (and again after a rejoin) */
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return COORD_OK;
}

int coord_member_update(coord_t *c, const coord_member_info_t *info)
{
    return member_update(c, info, 0, false);
}

int coord_member_ack(coord_t *c, const coord_member_info_t *info, int64_t number, bool rejected)
{
    return member_update(c, info, number, rejected);
}

int coord_members_join(coord_t *c, zhandle_t *zh, bool check)
{
    pthread_mutex_lock(&c->mu);
    coord_member_info_t info = c->info;
    bool dirty = c->info_dirty;
    int64_t ack = c->ack_want;
    bool rejected = c->ack_want_rejected;
    c->info_dirty = false;
    pthread_mutex_unlock(&c->mu);
    char *json = NULL;
    int rc = coord_member_info_to_json(&info, &json);
    if (rc != COORD_OK) return rc;
    int len = (int)strlen(json), zrc = ZOK;
    if (c->joined && check) {
        struct Stat st;
        zrc = zoo_exists(zh, c->member_path, 0, &st);
        if (zrc == ZNONODE) {
            coord_log(c, COORD_LOG_WARN, "our member node was deleted: joining again");
            c->joined = false;
        }
    }
    if (c->joined && dirty) {
        zrc = coord_acks_member_write(c, zh, json, len, true, ack, rejected);
        if (zrc == ZNONODE) c->joined = false;
    }
    for (int attempt = 0; !c->joined && attempt < 2; attempt++) {
        zrc = zoo_create(zh, c->member_path, json, len, coord_acl_for(c, c->member_path),
                         ZOO_EPHEMERAL, NULL, 0);
        if (zrc == ZOK) {
            pthread_mutex_lock(&c->mu);
            c->joined = true;
            pthread_mutex_unlock(&c->mu);
            coord_log(c, COORD_LOG_INFO, "joined as %s", c->member_id);
            /* an ack of this session's (a rejoin after expiry) goes with it */
            zrc = coord_acks_member_write(c, zh, json, len, false, ack, rejected);
            break;
        }
        if (zrc != ZNODEEXISTS) break;
        struct Stat st;
        zrc = zoo_wexists(zh, c->member_path, coord_watcher, c, &st);
        if (zrc == ZNONODE) continue; /* gone meanwhile: create again */
        if (zrc != ZOK) break;
        const clientid_t *id = zoo_client_id(zh);
        if (id && st.ephemeralOwner == id->client_id) { /* our create's reply was lost */
            pthread_mutex_lock(&c->mu);
            c->joined = true;
            pthread_mutex_unlock(&c->mu);
            zrc = coord_acks_member_write(c, zh, json, len, true, ack, rejected);
            break;
        }
        coord_log(c, COORD_LOG_WARN, "member id %s is held by session 0x%llx; joining when it ends",
                  c->member_id, (unsigned long long)st.ephemeralOwner);
        zrc = ZOK; /* not an error: the watch calls us back */
        break;
    }
    free(json);
    rc = coord_zerr(zrc);
    if (rc != COORD_OK) {
        pthread_mutex_lock(&c->mu);
        c->info_dirty |= dirty;
        pthread_mutex_unlock(&c->mu);
    }
    return rc;
}

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const member_slot *)a)->m.id, ((const member_slot *)b)->m.id);
}

static member_slot *find_slot(member_slot *slots, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(slots[i].m.id, id) == 0) return &slots[i];
    return NULL;
}

/*
 * Reads are sent at once, pipelined (one round trip for all, not one per
 * node: a leader or an observer reads every member that acknowledged a
 * push, a pusher the members without an ack child). The client calls every
 * completion, with an error when the connection goes, so waiting for all
 * of them always ends.
 */
typedef struct get_batch {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int left;
} get_batch;

typedef struct get_one {
    get_batch *batch;
    coord_got_t *got;
    size_t cap;
} get_one;

static void get_done(int rc, const char *value, int value_len, const struct Stat *stat,
                     const void *data)
{
    const get_one *o = data;
    coord_got_t *r = o->got;
    r->zrc = rc;
    if (rc == ZOK && stat) {
        r->st = *stat;
        if (value_len < 0) value_len = 0;
        r->len = value_len;
        if ((size_t)value_len <= o->cap && (r->buf = malloc((size_t)value_len + 1))) {
            if (value_len) memcpy(r->buf, value, (size_t)value_len);
            r->buf[value_len] = 0;
        }
    }
    get_batch *b = o->batch;
    pthread_mutex_lock(&b->mu);
    if (--b->left == 0) pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

int coord_get_many(zhandle_t *zh, char *const *paths, size_t n, watcher_fn w, void *ctx, size_t cap,
                   coord_got_t *got)
{
    get_one *ones = calloc(n ? n : 1, sizeof *ones);
    if (!ones) return COORD_ESYS;
    get_batch b = {.left = 0};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cond, NULL);
    for (size_t i = 0; i < n; i++) {
        memset(&got[i], 0, sizeof got[i]);
        ones[i] = (get_one){.batch = &b, .got = &got[i], .cap = cap};
        pthread_mutex_lock(&b.mu);
        b.left++;
        pthread_mutex_unlock(&b.mu);
        int zrc = zoo_awget(zh, paths[i], w, w ? ctx : NULL, get_done, &ones[i]);
        if (zrc != ZOK) { /* not sent: no completion will come */
            got[i].zrc = zrc;
            pthread_mutex_lock(&b.mu);
            b.left--;
            pthread_mutex_unlock(&b.mu);
        }
    }
    pthread_mutex_lock(&b.mu);
    while (b.left > 0)
        pthread_cond_wait(&b.cond, &b.mu);
    pthread_mutex_unlock(&b.mu);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cond);
    free(ones);
    return COORD_OK;
}

/* Fills s from a reply; COORD_ENOENT when it vanished, other errors abort. */
static int take_member(coord_t *c, const coord_got_t *r, member_slot *s)
{
    const char *name = s->m.id;
    char err[256];
    if (r->zrc != ZOK) return coord_zerr(r->zrc);
    if (r->len > COORD_MEMBER_MAX_BYTES) {
        coord_log(c, COORD_LOG_WARN, "ignoring member node %s: larger than %d bytes", name,
                  COORD_MEMBER_MAX_BYTES);
        return COORD_OK;
    }
    if (!r->buf) return COORD_ESYS;
    s->m.session = r->st.ephemeralOwner;
    s->m.mzxid = r->st.mzxid;
    s->m.mtime_ms = r->st.mtime;
    s->m.version = r->st.version;
    if (r->st.ephemeralOwner == 0)
        coord_log(c, COORD_LOG_WARN, "ignoring member node %s: not ephemeral (not a live member)",
                  name);
    else if (coord_member_info_from_json(r->buf, (size_t)r->len, &s->m.info, err, sizeof err) !=
             COORD_OK)
        coord_log(c, COORD_LOG_WARN, "ignoring member node %s: %s", name, err);
    else
        s->valid = true;
    return COORD_OK;
}

static bool same_view(const coord_members_t *a, const coord_members_t *b)
{
    if (a->count != b->count) return false;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->members[i].id, b->members[i].id) != 0 ||
            a->members[i].mzxid != b->members[i].mzxid ||
            a->members[i].session != b->members[i].session)
            return false;
    return true;
}

static bool name_in(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return true;
    return false;
}

int coord_members_refresh(coord_t *c, zhandle_t *zh)
{
    if (c->without_members) return COORD_OK; /* a pusher: coord_acks.c has its names */
    struct String_vector kids = {0, NULL};
    struct Stat pst;
    int zrc = zoo_wget_children2(zh, c->members_dir, coord_watcher, c, &kids, &pst);
    if (zrc != ZOK) return coord_zerr(zrc);

    /* not watching our own node's data (our own writes would wake us): its
     * deletion shows here, and the join checks and re-creates it */
    bool own_missing = c->is_member && c->joined;
    for (int i = 0; own_missing && i < kids.count; i++)
        own_missing = strcmp(kids.data[i], c->member_id) != 0;
    pthread_mutex_lock(&c->mu);
    if (own_missing) c->dirty |= DIRTY_JOIN;
    char **stale = c->dirty_members;
    size_t nstale = c->ndirty_members;
    bool all_stale = c->members_all_stale;
    c->dirty_members = NULL;
    c->ndirty_members = 0;
    c->members_all_stale = false;
    pthread_mutex_unlock(&c->mu);

    int rc = COORD_OK;
    size_t cap = kids.count ? (size_t)kids.count : 1;
    member_slot *slots = calloc(cap, sizeof *slots);
    coord_got_t *got = calloc(cap, sizeof *got);
    char **paths = calloc(cap, sizeof *paths);
    size_t *at = calloc(cap, sizeof *at); /* read i fills slots[at[i]] */
    bool *gone = calloc(cap, sizeof *gone);
    size_t n = 0, nread = 0;
    if (!got || !paths || !at || !gone) {
        free(slots);
        slots = NULL;
    }
    for (int i = 0; slots && i < kids.count; i++) {
        const char *name = kids.data[i];
        if (strlen(name) >= sizeof slots[0].m.id) {
            coord_log(c, COORD_LOG_WARN, "ignoring member node with a name over 127 bytes");
            continue;
        }
        member_slot *old = find_slot(c->slots, c->nslots, name);
        if (old && !all_stale && !name_in(stale, nstale, name)) {
            slots[n++] = *old;
            continue;
        }
        size_t plen = strlen(c->members_dir) + strlen(name) + 2;
        if (!(paths[nread] = malloc(plen))) {
            rc = COORD_ESYS;
            break;
        }
        snprintf(paths[nread], plen, "%s/%s", c->members_dir, name);
        snprintf(slots[n].m.id, sizeof slots[n].m.id, "%s", name);
        at[nread++] = n++;
    }
    bool watch = c->member_data_watched;
    if (slots && rc == COORD_OK)
        rc = coord_get_many(zh, paths, nread, watch ? coord_watcher : NULL, c,
                            COORD_MEMBER_MAX_BYTES, got);
    for (size_t i = 0; slots && i < nread && rc == COORD_OK; i++) {
        int r = take_member(c, &got[i], &slots[at[i]]);
        if (r == COORD_ENOENT) /* vanished: the child watch tells us again */
            gone[at[i]] = true;
        else if (r != COORD_OK)
            rc = r;
    }
    for (size_t i = 0; paths && i < nread; i++) {
        free(paths[i]);
        if (got) free(got[i].buf);
    }
    size_t kept = 0;
    for (size_t i = 0; slots && i < n; i++)
        if (!gone[i]) slots[kept++] = slots[i];
    n = kept;
    free(gone);
    free(got);
    free(paths);
    free(at);
    if (!slots) rc = COORD_ESYS;
    deallocate_String_vector(&kids);
    if (rc != COORD_OK) {
        /* keep the old view; read the unread names next time */
        pthread_mutex_lock(&c->mu);
        c->members_all_stale = true;
        pthread_mutex_unlock(&c->mu);
        for (size_t i = 0; i < nstale; i++)
            free(stale[i]);
        free(stale);
        free(slots);
        return rc;
    }
    for (size_t i = 0; i < nstale; i++)
        free(stale[i]);
    free(stale);
    qsort(slots, n, sizeof *slots, cmp_slot);

    coord_members_t snap = {.zxid = pst.pzxid, .cversion = pst.cversion};
    snap.members = calloc(n ? n : 1, sizeof *snap.members);
    if (!snap.members) {
        free(slots);
        return COORD_ESYS;
    }
    for (size_t i = 0; i < n; i++) {
        if (!slots[i].valid) continue;
        snap.members[snap.count++] = slots[i].m;
        if (slots[i].m.mzxid > snap.zxid) snap.zxid = slots[i].m.mzxid;
    }
    pthread_mutex_lock(&c->mu);
    free(c->slots);
    c->slots = slots;
    c->nslots = n;
    bool changed = !c->members_delivered || !same_view(&snap, &c->last_members);
    coord_members_t old = c->last_members;
    c->last_members = snap;
    c->members_delivered = true;
    pthread_mutex_unlock(&c->mu);
    coord_members_free(&old);
    /* the event thread is the only writer of last_members: safe to lend it */
    if (changed) coord_emit_members(c, &c->last_members);
    return COORD_OK;
}

int coord_members_on_leader(coord_t *c, zhandle_t *zh, bool is_me)
{
    if (!c->is_member || is_me == c->member_data_watched) return COORD_OK;
    /* deposed: the watches set fire once more, and are not set again */
    c->member_data_watched = is_me;
    if (!is_me) return COORD_OK;
    pthread_mutex_lock(&c->mu);
    c->members_all_stale = true;
    pthread_mutex_unlock(&c->mu);
    int rc = coord_members_refresh(c, zh);
    if (rc != COORD_OK) {
        c->member_data_watched = false; /* the next election tries again */
        coord_mark_dirty(c, DIRTY_MEMBERS);
    }
    return rc;
}

int coord_members_get(coord_t *c, coord_members_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    *out = c->last_members;
    out->members = malloc((out->count ? out->count : 1) * sizeof *out->members);
    if (out->members && out->count)
        memcpy(out->members, c->last_members.members, out->count * sizeof *out->members);
    pthread_mutex_unlock(&c->mu);
    if (!out->members) {
        out->count = 0;
        return COORD_ESYS;
    }
    return COORD_OK;
}

void coord_members_clear(coord_t *c)
{
    free(c->slots);
    c->slots = NULL;
    c->nslots = 0;
    for (size_t i = 0; i < c->ndirty_members; i++)
        free(c->dirty_members[i]);
    free(c->dirty_members);
    c->dirty_members = NULL;
    c->ndirty_members = 0;
    coord_members_free(&c->last_members);
}
