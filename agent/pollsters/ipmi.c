/*
 * pollsters/ipmi.c: ipmi.sensors, the sensors of BMCs read with FreeIPMI's
 * libipmimonitoring, as Ceilometer 19's hardware.ipmi.* meters.
 *
 * Targets are the source's ipmi://host[:port] resources (ipmi:// alone: the
 * local BMC in-band), partitioned across the IPMI group. A read blocks for up
 * to the source's `timeout`, so it runs on a worker with a libipmimonitoring
 * context of that worker's own (a thread-specific key in the process state:
 * contexts are not thread-safe, creating one per read would rebuild state).
 *
 * A dead BMC holds its worker for the whole timeout. So a BMC whose last
 * read failed is failing: at most [ipmi] failing_workers reads of failing
 * BMCs run at once, the rest are deferred, leaving the other workers to the
 * live BMCs. Counting from the second failure let BMCs that died together
 * hold every worker for two rounds of their timeout. A single failure is
 * still retried at the next interval (lost datagrams happen), with one more
 * worker kept for such retries (slot_take); from the second, a backoff
 * doubling per failure (at most [ipmi] max_backoff).
 * Deferred and backed-off polls report an error naming the last failure.
 *
 * Those caps start at a BMC's first failure, and until then nothing tells a
 * BMC that just died from a live one: BMCs that die together held every
 * worker for one timeout each (bench_ipmi: 2.5-3 s without a live read, 10
 * of them, 4 workers, 1 s timeout). So a read of a BMC that is not failing
 * starts with an RMCP presence ping (ipmi_ping.c), and one that does not
 * answer it within a quarter of the timeout (at most 500 ms) fails there.
 * A BMC that answers reads but never pings (seen twice in a row) is no
 * longer pinged.
 *
 * The password is the value of the source's `secret` in the agent's secrets
 * file, looked up per read and wiped after it: it never sits in the source's
 * config, a sample, a log line or an error.
 */
#include "agent/pollsters/ipmi.h"

#include <ctype.h>
#include <errno.h>
#include <ipmi_monitoring.h>
#include <ipmi_monitoring_bitmasks.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { M_TEMP, M_FAN, M_VOLT, M_CURRENT };

typedef struct ipmi_config {
    int protocol, cipher_suite, privilege;
    long timeout_ms;
    char username[17];
    char secret[129]; /* the name only */
} ipmi_config;

typedef struct ipmi_process {
    const plugin_ctx *ctx;    /* for plugin_secret at each read */
    pthread_key_t ctx_key;    /* this worker's ipmi_monitoring_ctx_t */
    pthread_mutex_t setup_mu; /* context setup reads FreeIPMI's shared interpretation config */
    char sdr_dir[4096];
    int failing_workers;
    int64_t max_backoff_ms;
    atomic_int failing_busy; /* retries of failing BMCs running now */
    atomic_int retry_busy;   /* 0/1: the worker of BMCs that failed once */
    /* BMCs being read now: one read per BMC at a time (see bmc_claim) */
    pthread_mutex_t busy_mu;
    pthread_cond_t busy_cv;
    char **busy;
    size_t n_busy, cap_busy;
} ipmi_process;

typedef struct ipmi_target {
    int failures;                    /* consecutive */
    bool ping_failed;                /* the last failure was an unanswered ping */
    int ping_misses;                 /* reads that succeeded right after one, in a row */
    _Atomic int64_t next_attempt_ms; /* monotonic; 0: now (read by /v1/targets) */
    char last_error[200];
} ipmi_target;

void ipmi_resource_id(char *out, size_t cap, const char *bmc, const char *sensor, int number)
{
    char id[160];
    size_t k = 0;
    for (const char *p = sensor; *p && k + 1 < sizeof id; p++)
        id[k++] = isspace((unsigned char)*p) ? '_' : (char)tolower((unsigned char)*p);
    id[k] = 0;
    snprintf(out, cap, "%s-%s_(0x%x)", bmc, id, (unsigned)number);
}

