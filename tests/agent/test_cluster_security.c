/*
 * test_cluster_security.c: Ed25519-signed revisions with a real ZooKeeper
 * and a real meterd holding only the operator's public key (made by
 * `meterctl init-credentials`). Refused, with the agent still polling under
 * the last good revision and saying why in /health and `meterctl status`:
 * an unsigned revision, an old signed body replayed under a new number, a
 * revision signed by a key the agent does not trust (an agent's own key).
 * Key rotation and revocation by editing the trusted-keys file, without a
 * restart; a rollback signs again. Group nodes someone created first with
 * open ACLs are refused, with roles and with one credential alone.
 */
#include "cluster_fixture.h"
#include "group/group.h"
#include "partition/partition.h"

#include <zookeeper/zookeeper.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>

static cluster_fx fx;
static char out_text[1 << 16];

/* Runs the built meterctl; its output (stdout and stderr) in out_text. */
__attribute__((format(printf, 1, 2))) static int meterctl(const char *fmt, ...)
{
    char args[4096], outp[512], cmd[5000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    th_path(outp, sizeof outp, "meterctl.out");
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1", MeterctlPath, args, outp);
    int st = system(cmd);
    FILE *f = fopen(outp, "r");
    size_t n = f ? fread(out_text, 1, sizeof out_text - 1, f) : 0;
    out_text[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char health[8192];

static void expect_health_says(const char *part)
{
    ssize_t n = th_tcp_request("127.0.0.1", fx.nodes[0].api_port,
                               "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               health, sizeof health, 5000, NULL);
    assert_true(n > 0);
    if (!strstr(health, part)) fail_msg("/health lacks \"%s\": %s", part, health);
}

static bool all_polled_since(void *arg)
{
    cf_polls p;
    cf_count_polls(&fx, *(int64_t *)arg, cf_wall_ms(), &p);
    return p.targets_seen == fx.n_targets;
}

/* The refusal is visible everywhere, and the last good revision keeps
 * polling: targets are seen in the output after the refusal. */
static void expect_refused(int64_t good, const char *why)
{
    cf_sole_want w = {&fx, "rejected", good, why};
    assert_true(th_wait_until(cf_sole_member_is, &w, 20000 * th_slack()));
    expect_health_says(why);
    meterctl("status --group central --zk '%s'", fx.url);
    if (!strstr(out_text, why)) fail_msg("meterctl status lacks \"%s\": %s", why, out_text);
    int64_t t0 = cf_wall_ms();
    assert_true(th_wait_until(all_polled_since, &t0, 20000 * th_slack()));
}

static group_signer *load_signer(const char *path)
{
    unsigned char *pem = NULL;
    size_t len = 0;
    char err[600];
    group_signer *s = NULL;
    if (group_secret_read(path, &pem, &len, err, sizeof err) != 0 ||
        group_signer_load(pem, len, path, &s, err, sizeof err) != 0)
        fail_msg("%s", err);
    group_secret_free(pem, len);
    return s;
}

/* Pushes body signed by s for the number it will get. */
static int64_t push_signed_by(group_signer *s, const char *body)
{
    coord_revision_t cur = {0};
    int64_t expected = 0;
    if (coord_revision_read(fx.obs, &cur) == 0) expected = cur.number;
    coord_revision_free(&cur);
    char sig[GROUP_SIGNATURE_MAX];
    assert_int_equal(
        group_revision_sign_ed25519(s, "central", expected + 1, body, strlen(body), sig), 0);
    return cf_push_signed(&fx, body, sig);
}

static void append_line(const char *path, const char *line, const char *mode)
{
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    fprintf(f, "%s\n", line);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
}

static void test_signed_revisions(void **state)
{
    (void)state;
    cf_start(&fx);
    char dir[512], other[512], trusted[600], opkey[600], extra[1400], yaml[512];
    th_path(dir, sizeof dir, "operator-creds");
    th_path(other, sizeof other, "agent-creds");
    assert_int_equal(meterctl("init-credentials '%s'", dir), 0);
    assert_int_equal(meterctl("init-credentials '%s'", other), 0);
    assert_int_equal(meterctl("init-credentials '%s'", dir), 1); /* never overwritten */
    assert_non_null(strstr(out_text, "never overwritten"));
    snprintf(trusted, sizeof trusted, "%s/trusted_keys", dir);
    snprintf(opkey, sizeof opkey, "%s/revision.key", dir);
    snprintf(extra, sizeof extra, "trusted_keys_file = %s\n", trusted);
    cf_node_start(&fx, 0, extra);
    char *body = cf_pipeline(&fx, 3);
    assert_int_equal(th_write_file("p.yaml", body, yaml, sizeof yaml), 0);

    assert_int_equal(
        meterctl("push '%s' --group central --zk '%s' --sign-key '%s' --auth-file '%s'", yaml,
                 fx.url, opkey, fx.auth_path),
        0);
    cf_sole_want w = {&fx, "running", 1, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w, 20000 * th_slack()));

    cf_push_signed(&fx, body, NULL); /* no signature */
    expect_refused(1, "unsigned revision refused");

    coord_revision_t r1 = {0}; /* revision 1's signed body, replayed as 3 */
    assert_int_equal(coord_revision_get(fx.obs, 1, &r1), 0);
    cf_push_signed(&fx, (const char *)r1.body, r1.signature);
    coord_revision_free(&r1);
    expect_refused(1, "replayed");

    char agent_key[600];
    snprintf(agent_key, sizeof agent_key, "%s/revision.key", other);
    group_signer *stranger = load_signer(agent_key);
    push_signed_by(stranger, body); /* a key the agent does not trust */
    expect_refused(1, "not trusted here");

    /* rotation: the new key trusted by adding its line, no restart */
    char line[GROUP_TRUST_LINE_MAX];
    assert_int_equal(group_signer_public(stranger, line, "rotated in"), 0);
    append_line(trusted, line, "a");
    int64_t r5 = push_signed_by(stranger, body);
    cf_sole_want w5 = {&fx, "running", r5, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w5, 20000 * th_slack()));

    /* revocation: the old key's line removed; what it signs is refused */
    append_line(trusted, line, "w");
    assert_int_equal(
        meterctl("push '%s' --group central --zk '%s' --sign-key '%s' --auth-file '%s'", yaml,
                 fx.url, opkey, fx.auth_path),
        0);
    expect_refused(r5, "revoked");

    /* a rollback signs again: without a key (even --insecure) it is refused
     * before writing, as the old signature names the old number */
    assert_int_equal(meterctl("rollback 1 --group central --zk '%s' --auth-file '%s' --insecure",
                              fx.url, fx.auth_path),
                     2);
    assert_non_null(strstr(out_text, "sign the rollback with --sign-key"));
    assert_int_equal(
        meterctl("rollback 1 --group central --zk '%s' --sign-key '%s' --auth-file '%s'", fx.url,
                 agent_key, fx.auth_path),
        0);
    cf_sole_want w7 = {&fx, "running", r5 + 2, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w7, 20000 * th_slack()));
    /* the rollback's body is the one in force (revision 5's): applied
     * without a parse (issue 19), and the refusal before it leaves /health */
    coord_revision_t in_force = {0}, back = {0};
    assert_int_equal(coord_revision_get(fx.obs, r5, &in_force), 0);
    assert_int_equal(coord_revision_get(fx.obs, r5 + 2, &back), 0);
    assert_string_equal(in_force.sha256, back.sha256);
    coord_revision_free(&in_force);
    coord_revision_free(&back);
    expect_health_says("\"status\"");
    if (strstr(health, "revoked")) fail_msg("/health still shows the refusal: %s", health);

    /* an edit in place that keeps the inode, the size and the mtime (set
     * back) is seen at the next revision: a cache of the keys keyed on the
     * file's stat (tried for issue 19, dropped: the read is ~6 us) would
     * have to compare the ctime too */
    group_signer *op = load_signer(opkey);
    char mine[GROUP_TRUST_LINE_MAX], theirs[GROUP_TRUST_LINE_MAX];
    assert_int_equal(group_signer_public(stranger, mine, "same comment"), 0);
    assert_int_equal(group_signer_public(op, theirs, "same comment"), 0);
    assert_int_equal(strlen(mine), strlen(theirs));
    struct timespec old[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = time(NULL) - 60}};
    append_line(trusted, mine, "w");
    assert_int_equal(utimensat(AT_FDCWD, trusted, old, 0), 0);
    int64_t r8 = push_signed_by(stranger, body);
    cf_sole_want w8 = {&fx, "running", r8, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w8, 20000 * th_slack()));
    int64_t r9 = push_signed_by(stranger, body);
    cf_sole_want w9 = {&fx, "running", r9, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w9, 20000 * th_slack()));
    append_line(trusted, theirs, "w");
    assert_int_equal(utimensat(AT_FDCWD, trusted, old, 0), 0);
    push_signed_by(stranger, body);
    expect_refused(r9, "not trusted here");
    group_signer_free(op);

    group_signer_free(stranger);
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

