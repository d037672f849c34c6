/* wait.c -- `push --wait`: watch the group until every live member has
 * applied or rejected revision N, or the timeout passes.
 *
 * The coordinator's members callback is the fast path: it runs on the
 * handle's event thread right after ZooKeeper told us a member node changed,
 * so the time we stamp there is when meterctl saw the change (latency from
 * the push's completion, as the operator experiences it). A copy of the last
 * snapshot (coord_members_get, no ZooKeeper round trip) is re-read every
 * WAIT_POLL_MS as a backstop, so a lost wake-up costs at most that much.
 *
 * How each member is judged (applied, rejected, pending, left) is
 * groupview's groupview_wait, which meterproxy's PUT ?wait= uses too.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_POLL_MS 50

struct cli_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool started;
    groupview_wait gw;
};

cli_wait *cli_wait_new(void)
{
    cli_wait *w = calloc(1, sizeof *w);
    if (w == NULL) return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    return w;
}

void cli_wait_free(cli_wait *w)
{
    if (w == NULL) return;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    groupview_wait_free(&w->gw);
    free(w);
}

/* Under w->mu. */
static void observe(cli_wait *w, const coord_members_t *s, int64_t now)
{
    if (!w->started) return;
    groupview_wait_observe(&w->gw, s, now);
    pthread_cond_broadcast(&w->cond);
}

void cli_wait_on_members(void *arg, const coord_members_t *m)
{
    cli_wait *w = arg;
    int64_t now = cli_now_ms();
    pthread_mutex_lock(&w->mu);
    observe(w, m, now);
    pthread_mutex_unlock(&w->mu);
}

static void poll_snapshot(cli_wait *w, coord_t *c)
{
    coord_members_t s = {0};
    if (coord_members_get(c, &s) != COORD_OK) return;
    int64_t now = cli_now_ms();
    pthread_mutex_lock(&w->mu);
    observe(w, &s, now);
    pthread_mutex_unlock(&w->mu);
    coord_members_free(&s);
}

/* The error text after "revision N: ". */
static const char *reject_reason(const groupview_wmember *m)
{
    const char *colon = strchr(m->info.last_error, ':');
    if (colon == NULL) return m->info.last_error;
    colon++;
    while (*colon == ' ')
        colon++;
    return colon;
}

static void print_text(groupview_wait *w, FILE *out)
{
    static const char *const head[] = {"MEMBER", "HOST",   "APPLIED",
                                       "SHA256", "RESULT", "LATENCY_MS"};
    cli_table t;
    cli_table_init(&t, 6, head);
    for (size_t i = 0; i < w->n; i++) {
        const groupview_wmember *m = &w->m[i];
        char applied[32], sha[16], result[600], lat[32];
        snprintf(applied, sizeof applied, "%lld", (long long)m->info.applied_revision);
        snprintf(sha, sizeof sha, "%.12s",
                 m->info.applied_sha256[0] ? m->info.applied_sha256 : "-");
        if (m->result == GROUPVIEW_W_REJECTED)
            snprintf(result, sizeof result, "rejected: %s", reject_reason(m));
        else
            snprintf(result, sizeof result, "%s", groupview_wait_result(m));
        if (m->result == GROUPVIEW_W_PENDING)
            snprintf(lat, sizeof lat, "-");
        else
            snprintf(lat, sizeof lat, "%lld", (long long)(m->seen_ms - w->t0_ms));
        const char *row[] = {m->id, m->info.host[0] ? m->info.host : "-", applied, sha, result,
                             lat};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, out);
    cli_table_free(&t);
}

int cli_wait_run(cli_wait *w, cli_cluster *k, int64_t number, int64_t t0, int timeout_ms,
                 json_t *doc)
{
    pthread_mutex_lock(&w->mu);
    groupview_wait_free(&w->gw);
    groupview_wait_init(&w->gw, number, t0);
    w->gw.t0_wall_us -= (cli_now_ms() - t0) * 1000; /* the push's commit, on the wall clock */
    w->started = true;
    pthread_mutex_unlock(&w->mu);
    poll_snapshot(w, k->c);

    int64_t deadline = t0 + timeout_ms;
    pthread_mutex_lock(&w->mu);
    while (!groupview_wait_settled(&w->gw)) {
        int64_t now = cli_now_ms();
        if (now >= deadline) break;
        int64_t wake = now + WAIT_POLL_MS < deadline ? now + WAIT_POLL_MS : deadline;
        struct timespec ts = {.tv_sec = wake / 1000, .tv_nsec = (wake % 1000) * 1000000};
        pthread_cond_timedwait(&w->cond, &w->mu, &ts);
        pthread_mutex_unlock(&w->mu);
        poll_snapshot(w, k->c);
        pthread_mutex_lock(&w->mu);
    }
    bool done = groupview_wait_settled(&w->gw);
    w->started = false; /* freeze the results while we print them */
    int64_t elapsed = cli_now_ms() - t0;
    pthread_mutex_unlock(&w->mu);

    groupview_wait_counts c;
    groupview_wait_tally(&w->gw, &c);
    int code = c.rejected ? CLI_FAILED : !done ? CLI_TIMEOUT : CLI_OK;
    if (k->fmt == CLI_OUT_JSON) {
        json_object_set_new(doc, "wait", groupview_wait_json(&w->gw, timeout_ms, elapsed));
        return code;
    }
    if (w->gw.n > 0) print_text(&w->gw, k->out);
    groupview_wait_print_slowest(&w->gw, k->out);
    if (c.live == 0 && w->gw.n == 0)
        fprintf(k->out, "no live member in group %s to wait for\n", k->group);
    else
        fprintf(k->out, "%zu applied, %zu rejected, %zu pending after %lld ms%s\n", c.applied,
                c.rejected, c.pending, (long long)elapsed,
                done ? "" : " (timed out: --timeout to wait longer)");
    return code;
}
