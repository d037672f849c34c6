/*
 * coord_acl.c: the ACLs of a group's nodes when roles are configured
 * (coord_config_t.roles, docs/SECURITY.md).
 *
 * Three ZooKeeper digest identities, each with its own credential:
 *   operator  writes the pipeline and its history (revisions/), and the
 *             acks/<N> of each push;
 *   member    the agents: writes members/, election/ and assignment, and
 *             the ack children under acks/<N>;
 *   reader    reads everything (status, meterctl read commands, meterproxy).
 * Every node we create carries ACLs for those three only (nobody else may
 * even read: pipeline bodies, member nodes and the pub-sub endpoint are for
 * the group). The chroot and group nodes let the operator do all and the
 * member create, so whichever opens first lays out the tree with the right
 * ACLs on each node.
 *
 * A node someone else created first (open, or with other ids) would give
 * that someone the group: at first contact every existing node's ACL is
 * compared with what we would have set, and a difference is refused with
 * the node, what it has, and the repair command; never adopted.
 *
 * With one credential and no roles (auth_file without acl_file) the nodes
 * from the group's down must at least not be open: a member refuses one on
 * which world or an ip range may do more than read. The chroot and what is
 * above it are not ours to judge there (a shared ZooKeeper's admin may keep
 * them open); ids of other users are not checked (they lock us out, which
 * fails loudly, rather than let others in).
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OWN_OPERATOR, OWN_MEMBER, OWN_BASE, OWN_ACKS_DIR, OWN_ACKS, OWN_COUNT };

static int owner_of(const coord_t *c, const char *path)
{
    size_t rl = strlen(c->revisions_dir), ml = strlen(c->members_dir), el = strlen(c->election_dir);
    size_t al = strlen(c->acks_dir);
    if (!strncmp(path, c->acks_dir, al) && (path[al] == 0 || path[al] == '/')) {
        /* acks/ and acks/<N>: the operator's (a push makes acks/<N>); below
         * them, the members' own ack children */
        if (path[al] == 0) return OWN_ACKS_DIR;
        return strchr(path + al + 1, '/') ? OWN_MEMBER : OWN_ACKS;
    }
    if (!strcmp(path, c->pipeline_path) ||
        (!strncmp(path, c->revisions_dir, rl) && (path[rl] == 0 || path[rl] == '/')))
        return OWN_OPERATOR;
    if (!strcmp(path, c->assignment_path) ||
        (!strncmp(path, c->members_dir, ml) && (path[ml] == 0 || path[ml] == '/')) ||
        (!strncmp(path, c->election_dir, el) && (path[el] == 0 || path[el] == '/')))
        return OWN_MEMBER;
    return OWN_BASE;
}

int coord_acl_init(coord_t *c, const coord_config_t *cfg, char *err, size_t errcap)
{
    if (!cfg->roles) {
        if (c->auth[0]) {
            /* one credential: creator (any id we authenticated as) may do
             * all; others may read */
            c->acl_entries[0] = (struct ACL){ZOO_PERM_ALL, {"auth", ""}};
            c->acl_entries[1] = (struct ACL){ZOO_PERM_READ, {"world", "anyone"}};
            c->acl = (struct ACL_vector){2, c->acl_entries};
        } else {
            c->acl = ZOO_OPEN_ACL_UNSAFE;
        }
        return COORD_OK;
    }
    const char *ids[3] = {cfg->roles->operator_id, cfg->roles->member_id, cfg->roles->reader_id};
    static const char *const names[3] = {"operator", "member", "reader"};
    for (int i = 0; i < 3; i++) {
        const char *colon = ids[i] ? strchr(ids[i], ':') : NULL;
        if (!colon || colon == ids[i] || !colon[1] || strlen(ids[i]) >= sizeof c->role_id[i]) {
            snprintf(err, errcap, "roles: the %s id must be a digest id \"user:base64\"", names[i]);
            return COORD_EINVAL;
        }
        snprintf(c->role_id[i], sizeof c->role_id[i], "%s", ids[i]);
    }
    c->roles = true;
    /* [owner][role]: operator, member, reader. Members create and delete
     * their ack children under acks/<N> (nobody else may: an operator's
     * credential cannot forge a member's ack), and the leader deletes an
     * empty acks/<M> once M is no longer kept. */
    const int perms[OWN_COUNT][3] = {
        [OWN_OPERATOR] = {ZOO_PERM_ALL, ZOO_PERM_READ, ZOO_PERM_READ},
        [OWN_MEMBER] = {ZOO_PERM_READ, ZOO_PERM_ALL, ZOO_PERM_READ},
        [OWN_BASE] = {ZOO_PERM_ALL, ZOO_PERM_READ | ZOO_PERM_CREATE, ZOO_PERM_READ},
        [OWN_ACKS_DIR] = {ZOO_PERM_ALL, ZOO_PERM_READ | ZOO_PERM_DELETE, ZOO_PERM_READ},
        [OWN_ACKS] = {ZOO_PERM_READ | ZOO_PERM_ADMIN,
                      ZOO_PERM_READ | ZOO_PERM_CREATE | ZOO_PERM_DELETE, ZOO_PERM_READ},
    };
    for (int o = 0; o < OWN_COUNT; o++) {
        for (int r = 0; r < 3; r++)
            c->role_acl[o][r] = (struct ACL){perms[o][r], {"digest", c->role_id[r]}};
        c->role_acls[o] = (struct ACL_vector){3, c->role_acl[o]};
    }
    return COORD_OK;
}

