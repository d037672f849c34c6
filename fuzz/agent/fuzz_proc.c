/*
 * fuzz_proc.c: the /proc files the host pollsters parse (host.c: loadavg
 * and pressure/{cpu,io,memory}). proc_root is configurable (containers),
 * and a kernel's format can change: an odd file must give an error, never
 * a crash or a read past the text. The first byte picks the file, the rest
 * is its content, written under a private proc_root the pollster then reads
 * exactly as it reads /proc. (cgroup files and mountinfo are fuzz_cgroup's.)
 */
#include "agent/pollster.h"
#include "agent/sample.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[256];

static void make_root(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(root, sizeof root, "%s/fuzz_proc.XXXXXX", base);
    if (!mkdtemp(root)) abort();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/pressure", root);
    if (mkdir(dir, 0700) != 0) abort();
}

static void cleanup(void)
{
    static const char *const files[] = {"loadavg",         "pressure/cpu", "pressure/io",
                                        "pressure/memory", "pressure",     ""};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", root, files[i]);
        remove(p);
    }
}

static void put(const char *rel, const uint8_t *data, size_t size)
{
    char p[300];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
}

static void poll_once(const pollster_plugin *pp)
{
    bool want[64];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        want[i] = true;
    poll_target t = {.id = "host-a", .resource = "host-a", .local = true};
    poll_env env = {.host = "host-a", .proc_root = root, .want = want, .now_ms = 1};
    sample_batch *b = sample_batch_new("fuzz", 0, 1);
    if (!b) return;
    char err[300] = "";
    if (pp->poll(NULL, &t, &env, b, err, sizeof err) != 0 && !err[0]) abort();
    sample_batch_unref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!root[0]) {
        make_root();
        atexit(cleanup);
    }
    static const char *const names[] = {"pressure/cpu", "pressure/io", "pressure/memory"};
    if (data[0] % 2 == 0) {
        put("loadavg", data + 1, size - 1);
        poll_once(&pollster_host_load);
    } else {
        /* the same text as every resource's file: the parser runs three times */
        for (int i = 0; i < 3; i++)
            put(names[i], data + 1, size - 1);
        poll_once(&pollster_host_pressure);
    }
    return 0;
}
