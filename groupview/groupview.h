/*
 * groupview.h: one group's state, as the tools that inspect a group show it.
 *
 * meterctl (status, members, assignment, whohas) and meterproxy (its
 * /v1/groups API) answer the same questions about a group; this is where
 * the facts are held and where their JSON is made, so both give the same
 * documents (keys in docs/CLI.md). The facts are group/'s definitions, the
 * ones the agents use: targets are group_revision_targets() of the current
 * revision, the owner of a target at an instant is group_clock_owner_at()
 * over the stored table (which may still be pending), the table's epoch is
 * the assignment node's version.
 *
 * How the state arrives is the caller's business: meterctl reads
 * ZooKeeper once; meterproxy keeps a view per group up to date from the
 * coordinator's callbacks. Plain data: the caller locks around a view
 * shared between threads.
 */
#ifndef METERD_GROUPVIEW_H
#define METERD_GROUPVIEW_H

#include "coordinator/coordinator.h"
#include "group/group.h"
#include "partition/partition.h"
#include "pipeline/pipeline.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define GROUPVIEW_NO_TABLE_NOTE                                                                    \
    "no slot table yet: each member owns every slot until the leader writes one"

typedef struct groupview {
    coord_members_t members;
    coord_leader_t leader;
    bool has_rev;
    coord_revision_t rev;
    bool bad_rev;                 /* the pipeline node is not a revision... */
    int64_t bad_rev_version;      /* ...at this node version */
    int64_t epoch;                /* newest assignment node version; 0: no table */
    size_t table_len;             /* size of its stored bytes */
    char table_digest[65];        /* sha256 of the stored bytes, "" without a table */
    const partition_table *table; /* the stored (newest) table, in clock; NULL without */
    /* the stored tables in time: owners are asked of it, never of `table` */
    group_clock clock;
    int64_t loaded_ms;     /* the instant the view answers for (wall clock) */
    pipeline *pipe;        /* the current revision, parsed (NULL: none or invalid) */
    group_targets targets; /* its partitioned targets (group_revision_targets) */
} groupview;

void groupview_init(groupview *v);
void groupview_free(groupview *v);

/* Replaces the members (takes *m over; *m is left empty). */
void groupview_set_members(groupview *v, coord_members_t *m);
/* Replaces the current revision (takes *rev over; *rev is left empty) and
 * its targets: an invalid revision has none (the agents refuse it too). */
void groupview_set_revision(groupview *v, coord_revision_t *rev);
/* The pipeline node holds something that is not a revision. */
void groupview_set_bad_revision(groupview *v, int64_t node_version);
/* Installs a stored slot table read at epoch (bytes are copied). 0, 1 when
 * not newer than the one held (ignored), -1 malformed (err says why). */
int groupview_set_table(groupview *v, const void *bytes, size_t len, int64_t epoch, char *err,
                        size_t errlen);
/* Makes the view answer for now_ms (wall clock): pending tables due by then
 * come into force. */
void groupview_at(groupview *v, int64_t now_ms);
/* Whether anything of the group exists (a member, a revision, a table). */
bool groupview_known(const groupview *v);

/* The live member with this id, or NULL. */
const coord_member_t *groupview_member(const groupview *v, const char *id);

/* The lowercase hex sha256 of buf: a revision's "sha256". */
void groupview_sha256_hex(const void *buf, size_t len, char out[65]);

/* ms since the Unix epoch as "2026-11-22T00:10:00.123Z". */
void groupview_format_ms(int64_t ms, char *out, size_t cap);

/* ---- the documents (new references; NULL only when out of memory) ---------- */

/* A member's node data (stable keys, see docs/CLI.md "members"). */
json_t *groupview_member_json(const coord_member_t *m);
/* {"group", "zxid", "members": [...]}: `meterctl members -o json`. */
json_t *groupview_members_json(const groupview *v, const char *group);
/* The sessions connected to ZooKeeper now (its servers' `cons`), when the
 * caller could ask every server (known); meterctl status can, meterproxy
 * passes NULL. est[i] (may be NULL): when sids[i]'s connection was accepted,
 * ms by that server's clock (0: not shown). */
typedef struct groupview_sessions {
    bool known;
    const int64_t *sids;
    const int64_t *est;
    size_t n;
} groupview_sessions;
/* 1: ready (its marker names the session owning its node, and that session
 * is connected when known, its node written since that connection began
 * when est is known); 0: not (another session's marker or "none":
 * reconnecting, starting, fenced; its session not connected now; or its
 * node not written since it reconnected); -1: no marker (a writer that has
 * none) and nothing known against it (docs/CLUSTER.md, "ready markers").
 * live may be NULL. */
