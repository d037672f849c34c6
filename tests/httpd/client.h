/*
 * client.h: what the HTTP servers' tests share to play a hostile client:
 * raw loopback connections, "did the server close it", and a process's
 * CPU time (to tell a back-off from a spin).
 */
#ifndef METERD_TESTS_HTTPD_CLIENT_H
#define METERD_TESTS_HTTPD_CLIENT_H

#include <stdbool.h>
#include <sys/types.h>

/* A TCP connection to 127.0.0.1:port (non-blocking: connect in progress). -1 on failure. */
int hc_dial(int port, bool nonblock);

/* True when the peer closed the connection (EOF or reset) within ms;
 * whatever it sent first is read and dropped. */
bool hc_closed_within(int fd, int ms);

/* utime + stime of pid in clock ticks (/proc/pid/stat); -1 if unreadable. */
long hc_cpu_ticks(pid_t pid);

/* CPU time of pid over a window as a fraction of one core. */
double hc_cores(long ticks0, long ticks1, long wall_ms);

#endif
