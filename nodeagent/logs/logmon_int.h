/* logmon_int.h - what the two halves of the log collector share, for them only
 * (see logmon.h for the design): the protocol between the agent's side
 * (logmon.c: connecting, handing FIFOs over SCM_RIGHTS, asking for spawns) and
 * the collector process (logmon_collector.c: what runs after the fork - FIFOs,
 * rotation, spawning and reaping tasks, .drover-exit), and the collector's entry
 * point with the async-signal-safe helpers both halves call. */
#pragma once

#include <stdint.h>

#include "nodeagent/logs/logmon.h"

#define COMM "drover-logmon"
#define READY_TIMEOUT_MS 2000
#define STOP_WAIT_MS 1000
#define SPAWN_WAIT_MS 5000
#define IDLE_EXIT_MS 5000 /* a collector nobody connected to exits */
#define MAX_CLIENTS 8
#define NAME_MAX_ 512

/* ---- the protocol ------------------------------------------------------------------------ */

enum { OP_OPEN = 1, OP_STOP = 2, OP_SPAWN = 3, OP_HELLO = 100, OP_SPAWNED = 101 };

/* Agent -> collector, one SOCK_SEQPACKET message each.
 * OP_OPEN carries 3 descriptors: the log directory, the stdout and stderr FIFOs.
 * OP_STOP carries 2: the stdout FIFO (O_PATH: names the task) and the write end
 * of a pipe the collector closes once the task's output is written. */
struct msg {
        uint32_t op;
        int32_t max_files;
        int64_t max_size;
        int64_t index[2]; /* the files to append to first (the agent lists the directory) */
        char task[LOGMON_TASK_MAX];
};

/* OP_SPAWN carries 4 or 5 descriptors: the directory for the exit file, stdin,
 * stdout, stderr, and the task cgroup's cgroup.procs when it has one. data holds
 * path, working directory, argc arguments and envc environment entries, each
 * NUL-terminated. */
struct spawn_msg {
        uint32_t op;
        uint32_t seq; /* echoed in the reply */
        uint32_t argc, envc;
        uint32_t len; /* bytes of data used */
        char data[LOGMON_SPAWN_MAX];
};

/* Collector -> agent: OP_HELLO on connect (pid), OP_SPAWNED for each OP_SPAWN (pid,
 * or stage and errno when it failed; a pidfd of the task with it on success). */
struct reply {
        uint32_t op;
        uint32_t seq;
        int32_t pid;
        int32_t stage; /* enum logmon_spawn_stage, 0 = started */
        int32_t err;
};

/* The streams' names in file names, by index. */
static const char *const types[2] __attribute__((unused)) = {"stdout", "stderr"};

/* ---- the collector (logmon_collector.c) ------------------------------------------------------ */

/* The collector process's main loop, in the forked grandchild, lfd its listening
 * socket: no malloc, no stdio from here on; never returns. */
__attribute__((noreturn)) void logmon_collector_main(int lfd);
/* Close every descriptor from lo up. Async-signal-safe. */
void logmon_close_fds_from(unsigned lo);
/* Close fds[0..n) that are >= 0. Async-signal-safe. */
void logmon_close_fds(const int *fds, int n);
/* The descriptors a received message carried (SCM_RIGHTS): the first max into
 * fds, the rest closed; returns how many went into fds. Async-signal-safe. */
struct msghdr;
int logmon_take_fds(struct msghdr *mh, int *fds, int max);
/* CLOCK_MONOTONIC in ms. Async-signal-safe. */
int64_t logmon_now_ms(void);
