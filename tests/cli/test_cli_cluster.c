/* test_cli_cluster.c -- meterctl's cluster commands against a real ZooKeeper.
 *
 * One standalone ZooKeeper (tests/harness/zk.h) for the whole binary; each
 * test uses its own group. The built meterctl runs as an operator runs it;
 * group members are simulated by coordinator handles opened here, filling
 * their member nodes per cluster-contract.md, and the first of them, as
 * leader, writes a slot table planned with partition/. Checked: push
 * (numbering, validation writes nothing, lost CAS exit 3, HMAC signature),
 * revisions, rollback, URL precedence and errors, members, status (a lagging
 * member makes it exit 5 and is named), assignment and whohas (against
 * partition_owner_id; during a handover the pending owner is never named as
 * the current one), push --wait with members that apply, one that
 * rejects (exit 1) and one that never answers (exit 4).
 */
#include "coordinator/coordinator.h"
#include "harness/zk.h"
#include "partition/partition.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zookeeper/zookeeper.h>

static th_zk zk;
static char url[512]; /* zookeeper://127.0.0.1:port/meterd-cli */
/* what an operator passes to write, from `meterctl init-credentials` (zk_up):
 * both, the credentials only, the key only */
static char creds[1300], auth_only[700], sign_only[700], op_auth[256];

/* ---- running meterctl ---------------------------------------------------- */

typedef struct run_result {
    int status;
    char *out;  /* stdout */
    char *err;  /* stderr */
    json_t *js; /* stdout parsed when it is JSON, else NULL */
} run_result;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 65536, n = 0, r;
    char *buf = malloc(cap);
    assert_non_null(buf);
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs `[env] meterctl ARGS` through the shell (test literals only). */
__attribute__((format(printf, 2, 3))) static run_result run_env(const char *env, const char *fmt,
                                                                ...)
{
    char args[4096], cmd[8192], outp[600], errp[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    th_path(outp, sizeof outp, "meterctl.out");
    th_path(errp, sizeof errp, "meterctl.err");
    /* METERD_TEST_WRAP="valgrind -q --error-exitcode=99" runs meterctl under a tool */
    const char *wrap = getenv("METERD_TEST_WRAP");
    snprintf(cmd, sizeof cmd, "%s %s '%s' %s >'%s' 2>'%s'", env ? env : "", wrap ? wrap : "",
             MeterctlPath, args, outp, errp);
    int64_t t0 = th_now_ms();
    int st = system(cmd);
    int64_t took = th_now_ms() - t0;
    assert_true(WIFEXITED(st));
    run_result r = {WEXITSTATUS(st), slurp(outp), slurp(errp), NULL};
    if (strstr(r.err, "Sanitizer") != NULL || strstr(r.err, "runtime error:") != NULL)
        fail_msg("meterctl %s: sanitizer report:\n%s", args, r.err);
    r.js = json_loads(r.out, 0, NULL);
    if (getenv("METERD_TEST_SHOW")) /* for a person reading the outputs */
        printf("$ meterctl %s\n%s%s[exit %d, %lld ms]\n", args, r.out, r.err, r.status,
               (long long)took);
    return r;
}

#define run(...) run_env(NULL, __VA_ARGS__)

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->js);
}

static void expect_status(const run_result *r, int status, const char *fragment)
{
    bool found = fragment == NULL || strstr(r->out, fragment) || strstr(r->err, fragment);
    if (r->status != status || !found)
        fail_msg("exit %d (expected %d); stdout:\n%s\nstderr:\n%s\n(expected '%s')", r->status,
                 status, r->out, r->err, fragment ? fragment : "");
}

