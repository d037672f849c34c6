/*
 * test_coordinator_pubsub_unit.c: what a member does with a pub-sub message
 * before anything is delivered (also under valgrind): the decoder rejects
 * every truncation, every altered body byte, random garbage and oversized
 * junk, and never reads out of bounds; pubsub_listen is checked by
 * coord_open; a member with pub-sub opens and closes its socket cleanly
 * without a server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_test_util.h"

static void test_listen_config(void **state)
{
    (void)state;
    char err[256] = "";
    coord_config_t cfg = {.backend_url = "zookeeper://127.0.0.1:1/m",
                          .group = "g",
                          .member_id = "m1",
                          .pubsub_listen = "not a url"};
    assert_null(coord_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "pubsub_listen"));
    char longurl[300];
    memset(longurl, 'a', sizeof longurl - 1);
    longurl[sizeof longurl - 1] = 0;
    memcpy(longurl, "tcp://", 6);
    cfg.pubsub_listen = longurl;
    assert_null(coord_open(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "pubsub_listen"));

    /* a member with pub-sub, no server: the SUB socket opens and closes */
    cfg.pubsub_listen = "tcp://127.0.0.1:0";
    coord_t *c = coord_open(&cfg, err, sizeof err);
    assert_non_null(c);
    coord_status_t st;
    coord_get_status(c, &st);
    assert_string_equal(st.pubsub_endpoint, "");
    assert_string_equal(st.pubsub_publishing, "");
    assert_false(st.pubsub_connected);
    assert_int_equal(st.pubsub_received + st.pubsub_delivered + st.zk_delivered, 0);
    coord_close(c);
    /* "" means ZooKeeper only */
    cfg.pubsub_listen = "";
    c = coord_open(&cfg, err, sizeof err);
    assert_non_null(c);
    coord_close(c);
}

static void test_junk_never_decodes(void **state)
{
    (void)state;
    const char *body = "sources:\n  - name: cpu\n    interval: 10s\n";
    size_t len = 0;
    char *enc = trev_encode(7, body, &len), err[256];
    assert_non_null(enc);
    coord_revision_t out;
    assert_int_equal(coord_revision_decode(enc, len, &out, err, sizeof err), 0);
    assert_int_equal(out.number, 7);
    coord_revision_free(&out);
    size_t body_at = len - strlen(body);

    /* every truncation (exact-size copies, so valgrind sees any overread) */
    for (size_t n = 0; n < len; n++) {
        char *cut = malloc(n ? n : 1);
        memcpy(cut, enc, n);
        assert_int_equal(coord_revision_decode(cut, n, &out, err, sizeof err), COORD_EMALFORMED);
        free(cut);
    }
    /* every altered body byte: the sha256 no longer matches */
    for (size_t i = body_at; i < len; i++) {
        enc[i] ^= 0x20;
        assert_int_equal(coord_revision_decode(enc, len, &out, err, sizeof err), COORD_EMALFORMED);
        enc[i] ^= 0x20;
    }
    /* altered header bytes: rejected, or (a changed author, say) still a
     * self-consistent revision whose body matches its sha */
    for (size_t i = 0; i < body_at; i++) {
        enc[i] ^= 0x01;
        int rc = coord_revision_decode(enc, len, &out, err, sizeof err);
        if (rc == COORD_OK) {
            assert_int_equal(out.body_len, strlen(body));
            assert_memory_equal(out.body, body, out.body_len);
            coord_revision_free(&out);
        } else {
            assert_int_equal(rc, COORD_EMALFORMED);
        }
        enc[i] ^= 0x01;
    }
    /* random garbage, with and without a newline */
    unsigned seed = 12345;
    for (int k = 0; k < 2000; k++) {
        size_t n = 1 + (size_t)(rand_r(&seed) % 400);
        unsigned char *g = malloc(n);
        for (size_t i = 0; i < n; i++)
            g[i] = (unsigned char)rand_r(&seed);
        if (k % 2) g[rand_r(&seed) % n] = '\n';
        assert_int_equal(coord_revision_decode(g, n, &out, err, sizeof err), COORD_EMALFORMED);
        free(g);
    }
    /* big junk (nng refuses anything above max_node_bytes before this) */
    size_t big = 4u << 20;
    char *huge = malloc(big);
    memset(huge, '{', big);
    assert_int_equal(coord_revision_decode(huge, big, &out, err, sizeof err), COORD_EMALFORMED);
    huge[big / 2] = '\n';
    assert_int_equal(coord_revision_decode(huge, big, &out, err, sizeof err), COORD_EMALFORMED);
    free(huge);
    free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_config),
        cmocka_unit_test(test_junk_never_decodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
