/* fuzz_expo_parse.c -- libFuzzer target: any bytes into expo_parse, as text
 * and as OpenMetrics (the first byte chooses), with small limits.
 *
 * Checks: no crash, leak or undefined behaviour; every sample handed over
 * has NUL-terminated name and labels inside the limits; the count the stats
 * report is what the callback saw; an error is positioned ("L:C: ..." or the
 * size limit's message).
 */
#include "expo/expo.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct check {
    size_t n;
    expo_limits lim;
} check;

static int on_sample(void *ctx, const expo_sample *s, char *msg, size_t msglen)
{
    (void)msg;
    (void)msglen;
    check *c = ctx;
    c->n++;
    if (!s->name[0] || !s->family[0] || s->n_labels > c->lim.max_labels) abort();
    for (size_t i = 0; i < s->n_labels; i++)
        if (!s->labels[i].name[0] || strlen(s->labels[i].value) > c->lim.max_label_value) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    expo_format fmt = data[0] & 1 ? EXPO_OPENMETRICS : EXPO_TEXT;
    check c = {.lim = {.max_bytes = 1 << 20,
                       .max_series = 5000,
                       .max_labels = 16,
                       .max_label_value = 256,
                       .max_line = 4096}};
    expo_stats st;
    char err[512];
    err[0] = 0;
    /* exactly size - 1 bytes in their own allocation: ASan sees any over-read */
    char *buf = malloc(size - 1 ? size - 1 : 1);
    if (!buf) return 0;
    memcpy(buf, data + 1, size - 1);
    int rc = expo_parse(buf, size - 1, fmt, &c.lim, on_sample, &c, &st, err, sizeof err);
    free(buf);
    if (st.samples != c.n) abort();
    if (rc != 0 && !(err[0] >= '1' && err[0] <= '9')) abort();
    return 0;
}
