/* logmon.h - tasks' stdout/stderr collector, with rotation: ONE process per agent.
 *
 * A task writes into two FIFOs (<logdir>/.<task>.stdout.fifo, .stderr.fifo)
 * that the driver opens as if they were files. One long-lived collector process
 * per agent reads every task's FIFOs and writes <logdir>/<task>.<type>.<n>,
 * Nomad's names: a file is closed at exactly max_file_size bytes (a write is
 * split across files) and the next index opened; only the newest max_files files
 * are kept. Since every file but the newest holds exactly max_file_size bytes,
 * byte b of the stream lives in file b / max_file_size at b % max_file_size:
 * readers get stable offsets across rotations (log_api.c, logmeta).
 *
 * The agent talks to the collector over a unix SOCK_SEQPACKET socket in the
 * abstract namespace named after the agent's data directory (its device and
 * inode: no path length limit, nothing left on disk); only the collector's own
 * uid may connect. Per task the agent opens the FIFOs itself (read and write,
 * so that they never report EOF between task restarts and a task's open for
 * writing never blocks) and hands them over with SCM_RIGHTS: no fork, no
 * round trip, nothing waited for on the agent's loop. The task may write at
 * once: its output waits in the FIFO until the collector reads it.
 *
 * The collector is forked once (setsid, double fork: init reaps it), touches no
 * malloc or stdio after the fork (fixed tables: at most LOGMON_MAX_TASKS tasks
 * at a time), and survives agent restarts: a restarted agent connects to the
 * same collector, whose tasks kept writing meanwhile. A task's streams end when
 * the agent says the task is dead for good (logmon_signal: the collector drains
 * the FIFOs first) or when its log directory is removed. A task the collector
 * started (logmon_spawn) is killed, with its whole cgroup (cgroup.kill) when it
 * was started into one, else its process group, once its exit_dir is
 * removed (its allocation was collected, or the agent's data directory deleted:
 * nobody is left to ask for it). The collector exits
 * when no agent is connected and it has no task left. If it dies, the next
 * logmon_ensure starts another one, which appends to the existing files
 * (output of tasks running meanwhile is lost until they are started again).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct error;
struct logmon;

#define LOGMON_PATH 4200 /* bytes of a path logmon_ensure returns */
#define LOGMON_TASK_MAX 256 /* bytes of a task name, NUL included */
#define LOGMON_MAX_TASKS 4096 /* tasks one collector serves at a time */
#define LOGMON_SPAWN_MAX (128 * 1024) /* bytes of path, cwd, argv and envp of a task it starts */
#define LOGMON_SPAWN_ARGS 4096        /* arguments, and environment variables, of one */
/* A task's exit record, "<pid> <exit code> <signal>\n": the extended attribute
 * LOGMON_EXIT_XATTR of its directory where the collector can set trusted.*
 * attributes (root; a rewrite of the directory's inode, where a file takes a new
 * inode, a rename and an unlink per task), else the file LOGMON_EXIT_FILE in it
 * (also where the exec driver's supervisor writes it). */
#define LOGMON_EXIT_XATTR "trusted.drover.exit"
/* A task's log settings, "<max file size> <max files>\n", for the log endpoint: the
 * attribute LOGMON_META_XATTR<task> of the logs directory where it can be set (root,
 * a name that fits in 255 bytes), else the file .<task>.logmeta in it. */
#define LOGMON_META_XATTR "trusted.drover.logmeta."
#define LOGMON_EXIT_FILE ".drover-exit"
#define LOGMON_DEFAULT_MAX_FILES 10
#define LOGMON_DEFAULT_MAX_FILE_SIZE (10LL * 1024 * 1024)

struct logmon_config {
        const char *dir;       /* the allocation's alloc/logs */
        const char *task;      /* a safe file name */
        int max_files;         /* >= 1 */
        int64_t max_file_size; /* bytes, >= 1 */
        /* logmon_prepare succeeded for this dir, task and sizes: logmon_ensure does
         * not make the FIFOs or write the logmeta file again. */
        bool prepared;
        /* The directory was made for this allocation just now and holds no file of
         * this task: its streams start at index 0 without listing the directory. */
        bool fresh;
};

/* The agent's handle on the collector of data_dir (which must exist). Connects
 * lazily, on the first logmon_ensure; NULL when out of memory or data_dir is
 * missing (err says which). */
struct logmon *logmon_create(const char *data_dir, struct error *err);
/* Disconnect; the collector keeps running for the tasks it still serves. Accepts NULL. */
void logmon_destroy(struct logmon *lm);

/* Hand task's FIFOs to the collector (starting it if none runs; a task it serves
 * already is left as it is); writes <dir>/.<task>.logmeta ("<max_file_size>
 * <max_files>\n") and returns the FIFO paths for the driver (ret_* LOGMON_PATH bytes). */
int logmon_ensure(struct logmon *lm, const struct logmon_config *cfg, char *ret_stdout, char *ret_stderr,
                  struct error *err);

/* The file-system half of logmon_ensure (the FIFOs, the logmeta file), without the
 * collector: touches no struct logmon, so it runs on any thread (the agent makes a
 * new allocation's directories and these off its loop, several at once). */
int logmon_prepare(const struct logmon_config *cfg, struct error *err);

