/*
 * coord_config.c: what coord_open accepts, checked before anything starts,
 * and the group's node paths derived from it (docs/COORDINATION.md).
 */
#include "coordinator/coord_int.h"

#include <stdio.h>
#include <string.h>

int coord_build_paths(coord_t *c, char *err, size_t errcap)
{
    int n = snprintf(c->base, sizeof c->base, "%s/%s", c->url.chroot, c->group);
    if (n < 0 || (size_t)n >= sizeof c->base) {
        snprintf(err, errcap, "chroot + group too long");
        return COORD_EINVAL;
    }
    snprintf(c->members_dir, sizeof c->members_dir, "%s/members", c->base);
    snprintf(c->election_dir, sizeof c->election_dir, "%s/election", c->base);
    snprintf(c->revisions_dir, sizeof c->revisions_dir, "%s/revisions", c->base);
    snprintf(c->pipeline_path, sizeof c->pipeline_path, "%s/pipeline", c->base);
    snprintf(c->assignment_path, sizeof c->assignment_path, "%s/assignment", c->base);
    snprintf(c->acks_dir, sizeof c->acks_dir, "%s/acks", c->base);
    if (c->is_member)
        snprintf(c->member_path, sizeof c->member_path, "%s/%s", c->members_dir, c->member_id);
    return COORD_OK;
}

/* A path segment we create: no '/', not "." or "..", printable, bounded. */
static bool good_segment(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len == 0 || len >= max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    for (; *s; s++)
        if (*s == '/' || *s <= ' ' || *s == 0x7f) return false;
    return true;
}

int coord_config_check(const coord_config_t *cfg, char *err, size_t errcap)
{
    if (!cfg->group || !good_segment(cfg->group, 128)) {
        snprintf(err, errcap, "group must be one non-empty path segment (no '/', spaces)");
        return COORD_EINVAL;
    }
    if (cfg->member_id && !good_segment(cfg->member_id, 128)) {
        snprintf(err, errcap, "member id \"%s\" must be one path segment under 128 bytes",
                 cfg->member_id);
        return COORD_EINVAL;
    }
    if (cfg->session_timeout_ms && cfg->session_timeout_ms < COORD_SESSION_TIMEOUT_MIN_MS) {
        snprintf(err, errcap, "session timeout %d ms is below the minimum of %d ms",
                 cfg->session_timeout_ms, COORD_SESSION_TIMEOUT_MIN_MS);
        return COORD_EINVAL;
    }
    if (cfg->auth && (!strchr(cfg->auth, ':') || strlen(cfg->auth) >= 256)) {
        snprintf(err, errcap, "auth must be \"user:secret\" (under 256 bytes)");
        return COORD_EINVAL;
    }
    if (cfg->keep_revisions < 0 || cfg->keep_revisions > 10000) {
        snprintf(err, errcap, "keep_revisions must be between 1 and 10000");
        return COORD_EINVAL;
    }
    if (cfg->endpoint && strlen(cfg->endpoint) >= 256) {
        snprintf(err, errcap, "endpoint too long");
        return COORD_EINVAL;
    }
    return coord_pubsub_check_url(cfg->pubsub_listen, err, errcap);
}
