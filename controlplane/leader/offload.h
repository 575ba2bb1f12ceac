/* offload.h - run a leader duty's O(state) work on libuv's pool: work(arg) on a pool
 * thread, then done(arg, canceled) on the loop. The shape of periodic_ops.offload, so
 * that the server hands it on as it is. */
#pragma once

#include <stdbool.h>

struct uv_loop_s;

/* 0, or -ENOMEM / libuv's negative error (then neither runs). */
int offload_run(struct uv_loop_s *loop, void (*work)(void *arg), void (*done)(void *arg, bool canceled), void *arg);
