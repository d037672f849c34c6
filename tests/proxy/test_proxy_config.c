/*
 * test_proxy_config.c (unit): meterproxy's command line, meterproxy.conf and
 * the bearer token file, in-process (the sources of proxy/ compiled in).
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
#include <sys/stat.h>
#include <unistd.h>

static int parse(proxy_opts *o, char *err, size_t errlen, ...)
{
    char *argv[32] = {"meterproxy"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    FILE *out = fopen("/dev/null", "w");
    int rc = proxy_opts_parse(o, argc, argv, out, err, errlen);
    fclose(out);
    return rc;
}

static void test_defaults_loopback(void **state)
{
    (void)state;
    unsetenv("METERPROXY_PORT");
    unsetenv("METERPROXY_LOCAL");
    unsetenv("METERPROXY_MAXPENDING");
    proxy_opts o;
    char err[512];
    assert_int_equal(parse(&o, err, sizeof err, NULL), 0);
    assert_int_equal(o.n_listen, 1);
    assert_string_equal(o.listen[0], "127.0.0.1:9468");
    assert_int_equal(o.max_request, 65536);
    assert_false(o.foreground);
}

static void test_ports_union_env(void **state)
{
    (void)state;
    setenv("METERPROXY_PORT", "9000,9001", 1);
    proxy_opts o;
    char err[512];
    assert_int_equal(parse(&o, err, sizeof err, "-f", "-p", "9001,9002", "-i", "::1", "-i",
                           "10.0.0.1", "-L", "4096", NULL),
                     0);
    unsetenv("METERPROXY_PORT");
    assert_true(o.foreground);
    assert_int_equal(o.n_ports, 3); /* 9001, 9002, then 9000 from the environment */
    assert_int_equal(o.n_listen, 6);
    assert_string_equal(o.listen[0], "[::1]:9001");
    assert_string_equal(o.listen[5], "10.0.0.1:9000");
    assert_int_equal(o.max_request, 4096);
}

static void test_local_off_binds_all(void **state)
{
    (void)state;
    setenv("METERPROXY_LOCAL", "0", 1);
    setenv("METERPROXY_MAXPENDING", "64", 1);
    proxy_opts o;
    char err[512];
    assert_int_equal(parse(&o, err, sizeof err, "-p", "0", NULL), 0);
    assert_string_equal(o.listen[0], "0.0.0.0:0");
    assert_int_equal(o.maxpending, 64);
    setenv("METERPROXY_LOCAL", "yes", 1);
    assert_int_equal(parse(&o, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "METERPROXY_LOCAL must be 0 or 1"));
    unsetenv("METERPROXY_LOCAL");
    unsetenv("METERPROXY_MAXPENDING");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    proxy_opts o;
    char err[512];
    assert_int_equal(parse(&o, err, sizeof err, "-p", "70000", NULL), -1);
    assert_non_null(strstr(err, "\"70000\" is not a port"));
    assert_int_equal(parse(&o, err, sizeof err, "-L", "12", NULL), -1);
    assert_non_null(strstr(err, "-L wants"));
    assert_int_equal(parse(&o, err, sizeof err, "-q", NULL), -1);
    assert_non_null(strstr(err, "unknown argument '-q'"));
    assert_int_equal(parse(&o, err, sizeof err, "-c", NULL), -1);
    assert_non_null(strstr(err, "-c needs a value"));
    assert_int_equal(parse(&o, err, sizeof err, "--help", NULL), 1);
}

static void write_conf(const char *name, const char *text, char *path, size_t cap)
{
    assert_int_equal(th_write_file(name, text, path, cap), 0);
}

static void test_config_file(void **state)
{
    (void)state;
    char path[512], err[2048];
    write_conf("good.conf",
               "[meterproxy]\nmetrics_api = false\nagent_timeout_ms = 500\n"
               "[coordination]\nbackend_url = zookeeper://127.0.0.1:2181/meterd\n"
               "groups = central, compute\n",
               path, sizeof path);
    proxy_config c;
    proxy_config_defaults(&c);
    assert_true(c.groups_api);
    assert_false(c.writes_api);
    assert_int_equal(proxy_config_load(&c, path, err, sizeof err), 0);
    assert_false(c.metrics_api);
    assert_int_equal(c.agent_timeout_ms, 500);
    assert_string_equal(c.groups, "central, compute");
    assert_string_equal(c.backend_url, "zookeeper://127.0.0.1:2181/meterd");
}