/* The group's nodes refuse an anonymous write of the pipeline (a forged
 * revision); the agent runs on. */
static void test_anonymous_writes_refused(void **state)
{
    (void)state;
    cf_start(&fx);
    cf_node_start(&fx, 0, NULL);
    char *body = cf_pipeline(&fx, 2);
    int64_t r1 = cf_push(&fx, body);
    cf_sole_want w = {&fx, "running", r1, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w, 20000 * th_slack()));
    coord_config_t cc = {.backend_url = fx.url, .group = "central", .session_timeout_ms = 4000};
    char err[300];
    coord_t *anon = coord_open(&cc, err, sizeof err);
    assert_non_null(anon);
    assert_int_equal(coord_wait_ready(anon, 10000 * th_slack()), 0);
    int64_t n = 0;
    assert_int_equal(coord_revision_push(anon, r1, body, strlen(body), "mallory", NULL, &n),
                     COORD_ENOAUTH);
    coord_close(anon);
    expect_health_says("\"status\":\"ok\"");
    assert_null(strstr(health, "insecure"));
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

/* Cluster mode refuses to start open, and says how to fix it. */
static void test_refuses_open(void **state)
{
    (void)state;
    char conf[512];
    assert_int_equal(th_write_file("open.conf",
                                   "[DEFAULT]\nhost = open\n[api]\nport = 0\n[coordination]\n"
                                   "backend_url = zookeeper://127.0.0.1:1/meterd\n",
                                   conf, sizeof conf),
                     0);
    cf_expect_refused(conf, out_text, sizeof out_text);
    if (!strstr(out_text, "refuses to run open") ||
        !strstr(out_text, "meterctl init-credentials") || !strstr(out_text, "insecure = true"))
        fail_msg("meterd's refusal does not say how to fix it: %s", out_text);
}

