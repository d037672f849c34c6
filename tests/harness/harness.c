/*
 * harness.c: temporary folder, child processes and condition waits for
 * integration tests (free ports: ports.c).
 *
 * Children are registered in a small table so that th_stop_all() (installed
 * with atexit on first spawn) stops whatever a failing test left behind; a
 * crashed test process takes its children down through PR_SET_PDEATHSIG.
 * Tests are single-process programs, so the table is the one piece of
 * process-wide state here.
 */
#include "harness/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_MAX_PROCS 64

static struct {
    char tmpdir[256];
    th_proc *procs[TH_MAX_PROCS];
    int peers_missing;
    bool atexit_done;
} th;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void th_cleanup(void)
{
    th_stop_all();
    if (th.tmpdir[0] && !getenv("METERD_KEEP_TMP"))
        nftw(th.tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void th_register_atexit(void)
{
    if (!th.atexit_done) {
        atexit(th_cleanup);
        th.atexit_done = true;
    }
}

const char *th_tmpdir(void)
{
    if (!th.tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(th.tmpdir, sizeof th.tmpdir, "%s/meterd-test.XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(th.tmpdir)) {
            fprintf(stderr, "harness: mkdtemp %s: %s\n", th.tmpdir, strerror(errno));
            th.tmpdir[0] = 0;
            return NULL;
        }
        th_register_atexit();
    }
    return th.tmpdir;
}

static int mkdirs_for(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
        *s = '/';
    }
    return 0;
}

int th_path(char *out, size_t cap, const char *relative)
{
    const char *dir = th_tmpdir();
    if (!dir) return -1;
    int n = snprintf(out, cap, "%s/%s", dir, relative);
    if (n < 0 || (size_t)n >= cap) return -1;
    return mkdirs_for(out);
}

int th_write_file(const char *relative, const char *text, char *path_out, size_t cap)
{
    char path[512];
    if (th_path(path, sizeof path, relative) != 0) return -1;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t len = strlen(text);
    int rc = fwrite(text, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0) rc = -1;
    if (path_out) snprintf(path_out, cap, "%s", path);
    return rc;
}

int64_t th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void track(th_proc *p)
{
    for (int i = 0; i < TH_MAX_PROCS; i++)
        if (!th.procs[i]) {
            th.procs[i] = p;
            return;
        }
}

static void untrack(th_proc *p)
{
    for (int i = 0; i < TH_MAX_PROCS; i++)
        if (th.procs[i] == p) th.procs[i] = NULL;
}

/* Our options first, the caller's after them (a sanitizer's last word wins). */
static void prepend_env(const char *var, const char *ours)
{
    const char *theirs = getenv(var);
    char buf[2048];
    snprintf(buf, sizeof buf, "%s%s%s", ours, theirs && *theirs ? ":" : "", theirs ? theirs : "");
    setenv(var, buf, 1);
}

void th_child_env(void)
{
    /* set in the parent, once: a multi-threaded test must not allocate
     * between fork and exec */
    static bool done;
    if (done) return;
    done = true;
    char exitcode[32], lsan[1024];
    snprintf(exitcode, sizeof exitcode, "exitcode=%d", TH_SANITIZER_EXIT);
    char asan[256];
    snprintf(asan, sizeof asan, "detect_leaks=1:%s", exitcode);
    prepend_env("ASAN_OPTIONS", asan);
    snprintf(lsan, sizeof lsan,
             "suppressions=%s/tests/data/coordinator/lsan.supp:"
             "print_suppressions=0:%s",
             MeterdSourceDir, exitcode);
    prepend_env("LSAN_OPTIONS", lsan);
    char ubsan[256];
    snprintf(ubsan, sizeof ubsan, "print_stacktrace=1:halt_on_error=1:%s", exitcode);
    prepend_env("UBSAN_OPTIONS", ubsan);
}

int th_spawn(th_proc *p, const char *name, char *const argv[], const char *cwd, const char *logfile)
{
    th_child_env();
    memset(p, 0, sizeof *p);
    p->status = -1;
    snprintf(p->name, sizeof p->name, "%s", name);
    if (logfile)
        snprintf(p->log, sizeof p->log, "%s", logfile);
    else {
        char rel[128];
        snprintf(rel, sizeof rel, "%s.log", name);
        if (th_path(p->log, sizeof p->log, rel) != 0) return -1;
    }
    th_register_atexit();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork for %s: %s\n", name, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        if (cwd && chdir(cwd) != 0) _exit(126);
        execvp(argv[0], argv);
        fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also from the parent: no race with th_signal */
    p->pid = pid;
    track(p);
    return 0;
}

int th_signal(th_proc *p, int sig)
{
    if (!p->pid) return -1;
    return kill(-p->pid, sig);
}

bool th_alive(th_proc *p)
{
    if (!p->pid) return false;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        kill(-p->pid, SIGKILL); /* leftovers of its group */
        p->status = st;
        p->pid = 0;
        untrack(p);
        return false;
    }
    return true;
}

