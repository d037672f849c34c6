/*
 * bmc.c: starts ipmi_sim BMCs for a test (see bmc.h).
 *
 * The configuration is written here rather than taken from
 * ../shared/testenv/gen-bmc.sh so that a clean clone has everything; the
 * SDR bytes follow that recipe (checked against FreeIPMI there). Both ports
 * come from th_free_port(); a BMC that dies before its console opens (a port
 * taken by a program outside the tests) is retried on new ports.
 */
#include "harness/bmc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool th_bmc_available(void)
{
    const char *path = getenv("PATH");
    char buf[4096], file[4200];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof file, "%s/ipmi_sim", dir);
        if (access(file, X_OK) == 0) return true;
    }
    return false;
}

typedef struct sdr_def {
    int num, entity, type, unit, m, rexp, caps, readmask, unr, uc, unc;
    const char *name;
} sdr_def;

/* A Full Sensor Record (type 01h) as a main_sdr_add line. */
static void write_sdr(FILE *f, const sdr_def *d)
{
    size_t len = strlen(d->name);
    int b[] = {0x00, 0x00,    0x51,           0x01,        (int)(43 + len),
               0x20, 0x00,    d->num,         d->entity,   0x01,
               0x7f, d->caps, d->type,        0x01,        0x00,
               0x00, 0x00,    0x00,           d->readmask, 0x00,
               0x00, d->unit, 0x00,           0x00,        d->m,
               0x00, 0x00,    0x00,           0x00,        (d->rexp & 0xf) << 4,
               0x00, 0x00,    0x00,           0x00,        0xff,
               0x00, d->unr,  d->uc,          d->unc,      0x00,
               0x00, 0x00,    0x00,           0x00,        0x00,
               0x00, 0x00,    0xc0 | (int)len};
    fprintf(f, "main_sdr_add 0x20");
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++)
        fprintf(f, " 0x%02x", b[i]);
    for (size_t i = 0; i < len; i++)
        fprintf(f, " 0x%02x", (unsigned char)d->name[i]);
    fprintf(f, "\n");
}

static void write_sensor(FILE *f, const sdr_def *d, int raw, bool thresholds)
{
    fprintf(f, "sensor_add 0x20 0 %d 0x%02x 0x01\n", d->num, d->type);
    if (thresholds)
        fprintf(f, "sensor_set_threshold 0x20 0 %d readable 111000 %d %d %d 0 0 0\n", d->num,
                d->unr, d->uc, d->unc);
    fprintf(f,
            "sensor_set_event_support 0x20 0 %d enable scanning per-state 000000000000000 "
            "000000000000000 000000000000000 000000000000000\n",
            d->num);
    fprintf(f, "sensor_set_value 0x20 0 %d %d 0\n", d->num, raw);
    write_sdr(f, d);
}

