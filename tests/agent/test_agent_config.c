/*
 * test_agent_config.c: meterd.conf parsing: defaults, every error with its
 * file:line in one pass, other modules' sections kept verbatim.
 */
#include "agent/config.h"
#include "agent/plugin.h"
#include "harness/harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static void test_defaults(void **state)
{
    (void)state;
    agent_config c;
    config_defaults(&c);
    assert_string_equal(c.api_host, "127.0.0.1"); /* loopback unless told otherwise */
    assert_int_equal(c.api_port, 9467);
    assert_int_equal(c.workers, 4);
    assert_true(c.reload_pipeline_config);
    assert_int_equal(c.pipeline_polling_interval, 20);
    assert_string_equal(c.log_level, "info");
    assert_true(c.host[0] != 0);
}

static void test_values(void **state)
{
    (void)state;
    agent_config c;
    config_defaults(&c);
    char err[1024];
    const char *text = "# comment\n[DEFAULT]\nhost = node-7\nreload_pipeline_config = False\n"
                       "[polling]\ncfg_file = /etc/meterd/pipeline.yaml\nworkers = 16\n"
                       "[api]\nhost = ::1\nport = 0\n"
                       "[metrics]\nbackend = statsd\nstatsd_port = 8125\n"
                       "[coordination]\nbackend_url = zookeeper://127.0.0.1:2181/meterd\n";
    assert_int_equal(config_load_string(&c, text, "m.conf", err, sizeof err), 0);
    assert_string_equal(c.host, "node-7");
    assert_false(c.reload_pipeline_config);
    assert_string_equal(c.cfg_file, "/etc/meterd/pipeline.yaml");
    assert_int_equal(c.workers, 16);
    assert_string_equal(c.api_host, "::1");
    assert_int_equal(c.api_port, 0);
    assert_string_equal(config_extra(&c, "metrics", "backend"), "statsd");
    assert_string_equal(config_extra(&c, "coordination", "backend_url"),
                        "zookeeper://127.0.0.1:2181/meterd");
    assert_null(config_extra(&c, "metrics", "nope"));
}

static void test_errors_with_lines(void **state)
{
    (void)state;
    agent_config c;
    config_defaults(&c);
    char err[2048];
    const char *text = "[DEFAULT]\n"
                       "log_level = loud\n" /* 2: bad enum (reported at the end) */
                       "[polling]\n"
                       "workers = many\n" /* 4: not an integer */
                       "workers = 0\n"    /* 5: out of range */
                       "wokers = 3\n"     /* 6: typo */
                       "[api]\n"
                       "enabled = maybe\n" /* 8: not a boolean */
                       "[bogus]\n"
                       "x = 1\n"; /* 10: unknown section */
    assert_int_equal(config_load_string(&c, text, "bad.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "bad.conf:4: workers expects an integer, got \"many\""));
    assert_non_null(strstr(err, "bad.conf:5: workers must be between 1 and 256, got 0"));
    assert_non_null(strstr(err, "bad.conf:6: unknown option \"wokers\" in [polling]"));
    assert_non_null(strstr(err, "bad.conf:8: enabled expects true or false"));
    assert_non_null(strstr(err, "bad.conf:10: unknown section [bogus]"));
}

/*
 * Issue 10: [compute] and [ipmi] were accepted and never read, so a typo there
 * passed silently. They are plugin sections now: every key is checked against
 * the registry (none is read yet, so any key is an error with its line), and
 * namespaces must name the registry's namespaces.
 */
