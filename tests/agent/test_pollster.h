/*
 * test_pollster.h: a synthetic pollster for agent tests. It records every
 * poll (target, start, end) and emits one sample whose value is the poll's
 * sequence number. A target id "slow-<ms>" makes the poll take that long.
 */
#ifndef METERD_TESTS_TEST_POLLSTER_H
#define METERD_TESTS_TEST_POLLSTER_H

#include "agent/pollster.h"

#define TP_MAX_EVENTS 100000

typedef struct tp_event {
    char target[64];
    int64_t start_ms, end_ms; /* wall clock; end 0 while running */
    uint64_t seq;
} tp_event;

extern const pollster_plugin test_pollster;

void tp_reset(void);
/* Copies events of target (NULL: all) into out (cap); returns how many exist. */
size_t tp_events(const char *target, tp_event *out, size_t cap);
size_t tp_count(const char *target);
/* Completed polls of target. */
size_t tp_done(const char *target);

#endif
