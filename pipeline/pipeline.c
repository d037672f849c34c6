/* pipeline.c -- the module's entry points: parse, load, free, look up.
 *
 * pipeline_parse runs the three steps (tree.c bounds and builds, validate.c
 * applies the rules, canonical.c sorts and hashes) and owns the one rule
 * that ties them: a pipeline is handed out only when no step found an error,
 * and everything allocated on the way is freed either way.
 *
 * pipeline_load_file opens without blocking and reads only a regular file
 * (a FIFO would hang meterctl or read as an empty document, /dev/zero never
 * ends), and at most max_bytes + 1 bytes of it, so a file that grows while
 * being read is refused without reading it all.
 */
#include "pipeline/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ceilometer's own shipped default (ceilometer/pipeline/data/polling.yaml):
 * every meter every 600 s; the missing sinks resolve to the default sink. */
static const char default_yaml[] = "---\n"
                                   "sources:\n"
                                   "    - name: all_pollsters\n"
                                   "      interval: 600\n"
                                   "      meters:\n"
                                   "        - \"*\"\n";

const char *pipeline_default_yaml(void)
{
    return default_yaml;
}

void pl_limits_from(const pipeline_options *opt, pl_limits *lim)
{
    memset(lim, 0, sizeof *lim);
    lim->max_bytes = opt && opt->max_bytes ? opt->max_bytes : PIPELINE_DEFAULT_MAX_BYTES;
    lim->max_depth = opt && opt->max_depth > 0 ? opt->max_depth : PIPELINE_DEFAULT_MAX_DEPTH;
    if (lim->max_depth > 100000) lim->max_depth = 100000; /* the builder allocates a stack */
    lim->max_nodes = opt && opt->max_nodes ? opt->max_nodes : PIPELINE_DEFAULT_MAX_NODES;
    lim->max_sources = opt && opt->max_sources ? opt->max_sources : PIPELINE_DEFAULT_MAX_SOURCES;
    if (opt) {
        lim->known = opt->known_meters;
        lim->n_known = opt->known_meters ? opt->n_known_meters : 0;
        lim->schemes = opt->schemes;
        lim->n_schemes = opt->schemes ? opt->n_schemes : 0;
        lim->check_param = opt->check_param;
        lim->check_param_ctx = opt->check_param_ctx;
        lim->check_resource = opt->check_resource;
    }
}

int pipeline_parse(const char *buf, size_t len, const char *filename, const pipeline_options *opt,
                   pipeline **out, pipeline_diags *diags)
{
    pipeline_diags local = {0};
    pipeline_diags *d = diags ? diags : &local;
    const char *file = filename ? filename : "<buffer>";
    size_t errors_before = d->errors;
    if (out) *out = NULL;
    if (buf == NULL && len > 0) {
        pl_diag(d, file, PIPELINE_ERROR, 0, 0, "no buffer given");
        pipeline_diags_free(&local);
        return -1;
    }
    pl_limits lim;
    pl_limits_from(opt, &lim);
    pl_tree tree;
    int rc = -1;
    pipeline *p = NULL;
    /* pl_validate compares d->errors with 0: give it a list of its own */
    pipeline_diags mine = {0};
    if (pl_tree_build(buf ? buf : "", len, file, &lim, &tree, &mine) == 0) {
        p = calloc(1, sizeof *p);
        if (p == NULL)
            pl_diag_oom(&mine, file);
        else if (pl_validate(&tree, file, &lim, p, &mine) == 0 && pl_canonicalise(p) == 0)
            rc = 0;
        else if (mine.errors == 0)
            pl_diag_oom(&mine, file);
        pl_tree_free(&tree);
    }
    /* move mine into d */
    for (size_t i = 0; i < mine.count; i++)
        pl_diag(d, mine.items[i].file, mine.items[i].severity, mine.items[i].line,
                mine.items[i].column, "%s", mine.items[i].message);
    if (mine.errors > 0 && d->errors == errors_before) d->errors++; /* lost to OOM */
    pipeline_diags_free(&mine);
    pipeline_diags_free(&local);
    if (rc != 0 || out == NULL) {
        pipeline_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int pipeline_load_file(const char *path, const pipeline_options *opt, pipeline **out,
                       pipeline_diags *diags)
{
    pl_limits lim;
    pl_limits_from(opt, &lim);
    if (out) *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        pl_diag(diags, path, PIPELINE_ERROR, 0, 0, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st = {0};
    if (fstat(fd, &st) != 0) {
        pl_diag(diags, path, PIPELINE_ERROR, 0, 0, "cannot stat: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        const char *kind = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                                                  : "not a regular file";
        pl_diag(diags, path, PIPELINE_ERROR, 0, 0, "is %s; expected a regular file", kind);
        close(fd);
        return -1;
    }
    size_t cap = lim.max_bytes + 1, len = 0;
    size_t alloc = (size_t)st.st_size < cap ? (size_t)st.st_size + 1 : cap;
    char *buf = malloc(alloc);
    int rc = -1;
    if (buf == NULL) {
        pl_diag_oom(diags, path);
        close(fd);
        return -1;
    }
    for (;;) {
        if (len == alloc) {
            size_t grow = alloc * 2 > cap ? cap : alloc * 2;
            if (grow <= alloc) break;
            char *nb = realloc(buf, grow);
            if (nb == NULL) {
                pl_diag_oom(diags, path);
                goto out;
            }
            buf = nb;
            alloc = grow;
        }
        ssize_t r = read(fd, buf + len, alloc - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            pl_diag(diags, path, PIPELINE_ERROR, 0, 0, "read failed: %s", strerror(errno));
            goto out;
        }
        if (r == 0) break;
        len += (size_t)r;
        if (len >= cap) break;
    }
    /* len > max_bytes is reported by pipeline_parse, with the limit */
    rc = pipeline_parse(buf, len, path, opt, out, diags);
out:
    free(buf);
    close(fd);
    return rc;
}

void pipeline_free(pipeline *p)
{
    if (p == NULL) return;
    for (size_t i = 0; i < p->n_sources; i++) {
        pipeline_source *s = &p->sources[i];
        free(s->name);
        char **lists[] = {s->meters, s->resources, s->discovery, s->sinks, s->file_sd};
        size_t counts[] = {s->n_meters, s->n_resources, s->n_discovery, s->n_sinks, s->n_file_sd};
        for (int l = 0; l < 5; l++) {
            for (size_t j = 0; j < counts[l]; j++)
                free(lists[l][j]);
            free(lists[l]);
        }
        pipeline_params_free(s->params, s->n_params);
        pipeline_params_free(s->target_labels, s->n_target_labels);
    }
    free(p->sources);
    for (size_t i = 0; i < p->n_sinks; i++) {
        for (size_t j = 0; j < p->sinks[i].n_publishers; j++)
            pl_publisher_clear(&p->sinks[i].publishers[j]);
        free(p->sinks[i].publishers);
        free(p->sinks[i].name);
    }
    free(p->sinks);
    free(p->canonical);
    free(p);
}

const pipeline_source *pipeline_source_find(const pipeline *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->n_sources; i++)
        if (strcmp(p->sources[i].name, name) == 0) return &p->sources[i];
    return NULL;
}

const pipeline_sink *pipeline_sink_find(const pipeline *p, const char *name)
{
    for (size_t i = 0; p && name && i < p->n_sinks; i++)
        if (strcmp(p->sinks[i].name, name) == 0) return &p->sinks[i];
    return NULL;
}
