/*
 * test_cluster_resync.c (integration, issue 11): a member that lost its
 * session, or forgot it after a stall, reads the slot table again and polls
 * under the table the others poll under until the new one's instant.
 *
 * The slot tables here are written by the test, leading the election as a
 * member of its own ("fake.central", signing with the members' table key
 * and naming each table's predecessor as a leader does), so the sequence is
 * exact.
 *
 * Lost session: node-0 owns every slot under epoch 1, then is frozen
 * (SIGSTOP) until ZooKeeper expires its session. Meanwhile epoch 2 gives
 * every slot to fake.central at once, and epoch 3 gives them back to node-0
 * a few seconds ahead (pending). node-0 resumes, and its re-read brings
 * epoch 3, pending: the table in force (epoch 2) it never saw. It used to
 * keep epoch 1 in force and poll every target until epoch 3's instant, slots
 * that epoch 2 had given away (duplicates, with a real owner there); now it
 * polls nothing before that instant, and everything after. (Seen once in
 * 60 loaded runs of test_cluster_status after a ZooKeeper outage: the leader
 * had planned a reconnecting member out, then back in.)
 *
 * Short stall under fence: node-0 forgets (its session may have expired)
 * but it has not, and the table it re-reads is pending with its own table
 * in force still named: it must go on polling its share meanwhile. (Dropping
 * its tables on forgetting, the first fix tried, left such a member polling
 * nothing while tables were superseded again and again under churn.)
 */
#include "cluster_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/harness.h"
#include "partition/partition.h"

#include <openssl/sha.h>

#define TARGETS 20

static cluster_fx fx;
static group_signer *table_key;

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool fake_leads(void *arg)
{
    coord_leader_t l;
    coord_leader_get(arg, &l);
    return l.is_me;
}

/* The tables the fake leader wrote: epoch, digest of the stored bytes, table. */
typedef struct written {
    int64_t epoch;
    uint8_t digest[32];
    partition_table *t;
} written;

static coord_t *fake; /* the test's leader */
static written w[3];

/* Writes the table after `epoch - 1` giving every slot to `owner`, in force
 * at effective_ms, naming `in_force` (NULL: none) as the table in force
 * when it was planned, signed with the members' table key. */
static void write_table(coord_t *leader, int64_t epoch, const char *owner, int64_t effective_ms,
                        const written *in_force, written *out)
{
    partition_member m = {owner, 1};
    partition_options opt;
    partition_options_init(&opt);
    opt.epoch = (uint64_t)epoch;
    opt.effective_ms = effective_ms;
    partition_table *t = NULL;
    partition_plan_stats st;
    char err[300];
    uint8_t *raw = NULL, *signed_table = NULL;
    size_t rlen = 0, slen = 0;
    assert_int_equal(partition_plan(NULL, &m, 1, NULL, &opt, &t, &st, err, sizeof err), 0);
    partition_prev prev = {0};
    if (in_force) {
        prev.epoch = (uint64_t)in_force->epoch;
        memcpy(prev.digest, in_force->digest, 32);
        prev.t = in_force->t;
    }
    assert_int_equal(
        partition_table_encode_prev(t, in_force ? &prev : NULL, &raw, &rlen, err, sizeof err), 0);
    assert_int_equal(group_table_sign(table_key, "central", epoch, raw, rlen, &signed_table, &slen),
                     0);
    free(raw);
    assert_int_equal(coord_assignment_write(leader, epoch - 1, signed_table, slen, NULL), 0);
    *out = (written){.epoch = epoch, .t = t};
    SHA256(signed_table, slen, out->digest);
    free(signed_table);
}

static bool node0_owns_all(void *arg)
{
    (void)arg;
    return cf_owned(&fx, "node-0.central") == TARGETS;
}

static bool node0_gone(void *arg)
{
    (void)arg;
    coord_members_t m = {0};
    if (coord_members_get(fx.obs, &m) != 0) return false;
    bool gone = true;
    for (size_t i = 0; i < m.count; i++)
        gone &= strcmp(m.members[i].id, "node-0.central") != 0;
    coord_members_free(&m);
    if (!gone) nap(100);
    return gone;
}

static bool all_polled_since(void *arg)
{
    cf_polls p;
    cf_count_polls(&fx, *(int64_t *)arg, cf_wall_ms() + 1, &p);
    if (p.targets_seen == TARGETS) return true;
    nap(100);
    return false;
}

/* The fixture, the table key, and a fake member leading the election. */
static coord_t *start_fake_leader(void)
{
    cf_start(&fx);
    static char pem[16384];
    FILE *kf = fopen(fx.table_key_path, "r");
    assert_non_null(kf);
    size_t plen = fread(pem, 1, sizeof pem, kf);
    fclose(kf);
    char err[300];
    assert_int_equal(group_signer_load(pem, plen, "table key", &table_key, err, sizeof err), 0);

    coord_member_info_t info = {.weight = 1};
    snprintf(info.host, sizeof info.host, "fake");
    coord_config_t cc = {.backend_url = fx.url,
                         .group = "central",
                         .member_id = "fake.central",
                         .session_timeout_ms = 4000,
                         .candidate = true,
                         .auth = fx.auth,
                         .info = &info};
    coord_t *c = coord_open(&cc, err, sizeof err);
    if (!c) fail_msg("%s", err);
    assert_true(th_wait_until(fake_leads, c, 20000 * th_slack()));
    return c;
}

/* node-0 (session_timeout_ms = 2000) owning every target under epoch 1,
 * all of them polled. */
