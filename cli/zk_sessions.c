/*
 * zk_sessions.c: which ZooKeeper sessions are connected right now, from each
 * server's `cons` four-letter word. A member node outlives its member's
 * connection (until the session expires), so this is the only view of "is
 * this member talking to ZooKeeper now" that needs nothing from the member:
 * `meterctl status` uses it to tell a member that has not reconnected after
 * an outage from one that has, and (with each connection's `est`, when the
 * server accepted it) one that has reconnected but not yet written its node
 * since. `cons` must be in the servers' 4lw.commands.whitelist; where a
 * server refuses or cannot be reached the answer is "unknown" and status
 * relies on the ready markers alone.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

/* est= of the connection entry s is in (it ends at ')'); 0 if absent. */
static int64_t entry_est(const char *s)
{
    const char *end = strchr(s, ')');
    const char *e = strstr(s, ",est=");
    return e && (!end || e < end) ? strtoll(e + 5, NULL, 10) : 0;
}

int cli_zk_sessions(const char *hosts, int timeout_ms, int64_t **sids_out, int64_t **est_out,
                    size_t *n_out)
{
    *sids_out = NULL;
    *est_out = NULL;
    *n_out = 0;
    size_t cap = 1 << 20, n = 0, have = 0;
    char *buf = malloc(cap);
    int64_t *sids = NULL, *est = NULL;
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
                if (g) sids = g;
                int64_t *h = g ? realloc(est, have * sizeof *h) : NULL;
                if (h) est = h;
                if (!g || !h) {
                    rc = -1;
                    break;
                }
            }
            sids[n] = (int64_t)strtoull(s + 6, NULL, 16);
            est[n++] = entry_est(s);
        }
    }
    free(buf);
    if (rc != 0) {
        free(sids);
        free(est);
        return -1;
    }
    *sids_out = sids;
    *est_out = est;
    *n_out = n;
    return 0;
}
