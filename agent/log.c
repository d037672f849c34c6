/*
 * log.c: levelled logging. Messages are formatted into a stack buffer and
 * written with one write(2) (O_APPEND), so lines from several threads never
 * interleave and a full disk never blocks the caller for long. Control
 * characters in messages are escaped: log lines stay one line each even when
 * they quote bad input.
 */
#include "agent/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warning", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) return i;
    if (strcmp(s, "warn") == 0) return LOG_WARNING;
    return -1;
}

const char *log_level_name(log_level lvl)
{
    return (unsigned)lvl < 4 ? level_names[lvl] : "info";
}

int log_open(logger *l, const char *path, log_level level, char *err, size_t errlen)
{
    l->level = level;
    l->fd = 2;
    l->path[0] = 0;
    pthread_mutex_init(&l->mu, NULL);
    if (path && *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) {
            snprintf(err, errlen, "cannot open log file %s: %s", path, strerror(errno));
            pthread_mutex_destroy(&l->mu);
            return -1;
        }
        l->fd = fd;
        snprintf(l->path, sizeof l->path, "%s", path);
    }
    return 0;
}

void log_reopen(logger *l)
{
    if (!l->path[0]) return;
    int fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return; /* keep writing to the old file rather than lose lines */
    pthread_mutex_lock(&l->mu);
    int old = l->fd;
    l->fd = fd;
    pthread_mutex_unlock(&l->mu);
    close(old);
}

void log_close(logger *l)
{
    if (l->fd > 2) close(l->fd);
    l->fd = 2;
    pthread_mutex_destroy(&l->mu);
}

void log_msg(logger *l, log_level lvl, const char *component, const char *fmt, ...)
{
    if (!l || lvl < l->level) return;
    char msg[2048], line[2560];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_level_name(lvl), component);
    size_t len = n > 0 ? (size_t)n : 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && len + 5 < sizeof line; p++) {
        if (*p < 0x20 || *p == 0x7f)
            len += (size_t)snprintf(line + len, sizeof line - len, "\\x%02x", *p);
        else
            line[len++] = (char)*p;
    }
    line[len++] = '\n';
    pthread_mutex_lock(&l->mu);
    ssize_t w = write(l->fd, line, len);
    pthread_mutex_unlock(&l->mu);
    (void)w;
}
