/*
 * coord_test_util.h: what the coordinator's integration tests share — a test
 * node (a coord_t whose callbacks record the latest view under a mutex, so
 * the test thread can wait on conditions) and a raw ZooKeeper client for
 * writing what our library never would (junk, unauthenticated writes).
 */
#ifndef METERD_TESTS_COORD_TEST_UTIL_H
#define METERD_TESTS_COORD_TEST_UTIL_H

#include "coordinator/coordinator.h"
#include "harness/zk.h"

#include <pthread.h>
#include <zookeeper/zookeeper.h>

typedef struct tnode {
    coord_t *c;
    char name[64];
    pthread_mutex_t mu;
    coord_members_t members; /* last snapshot delivered */
    int64_t members_calls;
    coord_leader_t leader;
    int64_t leader_calls;
    coord_revision_t rev; /* last revision delivered */
    int64_t rev_calls;
    int64_t rev_at_us; /* CLOCK_MONOTONIC of the last revision callback */
    int64_t rev_dupes; /* callbacks whose number was not above the previous */
    /* the revision callback for number hold_at (0: none) blocks the event
     * thread until tnode_release(): lets a test line up events */
    int64_t hold_at;
    bool released;
    pthread_cond_t cv;
    char table[4096];
    size_t table_len;
    int64_t epoch;
    coord_state_t state;
    int64_t state_calls;
    int64_t expired_seen;
    /* the last malformed-pipeline callback */
    int64_t bad_version;
    char bad_why[256];
    int64_t bad_calls;
} tnode;

typedef struct tnode_opts {
    const char *member_id; /* NULL: observer */
    int timeout_ms;
    bool candidate;
    const char *endpoint;
    const char *auth;
    int keep;
    const char *pubsub_listen;
    bool pubsub_trust;
    bool (*pubsub_verify)(void *tnode, const coord_revision_t *rev);
    size_t max_node_bytes;
} tnode_opts;

/* Opens a node on z's servers under chroot /meterd-test, group g. */
int tnode_open(tnode *n, th_zk *z, const char *group, const tnode_opts *o);
void tnode_close(tnode *n);

bool tnode_has_member(tnode *n, const char *id);
int64_t tnode_member_session(tnode *n, const char *id); /* 0 if absent */
size_t tnode_member_count(tnode *n);
void tnode_leader(tnode *n, coord_leader_t *out);
coord_state_t tnode_state(tnode *n);

/* Waits (condition polling, no fixed sleeps) up to timeout_ms. */
bool tnode_wait_member(tnode *n, const char *id, bool present, int timeout_ms);
bool tnode_wait_leader(tnode *n, const char *not_this, int timeout_ms); /* known, != not_this */
bool tnode_wait_state(tnode *n, coord_state_t st, int timeout_ms);
/* until the malformed callback has reported pipeline node version `version` */
bool tnode_wait_malformed(tnode *n, int64_t version, int timeout_ms);

/* A raw client: connected handle or NULL. auth "user:secret" or NULL. */
zhandle_t *tzk_connect(th_zk *z, const char *auth);

/* Deletes member's election node(s) in group (deposing it if it leads), as
 * an operator or an expiry would; returns how many, -1 on error. */
int tzk_delete_election_node(th_zk *z, const char *group, const char *member);
/* How many election nodes member has in group, -1 on error. */
int tzk_count_election_nodes(th_zk *z, const char *group, const char *member);

/* The test binary's ZooKeeper, started by the cmocka group setup and
 * stopped by its teardown: cmocka_run_group_tests(tests, tzk_setup, tzk_teardown). */
th_zk *tzk(void);
int tzk_setup(void **state);
int tzk_teardown(void **state);

int64_t tnow_us(void); /* CLOCK_MONOTONIC */

/* A revision as a leader publishes it (header + body, correct sha256),
 * author "mallory": what a forger can produce. malloc'd. */
char *trev_encode(int64_t number, const char *body, size_t *len);
void tnode_status(tnode *n, coord_status_t *st);
void tnode_release(tnode *n);

/* p in [0,100] of n samples (sorts them). */
double tpercentile(double *v, size_t n, double p);

/* The backend URL for z with our test chroot. */
void turl(th_zk *z, char *out, size_t cap);

#endif
