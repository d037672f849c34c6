/*
 * test_publisher_file.c: file:///path writes JSON lines that parse back with
 * every field, in append mode with mode 0640, and reopen() after a rename
 * (logrotate) moves writing to the new file without losing a line.
 */
#include "agent/publisher.h"
#include "harness/harness.h"
#include "publisher_testutil.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

static publisher *open_file(const char *rel, char *path, size_t cap)
{
    th_path(path, cap, rel);
    char url[600], err[256] = "";
    snprintf(url, sizeof url, "file://%s", path);
    publisher_options o = {.retry_initial_ms = 10, .retry_max_ms = 50, .flush_timeout_ms = 2000};
    publisher *p = publisher_open_url(url, &o, err, sizeof err);
    if (!p) fail_msg("open %s: %s", url, err);
    return p;
}

/* Reads every line of path as JSON; returns the count, appends to arr. */
static size_t read_lines(const char *path, json_t *arr)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0, n = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) fail_msg("line %zu of %s is not JSON: %s: %s", n + 1, path, je.text, line);
        json_array_append_new(arr, j);
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

static void test_fields(void **state)
{
    (void)state;
    char path[512];
    publisher *p = open_file("fields.jsonl", path, sizeof path);
    sample_batch *b = sample_batch_new("cpu_source", 42, 1700000000000);
    sample_label labels[] = {{"cpu", "0"}, {"quote", "a\"b\\c\n"}};
    assert_int_equal(sample_batch_add(b, "host.cpu.util", SAMPLE_GAUGE, "%", 12.5, "node-1",
                                      1700000000123, labels, 2),
                     0);
    assert_int_equal(sample_batch_add(b, "net.bytes", SAMPLE_CUMULATIVE, "B", 1e15 + 1, "node-1",
                                      1700000001999, NULL, 0),
                     0);
    assert_int_equal(sample_batch_add(b, "neg", SAMPLE_DELTA, "1", -0.1, "", 0, NULL, 0), 0);
    publisher_submit(p, b);
    sample_batch_unref(b);
    publisher_flush(p, 2000);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    json_t *arr = json_array();
    assert_int_equal(read_lines(path, arr), 3);
    json_t *j = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "host.cpu.util");
    assert_string_equal(json_string_value(json_object_get(j, "type")), "gauge");
    assert_string_equal(json_string_value(json_object_get(j, "unit")), "%");
    assert_true(json_real_value(json_object_get(j, "value")) == 12.5);
    assert_string_equal(json_string_value(json_object_get(j, "resource")), "node-1");
    assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
                        "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "cpu_source");
    assert_int_equal(json_integer_value(json_object_get(j, "epoch")), 42);
    json_t *l = json_object_get(j, "labels");
    assert_string_equal(json_string_value(json_object_get(l, "cpu")), "0");
    assert_string_equal(json_string_value(json_object_get(l, "quote")), "a\"b\\c\n");

    j = json_array_get(arr, 1);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "cumulative");
    assert_true(json_number_value(json_object_get(j, "value")) == 1e15 + 1);
    assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
                        "2023-11-14T22:13:21.999Z");
    j = json_array_get(arr, 2);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "delta");
    assert_true(json_real_value(json_object_get(j, "value")) == -0.1);
    assert_string_equal(json_string_value(json_object_get(j, "timestamp")),
                        "1970-01-01T00:00:00.000Z");
    json_decref(arr);

    publisher_stats s;
    publisher_get_stats(p, &s);
    assert_int_equal(s.batches, 1);
    assert_int_equal(s.samples, 3);
    assert_int_equal(s.dropped_batches, 0);
    publisher_close(p);
}

static void test_append_and_nonfinite(void **state)
{
    (void)state;
    char path[512];
    th_write_file("append.jsonl", "{\"existing\":true}\n", NULL, 0);
    publisher *p = open_file("append.jsonl", path, sizeof path);
    sample_batch *b = tu_batch(2, 1);
    b->v[1].value = 0.0 / 0.0; /* NaN is not JSON: written as null */
    publisher_submit(p, b);
    sample_batch_unref(b);
    publisher_close(p); /* close flushes */
    json_t *arr = json_array();
    assert_int_equal(read_lines(path, arr), 3);
    assert_true(json_is_true(json_object_get(json_array_get(arr, 0), "existing")));
    assert_true(json_is_null(json_object_get(json_array_get(arr, 2), "value")));
    json_decref(arr);
}

static void test_reopen_after_rename(void **state)
{
    (void)state;
    char path[512], rotated[512];
    publisher *p = open_file("rot.jsonl", path, sizeof path);
    th_path(rotated, sizeof rotated, "rot.jsonl.1");
    const int batches = 200, per = 10;
    for (int i = 0; i < batches; i++) {
        if (i == batches / 2) {
            /* logrotate: rename while batches may still be queued, then SIGHUP */
            assert_int_equal(rename(path, rotated), 0);
            publisher_reopen(p);
        }
        sample_batch *b = tu_batch(per, i * 100);
        publisher_submit(p, b);
        sample_batch_unref(b);
    }
    publisher_close(p);
    json_t *all = json_array();
    size_t n_old = read_lines(rotated, all);
    size_t n_new = read_lines(path, all);
    assert_true(n_new >= (size_t)(batches / 2 * per)); /* everything after reopen: new file */
    assert_int_equal(n_old + n_new, (size_t)(batches * per));
    /* in order across both files, nothing lost: values are batch*100 + index */
    for (size_t i = 0; i < n_old + n_new; i++) {
        double want = (double)((i / per) * 100 + i % per);
        assert_true(json_number_value(json_object_get(json_array_get(all, i), "value")) == want);
    }
    json_decref(all);
}

static void test_bad_urls(void **state)
{
    (void)state;
    char err[256];
    assert_null(publisher_open_url("file://", NULL, err, sizeof err));
    assert_non_null(strstr(err, "expected file:///absolute/path"));
    assert_null(publisher_open_url("file:///nonexistent-dir-xyz/a.jsonl", NULL, err, sizeof err));
    assert_non_null(strstr(err, "cannot open"));
    assert_null(publisher_open_url("file://otherhost/tmp/x", NULL, err, sizeof err));
    assert_null(publisher_open_url("file:///tmp/x?bogus=1", NULL, err, sizeof err));
    assert_non_null(strstr(err, "unknown option 'bogus'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_append_and_nonfinite),
        cmocka_unit_test(test_reopen_after_rename),
        cmocka_unit_test(test_bad_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
