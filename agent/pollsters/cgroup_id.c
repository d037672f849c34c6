/*
 * pollsters/cgroup_id.c: what a cgroup is called, from its path alone.
 *
 * Kubernetes names pod cgroups two ways (the kubelet's cgroup driver):
 *   systemd:  /kubepods.slice/kubepods-burstable.slice/
 *             kubepods-burstable-pod<uid with _ for ->.slice/cri-containerd-<id>.scope
 *   cgroupfs: /kubepods/burstable/pod<uid>/<id>
 * A pod of the Guaranteed class has no QoS level (kubepods-pod<uid>.slice,
 * /kubepods/pod<uid>). The container scope names its runtime (cri-containerd-,
 * crio-, docker-); the cgroupfs driver's bare id does not. libvirt puts a
 * guest at /machine.slice/machine-qemu\x2d<n>\x2d<name>.scope (systemd
 * escaping: \x2d is '-'), or /machine/qemu-<n>-<name>.libvirt-qemu without
 * systemd; the domain name is what Nova calls instance-0000000a. Examples of
 * each form are in docs/COMPUTE.md and tests/agent/test_cgroup_parse.c.
 */
#include "agent/pollsters/cgroup.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *cgroup_kind_name(cg_kind k)
{
    static const char *const names[] = {"path", "systemd", "pod", "container", "libvirt"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "path";
}

/* systemd's unit-name escaping: "\x2d" is one byte. */
static void unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x' && isxdigit((unsigned char)s[i + 2]) &&
            isxdigit((unsigned char)s[i + 3])) {
            char hex[3] = {s[i + 2], s[i + 3], 0};
            unsigned c;
            sscanf(hex, "%x", &c);
            out[o++] = (char)c;
            i += 3;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
}

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static bool has_prefix(const char *s, size_t n, const char *pre)
{
    size_t k = strlen(pre);
    return n >= k && memcmp(s, pre, k) == 0;
}

static void copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = 0;
}

static bool all_hex(const char *s, size_t n)
{
    if (n < 12) return false;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

/* The kubepods QoS level of one component, or NULL. */
static const char *qos_of(const char *c, size_t n)
{
    static const char *const q[] = {"burstable", "besteffort"};
    for (int i = 0; i < 2; i++) {
        char sd[48];
        snprintf(sd, sizeof sd, "kubepods-%s.slice", q[i]);
        if ((n == strlen(q[i]) && memcmp(c, q[i], n) == 0) ||
            (n == strlen(sd) && memcmp(c, sd, n) == 0))
            return q[i];
    }
    return NULL;
}

/* A pod component: "pod<uid>" (cgroupfs) or "kubepods[-qos]-pod<uid_>.slice". */
static bool pod_of(const char *c, size_t n, char *uid, size_t cap)
{
    const char *p;
    size_t len;
    if (has_prefix(c, n, "pod") && !has_suffix(c, n, ".slice")) {
        p = c + 3;
        len = n - 3;
    } else if (has_prefix(c, n, "kubepods-") && has_suffix(c, n, ".slice")) {
        const char *s = NULL;
        for (size_t i = 0; i + 4 <= n; i++)
            if (memcmp(c + i, "-pod", 4) == 0) s = c + i + 4;
        if (!s) return false;
        p = s;
        len = (size_t)(c + n - strlen(".slice") - s);
    } else {
        return false;
    }
    if (len < 8 || len >= cap) return false;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i] == '_' ? '-' : p[i];
        if (!isxdigit((unsigned char)ch) && ch != '-') return false;
        uid[i] = ch;
    }
    uid[len] = 0;
    return true;
}

/* A container component: "<runtime prefix><id>.scope" or a bare id. */
static bool container_of(const char *c, size_t n, cgroup_identity *id)
{
    static const struct {
        const char *prefix, *runtime;
    } rt[] = {{"cri-containerd-", "containerd"}, {"crio-", "cri-o"}, {"docker-", "docker"}};
    for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++) {
        size_t k = strlen(rt[i].prefix);
        if (!has_prefix(c, n, rt[i].prefix)) continue;
        size_t end = has_suffix(c, n, ".scope") ? n - 6 : n;
        if (end <= k || !all_hex(c + k, end - k)) return false; /* crio-conmon-<id> */
        copy(id->container_id, sizeof id->container_id, c + k, end - k);
        copy(id->runtime, sizeof id->runtime, rt[i].runtime, strlen(rt[i].runtime));
        return true;
    }
    if (all_hex(c, n)) {
        copy(id->container_id, sizeof id->container_id, c, n);
        return true;
    }
    return false;
}

