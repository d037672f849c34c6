/*
 * tcp_relay.h: a TCP relay on loopback for tests that must cut one
 * client's connections while the server and the other clients carry on
 * (e.g. one agent's ZooKeeper connection lost while its session lives on).
 * One thread relays every accepted connection to 127.0.0.1:to_port.
 */
#ifndef METERD_TESTS_TCP_RELAY_H
#define METERD_TESTS_TCP_RELAY_H

typedef struct tcp_relay tcp_relay;

/* Listens on a free loopback port (tcp_relay_port); NULL on failure. */
tcp_relay *tcp_relay_start(int to_port);
int tcp_relay_port(const tcp_relay *r);
/* Closes every connection relayed so far (both ends see them end); new
 * connections are relayed as before. Returns how many were cut, once the
 * relay thread has closed them. */
int tcp_relay_cut(tcp_relay *r);
void tcp_relay_stop(tcp_relay *r);

#endif
