/* testutil.c -- helpers shared by the pipeline unit tests (see testutil.h). */
#include "testutil.h"
#include "registry/registry.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void print_diags(const pipeline_diags *d)
{
    int need = pipeline_diags_format(d, NULL, 0);
    if (need <= 0) return;
    char *buf = malloc((size_t)need + 1);
    assert_non_null(buf);
    pipeline_diags_format(d, buf, (size_t)need + 1);
    fputs(buf, stderr);
    free(buf);
}

const pipeline_options *tu_options(void)
{
    static registry_options ro; /* test-only: built once, read-only after */
    static bool done;
    if (!done) {
        assert_int_equal(registry_pipeline_options(&ro, NULL, 0), 0);
        /* the schemes only: these tests use Ceilometer's meter names */
        ro.opt.known_meters = NULL;
        ro.opt.n_known_meters = 0;
        done = true;
    }
    return &ro.opt;
}

pipeline *tu_parse_ok(const char *text)
{
    pipeline *p = NULL;
    pipeline_diags d = {0};
    int rc = pipeline_parse(text, strlen(text), "test.yaml", tu_options(), &p, &d);
    if (rc != 0) print_diags(&d);
    pipeline_diags_free(&d);
    assert_int_equal(rc, 0);
    assert_non_null(p);
    return p;
}

pipeline_diags tu_parse_bad(const char *text)
{
    pipeline *p = NULL;
    pipeline_diags d = {0};
    int rc = pipeline_parse(text, strlen(text), "test.yaml", tu_options(), &p, &d);
    assert_int_equal(rc, -1);
    assert_null(p);
    assert_true(d.errors > 0);
    return d;
}

const pipeline_diag *tu_first_error(const pipeline_diags *d)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].severity == PIPELINE_ERROR) return &d->items[i];
    return NULL;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) fprintf(stderr, "cannot open %s\n", path);
    assert_non_null(f);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

void tu_data_path(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/pipeline/%s", MeterdTestData, rel);
}
