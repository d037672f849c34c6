/*
 * fuzz_allow.c: the local allow-lists. The list comes from meterd.conf, the
 * targets it is matched against from revisions (anyone who can write
 * ZooKeeper, before the signature is even looked at by a pollster). Input:
 * the list up to the first NUL, then one target. Parsing and matching must
 * never crash or leak; a refusal says why; `*` allows everything.
 */
#include "../common/fuzz_cstr.h"
#include "agent/allow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t llen = nul ? (size_t)(nul - data) : size;
    char *list = fuzz_cstr(data, llen),
         *target = fuzz_cstr(nul ? nul + 1 : data, nul ? size - llen - 1 : 0);
    if (!list || !target) abort();
    allow_list *l = NULL, *any = NULL;
    char err[300] = "", why[2000] = "";
    if (allow_list_parse(list, false, &l, err, sizeof err) != 0 && !err[0]) abort();
    if (allow_target(l, target, why, sizeof why) != 0 && !why[0]) abort();
    if (allow_list_parse("*", false, &any, err, sizeof err) != 0) abort();
    char host_only[64];
    if (!strchr(target, ':') && !strchr(target, '/') && !strchr(target, '@') &&
        !strchr(target, '[') && !strchr(target, '?') && !strchr(target, '#') &&
        strlen(target) < sizeof host_only && allow_target(any, target, why, sizeof why) != 0)
        abort(); /* a bare host name passes `*` */
    allow_list_free(any);
    allow_list_free(l);
    free(list);
    free(target);
    return 0;
}
