/*
 * main.c: meterd's command line. Everything else lives in the agent library.
 */
#include "agent/agent.h"
#include "agent/config.h"
#include "agent/notify.h"
#include "httpd/httpd.h"

#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meterd [-c meterd.conf] [--namespaces central,compute,ipmi] [-p pipeline.yaml]"
            " [-f]\n"
            "  -c, --config FILE       configuration (ini; default: built-in defaults)\n"
            "      --namespaces LIST   pollster namespaces to run (overrides the config)\n"
            "  -p, --pipeline FILE     pipeline file (overrides [polling] cfg_file)\n"
            "  -f, --foreground        stay in the foreground (meterd never forks; accepted\n"
            "                          for compatibility with init scripts)\n"
            "      --help-config       print every option with its default and exit\n"
            "  -V, --version           print the version and exit\n"
            "  -h, --help              this help\n"
            "Signals: SIGTERM/SIGINT stop cleanly (polls finish, publishers flush);\n"
            "SIGHUP reloads the pipeline and reopens log and output files.\n"
            "Under systemd (NOTIFY_SOCKET) it reports readiness and pets WatchdogSec=.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"namespaces", required_argument, NULL, 'n'},
        {"pipeline", required_argument, NULL, 'p'}, {"foreground", no_argument, NULL, 'f'},
        {"help-config", no_argument, NULL, 'H'},    {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
#ifdef __GLIBC__
    /* A fixed mmap threshold: glibc's default one rises to the largest block
     * freed (a /metrics page of 100,000 series is ~16 MiB), after which such
     * blocks come from the heap and stay resident between renders (scrape
     * bench, issue 14: 80-108 MiB -> 53 MiB resident). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    agent_options opt = {.handle_signals = true};
    int c;
    while ((c = getopt_long(argc, argv, "c:p:fVh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt.config_path = optarg;
            break;
        case 'n':
            opt.namespaces = optarg;
            break;
        case 'p':
            opt.pipeline = optarg;
            break;
        case 'f':
            break;
        case 'H':
            config_print_help(stdout);
            return 0;
        case 'V':
            printf("meterd %s\n", agent_version());
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meterd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    /* every descriptor the hard limit allows: the API's connection cap is
     * derived from the limit and leaves the rest to polling (httpd_fd_budget) */
    httpd_raise_nofile();
    char err[4096];
    agent *a = agent_new(&opt, err, sizeof err);
    if (!a) {
        fprintf(stderr, "meterd: %s\n", err);
        return 1;
    }
    notifier nt; /* systemd Type=notify: READY=1, WATCHDOG=1 from the loop */
    notify_start(&nt, a);
    int rc = agent_run(a);
    notify_send(&nt, "STOPPING=1");
    notify_stop(&nt);
    agent_free(a);
    return rc == 0 ? 0 : 1;
}
