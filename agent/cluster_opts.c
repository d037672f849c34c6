/*
 * cluster_opts.c: the [coordination] options of meterd.conf (docs/CONFIG.md).
 * Secrets (auth_file, revision_key_file, pubsub_tls_key_file) are read by
 * group_secret_read(), the same reader meterctl uses, so a key is the same
 * bytes on both sides; trusted_keys_file (public keys) by group_trust_read().
 */
#include "agent/cluster_int.h"
#include "agent/readfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static int parse_int(const config_kv *kv, long lo, long hi, int *out, char *err, size_t errlen,
                     const char *file)
{
    char *end;
    errno = 0;
    long v = strtol(kv->value, &end, 10);
    if (errno || end == kv->value || *end || v < lo || v > hi) {
        snprintf(err, errlen, "%s:%d: [coordination] %s must be an integer in %ld..%ld, got \"%s\"",
                 file, kv->line, kv->key, lo, hi, kv->value);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Reads a secret option's file into *out (replacing a previous value). */
static int read_secret(const config_kv *kv, const char *file, unsigned char **out, size_t *len,
                       char *err, size_t errlen)
{
    char msg[600];
    group_secret_free(*out, *len);
    *out = NULL;
    *len = 0;
    if (group_secret_read(kv->value, out, len, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s:%d: [coordination] %s: %s", file, kv->line, kv->key, msg);
        return -1;
    }
    return 0;
}

/*
 * Cluster mode does not run open by accident: without ZooKeeper credentials
 * anyone who reaches ZooKeeper rewrites what the group polls and where its
 * samples go; without trusted keys, whoever can write the pipeline node
 * does. insecure = true is the explicit way out, said loudly at start and
 * shown in /health, /v1/status and meterctl status.
 */
static int check_secure(agent *a, const cluster_opts *o, const char *file, char *err, size_t errlen)
{
    bool keys = o->trusted_keys[0] || o->key;
    if (o->insecure) {
        log_warn(&a->log, "cluster",
                 "INSECURE: insecure = true in %s: %s%s%s; anyone who reaches ZooKeeper can "
                 "change what this group polls and where its samples go (docs/SECURITY.md)",
                 file, o->auth ? "" : "no ZooKeeper credentials (auth_file)",
                 !o->auth && !keys ? ", " : "", keys ? "" : "revisions not signed-checked");
        return 0;
    }
    if (o->auth && keys) {
        if (!o->trusted_keys[0])
            log_warn(&a->log, "cluster",
                     "revision_key_file is a shared HMAC key (every agent could sign with it): "
                     "move to trusted_keys_file (docs/SECURITY.md)");
        return 0;
    }
    snprintf(err, errlen,
             "%s: [coordination] cluster mode refuses to run open: %s%s%s missing. Create them "
             "with 'meterctl init-credentials DIR', then set auth_file = DIR/zk-member.auth and "
             "trusted_keys_file = DIR/trusted_keys (docs/SECURITY.md); or set insecure = true to "
             "run open on purpose",
             file, o->auth ? "" : "auth_file (ZooKeeper credentials)",
             !o->auth && !keys ? " and " : "", keys ? "" : "trusted_keys_file (revision keys)");
    return -1;
}

/* A certificate file (public: any mode) into *out, replacing a previous one. */
static int read_pem(const config_kv *kv, const char *file, char **out, char *err, size_t errlen)
{
    char msg[600];
    size_t len = 0;
    free(*out);
    *out = NULL;
    if (agent_read_file(kv->value, 1u << 20, out, &len, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s:%d: [coordination] %s: %s", file, kv->line, kv->key, msg);
        return -1;
    }
    if (!strstr(*out, "-----BEGIN CERTIFICATE-----")) {
        snprintf(err, errlen, "%s:%d: [coordination] %s: %s holds no PEM certificate", file,
                 kv->line, kv->key, kv->value);
        return -1;
    }
    return 0;
}

void cluster_opts_free(cluster_opts *o)
{
    free(o->tls_cert);
    free(o->tls_ca);
    group_secret_free(o->tls_key, o->tls_key_len);
    o->tls_cert = o->tls_ca = NULL;
    o->tls_key = NULL;
    o->tls_key_len = 0;
    group_secret_free(o->auth, o->auth_len);
    group_secret_free(o->key, o->key_len);
    group_signer_free(o->table_key);
    o->table_key = NULL;
    o->auth = o->key = NULL;
    o->auth_len = o->key_len = 0;
}

int cluster_opts_load(agent *a, cluster_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->session_timeout_ms = COORD_SESSION_TIMEOUT_DEFAULT_MS;
    o->weight = 1;
    o->handover_ms = 1000;
    o->on_loss = LOSS_KEEP;
    snprintf(o->member_base, sizeof o->member_base, "%s", a->cfg.host);
    /* the revision fast path listens where the API does; a wildcard API
     * address cannot be advertised, so the host name stands in for it */
    const char *ah = a->cfg.api_host;
    bool wildcard = !strcmp(ah, "0.0.0.0") || !strcmp(ah, "::") || !strcmp(ah, "*");
    if (strchr(ah, ':') && !wildcard)
        snprintf(o->pubsub_listen, sizeof o->pubsub_listen, "tcp://[%s]:0", ah);
    else
        snprintf(o->pubsub_listen, sizeof o->pubsub_listen, "tcp://%s:0",
                 wildcard ? a->cfg.host : ah);
    const char *file = a->cfg.path[0] ? a->cfg.path : "config";
    bool listen_given = false;
    for (int i = 0; i < a->cfg.n_extra; i++) {
        const config_kv *kv = &a->cfg.extra[i];
        if (strcmp(kv->section, "coordination") != 0) continue;
        const char *k = kv->key;
        int rc = 0;
        if (!strcmp(k, "backend_url"))
            snprintf(o->backend_url, sizeof o->backend_url, "%s", kv->value);
        else if (!strcmp(k, "member_id"))
            snprintf(o->member_base, sizeof o->member_base, "%s", kv->value);
        else if (!strcmp(k, "session_timeout_ms"))
            rc = parse_int(kv, COORD_SESSION_TIMEOUT_MIN_MS, 600000, &o->session_timeout_ms, err,
                           errlen, file);
        else if (!strcmp(k, "weight"))
            rc = parse_int(kv, 1, PARTITION_MAX_WEIGHT, &o->weight, err, errlen, file);
        else if (!strcmp(k, "handover_ms"))
            rc = parse_int(kv, 0, 600000, &o->handover_ms, err, errlen, file);
        else if (!strcmp(k, "keep_revisions"))
            rc = parse_int(kv, 1, 1000, &o->keep_revisions, err, errlen, file);
        else if (!strcmp(k, "pubsub_listen")) {
            snprintf(o->pubsub_listen, sizeof o->pubsub_listen, "%s", kv->value);
            listen_given = true;
        } else if (!strcmp(k, "pubsub_tls_cert_file"))
            rc = read_pem(kv, file, &o->tls_cert, err, errlen);
        else if (!strcmp(k, "pubsub_tls_ca_file"))
            rc = read_pem(kv, file, &o->tls_ca, err, errlen);
        else if (!strcmp(k, "pubsub_tls_key_file"))
            rc = read_secret(kv, file, &o->tls_key, &o->tls_key_len, err, errlen);
        else if (!strcmp(k, "on_loss")) {
            if (!strcmp(kv->value, "keep"))
                o->on_loss = LOSS_KEEP;
            else if (!strcmp(kv->value, "fence"))
                o->on_loss = LOSS_FENCE;
            else {
                snprintf(err, errlen,
                         "%s:%d: [coordination] on_loss must be keep or fence, got "
                         "\"%s\"",
                         file, kv->line, kv->value);
                return -1;
            }
        } else if (!strcmp(k, "auth_file")) {
            rc = read_secret(kv, file, &o->auth, &o->auth_len, err, errlen);
            if (rc == 0 &&
                (strlen((char *)o->auth) != o->auth_len || !strchr((char *)o->auth, ':'))) {
                snprintf(err, errlen, "%s:%d: [coordination] auth_file: %s: expected user:secret",
                         file, kv->line, kv->value);
                rc = -1;
            }
        } else if (!strcmp(k, "revision_key_file")) {
            rc = read_secret(kv, file, &o->key, &o->key_len, err, errlen);
        } else if (!strcmp(k, "trusted_keys_file")) {
            /* read now to fail at start, and again for every revision */
            group_trust *t = NULL;
            char msg[600];
            if (group_trust_read(kv->value, &t, msg, sizeof msg) != 0) {
                snprintf(err, errlen, "%s:%d: [coordination] trusted_keys_file: %s", file, kv->line,
                         msg);
                return -1;
            }
            group_trust_free(t);
            snprintf(o->trusted_keys, sizeof o->trusted_keys, "%s", kv->value);
        } else if (!strcmp(k, "table_key_file")) {
            unsigned char *pem = NULL;
            size_t len = 0;
            char msg[600];
            group_signer_free(o->table_key);
            o->table_key = NULL;
            rc = group_secret_read(kv->value, &pem, &len, msg, sizeof msg) != 0 ||
                         group_signer_load(pem, len, kv->value, &o->table_key, msg, sizeof msg) != 0
                     ? -1
                     : 0;
            group_secret_free(pem, len);
            if (rc)
                snprintf(err, errlen, "%s:%d: [coordination] table_key_file: %s", file, kv->line,
                         msg);
        } else if (!strcmp(k, "acl_file")) {
            char msg[600];
            if (group_roles_read(kv->value, &o->roles, msg, sizeof msg) != 0) {
                snprintf(err, errlen, "%s:%d: [coordination] acl_file: %s", file, kv->line, msg);
                return -1;
            }
            o->has_roles = true;
            o->coord_roles =
                (coord_roles_t){o->roles.operator_id, o->roles.member_id, o->roles.reader_id};
        } else if (!strcmp(k, "insecure")) {
            if (!strcmp(kv->value, "true") || !strcmp(kv->value, "false"))
                o->insecure = !strcmp(kv->value, "true");
            else {
                snprintf(err, errlen,
                         "%s:%d: [coordination] insecure must be true or false, got "
                         "\"%s\"",
                         file, kv->line, kv->value);
                return -1;
            }
        } else if (!strncmp(k, "group_", 6)) {
            /* read where the groups are created */
        } else {
            snprintf(err, errlen,
                     "%s:%d: unknown option \"%s\" in [coordination] (see docs/CONFIG.md)", file,
                     kv->line, k);
            return -1;
        }
        if (rc) return -1;
    }
    /* with TLS the default listen address speaks it (never plaintext) */
    if (o->tls_cert && !listen_given) {
        char plain[sizeof o->pubsub_listen];
        snprintf(plain, sizeof plain, "%s", o->pubsub_listen);
        snprintf(o->pubsub_listen, sizeof o->pubsub_listen, "tls+%.240s", plain);
    }
    coord_url_t u;
    char msg[400];
    if (coord_url_parse(o->backend_url, &u, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s: [coordination] backend_url: %s", file, msg);
        return -1;
    }
    return check_secure(a, o, file, err, errlen);
}

const coord_roles_t *cluster_opts_roles(const cluster_opts *o)
{
    return o->has_roles ? &o->coord_roles : NULL;
}

bool cluster_insecure(const agent *a)
{
    const cluster_state *cs = a->cluster_state;
    return cs && cs->opt.insecure;
}

int cluster_table_seal(struct cluster_group *cg, int64_t epoch, uint8_t **buf, size_t *len)
{
    const group_signer *k = cluster_opts_of(cg)->table_key;
    uint8_t *sealed = NULL;
    size_t slen = 0;
    if (!k) return 0;
    if (group_table_sign(k, cg->g->name, epoch, *buf, *len, &sealed, &slen) != 0) {
        log_error(&cg->a->log, "cluster", "%s: signing the slot table failed", cg->member_id);
        free(*buf);
        *buf = NULL;
        return -1;
    }
    free(*buf);
    *buf = sealed;
    *len = slen;
    return 0;
}

bool cluster_table_trusted(struct cluster_group *cg, const uint8_t *buf, size_t len, int64_t epoch)
{
    const group_signer *k = cluster_opts_of(cg)->table_key;
    char why[400] = "";
    bool ok = !k || group_table_check(k, cg->g->name, epoch, buf, len, why, sizeof why) == 0;
    pthread_mutex_lock(&cg->mu);
    bool was_refused = cg->table_error[0] != 0;
    if (ok)
        cg->table_error[0] = 0;
    else
        snprintf(cg->table_error, sizeof cg->table_error,
                 "slot table epoch %" PRId64 " refused, keeping the previous one: %s", epoch, why);
    pthread_mutex_unlock(&cg->mu);
    if (ok) {
        /* a trusted table ends the refusal its member node still shows */
        if (was_refused && !strncmp(cg->info.last_error, "slot table epoch ", 17)) {
            cg->info.last_error[0] = 0;
            cluster_publish_info(cg);
        }
        return true;
    }
    log_error(&cg->a->log, "cluster", "%s: %s", cg->member_id, cg->table_error);
    snprintf(cg->info.last_error, sizeof cg->info.last_error, "%s", cg->table_error);
    cluster_publish_info(cg);
    /* a leader writes its own table over it (else the group would stay on
     * the forged one, every member polling everything, until someone
     * deleted it by hand) */
    if (epoch > cg->refused_epoch) cg->refused_epoch = epoch;
    cluster_schedule_replan(cg, 0);
    return false;
}

void cluster_pubsub_json(struct cluster_group *cg, const coord_status_t *st, strbuf *out)
{
    strbuf_puts(out, ",\"pubsub\":{\"subscribed\":");
    strbuf_put_json_string(out, st->pubsub_endpoint);
    strbuf_puts(out, ",\"publishing\":");
    strbuf_put_json_string(out, st->pubsub_publishing);
    strbuf_printf(out,
                  ",\"connected\":%s,\"tls\":%s,\"received\":%" PRId64 ",\"delivered\":%" PRId64
                  ",\"sent\":%" PRId64 "}",
                  st->pubsub_connected ? "true" : "false",
                  cluster_opts_of(cg)->tls_cert ? "true" : "false", st->pubsub_received,
                  st->pubsub_delivered, st->pubsub_sent);
}
