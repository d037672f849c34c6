/* wait.c -- `push --wait`: follow the group until every live member has
 * applied or rejected revision N, or the timeout passes.
 *
 * The members acknowledge N under acks/<N> (docs/CLUSTER.md "Aggregated
 * acks"): groupview_wait_acks lists those names and the members' names
 * with child watches, so the wait costs the same few reads whatever the
 * group's size; a member still silent after WAIT_FALLBACK_MS (an agent
 * that writes only its member node) has its node read instead. The time
 * stamped for each member is when its ack was listed here: latency from
 * the push's completion, as the operator experiences it. How each member is
 * judged (applied, rejected, pending, left) is groupview's, which
 * meterproxy's PUT ?wait= uses too. The table shows what the names say; a
 * rejection's ack and the slowest member's are read for their error and
 * trace.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#define WAIT_FALLBACK_MS 1000

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

int cli_wait_run(cli_cluster *k, int64_t number, const char *sha, int64_t t0, int timeout_ms,
                 json_t *doc)
{
    groupview_wait w;
    groupview_wait_init(&w, number, t0);
    w.t0_wall_us -= (cli_now_ms() - t0) * 1000; /* the push's commit, on the wall clock */
    int wrc = groupview_wait_acks(&w, k->c, sha, t0 + timeout_ms, WAIT_FALLBACK_MS);
    bool done = wrc == 0;
    int64_t elapsed = cli_now_ms() - t0;

    groupview_wait_counts c;
    groupview_wait_tally(&w, &c);
    int code = c.rejected ? CLI_FAILED : !done ? CLI_TIMEOUT : CLI_OK;
    if (k->fmt == CLI_OUT_JSON) {
        json_object_set_new(doc, "wait", groupview_wait_json(&w, timeout_ms, elapsed));
        groupview_wait_free(&w);
        return code;
    }
    if (w.n > 0) print_text(&w, k->out);
    groupview_wait_print_slowest(&w, k->out);
    if (c.live == 0 && w.n == 0)
        fprintf(k->out, "no live member in group %s to wait for\n", k->group);
    else
        fprintf(k->out, "%zu applied, %zu rejected, %zu pending after %lld ms%s\n", c.applied,
                c.rejected, c.pending, (long long)elapsed,
                done ? "" : " (timed out: --timeout to wait longer)");
    groupview_wait_free(&w);
    return code;
}
