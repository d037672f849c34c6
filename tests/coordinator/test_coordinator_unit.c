/*
 * test_coordinator_unit.c: what needs no ZooKeeper — backend_url parsing
 * (good forms and every rejected one with its message), the member JSON and
 * revision formats (round trips, and malformed input rejected, never a
 * crash), and coord_open's configuration checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/coordinator.h"

static void test_url_good(void **state)
{
    (void)state;
    coord_url_t u;
    char err[256];
    assert_int_equal(coord_url_parse("zookeeper://h1:2181,h2:2182/meterd", &u, err, sizeof err), 0);
    assert_string_equal(u.hosts, "h1:2181,h2:2182");
    assert_string_equal(u.chroot, "/meterd");
    assert_int_equal(coord_url_parse("zookeeper://127.0.0.1", &u, err, sizeof err), 0);
    assert_string_equal(u.hosts, "127.0.0.1:2181");
    assert_string_equal(u.chroot, "");
    assert_int_equal(coord_url_parse("zookeeper://zk-1.example.org:1/a/b_c", &u, err, sizeof err),
                     0);
    assert_string_equal(u.chroot, "/a/b_c");
    assert_int_equal(coord_url_parse("zookeeper://[::1]:2181/", &u, err, sizeof err), 0);
    assert_string_equal(u.hosts, "[::1]:2181");
    assert_string_equal(u.chroot, "");
}

static void test_url_bad(void **state)
{
    (void)state;
    struct {
        const char *url;
        const char *msg;
    } bad[] = {
        {"", "empty"},
        {"etcd://h:1", "expected zookeeper://"},
        {"zookeeper://", "no ZooKeeper host"},
        {"zookeeper:///meterd", "no ZooKeeper host"},
        {"zookeeper://h:0", "from 1 to 65535"},
        {"zookeeper://h:65536", "from 1 to 65535"},
        {"zookeeper://h:12x", "from 1 to 65535"},
        {"zookeeper://h:", "must be a number"},
        {"zookeeper://h1,,h2", "empty host"},
        {"zookeeper://h1,", "empty host after"},
        {"zookeeper://user:pw@h1", "credentials"},
        {"zookeeper://h1/meterd/", "must not end"},
        {"zookeeper://h1/a//b", "empty segment"},
        {"zookeeper://h1/a/../b", "'..'"},
        {"zookeeper://h1/a b", "printable"},
        {"zookeeper://h1?x=1", "query"},
        {"zookeeper://h 1", "bad character"},
        {"zookeeper://[::1", "missing ']'"},
        {"zookeeper://[::1]x", "expected ':port'"},
        {"zookeeper://:2181", "empty host name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        coord_url_t u;
        char err[256] = "";
        assert_int_equal(coord_url_parse(bad[i].url, &u, err, sizeof err), COORD_EINVAL);
        if (!strstr(err, bad[i].msg)) fail_msg("%s: got \"%s\"", bad[i].url, err);
    }
    coord_url_t u;
    assert_int_equal(coord_url_parse(NULL, &u, NULL, 0), COORD_EINVAL);
}

static void test_member_json(void **state)
{
    (void)state;
    coord_member_info_t in = {.pid = 4242, .weight = 2, .applied_revision = 17, .owned = 300};
    snprintf(in.host, sizeof in.host, "node-1");
    snprintf(in.namespaces, sizeof in.namespaces, "central,ipmi");
    snprintf(in.api, sizeof in.api, "http://10.0.0.1:8080");
    snprintf(in.applied_sha256, sizeof in.applied_sha256, "%064d", 7);
    snprintf(in.state, sizeof in.state, "error");
    snprintf(in.last_error, sizeof in.last_error, "line 3:7: \"quoted\"\n");
    char *json = NULL;
    assert_int_equal(coord_member_info_to_json(&in, &json), 0);
    coord_member_info_t out;
    char err[256];
    assert_int_equal(coord_member_info_from_json(json, strlen(json), &out, err, sizeof err), 0);
    assert_memory_equal(&in, &out, sizeof in);
    free(json);

    const char *bad[] = {"",
                         "{",
                         "[]",
                         "{\"pid\":\"12\"}",
                         "{\"host\":5}",
                         "{\"namespaces\":\"central\"}",
                         "{\"namespaces\":[1]}",
                         "{\"weight\":-1}",
                         "{\"host\":\"a\",\"host\":\"b\"}",
                         "{\"state\":\"0123456789012345678901234567890123456789\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        assert_int_equal(coord_member_info_from_json(bad[i], strlen(bad[i]), &out, err, sizeof err),
                         COORD_EMALFORMED);
        assert_true(err[0]);
    }
    /* unknown keys are tolerated (newer agents), missing ones default */
    const char *extra = "{\"host\":\"h\",\"future\":{\"x\":1}}";
    assert_int_equal(coord_member_info_from_json(extra, strlen(extra), &out, err, sizeof err), 0);
    assert_string_equal(out.host, "h");
    assert_int_equal(out.weight, 0);
}