int64_t ipmi_backoff_ms(int failures, int64_t base_ms, int64_t max_ms)
{
    int64_t d = base_ms;
    for (int i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}

int64_t ipmi_ping_wait_ms(int64_t timeout_ms)
{
    int64_t w = timeout_ms / 4;
    return w < 50 ? 50 : w > 500 ? 500 : w;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ipmi_configure(const pipeline_param *v, size_t n, void **out, char *err, size_t errlen)
{
    const registry_pollster *row = &registry_ipmi_sensors;
    ipmi_config *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->protocol = strcmp(registry_param_str(row, v, n, "protocol"), "1.5") == 0
                      ? IPMI_MONITORING_PROTOCOL_VERSION_1_5
                      : IPMI_MONITORING_PROTOCOL_VERSION_2_0;
    c->cipher_suite = atoi(registry_param_str(row, v, n, "cipher_suite"));
    const char *priv = registry_param_str(row, v, n, "privilege");
    c->privilege = strcmp(priv, "admin") == 0      ? IPMI_MONITORING_PRIVILEGE_LEVEL_ADMIN
                   : strcmp(priv, "operator") == 0 ? IPMI_MONITORING_PRIVILEGE_LEVEL_OPERATOR
                                                   : IPMI_MONITORING_PRIVILEGE_LEVEL_USER;
    c->timeout_ms = registry_param_ms(row, v, n, "timeout");
    snprintf(c->username, sizeof c->username, "%s", registry_param_str(row, v, n, "username"));
    snprintf(c->secret, sizeof c->secret, "%s", registry_param_str(row, v, n, "secret"));
    *out = c;
    return 0;
}

static void destroy_ctx(void *ctx)
{
    ipmi_monitoring_ctx_destroy(ctx);
}

static int mkdirs(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST) return -1;
        if (!(*p = c)) return 0;
    }
}

static int ipmi_process_init(const plugin_ctx *ctx, void **pstate, char *err, size_t errlen)
{
    int errnum = 0;
    if (ipmi_monitoring_init(0, &errnum) < 0) {
        snprintf(err, errlen, "libipmimonitoring: %s", ipmi_monitoring_ctx_strerror(errnum));
        return -1;
    }
    ipmi_process *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->ctx = ctx;
    const char *dir = plugin_option(ctx, "sdr_cache_dir");
    const char *fw = plugin_option(ctx, "failing_workers");
    const char *mb = plugin_option(ctx, "max_backoff");
    snprintf(p->sdr_dir, sizeof p->sdr_dir, "%s", dir ? dir : "");
    p->failing_workers = fw ? atoi(fw) : 1;
    p->max_backoff_ms = (mb ? atoll(mb) : 300) * 1000;
    if (p->failing_workers < 1) p->failing_workers = 1;
    /* created lazily, at the first read: an agent without ipmi sources
     * (another namespace) must not need the folder */
    pthread_mutex_init(&p->setup_mu, NULL);
    pthread_mutex_init(&p->busy_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->busy_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_key_create(&p->ctx_key, destroy_ctx) != 0) {
        free(p);
        snprintf(err, errlen, "cannot create a thread key");
        return -1;
    }
    *pstate = p;
    return 0;
}

static void ipmi_process_shutdown(void *pstate)
{
    ipmi_process *p = pstate;
    if (!p) return;
    /* workers have exited (their contexts went with them); the caller's own */
    void *mine = pthread_getspecific(p->ctx_key);
    if (mine) ipmi_monitoring_ctx_destroy(mine);
    pthread_key_delete(p->ctx_key);
    pthread_mutex_destroy(&p->setup_mu);
    pthread_mutex_destroy(&p->busy_mu);
    pthread_cond_destroy(&p->busy_cv);
    free(p->busy);
    free(p);
}

static ssize_t busy_find(const ipmi_process *p, const char *host)
{
    for (size_t i = 0; i < p->n_busy; i++)
        if (strcmp(p->busy[i], host) == 0) return (ssize_t)i;
    return -1;
}

/*
 * Waits until no other worker reads this BMC, then marks it read: 0, or -1
 * with err after wait_ms. Two reads of one BMC at once (two sources naming
 * it, a successor's poll beside an abandoned one) share its SDR cache file:
 * libipmimonitoring then deletes and rebuilds it under the other read, and
 * both fail with its bare "internal error" (seen 5 reads in 15 with 4
 * workers on 3 BMCs), while ipmi_sim also cancels one's SDR reservation.
 */
