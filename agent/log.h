/*
 * log.h (internal to agent/): levelled logging to stderr or a file.
 *
 * One logger per daemon, owned by its top-level context and passed down.
 * Lines are "2026-11-21T10:00:00.123Z level component: message"; a line is
 * written with one write(2) so concurrent threads never interleave.
 * SIGHUP reopens the file (log rotation).
 */
#ifndef METERD_AGENT_LOG_H
#define METERD_AGENT_LOG_H

#include <pthread.h>
#include <stdbool.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR } log_level;

typedef struct logger {
    log_level level;
    int fd;             /* 2 for stderr */
    char path[4096];    /* "" for stderr */
    pthread_mutex_t mu; /* guards fd across reopen */
} logger;

/* Opens path (NULL or "" for stderr). 0, or -1 with err. */
int log_open(logger *l, const char *path, log_level level, char *err, size_t errlen);
void log_reopen(logger *l);
void log_close(logger *l);

/* "debug" | "info" | "warning" (or "warn") | "error"; -1 when unknown. */
int log_level_parse(const char *s);
const char *log_level_name(log_level lvl);

__attribute__((format(printf, 4, 5))) void log_msg(logger *l, log_level lvl, const char *component,
                                                   const char *fmt, ...);

#define log_debug(l, c, ...) log_msg((l), LOG_DEBUG, (c), __VA_ARGS__)
#define log_info(l, c, ...)  log_msg((l), LOG_INFO, (c), __VA_ARGS__)
#define log_warn(l, c, ...)  log_msg((l), LOG_WARNING, (c), __VA_ARGS__)
#define log_error(l, c, ...) log_msg((l), LOG_ERROR, (c), __VA_ARGS__)

#endif
