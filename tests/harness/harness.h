/*
 * harness.h: what every integration test needs to run real peers.
 *
 * A test process gets one temporary folder (removed at exit), loopback ports
 * chosen at run time and reserved machine-wide (so tests run in parallel),
 * child processes that die with the test even when it crashes
 * (PR_SET_PDEATHSIG + atexit), and waits on conditions instead of sleeps. Peer-specific starters
 * (ZooKeeper, statsd, ipmi_sim...) live beside this file, one file per peer, and are built on these
 * helpers.
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
    int status;    /* wait status once reaped (th_stop, th_alive), else -1 */
    int sent;      /* the signal th_stop sent (SIGKILL: killed on purpose) */
} th_proc;

/* Exit code the children's sanitizers use for a report (th_spawn sets it). */
#define TH_SANITIZER_EXIT 66
/* What a test returns to ctest when its real peer cannot run (SKIP_RETURN_CODE). */
#define TH_SKIP_EXIT 77

/* The test's private folder, created on first use, removed at exit. */
const char *th_tmpdir(void);

/* Writes tmpdir/relative into out (cap bytes); creates parent folders. */
int th_path(char *out, size_t cap, const char *relative);

/*
 * A loopback port for a peer, reserved for this process until it exits: no
 * other test process on the machine (any build, any user) is given it
 * meanwhile, and TCP and UDP can both bind it now. Ports come from below the
 * kernel's ephemeral range (th_port_window), so no outgoing connection takes
 * one either. Each port a peer binds (ZooKeeper's quorum and election ports
 * too) comes from here. -1 with a message when none is left.
 */
int th_free_port(void);

/* Where a reservation lives: an flock()ed TH_PORTS_DIR/<port>.lock. */
#define TH_PORTS_DIR "/tmp/meterd-test-ports"

/* True if some process (this one included) holds port's reservation. */
bool th_port_held(int port);

/* The window th_free_port hands out from: 20000 up to just below
 * ip_local_port_range (20000..32767 when that is unreadable). */
void th_port_window(int *lo, int *hi);

/* Milliseconds on the monotonic clock. */
int64_t th_now_ms(void);

/*
 * Starts argv[0] (searched in PATH) in its own process group, cwd may be NULL,
 * stdout and stderr to logfile (NULL: tmpdir/<name>.log). The child gets
 * SIGKILL if the test process dies; th_stop_all() runs at exit. Returns 0 or
 * -1 with a message on stderr.
 *
 * Every child gets the sanitizer settings of th_child_env(): a report exits
 * with TH_SANITIZER_EXIT and is written to the child's log, where
 * th_exit_clean() finds it.
 */
int th_spawn(th_proc *p, const char *name, char *const argv[], const char *cwd,
             const char *logfile);

/*
 * th_spawn for one of our programs (meterd, meterctl): the command runs under
 * the wrapper in METERD_TEST_WRAP when set (e.g. "valgrind --error-exitcode=99
 * ..."; CMake sets it for the tests labelled memcheck), so th_exit_clean()
 * judges valgrind's verdict too.
 */
int th_spawn_daemon(th_proc *p, const char *name, char *const argv[], const char *cwd,
                    const char *logfile);

/*
 * Sets ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS in this process for its
 * children: reports exit with TH_SANITIZER_EXIT, leaks are judged with the
 * ZooKeeper client's known leaks suppressed (tests/data/coordinator/lsan.supp).
 * Options already in the environment come after ours, so they win.
 */
void th_child_env(void);

/* True if daemons run under the valgrind wrapper (METERD_TEST_WRAP). */
bool th_wrapped(void);

/*
 * True when the code runs many times slower than in the normal build: a
 * sanitizer build (CMake's MeterdTestSlowBuild), the test under valgrind
 * (METERD_TEST_SLOW) or its daemons under valgrind. Tests assert wall-clock
 * upper bounds only when this is false, and scale deadlines with th_slack().
 */
bool th_slow(void);

/* A deadline factor: 1 in the normal build, more when th_slow(). */
int th_slack(void);

/*
 * How a stopped daemon ended, judged: it exited with `code` (or was killed
 * with SIGKILL by th_stop on purpose), and its log holds no sanitizer or
 * valgrind report. False with the reason (and the report's first lines) in
 * why otherwise.
 */
bool th_exit_clean(const th_proc *p, int code, char *why, size_t cap);

/* The first sanitizer/valgrind report in the file at path, if any: true and
 * its first lines in why. */
bool th_log_has_report(const char *path, char *why, size_t cap);

/* For cmocka tests (include <cmocka.h> first): fails the test unless the
 * daemon ended cleanly with `code`. */
#define th_expect_clean_exit(p, code)                                                              \
    do {                                                                                           \
        char th_why_[4096];                                                                        \
        if (!th_exit_clean((p), (code), th_why_, sizeof th_why_)) fail_msg("%s", th_why_);         \
    } while (0)

/* The test's peer cannot run here: says why on stderr and exits TH_SKIP_EXIT
 * so ctest reports the test as skipped (not passed). */
_Noreturn void th_skip_all(const char *why);

/*
 * For cmocka tests: skips the current test because its peer cannot run, and
 * remembers it, so that main's `return th_tests_result(cmocka_run_group_tests
 * (...))` returns TH_SKIP_EXIT when nothing failed (cmocka's skip() alone
 * ends in exit code 0, a pass).
 */
#define th_skip_peer(why)                                                                          \
    do {                                                                                           \
        th_note_peer_missing(why);                                                                 \
        skip();                                                                                    \
    } while (0)
void th_note_peer_missing(const char *why);
int th_tests_result(int failed);

/* Sends sig to the child's process group. */
int th_signal(th_proc *p, int sig);

/*
 * Sends sig (0: none, just wait), waits up to timeout_ms for the child to
 * exit, then SIGKILLs the group. Returns the child's wait status (also kept
 * in p->status), or -1 if it was not running.
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

/* proc.c: pid's resident memory (VmRSS, KiB) and its open descriptors
 * (the entries of /proc/pid/fd); -1 when /proc does not say (gone). */
long th_proc_rss_kib(pid_t pid);
long th_proc_fds(pid_t pid);
/* For th_wait_until: pid holds at least at_least descriptors (want is a
 * th_fds_want). */
typedef struct th_fds_want {
    pid_t pid;
    long at_least;
} th_fds_want;
bool th_proc_fds_reached(void *want);

/* Writes text to tmpdir/relative; returns 0 or -1. */
int th_write_file(const char *relative, const char *text, char *path_out, size_t cap);

#endif
