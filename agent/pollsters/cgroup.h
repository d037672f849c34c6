/*
 * pollsters/cgroup.h (private to the cgroup pollster and discovery): where the
 * hierarchies are, what a cgroup is called, and the parsers of its files.
 * Everything here is pure (text in, values out) so tests and fuzz targets
 * drive it without a real hierarchy; docs/COMPUTE.md shows every form.
 */
#ifndef METERD_AGENT_POLLSTERS_CGROUP_H
#define METERD_AGENT_POLLSTERS_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CG_PATH_MAX = 1024 };

/* v1 controllers the pollster reads on hybrid hosts (same meter names as v2). */
typedef enum cg_v1 {
    CG_V1_CPU,
    CG_V1_CPUACCT,
    CG_V1_MEMORY,
    CG_V1_PIDS,
    CG_V1_BLKIO,
    CG_V1_N
} cg_v1;

typedef struct cgroup_mounts {
    char v2[CG_PATH_MAX];          /* "" when no cgroup2 mount */
    char v1[CG_V1_N][CG_PATH_MAX]; /* "" when that controller has no v1 mount */
} cgroup_mounts;

/* Fills m from the text of /proc/self/mountinfo: 0, or -1 with err naming
 * the line when a cgroup line is malformed. */
int cgroup_mounts_parse(const char *mountinfo, cgroup_mounts *m, char *err, size_t errlen);
/* Reads <proc_root>/self/mountinfo; root (when not NULL/"") replaces the v2
 * mount (an agent in a container that mounts the host's hierarchy there). */
int cgroup_mounts_find(const char *proc_root, const char *root, cgroup_mounts *m, char *err,
                       size_t errlen);

typedef enum cg_kind {
    CG_PLAIN,     /* a path nobody claims: the resource is the path */
    CG_SYSTEMD,   /* a systemd unit or slice: the unit name */
    CG_POD,       /* a Kubernetes pod (or its QoS level): pod UID */
    CG_CONTAINER, /* a container: its id (+ pod UID when in one) */
    CG_LIBVIRT,   /* a libvirt/QEMU guest: the domain name */
} cg_kind;

typedef struct cgroup_identity {
    cg_kind kind;
    char resource[256];     /* the sample's resource id */
    char pod_uid[40];       /* dashes restored ("0b7c…-…") */
    char qos[16];           /* guaranteed, burstable, besteffort ("" outside kubepods) */
    char container_id[72];  /* 64 hex digits for the usual runtimes */
    char runtime[16];       /* containerd, cri-o, docker ("" when the path does not say) */
    char unit[256];         /* systemd unit or slice, unescaped */
    char domain[128];       /* libvirt domain name */
    char instance_uuid[37]; /* Nova's instance UUID (cgroup_identity_nova), else "" */
} cgroup_identity;

/* Names the cgroup at rel (its path below the hierarchy's root, "/a/b").
 * Never fails: what is not recognised is CG_PLAIN. */
void cgroup_identity_parse(const char *rel, cgroup_identity *out);
const char *cgroup_kind_name(cg_kind k);

/* libvirt's XML of a running domain (/run/libvirt/qemu/<name>.xml, a
 * <domstatus> around the <domain>): the domain's <uuid> into uuid when the
 * domain carries Nova's metadata (<nova:instance>), Nova having made the
 * domain's UUID its instance's. 1 found, 0 not a Nova instance (no metadata),
 * -1 no well-formed <uuid> in the <domain>. */
int cgroup_nova_uuid(const char *xml, char uuid[37]);
/* For a libvirt guest (kind CG_LIBVIRT, domain set), reads
 * <libvirt_dir>/<domain>.xml and, for a Nova instance, makes its UUID the
 * resource ("<uuid>" for the guest's scope, "<uuid>/libvirt/vcpu0" below it)
 * and sets id->instance_uuid. Anything else (no file, not readable, not
 * Nova's) leaves the domain name. */
void cgroup_identity_nova(cgroup_identity *id, const char *libvirt_dir);