int groupview_member_ready(const coord_member_t *m, const groupview_sessions *live);
/* No member is known not ready. */
bool groupview_all_ready(const groupview *v, const groupview_sessions *live);
/* `meterctl status -o json`: leader, revision, assignment, members with
 * slots, "consistent", "problems" (each {"member", "problem", "detail"}) and
 * "connections_checked" (live known). *consistent says whether problems is
 * empty. */
json_t *groupview_status_json(const groupview *v, const char *group, const groupview_sessions *live,
                              bool *consistent);
/* `meterctl assignment -o json`, with "target" (see locate) when target is
 * not NULL. */
json_t *groupview_assignment_json(const groupview *v, const char *group, const char *target);
/* Who owns target at loaded_ms: {"id", "slot", "epoch", "known", "owner":
 * {"id","host","api","live"} | null, "pending": {...} | null} (`meterctl
 * whohas -o json` without its group and waited_ms). */
json_t *groupview_locate_json(const groupview *v, const char *target);
/* One kept revision as `meterctl revisions -o json` lists it: {"number",
 * "sha256", "author", "time", "size", "current", "signed"}. */
json_t *groupview_revision_entry_json(const coord_revision_t *r, bool current);
/* The current revision's header ({"number", "sha256", ...}) or null. */
json_t *groupview_revision_json(const groupview *v);

/* ---- writes: the check before a push, the wait after it (write.c) ---------- */

/* The agents' own parse of a revision body (the registry's schemes and
 * meters): 0, or -1 with the problems in d (file:line:column). *out (may be
 * NULL) gets the parsed pipeline on success. */
int groupview_check_revision(const char *body, size_t len, const char *label, pipeline **out,
                             pipeline_diags *d);
/* The errors of d as [{"file", "line", "column", "message"}]. */
json_t *groupview_diags_json(const pipeline_diags *d);

typedef enum { GROUPVIEW_W_PENDING, GROUPVIEW_W_APPLIED, GROUPVIEW_W_REJECTED } groupview_wresult;

typedef struct groupview_wmember {
    char id[128];
    coord_member_info_t info; /* as it reported when it settled */
    groupview_wresult result;
    int64_t seen_ms;      /* when it settled (the caller's clock) */
    int64_t seen_wall_us; /* the same instant on the wall clock (its trace's) */
    bool live;
} groupview_wmember;

/* Waiting for every live member to apply or reject revision `number`. */
typedef struct groupview_wait {
    int64_t number, t0_ms;
    int64_t t0_wall_us; /* t0 on the wall clock (init: now; the caller may correct it) */
    groupview_wmember *m;
    size_t n, cap;
} groupview_wait;

typedef struct groupview_wait_counts {
    size_t live, applied, rejected, pending;
    const char *verdict; /* "applied", "rejected", "timeout" or "no_members" */
} groupview_wait_counts;

void groupview_wait_init(groupview_wait *w, int64_t number, int64_t t0_ms);
void groupview_wait_free(groupview_wait *w);
/* Takes a members snapshot seen at now_ms. */
void groupview_wait_observe(groupview_wait *w, const coord_members_t *s, int64_t now_ms);
/* Takes an acks view (coord_acks_next) seen at now_ms: a member applied or
 * rejected by its ack child's name (sha: the revision's, what an applied ack
 * stands for), else as its member node says when it was read (agents
 * without acks), else pending. */
void groupview_wait_observe_acks(groupview_wait *w, const coord_acks_view_t *v, const char *sha,
                                 int64_t now_ms);
/* Blocks on ZooKeeper (a waiting thread, never an event loop): waits on c's
 * acks of w->number (coord_acks_*) until no live member is pending or
 * deadline_ms (CLOCK_MONOTONIC, as t0_ms) passes, then reads the slowest
 * member's ack child for its trace. fallback_ms: when members still without
 * an ack child have their node read instead. 0 settled, 1 timed out, -1
 * out of memory. */
int groupview_wait_acks(groupview_wait *w, coord_t *c, const char *sha, int64_t deadline_ms,
                        int fallback_ms);
/* No live member is pending. */
bool groupview_wait_settled(const groupview_wait *w);
/* "applied", "rejected", "pending" or "left". */
const char *groupview_wait_result(const groupview_wmember *m);
/* Sorts the members by id and counts them. */
void groupview_wait_tally(groupview_wait *w, groupview_wait_counts *c);
/* `push --wait -o json`'s "wait": {"result", "timeout_ms", "elapsed_ms",
 * "applied", "rejected", "pending", "members": [...], "slowest"} (sorts too). */
json_t *groupview_wait_json(groupview_wait *w, int timeout_ms, int64_t elapsed_ms);
/* "slowest: <member>, N ms; its slowest stage: ..." (docs/CLUSTER.md): the
 * member that applied last and the longest stage of its trace; nothing when
 * none applied. The same data is "slowest" in groupview_wait_json. */
void groupview_wait_print_slowest(const groupview_wait *w, FILE *out);

#endif /* METERD_GROUPVIEW_H */
