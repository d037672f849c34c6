/*
 * publishers/file.c: the file:///path publisher — one JSON object per line.
 *
 * The file is opened O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC, mode 0640 (metrics
 * may name hosts and users: not world-readable). O_APPEND makes every write
 * land at the end even when logrotate's copytruncate or another writer moves
 * the end. A whole batch is encoded into one buffer and written with one
 * write(2) (a loop only for the rare short write), so a reader never sees half
 * a batch interleaved with another writer's lines, and the cost is one syscall
 * per batch rather than per sample.
 *
 * reopen() (SIGHUP, after logrotate renamed the file) opens the path afresh
 * and only then swaps descriptors: if the new open fails the old file keeps
 * receiving lines rather than losing them. The wrapper serialises reopen with
 * publish, so no line is written to a closed descriptor.
 *
 * A write error before any byte went out is PUBLISH_RETRY (ENOSPC may clear);
 * after a partial write it is PUBLISH_FAIL, since retrying would duplicate the
 * lines already written.
 */
#include "agent/publishers/common.h"
#include "agent/publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct file_pub {
    char *path;
    int fd;
    strbuf buf;
    pub_ts_cache tc;
} file_pub;

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static int file_open(const pipeline_publisher *u, void *pstate, void **self, char *err,
                     size_t errlen)
{
    (void)pstate;
    if (u->host[0] && strcmp(u->host, "localhost") != 0) {
        snprintf(err, errlen, "file:// takes a local path (file:///path), not host '%s'", u->host);
        return -1;
    }
    if (!u->path[0] || u->path[strlen(u->path) - 1] == '/') {
        snprintf(err, errlen, "file:// needs a file path, e.g. file:///var/log/meterd.jsonl");
        return -1;
    }
    file_pub *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(u->path))) {
        free(f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    f->fd = open_path(f->path);
    if (f->fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", f->path, strerror(errno));
        free(f->path);
        free(f);
        return -1;
    }
    strbuf_init(&f->buf);
    pub_ts_cache_init(&f->tc);
    *self = f;
    return 0;
}

static int file_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    file_pub *f = self;
    strbuf_reset(&f->buf);
    for (size_t i = 0; i < b->n; i++) {
        pub_json_sample(&f->buf, b, &b->v[i], &f->tc);
        strbuf_putc(&f->buf, '\n');
    }
    if (f->buf.failed) {
        strbuf_free(&f->buf);
        snprintf(err, errlen, "out of memory encoding %zu samples", b->n);
        return PUBLISH_RETRY;
    }
    size_t off = 0;
    while (off < f->buf.len) {
        ssize_t n = write(f->fd, f->buf.buf + off, f->buf.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "write %s: %s", f->path, n < 0 ? strerror(errno) : "no progress");
            return off ? PUBLISH_FAIL : PUBLISH_RETRY;
        }
        off += (size_t)n;
    }
    /* don't keep a huge buffer after one huge batch */
    if (f->buf.cap > (1u << 20)) strbuf_free(&f->buf);
    return PUBLISH_OK;
}

static void file_reopen(void *self)
{
    file_pub *f = self;
    int fd = open_path(f->path);
    if (fd < 0) return; /* keep writing to the old file */
    close(f->fd);
    f->fd = fd;
}

static void file_close(void *self)
{
    file_pub *f = self;
    close(f->fd);
    strbuf_free(&f->buf);
    free(f->path);
    free(f);
}

const publisher_plugin pub_file_plugin = {
    .scheme = "file",
    .open = file_open,
    .publish = file_publish,
    .reopen = file_reopen,
    .close = file_close,
};
