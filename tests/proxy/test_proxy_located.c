/*
 * test_proxy_located.c (unit): the per-target answers of
 * GET .../assignment?target=T (proxy/located.c). Each is groupview's
 * locate document byte for byte, is rendered once per target while the
 * group's view holds, is rendered again once the view changes (a new slot
 * table moves the target), and the cache stays bounded whatever targets
 * clients ask for.
 */
#include "harness/harness.h"
#include "proxy/proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stores a table owned by `ids` (planned from nothing) at epoch. */
static void store_table(proxy_group *g, const char *const *ids, size_t n, int64_t epoch)
{
    partition_member m[4];
    for (size_t i = 0; i < n; i++)
        m[i] = (partition_member){ids[i], 1};
    partition_table *t = NULL;
    char err[256];
    assert_int_equal(partition_plan(NULL, m, n, NULL, NULL, &t, NULL, err, sizeof err), 0);
    t->epoch = (uint64_t)epoch;
    t->effective_ms = 0; /* in force at once */
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(partition_table_encode(t, &buf, &len, err, sizeof err), 0);
    assert_int_equal(groupview_set_table(&g->v, buf, len, epoch, err, sizeof err), 0);
    groupview_at(&g->v, 1000);
    g->changes++; /* as cache.c does for every event */
    free(buf);
    partition_table_free(t);
}

static char *expected(proxy_group *g, const char *target)
{
    json_t *doc = groupview_locate_json(&g->v, target);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    return text;
}

static void owner_is(proxy_group *g, const char *target, const char *id)
{
    size_t len = 0;
    const char *text = proxy_located_get(g, target, &len);
    assert_non_null(text);
    char *want = expected(g, target);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(text, want, len);
    free(want);
    json_t *doc = json_loadb(text, len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "owner"), "id")),
                        id);
    json_decref(doc);
}

static void test_cached_then_renewed(void **state)
{
    (void)state;
    proxy_group g;
    memset(&g, 0, sizeof g);
    groupview_init(&g.v);
    const char *both[] = {"a", "b"};
    store_table(&g, both, 2, 1);

    /* a target of each member under the first table */
    const char *ta = NULL, *tb = NULL;
    char names[64][32];
    for (int i = 0; i < 64 && !(ta && tb); i++) {
        snprintf(names[i], sizeof names[i], "tcp://10.0.0.%d:22", i);
        group_owner o;
        group_clock_owner_at(&g.v.clock, names[i], g.v.loaded_ms, &o);
        if (strcmp(o.owner_id, "a") == 0 && !ta) ta = names[i];
        if (strcmp(o.owner_id, "b") == 0 && !tb) tb = names[i];
    }
    assert_non_null(ta);
    assert_non_null(tb);
    owner_is(&g, ta, "a");
    owner_is(&g, tb, "b");

    /* the same view: the same text, not rendered again */
    size_t l1 = 0, l2 = 0;
    const char *p1 = proxy_located_get(&g, tb, &l1);
    const char *p2 = proxy_located_get(&g, tb, &l2);
    assert_ptr_equal(p1, p2);
    assert_int_equal(g.located.n, 2);

    /* b leaves: a new table gives a its targets; the cached answer must go */
    const char *only_a[] = {"a"};
    store_table(&g, only_a, 1, 2);
    owner_is(&g, tb, "a");
    owner_is(&g, ta, "a");

    proxy_located_free(&g.located);
    groupview_free(&g.v);
}

static void test_bounded(void **state)
{
    (void)state;
    proxy_group g;
    memset(&g, 0, sizeof g);
    groupview_init(&g.v);
    const char *one[] = {"a"};
    store_table(&g, one, 1, 1);
    /* clients asking for ever new targets: the cache empties, never grows */
    size_t most = 0;
    for (int i = 0; i < 5000; i++) {
        char t[64];
        snprintf(t, sizeof t, "http://host-%d.example:9100/metrics", i);
        size_t len = 0;
        assert_non_null(proxy_located_get(&g, t, &len));
        if (g.located.n > most) most = g.located.n;
    }
    assert_true(most <= 1024);
    /* a long target still answers (and alone fits the byte budget) */
    char *big = malloc(60000);
    memset(big, 'x', 59999);
    big[59999] = 0;
    size_t len = 0;
    assert_non_null(proxy_located_get(&g, big, &len));
    assert_true(len > 59999);
    free(big);
    /* not UTF-8: jansson refuses it, nothing is cached */
    size_t before = g.located.n;
    assert_null(proxy_located_get(&g, "tcp://\xff\xfe:1", &len));
    assert_int_equal(g.located.n, before);
    proxy_located_free(&g.located);
    groupview_free(&g.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_then_renewed),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
