/*
 * roles.c: the group's role ids file (zk-acl.txt of `meterctl
 * init-credentials`), read the same way by meterd and meterctl so both lay
 * out and check the same ACLs.
 */
#include "group/group.h"

#include <stdio.h>
#include <string.h>

int group_roles_parse(const char *text, size_t len, const char *label, group_roles *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *slot[3] = {out->operator_id, out->member_id, out->reader_id};
    static const char *const names[3] = {"operator", "member", "reader"};
    int lineno = 0;
    for (size_t i = 0; i < len;) {
        const char *line = text + i, *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - line) : len - i;
        i += ll + 1;
        lineno++;
        while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' '))
            ll--;
        if (!ll || line[0] == '#') continue;
        int r = 0;
        size_t nlen = 0;
        for (; r < 3; r++) {
            nlen = strlen(names[r]);
            if (ll > nlen + 8 && !strncmp(line, names[r], nlen) &&
                !strncmp(line + nlen, " digest:", 8))
                break;
        }
        const char *id = line + nlen + 8;
        size_t idlen = ll - nlen - 8;
        if (r == 3 || !memchr(id, ':', idlen) || idlen >= GROUP_ROLE_ID_MAX) {
            snprintf(err, errlen, "%s:%d:1: expected \"operator|member|reader digest:user:hash\"",
                     label, lineno);
            return -1;
        }
        memcpy(slot[r], id, idlen);
        slot[r][idlen] = 0;
    }
    for (int r = 0; r < 3; r++)
        if (!slot[r][0]) {
            snprintf(err, errlen, "%s: no %s line (made by 'meterctl init-credentials DIR')", label,
                     names[r]);
            return -1;
        }
    return 0;
}

int group_roles_read(const char *path, group_roles *out, char *err, size_t errlen)
{
    unsigned char *text = NULL;
    size_t len = 0;
    if (group_secret_read(path, &text, &len, err, errlen) != 0) return -1;
    int rc = group_roles_parse((const char *)text, len, path, out, err, errlen);
    group_secret_free(text, len);
    return rc;
}
