/* proxy_fixture.c: see proxy_fixture.h. */
#include "proxy_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void px_start(px_proc *p, const char *name, const char *conf_text, char *const extra[])
{
    memset(p, 0, sizeof *p);
    char rel[128], port[16];
    snprintf(rel, sizeof rel, "%s.conf", name);
    assert_int_equal(th_write_file(rel, conf_text, p->conf, sizeof p->conf), 0);
    p->port = th_free_port();
    snprintf(port, sizeof port, "%d", p->port);
    char *argv[32] = {MeterproxyBinary, "-f", "-c", p->conf, "-p", port};
    int n = 6;
    for (int i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    assert_int_equal(th_spawn_daemon(&p->proc, name, argv, NULL, NULL), 0);
    assert_true(th_wait_tcp("127.0.0.1", p->port, 20000 * th_slack()));
}

void px_stop(px_proc *p)
{
    th_stop(&p->proc, SIGTERM, 20000 * th_slack());
    th_expect_clean_exit(&p->proc, 0);
}

/* A chunked body decoded in place (the proxy streams /metrics). */
static void dechunk(char *b)
{
    char *out = b, *p = b;
    for (;;) {
        char *end;
        unsigned long n = strtoul(p, &end, 16);
        char *data = strstr(end, "\r\n");
        if (data == NULL || n == 0) break;
        data += 2;
        if (strlen(data) < n) n = strlen(data); /* cut short: what arrived */
        memmove(out, data, n);
        out += n;
        p = data + n;
        if (strncmp(p, "\r\n", 2) != 0) break;
        p += 2;
    }
    *out = 0;
}

static int request(int port, const char *method, const char *path, const char *headers,
                   const char *body, char *out, size_t cap, bool raw)
{
    size_t blen = body ? strlen(body) : 0;
    size_t rcap = 4096 + blen;
    char *req = malloc(rcap);
    snprintf(req, rcap,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
             "Content-Length: %zu\r\n\r\n%s",
             method, path, headers ? headers : "", blen, body ? body : "");
    size_t respcap = 1 << 20;
    char *resp = malloc(respcap);
    ssize_t n = th_tcp_request("127.0.0.1", port, req, resp, respcap, 20000 * th_slack(), NULL);
    free(req);
    int status = -1;
    if (n > 0 && sscanf(resp, "HTTP/1.%*d %d", &status) == 1) {
        char *b = strstr(resp, "\r\n\r\n");
        if (b && !raw) {
            *b = 0;
            bool chunked = strcasestr(resp, "\r\nTransfer-Encoding: chunked") != NULL;
            b += 4;
            if (chunked) dechunk(b);
        }
        snprintf(out, cap, "%s", raw ? resp : b ? b : "");
    } else if (cap) {
        out[0] = 0;
    }
    free(resp);
    return status;
}

int px_http(int port, const char *method, const char *path, const char *headers, const char *body,
            char *out, size_t cap)
{
    return request(port, method, path, headers, body, out, cap, false);
}

int px_http_raw(int port, const char *method, const char *path, const char *headers,
                const char *body, char *out, size_t cap)
{
    return request(port, method, path, headers, body, out, cap, true);
}

json_t *px_get_json(int port, const char *path, int *status)
{
    size_t cap = 1 << 20;
    char *body = malloc(cap);
    *status = px_http(port, "GET", path, NULL, NULL, body, cap);
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    return doc;
}
