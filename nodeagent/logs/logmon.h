/* logmon.h - a task's stdout/stderr collector, with rotation, in a process of its own.
 *
 * A task writes into two FIFOs (<logdir>/.<task>.stdout.fifo, .stderr.fifo)
 * that the driver opens as if they were files. A small collector process reads
 * them and writes <logdir>/<task>.<type>.<n>, Nomad's names: a file is closed
 * at exactly max_file_size bytes (a write is split across files) and the next
 * index opened; only the newest max_files files are kept. Since every file but
 * the newest holds exactly max_file_size bytes, byte b of the stream lives in
 * file b / max_file_size at b % max_file_size: readers get stable offsets
 * across rotations (log_api.c, logmeta).
 *
 * The collector is forked from the agent before the task starts, detaches
 * (setsid, double fork: init reaps it) and survives agent restarts, so a
 * restarted agent's tasks keep writing; it touches no malloc or stdio after the
 * fork. It keeps the FIFOs open for reading and writing, so a task restart
 * finds its reader still there; it drains and exits on SIGTERM (logmon_stop),
 * or by itself when its log directory is removed.
 */
#pragma once

#include <stdint.h>

struct error;

#define LOGMON_PATH 4200 /* bytes of a path logmon_ensure returns */
#define LOGMON_DEFAULT_MAX_FILES 10
#define LOGMON_DEFAULT_MAX_FILE_SIZE (10LL * 1024 * 1024)

struct logmon_config {
        const char *dir;       /* the allocation's alloc/logs */
        const char *task;      /* a safe file name */
        int max_files;         /* >= 1 */
        int64_t max_file_size; /* bytes, >= 1 */
};

/* Start the collector for task unless one runs already; writes <dir>/.<task>.logmeta
 * ("<max_file_size> <max_files>\n") and returns the FIFO paths for the driver
 * (ret_* LOGMON_PATH bytes). Waits (at most 2 s) until the collector holds the FIFOs. */
int logmon_ensure(const struct logmon_config *cfg, char *ret_stdout, char *ret_stderr, struct error *err);

/* The task is dead for good: the collector writes what is left and exits;
 * waits (at most 1 s) for that, so the files are complete when it returns. */
void logmon_stop(const char *dir, const char *task);

/* The same without waiting, for event loops: sends the collector SIGTERM and
 * returns a pidfd (caller closes) that becomes readable when it has drained the
 * FIFOs and exited; negative errno when there is none to wait for (no collector:
 * -ENOENT; no pidfd support: -ENOSYS). Callers bound their wait (1 s, as logmon_stop). */
int logmon_signal(const char *dir, const char *task);

/* The first and last index of <dir>/<task>.<type>.<n> files (-ENOENT when none). */
int logmon_file_range(const char *dir, const char *task, const char *type, long *ret_first, long *ret_last);

/* max_file_size from <dir>/.<task>.logmeta; 0 when the file is missing (logs of an
 * agent that did not rotate: a single file .0). */
int64_t logmon_max_file_size(const char *dir, const char *task);
