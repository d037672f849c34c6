/*
 * fuzz_config_load.c: meterd.conf is written by an operator, and a package,
 * a template or a config tool may put anything in it. config_load_string
 * must never crash, leak or read past the text, and must return an error
 * with a reason or a configuration whose numbers are within their ranges
 * (the bounds of docs/CONFIG.md that the rest of the agent relies on).
 */
#include "agent/config.h"

#include "../common/fuzz_cstr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    agent_config *c = malloc(sizeof *c);
    if (!text || !c) {
        free(text);
        free(c);
        return 0;
    }
    config_defaults(c);
    char err[1024];
    if (config_load_string(c, text, "fuzz.conf", err, sizeof err) == 0) {
        if (c->workers < 1 || c->workers > 256) abort();
        if (c->api_port < 0 || c->api_port > 65535) abort();
        if (c->queue_size < 1 || c->queue_size > 1000000) abort();
        if (c->n_extra < 0 || c->n_extra > CONFIG_MAX_EXTRA) abort();
        for (int i = 0; i < c->n_extra; i++)
            if (!memchr(c->extra[i].value, 0, sizeof c->extra[i].value)) abort();
    } else if (!err[0]) {
        abort(); /* every refusal says why */
    }
    free(c);
    free(text);
    return 0;
}