static int bmc_claim(ipmi_process *p, const char *host, int64_t wait_ms, char *err, size_t errlen)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(wait_ms / 1000);
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&p->busy_mu);
    int rc = 0;
    while (rc == 0 && busy_find(p, host) >= 0)
        rc = pthread_cond_timedwait(&p->busy_cv, &p->busy_mu, &until);
    char *copy = NULL;
    if (rc == 0 && p->n_busy == p->cap_busy) {
        size_t cap = p->cap_busy ? p->cap_busy * 2 : 8;
        char **v = realloc(p->busy, cap * sizeof *v);
        if (v) {
            p->busy = v;
            p->cap_busy = cap;
        }
    }
    if (rc == 0 && p->n_busy < p->cap_busy && (copy = strdup(host))) p->busy[p->n_busy++] = copy;
    pthread_mutex_unlock(&p->busy_mu);
    if (copy) return 0;
    snprintf(err, errlen, "%s: %s", host,
             rc ? "another read of this BMC is still running (two sources name it?)"
                : "out of memory");
    return -1;
}

static void bmc_release(ipmi_process *p, const char *host)
{
    pthread_mutex_lock(&p->busy_mu);
    ssize_t i = busy_find(p, host);
    if (i >= 0) {
        free(p->busy[i]);
        p->busy[i] = p->busy[--p->n_busy];
    }
    pthread_cond_broadcast(&p->busy_cv);
    pthread_mutex_unlock(&p->busy_mu);
}

int ipmi_read_in_flight(const void *pstate, const char *target_id)
{
    ipmi_process *p = (ipmi_process *)pstate;
    char host[300], err[200];
    bool inband;
    if (!p || registry_ipmi_target(target_id, host, sizeof host, &inband, err, sizeof err) != 0)
        return 0;
    pthread_mutex_lock(&p->busy_mu);
    int in = busy_find(p, host) >= 0;
    pthread_mutex_unlock(&p->busy_mu);
    return in;
}

/* This worker's context, set up for reading (SDR cache folder, the sensor
 * config that makes thresholds show as Warning/Critical). NULL with err. */
static ipmi_monitoring_ctx_t worker_ctx(ipmi_process *p, char *err, size_t errlen)
{
    ipmi_monitoring_ctx_t c = pthread_getspecific(p->ctx_key);
    if (c) return c;
    pthread_mutex_lock(&p->setup_mu);
    if (mkdirs(p->sdr_dir) != 0) {
        snprintf(err, errlen, "[ipmi] sdr_cache_dir %s: %s", p->sdr_dir, strerror(errno));
    } else if (!(c = ipmi_monitoring_ctx_create())) {
        snprintf(err, errlen, "libipmimonitoring: cannot create a context");
    } else if (ipmi_monitoring_ctx_sdr_cache_directory(c, p->sdr_dir) < 0 ||
               ipmi_monitoring_ctx_sensor_config_file(c, NULL) < 0) {
        snprintf(err, errlen, "libipmimonitoring: %s", ipmi_monitoring_ctx_errormsg(c));
        ipmi_monitoring_ctx_destroy(c);
        c = NULL;
    }
    pthread_mutex_unlock(&p->setup_mu);
    if (c) pthread_setspecific(p->ctx_key, c);
    return c;
}

