/*
 * bmc.h: OpenIPMI's ipmi_sim as simulated BMCs on loopback for tests.
 *
 * Each BMC answers IPMI LAN (RMCP and RMCP+, cipher suite 3) on a free UDP
 * port and has its emulator console on a free TCP port; one admin user. Its
 * sensors (Full Sensor Records in the main SDR repository, scanning enabled,
 * else they read as disabled):
 *   1 "CPU Temp"  temperature, degrees C, raw = value, thresholds upper
 *                 non-critical 75, critical 85, non-recoverable 95;
 *   2 "Fan 1"     fan, RPM, value = 50 * raw;
 *   3 "12V Rail"  voltage, Volts, value = raw * 6 / 100;
 *   4 "PSU Curr"  current, Amps, raw = value, thresholds 20 / 25 / 30.
 * The initial raw values are TH_BMC_RAW_*; th_bmc_set changes one at run time.
 * (Facts from ../shared/TESTING-ENV.md: a fresh state dir each start, -n in
 * the background; clients need IPMI 2.0, cipher suite 3 and FreeIPMI's
 * open-session-privilege workaround.)
 */
#ifndef METERD_TESTS_HARNESS_BMC_H
#define METERD_TESTS_HARNESS_BMC_H

#include "harness/harness.h"

enum {
    TH_BMC_SENSOR_TEMP = 1,
    TH_BMC_SENSOR_FAN = 2,
    TH_BMC_SENSOR_VOLT = 3,
    TH_BMC_SENSOR_CURRENT = 4,
    TH_BMC_RAW_TEMP = 45,    /* 45 C */
    TH_BMC_RAW_FAN = 96,     /* 4800 RPM */
    TH_BMC_RAW_VOLT = 200,   /* 12.00 V */
    TH_BMC_RAW_CURRENT = 12, /* 12 A */
};

typedef struct th_bmc {
    th_proc proc;
    int port;         /* UDP, IPMI LAN */
    int console_port; /* TCP, emulator console */
    char dir[512];    /* lan.conf, bmc.emu, state/ */
} th_bmc;

/* True if ipmi_sim is on PATH. */
bool th_bmc_available(void);

/*
 * Starts one BMC with admin user/pass. 0 when its console answers, 1 when
 * ipmi_sim is missing (why says so: skip the test), -1 on failure (why says
 * what happened; the log is in its dir).
 */
int th_bmc_start(th_bmc *b, const char *user, const char *pass, char *why, size_t cap);

/* Starts n BMCs (all stopped again if one fails); same returns. */
int th_bmc_start_many(th_bmc *v, int n, const char *user, const char *pass, char *why, size_t cap);

/* Sets sensor's raw reading through the console; 0 or -1. */
int th_bmc_set(const th_bmc *b, int sensor, int raw);

/* "127.0.0.1:PORT" into out. */
void th_bmc_host(const th_bmc *b, char *out, size_t cap);

void th_bmc_stop(th_bmc *b);
void th_bmc_stop_many(th_bmc *v, int n);

#endif
