/*
 * server.c: stub of the httpd interface (the implementation follows).
 */
#include "httpd/httpd.h"

#include <stdio.h>
#include <sys/resource.h>

int httpd_start(httpd **out, const httpd_opts *opts, char *err, size_t errlen)
{
    (void)opts;
    *out = NULL;
    snprintf(err, errlen, "httpd: not implemented yet");
    return -1;
}

int httpd_port(const httpd *h, size_t i)
{
    (void)h;
    (void)i;
    return -1;
}

void httpd_stop(httpd *h)
{
    (void)h;
}

void httpd_get_stats(const httpd *h, httpd_stats *out)
{
    (void)h;
    *out = (httpd_stats){0};
}

const char *httpd_method(const httpd_req *r)
{
    return (void)r, "";
}
const char *httpd_path(const httpd_req *r)
{
    return (void)r, "/";
}
const char *httpd_query(const httpd_req *r, const char *name)
{
    return (void)r, (void)name, NULL;
}
const char *httpd_header(const httpd_req *r, const char *name)
{
    return (void)r, (void)name, NULL;
}
const void *httpd_body(const httpd_req *r, size_t *len)
{
    return (void)r, *len = 0, NULL;
}
const char *httpd_peer(const httpd_req *r)
{
    return (void)r, "";
}
bool httpd_peer_loopback(const httpd_req *r)
{
    return (void)r, false;
}
bool httpd_peer_verified(const httpd_req *r)
{
    return (void)r, false;
}
int httpd_add_header(httpd_req *r, const char *name, const char *value)
{
    return (void)r, (void)name, (void)value, -1;
}
int httpd_respond(httpd_req *r, int status, const char *content_type, const void *body, size_t len)
{
    return (void)r, (void)status, (void)content_type, (void)body, (void)len, -1;
}
int httpd_respond_stream(httpd_req *r, int status, const char *content_type, httpd_stream_fn fn,
                         void *ctx, void (*free_ctx)(void *ctx))
{
    (void)r, (void)status, (void)content_type, (void)fn;
    if (free_ctx) free_ctx(ctx);
    return -1;
}
void httpd_defer(httpd_req *r)
{
    (void)r;
}
void httpd_stream_wake(httpd_req *r)
{
    (void)r;
}

long httpd_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    return (long)rl.rlim_cur;
}

unsigned httpd_fd_budget(unsigned reserve)
{
    return (void)reserve, 16;
}
