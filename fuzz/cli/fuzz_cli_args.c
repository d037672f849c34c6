/*
 * fuzz_cli_args.c: command-line arguments, split at NUL bytes into argv.
 * meterctl's cluster commands parse them with cli_parse_simple (the shared
 * options --zk, -c, -g, --auth-file, --acl-file, --connect-timeout, -o,
 * their --name=VALUE forms, one positional, one extra option), then
 * connect; only the parsing runs here (a connect would wait for a server).
 * Each argument also goes through the value parsers (integers, -o formats)
 * and meterd's --namespaces check (config_namespaces_check; the rest of
 * meterd's command line is getopt_long and paths for fuzz_config_load).
 * A usage error must be printed, never a crash or a read past an argument.
 */
#include "agent/config.h"
#include "cli/cli.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ARGS = 24 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink && !(sink = fopen("/dev/null", "w"))) abort();
    /* argv[0] "meterctl status", then the NUL-separated pieces, each its
     * own allocation so ASan sees a read past any of them */
    char *argv[MAX_ARGS + 2] = {strdup("status")};
    int argc = 1;
    for (size_t off = 0; off < size && argc <= MAX_ARGS;) {
        const uint8_t *nul = memchr(data + off, 0, size - off);
        size_t len = nul ? (size_t)(nul - (data + off)) : size - off;
        char *a = malloc(len + 1);
        if (!a) break;
        memcpy(a, data + off, len);
        a[len] = 0;
        argv[argc++] = a;
        off += len + 1;
    }
    argv[argc] = NULL;

    cli_cluster k;
    cli_cluster_init(&k, "status", sink, sink);
    const char *positional = NULL, *val = NULL;
    int rc = cli_parse_simple(&k, argc, argv, "usage: meterctl status [options]\n", &positional,
                              "--timeout", &val);
    if (rc != CLI_OK && rc != CLI_USAGE && rc != -1) abort();
    if (rc == CLI_OK && k.connect_timeout_ms <= 0) abort();
    cli_cluster_close(&k);

    char err[300];
    for (int i = 1; i < argc; i++) {
        int64_t v;
        cli_output fmt;
        if (cli_parse_i64(argv[i], -1000, 1000000, &v) == 0 && (v < -1000 || v > 1000000)) abort();
        (void)cli_parse_output(argv[i], &fmt);
        err[0] = 0;
        if (config_namespaces_check(argv[i], err, sizeof err) != 0 && !err[0]) abort();
    }
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