static void node0_owns_everything(const char *extra, written *w1)
{
    write_table(fake, 1, "node-0.central", 0, NULL, w1);
    cf_node_start(&fx, 0, extra);
    char *body = cf_pipeline(&fx, TARGETS);
    cf_push(&fx, body);
    free(body);
    assert_true(th_wait_until(node0_owns_all, NULL, 30000 * th_slack()));
    int64_t t0 = cf_wall_ms();
    assert_true(th_wait_until(all_polled_since, &t0, 30000 * th_slack()));
}

/* Also after a failed assertion: the next test starts its own peers. */
static int teardown(void **state)
{
    (void)state;
    if (fake) coord_close(fake);
    fake = NULL;
    for (int i = 0; i < 3; i++)
        partition_table_free(w[i].t);
    memset(w, 0, sizeof w);
    group_signer_free(table_key);
    table_key = NULL;
    int unclean = fx.obs ? cf_stop(&fx) : 0;
    return unclean ? -1 : 0;
}

static void test_resync_obeys_what_it_read(void **state)
{
    (void)state;
    fake = start_fake_leader();
    node0_owns_everything(NULL, &w[0]);

    /* frozen until its session is gone: its member node leaves */
    assert_int_equal(kill(fx.nodes[0].proc.pid, SIGSTOP), 0);
    bool gone = th_wait_until(node0_gone, NULL, 30000 * th_slack());
    int64_t pending_at = 0;
    if (gone) {
        write_table(fake, 2, "fake.central", 0, &w[0], &w[1]); /* in force at once */
        pending_at = cf_wall_ms() + 5000 * th_slack();
        write_table(fake, 3, "node-0.central", pending_at, &w[1], &w[2]);
    }
    int64_t t_cont = cf_wall_ms();
    assert_int_equal(kill(fx.nodes[0].proc.pid, SIGCONT), 0);
    assert_true(gone);

    /* the samples are what we judge: let them accumulate past the instant */
    while (cf_wall_ms() < pending_at + 3000)
        nap(100);
    cf_polls before, after;
    cf_count_polls(&fx, t_cont, pending_at - 100, &before);
    cf_count_polls(&fx, pending_at + 1100, pending_at + 3000, &after);
    printf("# resumed %lld ms before epoch 3's instant: %d targets polled before it (owned by "
           "fake.central under epoch 2), %d after it\n",
           (long long)(pending_at - t_cont), before.targets_seen, after.targets_seen);
    if (before.targets_seen)
        fail_msg("node-0 polled %d targets under the table it had before its session expired "
                 "(epoch 1), while epoch 2 gave them to fake.central",
                 before.targets_seen);
    assert_int_equal(after.targets_seen, TARGETS);
    assert_int_equal(teardown(NULL), 0);
}

/* Whether node-0's log says it forgot its table after a stall, from *arg
 * (ms) on: the log is appended to by every test. */
static bool node0_forgot(void *arg)
{
    int64_t since = *(int64_t *)arg;
    FILE *f = fopen(fx.nodes[0].proc.log, "r");
    if (!f) return false;
    char line[1024];
    bool seen = false;
    while (!seen && fgets(line, sizeof line, f))
        seen = strstr(line, "did not run for") && strstr(line, "polling no shared target") &&
               cf_parse_ts(line) >= since;
    fclose(f);
    if (!seen) nap(50);
    return seen;
}

static void test_stall_keeps_the_table_in_force(void **state)
{
    (void)state;
    fake = start_fake_leader();
    node0_owns_everything("on_loss = fence\n", &w[0]);

    /* stalled past a third of its session (fence: it may have expired) but
     * well within it: its session and its share survive */
    assert_int_equal(kill(fx.nodes[0].proc.pid, SIGSTOP), 0);
    /* a table pending far ahead that still names epoch 1 in force, and one
     * superseding it (churn: joins and leaves) */
    int64_t pending_at = cf_wall_ms() + 8000 * th_slack();
    write_table(fake, 2, "fake.central", pending_at - 1000, &w[0], &w[1]);
    write_table(fake, 3, "fake.central", pending_at, &w[0], &w[2]);
    nap(1100); /* the stall itself: 0.55 of the session */
    int64_t t_cont = cf_wall_ms();
    assert_int_equal(kill(fx.nodes[0].proc.pid, SIGCONT), 0);
    int64_t since = t_cont - 1000; /* log stamps are the member's, whole ms */
    assert_true(th_wait_until(node0_forgot, &since, 10000 * th_slack()));

    while (cf_wall_ms() < pending_at + 3000)
        nap(100);
    /* from shortly after the re-read (fenced until then) to the instant */
    int64_t from = t_cont + 1500 * th_slack();
    cf_polls kept, after;
    cf_count_polls(&fx, from, pending_at - 100, &kept);
    cf_count_polls(&fx, pending_at + 1100, pending_at + 3000, &after);
    printf("# resumed %lld ms before epoch 3's instant: %d of %d targets polled from %lld ms "
           "after to the instant, %d after it\n",
           (long long)(pending_at - t_cont), kept.targets_seen, TARGETS, (long long)(from - t_cont),
           after.targets_seen);
    if (kept.targets_seen != TARGETS || kept.min_polls < 2)
        fail_msg("node-0 polled %d of %d targets (at least %d times each) under epoch 1, still in "
                 "force, after re-reading a pending table that names it",
                 kept.targets_seen, TARGETS, kept.min_polls);
    assert_int_equal(after.targets_seen, 0); /* epoch 3 gave them away */
    assert_int_equal(teardown(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_resync_obeys_what_it_read, teardown),
        cmocka_unit_test_teardown(test_stall_keeps_the_table_in_force, teardown),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
