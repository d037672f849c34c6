/*
 * test_publisher_http.c: http:// POSTs JSON batches to a small HTTP server
 * thread in the test. 500 then 200 is retried and delivered exactly once; a
 * 400 is not retried; a receiver that is down or silent leaves the queue
 * bounded (oldest dropped and counted), submit never blocks, another
 * publisher keeps receiving, and close stays within flush_timeout_ms.
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
#include <time.h>

#include <cmocka.h>

static publisher *open_http(int port, const char *query, const publisher_options *o)
{
    char url[256], err[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ingest%s", port, query);
    publisher *p = publisher_open_url(url, o, err, sizeof err);
    if (!p) fail_msg("open %s: %s", url, err);
    return p;
}

static void submit_values(publisher *p, size_t n, double base)
{
    sample_batch *b = tu_batch(n, base);
    publisher_submit(p, b);
    sample_batch_unref(b);
}

/* value of the first sample of body i */
static double first_value(tu_http *h, size_t i)
{
    char *body = tu_http_body(h, i);
    assert_non_null(body);
    json_t *arr = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(arr);
    double v = json_number_value(json_object_get(json_array_get(arr, 0), "value"));
    json_decref(arr);
    return v;
}

typedef struct {
    tu_http *h;
    size_t n;
} count_arg;

static bool has_bodies(void *arg)
{
    count_arg *c = arg;
    return tu_http_count(c->h) >= c->n;
}

static bool has_requests(void *arg)
{
    count_arg *c = arg;
    return (size_t)atomic_load(&c->h->requests) >= c->n;
}

static void wait_requests(tu_http *h, size_t n)
{
    count_arg c = {h, n};
    assert_true(th_wait_until(has_requests, &c, 10000));
}

static bool two_batches_counted(void *arg)
{
    publisher_stats s;
    publisher_get_stats(arg, &s);
    return s.batches >= 2;
}

static void test_batch_delivered(void **state)
{
    (void)state;
    tu_http h;
    assert_int_equal(tu_http_start(&h, 200), 0);
    publisher *p = open_http(h.port, "?timeout=5&tenant=a%20b", NULL);
    submit_values(p, 3, 10);
    submit_values(p, 2, 20);
    count_arg c = {&h, 2};
    assert_true(th_wait_until(has_bodies, &c, 5000));
    char *body = tu_http_body(&h, 0);
    json_t *arr = json_loads(body, 0, NULL);
    assert_non_null(arr);
    assert_int_equal(json_array_size(arr), 3);
    json_t *o = json_array_get(arr, 2);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "m.2");
    assert_true(json_number_value(json_object_get(o, "value")) == 12);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "src");
    json_decref(arr);
    free(body);
    assert_true(first_value(&h, 1) == 20);
    /* the receiver answers before the publisher counts: wait for the count */
    assert_true(th_wait_until(two_batches_counted, p, 5000));
    publisher_stats s;
    publisher_get_stats(p, &s);
    assert_int_equal(s.batches, 2);
    assert_int_equal(s.samples, 5);
    assert_int_equal(s.failures, 0);
    assert_int_equal(atomic_load(&h.connections), 1); /* kept alive */
    pthread_mutex_lock(&h.mu);
    /* our option is removed, the receiver's parameter passed on */
    assert_non_null(strstr(h.last_head, "POST /ingest?tenant=a%20b HTTP/1.1\r\n"));
    assert_non_null(strcasestr(h.last_head, "\r\nContent-Type: application/json\r\n"));
    pthread_mutex_unlock(&h.mu);
    publisher_close(p);
    tu_http_stop(&h);
}

static void test_retry_then_ok(void **state)
{
    (void)state;
    tu_http h;
    assert_int_equal(tu_http_start(&h, 500), 0);
    publisher_options o = {.retry_initial_ms = 20, .retry_max_ms = 40};
    publisher *p = open_http(h.port, "", &o);
    submit_values(p, 1, 99);
    wait_requests(&h, 3); /* a few 500s: retried */
    atomic_store(&h.status, 200);
    count_arg c = {&h, 1};
    assert_true(th_wait_until(has_bodies, &c, 5000));
    publisher_flush(p, 2000);
    assert_int_equal(tu_http_count(&h), 1); /* delivered once */
    assert_true(first_value(&h, 0) == 99);
    publisher_stats s;
    publisher_get_stats(p, &s);
    assert_int_equal(s.batches, 1);
    assert_true(s.retries >= 2);
    assert_true(s.failures >= 3);
    assert_int_equal(s.dropped_batches, 0);
    assert_non_null(strstr(s.last_error, "500"));
    publisher_close(p);
    tu_http_stop(&h);
}

