/* cmd_validate.c -- `meterctl validate [-o text|json] [--strict] FILE...`
 *
 * Checks pipeline files exactly as an agent would before applying them (the
 * same pipeline_parse with the same plugin registry: every meter a pollster
 * polls, every publisher scheme with its rules and defaults), so "validate
 * passes" means "every agent accepts it and opens its publishers".
 * Text output is one line per diagnostic in the compiler style
 * (file:line:col: error: ...), then `ok <sha256> FILE` for a valid file or
 * `invalid FILE (N errors)`; everything goes to stdout because the report is
 * the product. `-o json` prints one object (see docs/CLI.md). "-" reads
 * standard input. Exit 0 when every file is valid, 1 when any is not (or has
 * warnings under --strict), 2 for a usage error.
 */
#include "cli/cli.h"
#include "expo/expo.h"
#include "pipeline/pipeline.h"
#include "registry/registry.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void validate_usage(FILE *f)
{
    fprintf(f, "usage: meterctl validate [-o text|json] [--strict] FILE...\n"
               "  Checks pipeline files (Ceilometer polling.yaml format plus sinks).\n"
               "  -o, --output FORMAT  text (default) or json\n"
               "      --strict         treat warnings as errors\n"
               "  FILE may be '-' for standard input.\n"
               "  Exit status: 0 all valid, 1 any invalid, 2 usage error.\n");
}

/* Reads stdin up to the parser's default limit (+1, so an oversize input is
 * reported as such by pipeline_parse). */
static char *read_stdin(size_t *len)
{
    size_t cap = 65536, n = 0, limit = PIPELINE_DEFAULT_MAX_BYTES + 1;
    char *buf = malloc(cap);
    while (buf != NULL && n < limit) {
        if (n == cap) {
            cap = cap * 2 > limit ? limit : cap * 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        if (r == 0) break;
        n += r;
    }
    *len = n;
    return buf;
}

static int check_one(const char *path, const pipeline_options *opt, pipeline **out,
                     pipeline_diags *d)
{
    /* a source's file_sd documents are expanded as push would: what is
     * reported (and hashed) is what would be pushed */
    if (strcmp(path, "-") != 0)
        return pipeline_load_file(path, opt, out, d) == 0 ? expo_sd_expand(out, path, d) : -1;
    size_t len = 0;
    char *buf = read_stdin(&len);
    if (buf == NULL) {
        *out = NULL;
        fprintf(stderr, "meterctl: out of memory reading standard input\n");
        return -1;
    }
    int rc = pipeline_parse(buf, len, "<stdin>", opt, out, d);
    free(buf);
    return rc == 0 ? expo_sd_expand(out, NULL, d) : rc;
}

/* A JSON string; text that is not UTF-8 (a file name from argv) is kept
 * readable with '?' for its non-ASCII bytes rather than dropped. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j != NULL) return j;
    char *copy = strdup(s);
    if (copy == NULL) return NULL;
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80) *c = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *diag_list(const pipeline_diags *d, pipeline_severity sev)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < d->count; i++) {
        const pipeline_diag *it = &d->items[i];
        if (it->severity != sev) continue;
        json_array_append_new(a, json_pack("{s:i, s:i, s:s, s:o}", "line", it->line, "column",
                                           it->column, "severity",
                                           sev == PIPELINE_ERROR ? "error" : "warning", "message",
                                           jstr(it->message)));
    }
    return a;
}

static void print_text(FILE *out, const char *path, const pipeline *p, const pipeline_diags *d)
{
    int need = pipeline_diags_format(d, NULL, 0);
    if (need > 0) {
        char *buf = malloc((size_t)need + 1);
        if (buf != NULL) {
            pipeline_diags_format(d, buf, (size_t)need + 1);
            fputs(buf, out);
            free(buf);
        }
    }
    if (p != NULL)
        fprintf(out, "ok %s %s\n", p->sha256_hex, path);
    else
        fprintf(out, "invalid %s (%zu error%s)\n", path, d->errors, d->errors == 1 ? "" : "s");
}

int cli_cmd_validate(int argc, char **argv, FILE *out, FILE *err)
{
    cli_output fmt = CLI_OUT_TEXT;
    bool strict = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            validate_usage(out);
            return CLI_OK;
        }
        if (strcmp(a, "--strict") == 0) {
            strict = true;
            continue;
        }
        const char *val = NULL;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc) {
                fprintf(err, "meterctl validate: %s needs a value (text or json)\n", a);
                return CLI_USAGE;
            }
            val = argv[++i];
        } else if (strncmp(a, "--output=", 9) == 0) {
            val = a + 9;
        } else if (strncmp(a, "-o", 2) == 0 && a[2] != '\0') {
            val = a + 2;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(err, "meterctl validate: unknown option '%s'\n", a);
            validate_usage(err);
            return CLI_USAGE;
        } else {
            break;
        }
        if (cli_parse_output(val, &fmt) != 0) {
            fprintf(err, "meterctl validate: unknown output format '%s' (text or json)\n", val);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        fprintf(err, "meterctl validate: no FILE given\n");
        validate_usage(err);
        return CLI_USAGE;
    }
    registry_options ro;
    registry_pipeline_options(&ro, NULL, 0);
    bool all_ok = true;
    json_t *files = fmt == CLI_OUT_JSON ? json_array() : NULL;
    for (; i < argc; i++) {
        pipeline *p = NULL;
        pipeline_diags d = {0};
        check_one(argv[i], &ro.opt, &p, &d);
        size_t warnings = d.count - d.errors;
        bool ok = p != NULL && !(strict && warnings > 0);
        if (!ok) all_ok = false;
        if (fmt == CLI_OUT_TEXT) {
            print_text(out, argv[i], p, &d);
        } else if (files != NULL) {
            json_t *o = json_pack("{s:o, s:b, s:o, s:o, s:o}", "file", jstr(argv[i]), "ok", ok,
                                  "sha256", p ? json_string(p->sha256_hex) : json_null(), "errors",
                                  diag_list(&d, PIPELINE_ERROR), "warnings",
                                  diag_list(&d, PIPELINE_WARNING));
            if (o != NULL && p != NULL) {
                json_object_set_new(o, "sources", json_integer((json_int_t)p->n_sources));
                json_object_set_new(o, "sinks", json_integer((json_int_t)p->n_sinks));
            }
            json_array_append_new(files, o);
        }
        pipeline_free(p);
        pipeline_diags_free(&d);
    }
    if (fmt == CLI_OUT_JSON) {
        json_t *doc = json_pack("{s:b, s:o}", "ok", all_ok, "files", files);
        char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (text == NULL) {
            fprintf(err, "meterctl validate: out of memory\n");
            json_decref(doc);
            return CLI_FAILED;
        }
        fprintf(out, "%s\n", text);
        free(text);
        json_decref(doc);
    }
    return all_ok ? CLI_OK : CLI_FAILED;
}
