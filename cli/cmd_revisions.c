/* cmd_revisions.c -- `meterctl revisions --group G`: the kept revisions.
 *
 * The last K revisions (the coordinator prunes older ones) with number,
 * sha256, author, time, body size and whether it is current: what an
 * operator needs to pick a rollback target. Each one is read in full because
 * the header is stored with its body; K is small (10 by default).
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: meterctl revisions --group G [-o json] [options]\n"
    "  Lists the kept revisions (newest last); '*' marks the current one.\n";

int cli_cmd_revisions(int argc, char **argv, FILE *out, FILE *err)
{
    cli_cluster k;
    cli_cluster_init(&k, argv[0], out, err);
    int rc = cli_parse_simple(&k, argc, argv, usage, NULL, NULL, NULL);
    if (rc != CLI_OK) return rc < 0 ? CLI_OK : rc;
    rc = cli_cluster_connect(&k, false);
    int64_t *nums = NULL;
    size_t n = 0;
    if (rc == CLI_OK) {
        size_t cap = 64;
        for (;;) {
            free(nums);
            nums = calloc(cap, sizeof *nums);
            int crc = nums ? coord_revision_list(k.c, nums, cap, &n) : COORD_ESYS;
            if (crc != COORD_OK) {
                rc = cli_fail(&k, crc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                              "listing revisions: %s", coord_strerror(crc));
                break;
            }
            if (n <= cap) break;
            cap = n;
        }
    }
    coord_revision_t cur = {0};
    if (rc == CLI_OK && coord_revision_read(k.c, &cur) != COORD_OK) cur.number = 0;
    json_t *list = json_array();
    cli_table t;
    static const char *const head[] = {"", "REVISION", "SHA256", "AUTHOR", "TIME", "SIZE"};
    cli_table_init(&t, 6, head);
    for (size_t i = 0; rc == CLI_OK && i < n; i++) {
        coord_revision_t r;
        int grc = coord_revision_get(k.c, nums[i], &r);
        if (grc == COORD_ENOENT) continue; /* pruned meanwhile */
        if (grc != COORD_OK) {
            rc = cli_fail(&k, grc == COORD_ENOCONN ? CLI_UNREACHABLE : CLI_FAILED,
                          "reading revision %lld: %s", (long long)nums[i], coord_strerror(grc));
            break;
        }
        bool current = r.number == cur.number;
        json_array_append_new(list, groupview_revision_entry_json(&r, current));
        char num[32], size[32];
        snprintf(num, sizeof num, "%lld", (long long)r.number);
        snprintf(size, sizeof size, "%zu", r.body_len);
        const char *row[] = {current ? "*" : "", num, r.sha256, r.author, r.time, size};
        cli_table_add(&t, row);
        coord_revision_free(&r);
    }
    if (rc == CLI_OK) {
        if (k.fmt == CLI_OUT_JSON) {
            cli_print_json(&k, json_pack("{s:s, s:I, s:O}", "group", k.group, "current",
                                         (json_int_t)cur.number, "revisions", list));
        } else if (json_array_size(list) == 0) {
            fprintf(out, "no revision pushed to group %s yet\n", k.group);
        } else {
            cli_table_print(&t, out);
        }
    }
    json_decref(list);
    cli_table_free(&t);
    coord_revision_free(&cur);
    free(nums);
    cli_cluster_close(&k);
    return rc;
}