static int ipmi_init(const poll_target *t, void **state, char *err, size_t errlen)
{
    (void)t;
    if (!(*state = calloc(1, sizeof(ipmi_target)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The sensor's state: FreeIPMI's interpretation, raised by the threshold
 * bits, since FreeIPMI's default interpretation calls a reading past a
 * non-critical threshold "Nominal" (freeipmi_interpret_sensor.conf) where
 * Ceilometer's users expect a warning. */
static const char *sensor_state(ipmi_monitoring_ctx_t c)
{
    int s = ipmi_monitoring_sensor_read_sensor_state(c);
    if (ipmi_monitoring_sensor_read_sensor_bitmask_type(c) ==
        IPMI_MONITORING_SENSOR_BITMASK_TYPE_THRESHOLD) {
        int bits = ipmi_monitoring_sensor_read_sensor_bitmask(c);
        /* lower/upper non-critical 0x01/0x08; critical and non-recoverable the rest */
        if (bits > 0 && (bits & 0x36) && s != IPMI_MONITORING_STATE_CRITICAL)
            s = IPMI_MONITORING_STATE_CRITICAL;
        else if (bits > 0 && (bits & 0x09) && s == IPMI_MONITORING_STATE_NOMINAL)
            s = IPMI_MONITORING_STATE_WARNING;
    }
    switch (s) {
    case IPMI_MONITORING_STATE_NOMINAL:
        return "nominal";
    case IPMI_MONITORING_STATE_WARNING:
        return "warning";
    case IPMI_MONITORING_STATE_CRITICAL:
        return "critical";
    default:
        return "unknown";
    }
}

static const char *unit_name(int u)
{
    switch (u) {
    case IPMI_MONITORING_SENSOR_UNITS_CELSIUS:
        return "C";
    case IPMI_MONITORING_SENSOR_UNITS_FAHRENHEIT:
        return "F";
    case IPMI_MONITORING_SENSOR_UNITS_VOLTS:
        return "V";
    case IPMI_MONITORING_SENSOR_UNITS_AMPS:
        return "A";
    case IPMI_MONITORING_SENSOR_UNITS_RPM:
        return "RPM";
    case IPMI_MONITORING_SENSOR_UNITS_WATTS:
        return "W";
    case IPMI_MONITORING_SENSOR_UNITS_PERCENT:
        return "%";
    default:
        return "";
    }
}

static int meter_of(int sensor_type)
{
    switch (sensor_type) {
    case IPMI_MONITORING_SENSOR_TYPE_TEMPERATURE:
        return M_TEMP;
    case IPMI_MONITORING_SENSOR_TYPE_FAN:
        return M_FAN;
    case IPMI_MONITORING_SENSOR_TYPE_VOLTAGE:
        return M_VOLT;
    case IPMI_MONITORING_SENSOR_TYPE_CURRENT:
        return M_CURRENT;
    default:
        return -1;
    }
}

/* The readings now in c into out. -1 only when out of memory. */
static int emit(ipmi_monitoring_ctx_t c, const poll_target *t, const char *bmc, const poll_env *env,
                sample_batch *out)
{
    if (ipmi_monitoring_sensor_iterator_first(c) < 0) return 0;
    do {
        int m = meter_of(ipmi_monitoring_sensor_read_sensor_type(c));
        if (m < 0 || !env->want[m]) continue;
        void *r = ipmi_monitoring_sensor_read_sensor_reading(c);
        int rt = ipmi_monitoring_sensor_read_sensor_reading_type(c);
        if (!r) continue; /* no reading now (unavailable sensor) */
        double v = rt == IPMI_MONITORING_SENSOR_READING_TYPE_DOUBLE               ? *(double *)r
                   : rt == IPMI_MONITORING_SENSOR_READING_TYPE_UNSIGNED_INTEGER32 ? *(uint32_t *)r
                   : rt == IPMI_MONITORING_SENSOR_READING_TYPE_UNSIGNED_INTEGER8_BOOL
                       ? *(uint8_t *)r
                       : 0;
        if (rt == IPMI_MONITORING_SENSOR_READING_TYPE_UNKNOWN) continue;
        const char *name = ipmi_monitoring_sensor_read_sensor_name(c);
        int number = ipmi_monitoring_sensor_read_sensor_number(c);
        int record = ipmi_monitoring_sensor_read_record_id(c);
        const char *unit = unit_name(ipmi_monitoring_sensor_read_sensor_units(c));
        char rid[320], num[16], rec[16];
        ipmi_resource_id(rid, sizeof rid, bmc, name ? name : "", number);
        snprintf(num, sizeof num, "%d", number);
        snprintf(rec, sizeof rec, "%d", record);
        sample_label labels[] = {
            {"bmc", t->id},         {"sensor", name ? name : ""},
            {"sensor_number", num}, {"record_id", rec},
            {"unit", unit},         {"state", sensor_state(c)},
        };
        if (sample_batch_add(out, registry_ipmi_sensors.meters[m], SAMPLE_GAUGE, unit, v, rid,
                             env->now_ms, labels, sizeof labels / sizeof labels[0]) != 0)
            return -1;
    } while (ipmi_monitoring_sensor_iterator_next(c) > 0);
    return 0;
}

/* One read of the BMC into out, after a presence ping when *ping is 1 (then
 * 2 answered, -1 not): 0, or -1 with err. */
static int read_bmc(ipmi_process *p, const ipmi_config *cfg, const poll_target *t,
                    const poll_env *env, int *ping, sample_batch *out, char *err, size_t errlen)
{
    char host[300];
    bool inband;
    if (registry_ipmi_target(t->id, host, sizeof host, &inband, err, errlen) != 0) return -1;
    const char *pw = cfg->secret[0] ? plugin_secret(p->ctx, cfg->secret) : "";
    if (!pw) {
        snprintf(err, errlen,
                 "secret \"%s\" is not in this agent's secrets file ([DEFAULT] "
                 "secrets_file): every member of the IPMI group needs it",
                 cfg->secret);
        return -1;
    }
    if (!inband && pollster_target_allowed(env, host, err, errlen) != 0) return -1;
    if (*ping == 1 && !inband) {
        *ping = ipmi_ping(host, ipmi_ping_wait_ms(cfg->timeout_ms), err, errlen) == 0 ? 2 : -1;
        if (*ping < 0) return -1;
    }
    ipmi_monitoring_ctx_t c = worker_ctx(p, err, errlen);
    if (!c) return -1;
    /* the holder's read ends within its own timeout (at most 60 s) */
    if (bmc_claim(p, host, 2 * 60000, err, errlen) != 0) return -1;
    char password[128];
    snprintf(password, sizeof password, "%s", pw);
    struct ipmi_monitoring_ipmi_config ic = {
        .driver_type = -1,
        .protocol_version = cfg->protocol,
        .username = cfg->username[0] ? (char *)cfg->username : NULL,
        .password = password[0] ? password : NULL,
        .privilege_level = cfg->privilege,
        .authentication_type = -1,
        .cipher_suite_id = cfg->cipher_suite,
        .session_timeout_len = (int)cfg->timeout_ms,
        .retransmission_timeout_len = (int)(cfg->timeout_ms < 1000 ? cfg->timeout_ms / 2 : 500),
        .workaround_flags =
            cfg->protocol == IPMI_MONITORING_PROTOCOL_VERSION_2_0
                ? IPMI_MONITORING_WORKAROUND_FLAGS_PROTOCOL_VERSION_2_0_OPEN_SESSION_PRIVILEGE
                : 0,
    };
    /* in-band: the driver's fields only (LAN fields make FreeIPMI refuse
     * the call as "invalid parameters"); Linux's /dev/ipmi0 without probing,
     * since FreeIPMI's ACPI/SMBIOS probe leaks at every call (LeakSanitizer,
     * ipmi_locate_acpi_spmi_get_device_info) */
    struct ipmi_monitoring_ipmi_config inband_cfg = {.driver_type =
                                                         IPMI_MONITORING_DRIVER_TYPE_OPENIPMI,
                                                     .disable_auto_probe = 1,
                                                     .protocol_version = -1,
                                                     .privilege_level = -1,
                                                     .authentication_type = -1,
                                                     .cipher_suite_id = -1};
    unsigned int types[4];
    unsigned int nt = 0;
    static const unsigned int type_of[] = {
        IPMI_MONITORING_SENSOR_TYPE_TEMPERATURE, IPMI_MONITORING_SENSOR_TYPE_FAN,
        IPMI_MONITORING_SENSOR_TYPE_VOLTAGE, IPMI_MONITORING_SENSOR_TYPE_CURRENT};
    for (int m = 0; m < 4; m++)
        if (env->want[m]) types[nt++] = type_of[m];
    int rc = 0;
    if (nt > 0) {
        rc = ipmi_monitoring_sensor_readings_by_sensor_type(
            c, inband ? NULL : host, inband ? &inband_cfg : &ic,
            IPMI_MONITORING_SENSOR_READING_FLAGS_IGNORE_NON_INTERPRETABLE_SENSORS, types, nt, NULL,
            NULL);
    }
    explicit_bzero(password, sizeof password);
    bmc_release(p, host);
    if (rc < 0) {
        /* FreeIPMI says only "internal system error" when no driver answers */
        bool no_dev = inband && access("/dev/ipmi0", F_OK) != 0 && access("/dev/ipmi/0", F_OK) != 0;
        /* and only "internal error" when a request timed out or was refused
         * after the session opened: its SDR cache check (the cache is then
         * deleted) or a sensor read (seen with IPMI_MONITORING_FLAGS_DEBUG
         * against a stalled ipmi_sim) */
        bool internal = ipmi_monitoring_ctx_errnum(c) == IPMI_MONITORING_ERR_INTERNAL_ERROR;
        snprintf(err, errlen, "%s: %s%s", inband ? "in-band BMC" : host,
                 ipmi_monitoring_ctx_errormsg(c),
                 no_dev ? " (no /dev/ipmi0: no BMC, or the ipmi_si/ipmi_devintf modules not loaded)"
                 : internal ? " (a request failed after the session opened: usually the BMC did "
                              "not answer a sensor or SDR read within the timeout)"
                            : "");
        return -1;
    }
    if (nt > 0 && emit(c, t, inband ? "local" : host, env, out) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/*
 * A worker for a failing BMC's read: the counter taken, or NULL (deferred).
 * A BMC that failed once may also take the one worker kept for such BMCs:
 * BMCs dead for longer (two failures or more) never do, so however many of
 * them keep the failing_workers busy, a live BMC that lost one read waits
 * at most for the BMCs that failed in the same interval.
 */
static atomic_int *slot_take(ipmi_process *p, int failures)
{
    if (failures == 1 && atomic_fetch_add(&p->retry_busy, 1) < 1) return &p->retry_busy;
    if (failures == 1) atomic_fetch_sub(&p->retry_busy, 1);
    if (atomic_fetch_add(&p->failing_busy, 1) < p->failing_workers) return &p->failing_busy;
    atomic_fetch_sub(&p->failing_busy, 1);
    return NULL;
}

static int ipmi_poll(void *state, const poll_target *t, const poll_env *env, sample_batch *out,
                     char *err, size_t errlen)
{
    ipmi_target *ts = state;
    ipmi_process *p = env->process_state;
    const ipmi_config *cfg = env->config;
    if (!p || !cfg) {
        snprintf(err, errlen, "ipmi.sensors is not set up (process_init/configure not run)");
        return -1;
    }
    int64_t now = mono_ms();
    /* one failed read is retried at the next interval (no backoff: a lost
     * datagram must not cost a live BMC its cadence), but as a failing BMC,
     * within failing_workers: BMCs that die together must not hold every
     * worker for a second round of their timeout */
    bool failing = ts->failures >= 1;
    if (failing && now < ts->next_attempt_ms) {
        snprintf(err, errlen, "backing off after %d failures (next attempt in %lld ms): %s",
                 ts->failures, (long long)(ts->next_attempt_ms - now), ts->last_error);
        return -1;
    }
    atomic_int *slot = failing ? slot_take(p, ts->failures) : NULL;
    if (failing && !slot) {
        snprintf(err, errlen,
                 "deferred: %d workers already retry failing BMCs ([ipmi] failing_workers); "
                 "last error: %s",
                 p->failing_workers, ts->last_error);
        return -1;
    }
    int ping = !failing && ts->ping_misses < 2;
    int rc = read_bmc(p, cfg, t, env, &ping, out, err, errlen);
    if (slot) atomic_fetch_sub(slot, 1);
    if (ping == 2) ts->ping_misses = 0;
    if (rc == 0) {
        /* read at once after an unanswered ping: maybe a BMC that ignores them */
        if (ts->ping_failed) ts->ping_misses++;
        ts->ping_failed = false;
        ts->failures = 0;
        ts->next_attempt_ms = 0;
        ts->last_error[0] = 0;
        return 0;
    }
    ts->ping_failed = ping < 0;
    ts->failures++;
    ts->next_attempt_ms =
        ts->failures < 2 ? 0
                         : mono_ms() + ipmi_backoff_ms(ts->failures - 1, 1000, p->max_backoff_ms);
    snprintf(ts->last_error, sizeof ts->last_error, "%s", err);
    return -1;
}

static int64_t ipmi_next_attempt(const void *state)
{
    const ipmi_target *ts = state;
    int64_t at = atomic_load(&ts->next_attempt_ms), now = mono_ms();
    if (at <= now) return 0;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    return (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 + (at - now);
}

const pollster_plugin pollster_ipmi_sensors = {
    .desc = &registry_ipmi_sensors,
    .init = ipmi_init,
    .poll = ipmi_poll,
    .destroy = free,
    .next_attempt_ms = ipmi_next_attempt,
    .configure = ipmi_configure,
    .unconfigure = free,
    .process_init = ipmi_process_init,
    .process_shutdown = ipmi_process_shutdown,
};
