/*
 * fuzz_url_parse.c: backend_url comes from meterd.conf or the command line.
 * Parsing must never crash, must say why it refuses, and what it accepts
 * must fit its fields with a usable host list.
 */
#include "coordinator/coordinator.h"

#include "../common/fuzz_cstr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fuzz_cstr(data, size);
    if (!url) return 0;
    coord_url_t u;
    memset(&u, 0x5a, sizeof u); /* a result must not rely on what was there */
    char err[256];
    err[0] = 0;
    if (coord_url_parse(url, &u, err, sizeof err) == 0) {
        if (!memchr(u.hosts, 0, sizeof u.hosts) || !memchr(u.chroot, 0, sizeof u.chroot)) abort();
        if (!u.hosts[0]) abort();
        if (u.chroot[0] && u.chroot[0] != '/') abort();
    } else if (!err[0]) {
        abort();
    }
    free(url);
    return 0;
}
