/*
 * pollsters/cgroup_parse.c: the parsers of the cgroup files and of
 * mountinfo. They take the whole text of a file (read to EOF: cgroup files
 * report size 0) and never trust it: a truncated or malformed file yields -1,
 * never a read past the buffer (fuzz/agent/fuzz_cgroup.c).
 */
#include "agent/pollsters/cgroup.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mountinfo: "id parent maj:min root mountpoint opts [optional...] - fstype source superopts" */
static int mount_line(const char *line, size_t n, cgroup_mounts *m)
{
    char buf[2048];
    if (n >= sizeof buf) return 0; /* not one of ours: cgroup lines are short */
    memcpy(buf, line, n);
    buf[n] = 0;
    char *sep = strstr(buf, " - ");
    if (!sep) return -1;
    *sep = 0;
    char *save = NULL, *f[5] = {0};
    int k = 0;
    for (char *t = strtok_r(buf, " ", &save); t && k < 5; t = strtok_r(NULL, " ", &save))
        f[k++] = t;
    if (k < 5) return -1;
    char *save2 = NULL;
    char *fstype = strtok_r(sep + 3, " ", &save2);
    char *source = fstype ? strtok_r(NULL, " ", &save2) : NULL;
    char *super = source ? strtok_r(NULL, " ", &save2) : NULL;
    if (!fstype) return -1;
    /* mountinfo escapes spaces as \040: cgroup mount points have none, keep as is */
    if (strcmp(fstype, "cgroup2") == 0) {
        if (!m->v2[0]) snprintf(m->v2, sizeof m->v2, "%s", f[4]);
        return 0;
    }
    if (strcmp(fstype, "cgroup") != 0) return 0;
    if (!super) return -1;
    static const char *const names[CG_V1_N] = {"cpu", "cpuacct", "memory", "pids", "blkio"};
    char *s3 = NULL;
    for (char *o = strtok_r(super, ",", &s3); o; o = strtok_r(NULL, ",", &s3))
        for (int i = 0; i < CG_V1_N; i++)
            if (strcmp(o, names[i]) == 0 && !m->v1[i][0])
                snprintf(m->v1[i], sizeof m->v1[i], "%s", f[4]);
    return 0;
}

int cgroup_mounts_parse(const char *text, cgroup_mounts *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    int lineno = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        lineno++;
        if (n > 0 && mount_line(p, n, m) != 0) {
            snprintf(err, errlen,
                     "mountinfo line %d: expected \"id parent dev root mountpoint "
                     "opts - fstype source options\", got \"%.60s\"",
                     lineno, p);
            return -1;
        }
        p += n;
        if (*p) p++;
    }
    return 0;
}

int cgroup_mounts_find(const char *proc_root, const char *root, cgroup_mounts *m, char *err,
                       size_t errlen)
{
    char path[CG_PATH_MAX];
    snprintf(path, sizeof path, "%s/self/mountinfo", proc_root);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (n + 1 < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) {
        snprintf(err, errlen, "out of memory reading %s", path);
        return -1;
    }
    buf[n] = 0;
    int rc = cgroup_mounts_parse(buf, m, err, errlen);
    free(buf);
    if (rc == 0 && root && root[0]) snprintf(m->v2, sizeof m->v2, "%s", root);
    return rc;
}

static int parse_num(const char *s, const char **end, double *v)
{
    char *e;
    errno = 0;
    double d = strtod(s, &e);
    if (e == s || errno || !isfinite(d)) return -1;
    *v = d;
    *end = e;
    return 0;
}

int cgroup_parse_psi(const char *text, double v[2][4])
{
    static const char *const keys[4] = {"avg10=", "avg60=", "avg300=", "total="};
    int mask = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n == 0) {
            p++;
            continue;
        }
        int kind;
        if (n > 5 && strncmp(p, "some ", 5) == 0)
            kind = 0;
        else if (n > 5 && strncmp(p, "full ", 5) == 0)
            kind = 1;
        else
            return -1;
        const char *q = p + 5, *end = p + n;
        for (int i = 0; i < 4; i++) {
            size_t k = strlen(keys[i]);
            if ((size_t)(end - q) < k || strncmp(q, keys[i], k) != 0) return -1;
            const char *e;
            if (parse_num(q + k, &e, &v[kind][i]) != 0 || e > end) return -1;
            q = e;
            if (q < end && *q == ' ') q++;
        }
        if (q != end) return -1;
        mask |= 1 << kind;
        p = end;
        if (*p) p++;
    }
    return mask;
}

