/*
 * statsd.h: Etsy's statsd daemon (npm statsd 0.9.0, run by node) as a test
 * peer on loopback, and readers for its admin interface.
 *
 * deploy/deps.sh installs the daemon under ${METERD_CACHE:-~/.cache/meterd}/
 * statsd. th_statsd_start writes its config.js in the test's temp dir with
 * free UDP and admin ports, a console backend and a one-hour flush (the admin
 * interface then shows everything received since start), and waits for the
 * admin port. Admin replies are Node object dumps ({ 'a.b': 3, c: 1 }), not
 * JSON; th_statsd_lookup reads one key out of them.
 */
#ifndef METERD_TESTS_HARNESS_STATSD_H
#define METERD_TESTS_HARNESS_STATSD_H

#include "harness/harness.h"

typedef struct th_statsd {
    th_proc proc;
    int port;      /* UDP, metrics */
    int mgmt_port; /* TCP, admin */
    char config[512];
} th_statsd;

/* Where stats.js should be; true if it is there. */
bool th_statsd_installed(char *path, size_t cap);

/*
 * Starts the daemon. Returns 0 when its admin port answers, 1 when the daemon
 * is not installed (why says how to install it: the test should skip), -1 on
 * failure (why says what happened; the log is in the temp dir).
 */
int th_statsd_start(th_statsd *s, char *why, size_t cap);

void th_statsd_stop(th_statsd *s);

/*
 * One admin command ("counters", "gauges", "timers", "delcounters x"...):
 * the reply up to END into out. Returns its length or -1.
 */
ssize_t th_statsd_admin(const th_statsd *s, const char *cmd, char *out, size_t cap);

/*
 * The value of key in an admin reply: a number (counters, gauges), or for
 * timers the list "[ 125, 1.5 ]" whose values go to vals (up to nvals).
 * Returns how many numbers were read (1 for a plain number), 0 if the key is
 * absent.
 */
int th_statsd_lookup(const char *reply, const char *key, double *vals, int nvals);

#endif
