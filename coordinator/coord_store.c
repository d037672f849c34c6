/*
 * coord_store.c: the revision store and the assignment store.
 *
 * Both are one persistent node written only with compare-and-set on its
 * version, so two writers that read the same state cannot silently overwrite
 * each other: one wins, the other is told and must re-read.
 *
 * pipeline: the current revision (header line + body, see coord_json.c). Its
 * number is the node's version after the write, so it is assigned by
 * ZooKeeper, increases by one per push and needs no counter of our own. The
 * copy under revisions/<number, 10 digits> is created in the same multi()
 * transaction as the CAS, so history and current can never disagree; pruning
 * to the last K happens after the commit and may lag harmlessly if it fails.
 *
 * assignment: the leader's slot table, opaque bytes; epoch = node version.
 * The write is a multi() of "the election node we lead with still exists"
 * and the CAS, so a leader deposed by a session expiry (its ephemeral node
 * gone) cannot overwrite its successor's table even if it has not noticed
 * yet. It is the node that won, not our current one: a deposed leader
 * standing again has a new node that exists before it learns who leads.
 *
 * Malformed current revisions are logged and ignored (the last good one
 * stays in force); readers check the body against its sha256.
 */
#include "coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Reads and decodes a revision node; COORD_ENOENT if empty (none yet). */
static int read_revision(coord_t *c, zhandle_t *zh, const char *path, bool watch,
                         coord_revision_t *out, struct Stat *st)
{
    char *buf = NULL, err[256];
    size_t len = 0;
    memset(out, 0, sizeof *out);
    int rc = coord_get_node(c, zh, path, watch, c->max_node_bytes, &buf, &len, st);
    if (rc == COORD_ETOOBIG)
        coord_log(c, COORD_LOG_WARN, "%s is larger than %zu bytes: ignored", path,
                  c->max_node_bytes);
    if (rc != COORD_OK) return rc;
    if (len == 0) {
        free(buf);
        return COORD_ENOENT;
    }
    rc = coord_revision_decode(buf, len, out, err, sizeof err);
    free(buf);
    if (rc == COORD_OK) out->committed_ms = st->mtime;
    if (rc == COORD_EMALFORMED) {
        coord_log(c, COORD_LOG_WARN, "%s (version %d) is malformed: %s; ignored", path, st->version,
                  err);
        if (strcmp(path, c->pipeline_path) == 0) coord_emit_malformed(c, st->version, err);
        coord_revision_free(out);
        memset(out, 0, sizeof *out);
        out->number = st->version; /* what a write over it must expect (meterctl push --force) */
    }
    return rc;
}

void coord_deliver_revision(coord_t *c, const coord_revision_t *r, bool via_pubsub)
{
    pthread_mutex_lock(&c->mu);
    c->pipeline_version = r->number;
    c->pipeline_defer_ms = 0; /* a deferred watch now reads only the node's stat */
    snprintf(c->delivered_sha, sizeof c->delivered_sha, "%s", r->sha256);
    if (via_pubsub)
        c->ps_delivered++;
    else
        c->zk_delivered++;
    pthread_mutex_unlock(&c->mu);
    coord_log(c, COORD_LOG_DEBUG, "revision %lld via %s", (long long)r->number,
              via_pubsub ? "pub-sub" : "ZooKeeper");
    coord_revision_t d = *r; /* shallow: the emitted event copies the body */
    d.via_pubsub = via_pubsub;
    coord_emit_revision(c, &d);
}

/*
 * The ZooKeeper path, and the confirmation of a pub-sub revision (hint): the
 * node is read either way (with its watch re-armed), and a hint is delivered
 * only if the node holds exactly it (number and sha256), so ZooKeeper stays
 * the commit point. A node whose version equals the last delivered number
 * but whose sha differs can only follow an unconfirmed (pubsub_trust) delivery
 * of a revision ZooKeeper does not hold: ZooKeeper's copy is delivered then.
 */