static void test_plugin_sections_checked(void **state)
{
    (void)state;
    agent_config c;
    config_defaults(&c);
    char err[2048];
    const char *text = "[DEFAULT]\n"
                       "namespaces = central,comptue\n" /* 2: unknown namespace */
                       "[compute]\n"
                       "instance_discovery_methd = naive\n" /* 4: no such option */
                       "[ipmi]\n"
                       "polling_retry = 3\n"; /* 6 */
    assert_int_equal(config_load_string(&c, text, "p.conf", err, sizeof err), -1);
    if (!strstr(err, "p.conf:4: unknown option \"instance_discovery_methd\" in [compute]"))
        fail_msg("%s", err);
    assert_non_null(strstr(err, "p.conf:6: unknown option \"polling_retry\" in [ipmi]"));
    assert_non_null(strstr(err, "p.conf:2: namespaces: unknown namespace \"comptue\" (known: "
                                "central, compute, ipmi)"));
    config_defaults(&c);
    assert_int_equal(config_load_string(&c,
                                        "[DEFAULT]\nnamespaces = ipmi, central\n"
                                        "secrets_file = /etc/meterd/secrets\n",
                                        "ok.conf", err, sizeof err),
                     0);
    assert_string_equal(c.secrets_file, "/etc/meterd/secrets");
}

/* The secrets file: name = value lines, refused unless a regular 0600 file. */
static void test_secrets_file(void **state)
{
    (void)state;
    char path[512], err[512];
    th_write_file("secrets", "# comment\n\na = 1\n token =  x y \n", path, sizeof path);
    secrets s;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(secrets_load(&s, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "mode 0644 lets others read a secret; chmod 600"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(secrets_load(&s, path, err, sizeof err), 0);
    assert_string_equal(secrets_get(&s, "a"), "1");
    assert_string_equal(secrets_get(&s, "token"), "x y");
    assert_null(secrets_get(&s, "nope"));
    secrets_free(&s);
    char link[600];
    snprintf(link, sizeof link, "%s.link", path);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(secrets_load(&s, link, err, sizeof err), -1); /* no symlink followed */
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s.fifo", path);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(secrets_load(&s, fifo, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    th_write_file("bad-secrets", "a = 1\nno equals sign\n", path, sizeof path);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(secrets_load(&s, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: expected name = value"));
    /* blank lines count: the error names the file's own line (4), not the
     * 2nd non-blank one as a tokenizer that skips empty lines would */
    th_write_file("bad-secrets2", "a = 1\n\n\nno equals sign\n", path, sizeof path);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(secrets_load(&s, path, err, sizeof err), -1);
    if (!strstr(err, ":4: expected name = value")) fail_msg("%s", err);
    assert_int_equal(secrets_load(&s, "", err, sizeof err), 0); /* none configured */
    assert_int_equal(s.n, 0);
}