static void test_client_error_not_retried(void **state)
{
    (void)state;
    tu_http h;
    assert_int_equal(tu_http_start(&h, 400), 0);
    publisher_options o = {.retry_initial_ms = 10, .retry_max_ms = 10};
    publisher *p = open_http(h.port, "", &o);
    submit_values(p, 4, 0);
    publisher_flush(p, 5000);
    publisher_stats s;
    publisher_get_stats(p, &s);
    assert_int_equal(atomic_load(&h.requests), 1);
    assert_int_equal(s.retries, 0);
    assert_int_equal(s.dropped_batches, 1);
    assert_int_equal(s.dropped_samples, 4);
    publisher_close(p);
    tu_http_stop(&h);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Receiver silent (accepts, never answers): submit stays fast, the queue stays
 * bounded with the oldest batches dropped, a file publisher fed the same
 * batches gets all of them, and close returns within flush_timeout_ms.
 * Then the receiver recovers: the batch in hand and the newest queued arrive.
 */
static void test_silent_receiver(void **state)
{
    (void)state;
    tu_http h;
    assert_int_equal(tu_http_start(&h, 0), 0);
    publisher_options o = {
        .queue_batches = 8, .retry_initial_ms = 10, .retry_max_ms = 20, .flush_timeout_ms = 300};
    publisher *p = open_http(h.port, "", &o);
    char path[512], url[600], err[256];
    th_path(path, sizeof path, "other.jsonl");
    snprintf(url, sizeof url, "file://%s", path);
    publisher *f = publisher_open_url(url, NULL, err, sizeof err);
    assert_non_null(f);

    const int n = 200;
    int64_t worst = 0;
    for (int i = 0; i < n; i++) {
        sample_batch *b = tu_batch(1, i);
        int64_t t0 = now_us();
        publisher_submit(p, b);
        publisher_submit(f, b);
        int64_t dt = now_us() - t0;
        if (dt > worst) worst = dt;
        sample_batch_unref(b);
        if (i == 0) wait_requests(&h, 1); /* first batch now held in the POST */
    }
    publisher_stats s;
    publisher_get_stats(p, &s);
    assert_int_equal(s.queued, 8);
    assert_int_equal(s.dropped_batches, (uint64_t)(n - 1 - 8));
    assert_int_equal(s.batches, 0);
    /* generous for valgrind; without it a submit takes microseconds */
    assert_true(worst < 100000);

    publisher_flush(f, 5000);
    publisher_stats fs;
    publisher_get_stats(f, &fs);
    assert_int_equal(fs.batches, (uint64_t)n);
    publisher_close(f);

    /* recovery: the held batch, then the 8 newest */
    atomic_store(&h.status, 200);
    count_arg c = {&h, 9};
    assert_true(th_wait_until(has_bodies, &c, 10000));
    assert_true(first_value(&h, 0) == 0);
    for (size_t i = 1; i < 9; i++)
        assert_true(first_value(&h, i) == (double)(n - 9 + (int)i));

    /* silent again: close must give up after flush_timeout_ms */
    atomic_store(&h.status, 0);
    submit_values(p, 1, 1000);
    wait_requests(&h, 10);
    int64_t t0 = th_now_ms();
    publisher_close(p);
    int64_t took = th_now_ms() - t0;
    assert_true(took >= 250);
    if (!th_slow()) assert_true(took < 300 + 1500);
    tu_http_stop(&h);
}

/* Nothing listening: connection refused, retried with backoff, bounded. */
static void test_receiver_down(void **state)
{
    (void)state;
    int port = th_free_port();
    publisher_options o = {
        .queue_batches = 4, .retry_initial_ms = 5, .retry_max_ms = 20, .flush_timeout_ms = 200};
    publisher *p = open_http(port, "", &o);
    for (int i = 0; i < 50; i++)
        submit_values(p, 2, i);
    publisher_stats s;
    publisher_get_stats(p, &s);
    assert_true(s.queued <= 4);
    assert_true(s.dropped_batches >= 50 - 4 - 1);
    assert_int_equal(s.batches, 0);
    int64_t t0 = th_now_ms();
    publisher_close(p);
    int64_t took = th_now_ms() - t0;
    if (!th_slow()) assert_true(took < 200 + 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_delivered),
        cmocka_unit_test(test_retry_then_ok),
        cmocka_unit_test(test_client_error_not_retried),
        cmocka_unit_test(test_silent_receiver),
        cmocka_unit_test(test_receiver_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