int th_stop(th_proc *p, int sig, int timeout_ms)
{
    if (!p->pid) return p->name[0] ? p->status : -1; /* reaped by th_alive */
    p->sent = sig;
    if (sig) kill(-p->pid, sig);
    kill(-p->pid, SIGCONT); /* a stopped child cannot act on SIGTERM */
    int64_t deadline = th_now_ms() + timeout_ms;
    int st = -1;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid || r < 0) break;
        if (th_now_ms() >= deadline) {
            kill(-p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            break;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-p->pid, SIGKILL);
    untrack(p);
    p->pid = 0;
    p->status = st;
    return st;
}

void th_stop_all(void)
{
    for (int i = 0; i < TH_MAX_PROCS; i++)
        if (th.procs[i]) th_stop(th.procs[i], SIGTERM, 3000);
}

bool th_wait_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
    int64_t deadline = th_now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg)) return true;
        if (th_now_ms() >= deadline) return false;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int connect_to(const char *host, int port, int timeout_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (errno != EINPROGRESS) goto fail;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, timeout_ms) != 1) goto fail;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

bool th_tcp_ready(const char *host, int port)
{
    int fd = connect_to(host, port, 200);
    if (fd < 0) return false;
    close(fd);
    return true;
}

struct tcp_wait {
    const char *host;
    int port;
};

static bool tcp_cond(void *arg)
{
    struct tcp_wait *w = arg;
    return th_tcp_ready(w->host, w->port);
}

bool th_wait_tcp(const char *host, int port, int timeout_ms)
{
    struct tcp_wait w = {host, port};
    return th_wait_until(tcp_cond, &w, timeout_ms);
}

ssize_t th_tcp_request(const char *host, int port, const char *req, char *resp, size_t cap,
                       int timeout_ms, const char *until)
{
    int64_t deadline = th_now_ms() + timeout_ms;
    int fd = connect_to(host, port, timeout_ms);
    if (fd < 0) return -1;
    size_t len = strlen(req), off = 0;
    while (off < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int left = (int)(deadline - th_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) != 1) goto fail;
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) goto fail;
        if (w > 0) off += (size_t)w;
    }
    size_t got = 0;
    while (got + 1 < cap) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)(deadline - th_now_ms());
        if (left <= 0 || poll(&pfd, 1, left) != 1) break;
        ssize_t r = recv(fd, resp + got, cap - 1 - got, 0);
        if (r < 0 && errno == EAGAIN) continue;
        if (r <= 0) break;
        got += (size_t)r;
        resp[got] = 0;
        if (until && strstr(resp, until)) break;
    }
    if (cap) resp[got] = 0;
    close(fd);
    return (ssize_t)got;
fail:
    close(fd);
    return -1;
}

bool th_wrapped(void)
{
    const char *w = getenv("METERD_TEST_WRAP");
    return w && *w;
}

