/* task_stats.h - one task's CPU and memory use, read from its cgroup v2 files or,
 * for a task without a cgroup (raw_exec where cgroup v2 is not usable), from
 * /proc for its process tree (best effort: a process that re-parented itself
 * to init is no longer counted).
 *
 * Both readers take the directory they read (the cgroup's directory; the
 * procfs root), so tests hand them fixture trees. Counters are cumulative;
 * percentages need two samples (task_usage_cpu_percent). Nomad's JSON shape is
 * task_usage_json: {MemoryStats, CpuStats} of AllocResourceUsage.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Which fields a reader filled (Nomad's Measured lists). */
enum {
        TU_RSS = 1u << 0,
        TU_CACHE = 1u << 1,
        TU_SWAP = 1u << 2,
        TU_USAGE = 1u << 3,
        TU_MAX_USAGE = 1u << 4,
        TU_KERNEL = 1u << 5,
        TU_MAPPED = 1u << 6,
        TU_CPU = 1u << 7,      /* user, system, total */
        TU_THROTTLE = 1u << 8, /* throttled periods and time */
};

#define TASK_STATS_MAX_PIDS 64 /* processes listed one by one (Pids) */

struct task_usage {
        unsigned measured; /* TU_* */
        /* Memory, bytes. */
        uint64_t rss, cache, swap, usage, max_usage, kernel, mapped_file;
        /* CPU, cumulative microseconds. */
        uint64_t user_us, system_us, total_us;
        uint64_t throttled_periods, throttled_us;
        /* Percent of one core since the previous sample (0 without one): filled by
         * task_usage_cpu_percent. */
        double percent, user_percent, system_percent;
        /* The processes counted, each with its own use (the first
         * TASK_STATS_MAX_PIDS): filled by task_stats_procs and by
         * task_stats_cgroup_pids; task_stats_cgroup leaves n_pids 0. */
        struct task_pid_usage {
                pid_t pid;
                uint64_t rss, swap;         /* bytes: VmRSS, VmSwap */
                uint64_t user_us, system_us; /* cumulative */
        } procs[TASK_STATS_MAX_PIDS];
        size_t n_pids;
};

/* cpu.stat (usage_usec, user_usec, system_usec, nr_throttled, throttled_usec),
 * memory.current, memory.peak, memory.swap.current, memory.stat (anon, file,
 * file_mapped, kernel or kernel_stack + slab) of cgroup_dir. A file that is
 * absent (controller not enabled, older kernel) leaves its fields out of
 * measured. -ENOENT when the directory does not exist. */
int task_stats_cgroup(const char *cgroup_dir, struct task_usage *ret);

/* The processes in cgroup_dir's cgroup.procs (pids as proc_root sees them),
 * each read from proc_root as task_stats_procs does, into ret->procs (the
 * first TASK_STATS_MAX_PIDS; a process gone meanwhile is left out). Returns
 * how many, or -errno (-ENOENT without the cgroup). Nothing else of ret changes. */
int task_stats_cgroup_pids(const char *cgroup_dir, const char *proc_root, struct task_usage *ret);

/* The process pid and its descendants under proc_root ("/proc"): utime and stime
 * of /proc/<p>/stat, VmRSS and VmSwap of /proc/<p>/status, summed. start_ticks,
 * when not 0, must match pid's starttime (guards against pid reuse). -ESRCH when
 * pid is gone (or reused). */
int task_stats_procs(const char *proc_root, pid_t pid, uint64_t start_ticks, struct task_usage *ret);

/* Percentages from the previous sample prev taken elapsed_ns earlier (cur
 * counters must not be below prev's; nothing is filled otherwise). */
void task_usage_cpu_percent(struct task_usage *cur, const struct task_usage *prev, int64_t elapsed_ns);

/* a += b (fields both measured stay measured; pids are not merged). */
void task_usage_add(struct task_usage *a, const struct task_usage *b);

/* Nomad's ResourceUsage: {"MemoryStats": {RSS, Cache, Swap, MappedFile, Usage,
 * MaxUsage, KernelUsage, KernelMaxUsage, Measured}, "CpuStats": {SystemMode,
 * UserMode, TotalTicks, ThrottledPeriods, ThrottledTime (ns), Percent,
 * Measured}}. mhz_per_core turns Percent into TotalTicks (MHz used); 0 = unknown. */
json_t *task_usage_json(const struct task_usage *u, double mhz_per_core);

/* Nomad's TaskResourceUsage.Pids: {"<pid>": ResourceUsage} for u's procs,
 * with MemoryStats RSS and Swap measured. Per process CPU is not sampled
 * twice here, so its CpuStats measure nothing (TotalUsageUs holds the
 * cumulative user + system time). */
json_t *task_usage_pids_json(const struct task_usage *u);

/* Where a running task's process is written down for the agent's stats endpoint
 * (log_api.c), which runs on a thread of its own, and for a restarted agent (the
 * cgroup of a task that ended meanwhile): "<pid> <start ticks> <cgroup directory or
 * ->\n" in the task directory's extended attribute TASK_PID_XATTR, or, where that
 * cannot be set (an agent not root, a file system without trusted.* attributes),
 * in the file <task dir>/TASK_PID_FILE. The alloc runner writes it when a task
 * starts and removes it when the task ends; the reader takes the attribute first. */
#define TASK_PID_XATTR "trusted.drover.pid"
#define TASK_PID_FILE ".drover-pid"
struct driver_handle;
int task_pid_file_write(const char *task_dir, const struct driver_handle *h);
void task_pid_file_remove(const char *task_dir);
/* ret_cgroup: 256 bytes, "" when the task has no cgroup. -ENOENT when there is no file. */
int task_pid_file_read(int task_dirfd, pid_t *ret_pid, uint64_t *ret_start_ticks, char *ret_cgroup);
