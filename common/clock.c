#include "common/clock.h"

#include <time.h>

int64_t clock_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t clock_monotonic_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t real_now(void *data) {
        (void)data;
        return clock_now_ns();
}
static int64_t real_mono(void *data) {
        (void)data;
        return clock_monotonic_ns();
}

const struct clock_ops clock_real = {.now_ns = real_now, .monotonic_ns = real_mono, .data = NULL};
