/* driver.h - the task driver interface.
 *
 * A driver turns a task's plain parameters (a config object, an environment,
 * a working directory, log file paths) into a running process. It knows
 * nothing of jobs or allocations. Drivers are `const struct driver_ops` tables
 * registered in drivers[] (driver.c).
 *
 * The handle is plain data (fixed-size fields, no pointers) so that the agent
 * can persist it (SQLite, later) and a restarted agent can hand it to
 * ->recover() to re-attach to a task that kept running.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct error;
struct logmon;
struct strmap;

struct driver_handle {
        char driver[16];      /* ops->name */
        int32_t pid;          /* process (and process group) id */
        uint64_t start_ticks; /* /proc/<pid>/stat starttime: guards against pid reuse */
        int64_t started_at;   /* unix ns */
        /* Not persisted: ->recover() fills them in again from /proc. */
        char cgroup[256];     /* the task's cgroup v2 directory, "" = none */
        uint32_t uid;         /* dynamic workload uid, 0 = none */
};

struct driver_exit {
        int exit_code; /* 0..255; 0 when killed by a signal */
        int signal;    /* signal that killed it, 0 when it exited */
        bool unknown;  /* the status could not be collected (not our child) */
        bool oom_killed; /* the kernel's OOM killer ended a process of the task (memory.events) */
};

struct driver_spec {
        const char *task_name;
        const json_t *config;     /* driver config, interpolated */
        const struct strmap *env; /* full environment of the task */
        const char *task_dir;     /* working directory */
        const char *stdout_path;  /* appended to */
        const char *stderr_path;
        /* For isolating drivers (exec); NULL/0 when unknown. */
        const char *alloc_id;
        const char *alloc_name; /* the task's hostname */
        const char *task_root;  /* the task's directory (local/, secrets/): exec's "/" */
        const char *alloc_dir;  /* the allocation's shared directory: exec's /alloc */
        const char *user;       /* the task's user; NULL/"" = a dynamic workload user */
        /* owner_set: the caller chose who the task runs as (uid, gid: the task's user
         * looked up, or a workload id it took with ->workload_id_take) and made the
         * task's directories that user's (alloc_dir.h); the driver runs the task as
         * them. Else the driver looks the user up, or takes a workload id itself. */
        bool owner_set;
        uint32_t uid, gid;
        int cpu_mhz;
        int memory_mb;
        int memory_max_mb; /* enforced above memory_mb when set: the caller decided (alloc/task_memory.h) */
        int cores; /* reserved cores (resources { cores }); the exec driver picks which */
        /* Where set, raw_exec has the agent's long-lived log collector start the task
         * (logmon_spawn): the collector is its parent, reaps it and records its exit
         * status in exit_dir whether an agent runs then or not. NULL: the agent
         * clones it itself (its exit status is lost if the agent is down then). */
        struct logmon *spawner;
        const char *exit_dir;
};

/* Agent-wide settings of the drivers, from the agent's configuration
 * (driver_configure(), once at start-up; the defaults otherwise). */
struct driver_settings {
        bool raw_exec_enabled;       /* raw_exec is opt-in */
        char cgroup_mount[256];      /* "/sys/fs/cgroup" */
        char cgroup_parent[256];     /* "/sys/fs/cgroup/drover.slice" */
        uint32_t uid_min, uid_max;   /* dynamic workload users */
};

void driver_configure(const struct driver_settings *s);
const struct driver_settings *driver_settings(void);

struct driver_health {
        bool detected;
        bool healthy;
        char description[300];
};

/* A started task (r = 0: h, and exit_fd owned by the callee) or why not (r < 0, err). */
typedef void (*driver_started_fn)(void *data, int r, const struct driver_handle *h, int exit_fd,
                                  const struct error *err);

struct driver_ops {
        const char *name;
        void (*fingerprint)(struct driver_health *ret);
        /* Check the config before anything starts; err says which field is wrong. */
        int (*validate)(const json_t *config, struct error *err);
        /* Start the task. ret_exit_fd (owned by the caller, CLOEXEC) becomes readable
         * when the task exits; then call ->wait. */
        int (*start)(const struct driver_spec *spec, struct driver_handle *ret_handle, int *ret_exit_fd,
                     struct error *err);
        /* Optional: start without waiting for the process to exist (raw_exec through the
         * log collector, logmon_spawn_async). 0: done runs later on the agent's loop,
         * exactly once (r < 0 with err when it did not start); < 0: it will not run
         * (-EOPNOTSUPP: this spec cannot, use ->start). */
        int (*start_async)(const struct driver_spec *spec, driver_started_fn done, void *data, struct error *err);
        /* Collect the exit status once exit_fd is readable (does not block). */
        int (*wait)(const struct driver_handle *h, int exit_fd, struct driver_exit *ret, struct error *err);
        /* Send sig to the task (its whole process group). -ESRCH when it is gone. */
        int (*signal)(const struct driver_handle *h, int sig, struct error *err);
        /* Re-attach to a task started by an earlier agent; may return -ENOTSUP. */
        /* h's non-persisted fields (cgroup, uid) are filled in again. */
        int (*recover)(struct driver_handle *h, int *ret_exit_fd, struct error *err);
        /* Optional (drivers that run tasks with no user as a dynamic workload user):
         * the agent's range of such ids (-workload-uids), loop thread only. take: the
         * lowest free one (-EBUSY when all are in use); mark: one a task of an earlier
         * agent holds (-ERANGE outside the range); release: free it again. The caller holds an id while a task may
         * run as it (alloc_runner: until the allocation's tasks are all dead for good). */
        int (*workload_id_take)(uint32_t *ret, struct error *err);
        int (*workload_id_mark)(uint32_t id); /* -ERANGE: not in the range */
        void (*workload_id_release)(uint32_t id);
};

extern const struct driver_ops raw_exec_driver;
extern const struct driver_ops exec_driver;

/* The driver called name, or NULL. */
const struct driver_ops *driver_find(const char *name);
/* Iterate: driver_at(0), driver_at(1)... until NULL. */
const struct driver_ops *driver_at(size_t i);

/* Shared by the process-based drivers (raw_exec.c). */
/* Field 22 of /proc/<pid>/stat (start time in ticks), 0 when unknown. */
uint64_t driver_proc_start_ticks(int pid);
int driver_pidfd_open(int pid);
/* ->wait for a pidfd: waitid(P_PIDFD), then the task cgroup's leftovers and OOM kills. */
int driver_wait_pidfd(const struct driver_handle *h, int exit_fd, struct driver_exit *ret, struct error *err);

/* Signal names as Nomad's kill_signal takes them ("SIGINT", "INT", "SIGTERM"...);
 * returns the number or -EINVAL. */
int signal_parse(const char *name);