/* The apply trace in the member node, and the stages made of it (issue 19). */
static void test_apply_trace(void **state)
{
    (void)state;
    coord_member_info_t in = {.applied_revision = 9,
                              .trace = {.revision = 9,
                                        .committed_us = 1000000,
                                        .notified_us = 1002000,
                                        .received_us = 1002500,
                                        .validated_us = 1004500,
                                        .applied_us = 1005000,
                                        .via_pubsub = true}};
    char *json = NULL, err[256];
    assert_int_equal(coord_member_info_to_json(&in, &json), 0);
    assert_non_null(strstr(json, "\"trace\":{"));
    coord_member_info_t out;
    assert_int_equal(coord_member_info_from_json(json, strlen(json), &out, err, sizeof err), 0);
    free(json);
    assert_memory_equal(&in.trace, &out.trace, sizeof in.trace);

    double ms[COORD_STAGES];
    coord_trace_stages(&out.trace, 0, 1015000, ms);
    assert_true(ms[COORD_STAGE_NOTIFY] == 2.0 && ms[COORD_STAGE_FETCH] == 0.5);
    assert_true(ms[COORD_STAGE_VALIDATE] == 2.0 && ms[COORD_STAGE_APPLY] == 0.5);
    assert_true(ms[COORD_STAGE_ACK] == 10.0);
    assert_int_equal(coord_trace_slowest(ms), COORD_STAGE_ACK);
    assert_string_equal(coord_stage_name(COORD_STAGE_VALIDATE), "validate");
    /* a pub-sub copy has no commit instant: the pusher's stands in; no ack
     * instant, no ack stage; a clock behind reads as 0 */
    out.trace.committed_us = 0;
    coord_trace_stages(&out.trace, 1003000, 0, ms);
    assert_true(ms[COORD_STAGE_NOTIFY] == 0 && ms[COORD_STAGE_ACK] == -1);
    assert_int_equal(coord_trace_slowest(ms), COORD_STAGE_VALIDATE);

    /* none written before the first revision; a wrong type is malformed */
    coord_member_info_t none = {0};
    assert_int_equal(coord_member_info_to_json(&none, &json), 0);
    assert_null(strstr(json, "trace"));
    free(json);
    const char *bad[] = {"{\"trace\":5}", "{\"trace\":{\"applied_us\":\"x\"}}"};
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(coord_member_info_from_json(bad[i], strlen(bad[i]), &out, err, sizeof err),
                         COORD_EMALFORMED);
}

static void test_revision_codec(void **state)
{
    (void)state;
    static const unsigned char body[] = "sources:\n  - name: a\n\0binary\xff";
    coord_revision_t r = {.number = 3, .body = (unsigned char *)body, .body_len = sizeof body};
    snprintf(r.author, sizeof r.author, "ops");
    snprintf(r.time, sizeof r.time, "2026-01-01T00:00:00Z");
    snprintf(r.signature, sizeof r.signature, "hmac:abc");
    char *enc;
    size_t len;
    char err[256];
    /* a wrong sha256 is caught on decode */
    snprintf(r.sha256, sizeof r.sha256, "%064d", 0);
    assert_int_equal(coord_revision_encode(&r, &enc, &len), 0);
    coord_revision_t out;
    assert_int_equal(coord_revision_decode(enc, len, &out, err, sizeof err), COORD_EMALFORMED);
    assert_non_null(strstr(err, "sha256"));
    free(enc);
}

