/* testutil.h -- small helpers shared by the pipeline unit tests. */
#ifndef METERD_TESTS_PIPELINE_TESTUTIL_H
#define METERD_TESTS_PIPELINE_TESTUTIL_H

#include "pipeline/pipeline.h"

#include <stddef.h>

/* The registry's publisher schemes, as meterctl validate and the agent parse
 * with (not its meters: these tests use Ceilometer's names). */
const pipeline_options *tu_options(void);
/* Parses a NUL-terminated text; fails the test (with the diagnostics printed)
 * unless it is valid. */
pipeline *tu_parse_ok(const char *text);
/* Parses and expects failure; returns the diagnostics (caller frees). */
pipeline_diags tu_parse_bad(const char *text);
/* The first error, or NULL. */
const pipeline_diag *tu_first_error(const pipeline_diags *d);
/* Whole file into a malloc'd NUL-terminated buffer; fails the test if unreadable. */
char *tu_read_file(const char *path, size_t *len);
/* Path under tests/data/pipeline/, in a static buffer per call site's own copy. */
void tu_data_path(char *buf, size_t cap, const char *rel);

#endif