static void test_config_errors_name_lines(void **state)
{
    (void)state;
    char path[512], err[2048];
    write_conf("bad.conf",
               "[meterproxy]\nagent_timeout_ms = 1\nmetrics = on\n[coordinaton]\nx = 1\n"
               "[meterproxy]\ngroups_api = maybe\n",
               path, sizeof path);
    proxy_config c;
    proxy_config_defaults(&c);
    assert_int_equal(proxy_config_load(&c, path, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:2: ", path);
    assert_non_null(strstr(err, want)); /* out of range */
    snprintf(want, sizeof want, "%s:3: unknown option \"metrics\" in [meterproxy]", path);
    assert_non_null(strstr(err, want));
    snprintf(want, sizeof want, "%s:5: unknown section [coordinaton]", path);
    assert_non_null(strstr(err, want));
    snprintf(want, sizeof want, "%s:7: ", path);
    assert_non_null(strstr(err, want));
    /* writes never run open */
    write_conf("open.conf", "[meterproxy]\nwrites_api = true\n", path, sizeof path);
    proxy_config_defaults(&c);
    assert_int_equal(proxy_config_load(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs token_file"));
    /* a directory or FIFO is refused without blocking */
    assert_int_equal(proxy_config_load(&c, th_tmpdir(), err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo.conf", th_tmpdir());
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(proxy_config_load(&c, fifo, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

/* One config text that must be refused with "path:where: " and wanted in
 * the message. */
static void refused_at(const char *text, const char *where, const char *wanted)
{
    char path[512], err[2048], want[700];
    write_conf("half.conf", text, path, sizeof path);
    proxy_config c;
    proxy_config_defaults(&c);
    if (proxy_config_load(&c, path, err, sizeof err) != -1) fail_msg("accepted:\n%s", text);
    snprintf(want, sizeof want, "%s:%s: ", path, where);
    if (!strstr(err, want) || !strstr(err, wanted))
        fail_msg("wanted '%s' and '%s' in: %s", want, wanted, err);
}

/* [agents]: the TLS of the fan-out; half of a pair is refused where it is
 * set, since alone it would quietly do less than asked. */
static void test_agents_tls(void **state)
{
    (void)state;
    char path[512], err[2048];
    write_conf("agents.conf",
               "[agents]\ntls_ca_file = /etc/meterd/pubsub-ca.crt\ntls_name = meterd-pubsub\n"
               "tls_cert_file = /etc/meterd/pubsub.crt\ntls_key_file = /etc/meterd/pubsub.key\n",
               path, sizeof path);
    proxy_config c;
    proxy_config_defaults(&c);
    assert_string_equal(c.agents_tls_ca_file, "");
    assert_int_equal(proxy_config_load(&c, path, err, sizeof err), 0);
    assert_string_equal(c.agents_tls_ca_file, "/etc/meterd/pubsub-ca.crt");
    assert_string_equal(c.agents_tls_name, "meterd-pubsub");
    assert_string_equal(c.agents_tls_cert_file, "/etc/meterd/pubsub.crt");
    assert_string_equal(c.agents_tls_key_file, "/etc/meterd/pubsub.key");
    /* the CA alone is whole (agents without mTLS) */
    write_conf("ca.conf", "[agents]\ntls_ca_file = /x/ca.crt\n", path, sizeof path);
    proxy_config_defaults(&c);
    assert_int_equal(proxy_config_load(&c, path, err, sizeof err), 0);

    refused_at("[agents]\ntls_ca_file = /x/ca.crt\ntls_cert_file = /x/c.crt\n", "3:1",
               "[agents] tls_cert_file is set without tls_key_file");
    refused_at("[meterproxy]\n[agents]\ntls_key_file = /x/c.key\n", "3:1",
               "[agents] tls_key_file is set without tls_cert_file");
    refused_at("[agents]\n\ttls_name = meterd-pubsub\n", "2:2",
               "[agents] tls_name is set without tls_ca_file");
    /* an option set empty again is not set */
    write_conf("unset.conf", "[agents]\ntls_cert_file = /x/c.crt\ntls_cert_file =\n", path,
               sizeof path);
    proxy_config_defaults(&c);
    assert_int_equal(proxy_config_load(&c, path, err, sizeof err), 0);
    /* the proxy's own HTTPS pair and writes point at their line too */
    refused_at("[meterproxy]\nthreads = 2\ntls_cert_file = /x/s.crt\n", "3:1",
               "tls_cert_file and tls_key_file go together");
    refused_at("[meterproxy]\n writes_api = true\n", "2:2", "needs token_file");
    refused_at("[nope]\nx = 1\n", "2", "[coordination] and [agents]");
}

static void write_token(const char *path, const char *tok)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(tok, f);
    fclose(f);
    assert_int_equal(chmod(tmp, 0600), 0);
    assert_int_equal(rename(tmp, path), 0); /* how an operator rotates it */
}

static void test_token_rotation(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/token", th_tmpdir());
    write_token(path, "first-token\n");
    proxy_token t;
    proxy_token_init(&t, path);
    assert_int_equal(proxy_token_check(&t, "Bearer first-token"), 1);
    assert_int_equal(proxy_token_check(&t, "Bearer first-tokenX"), 0);
    assert_int_equal(proxy_token_check(&t, "first-token"), 0);
    assert_int_equal(proxy_token_check(&t, NULL), 0);
    write_token(path, "second-token\n");
    assert_int_equal(proxy_token_check(&t, "Bearer first-token"), 0);
    assert_int_equal(proxy_token_check(&t, "Bearer second-token"), 1);
    /* a world-readable token file is no secret: every write refused */
    assert_int_equal(chmod(path, 0644), 0);
    write_token(path, "third-token\n");
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(proxy_token_check(&t, "Bearer third-token"), -1);
    assert_non_null(strstr(t.error, "chmod 600"));
    unlink(path);
    assert_int_equal(proxy_token_check(&t, "Bearer second-token"), -1);
    proxy_token_free(&t);
    proxy_token none;
    proxy_token_init(&none, NULL);
    assert_int_equal(proxy_token_check(&none, "Bearer x"), -1);
    proxy_token_free(&none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_loopback),   cmocka_unit_test(test_ports_union_env),
        cmocka_unit_test(test_local_off_binds_all), cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_config_file),         cmocka_unit_test(test_config_errors_name_lines),
        cmocka_unit_test(test_token_rotation),      cmocka_unit_test(test_agents_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
