/*
 * config.c: the [metrics] section, with the seed's option names and defaults.
 *
 * The agent parses its ini file (libinih) and hands each key/value of the
 * section to metrics_config_set, so errors name the option and say what was
 * expected; the caller adds file and line. Values may carry one pair of
 * quotes because the seed's own sample writes backend="noop".
 */
#include "metrics/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void metrics_config_init(metrics_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->backend = METRICS_BACKEND_NOOP;
    snprintf(cfg->statsd_host, sizeof cfg->statsd_host, "localhost");
    cfg->statsd_port = 8125;
    cfg->payload_size = METRICS_PAYLOAD_DEFAULT;
    cfg->flush_interval_ms = METRICS_FLUSH_MS_DEFAULT;
}

/* Strips surrounding blanks and one pair of matching quotes into out. */
static int unquote(const char *value, char *out, size_t cap)
{
    const char *s = value;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
        s++;
        n -= 2;
    }
    if (n >= cap) return -1;
    memcpy(out, s, n);
    out[n] = 0;
    return 0;
}

/* Copies a string already checked to fit (memcpy: no truncation warnings). */
static void set_str(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return *out = true, 0;
        if (strcasecmp(v, no[i]) == 0) return *out = false, 0;
    }
    return -1;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int metrics_config_set(metrics_config *cfg, const char *key, const char *value, char *err,
                       size_t errlen)
{
    char v[512];
    if (!key || !value) {
        mx_err(err, errlen, "[metrics]: missing option name or value");
        return -1;
    }
    if (unquote(value, v, sizeof v) != 0) {
        mx_err(err, errlen, "[metrics] %s: value longer than %zu bytes", key, sizeof v - 1);
        return -1;
    }
    long n;
    if (strcmp(key, "backend") == 0) {
        if (strcmp(v, "noop") == 0)
            cfg->backend = METRICS_BACKEND_NOOP;
        else if (strcmp(v, "statsd") == 0)
            cfg->backend = METRICS_BACKEND_STATSD;
        else if (strcmp(v, "prometheus") == 0)
            cfg->backend = METRICS_BACKEND_PROMETHEUS;
        else {
            mx_err(err, errlen, "[metrics] backend = \"%s\": expected noop, statsd or prometheus",
                   v);
            return -1;
        }
    } else if (strcmp(key, "statsd_host") == 0) {
        if (!v[0] || strlen(v) >= sizeof cfg->statsd_host || strpbrk(v, " \t/")) {
            mx_err(err, errlen, "[metrics] statsd_host = \"%s\": expected a host name or address",
                   v);
            return -1;
        }
        set_str(cfg->statsd_host, sizeof cfg->statsd_host, v);
    } else if (strcmp(key, "statsd_port") == 0) {
        if (parse_long(v, 1, 65535, &n) != 0) {
            mx_err(err, errlen, "[metrics] statsd_port = \"%s\": expected a port 1..65535", v);
            return -1;
        }
        cfg->statsd_port = (int)n;
    } else if (strcmp(key, "prepend_host") == 0 || strcmp(key, "prepend_host_reverse") == 0) {
        bool b;
        if (parse_bool(v, &b) != 0) {
            mx_err(err, errlen, "[metrics] %s = \"%s\": expected true or false", key, v);
            return -1;
        }
        if (key[12] == 0)
            cfg->prepend_host = b;
        else
            cfg->prepend_host_reverse = b;
    } else if (strcmp(key, "global_prefix") == 0) {
        if (strlen(v) >= sizeof cfg->global_prefix) {
            mx_err(err, errlen, "[metrics] global_prefix: longer than %zu bytes",
                   sizeof cfg->global_prefix - 1);
            return -1;
        }
        char why[256];
        if (mx_check_name("global_prefix", v, true, why, sizeof why) != 0) {
            mx_err(err, errlen, "[metrics] %s", why);
            return -1;
        }
        set_str(cfg->global_prefix, sizeof cfg->global_prefix, v);
    } else if (strcmp(key, "host_name") == 0) {
        if (strlen(v) >= sizeof cfg->host_name) {
            mx_err(err, errlen, "[metrics] host_name: longer than %zu bytes",
                   sizeof cfg->host_name - 1);
            return -1;
        }
        set_str(cfg->host_name, sizeof cfg->host_name, v);
    } else if (strcmp(key, "statsd_payload_size") == 0) {
        if (parse_long(v, METRICS_PAYLOAD_MIN, METRICS_PAYLOAD_MAX, &n) != 0) {
            mx_err(err, errlen,
                   "[metrics] statsd_payload_size = \"%s\": expected bytes per datagram, "
                   "%d..%d",
                   v, METRICS_PAYLOAD_MIN, METRICS_PAYLOAD_MAX);
            return -1;
        }
        cfg->payload_size = (size_t)n;
    } else if (strcmp(key, "statsd_flush_interval_ms") == 0) {
        if (parse_long(v, 1, 60000, &n) != 0) {
            mx_err(err, errlen,
                   "[metrics] statsd_flush_interval_ms = \"%s\": expected milliseconds, "
                   "1..60000",
                   v);
            return -1;
        }
        cfg->flush_interval_ms = (int)n;
    } else {
        mx_err(err, errlen,
               "[metrics] unknown option \"%s\"; expected backend, statsd_host, statsd_port, "
               "prepend_host, prepend_host_reverse, global_prefix, host_name, "
               "statsd_payload_size or statsd_flush_interval_ms",
               key);
        return -1;
    }
    return 0;
}
