/*
 * test_publisher_file.c: file:///path writes JSON lines that parse back with
 * every field, in append mode with mode 0640, and reopen() after a rename
 * (logrotate) moves writing to the new file without losing a line, and a
 * full disk mid-batch leaves whole lines only (issue 13 item 5).
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
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/*
 * A full disk stands in as RLIMIT_FSIZE in a forked child (no root, no tmpfs
 * needed): with SIGXFSZ ignored the kernel gives a real short write, then
 * EFBIG, as ENOSPC would. The limit falls mid-line in the second batch; the
 * later batches queue behind it. Once the "disk frees" (limit raised) every
 * batch must be in the file exactly once, every line whole JSON.
 */
enum { FULL_BATCHES = 6, FULL_PER = 20 };

/* The child's part; its exit code says which step went wrong (0: none). */
static int fill_disk_child(const char *rel)
{
    char path[512];
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR) return 10;
    publisher *p = open_file(rel, path, sizeof path);
    sample_batch *b = tu_batch(FULL_PER, 0);
    publisher_submit(p, b);
    sample_batch_unref(b);
    publisher_flush(p, 10000);
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size == 0) return 11;
    off_t line = st.st_size / FULL_PER;
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0) return 12;
    const struct rlimit full = {.rlim_cur = (rlim_t)(st.st_size + st.st_size / 2 + line / 2),
                                .rlim_max = rl.rlim_max};
    if (setrlimit(RLIMIT_FSIZE, &full) != 0) return 13;
    for (int i = 1; i < FULL_BATCHES; i++) {
        b = tu_batch(FULL_PER, i * 100);
        publisher_submit(p, b);
        sample_batch_unref(b);
    }
    publisher_stats s;
    int64_t deadline = th_now_ms() + 30000;
    do { /* wait for the disk-full error to happen at least twice (one retry) */
        publisher_get_stats(p, &s);
        if (s.failures >= 2 || s.dropped_batches) break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    } while (th_now_ms() < deadline);
    if (s.failures < 2 || s.dropped_batches) return 14;
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 15; /* the disk frees */
    publisher_flush(p, 30000);
    publisher_get_stats(p, &s);
    if (s.dropped_batches || s.queued || s.batches != FULL_BATCHES) return 16;
    publisher_close(p);
    return 0;
}

/* Every line whole JSON, every sample of every batch once, in order. */
static void assert_all_batches_once(const char *path)
{
    json_t *all = json_array();
    size_t n = read_lines(path, all); /* fails on a torn or fused line */
    assert_int_equal(n, (size_t)(FULL_BATCHES * FULL_PER));
    for (size_t i = 0; i < n; i++) {
        double want = (double)((i / FULL_PER) * 100 + i % FULL_PER);
        assert_true(json_number_value(json_object_get(json_array_get(all, i), "value")) == want);
    }
    json_decref(all);
}

static void test_full_disk_whole_lines(void **state)
{
    (void)state;
    char path[512];
    th_path(path, sizeof path, "full.jsonl"); /* the folder exists before the fork */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(fill_disk_child("full.jsonl")); /* _exit: the parent owns the folder */
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    json_t *all = json_array();
    read_lines(path, all); /* a torn line fails here, before the child's verdict */
    json_decref(all);
    if (WEXITSTATUS(status) != 0) fail_msg("child step %d failed", WEXITSTATUS(status));
    assert_all_batches_once(path);
}

/* The same on an append-only file (chattr +a: ftruncate fails with EPERM):
 * the fragment cannot be cut, so the retry resumes where the write stopped;
 * the file still holds whole lines only, each sample once. Needs
 * CAP_LINUX_IMMUTABLE and a file system with the flag (else skipped). */
static void test_full_disk_append_only(void **state)
{
    (void)state;
    char path[512];
    th_write_file("appendonly.jsonl", "", path, sizeof path);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    /* the kernel moves an int, but the ioctl numbers say long: a long
     * (zeroed, little-endian low half used) keeps valgrind's check honest */
    long flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
        close(fd);
        th_skip_peer("no file attributes (FS_IOC_GETFLAGS) on this file system");
    }
    long with = flags | FS_APPEND_FL;
    if (ioctl(fd, FS_IOC_SETFLAGS, &with) != 0) {
        close(fd);
        th_skip_peer("cannot set the append-only flag (needs CAP_LINUX_IMMUTABLE)");
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(fill_disk_child("appendonly.jsonl"));
    int status = 0;
    pid_t got = waitpid(pid, &status, 0);
    (void)ioctl(fd, FS_IOC_SETFLAGS, &flags); /* so the folder can be removed */
    close(fd);
    assert_int_equal(got, pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) fail_msg("child step %d failed", WEXITSTATUS(status));

    assert_all_batches_once(path);
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
        cmocka_unit_test(test_full_disk_whole_lines),
        cmocka_unit_test(test_full_disk_append_only),
        cmocka_unit_test(test_bad_urls),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
