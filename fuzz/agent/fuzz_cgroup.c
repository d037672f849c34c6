/*
 * fuzz_cgroup.c: the cgroup files (PSI, keyed, single values, io.stat, v1
 * blkio), mountinfo, the discovery parameter and cgroup paths come from the
 * kernel or an operator; a truncated or odd file must give an error, never a
 * crash or a read past the text. The first byte picks the parser.
 */
#include "agent/pollsters/cgroup.h"

#include "../common/fuzz_cstr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int io_cb(void *arg, const char *dev, const double v[4])
{
    size_t *n = arg;
    *n += strlen(dev) + (v[0] >= 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *text = fuzz_cstr(data + 1, size - 1);
    if (!text) return 0;
    char err[256];
    double v[2][4], d;
    bool unl;
    size_t n = 0;
    switch (data[0] % 8) {
    case 0:
        (void)cgroup_parse_psi(text, v);
        break;
    case 1:
        (void)cgroup_parse_keyed(text, "usage_usec", &d);
        (void)cgroup_parse_keyed(text, "oom_kill", &d);
        break;
    case 2:
        (void)cgroup_parse_single(text, &d, &unl);
        break;
    case 3:
        (void)cgroup_parse_io_stat(text, io_cb, &n);
        break;
    case 4: {
        const char *nl = strchr(text, '\n');
        if (nl) {
            char *a = strndup(text, (size_t)(nl - text));
            if (a) (void)cgroup_parse_blkio(a, nl + 1, io_cb, &n);
            free(a);
        }
        break;
    }
    case 5: {
        cgroup_mounts *m = malloc(sizeof *m);
        if (m) (void)cgroup_mounts_parse(text, m, err, sizeof err);
        free(m);
        break;
    }
    case 6: {
        cgroup_walk_opts *o = malloc(sizeof *o);
        if (o && cgroup_walk_opts_parse(text, o, err, sizeof err) == 0 &&
            (o->depth < 0 || o->depth > 64))
            abort();
        free(o);
        break;
    }
    default: {
        cgroup_identity id;
        cgroup_identity_parse(text, &id);
        if (!memchr(id.resource, 0, sizeof id.resource)) abort();
        break;
    }
    }
    free(text);
    return 0;
}
