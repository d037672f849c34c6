/*
 * secrets.c: the secrets file plugins reference by name ([DEFAULT]
 * secrets_file).
 *
 * The file holds "name = value" lines ('#' comments, blank lines). It must be
 * a regular file (not a symlink, FIFO or device) of mode 0600: anything
 * looser is refused at start rather than read, since a secret readable by the
 * group or others is already leaked.
 */
#include "agent/plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRETS_MAX_BYTES 65536

/*
 * Reads the whole file into a malloc'd NUL-terminated buffer after checking
 * what it is. TODO: use group_secret_read (the one secret reader, group/)
 * once it is merged.
 */
static char *read_secret_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "secrets_file %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "secrets_file %s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "secrets_file %s: not a regular file", path);
    } else if ((st.st_mode & 07777) != 0600) {
        snprintf(err, errlen, "secrets_file %s: mode %04o, expected 0600 (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 07777), path);
    } else if (st.st_size > SECRETS_MAX_BYTES) {
        snprintf(err, errlen, "secrets_file %s: larger than %d bytes", path, SECRETS_MAX_BYTES);
    } else if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
    } else {
        size_t n = 0;
        ssize_t r;
        while (n < (size_t)st.st_size &&
               ((r = read(fd, buf + n, (size_t)st.st_size - n)) > 0 || (r < 0 && errno == EINTR)))
            if (r > 0) n += (size_t)r;
        buf[n] = '\0';
    }
    close(fd);
    return buf;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int add(secrets *s, const char *name, const char *value)
{
    secret_entry *nv = realloc(s->v, (s->n + 1) * sizeof *nv);
    if (!nv) return -1;
    s->v = nv;
    nv[s->n].name = strdup(name);
    nv[s->n].value = strdup(value);
    if (!nv[s->n].name || !nv[s->n].value) {
        free(nv[s->n].name);
        free(nv[s->n].value);
        return -1;
    }
    s->n++;
    return 0;
}

int secrets_load(secrets *s, const char *path, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (!path || !path[0]) return 0;
    char *buf = read_secret_file(path, err, errlen);
    if (!buf) return -1;
    int rc = 0, line = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l && rc == 0; l = strtok_r(NULL, "\n", &save)) {
        line++;
        l = trim(l);
        if (!*l || *l == '#') continue;
        char *eq = strchr(l, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected name = value", path, line);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(l), *value = trim(eq + 1);
        if (!*name || secrets_get(s, name)) {
            snprintf(err, errlen, "%s:%d: %s secret name", path, line,
                     *name ? "duplicate" : "empty");
            rc = -1;
        } else if (add(s, name, value) != 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    explicit_bzero(buf, strlen(buf));
    free(buf);
    if (rc != 0) secrets_free(s);
    return rc;
}

const char *secrets_get(const secrets *s, const char *name)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0) return s->v[i].value;
    return NULL;
}

void secrets_free(secrets *s)
{
    for (size_t i = 0; i < s->n; i++) {
        explicit_bzero(s->v[i].value, strlen(s->v[i].value));
        free(s->v[i].name);
        free(s->v[i].value);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}