int th_spawn_daemon(th_proc *p, const char *name, char *const argv[], const char *cwd,
                    const char *logfile)
{
    if (!th_wrapped()) return th_spawn(p, name, argv, cwd, logfile);
    char words[1024];
    snprintf(words, sizeof words, "%s", getenv("METERD_TEST_WRAP"));
    char *full[64];
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(words, " ", &save); w && n < 32; w = strtok_r(NULL, " ", &save))
        full[n++] = w;
    for (int i = 0; argv[i] && n < 63; i++)
        full[n++] = argv[i];
    full[n] = NULL;
    return th_spawn(p, name, full, cwd, logfile);
}

/* A valgrind error line ("==123== Invalid read of size 4"), quiet or not. */
static bool valgrind_error(const char *line)
{
    static const char *const kinds[] = {"Invalid read",        "Invalid write",
                                        "Invalid free",        "Mismatched free",
                                        "uninitialised",       "definitely lost in",
                                        "Syscall param",       "Source and destination overlap",
                                        "Process terminating", "Conditional jump"};
    int pid = 0, off = 0;
    if (sscanf(line, "==%d==%n", &pid, &off) != 1 || off == 0) return false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strstr(line + off, kinds[i])) return true;
    const char *sum = strstr(line + off, "ERROR SUMMARY: ");
    return sum && atoi(sum + 15) > 0;
}

static bool sanitizer_line(const char *line)
{
    return strstr(line, "ERROR: AddressSanitizer") || strstr(line, "ERROR: LeakSanitizer") ||
           strstr(line, "runtime error:") || strstr(line, "ThreadSanitizer") ||
           valgrind_error(line);
}

bool th_log_has_report(const char *path, char *why, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[1024];
    size_t len = 0;
    int shown = -1;
    while (fgets(line, sizeof line, f) && shown < 40) {
        if (shown < 0 && sanitizer_line(line)) {
            shown = 0;
            len = (size_t)snprintf(why, cap, "report in %s:\n", path);
        }
        if (shown >= 0 && len < cap) {
            len += (size_t)snprintf(why + len, cap - len, "  | %s", line);
            shown++;
        }
    }
    fclose(f);
    return shown >= 0;
}

bool th_exit_clean(const th_proc *p, int code, char *why, size_t cap)
{
    int st = p->status;
    size_t len = 0;
    bool ok = true;
    if (st == -1) {
        len = (size_t)snprintf(why, cap, "%s: never reaped (not started or still running)\n",
                               p->name);
        ok = false;
    } else if (WIFSIGNALED(st) && !(WTERMSIG(st) == SIGKILL && p->sent == SIGKILL)) {
        len = (size_t)snprintf(why, cap, "%s: killed by signal %d (%s)%s; log %s\n", p->name,
                               WTERMSIG(st), strsignal(WTERMSIG(st)),
                               p->sent && WTERMSIG(st) == SIGKILL ? ", did not stop in time" : "",
                               p->log);
        ok = false;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != code) {
        len = (size_t)snprintf(why, cap, "%s: exit code %d, expected %d%s; log %s\n", p->name,
                               WEXITSTATUS(st), code,
                               WEXITSTATUS(st) == TH_SANITIZER_EXIT ? " (a sanitizer report)"
                               : WEXITSTATUS(st) == 99              ? " (valgrind errors)"
                                                                    : "",
                               p->log);
        ok = false;
    }
    if (len >= cap) len = cap ? cap - 1 : 0;
    if (th_log_has_report(p->log, why + len, cap - len)) ok = false;
    if (ok && cap) why[0] = 0;
    return ok;
}

_Noreturn void th_skip_all(const char *why)
{
    fprintf(stderr, "SKIPPED: %s\n", why);
    fflush(NULL);
    exit(TH_SKIP_EXIT);
}

void th_note_peer_missing(const char *why)
{
    fprintf(stderr, "SKIPPED: %s\n", why);
    th.peers_missing++;
}

int th_tests_result(int failed)
{
    if (failed) return failed;
    return th.peers_missing ? TH_SKIP_EXIT : 0;
}

bool th_slow(void)
{
    const char *e = getenv("METERD_TEST_SLOW");
    return MeterdTestSlowBuild || (e && *e && strcmp(e, "0") != 0) || th_wrapped();
}

int th_slack(void)
{
    return th_wrapped() ? 5 : th_slow() ? 3 : 1;
}