static void test_revision_roundtrip(void **state)
{
    (void)state;
    /* a known vector: sha256("abc") */
    coord_revision_t r = {.number = 9, .body = (unsigned char *)"abc", .body_len = 3};
    snprintf(r.sha256, sizeof r.sha256, "%s",
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    snprintf(r.author, sizeof r.author, "me");
    char *enc;
    size_t len;
    char err[256];
    assert_int_equal(coord_revision_encode(&r, &enc, &len), 0);
    coord_revision_t out;
    assert_int_equal(coord_revision_decode(enc, len, &out, err, sizeof err), 0);
    assert_int_equal(out.number, 9);
    assert_int_equal(out.body_len, 3);
    assert_memory_equal(out.body, "abc", 3);
    assert_string_equal(out.author, "me");
    coord_revision_free(&out);

    /* truncation, extra bytes, bad header: all rejected */
    assert_int_equal(coord_revision_decode(enc, len - 1, &out, err, sizeof err), COORD_EMALFORMED);
    char *longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = 'x';
    assert_int_equal(coord_revision_decode(longer, len + 1, &out, err, sizeof err),
                     COORD_EMALFORMED);
    free(longer);
    free(enc);
    const char *bad[] = {"",         "no newline",       "{}\n",
                         "[1]\nabc", "{\"number\":0}\n", "{\"number\":1,\"body_len\":\"3\"}\nabc",
                         "{bad\nabc"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(coord_revision_decode(bad[i], strlen(bad[i]), &out, err, sizeof err),
                         COORD_EMALFORMED);
}

static void test_open_config(void **state)
{
    (void)state;
    char err[256];
    coord_config_t cfg = {.backend_url = "zookeeper://127.0.0.1:1/m", .group = "g"};
    struct {
        coord_config_t cfg;
        const char *msg;
    } bad[] = {
        {{.backend_url = "zk://x", .group = "g"}, "expected zookeeper://"},
        {{.backend_url = cfg.backend_url, .group = "a/b"}, "group"},
        {{.backend_url = cfg.backend_url, .group = ""}, "group"},
        {{.backend_url = cfg.backend_url, .group = "g", .member_id = ".."}, "member id"},
        {{.backend_url = cfg.backend_url, .group = "g", .session_timeout_ms = 500}, "minimum"},
        {{.backend_url = cfg.backend_url, .group = "g", .auth = "nocolon"}, "user:secret"},
        {{.backend_url = cfg.backend_url, .group = "g", .keep_revisions = -1}, "keep_revisions"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        assert_null(coord_open(&bad[i].cfg, err, sizeof err));
        if (!strstr(err, bad[i].msg)) fail_msg("case %zu: got \"%s\"", i, err);
    }
    assert_null(coord_open(NULL, err, sizeof err));
    /* a valid configuration opens without a server (connects in the background) */
    coord_t *c = coord_open(&cfg, err, sizeof err);
    assert_non_null(c);
    coord_status_t st;
    coord_get_status(c, &st);
    assert_int_equal(st.state, COORD_CONNECTING);
    assert_int_equal(st.session_timeout_ms, COORD_SESSION_TIMEOUT_DEFAULT_MS);
    assert_int_equal(coord_wait_ready(c, 50), COORD_ETIMEOUT);
    coord_member_info_t info = {0};
    assert_int_equal(coord_member_update(c, &info), COORD_EINVAL); /* an observer */
    int64_t epoch;
    assert_int_equal(coord_assignment_write(c, 0, "x", 1, &epoch), COORD_ENOTLEADER);
    coord_close(c);
    assert_string_equal(coord_strerror(COORD_ECONFLICT),
                        "conflict: the stored version changed (CAS lost)");
    assert_string_equal(coord_state_name(COORD_DISCONNECTED), "disconnected");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_good),       cmocka_unit_test(test_url_bad),
        cmocka_unit_test(test_member_json),    cmocka_unit_test(test_apply_trace),
        cmocka_unit_test(test_revision_codec), cmocka_unit_test(test_revision_roundtrip),
        cmocka_unit_test(test_open_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