static int write_config(th_bmc *b, const char *user, const char *pass)
{
    char path[700];
    snprintf(path, sizeof path, "%s/lan.conf", b->dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "name \"bmc%d\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 %d\n"
            "    priv_limit admin\n"
            "    allowed_auths_callback none md2 md5 straight\n"
            "    allowed_auths_user none md2 md5 straight\n"
            "    allowed_auths_operator none md2 md5 straight\n"
            "    allowed_auths_admin none md2 md5 straight\n"
            "    guid a123456789abcdefa123456789abcdef\n  endlan\n"
            "  user 2 true \"%s\" \"%s\" admin 10 none md2 md5 straight\n"
            "console 127.0.0.1 %d\n",
            b->port, b->port, user, pass, b->console_port);
    if (fclose(f) != 0) return -1;

    snprintf(path, sizeof path, "%s/bmc.emu", b->dir);
    if (!(f = fopen(path, "w"))) return -1;
    fprintf(f, "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n"
               "sel_enable 0x20 1000 0x0a\n"
               "# the watchdog sensor must be sensor 0\n"
               "sensor_add 0x20 0 0 35 0x6f event-only\n");
    static const sdr_def temp = {1, 0x03, 0x01, 1, 1, 0, 0x44, 0x38, 95, 85, 75, "CPU Temp"};
    static const sdr_def fan = {2, 0x1d, 0x04, 18, 50, 0, 0x40, 0x00, 0, 0, 0, "Fan 1"};
    static const sdr_def volt = {3, 0x07, 0x02, 4, 6, 0xe, 0x40, 0x00, 0, 0, 0, "12V Rail"};
    static const sdr_def curr = {4, 0x0a, 0x03, 5, 1, 0, 0x44, 0x38, 30, 25, 20, "PSU Curr"};
    write_sensor(f, &temp, TH_BMC_RAW_TEMP, true);
    write_sensor(f, &fan, TH_BMC_RAW_FAN, false);
    write_sensor(f, &volt, TH_BMC_RAW_VOLT, false);
    write_sensor(f, &curr, TH_BMC_RAW_CURRENT, true);
    fprintf(f, "mc_enable 0x20\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* ipmi_sim 1.0.13 aborts (selector.c valid_fd assertion) when a console
 * client closes before the prompt is written, so readiness is the prompt
 * read whole, never a bare connect. */
static bool console_prompt(const th_bmc *b)
{
    char resp[256];
    return th_tcp_request("127.0.0.1", b->console_port, "", resp, sizeof resp, 2000, "> ") > 0 &&
           strstr(resp, "> ") != NULL;
}

static bool console_up_or_dead(void *arg)
{
    th_bmc *b = arg;
    return !th_alive(&b->proc) || console_prompt(b);
}

int th_bmc_start(th_bmc *b, const char *user, const char *pass, char *why, size_t cap)
{
    memset(b, 0, sizeof *b);
    if (!th_bmc_available()) {
        snprintf(why, cap, "ipmi_sim not found on PATH (Debian openipmi): run deploy/deps.sh");
        return 1;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        b->port = th_free_port();
        b->console_port = th_free_port();
        if (b->port < 0 || b->console_port < 0) {
            snprintf(why, cap, "no free port for ipmi_sim (see stderr)");
            return -1;
        }
        char rel[64], state[600], log[600];
        snprintf(rel, sizeof rel, "bmc-%d/state/.keep", b->port);
        if (th_path(state, sizeof state, rel) != 0) {
            snprintf(why, cap, "cannot create %s in %s", rel, th_tmpdir());
            return -1;
        }
        snprintf(rel, sizeof rel, "bmc-%d", b->port);
        th_path(b->dir, sizeof b->dir, rel);
        if (write_config(b, user, pass) != 0) {
            snprintf(why, cap, "cannot write the configuration in %s", b->dir);
            return -1;
        }
        snprintf(log, sizeof log, "%s/sim.log", b->dir);
        char name[32];
        snprintf(name, sizeof name, "ipmi_sim-%d", b->port);
        char *argv[] = {"ipmi_sim", "-n", "-c", "lan.conf", "-f", "bmc.emu", "-s", "state", NULL};
        if (th_spawn(&b->proc, name, argv, b->dir, log) != 0) {
            snprintf(why, cap, "cannot start ipmi_sim");
            return -1;
        }
        th_wait_until(console_up_or_dead, b, 10000 * th_slack());
        if (th_alive(&b->proc) && console_prompt(b)) return 0;
        th_stop(&b->proc, SIGKILL, 1000);
    }
    snprintf(why, cap, "ipmi_sim did not open its console (log: %s/sim.log)", b->dir);
    return -1;
}

int th_bmc_start_many(th_bmc *v, int n, const char *user, const char *pass, char *why, size_t cap)
{
    for (int i = 0; i < n; i++) {
        int rc = th_bmc_start(&v[i], user, pass, why, cap);
        if (rc != 0) {
            th_bmc_stop_many(v, i);
            return rc;
        }
    }
    return 0;
}

int th_bmc_set(const th_bmc *b, int sensor, int raw)
{
    char req[128], resp[1024];
    /* The console echoes the command and prompts again ("\r> ") once done;
     * "quit" would stop the whole simulator, so the connection is just closed. */
    snprintf(req, sizeof req, "sensor_set_value 0x20 0 %d %d 0\n", sensor, raw);
    ssize_t n = th_tcp_request("127.0.0.1", b->console_port, req, resp, sizeof resp, 5000, "\r> ");
    return n > 0 && strstr(resp, "\r> ") ? 0 : -1;
}

void th_bmc_host(const th_bmc *b, char *out, size_t cap)
{
    snprintf(out, cap, "127.0.0.1:%d", b->port);
}

void th_bmc_stop(th_bmc *b)
{
    if (b->proc.pid) th_stop(&b->proc, SIGTERM, 3000);
}

void th_bmc_stop_many(th_bmc *v, int n)
{
    for (int i = 0; i < n; i++)
        th_bmc_stop(&v[i]);
}