static int64_t jint(json_t *o, const char *path_a, const char *path_b)
{
    json_t *v = json_object_get(o, path_a);
    if (path_b) v = json_object_get(v, path_b);
    assert_true(json_is_integer(v));
    return (int64_t)json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* ---- helpers -------------------------------------------------------------- */

static void sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void write_file(const char *name, const char *text, char *path, size_t cap, mode_t mode)
{
    assert_int_equal(th_write_file(name, text, path, cap), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static const char pipeline_a[] = "# revision A\n"
                                 "sources:\n"
                                 "  - name: ipmi\n"
                                 "    interval: 60\n"
                                 "    meters: [\"hardware.ipmi.*\"]\n"
                                 "    resources: [bmc-0001, bmc-0002, bmc-0042, bmc-0100]\n"
                                 "  - name: snmp\n"
                                 "    interval: 30\n"
                                 "    meters: [\"snmp.*\"]\n"
                                 "    resources: [bmc-0042, switch-1, switch-2]\n";

static const char pipeline_b[] = "sources:\n"
                                 "  - name: ipmi\n"
                                 "    interval: 120\n"
                                 "    meters: [\"hardware.ipmi.*\"]\n"
                                 "    resources: [bmc-0001]\n";

/* line 4, column 15: interval is not a number */
static const char pipeline_bad[] = "sources:\n"
                                   "  - name: ipmi\n"
                                   "    meters: [cpu]\n"
                                   "    interval: often\n";

/* ---- simulated members ----------------------------------------------------- */

enum { ON_REV_IGNORE, ON_REV_APPLY, ON_REV_REJECT };

typedef struct sim {
    coord_t *c;
    char id[64];
    coord_member_info_t info;
    pthread_mutex_t mu;
    atomic_int mode;
    bool legacy; /* an agent without acks: writes its member node only */
} sim;

static void sim_on_revision(void *arg, const coord_revision_t *rev)
{
    sim *s = arg;
    int mode = atomic_load(&s->mode);
    pthread_mutex_lock(&s->mu);
    if (s->c != NULL && mode != ON_REV_IGNORE) {
        if (mode == ON_REV_APPLY) {
            s->info.applied_revision = rev->number;
            snprintf(s->info.applied_sha256, sizeof s->info.applied_sha256, "%s", rev->sha256);
            snprintf(s->info.state, sizeof s->info.state, "running");
            s->info.last_error[0] = '\0';
            int64_t now = coord_trace_now_us(); /* no work: validated and applied at once */
            s->info.trace = (coord_apply_trace_t){.revision = rev->number,
                                                  .committed_us = rev->committed_ms * 1000,
                                                  .notified_us = rev->notified_us,
                                                  .received_us = rev->received_us,
                                                  .validated_us = now,
                                                  .applied_us = now};
        } else {
            snprintf(s->info.state, sizeof s->info.state, "rejected");
            snprintf(s->info.last_error, sizeof s->info.last_error,
                     "revision %lld: pipeline.yaml:4:15: error: interval must be a number",
                     (long long)rev->number);
        }
        if (s->legacy)
            coord_member_update(s->c, &s->info);
        else
            coord_member_ack(s->c, &s->info, rev->number, mode == ON_REV_REJECT);
    }
    pthread_mutex_unlock(&s->mu);
}

static void sim_log(void *arg, int level, const char *msg)
{
    (void)arg;
    (void)level;
    (void)msg;
}

static void sim_open(sim *s, const char *group, const char *id, int mode)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    atomic_store(&s->mode, mode);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->info.host, sizeof s->info.host, "host-%s", id);
    s->info.pid = 4242;
    snprintf(s->info.namespaces, sizeof s->info.namespaces, "central");
    s->info.weight = 1;
    snprintf(s->info.api, sizeof s->info.api, "http://127.0.0.1:%d", 8000 + (int)strlen(id));
    snprintf(s->info.state, sizeof s->info.state, "starting");
    coord_config_t cfg = {
        .backend_url = url,
        .group = group,
        .member_id = id,
        .session_timeout_ms = 2000,
        .candidate = true,
        .auth = op_auth, /* members write where the operator created the tree */
        .info = &s->info,
        .cb = {.revision = sim_on_revision, .log = sim_log},
        .cb_arg = s,
    };
    char err[256];
    coord_t *c = coord_open(&cfg, err, sizeof err);
    if (c == NULL) fail_msg("coord_open %s: %s", id, err);
    pthread_mutex_lock(&s->mu);
    s->c = c;
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(coord_wait_ready(c, 10000), COORD_OK);
}

static void sim_set(sim *s, int64_t applied, const char *sha, const char *digest, int64_t owned)
{
    pthread_mutex_lock(&s->mu);
    s->info.applied_revision = applied;
    snprintf(s->info.applied_sha256, sizeof s->info.applied_sha256, "%s", sha);
    snprintf(s->info.assignment_digest, sizeof s->info.assignment_digest, "%s", digest);
    s->info.owned = owned;
    snprintf(s->info.state, sizeof s->info.state, "running");
    assert_int_equal(coord_member_update(s->c, &s->info), COORD_OK);
    pthread_mutex_unlock(&s->mu);
}

static void sim_close(sim *s)
{
    pthread_mutex_lock(&s->mu);
    coord_t *c = s->c;
    s->c = NULL;
    pthread_mutex_unlock(&s->mu);
    coord_close(c);
    pthread_mutex_destroy(&s->mu);
}

/* Waits until `meterctl members` shows every sim with the given applied revision. */
static void wait_members_applied(const char *group, sim *sims, size_t n, int64_t applied)
{
    int64_t deadline = th_now_ms() + 10000;
    for (;;) {
        run_result r = run("members --group %s --zk '%s' -o json", group, url);
        size_t ok = 0;
        json_t *mem = json_object_get(r.js, "members");
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < json_array_size(mem); j++) {
                json_t *m = json_array_get(mem, j);
                if (strcmp(jstr(m, "id"), sims[i].id) == 0 &&
                    jint(m, "applied_revision", NULL) == applied)
                    ok++;
            }
        run_free(&r);
        if (ok == n) return;
        if (th_now_ms() > deadline)
            fail_msg("members of %s never showed revision %lld", group, (long long)applied);
        usleep(20000);
    }
}

/* ---- tests ------------------------------------------------------------------ */