static void test_syntax_error_and_missing_file(void **state)
{
    (void)state;
    agent_config c;
    config_defaults(&c);
    char err[1024];
    assert_int_equal(config_load_string(&c, "[api\nport = 1\n", "s.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "s.conf:1:"));
    assert_int_equal(config_load(&c, "/nonexistent/meterd.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/meterd.conf: cannot open"));
    /* binary garbage: an error, never a crash */
    char garbage[512];
    for (size_t i = 0; i < sizeof garbage - 1; i++)
        garbage[i] = (char)(1 + (i * 37) % 255);
    garbage[sizeof garbage - 1] = 0;
    config_defaults(&c);
    assert_int_equal(config_load_string(&c, garbage, "g.conf", err, sizeof err), -1);
}

static void write_file(const char *path, const char *bytes, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void expect_load_error(const char *path, const char *fragment)
{
    agent_config c;
    config_defaults(&c);
    char err[2048];
    assert_int_equal(config_load(&c, path, err, sizeof err), -1);
    if (!strstr(err, fragment)) fail_msg("%s: got \"%s\", expected \"%s\"", path, err, fragment);
}

/*
 * Issue 13: -c /dev/zero spun forever, a FIFO blocked forever, a directory
 * started silently on the defaults. Each is an error naming the path, what it
 * is and what was expected; so is a file too large to be a config.
 */
static void test_not_a_regular_file(void **state)
{
    (void)state;
    char dir[512], big[512], fifo[512], msg[1200];
    th_path(dir, sizeof dir, "confdir/x");
    *strrchr(dir, '/') = 0;
    snprintf(msg, sizeof msg, "%s: is a directory; expected a regular file", dir);
    expect_load_error(dir, msg);

    th_path(big, sizeof big, "big.conf");
    size_t n = CONFIG_MAX_BYTES + 1;
    char *text = malloc(n);
    assert_non_null(text);
    memset(text, '#', n);
    text[n - 1] = '\n';
    write_file(big, text, n);
    free(text);
    snprintf(msg, sizeof msg, "%s: is %zu bytes; expected at most %d", big, n, CONFIG_MAX_BYTES);
    expect_load_error(big, msg);

    expect_load_error("/dev/zero", "/dev/zero: is a character device; expected a regular file");
    th_path(fifo, sizeof fifo, "meterd.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(msg, sizeof msg, "%s: is a FIFO; expected a regular file", fifo);
    expect_load_error(fifo, msg);
}

/*
 * Issue 13: libinih reads 200-byte lines; a longer one was cut and its rest
 * parsed as a line of its own. A NUL byte ended a value unseen. Both are
 * errors at file:line now; a line that fits (198 bytes and its newline) is
 * read whole.
 */
static void test_long_lines_and_nul(void **state)
{
    (void)state;
    char path[512], line[400], text[1024];
    th_path(path, sizeof path, "long.conf");
    int pad = 198 - (int)strlen("log_file = /");
    snprintf(line, sizeof line, "log_file = /%0*d", pad, 7);
    assert_int_equal(strlen(line), 198);
    snprintf(text, sizeof text, "[DEFAULT]\n%s\nhost = fits\n", line);
    write_file(path, text, strlen(text));
    agent_config c;
    config_defaults(&c);
    char err[2048];
    assert_int_equal(config_load(&c, path, err, sizeof err), 0);
    assert_string_equal(c.log_file, line + strlen("log_file = "));
    assert_string_equal(c.host, "fits");

    /* one byte more; its cut-off rest "7" used to be a syntax error at line 3 */
    snprintf(text, sizeof text, "[DEFAULT]\n%s7\nhost = h\n", line);
    write_file(path, text, strlen(text));
    char msg[700];
    snprintf(msg, sizeof msg, "%s:2: line too long (199 bytes; at most 198)", path);
    expect_load_error(path, msg);
    config_defaults(&c);
    config_load(&c, path, err, sizeof err);
    assert_null(strstr(err, "\n")); /* that one error only */

    static const char nul[] = "[DEFAULT]\nhost = ab\0cd\n";
    write_file(path, nul, sizeof nul - 1);
    snprintf(msg, sizeof msg, "%s:2: NUL byte at column 10; expected a text file", path);
    expect_load_error(path, msg);
}

/* Issue 13: the log_level error said line 0; an empty namespaces list ran
 * with no pollster at all. */
static void test_log_level_line_and_empty_namespaces(void **state)
{
    (void)state;
    agent_config c;
    config_defaults(&c);
    char err[1024];
    assert_int_equal(
        config_load_string(&c, "[DEFAULT]\n\nlog_level = loud\n", "l.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "l.conf:3: log_level must be debug, info, warning or error"));
    for (int i = 0; i < 2; i++) {
        config_defaults(&c);
        const char *text = i ? "[DEFAULT]\nnamespaces = ,  ,\n" : "[DEFAULT]\nnamespaces =\n";
        assert_int_equal(config_load_string(&c, text, "n.conf", err, sizeof err), -1);
        assert_non_null(strstr(err, "n.conf:2: namespaces: no namespace given (expected one or "
                                    "more of: central, compute, ipmi)"));
    }
    char msg[256];
    assert_int_equal(config_namespaces_check("", msg, sizeof msg), -1);
    assert_int_equal(config_namespaces_check("centrall", msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "unknown namespace \"centrall\""));
    assert_int_equal(config_namespaces_check("central, ipmi", msg, sizeof msg), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors_with_lines),
        cmocka_unit_test(test_syntax_error_and_missing_file),
        cmocka_unit_test(test_plugin_sections_checked),
        cmocka_unit_test(test_secrets_file),
        cmocka_unit_test(test_not_a_regular_file),
        cmocka_unit_test(test_long_lines_and_nul),
        cmocka_unit_test(test_log_level_line_and_empty_namespaces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
