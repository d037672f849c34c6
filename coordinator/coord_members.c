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
 * data (with a data watch each, so updates are seen too). Only children
 * named in a notification, or new ones, are read again. A snapshot is
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
    c->dirty |= DIRTY_JOIN; /* the event thread writes it (and again after a rejoin) */
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

/* Reads one child into s; COORD_ENOENT when it vanished, other errors abort. */
static int read_member(coord_t *c, zhandle_t *zh, const char *name, member_slot *s)
{
    char path[800], *buf = NULL, err[256];
    size_t len = 0;
    struct Stat st;
    snprintf(path, sizeof path, "%s/%s", c->members_dir, name);
    memset(s, 0, sizeof *s);
    snprintf(s->m.id, sizeof s->m.id, "%s", name);
    int rc = coord_get_node(c, zh, path, true, COORD_MEMBER_MAX_BYTES, &buf, &len, &st);
    if (rc == COORD_ETOOBIG) {
        coord_log(c, COORD_LOG_WARN, "ignoring member node %s: larger than %d bytes", name,
                  COORD_MEMBER_MAX_BYTES);
        return COORD_OK;
    }
    if (rc != COORD_OK) return rc;
    s->m.session = st.ephemeralOwner;
    s->m.mzxid = st.mzxid;
    s->m.version = st.version;
    if (st.ephemeralOwner == 0)
        coord_log(c, COORD_LOG_WARN, "ignoring member node %s: not ephemeral (not a live member)",
                  name);
    else if (coord_member_info_from_json(buf, len, &s->m.info, err, sizeof err) != COORD_OK)
        coord_log(c, COORD_LOG_WARN, "ignoring member node %s: %s", name, err);
    else
        s->valid = true;
    free(buf);
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
    struct String_vector kids = {0, NULL};
    struct Stat pst;
    int zrc = zoo_wget_children2(zh, c->members_dir, coord_watcher, c, &kids, &pst);
    if (zrc != ZOK) return coord_zerr(zrc);

    pthread_mutex_lock(&c->mu);
    char **stale = c->dirty_members;
    size_t nstale = c->ndirty_members;
    bool all_stale = c->members_all_stale;
    c->dirty_members = NULL;
    c->ndirty_members = 0;
    c->members_all_stale = false;
    pthread_mutex_unlock(&c->mu);

    int rc = COORD_OK;
    member_slot *slots = calloc(kids.count ? (size_t)kids.count : 1, sizeof *slots);
    size_t n = 0;
    for (int i = 0; slots && i < kids.count && rc == COORD_OK; i++) {
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
        int r = read_member(c, zh, name, &slots[n]);
        if (r == COORD_OK)
            n++;
        else if (r != COORD_ENOENT) /* vanished: the child watch tells us again */
            rc = r;
    }
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