/* insecure = true runs, and says so in /health, /v1/status and meterctl
 * status (a field, not a failure). */
static void test_insecure_visible(void **state)
{
    (void)state;
    cf_start_insecure(&fx);
    cf_node_start(&fx, 0, NULL);
    char *body = cf_pipeline(&fx, 2);
    int64_t r1 = cf_push_signed(&fx, body, NULL);
    cf_sole_want w = {&fx, "running", r1, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w, 20000 * th_slack()));
    expect_health_says("\"insecure\":true");
    expect_health_says("\"status\":\"ok\"");
    ssize_t n = th_tcp_request("127.0.0.1", fx.nodes[0].api_port,
                               "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               out_text, sizeof out_text, 5000, NULL);
    assert_true(n > 0);
    assert_non_null(strstr(out_text, "\"insecure\":true"));
    meterctl("status --group central --zk '%s'", fx.url);
    if (!strstr(out_text, "insecure: node-0.central")) fail_msg("meterctl status: %s", out_text);
    meterctl("status --group central --zk '%s' -o json", fx.url);
    assert_non_null(strstr(out_text, "\"insecure\": true"));
    FILE *f = fopen(fx.nodes[0].proc.log, "r");
    assert_non_null(f);
    n = (ssize_t)fread(out_text, 1, sizeof out_text - 1, f);
    out_text[n] = 0;
    fclose(f);
    assert_non_null(strstr(out_text, "INSECURE"));
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

static coord_t *open_as(const char *url, const char *auth)
{
    coord_config_t cc = {
        .backend_url = url, .group = "central", .session_timeout_ms = 4000, .auth = auth};
    char err[300];
    coord_t *c = coord_open(&cc, err, sizeof err);
    if (!c) fail_msg("coord_open: %s", err);
    return c;
}

static void read_line(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(out, (int)cap, f));
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

static bool health_has(void *part)
{
    ssize_t n = th_tcp_request("127.0.0.1", fx.nodes[0].api_port,
                               "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                               health, sizeof health, 2000, NULL);
    return n > 0 && strstr(health, part);
}

static void raw_log(const char *msg)
{
    (void)msg;
}

static void raw_auth_done(int rc, const void *data)
{
    (void)rc;
    (void)data;
}

static bool raw_connected(void *zh)
{
    return zoo_state(zh) == ZOO_CONNECTED_STATE;
}

/* A bare ZooKeeper client, as an attacker or a wrong role would use. */
static zhandle_t *raw_connect(const char *auth)
{
    zhandle_t *zh = zookeeper_init2(fx.zk.hosts, NULL, 4000, NULL, NULL, 0, raw_log);
    assert_non_null(zh);
    if (auth) zoo_add_auth(zh, "digest", auth, (int)strlen(auth), raw_auth_done, NULL);
    assert_true(th_wait_until(raw_connected, zh, 10000 * th_slack()));
    return zh;
}

/* Every write a role must not make on the group's nodes is refused. */
static void expect_raw_writes_refused(const char *who, const char *auth, bool operator_nodes,
                                      bool member_nodes)
{
    zhandle_t *zh = raw_connect(auth);
    const char *base = "/roles/central";
    char path[300];
    int rc;
    if (operator_nodes) {
        snprintf(path, sizeof path, "%s/pipeline", base);
        rc = zoo_set(zh, path, "x", 1, -1);
        if (rc != ZNOAUTH) fail_msg("%s: set %s: %s", who, path, zerror(rc));
        snprintf(path, sizeof path, "%s/revisions/0000000099", base);
        rc = zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (rc != ZNOAUTH) fail_msg("%s: create %s: %s", who, path, zerror(rc));
        snprintf(path, sizeof path, "%s/acks/0000000099", base); /* a push's */
        rc = zoo_create(zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (rc != ZNOAUTH) fail_msg("%s: create %s: %s", who, path, zerror(rc));
    }
    if (member_nodes) {
        snprintf(path, sizeof path, "%s/assignment", base);
        rc = zoo_set(zh, path, "x", 1, -1);
        if (rc != ZNOAUTH) fail_msg("%s: set %s: %s", who, path, zerror(rc));
        /* a forged ack of revision 1 too (issue 19) */
        static const char *const dirs[] = {"members/intruder.central", "election/n_",
                                           "acks/0000000001/applied-intruder.central"};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", base, dirs[i]);
            rc = zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
            if (rc != ZNOAUTH) fail_msg("%s: create %s: %s", who, path, zerror(rc));
        }
    }
    if (operator_nodes && member_nodes) { /* neither role: the group node itself */
        rc = zoo_set(zh, base, "x", 1, -1);
        if (rc != ZNOAUTH) fail_msg("%s: set %s: %s", who, base, zerror(rc));
        snprintf(path, sizeof path, "%s/intruder", base);
        rc = zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
        if (rc != ZNOAUTH) fail_msg("%s: create %s: %s", who, path, zerror(rc));
        snprintf(path, sizeof path, "%s/pipeline", base);
        rc = zoo_delete(zh, path, -1);
        if (rc != ZNOAUTH) fail_msg("%s: delete %s: %s", who, path, zerror(rc));
    }
    zookeeper_close(zh);
}

static bool ack_exists(void *zh)
{
    return zoo_exists(zh, "/roles/central/acks/0000000001/applied-node-0.central", 0, NULL) == ZOK;
}

/*
 * Roles: a tree someone created open first is refused (never adopted), with
 * the repair command in /health; after `meterctl repair-acl` the agent joins
 * by itself. Then each role writes only its own nodes: the member and reader
 * credentials cannot write the pipeline, nobody anonymous can read it.
 */
static void test_roles(void **state)
{
    (void)state;
    cf_start(&fx);
    char dir[512], url[400], extra[3000], op[600], mem[600], rd[600], acl[600], key[600],
        trusted[600], yaml[512];
    th_path(dir, sizeof dir, "role-creds");
    assert_int_equal(meterctl("init-credentials '%s'", dir), 0);
    snprintf(op, sizeof op, "%s/zk-operator.auth", dir);
    snprintf(mem, sizeof mem, "%s/zk-member.auth", dir);
    snprintf(rd, sizeof rd, "%s/zk-reader.auth", dir);
    snprintf(acl, sizeof acl, "%s/zk-acl.txt", dir);
    snprintf(key, sizeof key, "%s/revision.key", dir);
    snprintf(trusted, sizeof trusted, "%s/trusted_keys", dir);
    snprintf(url, sizeof url, "zookeeper://%s/roles", fx.zk.hosts);

    /* someone lays out the group's tree first, open to all */
    coord_t *squatter = open_as(url, NULL);
    assert_int_equal(coord_wait_ready(squatter, 10000 * th_slack()), 0);
    coord_close(squatter);
    /* ...acks/ included, where pushes put acks/<N> (the repair must reach
     * it: the writes refused below would pass under an open acks/) */
    zhandle_t *szh = raw_connect(NULL);
    assert_int_equal(
        zoo_create(szh, "/roles/central/acks", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    zookeeper_close(szh);

    snprintf(extra, sizeof extra,
             "backend_url = %s\nauth_file = %s\nacl_file = %s\ntrusted_keys_file = %s\n", url, mem,
             acl, trusted);
    cf_node_start(&fx, 0, extra);
    assert_true(th_wait_until(health_has, "not the group's roles", 20000 * th_slack()));
    assert_non_null(strstr(health, "meterctl repair-acl --group central"));
    assert_non_null(strstr(health, "world:anyone:cdrwa"));

    assert_int_equal(
        meterctl("repair-acl --group central --zk '%s' --auth-file '%s' --acl-file '%s'", url, op,
                 acl),
        0);

    char *body = cf_pipeline(&fx, 2);
    assert_int_equal(th_write_file("roles.yaml", body, yaml, sizeof yaml), 0);
    int prc = meterctl("push '%s' --group central --zk '%s' --auth-file '%s' --acl-file '%s' "
                       "--sign-key '%s'",
                       yaml, url, op, acl, key);
    if (prc != 0) fail_msg("push: exit %d: %s", prc, out_text);
    /* the member reports through its member node: read it as the reader */
    char reader_auth[256], member_auth[256];
    read_line(rd, reader_auth, sizeof reader_auth);
    read_line(mem, member_auth, sizeof member_auth);
    coord_close(fx.obs);
    fx.obs = open_as(url, reader_auth);
    cf_sole_want w = {&fx, "running", 1, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w, 30000 * th_slack()));
    expect_health_says("\"status\":\"ok\""); /* the refusal is gone */
    /* ...and acknowledges under acks/<N>, which the reader may read */
    zhandle_t *rzh = raw_connect(reader_auth);
    assert_true(th_wait_until(ack_exists, rzh, 10000 * th_slack()));
    zookeeper_close(rzh);

    /* wrong roles: the member and the reader cannot write the pipeline */
    const char *writers[] = {member_auth, reader_auth};
    for (int i = 0; i < 2; i++) {
        coord_t *c = open_as(url, writers[i]);
        assert_int_equal(coord_wait_ready(c, 10000 * th_slack()), 0);
        int64_t n = 0;
        assert_int_equal(coord_revision_push(c, 1, body, strlen(body), "x", NULL, &n),
                         COORD_ENOAUTH);
        coord_close(c);
    }
    /* raw writes to every group node by roles without the right (an
     * attacker's bare client included) */
    char op_auth[256];
    read_line(op, op_auth, sizeof op_auth);
    expect_raw_writes_refused("anonymous", NULL, true, true);
    expect_raw_writes_refused("reader", reader_auth, true, true);
    expect_raw_writes_refused("member", member_auth, true, false);
    expect_raw_writes_refused("operator", op_auth, false, true);
    /* nobody anonymous reads the group's pipeline */
    coord_t *anon = open_as(url, NULL);
    coord_revision_t r = {0};
    assert_int_not_equal(coord_revision_read(anon, &r), COORD_OK);
    coord_revision_free(&r);
    coord_close(anon);
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

static bool member_node_exists(void *zh)
{
    return zoo_exists(zh, "/squat/central/members/node-0.central", 0, NULL) == ZOK;
}

static void acl_text(zhandle_t *zh, const char *path, char *out, size_t cap)
{
    struct ACL_vector v = {0};
    struct Stat st;
    assert_int_equal(zoo_get_acl(zh, path, &v, &st), ZOK);
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < v.count && n < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s:%s:%d,", v.data[i].id.scheme, v.data[i].id.id,
                              v.data[i].perms);
    deallocate_ACL_vector(&v);
}

/*
 * One credential, no roles (auth_file alone): a group node someone created
 * first open to anyone is refused, never adopted; /health names it and the
 * repair. The chroot above the group is not the agent's and stays as it is.
 * After `meterctl repair-acl` with the agents' credential the agent joins by
 * itself, the nodes are no longer writable by anyone, and a persistent
 * election node the squatter left (a permanent leader) is gone. Before the
 * fix the agent joined the open tree silently.
 */
static void test_open_nodes_refused(void **state)
{
    (void)state;
    cf_start(&fx);
    zhandle_t *zh = raw_connect(NULL);
    static const char *const squat[] = {"/squat", "/squat/central", "/squat/central/members"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(zoo_create(zh, squat[i], NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    /* and a permanent "leader": the lowest election node, persistent */
    const char *evil = "{\"member\":\"evil.central\",\"endpoint\":\"\"}";
    assert_int_equal(
        zoo_create(zh, "/squat/central/election", NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    assert_int_equal(zoo_create(zh, "/squat/central/election/0000-n_0000000000", evil,
                                (int)strlen(evil), &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
                     ZOK);
    char url[400], extra[600];
    snprintf(url, sizeof url, "zookeeper://%s/squat", fx.zk.hosts);
    snprintf(extra, sizeof extra, "backend_url = %s\n", url);
    cf_node_start(&fx, 0, extra);
    assert_true(th_wait_until(health_has, "open to anyone", 20000 * th_slack()));
    if (!strstr(health, "/squat/central exists with ACL world:anyone:cdrwa") ||
        !strstr(health, "meterctl repair-acl --group central"))
        fail_msg("/health does not name the node and the repair: %s", health);
    assert_false(member_node_exists(zh));

    int rc = meterctl("repair-acl --group central --zk '%s' --auth-file '%s'", url, fx.auth_path);
    if (rc != 0) fail_msg("repair-acl: exit %d: %s", rc, out_text);
    assert_true(th_wait_until(member_node_exists, zh, 20000 * th_slack()));
    assert_int_equal(zoo_exists(zh, "/squat/central/election/0000-n_0000000000", 0, NULL),
                     ZNONODE); /* the squatter was deleted: node-0 leads */
    expect_health_says("\"status\":\"ok\"");
    assert_null(strstr(health, "open to anyone"));
    char acl[600];
    acl_text(zh, "/squat", acl, sizeof acl);
    assert_string_equal(acl, "world:anyone:31,"); /* not the agent's to change */
    for (int i = 1; i < 3; i++) {
        acl_text(zh, squat[i], acl, sizeof acl);
        if (!strstr(acl, "world:anyone:1,") || strstr(acl, "world:anyone:31"))
            fail_msg("%s still open after repair: %s", squat[i], acl);
    }
    assert_int_equal(zoo_create(zh, "/squat/central/members/intruder", "x", 1, &ZOO_OPEN_ACL_UNSAFE,
                                ZOO_EPHEMERAL, NULL, 0),
                     ZNOAUTH);
    zookeeper_close(zh);
    assert_int_equal(cf_stop(&fx), 0);
}

static bool impostor_leads(void *arg)
{
    coord_leader_t l;
    coord_leader_get(arg, &l);
    return l.is_me;
}

/* A slot table (one member owning every slot) signed with `signer` for
 * `epoch`, or unsigned when signer is NULL. */
static void forged_table(group_signer *signer, int64_t epoch, uint8_t **out, size_t *len)
{
    partition_member m = {"impostor.central", 1};
    partition_options opt;
    partition_options_init(&opt);
    opt.epoch = (uint64_t)epoch;
    partition_table *t = NULL;
    partition_plan_stats st;
    char err[300];
    uint8_t *raw = NULL;
    size_t rlen = 0;
    assert_int_equal(partition_plan(NULL, &m, 1, NULL, &opt, &t, &st, err, sizeof err), 0);
    assert_int_equal(partition_table_encode(t, &raw, &rlen, err, sizeof err), 0);
    partition_table_free(t);
    if (!signer) {
        *out = raw;
        *len = rlen;
        return;
    }
    assert_int_equal(group_table_sign(signer, "central", epoch, raw, rlen, out, len), 0);
    free(raw);
}

static bool member_error_has(void *part)
{
    coord_members_t m = {0};
    if (coord_members_get(fx.obs, &m) != 0) return false;
    bool ok = false;
    for (size_t i = 0; i < m.count; i++)
        if (!strcmp(m.members[i].id, "node-0.central"))
            ok = strstr(m.members[i].info.last_error, part) != NULL;
    coord_members_free(&m);
    return ok;
}

static bool member_error_cleared(void *arg)
{
    (void)arg;
    coord_members_t m = {0};
    if (coord_members_get(fx.obs, &m) != 0) return false;
    bool ok = false;
    for (size_t i = 0; i < m.count; i++)
        if (!strcmp(m.members[i].id, "node-0.central"))
            ok = m.members[i].info.last_error[0] == 0 && m.members[i].info.assignment_digest[0];
    coord_members_free(&m);
    return ok;
}

/*
 * A slot table written by someone holding the ZooKeeper credentials but not
 * the members' table key (here: leading the election before the agent, as
 * an on-path attacker with a sniffed credential could) is refused: signed
 * with another key, or not signed. The agent keeps what it had (no table:
 * it polls every target) and says why in /health, its member node and
 * meterctl status, until a table signed with the key comes.
 */
static void test_forged_table(void **state)
{
    (void)state;
    cf_start(&fx);
    coord_member_info_t info = {.weight = 1};
    snprintf(info.host, sizeof info.host, "impostor");
    coord_config_t cc = {.backend_url = fx.url,
                         .group = "central",
                         .member_id = "impostor.central",
                         .session_timeout_ms = 4000,
                         .candidate = true,
                         .auth = fx.auth,
                         .info = &info};
    char err[300];
    coord_t *imp = coord_open(&cc, err, sizeof err);
    assert_non_null(imp);
    assert_true(th_wait_until(impostor_leads, imp, 20000 * th_slack()));
    uint8_t *t = NULL;
    size_t len = 0;
    forged_table(fx.signer, 1, &t, &len); /* the operator's key is not the table key */
    assert_int_equal(coord_assignment_write(imp, 0, t, len, NULL), 0);
    free(t);

    cf_node_start(&fx, 0, NULL);
    char *body = cf_pipeline(&fx, 3);
    cf_push(&fx, body);
    assert_true(th_wait_until(member_error_has, "slot table epoch 1 refused", 20000 * th_slack()));
    assert_true(member_error_has("does not verify") || member_error_has("not trusted"));
    expect_health_says("slot table epoch 1 refused");
    meterctl("status --group central --zk '%s'", fx.url);
    if (!strstr(out_text, "slot table epoch 1 refused"))
        fail_msg("meterctl status does not say why: %s", out_text);
    int64_t t0 = cf_wall_ms(); /* no table trusted: node-0 polls every target */
    assert_true(th_wait_until(all_polled_since, &t0, 20000 * th_slack()));

    forged_table(NULL, 2, &t, &len); /* unsigned */
    assert_int_equal(coord_assignment_write(imp, 1, t, len, NULL), 0);
    free(t);
    assert_true(th_wait_until(member_error_has, "unsigned slot table refused", 20000 * th_slack()));
    t0 = cf_wall_ms();
    assert_true(th_wait_until(all_polled_since, &t0, 20000 * th_slack()));
    /* the impostor gone, node-0 leads and signs its own table: the refusal
     * leaves its member node */
    coord_close(imp);
    assert_true(th_wait_until(member_error_cleared, NULL, 20000 * th_slack()));
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

/* A revision naming a target or a destination outside the local
 * allow-lists of meterd.conf is refused with its location; the agent keeps
 * polling under the last good revision. */
static void test_allow_lists(void **state)
{
    (void)state;
    cf_start(&fx);
    char extra[2000], outdir[512];
    snprintf(outdir, sizeof outdir, "%s", fx.out_path);
    *strrchr(outdir, '/') = 0;
    snprintf(extra, sizeof extra,
             "[polling]\nallow_targets = 127.0.0.1\n[publisher]\nallow = file://%s/\n", outdir);
    cf_node_start(&fx, 0, extra);
    char *body = cf_pipeline(&fx, 3);
    int64_t r1 = cf_push(&fx, body);
    cf_sole_want w = {&fx, "running", r1, NULL};
    assert_true(th_wait_until(cf_sole_member_is, &w, 20000 * th_slack()));

    char bad[4096];
    snprintf(bad, sizeof bad, "%s", body);
    char *res = strstr(bad, "      - tcp://127.0.0.1:1\n");
    assert_non_null(res);
    memcpy(res, "      - tcp://10.9.9.9:22\n", strlen("      - tcp://10.9.9.9:22\n"));
    cf_push(&fx, bad);
    expect_refused(r1, "outside [polling] allow_targets");
    expect_refused(r1, "revision-2.yaml:2:");

    snprintf(bad, sizeof bad, "%s", body);
    char *pub = strstr(bad, "publishers: ['file://");
    assert_non_null(pub);
    snprintf(pub, sizeof bad - (size_t)(pub - bad),
             "publishers: ['http://collector.attacker.example/ingest']\n");
    cf_push(&fx, bad);
    expect_refused(r1, "destination http://collector.attacker.example/ingest is outside "
                       "[publisher] allow");
    free(body);
    assert_int_equal(cf_stop(&fx), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_revisions),
        cmocka_unit_test(test_anonymous_writes_refused),
        cmocka_unit_test(test_refuses_open),
        cmocka_unit_test(test_insecure_visible),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_open_nodes_refused),
        cmocka_unit_test(test_forged_table),
        cmocka_unit_test(test_allow_lists),
    };
    return th_tests_result(cmocka_run_group_tests(tests, NULL, NULL));
}