int cgroup_parse_keyed(const char *text, const char *key, double *v)
{
    size_t k = strlen(key);
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n > k && strncmp(p, key, k) == 0 && p[k] == ' ') {
            const char *e;
            if (parse_num(p + k + 1, &e, v) != 0 || e != p + n) return -1;
            return 0;
        }
        p += n;
        if (*p) p++;
    }
    return -1;
}

int cgroup_parse_single(const char *text, double *v, bool *unlimited)
{
    *unlimited = false;
    size_t n = strcspn(text, "\n");
    if (n == 3 && strncmp(text, "max", 3) == 0) {
        *unlimited = true;
        return 0;
    }
    const char *e;
    if (parse_num(text, &e, v) != 0 || e != text + n) return -1;
    return 0;
}

static int dev_of(const char *p, size_t n, char *dev, size_t cap)
{
    size_t d = strcspn(p, " ");
    if (d == 0 || d >= n || d >= cap) return -1;
    unsigned maj, min;
    char tail;
    memcpy(dev, p, d);
    dev[d] = 0;
    if (sscanf(dev, "%u:%u%c", &maj, &min, &tail) != 2) return -1;
    return (int)d;
}

int cgroup_parse_io_stat(const char *text, cgroup_io_fn fn, void *arg)
{
    static const char *const keys[4] = {"rbytes=", "wbytes=", "rios=", "wios="};
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        if (n == 0) {
            p++;
            continue;
        }
        char dev[32];
        int d = dev_of(p, n, dev, sizeof dev);
        if (d < 0) return -1;
        double v[4] = {-1, -1, -1, -1};
        const char *q = p + d, *end = p + n;
        while (q < end) {
            while (q < end && *q == ' ')
                q++;
            if (q >= end) break;
            size_t w = 0;
            while (q + w < end && q[w] != ' ')
                w++;
            const char *eq = memchr(q, '=', w);
            if (!eq) return -1;
            for (int i = 0; i < 4; i++) {
                size_t k = strlen(keys[i]);
                if ((size_t)(eq + 1 - q) == k && strncmp(q, keys[i], k) == 0) {
                    const char *e;
                    if (parse_num(eq + 1, &e, &v[i]) != 0 || e != q + w) return -1;
                }
            }
            q += w;
        }
        if (fn(arg, dev, v) != 0) return -1;
        p = end;
        if (*p) p++;
    }
    return 0;
}

/* One v1 blkio file: "8:0 Read 12" ... "Total 34"; adds Read/Write of dev into
 * the table at v[2*idx + {0,1}]. */
typedef struct blk_dev {
    char dev[32];
    double v[4];
} blk_dev;

static int blkio_file(const char *text, int base, blk_dev *t, size_t *nt, size_t cap)
{
    for (const char *p = text; p && *p;) {
        size_t n = strcspn(p, "\n");
        if (n == 0 || strncmp(p, "Total ", 6) == 0) {
            p += n;
            if (*p) p++;
            continue;
        }
        char dev[32];
        int d = dev_of(p, n, dev, sizeof dev);
        if (d < 0) return -1;
        const char *op = p + d + 1, *end = p + n;
        size_t w = 0;
        while (op + w < end && op[w] != ' ')
            w++;
        if (op + w >= end) return -1;
        int which = (w == 4 && strncmp(op, "Read", 4) == 0)    ? 0
                    : (w == 5 && strncmp(op, "Write", 5) == 0) ? 1
                                                               : -1;
        const char *e;
        double val;
        if (parse_num(op + w + 1, &e, &val) != 0 || e != end) return -1;
        if (which >= 0) {
            size_t i = 0;
            while (i < *nt && strcmp(t[i].dev, dev) != 0)
                i++;
            if (i == *nt) {
                if (*nt == cap) return -1;
                snprintf(t[i].dev, sizeof t[i].dev, "%s", dev);
                for (int k = 0; k < 4; k++)
                    t[i].v[k] = -1;
                (*nt)++;
            }
            t[i].v[base + which] = val;
        }
        p = end;
        if (*p) p++;
    }
    return 0;
}