int coord_store_refresh_pipeline(coord_t *c, zhandle_t *zh, const coord_revision_t *hint)
{
    coord_revision_t r;
    struct Stat st;
    pthread_mutex_lock(&c->mu);
    int64_t notified_us = c->pipeline_notified_us;
    c->pipeline_notified_us = 0; /* the read below re-arms the watch */
    pthread_mutex_unlock(&c->mu);
    int rc = read_revision(c, zh, c->pipeline_path, true, &r, &st);
    if (rc == COORD_ENOENT || rc == COORD_EMALFORMED || rc == COORD_ETOOBIG)
        return COORD_OK; /* nothing usable: keep what we have */
    if (rc != COORD_OK) return rc;
    bool is_new = st.version > c->pipeline_version ||
                  (st.version == c->pipeline_version && strcmp(r.sha256, c->delivered_sha) != 0);
    if (r.number != st.version) {
        coord_log(c, COORD_LOG_WARN,
                  "pipeline header says revision %lld but the node version is %d: ignored",
                  (long long)r.number, st.version);
        is_new = false;
    }
    bool confirmed = hint && hint->number == r.number && strcmp(hint->sha256, r.sha256) == 0;
    if (hint && !confirmed && hint->number >= st.version) {
        /* not (yet) in ZooKeeper, or forged: a server that lags the
         * leader's will fire our watch when it catches up */
        pthread_mutex_lock(&c->mu);
        c->ps_unconfirmed++;
        pthread_mutex_unlock(&c->mu);
        coord_log(c, hint->number == st.version ? COORD_LOG_WARN : COORD_LOG_DEBUG,
                  "pub-sub revision %lld (%.12s) is not what ZooKeeper holds (%d, %.12s): "
                  "dropped",
                  (long long)hint->number, hint->sha256, st.version, r.sha256);
    }
    /* leading: publish before our own callback, which may take a while
     * (the agent applies the pipeline there) */
    if ((is_new || c->republish) && c->pub_open) {
        c->republish = false;
        char *data = NULL;
        size_t len = 0;
        if (coord_revision_encode(&r, &data, &len) == COORD_OK)
            coord_pubsub_publish(c, r.number, data, len);
        free(data);
    }
    if (is_new) {
        r.received_us = coord_trace_now_us();
        r.notified_us = confirmed ? hint->notified_us : notified_us ? notified_us : r.received_us;
        coord_deliver_revision(c, &r, confirmed);
        pthread_mutex_lock(&c->mu);
        bool leading = c->leader.is_me;
        pthread_mutex_unlock(&c->mu);
        if (leading) coord_acks_prune(c, zh, r.number); /* after the members have it */
    }
    coord_revision_free(&r);
    return COORD_OK;
}

int coord_store_refresh_assignment(coord_t *c, zhandle_t *zh)
{
    char *buf = NULL;
    size_t len = 0;
    struct Stat st;
    int rc = coord_get_node(c, zh, c->assignment_path, true, c->max_node_bytes, &buf, &len, &st);
    if (rc == COORD_ETOOBIG) {
        coord_log(c, COORD_LOG_WARN, "slot table larger than %zu bytes: ignored",
                  c->max_node_bytes);
        return COORD_OK;
    }
    if (rc == COORD_ENOENT) return COORD_OK;
    if (rc != COORD_OK) return rc;
    if (st.version != c->assignment_version && len > 0) {
        c->assignment_version = st.version;
        coord_emit_assignment(c, buf, len, st.version);
    }
    free(buf);
    return COORD_OK;
}

static int with_zh(coord_t *c, zhandle_t **zh)
{
    if (!c) return COORD_EINVAL;
    *zh = coord_zh_acquire(c);
    return *zh ? COORD_OK : COORD_ENOCONN;
}

/*
 * For multi(): libzookeeper_mt 3.8 leaks a synchronous multi's per-op
 * completion list when the connection drops while it is outstanding (its
 * free_completions() frees the entry, not the list). Not sending one we know
 * cannot succeed keeps that to the rare race; see docs/COORDINATION.md.
 */
static int with_connected_zh(coord_t *c, zhandle_t **zh)
{
    int rc = with_zh(c, zh);
    if (rc == COORD_OK && zoo_state(*zh) != ZOO_CONNECTED_STATE) {
        coord_zh_release(c);
        rc = COORD_ENOCONN;
    }
    return rc;
}