struct ACL_vector *coord_acl_for(coord_t *c, const char *path)
{
    return c->roles ? &c->role_acls[owner_of(c, path)] : &c->acl;
}

/*
 * ZooKeeper shows a digest id's hash only to a client with ADMIN on the node
 * (others get "user:x"): such an id matches on its user alone. Each role
 * thus checks whole the nodes it administers (the agents: members/,
 * election/, assignment); on the others a look-alike id could pass, which
 * the signatures cover (docs/SECURITY.md).
 */
static bool same_id(const char *have, const char *want)
{
    if (!strcmp(have, want)) return true;
    const char *colon = strchr(want, ':');
    size_t ul = colon ? (size_t)(colon - want) + 1 : 0;
    return ul && !strncmp(have, want, ul) && !strcmp(have + ul, "x");
}

static bool same_acl(const struct ACL_vector *have, const struct ACL_vector *want)
{
    if (have->count != want->count) return false;
    for (int i = 0; i < have->count; i++) {
        bool found = false;
        for (int j = 0; j < want->count && !found; j++)
            found = have->data[i].perms == want->data[j].perms &&
                    !strcmp(have->data[i].id.scheme, want->data[j].id.scheme) &&
                    same_id(have->data[i].id.id, want->data[j].id.id);
        if (!found) return false;
    }
    return true;
}

/* "world:anyone:cdrwa,digest:x:...:r" for a message (cut to cap). */
static void describe(const struct ACL_vector *v, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < v->count && n < cap; i++) {
        int p = v->data[i].perms;
        int w = snprintf(out + n, cap - n, "%s%s:%s:%s%s%s%s%s", i ? "," : "", v->data[i].id.scheme,
                         v->data[i].id.id, p & ZOO_PERM_CREATE ? "c" : "",
                         p & ZOO_PERM_DELETE ? "d" : "", p & ZOO_PERM_READ ? "r" : "",
                         p & ZOO_PERM_WRITE ? "w" : "", p & ZOO_PERM_ADMIN ? "a" : "");
        if (w < 0) break;
        n += (size_t)w;
    }
}

/* Anyone (world, or an ip range) may do more than read. */
static bool open_acl(const struct ACL_vector *have)
{
    for (int i = 0; i < have->count; i++)
        if ((have->data[i].perms & ~ZOO_PERM_READ) &&
            (!strcmp(have->data[i].id.scheme, "world") || !strcmp(have->data[i].id.scheme, "ip")))
            return true;
    return false;
}

/* Whether path's ACL is ours to check: every node with roles; without, the
 * group node and below, for a member (or a repair) holding a credential. */
static bool guarded(const coord_t *c, const char *path)
{
    if (c->roles) return true;
    size_t bl = strlen(c->base);
    return c->auth[0] && (c->is_member || c->repair_acls) && !strncmp(path, c->base, bl) &&
           (path[bl] == 0 || path[bl] == '/');
}

static bool acceptable(coord_t *c, const char *path, const struct ACL_vector *have)
{
    return c->roles ? same_acl(have, coord_acl_for(c, path)) : !open_acl(have);
}

/* Sets acl_error (and logs it): path is refused, why, and the repair. */
static void refuse(coord_t *c, const char *path, const struct ACL_vector *have, bool persistent)
{
    char got[400];
    describe(have, got, sizeof got);
    pthread_mutex_lock(&c->mu);
    if (persistent)
        snprintf(c->acl_error, sizeof c->acl_error,
                 "%s is a persistent node (ACL %s) where members keep only ephemeral ones: "
                 "refused (someone put it there). Repair: meterctl repair-acl --group %s "
                 "(deletes it; docs/SECURITY.md)",
                 path, got, c->group);
    else if (c->roles)
        snprintf(c->acl_error, sizeof c->acl_error,
                 "%s exists with ACL %s, not the group's roles: refused, not adopted "
                 "(someone created it first). Repair: meterctl repair-acl --group %s "
                 "(docs/SECURITY.md)",
                 path, got, c->group);
    else
        snprintf(c->acl_error, sizeof c->acl_error,
                 "%s exists with ACL %s, open to anyone: refused, not adopted (someone "
                 "created it first). Repair: meterctl repair-acl --group %s --auth-file "
                 "<this agent's auth_file>, or set acl_file (docs/SECURITY.md)",
                 path, got, c->group);
    pthread_mutex_unlock(&c->mu);
    coord_log(c, COORD_LOG_ERROR, "%s", c->acl_error);
}

