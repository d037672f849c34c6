/* view.c -- a group's state: what is held and how each fact is replaced. */
#include "groupview/groupview.h"
#include "registry/registry.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void groupview_init(groupview *v)
{
    memset(v, 0, sizeof *v);
    group_clock_init(&v->clock);
}

static void drop_revision(groupview *v)
{
    group_targets_free(&v->targets);
    pipeline_free(v->pipe);
    v->pipe = NULL;
    coord_revision_free(&v->rev);
    memset(&v->rev, 0, sizeof v->rev);
    v->has_rev = false;
}

void groupview_free(groupview *v)
{
    coord_members_free(&v->members);
    drop_revision(v);
    group_clock_free(&v->clock);
    memset(v, 0, sizeof *v);
}

void groupview_set_members(groupview *v, coord_members_t *m)
{
    coord_members_free(&v->members);
    v->members = *m;
    memset(m, 0, sizeof *m);
}

void groupview_set_revision(groupview *v, coord_revision_t *rev)
{
    drop_revision(v);
    v->rev = *rev;
    memset(rev, 0, sizeof *rev);
    v->has_rev = true;
    v->bad_rev = false;
    /* an invalid revision is refused by the agents too: no targets anyone
     * polls; the agents judge it with the registry's schemes and meters */
    registry_options ro;
    registry_pipeline_options(&ro, NULL, 0);
    if (pipeline_parse((const char *)v->rev.body, v->rev.body_len, "revision", &ro.opt, &v->pipe,
                       NULL) != 0)
        v->pipe = NULL;
    if (group_revision_targets(v->pipe, &v->targets) != 0) v->targets.n = 0;
}

void groupview_set_bad_revision(groupview *v, int64_t node_version)
{
    v->bad_rev = true;
    v->bad_rev_version = node_version;
}

int groupview_set_table(groupview *v, const void *bytes, size_t len, int64_t epoch, char *err,
                        size_t errlen)
{
    int rc = group_clock_install(&v->clock, bytes, len, epoch, err, errlen);
    if (rc != 0) return rc;
    const group_clock_table *stored = group_clock_newest(&v->clock);
    v->table = stored->t;
    v->epoch = epoch;
    v->table_len = len;
    snprintf(v->table_digest, sizeof v->table_digest, "%s", stored->digest);
    return 0;
}

void groupview_at(groupview *v, int64_t now_ms)
{
    v->loaded_ms = now_ms;
    group_clock_promote(&v->clock, now_ms);
}

bool groupview_known(const groupview *v)
{
    return v->members.count > 0 || v->has_rev || v->bad_rev || v->table != NULL;
}

const coord_member_t *groupview_member(const groupview *v, const char *id)
{
    for (size_t i = 0; i < v->members.count; i++)
        if (strcmp(v->members.members[i].id, id) == 0) return &v->members.members[i];
    return NULL;
}

void groupview_format_ms(int64_t ms, char *out, size_t cap)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", base, (int)(ms % 1000));
}

void groupview_sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}