static void test_push_revisions_rollback(void **state)
{
    (void)state;
    char a[600], b[600], bad[600], sha_a[65], sha_b[65];
    write_file("a.yaml", pipeline_a, a, sizeof a, 0644);
    write_file("b.yaml", pipeline_b, b, sizeof b, 0644);
    write_file("bad.yaml", pipeline_bad, bad, sizeof bad, 0644);
    sha256_hex(pipeline_a, strlen(pipeline_a), sha_a);
    sha256_hex(pipeline_b, strlen(pipeline_b), sha_b);

    run_result r = run("push '%s' --group pushes --zk '%s' --author ops -o json %s", a, url, creds);
    expect_status(&r, 0, NULL);
    assert_int_equal(jint(r.js, "revision", NULL), 1);
    assert_string_equal(jstr(r.js, "sha256"), sha_a);
    assert_string_equal(jstr(r.js, "author"), "ops");
    run_free(&r);

    /* invalid: file:line:column, exit 1, nothing written */
    r = run("push '%s' --group pushes --zk '%s' %s", bad, url, creds);
    expect_status(&r, 1, "bad.yaml:4:15: error:");
    assert_non_null(strstr(r.err, "nothing written"));
    run_free(&r);
    /* a publisher the agents would refuse is refused by push as by validate
     * (one registry): before, push saw every scheme as foreign and wrote it */
    char badpub[600];
    write_file("badpub.yaml",
               "sources:\n  - name: s\n    meters: ['*']\n    sinks: [k]\n"
               "sinks:\n  - name: k\n    publishers: ['file://relative/path']\n",
               badpub, sizeof badpub, 0644);
    r = run("push '%s' --group pushes --zk '%s' %s", badpub, url, creds);
    expect_status(&r, 1, "badpub.yaml:7:");
    assert_non_null(strstr(r.err, "nothing written"));
    run_free(&r);
    r = run("revisions --group pushes --zk '%s' -o json", url);
    expect_status(&r, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(r.js, "revisions")), 1);
    assert_int_equal(jint(r.js, "current", NULL), 1);
    run_free(&r);

    /* stale --if-revision: exit 3 naming the winner */
    r = run("push '%s' --group pushes --zk '%s' --if-revision 0 %s", b, url, creds);
    expect_status(&r, 3, "revision 1 is current");
    assert_non_null(strstr(r.err, "by ops"));
    run_free(&r);
    r = run("push '%s' --group pushes --zk '%s' --if-revision 1 %s", b, url, creds);
    expect_status(&r, 0, "revision 2 ");
    assert_non_null(strstr(r.out, sha_b));
    run_free(&r);

    /* rollback 1: revision 3 with revision 1's body */
    r = run("rollback 1 --group pushes --zk '%s' -o json %s", url, creds);
    expect_status(&r, 0, NULL);
    assert_int_equal(jint(r.js, "revision", NULL), 3);
    assert_int_equal(jint(r.js, "rollback_of", NULL), 1);
    assert_string_equal(jstr(r.js, "sha256"), sha_a);
    run_free(&r);

    r = run("revisions --group pushes --zk '%s' -o json", url);
    expect_status(&r, 0, NULL);
    json_t *revs = json_object_get(r.js, "revisions");
    assert_int_equal(json_array_size(revs), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *o = json_array_get(revs, i);
        assert_int_equal(jint(o, "number", NULL), (int64_t)i + 1);
        assert_string_equal(jstr(o, "sha256"), i == 1 ? sha_b : sha_a);
        assert_int_equal(jint(o, "size", NULL), (int64_t)strlen(i == 1 ? pipeline_b : pipeline_a));
        assert_true(json_is_true(json_object_get(o, "current")) == (i == 2));
    }
    run_free(&r);
    r = run("revisions --group pushes --zk '%s'", url);
    expect_status(&r, 0, "REVISION");
    assert_non_null(strstr(r.out, "*  3"));
    run_free(&r);

    r = run("rollback 99 --group pushes --zk '%s' %s", url, creds);
    expect_status(&r, 1, "revision 99 is not kept");
    run_free(&r);
    r = run("rollback x --group pushes --zk '%s' %s", url, creds);
    expect_status(&r, 2, "not a revision number");
    run_free(&r);
}

/* file_sd: push sends the expanded pipeline (the revision carries the
 * targets and their labels, so every member sees one list): its sha256 is
 * that of the same pipeline written out by hand, as validate reports it. */
static void test_push_file_sd(void **state)
{
    (void)state;
    char sd_pipe[600], hand[600], doc[600];
    write_file("sd/targets.json",
               "[{\"targets\": [\"10.0.0.1:9100\"], \"labels\": {\"job\": \"node\"}}]", doc,
               sizeof doc, 0644);
    write_file("sd/pipe.yaml",
               "sources:\n  - name: s\n    interval: 10\n    meters: ['scrape.*']\n"
               "    file_sd: [targets.json]\n",
               sd_pipe, sizeof sd_pipe, 0644);
    write_file("hand.yaml",
               "sources:\n  - name: s\n    interval: 10\n    meters: ['scrape.*']\n"
               "    resources: ['http://10.0.0.1:9100/metrics']\n    target_labels:\n"
               "      'http://10.0.0.1:9100/metrics': {job: node}\n",
               hand, sizeof hand, 0644);
    run_result r = run("validate -o json '%s'", hand);
    expect_status(&r, 0, NULL);
    char want[65];
    snprintf(want, sizeof want, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(r.js, "files"), 0), "sha256")));
    run_free(&r);
    r = run("validate -o json '%s'", sd_pipe);
    expect_status(&r, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(r.js, "files"), 0), "sha256")),
                        want);
    run_free(&r);
    r = run("push '%s' --group filesd --zk '%s' -o json %s", sd_pipe, url, creds);
    expect_status(&r, 0, NULL);
    assert_string_equal(jstr(r.js, "sha256"), want);
    run_free(&r);
    /* a document that cannot be read: nothing written, the path named */
    write_file("sd/gone.yaml",
               "sources:\n  - name: s\n    meters: ['scrape.*']\n    file_sd: [nope.json]\n",
               sd_pipe, sizeof sd_pipe, 0644);
    r = run("push '%s' --group filesd --zk '%s' %s", sd_pipe, url, creds);
    expect_status(&r, 1, "nope.json: No such file or directory");
    assert_non_null(strstr(r.err, "nothing written"));
    run_free(&r);
}

