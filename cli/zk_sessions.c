/*
 * zk_sessions.c: which ZooKeeper sessions are connected right now, from each
 * server's `cons` four-letter word. A member node outlives its member's
 * connection (until the session expires), so this is the only view of "is
 * this member talking to ZooKeeper now" that needs nothing from the member:
 * `meterctl status` uses it to tell a member that has not reconnected after
 * an outage from one that has. `cons` must be in the servers'
 * 4lw.commands.whitelist; where a server refuses or cannot be reached the
 * answer is "unknown" and status relies on the ready markers alone.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

int cli_zk_sessions(const char *hosts, int timeout_ms, int64_t **sids_out, size_t *n_out)
{
    *sids_out = NULL;
    *n_out = 0;
    size_t cap = 1 << 20, n = 0, have = 0;
    char *buf = malloc(cap);
    int64_t *sids = NULL;
    int rc = buf ? 0 : -1;
    for (const char *p = hosts; rc == 0 && *p;) {
        size_t len = strcspn(p, ",");
        char hp[300];
        snprintf(hp, sizeof hp, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        /* a server we cannot ask may hold the session we would miss */
        if (coord_four_letter(hp, "cons", timeout_ms, buf, cap) != COORD_OK) rc = -1;
        for (const char *s = rc ? NULL : strstr(buf, "sid=0x"); s; s = strstr(s + 6, "sid=0x")) {
            if (n == have) {
                have = have ? 2 * have : 64;
                int64_t *g = realloc(sids, have * sizeof *g);
                if (!g) {
                    rc = -1;
                    break;
                }
                sids = g;
            }
            sids[n++] = (int64_t)strtoull(s + 6, NULL, 16);
        }
    }
    free(buf);
    if (rc != 0) {
        free(sids);
        return -1;
    }
    *sids_out = sids;
    *n_out = n;
    return 0;
}
