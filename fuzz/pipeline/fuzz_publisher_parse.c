/*
 * fuzz_publisher_parse.c: a publisher URL comes from a pipeline file (and
 * through it from whoever pushes a revision). pipeline_publisher_parse
 * with the registry's schemes, as meterd checks a sink's `publishers:`,
 * must never crash or leak, must give a verdict with a reason, and what it
 * accepts must be split into terminated parts with a port in range.
 */
#include "pipeline/pipeline.h"
#include "registry/registry.h"

#include "../common/fuzz_cstr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fuzz_cstr(data, size);
    if (!url) return 0;
    registry_options ro;
    if (registry_pipeline_options(&ro, NULL, 0) != 0) abort();
    pipeline_publisher p;
    pipeline_diags d = {0};
    int rc = pipeline_publisher_parse(url, &ro.opt, &p, &d);
    if ((rc == 0) != (d.errors == 0)) abort();
    if (rc == 0) {
        if (!p.url || !p.scheme || !p.host || !p.path || !p.query) abort();
        if (p.port < 0 || p.port > 65535) abort();
        (void)strlen(p.scheme); /* ASan: terminated inside their blocks */
        (void)strlen(p.host);
        (void)strlen(p.path);
        (void)strlen(p.query);
        pipeline_publisher_clear(&p);
    }
    char buf[512];
    (void)pipeline_diags_format(&d, buf, sizeof buf);
    pipeline_diags_free(&d);
    free(url);
    return 0;
}
