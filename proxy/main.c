/*
 * main.c: meterproxy's start-up and shutdown.
 *
 * Order matters: the options and the config are checked first (errors to
 * -x FILE or stderr, exit 1; usage errors exit 2); without -f the process
 * forks and the parent waits on a pipe until the child is serving or says
 * why not, so `meterproxy` started by an init script fails visibly when the
 * port is taken; then the ports are bound, then privileges dropped (-U:
 * binding a low port may need them, nothing after does), then ZooKeeper
 * observers opened. SIGTERM/SIGINT stop it cleanly, SIGHUP reopens the log
 * file; the handler only sets flags (the only global mutable variables, as
 * signals require).
 */
#include "proxy/proxy.h"
#include "group/group.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested, reopen_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reopen_requested = 1;
    else
        stop_requested = 1;
}

/*
 * SIGHUP: the log file again (logrotate moved it). The FILE stays: the
 * new file's descriptor takes the old one's number under it, so the
 * ZooKeeper client's threads, which write to it (coord_set_zk_log, below),
 * never hold a closed FILE.
 */
static void reopen_log(proxy_ctx *px)
{
    if (!px->opts.log_file || px->log == px->std_err) return;
    int fd = open(px->opts.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        proxy_log(px, COORD_LOG_WARN, "cannot reopen %s: %s; keeping the old file",
                  px->opts.log_file, strerror(errno));
        return;
    }
    pthread_mutex_lock(&px->log_mu);
    flockfile(px->log);
    fflush(px->log);
    int rc = dup2(fd, fileno(px->log));
    int e = errno;
    funlockfile(px->log);
    pthread_mutex_unlock(&px->log_mu);
    close(fd);
    if (rc < 0)
        proxy_log(px, COORD_LOG_WARN, "cannot reopen %s: %s; keeping the old file",
                  px->opts.log_file, strerror(e));
    else
        proxy_log(px, COORD_LOG_INFO, "log reopened");
}

/*
 * The ZooKeeper client library's own lines (its warnings and errors: a
 * refused connection, a session expired) belong in the log file with -l,
 * not on a terminal nor lost with the daemon's stderr. Set before any
 * coordinator handle opens, as coord_set_zk_log() requires.
 */
static void log_to(proxy_ctx *px, FILE *lf)
{
    setvbuf(lf, NULL, _IOLBF, 0); /* the library writes whole lines, never flushes */
    px->log = lf;
    coord_set_zk_log(lf);
}

int64_t proxy_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void proxy_log(proxy_ctx *px, int level, const char *fmt, ...)
{
    if (level > px->log_level) return;
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char msg[2048], when[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&px->log_mu);
    fprintf(px->log, "%s meterproxy %s: %s\n", when,
            names[level < 0   ? 0
                  : level > 3 ? 3
                              : level],
            msg);
    fflush(px->log);
    pthread_mutex_unlock(&px->log_mu);
}

/* After stop(): no ZooKeeper thread is left to write to it. */
static void close_log(proxy_ctx *px)
{
    if (px->log == px->std_err) return;
    coord_set_zk_log(NULL);
    fclose(px->log);
    px->log = px->std_err;
}

/* Start-up errors: to -x FILE when given (and writable), else stderr. */
static FILE *open_errfile(const char *path)
{
    FILE *f = path ? fopen(path, "a") : NULL;
    return f ? f : stderr;
}

static int drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "-U %s: no such user", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "-U %s: cannot become that user: %s", user, strerror(errno));
        return -1;
    }
    return 0;
}

/* Everything after the config: bind, drop privileges, open the groups. */
static int start(proxy_ctx *px, char *err, size_t errlen)
{
    metrics_config mc;
    metrics_config_init(&mc);
    mc.backend = METRICS_BACKEND_PROMETHEUS;
    px->mx = metrics_registry_create(&mc, err, errlen);
    if (px->mx == NULL || proxy_api_metrics(px, err, errlen) != 0) return -1;
    if (px->cfg.auth_file[0] &&
        group_secret_read(px->cfg.auth_file, &px->zk_auth, &px->zk_auth_len, err, errlen) != 0)
        return -1;
    if (px->cfg.trusted_keys_file[0]) {
        char msg[600];
        if (group_trust_read(px->cfg.trusted_keys_file, &px->trust, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "[coordination] trusted_keys_file: %s", msg);
            return -1;
        }
    }
    if (px->cfg.acl_file[0]) {
        char msg[600];
        if (group_roles_read(px->cfg.acl_file, &px->role_ids, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "[coordination] acl_file: %s", msg);
            return -1;
        }
        px->roles = (coord_roles_t){px->role_ids.operator_id, px->role_ids.member_id,
                                    px->role_ids.reader_id};
        px->has_roles = true;
    }
    if (proxy_fanout_open(px, err, errlen) != 0) return -1;
    httpd_raise_nofile();
    httpd_opts ho = {
        .handler = proxy_api_handle,
        .arg = px,
        .threads = (unsigned)px->cfg.threads,
        .max_connections = (unsigned)px->cfg.max_connections,
        .header_timeout_ms = (unsigned)px->cfg.header_timeout_ms,
        .idle_timeout_ms = (unsigned)px->cfg.idle_timeout_ms,
        /* not -L itself: libmicrohttpd zeroes each connection's pool (about
         * twice the head cap) before every request, and at -L's 64 KiB that
         * memset was a third of the proxy's CPU at 50k requests/s */
        .max_head_bytes = (size_t)px->cfg.max_head_bytes < px->opts.max_request
                              ? (size_t)px->cfg.max_head_bytes
                              : px->opts.max_request,
        .max_body_bytes = px->cfg.writes_api ? px->opts.max_request : 0,
        .listen_backlog = (unsigned)px->opts.maxpending, /* 0: httpd's default */
        .tls_cert_file = px->cfg.tls_cert_file[0] ? px->cfg.tls_cert_file : NULL,
        .tls_key_file = px->cfg.tls_key_file[0] ? px->cfg.tls_key_file : NULL,
        .tls_client_ca_file = px->cfg.tls_client_ca_file[0] ? px->cfg.tls_client_ca_file : NULL,
    };
    for (size_t i = 0; i < px->opts.n_listen; i++)
        ho.listen[ho.n_listen++] = px->opts.listen[i];
    if (httpd_start(&px->http, &ho, err, errlen) != 0) return -1;
    if (px->opts.user && drop_privileges(px->opts.user, err, errlen) != 0) return -1;
    return proxy_cache_open(px, err, errlen);
}