/*
 * Checks (or with repair_acls, repairs) one existing node; ephemeral: it
 * lies where members keep only ephemeral nodes (members/, election/), so a
 * persistent one is someone else's squatter (a permanent "leader" in
 * election/), which a repair deletes.
 */
static int judge(coord_t *c, zhandle_t *zh, const char *path, bool ephemeral)
{
    if (!guarded(c, path)) return COORD_OK;
    struct ACL_vector have = {0};
    struct Stat st;
    int zrc = zoo_get_acl(zh, path, &have, &st);
    if (zrc == ZNONODE) return COORD_OK; /* we create it, with ours (or it went) */
    if (zrc != ZOK) return coord_zerr(zrc);
    bool squatter = ephemeral && st.ephemeralOwner == 0;
    bool ok = !squatter && acceptable(c, path, &have);
    if (!ok && !c->repair_acls) refuse(c, path, &have, squatter);
    deallocate_ACL_vector(&have);
    if (ok) return COORD_OK;
    if (!c->repair_acls) return COORD_ENOAUTH;
    const char *done = "deleted (a persistent node where members keep ephemeral ones)";
    if (squatter)
        zrc = zoo_delete(zh, path, -1);
    else {
        zrc = zoo_set_acl(zh, path, st.aversion, coord_acl_for(c, path));
        done = c->roles ? "ACL set to the group's roles" : "ACL set to the group's credential";
    }
    if (zrc == ZOK || zrc == ZNONODE) {
        coord_log(c, COORD_LOG_INFO, "%s: %s", path, done);
        return COORD_OK;
    }
    pthread_mutex_lock(&c->mu);
    snprintf(c->acl_error, sizeof c->acl_error,
             "%s: cannot %s: %s (another id owns it: ZooKeeper's super user must)", path,
             squatter ? "delete it" : "set the group's ACL", zerror(zrc));
    pthread_mutex_unlock(&c->mu);
    coord_log(c, COORD_LOG_ERROR, "%s", c->acl_error);
    return coord_zerr(zrc);
}

int coord_acl_check(coord_t *c, zhandle_t *zh, const char *path)
{
    return judge(c, zh, path, false);
}

/* acks/, each acks/<N> and the ack children under it (ephemeral, as in
 * members/: a persistent one is a squatter). */
static int check_acks(coord_t *c, zhandle_t *zh)
{
    if (!guarded(c, c->acks_dir)) return COORD_OK;
    int rc = judge(c, zh, c->acks_dir, false);
    struct String_vector revs = {0};
    int zrc = rc == COORD_OK ? zoo_get_children(zh, c->acks_dir, 0, &revs) : ZOK;
    if (zrc == ZNONODE) return COORD_OK;
    if (zrc != ZOK) return coord_zerr(zrc);
    for (int i = 0; i < revs.count && rc == COORD_OK; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", c->acks_dir, revs.data[i]);
        rc = judge(c, zh, dir, false);
        struct String_vector kids = {0};
        zrc = rc == COORD_OK ? zoo_get_children(zh, dir, 0, &kids) : ZNONODE;
        if (zrc != ZOK && zrc != ZNONODE) rc = coord_zerr(zrc);
        for (int k = 0; zrc == ZOK && k < kids.count && rc == COORD_OK; k++) {
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", dir, kids.data[k]);
            rc = judge(c, zh, path, true);
        }
        deallocate_String_vector(&kids);
    }
    deallocate_String_vector(&revs);
    return rc;
}

int coord_acl_check_below(coord_t *c, zhandle_t *zh)
{
    const char *dirs[] = {c->members_dir, c->election_dir, c->revisions_dir};
    int arc = check_acks(c, zh);
    if (arc != COORD_OK) return arc;
    for (int d = 0; d < 3; d++) {
        if (!guarded(c, dirs[d])) continue;
        struct String_vector kids = {0};
        int zrc = zoo_get_children(zh, dirs[d], 0, &kids);
        if (zrc == ZNONODE) continue;
        if (zrc != ZOK) return coord_zerr(zrc);
        int rc = COORD_OK;
        for (int i = 0; i < kids.count && rc == COORD_OK; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dirs[d], kids.data[i]);
            rc = judge(c, zh, path, d < 2);
        }
        deallocate_String_vector(&kids);
        if (rc != COORD_OK) return rc;
    }
    return COORD_OK;
}
