/*
 * coord_nodes.c: what every coordinator file needs to call ZooKeeper on a
 * node: its error codes as COORD_*, a read bounded by a size cap, and a path
 * created with our ACLs (refusing nodes someone else created first).
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int coord_zerr(int zrc)
{
    switch (zrc) {
    case ZOK:
        return COORD_OK;
    case ZBADVERSION:
    case ZNODEEXISTS:
        return COORD_ECONFLICT;
    case ZNONODE:
        return COORD_ENOENT;
    case ZNOAUTH:
    case ZAUTHFAILED:
    case ZINVALIDACL:
        return COORD_ENOAUTH;
    case ZCONNECTIONLOSS:
    case ZOPERATIONTIMEOUT:
    case ZINVALIDSTATE:
    case ZSESSIONEXPIRED:
    case ZSESSIONMOVED:
    case ZCLOSING:
        return COORD_ENOCONN;
    case ZBADARGUMENTS:
        return COORD_EINVAL;
    default:
        return COORD_ESYS;
    }
}

int coord_get_node(coord_t *c, zhandle_t *zh, const char *path, bool watch, size_t cap, char **buf,
                   size_t *len, struct Stat *stat)
{
    size_t want = cap < 4096 ? cap : 4096;
    *buf = NULL;
    *len = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        char *b = malloc(want + 1);
        if (!b) return COORD_ESYS;
        int blen = (int)want;
        int rc = zoo_wget(zh, path, watch ? coord_watcher : NULL, watch ? c : NULL, b, &blen, stat);
        if (rc != ZOK) {
            free(b);
            return coord_zerr(rc);
        }
        if (blen < 0) blen = 0; /* a node without data */
        if ((size_t)stat->dataLength <= want) {
            b[blen] = 0;
            *buf = b;
            *len = (size_t)blen;
            return COORD_OK;
        }
        free(b);
        if ((size_t)stat->dataLength > cap) return COORD_ETOOBIG;
        want = (size_t)stat->dataLength; /* grew meanwhile: read again */
    }
    return COORD_ECONFLICT;
}

int coord_ensure_path(coord_t *c, zhandle_t *zh, const char *path)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1;; s++) {
        bool last = *s == 0;
        if (*s != '/' && !last) continue;
        *s = 0;
        /* look first: creating an existing node we may not write is ZNOAUTH */
        struct Stat st;
        int rc = zoo_exists(zh, buf, 0, &st);
        if (rc == ZNONODE)
            rc = zoo_create(zh, buf, NULL, -1, coord_acl_for(c, buf), ZOO_PERSISTENT, NULL, 0);
        else if (rc == ZOK && strlen(buf) > 1) {
            /* nodes someone else created first are never adopted */
            int arc = coord_acl_check(c, zh, buf);
            if (arc != COORD_OK) return arc;
        }
        if (rc != ZOK && rc != ZNODEEXISTS) {
            coord_log(c, COORD_LOG_WARN, "cannot create %s: %s", buf, zerror(rc));
            return coord_zerr(rc);
        }
        if (last) return COORD_OK;
        *s = '/';
    }
}
