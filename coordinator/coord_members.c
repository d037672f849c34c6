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

int coord_member_update(coord_t *c, const coord_member_info_t *info)
{
    if (!c || !info || !c->is_member) return COORD_EINVAL;
    char *json = NULL;
    int rc = coord_member_info_to_json(info, &json);
    if (rc != COORD_OK) return rc;
    size_t len = strlen(json);
    free(json);
    if (len > COORD_MEMBER_MAX_BYTES) return COORD_ETOOBIG;
    pthread_mutex_lock(&c->mu);
    c->info = *info;
    c->info_dirty = true;
    c->dirty |= DIRTY_INFO; /* the event thread writes it (and again after a rejoin) */
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    return COORD_OK;
}

int coord_members_join(coord_t *c, zhandle_t *zh, bool check)
{
    pthread_mutex_lock(&c->mu);
    coord_member_info_t info = c->info;
    bool dirty = c->info_dirty;
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
        zrc = zoo_set(zh, c->member_path, json, len, -1);
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
            zrc = zoo_set(zh, c->member_path, json, len, -1);
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
 * The children to read are read at once, pipelined (one round trip for all,
 * not one per member: a leader or an observer reads every member that
 * acknowledged a push). Each reply lands in its own read_one; the caller
 * waits for every reply before it looks at any (the client calls every
 * completion, with an error when the connection goes).
 */
typedef struct read_batch {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int left;
} read_batch;

typedef struct read_one {
    read_batch *batch;
    member_slot *slot;
    int zrc;
    char *buf; /* malloc'd copy of the data (NUL-terminated) */
    int len;
    struct Stat st;
} read_one;

static void read_done(int rc, const char *value, int value_len, const struct Stat *stat,
                      const void *data)
{
    read_one *r = (read_one *)data;
    r->zrc = rc;
    if (rc == ZOK && stat) {
        r->st = *stat;
        if (value_len < 0) value_len = 0;
        r->len = value_len;
        if ((size_t)value_len <= COORD_MEMBER_MAX_BYTES &&
            (r->buf = malloc((size_t)value_len + 1))) {
            if (value_len) memcpy(r->buf, value, (size_t)value_len);
            r->buf[value_len] = 0;
        }
    }
    read_batch *b = r->batch;
    pthread_mutex_lock(&b->mu);
    if (--b->left == 0) pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

/* Fills r->slot from a reply; COORD_ENOENT when it vanished, other errors abort. */
static int take_member(coord_t *c, read_one *r)
{
    member_slot *s = r->slot;
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

/* Sends the read of child `name` into r (its slot zeroed and named). */
static void read_member_send(coord_t *c, zhandle_t *zh, const char *name, read_one *r)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", c->members_dir, name);
    memset(r->slot, 0, sizeof *r->slot);
    snprintf(r->slot->m.id, sizeof r->slot->m.id, "%s", name);
    bool watch = c->member_data_watched;
    int zrc = zoo_awget(zh, path, watch ? coord_watcher : NULL, watch ? c : NULL, read_done, r);
    if (zrc != ZOK) { /* not sent: no completion will come */
        r->zrc = zrc;
        pthread_mutex_lock(&r->batch->mu);
        r->batch->left--;
        pthread_mutex_unlock(&r->batch->mu);
    }
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
    member_slot *slots = calloc(kids.count ? (size_t)kids.count : 1, sizeof *slots);
    read_one *reads = calloc(kids.count ? (size_t)kids.count : 1, sizeof *reads);
    bool *fresh = calloc(kids.count ? (size_t)kids.count : 1, sizeof *fresh);
    read_batch batch = {.left = 0};
    pthread_mutex_init(&batch.mu, NULL);
    pthread_cond_init(&batch.cond, NULL);
    size_t n = 0;
    if (!reads || !fresh) {
        free(slots);
        slots = NULL;
    }
    /* every read is sent before the first reply is looked at */
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
        reads[n] = (read_one){.batch = &batch, .slot = &slots[n]};
        fresh[n] = true;
        pthread_mutex_lock(&batch.mu);
        batch.left++;
        pthread_mutex_unlock(&batch.mu);
        read_member_send(c, zh, name, &reads[n]);
        n++;
    }
    pthread_mutex_lock(&batch.mu);
    while (batch.left > 0)
        pthread_cond_wait(&batch.cond, &batch.mu);
    pthread_mutex_unlock(&batch.mu);
    pthread_mutex_destroy(&batch.mu);
    pthread_cond_destroy(&batch.cond);
    size_t kept = 0;
    for (size_t i = 0; slots && i < n; i++) {
        int r = fresh[i] ? take_member(c, &reads[i]) : COORD_OK;
        free(reads[i].buf);
        if (r == COORD_OK)
            slots[kept++] = slots[i];
        else if (r != COORD_ENOENT && rc == COORD_OK) /* vanished: the child watch tells us again */
            rc = r;
    }
    n = kept;
    free(reads);
    free(fresh);
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