int coord_revision_read(coord_t *c, coord_revision_t *out)
{
    zhandle_t *zh;
    int rc = with_zh(c, &zh);
    if (rc != COORD_OK) return rc;
    struct Stat st;
    rc = read_revision(c, zh, c->pipeline_path, false, out, &st);
    coord_zh_release(c);
    return rc;
}

int coord_revision_get(coord_t *c, int64_t number, coord_revision_t *out)
{
    if (number <= 0) return COORD_EINVAL;
    zhandle_t *zh;
    int rc = with_zh(c, &zh);
    if (rc != COORD_OK) return rc;
    char path[700];
    struct Stat st;
    snprintf(path, sizeof path, "%s/%010lld", c->revisions_dir, (long long)number);
    rc = read_revision(c, zh, path, false, out, &st);
    coord_zh_release(c);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Kept revision numbers, ascending (names that are not numbers are ignored). */
static int list_revisions(coord_t *c, zhandle_t *zh, int64_t **nums, size_t *n)
{
    struct String_vector kids = {0, NULL};
    int zrc = zoo_get_children(zh, c->revisions_dir, 0, &kids);
    if (zrc != ZOK) return coord_zerr(zrc);
    *nums = calloc(kids.count ? (size_t)kids.count : 1, sizeof **nums);
    *n = 0;
    for (int i = 0; *nums && i < kids.count; i++) {
        char *end;
        long long v = strtoll(kids.data[i], &end, 10);
        if (*end || v <= 0 || strlen(kids.data[i]) != 10)
            coord_log(c, COORD_LOG_DEBUG, "ignoring revisions/%s", kids.data[i]);
        else
            (*nums)[(*n)++] = v;
    }
    deallocate_String_vector(&kids);
    if (!*nums) return COORD_ESYS;
    qsort(*nums, *n, sizeof **nums, cmp_i64);
    return COORD_OK;
}

int coord_store_list(coord_t *c, int64_t **nums, size_t *n)
{
    *nums = NULL;
    *n = 0;
    zhandle_t *zh;
    int rc = with_zh(c, &zh);
    if (rc != COORD_OK) return rc;
    rc = list_revisions(c, zh, nums, n);
    coord_zh_release(c);
    return rc;
}

int coord_revision_list(coord_t *c, int64_t *numbers, size_t cap, size_t *count)
{
    int64_t *nums = NULL;
    size_t n = 0;
    int rc = coord_store_list(c, &nums, &n);
    if (rc != COORD_OK) return rc;
    for (size_t i = 0; i < n && i < cap; i++)
        numbers[i] = nums[i];
    *count = n;
    free(nums);
    return COORD_OK;
}

static void prune_revisions(coord_t *c, zhandle_t *zh, int64_t newest)
{
    int64_t *nums = NULL;
    size_t n = 0;
    if (list_revisions(c, zh, &nums, &n) != COORD_OK) return;
    for (size_t i = 0; i < n; i++) {
        if (nums[i] > newest - c->keep_revisions) break;
        char path[700];
        snprintf(path, sizeof path, "%s/%010lld", c->revisions_dir, (long long)nums[i]);
        int zrc = zoo_delete(zh, path, -1);
        if (zrc != ZOK && zrc != ZNONODE)
            coord_log(c, COORD_LOG_WARN, "cannot prune %s: %s", path, zerror(zrc));
    }
    free(nums);
}

int coord_revision_push(coord_t *c, int64_t expected, const void *body, size_t len,
                        const char *author, const char *signature, int64_t *number_out)
{
    if (!c || (!body && len) || expected < 0 || expected >= INT32_MAX) return COORD_EINVAL;
    coord_revision_t r = {.number = expected + 1, .body = (unsigned char *)body, .body_len = len};
    coord_sha256_hex(body ? body : "", len, r.sha256);
    snprintf(r.author, sizeof r.author, "%s", author ? author : "");
    snprintf(r.signature, sizeof r.signature, "%s", signature ? signature : "");
    utc_now(r.time);
    char *data = NULL;
    size_t dlen = 0;
    int rc = coord_revision_encode(&r, &data, &dlen);
    if (rc != COORD_OK) return rc;
    if (dlen > c->max_node_bytes) {
        free(data);
        return COORD_ETOOBIG;
    }
    zhandle_t *zh;
    rc = with_connected_zh(c, &zh);
    if (rc != COORD_OK) {
        free(data);
        return rc;
    }
    char hist[700], acks[700];
    snprintf(hist, sizeof hist, "%s/%010lld", c->revisions_dir, (long long)r.number);
    coord_acks_path(c, r.number, acks, sizeof acks);
    struct Stat st;
    zoo_op_t ops[3];
    zoo_op_result_t res[3];
    zoo_set_op_init(&ops[0], c->pipeline_path, data, (int)dlen, (int)expected, &st);
    zoo_create_op_init(&ops[1], hist, data, (int)dlen, coord_acl_for(c, hist), ZOO_PERSISTENT, NULL,
                       0);
    /* where the members acknowledge it; without (no acks/ we may create,
     * or a stray acks/<N> left in the way) members write their node alone */
    zoo_create_op_init(&ops[2], acks, NULL, -1, coord_acl_for(c, acks), ZOO_PERSISTENT, NULL, 0);
    int nops = coord_acks_prepare(c, zh) == COORD_OK ? 3 : 2;
    for (int i = 0; i < nops; i++)
        res[i].err = ZOK;
    int zrc = zoo_multi(zh, nops, ops, res);
    if (nops == 3 && zrc != ZOK && res[0].err == ZOK && res[1].err == ZOK && res[2].err != ZOK &&
        res[2].err != ZRUNTIMEINCONSISTENCY) {
        coord_log(c, COORD_LOG_WARN, "cannot create %s (%s): pushing without it", acks,
                  zerror(res[2].err));
        zrc = zoo_multi(zh, 2, ops, res);
    }
    if (zrc == ZOK) {
        /* leading: members get it without waiting for our own watch */
        coord_pubsub_publish(c, r.number, data, dlen);
        prune_revisions(c, zh, r.number);
        if (number_out) *number_out = r.number;
        coord_log(c, COORD_LOG_INFO, "pushed revision %lld (%s)", (long long)r.number, r.sha256);
    } else if (zrc == ZNODEEXISTS) {
        coord_log(c, COORD_LOG_WARN, "%s exists already: revisions/ is out of step", hist);
        zrc = ZBADVERSION;
    }
    coord_zh_release(c);
    free(data);
    return coord_zerr(zrc);
}

int coord_assignment_read(coord_t *c, void **table, size_t *len, int64_t *epoch)
{
    zhandle_t *zh;
    int rc = with_zh(c, &zh);
    if (rc != COORD_OK) return rc;
    char *buf = NULL;
    struct Stat st;
    rc = coord_get_node(c, zh, c->assignment_path, false, c->max_node_bytes, &buf, len, &st);
    coord_zh_release(c);
    if (rc != COORD_OK) return rc;
    *table = buf;
    *epoch = *len ? st.version : 0;
    return COORD_OK;
}

int coord_assignment_write(coord_t *c, int64_t expected_epoch, const void *table, size_t len,
                           int64_t *epoch_out)
{
    if (!c || (!table && len) || expected_epoch < 0 || expected_epoch >= INT32_MAX)
        return COORD_EINVAL;
    if (len > c->max_node_bytes) return COORD_ETOOBIG;
    char node[1024];
    pthread_mutex_lock(&c->mu);
    bool leader = c->candidate && c->leader.is_me && c->leader_node[0];
    snprintf(node, sizeof node, "%s/%s", c->election_dir, c->leader_node);
    pthread_mutex_unlock(&c->mu);
    if (!leader) return COORD_ENOTLEADER;
    zhandle_t *zh;
    int rc = with_connected_zh(c, &zh);
    if (rc != COORD_OK) return rc;
    struct Stat st;
    zoo_op_t ops[2];
    zoo_op_result_t res[2];
    zoo_check_op_init(&ops[0], node, -1);
    zoo_set_op_init(&ops[1], c->assignment_path, table, (int)len, (int)expected_epoch, &st);
    int zrc = zoo_multi(zh, 2, ops, res);
    coord_zh_release(c);
    if (zrc == ZNONODE) return COORD_ENOTLEADER; /* our election node is gone */
    if (zrc == ZOK && epoch_out) *epoch_out = st.version;
    return coord_zerr(zrc);
}