static void stop(proxy_ctx *px)
{
    /* transfers and writes first (their requests get answered), then the
     * server: no handler reads the cache while it is closed */
    proxy_fanout_cancel(px);
    proxy_writes_drain(px);
    httpd_stop(px->http);
    proxy_fanout_close(px);
    px->http = NULL;
    proxy_cache_close(&px->cache);
    metrics_registry_destroy(px->mx);
    px->mx = NULL;
    group_secret_free(px->zk_auth, px->zk_auth_len);
    px->zk_auth = NULL;
    group_trust_free(px->trust);
    px->trust = NULL;
    proxy_token_free(&px->token);
}

/* Without -f: the parent returns the child's verdict (0 serving, 1 not). */
static int daemonize(int *report_fd)
{
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid > 0) {
        close(p[1]);
        char c = 1;
        ssize_t n;
        while ((n = read(p[0], &c, 1)) < 0 && errno == EINTR) {
        }
        _exit(n == 1 && c == 0 ? 0 : 1);
    }
    close(p[0]);
    setsid();
    *report_fd = p[1];
    return 0;
}

int main(int argc, char **argv)
{
    proxy_ctx *px = calloc(1, sizeof *px);
    if (px == NULL) return 1;
    char err[4096];
    int rc = proxy_opts_parse(&px->opts, argc, argv, stdout, err, sizeof err);
    if (rc != 0) {
        if (rc < 0) fprintf(stderr, "meterproxy: %s\n", err);
        free(px);
        return rc < 0 ? 2 : 0;
    }
    FILE *ef = open_errfile(px->opts.err_file);
    proxy_config_defaults(&px->cfg);
    if (px->opts.config && proxy_config_load(&px->cfg, px->opts.config, err, sizeof err) != 0) {
        fprintf(ef, "meterproxy: %s\n", err);
        return 1;
    }
    if (!px->cfg.backend_url[0]) {
        fprintf(ef, "meterproxy: no ZooKeeper: set [coordination] backend_url in %s\n",
                px->opts.config ? px->opts.config : "a config file given with -c");
        return 1;
    }
    coord_url_t u;
    if (coord_url_parse(px->cfg.backend_url, &u, err, sizeof err) != 0) {
        fprintf(ef, "meterproxy: %s: [coordination] backend_url: %s\n", px->opts.config, err);
        return 1;
    }
    int report_fd = -1;
    if (!px->opts.foreground && daemonize(&report_fd) != 0) {
        fprintf(ef, "meterproxy: cannot become a daemon: %s\n", strerror(errno));
        return 1;
    }
    pthread_mutex_init(&px->log_mu, NULL);
    pthread_mutex_init(&px->write_mu, NULL);
    pthread_mutex_init(&px->fed_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&px->write_cond, &ca);
    pthread_condattr_destroy(&ca);
    px->log_level = COORD_LOG_INFO;
    px->std_err = stderr;
    px->log = stderr;
    if (px->opts.log_file) {
        FILE *lf = fopen(px->opts.log_file, "a");
        if (lf)
            log_to(px, lf);
        else
            fprintf(ef, "meterproxy: cannot write %s (%s): logging to stderr\n", px->opts.log_file,
                    strerror(errno));
    }
    proxy_token_init(&px->token, px->cfg.token_file);
    px->started_ms = proxy_wall_ms();
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* blocked in every thread (they inherit the mask) and taken only in
     * sigsuspend below, so no signal slips between a check and the wait */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    signal(SIGPIPE, SIG_IGN);
    if (start(px, err, sizeof err) != 0) {
        fprintf(ef, "meterproxy: %s\n", err);
        stop(px);
        close_log(px);
        if (report_fd >= 0) {
            char c = 1;
            (void)!write(report_fd, &c, 1);
        }
        free(px);
        return 1;
    }
    for (size_t i = 0; i < px->opts.n_listen; i++)
        proxy_log(px, COORD_LOG_INFO, "serving on %s (port %d)", px->opts.listen[i],
                  httpd_port(px->http, i));
    if (report_fd >= 0) {
        char c = 0;
        (void)!write(report_fd, &c, 1);
        close(report_fd);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            if (px->log != px->std_err) dup2(devnull, 2);
            close(devnull);
        }
    }
    while (!stop_requested) {
        sigsuspend(&old);
        if (reopen_requested) {
            reopen_requested = 0;
            reopen_log(px);
        }
    }
    proxy_log(px, COORD_LOG_INFO, "stopping");
    stop(px);
    close_log(px);
    if (ef != stderr) fclose(ef);
    pthread_mutex_destroy(&px->log_mu);
    pthread_mutex_destroy(&px->write_mu);
    pthread_mutex_destroy(&px->fed_mu);
    pthread_cond_destroy(&px->write_cond);
    free(px);
    return 0;
}
