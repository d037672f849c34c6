/* test_cli_validate.c -- `meterctl validate` as an operator runs it: exit
 * codes (0 valid, 1 invalid, 2 usage), text and JSON output, the whole
 * invalid corpus with its expected line:column, standard input. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define DATA MeterdTestData "/pipeline/"

typedef struct {
    int status;
    char *out; /* stdout and stderr together */
} run_result;

/* Runs `meterctl ARGS` through the shell (args are trusted test literals). */
static run_result run(const char *args)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", MeterctlPath, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    buf[n] = '\0';
    int st = pclose(f);
    assert_true(WIFEXITED(st));
    /* in a sanitizer build, a finding must fail the test even when the exit code matches */
    if (strstr(buf, "Sanitizer") != NULL || strstr(buf, "runtime error:") != NULL)
        fail_msg("meterctl %s: sanitizer report:\n%s", args, buf);
    return (run_result){WEXITSTATUS(st), buf};
}

static void expect(const char *args, int status, const char *fragment)
{
    run_result r = run(args);
    if (r.status != status || (fragment && strstr(r.out, fragment) == NULL))
        fail_msg("meterctl %s: exit %d (expected %d), output:\n%s\n(expected '%s')", args, r.status,
                 status, r.out, fragment ? fragment : "");
    free(r.out);
}

static void test_usage(void **state)
{
    (void)state;
    expect("--help", 0, "validate");
    expect("--version", 0, "meterctl 0.1.0");
    expect("", 2, "usage: meterctl");
    expect("frobnicate", 2, "unknown command 'frobnicate'");
    expect("validate", 2, "no FILE given");
    expect("validate --help", 0, "usage: meterctl validate");
    expect("validate -o yaml " DATA "valid/full.yaml", 2, "unknown output format 'yaml'");
    expect("validate -o", 2, "needs a value");
    expect("validate --bogus x", 2, "unknown option '--bogus'");
}

static void test_ceilometer_files(void **state)
{
    (void)state;
    const char *files[] = {
        "polling.yaml",  "polling_all.yaml",           "polling-all_pollsters.yaml",
        "pipeline.yaml", "pipeline-transformers.yaml", "example_pipeline-monasca.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char args[1024];
        snprintf(args, sizeof args, "validate " DATA "ceilometer/%s", files[i]);
        run_result r = run(args);
        assert_int_equal(r.status, 0);
        /* the last line is "ok <sha256> FILE" */
        const char *ok = strstr(r.out, "ok ");
        assert_non_null(ok);
        assert_int_equal(strspn(ok + 3, "0123456789abcdef"), 64);
        assert_non_null(strstr(ok, files[i]));
        free(r.out);
    }
}

static void test_invalid_corpus(void **state)
{
    (void)state;
    FILE *t = fopen(DATA "invalid/expected.txt", "r");
    assert_non_null(t);
    char line[1024];
    int cases = 0;
    while (fgets(line, sizeof line, t)) {
        char file[256], frag[256];
        int l, c;
        if (line[0] == '#' || sscanf(line, "%255[^\t]\t%d:%d\t%255[^\n]", file, &l, &c, frag) != 4)
            continue;
        char args[1024], want[600];
        snprintf(args, sizeof args, "validate " DATA "invalid/%s", file);
        snprintf(want, sizeof want, "%s:%d:%d: error: ", file, l, c);
        run_result r = run(args);
        if (r.status != 1 || strstr(r.out, want) == NULL || strstr(r.out, frag) == NULL)
            fail_msg("%s: exit %d, output:\n%s\nexpected '%s' and '%s'", file, r.status, r.out,
                     want, frag);
        free(r.out);
        cases++;
    }
    fclose(t);
    assert_true(cases >= 40);
}

