/*
 * ini.c: the one ini reader of meterd's configuration files (meterd.conf,
 * meterproxy.conf). libinih does the parsing; what it does not check is
 * checked here, for every program alike:
 *   - a NUL byte would end inih's value there and the rest would be lost
 *     unseen: an error at its line:column, nothing is parsed;
 *   - inih reads lines into a fixed INI_MAX_LINE buffer and parses the cut-off
 *     rest as a line of its own: a line that does not fit is reported at its
 *     line and handed to inih as an empty line instead;
 *   - a syntax error is reported at its line, and parsing goes on to report
 *     every problem in one pass (the hooks decide about values).
 */
#include "registry/registry.h"

#include <ini.h>
#include <stdio.h>
#include <string.h>

typedef struct ini_state {
    const registry_ini_hooks *h;
    void *user;
    const char *text, *end; /* what is left to read */
    int line;
    int problems;
} ini_state;

static void problem(ini_state *st, int line, const char *msg)
{
    st->problems++;
    st->h->problem(st->user, line, msg);
}

static char *line_reader(char *str, int num, void *stream)
{
    ini_state *st = stream;
    if (st->text >= st->end) return NULL;
    const char *nl = memchr(st->text, '\n', (size_t)(st->end - st->text));
    size_t len = nl ? (size_t)(nl - st->text + 1) : (size_t)(st->end - st->text);
    st->line++;
    if (len >= (size_t)num) {
        char msg[128];
        snprintf(msg, sizeof msg, "line too long (%zu bytes; at most %d)", nl ? len - 1 : len,
                 num - 2);
        problem(st, st->line, msg);
        str[0] = 0;
    } else {
        memcpy(str, st->text, len);
        str[len] = 0;
    }
    st->text += len;
    return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    ini_state *st = user;
    st->h->option(st->user, st->line, *section ? section : "DEFAULT", name, value);
    return 1; /* keep going: every problem in one pass */
}

int registry_ini_parse(const char *text, size_t len, const registry_ini_hooks *h, void *user)
{
    ini_state st = {.h = h, .user = user, .text = text, .end = text + len};
    const char *nul = memchr(text, 0, len);
    if (nul) {
        const char *bol = text;
        int line = 1;
        for (const char *p = text; p < nul; p++)
            if (*p == '\n') {
                line++;
                bol = p + 1;
            }
        char msg[96];
        snprintf(msg, sizeof msg, "NUL byte at column %d; expected a text file",
                 (int)(nul - bol) + 1);
        problem(&st, line, msg);
        return -1;
    }
    int rc = ini_parse_stream(line_reader, &st, handler, &st);
    if (rc > 0) /* the handler never fails, so this is a syntax error */
        problem(&st, rc, "syntax error: expected [section] or name = value");
    else if (rc < 0 && st.problems == 0)
        problem(&st, 0, "cannot read the file (out of memory?)");
    return st.problems ? -1 : 0;
}
