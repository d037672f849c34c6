/* file_sd_int.h (internal to expo/): what the JSON and YAML file_sd readers share. */
#ifndef METERD_EXPO_FILE_SD_INT_H
#define METERD_EXPO_FILE_SD_INT_H

#include <stdbool.h>

/* A label name as Prometheus allows it: [a-zA-Z_][a-zA-Z0-9_]*. */
bool expo_sd_label_name_ok(const char *s);

#endif
