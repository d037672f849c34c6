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
#include "group/group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* the one secret reader (group/): regular file, no symlink, mode 0600
     * or stricter, size bound; NUL-terminated, wiped when freed */
    unsigned char *raw = NULL;
    size_t len = 0;
    char msg[512];
    if (group_secret_read(path, &raw, &len, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "secrets_file: %s", msg);
        return -1;
    }
    char *buf = (char *)raw;
    int rc = 0;
    if (strlen(buf) != len) {
        snprintf(err, errlen, "secrets_file %s: holds a NUL byte; expected name = value lines",
                 path);
        rc = -1;
    }
    int line = 0;
    for (char *l = buf, *next; rc == 0 && l; l = next) {
        line++; /* every line counts, blank ones too: errors name the real line */
        next = strchr(l, '\n');
        if (next) *next++ = '\0';
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
    group_secret_free(raw, len); /* wipes all of it, cut lines included */
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
