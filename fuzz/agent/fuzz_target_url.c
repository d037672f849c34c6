/*
 * fuzz_target_url.c: target URLs arrive in revisions (anyone who can write
 * ZooKeeper, and file_sd files) and are parsed by the pollster that polls
 * them: tcp:// (tcp.connect) and ipmi:// (ipmi.sensors) here, then the
 * allow-list check every pollster makes before contacting a target, with a
 * list of each entry kind. http(s):// URLs go to libcurl after only that
 * check (the allow-list grammar itself is fuzz_allow's). The first byte
 * picks the parser; the rest is the URL. A refusal must say why, and what
 * is accepted must be what the parser documents.
 */
#include "../common/fuzz_cstr.h"
#include "agent/allow.h"
#include "registry/registry.h"
#include "agent/pollsters/tcp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static allow_list *list;

static void check_tcp(const char *url)
{
    char host[256], port[8], err[300] = "";
    int timeout = 0;
    if (tcp_parse_target(url, host, sizeof host, port, sizeof port, &timeout, err, sizeof err) !=
        0) {
        if (!err[0]) abort();
        return;
    }
    int p = atoi(port);
    if (p < 1 || p > 65535 || strspn(port, "0123456789") != strlen(port)) abort();
    if (timeout < 1 || timeout > 10000) abort();
}

static void check_ipmi(const char *url)
{
    char host[256], err[300] = "";
    bool inband = false;
    if (registry_ipmi_target(url, host, sizeof host, &inband, err, sizeof err) != 0) {
        if (!err[0]) abort();
        return;
    }
    if (inband != (host[0] == 0)) abort(); /* in-band means no host, and only then */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!list) {
        char err[300];
        if (allow_list_parse("10.0.0.0/8, fd00::/8, *.example.com:443, 127.0.0.1:9100, [::1]:80",
                             false, &list, err, sizeof err) != 0)
            abort();
    }
    char *url = fuzz_cstr(data + 1, size - 1);
    if (!url) return 0;
    char why[2000] = "";
    switch (data[0] % 3) {
    case 0:
        check_tcp(url);
        break;
    case 1:
        check_ipmi(url);
        break;
    default:
        if (allow_target(list, url, why, sizeof why) != 0 && !why[0]) abort();
        break;
    }
    free(url);
    return 0;
}
