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
 * A batch lands as whole lines or not at all. On a full disk (ENOSPC, EFBIG
 * past RLIMIT_FSIZE, a short write) the bytes that did go out are cut off
 * again with ftruncate() and the batch is PUBLISH_RETRY: the wrapper retries
 * it once space frees, so no line is torn, fused with the next batch or
 * written twice. The cut point is the size fstat() saw before the write; if
 * the file changed size meanwhile (copytruncate), our bytes are the last ones
 * and the cut is the current size less what we wrote. When ftruncate itself
 * fails the torn tail is remembered and cut before anything else is written.
 */
#include "agent/publishers/common.h"
#include "agent/publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct file_pub {
    char *path;
    int fd;
    strbuf buf;
    pub_ts_cache tc;
    off_t torn_at; /* >= 0: a partial batch from here on is still to be cut off */
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
    f->torn_at = -1;
    *self = f;
    return 0;
}

/* Cuts a partial batch off the end of the file; 0 when the file is whole. */
static int cut_torn_tail(file_pub *f, char *err, size_t errlen)
{
    if (f->torn_at < 0) return 0;
    if (ftruncate(f->fd, f->torn_at) != 0) {
        snprintf(err, errlen, "cannot cut a partial line off %s: %s", f->path, strerror(errno));
        return -1;
    }
    f->torn_at = -1;
    return 0;
}

static int file_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    file_pub *f = self;
    if (cut_torn_tail(f, err, errlen) != 0) return PUBLISH_RETRY;
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
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        snprintf(err, errlen, "fstat %s: %s", f->path, strerror(errno));
        return PUBLISH_RETRY;
    }
    const off_t start = st.st_size;
    size_t off = 0;
    while (off < f->buf.len) {
        ssize_t n = write(f->fd, f->buf.buf + off, f->buf.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "write %s: %s", f->path, n < 0 ? strerror(errno) : "no progress");
            if (off) {
                f->torn_at = start;
                if (fstat(f->fd, &st) == 0 && st.st_size != start + (off_t)off)
                    f->torn_at = st.st_size >= (off_t)off ? st.st_size - (off_t)off : 0;
                char cut_err[256];
                (void)cut_torn_tail(f, cut_err, sizeof cut_err); /* else: before the next write */
            }
            return PUBLISH_RETRY;
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
    char err[256];
    (void)cut_torn_tail(f, err, sizeof err); /* last chance to mend the old file */
    f->torn_at = -1;
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
