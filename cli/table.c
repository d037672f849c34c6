/* table.c -- aligned text columns for meterctl's human output.
 *
 * Cells are collected first and printed once, each column as wide as its
 * widest cell, two spaces apart, no colours and no trailing blanks: the
 * output stays readable on a terminal and greppable in a pipe (like
 * `kubectl get`). Machines should read -o json instead.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

void cli_table_init(cli_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    cli_table_add(t, headers);
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **nc = realloc(t->cells, cap * t->ncols * sizeof *nc);
        if (nc == NULL) return; /* the row is dropped; nothing else to do on ENOMEM */
        t->cells = nc;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = strdup(cells[c] ? cells[c] : "-");
    t->nrows++;
}

void cli_table_print(const cli_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof *w);
    if (w == NULL) return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t n = s ? strlen(s) : 0;
            if (n > w[c]) w[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (s == NULL) s = "?";
            if (c + 1 == t->ncols)
                fprintf(f, "%s", s);
            else
                fprintf(f, "%-*s  ", (int)w[c], s);
        }
        fputc('\n', f);
    }
    free(w);
}

void cli_table_free(cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