/* "machine-qemu\x2d1\x2dname.scope" or "qemu-1-name.libvirt-qemu". */
static bool libvirt_of(const char *c, size_t n, char *dom, size_t cap)
{
    char u[256];
    unescape(c, n, u, sizeof u);
    size_t un = strlen(u);
    const char *p;
    size_t len;
    if (has_prefix(u, un, "machine-qemu-") && has_suffix(u, un, ".scope")) {
        p = u + strlen("machine-qemu-");
        len = un - strlen("machine-qemu-") - strlen(".scope");
    } else if (has_suffix(u, un, ".libvirt-qemu")) {
        p = u;
        len = un - strlen(".libvirt-qemu");
        if (has_prefix(p, len, "qemu-")) {
            p += 5;
            len -= 5;
        }
    } else {
        return false;
    }
    /* the machine's number ("1-") comes first since libvirt 5.x */
    size_t d = 0;
    while (d < len && isdigit((unsigned char)p[d]))
        d++;
    if (d > 0 && d < len && p[d] == '-') {
        p += d + 1;
        len -= d + 1;
    }
    if (len == 0) return false;
    copy(dom, cap, p, len);
    return true;
}

static bool systemd_unit(const char *c, size_t n)
{
    static const char *const sfx[] = {".service", ".scope", ".slice", ".socket", ".mount", ".swap"};
    for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
        if (has_suffix(c, n, sfx[i]) && n > strlen(sfx[i])) return true;
    return false;
}

void cgroup_identity_parse(const char *rel, cgroup_identity *id)
{
    memset(id, 0, sizeof *id);
    id->kind = CG_PLAIN;
    bool kube = false, machine = false, docker_dir = false;
    const char *last = NULL, *after = NULL;
    size_t last_n = 0;
    for (const char *c = rel; *c;) {
        while (*c == '/')
            c++;
        if (!*c) break;
        size_t n = strcspn(c, "/");
        cg_kind kind_before = id->kind;
        const char *q;
        if ((n == 8 && memcmp(c, "kubepods", 8) == 0) ||
            (n == 14 && memcmp(c, "kubepods.slice", 14) == 0)) {
            kube = true;
        } else if (kube && !id->pod_uid[0] && (q = qos_of(c, n)) != NULL) {
            snprintf(id->qos, sizeof id->qos, "%s", q);
        } else if (kube && !id->pod_uid[0] && pod_of(c, n, id->pod_uid, sizeof id->pod_uid)) {
            if (!id->qos[0]) snprintf(id->qos, sizeof id->qos, "guaranteed");
            id->kind = CG_POD;
        } else if (kube && id->pod_uid[0] && id->kind == CG_POD && container_of(c, n, id)) {
            id->kind = CG_CONTAINER;
        } else if ((n == 13 && memcmp(c, "machine.slice", 13) == 0) ||
                   (n == 7 && memcmp(c, "machine", 7) == 0)) {
            machine = true;
        } else if (machine && id->kind != CG_LIBVIRT &&
                   libvirt_of(c, n, id->domain, sizeof id->domain)) {
            id->kind = CG_LIBVIRT;
        } else if (!kube && n == 6 && memcmp(c, "docker", 6) == 0) {
            docker_dir = true;
        } else if (!kube && id->kind == CG_PLAIN && (docker_dir || has_prefix(c, n, "docker-")) &&
                   container_of(c, n, id)) {
            if (!id->runtime[0] && docker_dir) snprintf(id->runtime, sizeof id->runtime, "docker");
            id->kind = CG_CONTAINER;
        }
        /* what follows the last named component (a guest's libvirt/vcpu0, a
         * pod's own helper cgroups) is kept after the name: domain/libvirt/vcpu0 */
        if (id->kind != kind_before) after = c + n;
        last = c;
        last_n = n;
        c += n;
    }
    const char *base = id->kind == CG_CONTAINER ? id->container_id
                       : id->kind == CG_POD     ? id->pod_uid
                       : id->kind == CG_LIBVIRT ? id->domain
                                                : NULL;
    if (base) {
        snprintf(id->resource, sizeof id->resource, "%s%s", base, after ? after : "");
        return;
    }
    if (last && systemd_unit(last, last_n)) {
        id->kind = CG_SYSTEMD;
        unescape(last, last_n, id->unit, sizeof id->unit);
        snprintf(id->resource, sizeof id->resource, "%s", id->unit);
        return;
    }
    snprintf(id->resource, sizeof id->resource, "%s", last ? rel : "/");
}

int cgroup_nova_uuid(const char *xml, char uuid[37])
{
    /* the <domain> element (not the <domstatus> around it) */
    const char *d = xml;
    while ((d = strstr(d, "<domain")) && d[7] != ' ' && d[7] != '>' && d[7] != '\n')
        d += 7;
    if (!d) return -1;
    const char *u = strstr(d, "<uuid>"), *end = u ? strstr(u, "</uuid>") : NULL;
    if (!end) return -1;
    u += 6;
    while (u < end && isspace((unsigned char)*u))
        u++;
    while (end > u && isspace((unsigned char)end[-1]))
        end--;
    if (end - u != 36) return -1;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? u[i] != '-' : !isxdigit((unsigned char)u[i])) return -1;
        uuid[i] = (char)tolower((unsigned char)u[i]);
    }
    uuid[36] = 0;
    /* Nova writes <metadata><nova:instance xmlns:nova="http://openstack.org/
     * xmlns/libvirt/nova/1.x">; a guest without it is not an instance */
    return strstr(d, "<nova:instance") ? 1 : 0;
}