/* PSI file ("some avg10=… avg60=… avg300=… total=…" and "full …"): v[0] some,
 * v[1] full; returns the mask of lines found (1 some, 2 full), -1 when a line
 * is malformed. */
int cgroup_parse_psi(const char *text, double v[2][4]);
/* Flat keyed file ("key value" lines, cpu.stat, memory.events): the value of
 * key, 0 found, -1 absent or malformed. "max" reads as -1 with *unlimited. */
int cgroup_parse_keyed(const char *text, const char *key, double *v);
/* One number (memory.current, pids.current, cpuacct.usage): 0, -1 malformed;
 * "max" sets *unlimited. */
int cgroup_parse_single(const char *text, double *v, bool *unlimited);

/* io.stat ("8:0 rbytes=… wbytes=… rios=… wios=… …") and v1 blkio
 * ("8:0 Read 123" lines) per device: calls fn for each device with
 * rbytes, wbytes, rios, wios (-1 when absent). 0, or -1 malformed. */
typedef int (*cgroup_io_fn)(void *arg, const char *dev, const double v[4]);
int cgroup_parse_io_stat(const char *text, cgroup_io_fn fn, void *arg);
/* v1: blkio.throttle.io_service_bytes (bytes) and io_serviced (ops) texts. */
int cgroup_parse_blkio(const char *bytes, const char *ops, cgroup_io_fn fn, void *arg);

/* Glob list ("a|b"): whether path matches one (fnmatch, no FNM_PATHNAME: "*"
 * spans slashes). An empty list matches nothing. */
bool cgroup_glob_match(const char *globs, const char *path);

/* A discovery parameter: "depth=N;include=G|G;exclude=G;root=DIR;libvirt=DIR"
 * (libvirt: where libvirt keeps its running domains' XML, default
 * /run/libvirt/qemu; empty: guests keep their domain name). */
typedef struct cgroup_walk_opts {
    int depth;         /* levels below the root (default 3) */
    char include[512]; /* "" = everything */
    char exclude[512];
    char root[CG_PATH_MAX];
    char libvirt[CG_PATH_MAX]; /* libvirt's live domain XMLs ("" = off) */
} cgroup_walk_opts;
int cgroup_walk_opts_parse(const char *param, cgroup_walk_opts *o, char *err, size_t errlen);

/* A target id: "cgroup:" + the hierarchy root + "//" + rel; split back. */
int cgroup_target_split(const char *id, char *root, size_t rootcap, const char **rel);

/* ---- perf events (cgroup_perf_events.c) ---- */
enum { CG_PERF_HW = 1, CG_PERF_SW, CG_PERF_CACHE, CG_PERF_MAX = 48 };
typedef struct cg_perf_event {
    const char *pfm;   /* libpfm4 name, "perf::TASK-CLOCK" */
    const char *meter; /* "perf.task_clock" (registry row order) */
    const char *label; /* seed 002's name, "TaskClock" */
    int group;         /* CG_PERF_HW, _SW, _CACHE: the seed's *_PERF_LABELS */
} cg_perf_event;
extern const cg_perf_event cg_perf_events[]; /* NULL-terminated */
/* `[compute] perf_events` ("perf::TASK-CLOCK, TaskClock, SW_PERF_LABELS"):
 * on[i] for cg_perf_events[i]; 0, or -1 with err naming the unknown entry. */
int cg_perf_parse(const char *list, bool on[CG_PERF_MAX], char *err, size_t errlen);

/* cgroup.perf's counts for /v1/status, from its process state (NULL: all 0). */
typedef struct cg_perf_status {
    size_t events;         /* events counted */
    size_t events_refused; /* events the kernel or hardware refused at start */
    long fds, max_fds;     /* counters open now, every cgroup; [compute] perf_max_fds */
    long capped;           /* event x cgroup opens refused by the cap so far */
} cg_perf_status;
cg_perf_status cgroup_perf_status(const void *pstate);

#endif
