/*
 * pollsters/cgroup_discovery.c: the `cgroups` discovery. It finds the
 * hierarchies in mountinfo and walks them (v2, and on hybrid hosts the v1
 * cpuacct tree, whose cgroups may exist only there: a kubelet with the
 * cgroupfs driver on a hybrid host), depth-limited and filtered by globs on
 * the cgroup's path. Each cgroup is one local target; its id carries the
 * hierarchy root so the pollster reads the same tree discovery walked
 * ("cgroup:<v2 root>/<path>"); its resource is the name cgroup_id.c gives,
 * or for a Nova instance its UUID, read from libvirt's XML of the domain.
 * Run each discovery cycle: new cgroups appear, gone ones drop out.
 */
#include "agent/pollster.h"
#include "agent/pollsters/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cgroup_identity_nova(cgroup_identity *id, const char *libvirt_dir)
{
    if (id->kind != CG_LIBVIRT || !id->domain[0] || !libvirt_dir || !libvirt_dir[0]) return;
    size_t dn = strlen(id->domain);
    if (strncmp(id->resource, id->domain, dn) != 0) return;
    char path[CG_PATH_MAX + 160], uuid[37];
    snprintf(path, sizeof path, "%s/%s.xml", libvirt_dir, id->domain);
    enum { XML_MAX = 256 * 1024 }; /* a domain's status XML is tens of KiB */
    char *xml = malloc(XML_MAX);
    if (!xml) return;
    if (pollster_read_file(path, xml, XML_MAX) > 0 && cgroup_nova_uuid(xml, uuid) == 1) {
        char rest[sizeof id->resource];
        snprintf(rest, sizeof rest, "%s", id->resource + dn); /* "/libvirt/vcpu0" or "" */
        snprintf(id->instance_uuid, sizeof id->instance_uuid, "%s", uuid);
        snprintf(id->resource, sizeof id->resource, "%s%s", uuid, rest);
    }
    free(xml);
}

typedef struct walk {
    const cgroup_walk_opts *o;
    const char *v2root;
    target_list *out;
    size_t first; /* out->v[first..] are ours: the v1 pass skips what v2 had */
} walk;

static bool seen(const walk *w, const char *id)
{
    for (size_t i = w->first; i < w->out->n; i++)
        if (strcmp(w->out->v[i].id, id) == 0) return true;
    return false;
}

static int add(walk *w, const char *rel)
{
    if (w->o->include[0] && !cgroup_glob_match(w->o->include, rel)) return 0;
    if (w->o->exclude[0] && cgroup_glob_match(w->o->exclude, rel)) return 0;
    char id[CG_PATH_MAX * 2 + 16];
    snprintf(id, sizeof id, "cgroup:%s/%s", w->v2root, rel);
    if (seen(w, id)) return 0;
    cgroup_identity ident;
    cgroup_identity_parse(rel, &ident);
    cgroup_identity_nova(&ident, w->o->libvirt);
    return target_list_add(w->out, id, ident.resource, true);
}

/* dir is the absolute directory of rel; a directory that vanishes while we
 * walk is simply not there (cgroups come and go). */
static int walk_dir(walk *w, const char *dir, const char *rel, int depth)
{
    if (add(w, rel) != 0) return -1;
    if (depth >= w->o->depth) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        char sub[CG_PATH_MAX], subrel[CG_PATH_MAX];
        int a = snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        int b = snprintf(subrel, sizeof subrel, "%s%s%s", rel, rel[1] ? "/" : "", e->d_name);
        if (a < 0 || b < 0 || (size_t)a >= sizeof sub || (size_t)b >= sizeof subrel) continue;
        rc = walk_dir(w, sub, subrel, depth + 1);
    }
    closedir(d);
    return rc;
}

static int cgroups_discover(const discovery_env *env, const char *param, target_list *out,
                            char *err, size_t errlen)
{
    cgroup_walk_opts o;
    if (cgroup_walk_opts_parse(param, &o, err, errlen) != 0) return -1;
    cgroup_mounts m;
    if (cgroup_mounts_find(env->proc_root, o.root, &m, err, errlen) != 0) return -1;
    if (!m.v2[0] && !m.v1[CG_V1_CPUACCT][0]) {
        snprintf(err, errlen,
                 "no cgroup hierarchy in %s/self/mountinfo (neither cgroup2 nor a "
                 "v1 cpuacct mount; set root=DIR if the host's is mounted elsewhere)",
                 env->proc_root);
        return -1;
    }
    walk w = {&o, m.v2, out, out->n};
    if (m.v2[0] && walk_dir(&w, m.v2, "/", 0) != 0) goto oom;
    if (m.v1[CG_V1_CPUACCT][0] && walk_dir(&w, m.v1[CG_V1_CPUACCT], "/", 0) != 0) goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

const discovery_plugin discovery_cgroups = {
    .desc = &registry_cgroups,
    .discover = cgroups_discover,
};