static void test_sign(void **state)
{
    (void)state;
    char a[600], key[600], loose[600];
    write_file("sign.yaml", pipeline_a, a, sizeof a, 0644);
    write_file("key", "s3cret-key\n\n", key, sizeof key, 0600);
    write_file("loose-key", "s3cret-key\n", loose, sizeof loose, 0644);

    run_result r =
        run("push '%s' --group signed --zk '%s' --sign-key '%s' %s", a, url, loose, auth_only);
    expect_status(&r, 2, "chmod 600");
    run_free(&r);

    r = run("push '%s' --group signed --zk '%s' --sign-key '%s' -o json %s", a, url, key,
            auth_only);
    expect_status(&r, 0, "legacy HMAC key");
    expect_status(&r, 0, NULL);
    assert_true(json_is_true(json_object_get(r.js, "signed")));
    run_free(&r);

    /* the stored signature verifies with the key's bytes minus trailing newlines */
    unsigned char md[32];
    unsigned int mdlen = 0;
    HMAC(EVP_sha256(), "s3cret-key", 10, (const unsigned char *)pipeline_a, strlen(pipeline_a), md,
         &mdlen);
    char want[128] = "hmac-sha256:";
    for (int i = 0; i < 32; i++)
        snprintf(want + 12 + 2 * i, 3, "%02x", md[i]);
    coord_config_t cfg = {.backend_url = url, .group = "signed"};
    char err[256];
    coord_t *c = coord_open(&cfg, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(coord_wait_ready(c, 10000), COORD_OK);
    coord_revision_t rev;
    assert_int_equal(coord_revision_read(c, &rev), COORD_OK);
    assert_string_equal(rev.signature, want);
    coord_revision_free(&rev);

    /* rollback keeps a legacy signature (same body, HMAC names no number) */
    r = run("rollback 1 --group signed --zk '%s' --insecure %s", url, auth_only);
    expect_status(&r, 0, "revision 2 ");
    run_free(&r);
    assert_int_equal(coord_revision_read(c, &rev), COORD_OK);
    assert_int_equal(rev.number, 2);
    assert_string_equal(rev.signature, want);
    coord_revision_free(&rev);
    coord_close(c);
}

static void test_errors_and_url_precedence(void **state)
{
    (void)state;
    char a[600], conf[600], badconf[600], env[700];
    write_file("e.yaml", pipeline_b, a, sizeof a, 0644);
    char text[1024];
    snprintf(text, sizeof text, "[coordination]\nbackend_url = %s\n", url);
    write_file("meterd.conf", text, conf, sizeof conf, 0644);
    write_file("nozk.conf", "[coordination]\nsession_timeout = 2000\n", badconf, sizeof badconf,
               0644);

    run_result r = run("push '%s' --group errs --zk '%s' %s", a, url, creds);
    expect_status(&r, 0, "revision 1 ");
    run_free(&r);

    /* unreachable: exit 6 within the connect timeout */
    int port = th_free_port();
    int64_t t0 = th_now_ms();
    r = run("status --group errs --zk zookeeper://127.0.0.1:%d/x --connect-timeout 1", port);
    expect_status(&r, 6, "cannot reach ZooKeeper at 127.0.0.1:");
    if (!th_slow()) assert_true(th_now_ms() - t0 < 5000);
    run_free(&r);
    r = run("status --group errs --zk zk://127.0.0.1/x");
    expect_status(&r, 2, "expected zookeeper://");
    run_free(&r);
    r = run("status --group errs");
    expect_status(&r, 2, "no ZooKeeper given");
    run_free(&r);
    r = run("status --zk '%s'", url);
    expect_status(&r, 2, "--group G is required");
    run_free(&r);
    /* the shared tree is the operator's (created with credentials): an
     * unknown group cannot be looked into, and meterctl says why */
    r = run("status --group nosuchgroup --zk '%s' -o json", url);
    expect_status(&r, 6, "unknown group on a protected tree?");
    assert_int_equal(jint(r.js, "exit", NULL), 6);
    run_free(&r);
    r = run("whohas --group errs --zk '%s'", url);
    expect_status(&r, 2, "no target given");
    run_free(&r);
    r = run("members --group errs --zk '%s' --bogus", url);
    expect_status(&r, 2, "unknown option '--bogus'");
    run_free(&r);

    /* -c alone works; METERD_ZK beats -c; --zk beats METERD_ZK */
    r = run("revisions --group errs -c '%s'", conf);
    expect_status(&r, 0, "REVISION");
    run_free(&r);
    r = run_env("METERD_ZK=zk://nowhere", "revisions --group errs -c '%s'", conf);
    expect_status(&r, 2, "bad ZooKeeper URL (from METERD_ZK)");
    run_free(&r);
    snprintf(env, sizeof env, "METERD_ZK='%s'", url);
    r = run_env(env, "revisions --group errs -c '%s'", badconf);
    expect_status(&r, 0, "REVISION");
    run_free(&r);
    r = run_env("METERD_ZK=zk://nowhere", "revisions --group errs --zk '%s'", url);
    expect_status(&r, 0, "REVISION");
    run_free(&r);
    r = run("revisions --group errs -c '%s'", badconf);
    expect_status(&r, 2, "has no [coordination] backend_url");
    run_free(&r);

    /* --auth-file must be 0600 */
    char auth[600];
    write_file("auth", "ops:pw\n", auth, sizeof auth, 0640);
    r = run("push '%s' --group errs --zk '%s' --auth-file '%s' --insecure", a, url, auth);
    expect_status(&r, 2, "chmod 600");
    run_free(&r);
}

/* Three members, a table written by the leader, then every read command. */
static void test_views(void **state)
{
    (void)state;
    const char *group = "central";
    char a[600], sha_a[65];
    write_file("views.yaml", pipeline_a, a, sizeof a, 0644);
    sha256_hex(pipeline_a, strlen(pipeline_a), sha_a);

    sim s[3];
    sim_open(&s[0], group, "m1.central", ON_REV_IGNORE);
    coord_leader_t l;
    coord_leader_get(s[0].c, &l);
    assert_true(l.is_me);
    sim_open(&s[1], group, "m2.central", ON_REV_IGNORE);
    sim_open(&s[2], group, "m3.central", ON_REV_IGNORE);

    /* no table yet: say so */
    run_result r = run("whohas bmc-0042 --group %s --zk '%s'", group, url);
    expect_status(&r, 0, "no slot table yet: each member owns every slot");
    run_free(&r);
    r = run("push '%s' --group %s --zk '%s' %s", a, group, url, creds);
    expect_status(&r, 0, "revision 1 ");
    run_free(&r);
    r = run("assignment --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 0, NULL);
    assert_true(json_is_null(json_object_get(r.js, "digest")));
    assert_int_equal(jint(r.js, "epoch", NULL), 0);
    assert_int_equal(jint(r.js, "targets", NULL), 6);
    assert_non_null(strstr(jstr(r.js, "note"), "no slot table yet"));
    run_free(&r);

    /* the leader plans over the 6 distinct targets and writes the table */
    const char *targets[] = {"bmc-0001", "bmc-0002", "bmc-0042",
                             "bmc-0100", "switch-1", "switch-2"};
    static uint32_t load[PARTITION_SLOTS];
    memset(load, 0, sizeof load);
    for (size_t i = 0; i < 6; i++)
        load[partition_slot_of(targets[i], strlen(targets[i]))]++;
    partition_member pm[3] = {{"m1.central", 1}, {"m2.central", 1}, {"m3.central", 1}};
    partition_options opt;
    partition_options_init(&opt);
    opt.effective_ms = 1795000000000;
    partition_table *t = NULL;
    char err[256];
    assert_int_equal(partition_plan(NULL, pm, 3, load, &opt, &t, NULL, err, sizeof err), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(partition_table_encode(t, &buf, &len, err, sizeof err), 0);
    int64_t epoch = 0;
    assert_int_equal(coord_assignment_write(s[0].c, 0, buf, len, &epoch), COORD_OK);
    assert_int_equal(epoch, 1);
    char digest[65];
    sha256_hex(buf, len, digest);
    free(buf);
    int64_t owned[3] = {0};
    for (size_t i = 0; i < 6; i++)
        owned[partition_owner(t, partition_slot_of(targets[i], strlen(targets[i])))]++;
    for (int i = 0; i < 3; i++)
        sim_set(&s[i], 1, sha_a, digest, owned[i]);
    wait_members_applied(group, s, 3, 1);

    r = run("members --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 0, NULL);
    json_t *mem = json_object_get(r.js, "members");
    assert_int_equal(json_array_size(mem), 3);
    assert_string_equal(jstr(json_array_get(mem, 1), "id"), "m2.central");
    assert_string_equal(jstr(json_array_get(mem, 1), "host"), "host-m2.central");
    assert_string_equal(jstr(json_array_get(mem, 1), "assignment_digest"), digest);
    run_free(&r);
    r = run("members --group %s --zk '%s'", group, url);
    expect_status(&r, 0, "host-m3.central");
    assert_non_null(strstr(r.out, "MEMBER"));
    run_free(&r);

    r = run("status --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 0, NULL);
    assert_true(json_is_true(json_object_get(r.js, "consistent")));
    assert_string_equal(jstr(json_object_get(r.js, "leader"), "member_id"), "m1.central");
    assert_int_equal(jint(r.js, "assignment", "epoch"), 1);
    assert_int_equal(jint(r.js, "assignment", "effective_ms"), 1795000000000);
    assert_string_equal(jstr(json_object_get(r.js, "assignment"), "digest"), digest);
    assert_int_equal(jint(r.js, "revision", "number"), 1);
    run_free(&r);
    r = run("status --group %s --zk '%s'", group, url);
    expect_status(&r, 0, "consistent: 3 members at revision 1, slot table epoch 1");
    run_free(&r);

    /* assignment: slots and targets per member match the table */
    r = run("assignment --group %s --zk '%s' --target bmc-0042 -o json", group, url);
    expect_status(&r, 0, NULL);
    assert_int_equal(jint(r.js, "epoch", NULL), 1);
    assert_int_equal(jint(r.js, "targets", NULL), 6);
    mem = json_object_get(r.js, "members");
    assert_int_equal(json_array_size(mem), 3);
    int64_t slots = 0;
    for (int i = 0; i < 3; i++) {
        json_t *m = json_array_get(mem, (size_t)i);
        int32_t idx = partition_member_index(t, jstr(m, "id"));
        assert_true(idx >= 0);
        assert_int_equal(jint(m, "targets", NULL), owned[idx]);
        slots += jint(m, "slots", NULL);
    }
    assert_int_equal(slots, PARTITION_SLOTS);
    json_t *tg = json_object_get(r.js, "target");
    assert_int_equal(jint(tg, "slot", NULL), partition_slot_of("bmc-0042", 8));
    const char *owner = partition_owner_id(t, "bmc-0042", 8);
    assert_string_equal(jstr(json_object_get(tg, "owner"), "id"), owner);
    run_free(&r);

    /* whohas: owner, its host and api */
    r = run("whohas bmc-0042 --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 0, NULL);
    json_t *o = json_object_get(r.js, "owner");
    assert_string_equal(jstr(o, "id"), owner);
    char host[128];
    snprintf(host, sizeof host, "host-%s", owner);
    assert_string_equal(jstr(o, "host"), host);
    assert_non_null(strstr(jstr(o, "api"), "http://127.0.0.1:"));
    assert_int_equal(jint(r.js, "epoch", NULL), 1);
    assert_int_equal(jint(r.js, "slot", NULL), partition_slot_of("bmc-0042", 8));
    assert_true(json_is_true(json_object_get(r.js, "known")));
    run_free(&r);
    r = run("whohas bmc-0042 --group %s --zk '%s'", group, url);
    expect_status(&r, 0, owner);
    run_free(&r);

    /* m3 lags (revision) and m2 obeys an old table: exit 5, both named */
    sim_set(&s[2], 0, "", digest, owned[2]);
    sim_set(&s[1], 1, sha_a, "", owned[1]);
    wait_members_applied(group, &s[2], 1, 0);
    int64_t deadline = th_now_ms() + 10000;
    for (;;) {
        r = run("status --group %s --zk '%s'", group, url);
        if (r.status == 5 && strstr(r.out, "m2.central: lags")) break;
        if (th_now_ms() > deadline) expect_status(&r, 5, "m2.central: lags");
        run_free(&r);
        usleep(20000);
    }
    expect_status(&r, 5, "m3.central: lags: applied revision 0 < current 1");
    assert_null(strstr(r.out, "m1.central:"));
    run_free(&r);
    r = run("status --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 5, NULL);
    assert_true(json_is_false(json_object_get(r.js, "consistent")));
    assert_int_equal(json_array_size(json_object_get(r.js, "problems")), 2);
    run_free(&r);

    partition_table_free(t);
    for (int i = 0; i < 3; i++)
        sim_close(&s[i]);
}

/* An encoded table whose every slot belongs to `owner`, in force from eff. */
static uint8_t *one_owner_table(const partition_member *pm, size_t n, const char *owner,
                                int64_t eff, size_t *len)
{
    char err[256];
    partition_table *t = partition_table_new(pm, n, err, sizeof err);
    assert_non_null(t);
    int32_t idx = partition_member_index(t, owner);
    assert_true(idx >= 0);
    for (uint32_t s = 0; s < PARTITION_SLOTS; s++)
        t->owner[s] = (uint16_t)idx;
    t->effective_ms = eff;
    uint8_t *buf = NULL;
    assert_int_equal(partition_table_encode(t, &buf, len, err, sizeof err), 0);
    partition_table_free(t);
    return buf;
}

/*
 * Regression: during a handover the stored table is pending, and the agents
 * follow the one before it until its instant. whohas used to name the
 * pending table's owner as the current one. Now: the owner now is unknown
 * (null), the pending owner comes with its instant; a table about to be in
 * force is waited for and then answered as current.
 */
static void test_whohas_handover(void **state)
{
    (void)state;
    const char *group = "handover";
    char a[600];
    write_file("ho.yaml", pipeline_a, a, sizeof a, 0644);
    sim s[2];
    sim_open(&s[0], group, "h1.central", ON_REV_IGNORE);
    sim_open(&s[1], group, "h2.central", ON_REV_IGNORE);
    run_result r = run("push '%s' --group %s --zk '%s' %s", a, group, url, creds);
    expect_status(&r, 0, "revision 1 ");
    run_free(&r);
    partition_member pm[2] = {{"h1.central", 1}, {"h2.central", 1}};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    /* epoch 1: h1 owns everything, in force */
    size_t len = 0;
    uint8_t *buf = one_owner_table(pm, 2, "h1.central", now - 1000, &len);
    int64_t epoch = 0;
    assert_int_equal(coord_assignment_write(s[0].c, 0, buf, len, &epoch), COORD_OK);
    char digest1[65], sha_a[65];
    sha256_hex(buf, len, digest1);
    sha256_hex(pipeline_a, strlen(pipeline_a), sha_a);
    free(buf);
    sim_set(&s[0], 1, sha_a, digest1, 6);
    sim_set(&s[1], 1, sha_a, digest1, 0);
    wait_members_applied(group, s, 2, 1);
    r = run("whohas bmc-0042 --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 0, NULL);
    assert_string_equal(jstr(json_object_get(r.js, "owner"), "id"), "h1.central");
    assert_true(json_is_null(json_object_get(r.js, "pending")));
    run_free(&r);

    /* epoch 2: everything moves to h2 in 10 minutes: h2 is not the owner now */
    int64_t eff = now + 600000;
    buf = one_owner_table(pm, 2, "h2.central", eff, &len);
    assert_int_equal(coord_assignment_write(s[0].c, epoch, buf, len, &epoch), COORD_OK);
    free(buf);
    r = run("whohas bmc-0042 --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 0, NULL);
    assert_true(json_is_null(json_object_get(r.js, "owner")));
    json_t *p = json_object_get(r.js, "pending");
    assert_string_equal(jstr(json_object_get(p, "owner"), "id"), "h2.central");
    assert_int_equal(jint(p, "effective_ms", NULL), eff);
    assert_int_equal(jint(p, "epoch", NULL), 2);
    run_free(&r);
    r = run("whohas bmc-0042 --group %s --zk '%s'", group, url);
    expect_status(&r, 0, "owner now unknown");
    assert_null(strstr(r.out, ", owner h2.central"));
    assert_non_null(strstr(r.out, "(slot table epoch 2, pending): h2.central"));
    run_free(&r);
    r = run("assignment --group %s --zk '%s' --target bmc-0042 -o json", group, url);
    expect_status(&r, 0, NULL);
    assert_true(json_is_true(json_object_get(r.js, "pending")));
    assert_true(json_is_null(json_object_get(json_object_get(r.js, "target"), "owner")));
    run_free(&r);
    r = run("assignment --group %s --zk '%s'", group, url);
    expect_status(&r, 0, "slot table epoch 2, pending: in force from");
    run_free(&r);
    /* members obeying epoch 1 until epoch 2's instant do not lag */
    r = run("status --group %s --zk '%s'", group, url);
    expect_status(&r, 0, "consistent: 2 members at revision 1, slot table epoch 2");
    run_free(&r);

    /* epoch 3: back to h1 within a second: whohas waits and answers it as current */
    buf = one_owner_table(pm, 2, "h1.central", now + 1000, &len);
    assert_int_equal(coord_assignment_write(s[0].c, epoch, buf, len, &epoch), COORD_OK);
    free(buf);
    r = run("whohas bmc-0042 --group %s --zk '%s' -o json", group, url);
    expect_status(&r, 0, NULL);
    assert_string_equal(jstr(json_object_get(r.js, "owner"), "id"), "h1.central");
    assert_true(json_is_null(json_object_get(r.js, "pending")));
    assert_int_equal(jint(r.js, "epoch", NULL), 3);
    run_free(&r);
    for (int i = 0; i < 2; i++)
        sim_close(&s[i]);
}

static void test_push_wait(void **state)
{
    (void)state;
    const char *group = "waiting";
    char a[600], b[600];
    write_file("wa.yaml", pipeline_a, a, sizeof a, 0644);
    write_file("wb.yaml", pipeline_b, b, sizeof b, 0644);
    sim s[3];
    sim_open(&s[0], group, "w1.central", ON_REV_APPLY);
    sim_open(&s[1], group, "w2.central", ON_REV_APPLY);
    sim_open(&s[2], group, "w3.central", ON_REV_APPLY);
    /* a group of new agents and an old one, which acknowledges in its
     * member node only: the wait reads that node once the others acked */
    pthread_mutex_lock(&s[1].mu);
    s[1].legacy = true;
    pthread_mutex_unlock(&s[1].mu);

    run_result r = run("push '%s' --group %s --zk '%s' --wait -o json %s", a, group, url, creds);
    expect_status(&r, 0, NULL);
    json_t *w = json_object_get(r.js, "wait");
    assert_string_equal(jstr(w, "result"), "applied");
    assert_int_equal(jint(w, "applied", NULL), 3);
    json_t *mem = json_object_get(w, "members");
    assert_int_equal(json_array_size(mem), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *m = json_array_get(mem, i);
        assert_string_equal(jstr(m, "result"), "applied");
        assert_int_equal(jint(m, "applied_revision", NULL), 1);
        assert_true(jint(m, "latency_ms", NULL) >= 0);
        if (!th_slow()) assert_true(jint(m, "latency_ms", NULL) < 10000);
    }
    /* the member that applied last, and its longest stage (issue 19) */
    json_t *slow = json_object_get(w, "slowest");
    assert_non_null(strstr(jstr(slow, "member"), ".central"));
    json_t *stages = json_object_get(slow, "stages_ms");
    assert_int_equal(json_object_size(stages), 5);
    const char *stage = jstr(slow, "stage");
    assert_non_null(json_object_get(stages, stage));
    assert_true(json_real_value(json_object_get(slow, "stage_ms")) >= 0);
    run_free(&r);

    /* one member rejects: exit 1 with the table and its error */
    atomic_store(&s[2].mode, ON_REV_REJECT);
    r = run("push '%s' --group %s --zk '%s' --wait --timeout 20 %s", b, group, url, creds);
    expect_status(&r, 1, "rejected: pipeline.yaml:4:15: error: interval must be a number");
    assert_non_null(strstr(r.out, "MEMBER"));
    assert_non_null(strstr(r.out, "LATENCY_MS"));
    assert_non_null(strstr(r.out, "2 applied, 1 rejected, 0 pending"));
    assert_non_null(strstr(r.out, "slowest: w"));
    assert_non_null(strstr(r.out, "; its slowest stage: "));
    run_free(&r);

    /* one member never answers: exit 4 after the timeout, it is pending.
     * The timeout leaves the old member (read after WAIT_FALLBACK_MS, 1 s)
     * time to apply and be read even under a sanitizer: with 0.5 s its one
     * read fell at the deadline, before its write under ASan */
    atomic_store(&s[2].mode, ON_REV_IGNORE);
    int64_t t0 = th_now_ms();
    r = run("push '%s' --group %s --zk '%s' --wait --timeout 3 -o json %s", a, group, url, creds);
    expect_status(&r, 4, NULL);
    if (!th_slow()) assert_true(th_now_ms() - t0 < 10000);
    w = json_object_get(r.js, "wait");
    assert_string_equal(jstr(w, "result"), "timeout");
    assert_int_equal(jint(w, "pending", NULL), 1);
    json_t *m3 = json_array_get(json_object_get(w, "members"), 2);
    assert_string_equal(jstr(m3, "id"), "w3.central");
    assert_string_equal(jstr(m3, "result"), "pending");
    assert_true(json_is_null(json_object_get(m3, "latency_ms")));
    run_free(&r);

    for (int i = 0; i < 3; i++)
        sim_close(&s[i]);
}

/* A tree created with credentials: writes need --auth-file, reads do not. */
static void test_acl(void **state)
{
    (void)state;
    char acl_url[600]; /* a tree of its own: the shared one has the operator's ACLs */
    snprintf(acl_url, sizeof acl_url, "zookeeper://%s/meterd-cli-acl", zk.hosts);
    coord_config_t cfg = {.backend_url = acl_url, .group = "secured", .auth = "ops:pw"};
    char err[256];
    coord_t *c = coord_open(&cfg, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(coord_wait_ready(c, 10000), COORD_OK);
    char a[600], auth[600], wrong[600];
    write_file("acl.yaml", pipeline_b, a, sizeof a, 0644);
    write_file("ops.auth", "ops:pw\n", auth, sizeof auth, 0600);
    write_file("wrong.auth", "ops:nope\n", wrong, sizeof wrong, 0600);

    run_result r = run("push '%s' --group secured --zk '%s'", a, acl_url);
    expect_status(&r, 2,
                  "refusing to write without ZooKeeper credentials (--auth-file) and a "
                  "signing key (--sign-key): create them with 'meterctl init-credentials");
    run_free(&r);
    r = run("push '%s' --group secured --zk '%s' --insecure", a, acl_url);
    expect_status(&r, 1, "ZooKeeper refused the write (ACLs): give the group's credentials");
    run_free(&r);
    r = run("push '%s' --group secured --zk '%s' --auth-file '%s' %s", a, acl_url, wrong,
            sign_only);
    expect_status(&r, 1, "wrong credentials in --auth-file");
    run_free(&r);
    r = run("push '%s' --group secured --zk '%s' --auth-file '%s' %s", a, acl_url, auth, sign_only);
    expect_status(&r, 0, "revision 1 ");
    run_free(&r);
    r = run("revisions --group secured --zk '%s' -o json", acl_url);
    expect_status(&r, 0, NULL);
    assert_int_equal(jint(r.js, "current", NULL), 1);
    run_free(&r);
    coord_close(c);
}

static int zk_up(void **state)
{
    (void)state;
    unsetenv("METERD_ZK");
    if (th_zk_start(&zk) != 0) return -1;
    snprintf(url, sizeof url, "zookeeper://%s/meterd-cli", zk.hosts);
    char dir[512];
    th_path(dir, sizeof dir, "creds");
    run_result r = run("init-credentials '%s'", dir);
    expect_status(&r, 0, "zk-operator.auth");
    run_free(&r);
    snprintf(auth_only, sizeof auth_only, "--auth-file '%s/zk-operator.auth'", dir);
    snprintf(sign_only, sizeof sign_only, "--sign-key '%s/revision.key'", dir);
    snprintf(creds, sizeof creds, "%s %s", auth_only, sign_only);
    char path[600];
    snprintf(path, sizeof path, "%s/zk-operator.auth", dir);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(op_auth, sizeof op_auth, f)) return -1;
    fclose(f);
    op_auth[strcspn(op_auth, "\n")] = 0;
    return 0;
}

static int zk_down(void **state)
{
    (void)state;
    th_zk_stop(&zk);
    return 0;
}

static void zk_quiet(const char *msg)
{
    (void)msg;
}

/* Overwrites a node with raw bytes (as zkCli would), returning its new version. */
static int32_t zk_set_raw(const char *path, const char *data)
{
    zhandle_t *zh = zookeeper_init2(zk.hosts, NULL, 4000, NULL, NULL, 0, zk_quiet);
    assert_non_null(zh);
    int64_t deadline = th_now_ms() + 10000 * th_slack();
    while (zoo_state(zh) != ZOO_CONNECTED_STATE && th_now_ms() < deadline)
        usleep(5000);
    /* the operator's digest: the group's nodes are writable by it only */
    assert_int_equal(zoo_add_auth(zh, "digest", op_auth, (int)strlen(op_auth), NULL, NULL), ZOK);
    struct Stat st;
    assert_int_equal(zoo_set2(zh, path, data, (int)strlen(data), -1, &st), ZOK);
    zookeeper_close(zh);
    return st.version;
}

/*
 * A pipeline node that is not a revision (written by hand): status, members
 * and push used to exit 1 with nothing to go on but --if-revision and a node
 * version no command showed. Now status names it (exit 5) with the reason
 * the coordinator read (as meterproxy's status does), members works, push
 * refuses it naming --force, and push --force replaces exactly it.
 */
static void test_malformed_pipeline(void **state)
{
    (void)state;
    char a[600];
    write_file("mend.yaml", pipeline_a, a, sizeof a, 0644);
    run_result r = run("push '%s' --group mend --zk '%s' %s", a, url, creds);
    expect_status(&r, 0, NULL);
    run_free(&r);
    int32_t version = zk_set_raw("/meterd-cli/mend/pipeline", "not a revision");
    assert_int_equal(version, 2);

    r = run("status --group mend --zk '%s'", url);
    expect_status(&r, 5, "pipeline node (version 2) is not a revision");
    assert_non_null(strstr(r.out, "--force"));
    assert_non_null(strstr(r.out, "why: no header line")); /* the coordinator's reason */
    run_free(&r);
    r = run("status --group mend --zk '%s' -o json", url);
    expect_status(&r, 5, NULL);
    json_t *prob = json_array_get(json_object_get(r.js, "problems"), 0);
    assert_string_equal(jstr(prob, "problem"), "malformed_revision");
    assert_string_equal(jstr(prob, "reason"), "no header line");
    run_free(&r);
    r = run("members --group mend --zk '%s'", url);
    expect_status(&r, 0, NULL);
    run_free(&r);
    r = run("push '%s' --group mend --zk '%s' %s", a, url, creds);
    expect_status(&r, 1, "--force replaces it");
    run_free(&r);
    r = run("push '%s' --group mend --zk '%s' --force -o json %s", a, url, creds);
    expect_status(&r, 0, "replacing the malformed pipeline node (version 2)");
    assert_int_equal(jint(r.js, "revision", NULL), 3);
    run_free(&r);
    r = run("status --group mend --zk '%s'", url);
    expect_status(&r, 0, "consistent");
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_revisions_rollback),
        cmocka_unit_test(test_push_file_sd),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_errors_and_url_precedence),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_whohas_handover),
        cmocka_unit_test(test_push_wait),
        cmocka_unit_test(test_acl),
        cmocka_unit_test(test_malformed_pipeline),
    };
    return cmocka_run_group_tests(tests, zk_up, zk_down);
}
