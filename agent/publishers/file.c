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
 * A batch lands as whole lines, each once. On a full disk (ENOSPC, EFBIG
 * past RLIMIT_FSIZE, a short write) the bytes that did go out are cut off
 * again with ftruncate() and the batch is PUBLISH_RETRY: the wrapper retries
 * it once space frees, so no line is torn, fused with the next batch or
 * written twice. The cut point is the size fstat() saw before the write; if
 * the file changed size meanwhile (copytruncate), our bytes are the last ones
 * and the cut is the current size less what we wrote.
 *
 * A file that cannot be cut (append-only, chattr +a) keeps what went out;
 * the retry of the same batch (the wrapper retries one batch until it is
 * done, and encodes it the same way) resumes at the byte where the write
 * stopped, provided the file is still as we left it. Otherwise, and for a
 * file that is not regular (a pipe: the batch is then PUBLISH_FAIL, since a
 * reader already has its first lines), the fragment is ended with a newline
 * so the next batch starts on a line of its own: never fused, never stuck.
 */
#include "agent/publishers/common.h"
#include "agent/publisher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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
    bool torn_end; /* a partial line that cannot be cut: end it before the next batch */
    /* an uncuttable partial write of resume_b: its bytes up to resume_off are in
     * the file, which was resume_size bytes long after them */
    const sample_batch *resume_b;
    size_t resume_off;
    off_t resume_size;
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

/* Where the retry of b starts in its encoding: past the bytes an uncuttable
 * partial write left, if the file is as that write left it; else at 0 with
 * the fragment to be ended by a newline. */
static size_t resume_point(file_pub *f, const sample_batch *b)
{
    if (f->resume_b == NULL) return 0;
    struct stat st;
    size_t from = 0;
    if (f->resume_b == b && fstat(f->fd, &st) == 0 && st.st_size == f->resume_size)
        from = f->resume_off;
    else
        f->torn_end = true;
    f->resume_b = NULL;
    return from;
}

/* After a partial write of buf[from, off): take this call's bytes back, or
 * remember where the retry resumes when the file cannot be cut. */
static void mend_partial(file_pub *f, const sample_batch *b, off_t start, size_t from, size_t off)
{
    struct stat st;
    off_t wrote = (off_t)(off - from), cut = start;
    bool stat_ok = fstat(f->fd, &st) == 0;
    if (stat_ok && st.st_size != start + wrote) cut = st.st_size >= wrote ? st.st_size - wrote : 0;
    if (ftruncate(f->fd, cut) == 0) {
        if (from > 0) { /* an earlier call's fragment is still there */
            f->resume_b = b;
            f->resume_off = from;
            f->resume_size = stat_ok ? cut : -1;
        }
        return;
    }
    f->resume_b = b;
    f->resume_off = off;
    f->resume_size = stat_ok ? st.st_size : -1;
}

static int file_publish(void *self, const sample_batch *b, char *err, size_t errlen)
{
    file_pub *f = self;
    size_t from = resume_point(f, b);
    strbuf_reset(&f->buf);
    if (f->torn_end) strbuf_putc(&f->buf, '\n');
    for (size_t i = 0; i < b->n; i++) {
        pub_json_sample(&f->buf, b, &b->v[i], &f->tc);
        strbuf_putc(&f->buf, '\n');
    }
    if (f->buf.failed) {
        strbuf_free(&f->buf);
        snprintf(err, errlen, "out of memory encoding %zu samples", b->n);
        if (from > 0) f->torn_end = true; /* the fragment stays as it is */
        return PUBLISH_RETRY;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        snprintf(err, errlen, "fstat %s: %s", f->path, strerror(errno));
        if (from > 0) f->torn_end = true;
        return PUBLISH_RETRY;
    }
    const off_t start = st.st_size;
    size_t off = from;
    while (off < f->buf.len) {
        ssize_t n = write(f->fd, f->buf.buf + off, f->buf.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "write %s: %s", f->path, n < 0 ? strerror(errno) : "no progress");
            if (!S_ISREG(st.st_mode)) {
                if (off == 0) return PUBLISH_RETRY;
                f->torn_end = true;
                return PUBLISH_FAIL;
            }
            if (off > 0) mend_partial(f, b, start, from, off);
            return PUBLISH_RETRY;
        }
        off += (size_t)n;
    }
    f->torn_end = false;
    /* don't keep a huge buffer after one huge batch */
    if (f->buf.cap > (1u << 20)) strbuf_free(&f->buf);
    return PUBLISH_OK;
}

/* Before the descriptor goes: a fragment that could not be cut gets its
 * newline, so whatever is appended later starts on a line of its own. */
static void end_fragment(file_pub *f)
{
    if (f->resume_b || f->torn_end) {
        ssize_t n;
        do
            n = write(f->fd, "\n", 1);
        while (n < 0 && errno == EINTR);
    }
    f->resume_b = NULL;
    f->torn_end = false;
}

static void file_reopen(void *self)
{
    file_pub *f = self;
    int fd = open_path(f->path);
    if (fd < 0) return; /* keep writing to the old file */
    end_fragment(f);    /* the retry goes to the new file, whole */
    close(f->fd);
    f->fd = fd;
}

static void file_close(void *self)
{
    file_pub *f = self;
    end_fragment(f);
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