int cgroup_parse_blkio(const char *bytes, const char *ops, cgroup_io_fn fn, void *arg)
{
    blk_dev t[64];
    size_t nt = 0;
    if (blkio_file(bytes, 0, t, &nt, 64) != 0 || blkio_file(ops, 2, t, &nt, 64) != 0) return -1;
    for (size_t i = 0; i < nt; i++)
        if (fn(arg, t[i].dev, t[i].v) != 0) return -1;
    return 0;
}

bool cgroup_glob_match(const char *globs, const char *path)
{
    for (const char *p = globs; *p;) {
        size_t n = strcspn(p, "|");
        char g[512];
        if (n > 0 && n < sizeof g) {
            memcpy(g, p, n);
            g[n] = 0;
            if (fnmatch(g, path, 0) == 0) return true;
        }
        p += n;
        if (*p) p++;
    }
    return false;
}

int cgroup_walk_opts_parse(const char *param, cgroup_walk_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->depth = 3;
    snprintf(o->libvirt, sizeof o->libvirt, "%s", "/run/libvirt/qemu");
    for (const char *p = param ? param : ""; *p;) {
        size_t n = strcspn(p, ";");
        const char *eq = memchr(p, '=', n);
        if (!eq) {
            snprintf(err, errlen,
                     "cgroups parameter \"%.*s\": expected key=value "
                     "(depth, include, exclude, root, libvirt) separated by ';'",
                     (int)n, p);
            return -1;
        }
        size_t k = (size_t)(eq - p), vn = n - k - 1;
        const char *v = eq + 1;
        char *dst = NULL;
        size_t cap = 0;
        if (k == 5 && strncmp(p, "depth", 5) == 0) {
            char num[16];
            char *e;
            snprintf(num, sizeof num, "%.*s", (int)(vn < 15 ? vn : 15), v);
            long d = strtol(num, &e, 10);
            if (vn == 0 || vn > 3 || *e || d < 0 || d > 64) {
                snprintf(err, errlen, "cgroups depth \"%.*s\": expected 0..64", (int)vn, v);
                return -1;
            }
            o->depth = (int)d;
        } else if (k == 7 && strncmp(p, "include", 7) == 0) {
            dst = o->include, cap = sizeof o->include;
        } else if (k == 7 && strncmp(p, "exclude", 7) == 0) {
            dst = o->exclude, cap = sizeof o->exclude;
        } else if (k == 4 && strncmp(p, "root", 4) == 0) {
            dst = o->root, cap = sizeof o->root;
        } else if (k == 7 && strncmp(p, "libvirt", 7) == 0) {
            dst = o->libvirt, cap = sizeof o->libvirt;
        } else {
            snprintf(err, errlen,
                     "cgroups parameter: unknown key \"%.*s\" (depth, include, "
                     "exclude, root, libvirt)",
                     (int)k, p);
            return -1;
        }
        if (dst) {
            if (vn >= cap) {
                snprintf(err, errlen, "cgroups %.*s: longer than %zu bytes", (int)k, p, cap - 1);
                return -1;
            }
            memcpy(dst, v, vn);
            dst[vn] = 0;
        }
        p += n;
        if (*p) p++;
    }
    return 0;
}

int cgroup_target_split(const char *id, char *root, size_t rootcap, const char **rel)
{
    if (strncmp(id, "cgroup:", 7) != 0) return -1;
    const char *s = strstr(id + 7, "//");
    if (!s || (size_t)(s - id - 7) >= rootcap) return -1;
    memcpy(root, id + 7, (size_t)(s - id - 7));
    root[s - id - 7] = 0;
    *rel = s + 1;
    return 0;
}
