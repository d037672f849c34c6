/*
 * coord_member_helper.c: a member in its own process, for the tests that
 * kill -9, SIGSTOP and SIGCONT a member. It joins a group with the
 * coordinator library, prints its state changes and leaders on stdout (one
 * line each, flushed) and leaves cleanly on SIGTERM.
 *
 * usage: coord_member_helper URL GROUP MEMBER_ID TIMEOUT_MS CANDIDATE(0|1) [ENDPOINT]
 */
#include "coordinator/coordinator.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_state(void *arg, coord_state_t st)
{
    (void)arg;
    printf("state %s\n", coord_state_name(st));
    fflush(stdout);
}

static void on_leader(void *arg, const coord_leader_t *l)
{
    (void)arg;
    printf("leader %s%s\n", l->known ? l->member_id : "-", l->is_me ? " me" : "");
    fflush(stdout);
}

static void on_members(void *arg, const coord_members_t *m)
{
    (void)arg;
    printf("members %zu\n", m->count);
    for (size_t i = 0; i < m->count; i++)
        printf("member %s %s\n", m->members[i].id, m->members[i].info.state);
    fflush(stdout);
}

static void on_log(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level <= COORD_LOG_INFO) {
        printf("log %s\n", msg);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s URL GROUP MEMBER_ID TIMEOUT_MS CANDIDATE [ENDPOINT]\n", argv[0]);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits it */
    coord_member_info_t info = {.pid = getpid(), .weight = 1};
    gethostname(info.host, sizeof info.host - 1);
    snprintf(info.state, sizeof info.state, "running");
    coord_config_t cfg = {
        .backend_url = argv[1],
        .group = argv[2],
        .member_id = argv[3],
        .session_timeout_ms = atoi(argv[4]),
        .candidate = atoi(argv[5]) != 0,
        .endpoint = argc > 6 ? argv[6] : NULL,
        .info = &info,
        .cb = {.state = on_state, .members = on_members, .leader = on_leader, .log = on_log},
    };
    char err[256];
    coord_t *c = coord_open(&cfg, err, sizeof err);
    if (!c) {
        fprintf(stderr, "coord_open: %s\n", err);
        return 1;
    }
    if (coord_wait_ready(c, 20000) == COORD_OK) {
        printf("ready\n");
        fflush(stdout);
    }
    int sig = 0;
    sigwait(&set, &sig);
    coord_close(c);
    printf("closed\n");
    return 0;
}
