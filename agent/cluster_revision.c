/*
 * cluster_revision.c: revisions. The coordinator hands every new revision
 * (from its ZooKeeper watch or the leader's pub-sub) to the loop; we check
 * the signature before anything else (verify_signature()), validate, apply
 * by diff (the
 * standalone reload path), and report the applied number and sha256, or the
 * refusal, in our member node.
 */
#include "agent/allow.h"
#include "agent/cluster_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/*
 * With trusted_keys_file, a revision must carry an Ed25519 signature of one
 * of its keys for this group and this number. The file is read again each
 * time, so adding or removing a key (rotation, revocation) needs no restart:
 * that read is ~6 us of CPU beside the check's ~135 us (issue 19 measured;
 * not worth a cache that could outlive an edit). A legacy HMAC signature is
 * accepted only while revision_key_file is also set (an upgrade,
 * docs/SECURITY.md). 0, or -1 with why.
 */
static int verify_signature(struct cluster_group *cg, const coord_revision_t *r, char *why,
                            size_t whylen)
{
    cluster_opts *o = cluster_opts_of(cg);
    bool hmac = r->signature[0] && !strncmp(r->signature, GROUP_SIGNATURE_HMAC_PREFIX,
                                            sizeof GROUP_SIGNATURE_HMAC_PREFIX - 1);
    if (o->key && (hmac || !o->trusted_keys[0]))
        return group_revision_verify(o->key, o->key_len, r->signature, r->body, r->body_len, why,
                                     whylen);
    if (!o->trusted_keys[0]) return 0; /* insecure: nothing to check with */
    group_trust *t = NULL;
    char msg[600];
    if (group_trust_read(o->trusted_keys, &t, msg, sizeof msg) != 0) {
        snprintf(why, whylen, "cannot read the trusted keys: %s", msg);
        return -1;
    }
    int rc = group_revision_check(t, cg->g->name, r->number, r->signature, r->body, r->body_len,
                                  why, whylen);
    group_trust_free(t);
    return rc;
}

bool cluster_revision_signed(void *arg, const coord_revision_t *r)
{
    struct cluster_group *cg = arg;
    cluster_opts *o = cluster_opts_of(cg); /* immutable once loaded: any thread */
    char why[512];
    /* Ed25519 signatures bind the group and the number; a legacy HMAC one
     * covers the body only (a replayed old body would verify) */
    bool hmac = r->signature[0] && !strncmp(r->signature, GROUP_SIGNATURE_HMAC_PREFIX,
                                            sizeof GROUP_SIGNATURE_HMAC_PREFIX - 1);
    if (!o->trusted_keys[0] || hmac) return false;
    return verify_signature(cg, r, why, sizeof why) == 0;
}

/*
 * The stages of push propagation this member saw (docs/CLUSTER.md): kept in
 * the trace its member node carries (the pusher adds the ack) and as timers
 * of the revision logger, one per stage whatever the group size.
 */
static void record_stages(struct cluster_group *cg, const coord_revision_t *r, int64_t validated_us,
                          int64_t applied_us)
{
    coord_apply_trace_t *t = &cg->info.trace;
    *t = (coord_apply_trace_t){
        .revision = r->number,
        .committed_us = r->committed_ms * 1000,
        .notified_us = r->notified_us,
        .received_us = r->received_us,
        .validated_us = validated_us,
        .applied_us = applied_us,
        .via_pubsub = r->via_pubsub,
    };
    if (!cg->stage_metrics_tried) {
        cg->stage_metrics_tried = true;
        metrics_logger *ml =
            cg->a->mx ? metrics_get_logger(cg->a->mx, "meterd.agent.revision") : NULL;
        for (int i = 0; ml && i < COORD_STAGE_ACK; i++) {
            char name[96], msg[200];
            snprintf(name, sizeof name, "%s.stage_%s", cg->g->name, coord_stage_name(i));
            cg->m_stage[i] = metrics_timer_get(ml, name, msg, sizeof msg);
        }
    }
    /* commit -> notified only when the commit instant is known (ZooKeeper's
     * mtime: not for a pub-sub copy) */
    double ms[COORD_STAGES];
    coord_trace_stages(t, 0, 0, ms);
    for (int i = 0; i < COORD_STAGE_ACK; i++)
        if (cg->m_stage[i] && ms[i] >= 0) metrics_timer(cg->m_stage[i], ms[i]);
}

