/* select.c -- meter selection exactly as Ceilometer's Source.is_supported.
 *
 * Ceilometer matches meter names with Python's fnmatch (oslo_utils.fnmatch),
 * which on POSIX is case-sensitive and differs from fnmatch(3) in ways that
 * matter for a drop-in format: no backslash escapes, '*' crosses '.' and '/',
 * '?' and sets match one Unicode character (not one byte), "[^x]" is the set
 * of '^' and 'x' (only '!' negates), a '[' without its ']' is a literal, a
 * ']' right after '[' or '[!' is a member, and a reversed range such as
 * "[z-a]" is empty. So we implement those rules here, over UTF-8 code points,
 * rather than call fnmatch(3).
 *
 * Matching is the classic iterative glob with one backtrack point (the last
 * '*'): every other token consumes exactly one character, so it runs in
 * O(|pattern| * |name|) at worst and never recurses.
 *
 * Selection order (is_supported): any matching "!x" excludes; otherwise any
 * matching include selects; otherwise the meter is selected only when every
 * pattern is an exclusion ("we suppose the default is allow").
 */
#include "pipeline/internal.h"

#include <string.h>

/* Decode one UTF-8 code point; invalid bytes decode as themselves (the
 * validator only ever passes libyaml-checked UTF-8, callers may not). */
static unsigned next_cp(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    unsigned c = p[0];
    int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    unsigned cp = extra == 3 ? c & 0x07 : extra == 2 ? c & 0x0f : extra == 1 ? c & 0x1f : c;
    int i = 1;
    for (; i <= extra; i++) {
        if ((p[i] & 0xc0) != 0x80) break;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (i <= extra) { /* truncated sequence: take the lead byte alone */
        cp = c;
        i = 1;
    }
    *s += i;
    return cp;
}

/* If pat points at a complete set "[...]", sets *end past it and returns
 * whether cp is matched by it. Returns -1 when the '[' is a literal. */
static int match_set(const char *pat, unsigned cp, const char **end)
{
    const char *p = pat + 1;
    bool negate = false;
    if (*p == '!') {
        negate = true;
        p++;
    }
    /* find the closing ']' the way Python does: one right after '[' or '[!' is a member */
    const char *q = p;
    if (*q == ']') q++;
    while (*q && *q != ']')
        q++;
    if (*q != ']') return -1;
    bool hit = false;
    while (p < q) {
        unsigned lo = next_cp(&p);
        if (*p == '-' && p + 1 < q) {
            p++;
            unsigned hi = next_cp(&p);
            if (lo <= cp && cp <= hi) hit = true; /* lo > hi is an empty range */
        } else if (lo == cp) {
            hit = true;
        }
    }
    *end = q + 1;
    return hit != negate;
}

bool pipeline_glob_match(const char *pattern, const char *name)
{
    const char *p = pattern, *n = name;
    const char *star_p = NULL, *star_n = NULL;
    while (*n) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            star_p = p;
            star_n = n;
            continue;
        }
        const char *n_next = n;
        unsigned cp = next_cp(&n_next);
        if (*p == '?') {
            p++;
            n = n_next;
            continue;
        }
        if (*p == '[') {
            const char *end;
            int r = match_set(p, cp, &end);
            if (r == 1) {
                p = end;
                n = n_next;
                continue;
            }
            if (r == 0) goto backtrack;
            /* r == -1: a literal '[' */
        }
        if (*p) {
            const char *p_next = p;
            if (next_cp(&p_next) == cp) {
                p = p_next;
                n = n_next;
                continue;
            }
        }
    backtrack:
        if (star_p == NULL) return false;
        next_cp(&star_n);
        n = star_n;
        p = star_p;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool pl_has_glob(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

bool pipeline_source_selects(const pipeline_source *s, const char *meter)
{
    if (s == NULL || meter == NULL) return false;
    bool only_exclusions = true;
    for (size_t i = 0; i < s->n_meters; i++)
        if (s->meters[i][0] == '!' && pipeline_glob_match(s->meters[i] + 1, meter)) return false;
    for (size_t i = 0; i < s->n_meters; i++) {
        if (s->meters[i][0] == '!') continue;
        only_exclusions = false;
        if (pipeline_glob_match(s->meters[i], meter)) return true;
    }
    return only_exclusions;
}

bool pl_family_covers(const char *family, const char *pattern)
{
    size_t fl = strlen(family);
    if (fl == 0 || family[fl - 1] != '*' || strcspn(family, "*?[") != fl - 1) return false;
    size_t lit = strcspn(pattern, "*?[");
    size_t n = lit < fl - 1 ? lit : fl - 1;
    return strncmp(pattern, family, n) == 0 && (lit >= fl - 1 || pattern[lit] != '\0');
}
