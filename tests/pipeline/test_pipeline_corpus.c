/* test_pipeline_corpus.c -- every file of tests/data/pipeline/invalid/ is
 * refused with its first error at the line:column and with the message
 * fragment listed in invalid/expected.txt; every file of valid/, equivalent/
 * and ceilometer/ is accepted. */
#include "testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_invalid_corpus(void **state)
{
    (void)state;
    char path[1024];
    tu_data_path(path, sizeof path, "invalid/expected.txt");
    char *table = tu_read_file(path, NULL);
    int cases = 0, failures = 0;
    for (char *line = strtok(table, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0') continue;
        char file[256], frag[256];
        int l, c;
        if (sscanf(line, "%255[^\t]\t%d:%d\t%255[^\n]", file, &l, &c, frag) != 4)
            fail_msg("bad line in expected.txt: %s", line);
        char rel[512];
        snprintf(rel, sizeof rel, "invalid/%s", file);
        tu_data_path(path, sizeof path, rel);
        pipeline *p = NULL;
        pipeline_diags d = {0};
        int rc = pipeline_load_file(path, tu_options(), &p, &d);
        const pipeline_diag *e = tu_first_error(&d);
        if (rc != -1 || p != NULL || e == NULL) {
            fprintf(stderr, "%s: accepted, expected an error at %d:%d\n", file, l, c);
            failures++;
        } else if (e->line != l || e->column != c || strstr(e->message, frag) == NULL) {
            fprintf(stderr, "%s: expected %d:%d '%s'\n  got %d:%d '%s'\n", file, l, c, frag,
                    e->line, e->column, e->message);
            failures++;
        } else if (strstr(e->file, file) == NULL) {
            fprintf(stderr, "%s: the error names file '%s'\n", file, e->file);
            failures++;
        }
        pipeline_free(p);
        pipeline_diags_free(&d);
        cases++;
    }
    free(table);
    assert_int_equal(failures, 0);
    assert_true(cases >= 40);
}

static int accept_dir(const char *rel)
{
    char dir[1024], path[2048];
    tu_data_path(dir, sizeof dir, rel);
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        pipeline *p = NULL;
        pipeline_diags d = {0};
        int rc = pipeline_load_file(path, tu_options(), &p, &d);
        if (rc != 0) fprintf(stderr, "%s refused: %s\n", path, d.items[0].message);
        assert_int_equal(rc, 0);
        assert_int_equal(d.errors, 0);
        assert_int_equal(strlen(p->sha256_hex), 64);
        pipeline_free(p);
        pipeline_diags_free(&d);
        n++;
    }
    closedir(dh);
    return n;
}

static void test_valid_corpora(void **state)
{
    (void)state;
    assert_true(accept_dir("ceilometer") >= 6);
    assert_true(accept_dir("valid") >= 8);
    assert_int_equal(accept_dir("equivalent"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_corpus),
        cmocka_unit_test(test_valid_corpora),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
