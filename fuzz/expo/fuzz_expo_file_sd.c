/* fuzz_expo_file_sd.c -- libFuzzer target: any bytes into expo_sd_parse, as
 * JSON or YAML (the first byte's low bit chooses: odd is YAML).
 * Checks: no crash, leak or undefined behaviour; a failed parse leaves
 * nothing behind; every target of a valid document is a non-empty string. */
#include "expo/expo.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    expo_sd sd;
    char err[256];
    int rc = expo_sd_parse((const char *)data + 1, size - 1, data[0] & 1 ? "fuzz.yml" : "fuzz.json",
                           &sd, err, sizeof err);
    if (rc != 0 && (sd.n_groups != 0 || sd.groups != NULL)) abort();
    for (size_t g = 0; g < sd.n_groups; g++)
        for (size_t t = 0; t < sd.groups[g].n_targets; t++)
            if (!sd.groups[g].targets[t][0]) abort();
    expo_sd_free(&sd);
    return 0;
}
