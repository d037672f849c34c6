/*
 * proxy_fixture.h: a real meterproxy process for the proxy's tests, and a
 * small HTTP/1.1 client over the harness's loopback TCP helpers.
 */
#ifndef METERD_TESTS_PROXY_FIXTURE_H
#define METERD_TESTS_PROXY_FIXTURE_H

#include "harness/harness.h"

#include <jansson.h>
#include <stdbool.h>

typedef struct px_proc {
    th_proc proc;
    int port;
    char conf[512];
} px_proc;

/* Writes a meterproxy.conf (name under the test's folder) with the given
 * text and starts `meterproxy -f -c conf -p port` plus extra arguments
 * (NULL-terminated, may be NULL); waits until it accepts connections. */
void px_start(px_proc *p, const char *name, const char *conf_text, char *const extra[]);
/* SIGTERM, and judges the exit: 0 and no sanitizer/valgrind report. */
void px_stop(px_proc *p);

/* One request (method, path, headers lines ending in \r\n or NULL, body
 * or NULL) on a new connection; returns the status (-1: no answer) and
 * copies the body into body (cap bytes, NUL-terminated). */
int px_http(int port, const char *method, const char *path, const char *headers, const char *body,
            char *out, size_t cap);
/* The same, with the whole response (status line and headers) in out. */
int px_http_raw(int port, const char *method, const char *path, const char *headers,
                const char *body, char *out, size_t cap);
/* GET path and parse the JSON body; *status gets the status. NULL when
 * the body is not JSON. */
json_t *px_get_json(int port, const char *path, int *status);

#endif
