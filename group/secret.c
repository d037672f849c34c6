/*
 * secret.c: the one reader of secret files (ZooKeeper credentials, revision
 * keys, later the plugins' secrets by name), and of trusted-key files (public,
 * but nobody else may change them: the same checks, a looser mode).
 *
 * Two readers used to disagree (buffer sizes, symlinks, whitespace), so a
 * key meterctl signed with whole reached the agent truncated and every
 * revision was refused as forged. One function now decides, for everyone:
 * open without following a symlink and without blocking on a FIFO, check
 * what was opened (fstat: no race between the check and the read), refuse a
 * file others may read, refuse rather than truncate a file that is too big,
 * strip the same trailing whitespace.
 */
#include "group/group.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Releases what a refused read holds; err is already written. */
static int refuse(int fd, unsigned char *buf, size_t cap)
{
    if (fd >= 0) close(fd);
    if (buf) {
        explicit_bzero(buf, cap);
        free(buf);
    }
    return -1;
}

/* Reads path as the checks above say; `forbid`: mode bits that refuse it. */
static int read_checked(const char *path, mode_t forbid, unsigned char **out, size_t *len,
                        char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP)
            snprintf(err, errlen, "%s: is a symbolic link; a secret must be a regular file", path);
        else
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return refuse(fd, NULL, 0);
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file; a secret must be one", path);
        return refuse(fd, NULL, 0);
    }
    if (st.st_mode & forbid) {
        if (forbid == 077)
            snprintf(err, errlen, "%s: mode %04o lets others read a secret; chmod 600 %s", path,
                     (unsigned)(st.st_mode & 07777), path);
        else
            snprintf(err, errlen, "%s: mode %04o lets others change trusted keys; chmod 644 %s",
                     path, (unsigned)(st.st_mode & 07777), path);
        return refuse(fd, NULL, 0);
    }
    if (st.st_size > (off_t)GROUP_SECRET_MAX) {
        snprintf(err, errlen, "%s: too large for a secret (%lld bytes, at most %u)", path,
                 (long long)st.st_size, GROUP_SECRET_MAX);
        return refuse(fd, NULL, 0);
    }
    /* one byte beyond the cap tells a file that grew since fstat */
    size_t cap = GROUP_SECRET_MAX + 2;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return refuse(fd, NULL, 0);
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            return refuse(fd, buf, cap);
        }
        if (r == 0) break;
        n += (size_t)r;
        if (n > GROUP_SECRET_MAX) {
            snprintf(err, errlen, "%s: too large for a secret (it grew while being read)", path);
            return refuse(fd, buf, cap);
        }
    }
    close(fd);
    while (n &&
           (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    if (n == 0) {
        snprintf(err, errlen, "%s: empty", path);
        return refuse(-1, buf, cap);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int group_secret_read(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
    return read_checked(path, 077, out, len, err, errlen);
}

int group_trust_read(const char *path, group_trust **out, char *err, size_t errlen)
{
    unsigned char *text = NULL;
    size_t len = 0;
    *out = NULL;
    if (read_checked(path, 022, &text, &len, err, errlen) != 0) return -1;
    int rc = group_trust_parse((const char *)text, len, path, out, err, errlen);
    free(text);
    return rc;
}

void group_secret_free(unsigned char *secret, size_t len)
{
    if (!secret) return;
    explicit_bzero(secret, len + 1);
    free(secret);
}