static void test_json(void **state)
{
    (void)state;
    run_result r =
        run("validate -o json " DATA "valid/full.yaml " DATA "invalid/67-many-errors.yaml");
    assert_int_equal(r.status, 1);
    json_error_t err;
    json_t *doc = json_loads(r.out, 0, &err);
    if (doc == NULL) fail_msg("not JSON (%s):\n%s", err.text, r.out);
    assert_false(json_is_true(json_object_get(doc, "ok")));
    json_t *files = json_object_get(doc, "files");
    assert_int_equal(json_array_size(files), 2);
    json_t *good = json_array_get(files, 0);
    assert_true(json_is_true(json_object_get(good, "ok")));
    assert_int_equal(strlen(json_string_value(json_object_get(good, "sha256"))), 64);
    assert_int_equal(json_integer_value(json_object_get(good, "sources")), 3);
    json_t *bad = json_array_get(files, 1);
    assert_false(json_is_true(json_object_get(bad, "ok")));
    assert_true(json_is_null(json_object_get(bad, "sha256")));
    json_t *errors = json_object_get(bad, "errors");
    assert_int_equal(json_array_size(errors), 5);
    json_t *e0 = json_array_get(errors, 0);
    assert_int_equal(json_integer_value(json_object_get(e0, "line")), 3);
    assert_int_equal(json_integer_value(json_object_get(e0, "column")), 17);
    assert_string_equal(json_string_value(json_object_get(e0, "severity")), "error");
    assert_non_null(strstr(json_string_value(json_object_get(e0, "message")), "> 0"));
    /* no interval, and two meters no pollster provides: validate knows the
     * agent's meters (the registry), so it warns as the agent does */
    json_t *warnings = json_object_get(bad, "warnings");
    assert_int_equal(json_array_size(warnings), 3);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(warnings, 1), "message")),
               "unknown meter 'gpu'"));
    json_decref(doc);
    free(r.out);
    /* all valid: exit 0 and ok true; --output=json spelling */
    r = run("validate --output=json " DATA "valid/default-implicit.yaml " DATA
            "valid/default-explicit.yaml");
    assert_int_equal(r.status, 0);
    doc = json_loads(r.out, 0, &err);
    assert_non_null(doc);
    assert_true(json_is_true(json_object_get(doc, "ok")));
    files = json_object_get(doc, "files");
    assert_string_equal(json_string_value(json_object_get(json_array_get(files, 0), "sha256")),
                        json_string_value(json_object_get(json_array_get(files, 1), "sha256")));
    json_decref(doc);
    free(r.out);
}

static void test_mixed_stdin_strict(void **state)
{
    (void)state;
    expect("validate " DATA "valid/full.yaml " DATA "invalid/01-empty.yaml", 1,
           "invalid " DATA "invalid/01-empty.yaml (1 error)");
    expect("validate - < " DATA "ceilometer/polling.yaml", 0, "ok ");
    expect("validate - < " DATA "invalid/21-mixed-include-exclude.yaml", 1,
           "<stdin>:7:11: error: ");
    /* warnings pass, unless --strict */
    expect("validate " DATA "ceilometer/pipeline.yaml", 0, "warning: ");
    expect("validate --strict " DATA "ceilometer/pipeline.yaml", 1, "warning: ");
    expect("validate /nonexistent.yaml", 1, "/nonexistent.yaml: error: cannot open");
}

/* Writes text to a fresh temporary file; its path in out (the caller unlinks). */
static void temp_file(const char *text, char *out, size_t cap)
{
    snprintf(out, cap, "/tmp/meterctl-validate-XXXXXX");
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/*
 * Issue 10: what validate accepts, meterd runs. Publisher URLs are checked
 * with the agent's own scheme rows: default ports are fine, and a query
 * option the plugin would refuse at open (out of bounds, unknown) is an error
 * at its line:column, where it used to pass validation.
 */
static void test_publishers_as_the_agent_opens_them(void **state)
{
    (void)state;
    char path[64], args[128];
    temp_file("sources: [{name: s, interval: 60, meters: ['host.*'], sinks: [out]}]\n"
              "sinks: [{name: out, publishers: ['udp://127.0.0.1', 'statsd://127.0.0.1',\n"
              "                                 'http://10.0.0.1/in?timeout=5&tenant=a']}]\n",
              path, sizeof path);
    snprintf(args, sizeof args, "validate --strict %s", path);
    expect(args, 0, "ok ");
    unlink(path);
    temp_file("sources: [{name: s, interval: 60, meters: ['host.*'], sinks: [out]}]\n"
              "sinks: [{name: out, publishers: ['prometheus://?max_age=0',\n"
              "                                 'udp://h?payload=10', 'file:///x?bogus=1']}]\n",
              path, sizeof path);
    snprintf(args, sizeof args, "validate %s", path);
    expect(args, 1,
           ":2:34: error: publisher 'prometheus://?max_age=0': option max_age must be "
           "between 1 and 2592000, got 0");
    expect(args, 1, ":3:34: error: publisher 'udp://h?payload=10': option payload must be");
    expect(args, 1, "error: publisher 'file:///x?bogus=1': unknown option 'bogus' (known: none)");
    unlink(path);
}

/* A FIFO used to read as an empty document (or, opened blocking, to hang);
 * /dev/zero and a directory are no pipeline files either: each is refused,
 * naming what it is and what was expected. */
static void test_not_a_regular_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/meterctl-validate-XXXXXX", fifo[64], args[128];
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/pipeline.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(args, sizeof args, "validate %s", fifo);
    expect(args, 1, "pipeline.yaml: error: is a FIFO; expected a regular file");
    expect("validate /dev/zero", 1, "is a character device; expected a regular file");
    snprintf(args, sizeof args, "validate %s", dir);
    expect(args, 1, "is a directory; expected a regular file");
    unlink(fifo);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_ceilometer_files),
        cmocka_unit_test(test_invalid_corpus),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_mixed_stdin_strict),
        cmocka_unit_test(test_publishers_as_the_agent_opens_them),
        cmocka_unit_test(test_not_a_regular_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
