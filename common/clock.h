/* clock.h - time in nanoseconds; cores take a clock through this interface. */
#pragma once

#include <stdint.h>

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_SEC INT64_C(1000000000)

struct clock_ops {
        int64_t (*now_ns)(void *data);     /* wall clock, unix ns */
        int64_t (*monotonic_ns)(void *data);
        void *data;
};

extern const struct clock_ops clock_real;

int64_t clock_now_ns(void);       /* CLOCK_REALTIME */
int64_t clock_monotonic_ns(void); /* CLOCK_MONOTONIC */
