/* fuzz_expo_file_sd.c -- libFuzzer target: any bytes into expo_sd_parse.
 * Checks: no crash, leak or undefined behaviour; a failed parse leaves
 * nothing behind; every target of a valid document is a non-empty string. */
#include "expo/expo.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    expo_sd sd;
    char err[256];
    int rc = expo_sd_parse((const char *)data, size, "fuzz.json", &sd, err, sizeof err);
    if (rc != 0 && (sd.n_groups != 0 || sd.groups != NULL)) abort();
    for (size_t g = 0; g < sd.n_groups; g++)
        for (size_t t = 0; t < sd.groups[g].n_targets; t++)
            if (!sd.groups[g].targets[t][0]) abort();
    expo_sd_free(&sd);
    return 0;
}