/* Verifies, validates and applies one revision. 0, or -1 with why set. */
static int try_revision(struct cluster_group *cg, const coord_revision_t *r, char *why,
                        size_t whylen)
{
    agent *a = cg->a;
    agent_group *g = cg->g;
    char name[64];
    snprintf(name, sizeof name, "revision-%" PRId64 ".yaml", r->number);
    pipeline *p = NULL;
    /* a pub-sub copy delivered on cluster_revision_signed() was verified by
     * this very function, on the coordinator's thread, a moment ago */
    if (!r->signature_verified && verify_signature(cg, r, why, whylen) != 0) {
        reload_refuse(g, why);
        return -1;
    }
    /* the same bytes as the revision in force (a push of an unchanged
     * file, a rollback to it): parsed, allowed and applied already, and
     * nothing it depends on changes meanwhile (the allow-lists are read at
     * start); only the signature above binds the new number */
    bool same =
        g->pipe && cg->info.applied_revision > 0 && !strcmp(r->sha256, cg->info.applied_sha256);
    if (!same && (p = reload_parse(g, (const char *)r->body, r->body_len, name)) == NULL) {
        snprintf(why, whylen, "%s", g->pipeline_error);
        return -1;
    }
    /* local allow-lists: what ZooKeeper says may not widen what this host
     * contacts or where its samples go */
    if (!same && allow_pipeline(a->allow_targets, a->allow_publishers, p, name, why, whylen) != 0) {
        pipeline_free(p);
        reload_refuse(g, why);
        return -1;
    }
    int64_t validated_us = coord_trace_now_us();
    if (!same && reload_apply(g, p) != 0) {
        snprintf(why, whylen, "%s", g->pipeline_error);
        return -1;
    }
    pthread_mutex_lock(&a->mu);
    g->pipeline_error[0] = 0; /* as reload_apply() does, for the same bytes too */
    g->revision = (uint64_t)r->number;
    snprintf(g->revision_sha, sizeof g->revision_sha, "%s", r->sha256);
    pthread_mutex_unlock(&a->mu);
    cg->info.applied_revision = r->number;
    record_stages(cg, r, validated_us, coord_trace_now_us());
    snprintf(cg->info.applied_sha256, sizeof cg->info.applied_sha256, "%s", r->sha256);
    log_info(&a->log, "cluster", "%s: revision %" PRId64 " (%.12s, by %s) applied", cg->member_id,
             r->number, r->sha256, r->author[0] ? r->author : "?");
    cluster_schedule_replan(cg, 0); /* the target set may have changed */
    if (r->committed_ms > 0) {      /* commit in ZooKeeper to applied here */
        int64_t lat = loop_wall_ms() - r->committed_ms;
        metrics_timer(cg->m_apply_latency, (double)(lat > 0 ? lat : 0));
    }
    return 0;
}

/*
 * A member that has applied nothing yet (it just started) and is handed a
 * revision it must refuse runs what the rest of the group runs: the newest
 * kept revision that it can apply, since the others refused the same one.
 * The walk goes newest first, one asynchronous read at a time; what it has
 * still to try lives in cg->fb (a completion owns nothing: after
 * coord_close() none runs, and cluster_free() frees the rest). It stops at
 * the first revision that applies, or once any has (a newer one came).
 */
void cluster_fall_back_free(struct cluster_group *cg)
{
    free(cg->fb.numbers);
    cg->fb.numbers = NULL;
    cg->fb.left = 0;
    cg->fb.busy = cg->fb.again = false;
}

/* The refusal stays visible in /health until a revision arrives that applies
 * (a walk's own refusals and what it applied do not hide it). */
static void show_refusal(struct cluster_group *cg)
{
    pthread_mutex_lock(&cg->a->mu);
    snprintf(cg->g->pipeline_error, sizeof cg->g->pipeline_error, "%s", cg->info.last_error);
    pthread_mutex_unlock(&cg->a->mu);
}

static void fall_back_next(struct cluster_group *cg);
static void fall_back(struct cluster_group *cg);
static void fall_back_listed(void *arg, int rc, const int64_t *numbers, size_t count);

static void fall_back_got(void *arg, int rc, const coord_revision_t *old)
{
    struct cluster_group *cg = arg;
    cg->fb.busy = false;
    char why[512];
    if (rc == 0 && cg->info.applied_revision == 0 && try_revision(cg, old, why, sizeof why) == 0) {
        cluster_fall_back_free(cg);
        show_refusal(cg);
        cluster_publish_info(cg);
        return;
    }
    fall_back_next(cg); /* unreadable (pruned meanwhile) or refused as well */
}

static void fall_back_next(struct cluster_group *cg)
{
    if (cg->info.applied_revision != 0 || !cg->fb.left) {
        bool again = cg->fb.again && cg->info.applied_revision == 0;
        cluster_fall_back_free(cg);
        if (cg->info.applied_revision == 0) show_refusal(cg);
        if (again) fall_back(cg); /* refused a newer one meanwhile: walk below it */
        return;
    }
    int64_t n = cg->fb.numbers[--cg->fb.left];
    if (coord_revision_get_async(cg->c, n, fall_back_got, cg) == 0)
        cg->fb.busy = true;
    else
        cluster_fall_back_free(cg);
}

static void fall_back(struct cluster_group *cg)
{
    if (cg->fb.busy || cg->fb.numbers) { /* a walk is under way */
        cg->fb.again = true;
        return;
    }
    if (coord_revision_list_async(cg->c, fall_back_listed, cg) == 0) cg->fb.busy = true;
}

static void fall_back_listed(void *arg, int rc, const int64_t *numbers, size_t count)
{
    struct cluster_group *cg = arg;
    cg->fb.busy = false;
    int64_t refused = cg->applied_rev; /* the newest received, refused since none applied */
    cluster_fall_back_free(cg);
    if (rc != 0 || !count) return;
    if (!(cg->fb.numbers = malloc(count * sizeof *numbers))) return;
    for (size_t i = 0; i < count; i++)
        if (numbers[i] < refused) cg->fb.numbers[cg->fb.left++] = numbers[i];
    fall_back_next(cg);
}

void cluster_apply_revision(struct cluster_group *cg, const coord_revision_t *r)
{
    if (r->number <= cg->applied_rev) return; /* already have it (both paths delivered) */
    cg->applied_rev = r->number;
    char why[512] = "";
    if (try_revision(cg, r, why, sizeof why) == 0) {
        snprintf(cg->info.state, sizeof cg->info.state, "running");
        cg->info.last_error[0] = 0;
    } else {
        if (cg->info.applied_revision == 0) fall_back(cg);
        snprintf(cg->info.state, sizeof cg->info.state, "rejected");
        snprintf(cg->info.last_error, sizeof cg->info.last_error, "revision %" PRId64 ": %s",
                 r->number, why);
        show_refusal(cg);
    }
    cluster_publish_info(cg);
}