/* The task is dead for good: the collector writes what is left in its FIFOs and
 * forgets it. Returns a descriptor (caller closes) that becomes readable (EOF)
 * once that is done, or the collector is gone; negative errno when there is
 * nothing to wait for (-ENOENT: no FIFOs). Callers bound their wait (1 s). */
int logmon_signal(struct logmon *lm, const char *dir, const char *task);

/* The same, waiting (at most 1 s) until the files are complete. */
void logmon_stop(struct logmon *lm, const char *dir, const char *task);

/* The collector's pid while connected (for tests and diagnostics), else 0; may
 * wait up to 1 s for the collector's hello the first time. */
pid_t logmon_pid(struct logmon *lm);

/* Tasks the collector starts (raw_exec): it is their parent, so it reaps them and
 * records their exit in <exit_dir> (LOGMON_EXIT_XATTR) when they end, whether an agent runs then or
 * not (the agent, not their parent, sees only a pidfd). */
enum logmon_spawn_stage {
        LOGMON_STAGE_SETSID = 1,
        LOGMON_STAGE_STDIO,
        LOGMON_STAGE_CHDIR,
        LOGMON_STAGE_EXEC,
        LOGMON_STAGE_CGROUP,
        LOGMON_STAGE_FORK,
        LOGMON_STAGE_PROTOCOL,
};

struct logmon_spawn_req {
        const char *path;       /* resolved executable */
        char *const *argv;      /* NULL-terminated, at least argv[0] */
        char *const *envp;      /* NULL-terminated; NULL = empty */
        const char *cwd;
        int stdin_fd, stdout_fd, stderr_fd;
        int cgroup_procs_fd;    /* the child writes "0" into it first; -1 = none */
        const char *exit_dir;   /* where the exit status file goes (the last one is removed) */
};

/* Start a task as the collector's child (setsid, the given stdio, cwd, cgroup) and
 * return its pid and a pidfd (caller closes). Waits for the collector's answer
 * (it clones with CLONE_VFORK, so the answer says whether execve worked; the
 * agent's loop uses logmon_spawn_async below, which does not wait); an exec
 * failure comes back as an error naming the stage and errno. -E2BIG when argv and
 * envp exceed LOGMON_SPAWN_MAX / LOGMON_SPAWN_ARGS. */
int logmon_spawn(struct logmon *lm, const struct logmon_spawn_req *req, pid_t *ret_pid, int *ret_pidfd,
                 struct error *err);
const char *logmon_stage_str(int stage);

/* ---- starting tasks without waiting (the agent's loop) ----
 * logmon_spawn_async sends the request and returns; the collector's answer (a
 * pidfd over SCM_RIGHTS) is read when its socket is readable, on the loop given
 * to logmon_attach, and handed to done: r = 0 with pid and pidfd (the callee
 * owns it), or r < 0 with err saying why (an exec failure names the stage; a
 * collector that exits, or says nothing for 5 s, fails every spawn in flight).
 * done runs exactly once per accepted request, on the loop, never inside
 * logmon_spawn_async, in the order the requests were sent. At most
 * LOGMON_SPAWN_INFLIGHT requests are in flight: the next one first waits for the
 * oldest answer (the collector answers in order). logmon_destroy waits up to 1 s
 * for the answers still due, kills the tasks they started (nobody would track
 * them) and calls done with -ECANCELED. */
#define LOGMON_SPAWN_INFLIGHT 64

struct uv_loop_s;
typedef void (*logmon_spawn_fn)(void *data, int r, pid_t pid, int pidfd, const struct error *err);

/* Read the collector's answers on loop from now on; 0, or -EBUSY for another loop. */
int logmon_attach(struct logmon *lm, struct uv_loop_s *loop);
bool logmon_attached(const struct logmon *lm);
/* 0: done will be called; < 0: it will not (err says why: E2BIG, no collector...). */
int logmon_spawn_async(struct logmon *lm, const struct logmon_spawn_req *req, logmon_spawn_fn done, void *data,
                       struct error *err);
/* Requests sent and not answered yet (tests, diagnostics). */
size_t logmon_spawns_in_flight(const struct logmon *lm);

/* The exit status recorded in <dir> (LOGMON_EXIT_XATTR, else LOGMON_EXIT_FILE) for
 * pid: 0, -ENOENT (none yet), -ESRCH (another pid's), -EINVAL (unreadable). */
int logmon_read_exit(const char *dir, pid_t pid, int *ret_code, int *ret_signal);

/* The name of task's logmeta attribute in buf; false where it does not fit in an
 * attribute name (255 bytes; the file is used then). */
bool logmon_meta_xattr(const char *task, char *buf, size_t size);

/* Task's log settings in the logs directory dirfd (LOGMON_META_XATTR, else the file)
 * into buf, NUL-terminated: bytes read, or -ENOENT where there are none. */
ssize_t logmon_meta_read(int dirfd, const char *task, char *buf, size_t size);

/* The first and last index of <dir>/<task>.<type>.<n> files (-ENOENT when none). */
int logmon_file_range(const char *dir, const char *task, const char *type, long *ret_first, long *ret_last);

/* max_file_size from <dir>/.<task>.logmeta; 0 when the file is missing (logs of an
 * agent that did not rotate: a single file .0). */
int64_t logmon_max_file_size(const char *dir, const char *task);
