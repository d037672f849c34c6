/* fuzz_pipeline_parse.c -- libFuzzer target: any bytes into pipeline_parse.
 *
 * Checks the module's promises on arbitrary input: no crash, no leak, no
 * undefined behaviour (run with ASan+UBSan), and a consistent verdict (a
 * pipeline iff no error; every error positioned). Small limits keep each
 * run fast so the fuzzer explores structure rather than size. A valid
 * result also goes through diff (against itself: no changes) and selection.
 * Publisher URLs go through the registry's scheme rules, as in meterd.
 */
#include "pipeline/pipeline.h"
#include "registry/registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const known[] = {"cpu", "memory.usage", "disk.read.bytes"};
    registry_options ro;
    registry_pipeline_options(&ro, NULL, 0);
    pipeline_options opt = ro.opt;
    opt.known_meters = known;
    opt.n_known_meters = 3;
    opt.max_bytes = 1 << 20;
    opt.max_depth = 32;
    opt.max_nodes = 100000;
    pipeline *p = NULL;
    pipeline_diags d = {0};
    int rc = pipeline_parse((const char *)data, size, "fuzz.yaml", &opt, &p, &d);
    if ((rc == 0) != (p != NULL) || (rc == 0) != (d.errors == 0)) abort();
    if (p != NULL) {
        pipeline_diff diff;
        if (pipeline_diff_compute(p, p, &diff) != 0 || diff.n_changes != 0) abort();
        pipeline_diff_free(&diff);
        for (size_t i = 0; i < p->n_sources; i++)
            (void)pipeline_source_selects(&p->sources[i], "cpu");
        /* the canonical form is itself a valid pipeline (JSON is YAML) with the same digest */
        pipeline *q = NULL;
        if (pipeline_parse(p->canonical, p->canonical_len, "canonical", &opt, &q, NULL) == 0) {
            if (strcmp(p->sha256_hex, q->sha256_hex) != 0) abort();
            pipeline_free(q);
        }
    }
    int need = pipeline_diags_format(&d, NULL, 0);
    if (need > 0) {
        char *buf = malloc((size_t)need + 1);
        if (buf != NULL) pipeline_diags_format(&d, buf, (size_t)need + 1);
        free(buf);
    }
    pipeline_free(p);
    pipeline_diags_free(&d);
    return 0;
}
