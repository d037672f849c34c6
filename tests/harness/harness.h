/*
 * harness.h: what every integration test needs to run real peers.
 *
 * A test process gets one temporary folder (removed at exit), free loopback
 * ports chosen at run time (so tests run in parallel), child processes that
 * die with the test even when it crashes (PR_SET_PDEATHSIG + atexit), and
 * waits on conditions instead of sleeps. Peer-specific starters (ZooKeeper,
 * statsd, ipmi_sim...) live beside this file, one file per peer, and are
 * built on these helpers.
 */
#ifndef METERD_TESTS_HARNESS_H
#define METERD_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct th_proc {
    pid_t pid;     /* 0 when not running */
    char name[64]; /* for messages */
    char log[512]; /* stdout+stderr of the child */
} th_proc;

/* The test's private folder, created on first use, removed at exit. */
const char *th_tmpdir(void);

/* Writes tmpdir/relative into out (cap bytes); creates parent folders. */
int th_path(char *out, size_t cap, const char *relative);

/* A loopback port free for both TCP and UDP right now. */
int th_free_port(void);

/* Milliseconds on the monotonic clock. */
int64_t th_now_ms(void);

/*
 * Starts argv[0] (searched in PATH) in its own process group, cwd may be NULL,
 * stdout and stderr to logfile (NULL: tmpdir/<name>.log). The child gets
 * SIGKILL if the test process dies; th_stop_all() runs at exit. Returns 0 or
 * -1 with a message on stderr.
 */
int th_spawn(th_proc *p, const char *name, char *const argv[], const char *cwd,
             const char *logfile);

/* Sends sig to the child's process group. */
int th_signal(th_proc *p, int sig);

/*
 * Sends sig, waits up to timeout_ms for the child to exit, then SIGKILLs the
 * group. Returns the child's wait status, or -1 if it was not running.
 */
int th_stop(th_proc *p, int sig, int timeout_ms);

/* True if the child has not exited (reaps it if it has). */
bool th_alive(th_proc *p);

/* Stops every child still registered (also runs at exit). */
void th_stop_all(void);

/* Polls cond every 5 ms until it returns true or timeout_ms passes. */
bool th_wait_until(bool (*cond)(void *), void *arg, int timeout_ms);

/* True if a TCP connect to host:port succeeds now. */
bool th_tcp_ready(const char *host, int port);

/* Waits until host:port accepts TCP connections. */
bool th_wait_tcp(const char *host, int port, int timeout_ms);

/*
 * One request/response over a fresh TCP connection: sends req, reads until the
 * peer closes, the reply contains `until` (when not NULL), cap-1 bytes arrive,
 * or timeout_ms passes; NUL-terminates. Returns the bytes read, or -1.
 */
ssize_t th_tcp_request(const char *host, int port, const char *req, char *resp, size_t cap,
                       int timeout_ms, const char *until);

/* Writes text to tmpdir/relative; returns 0 or -1. */
int th_write_file(const char *relative, const char *text, char *path_out, size_t cap);

#endif
