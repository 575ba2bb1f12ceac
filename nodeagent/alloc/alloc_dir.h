/* alloc_dir.h - an allocation's directory tree on disk, private to its tasks.
 *
 * Layout (Nomad's): <alloc>/alloc/{logs,tmp,data} shared by the tasks and
 * <alloc>/<task>/{local,secrets,tmp} for each task.
 *
 * Owners and modes (docs/security.md "Task files"); nothing is world-readable:
 *   - <task>/ and its local/, tmp/, secrets/: the task's user, 0700.
 *   - <alloc>/, alloc/tmp, alloc/data: the tasks' user when they all run as one
 *     (0700); else root with the group every non-root task has (0710; tmp and
 *     data 03770), or root alone (0700) when they share no group.
 *   - alloc/ and alloc/logs: root with that group (01770: the tasks add files,
 *     the sticky bit keeps them from renaming what they do not own; logs 0750),
 *     never the task's: the log collector writes alloc/logs by path, and a task
 *     owning alloc/ could put a symlink there.
 *   - secrets/ is a tmpfs of 1 MiB (nosuid, nodev, noexec, mode 0700, the task's
 *     uid and gid); where mounting is not permitted (the agent is not root) a
 *     plain 0700 directory, counted in alloc_dir_result.secrets_on_disk.
 *   - Files the agent writes in the tree (alloc_dir_write_file): 0600, the task's.
 *
 * Nothing is reached through a symlink: every directory is opened relative to its
 * parent's fd with O_NOFOLLOW and changed through that fd (fchown, fchmod, mount
 * on /proc/self/fd/N), so one planted in place of a subdirectory fails the build
 * ("... is not a directory") and nothing outside the tree is touched.
 *
 * Every function here blocks on the file system (mkdir, chown, mount): call them
 * from libuv's thread pool or the collector's thread, not from the event loop
 * (alloc_dir_release, a few syscalls per task, is the exception).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct error;

#define ALLOC_DIR_SECRETS_SIZE "1m" /* Nomad's */

struct alloc_dir_task {
        const char *name; /* a safe name: no '/', not "." / ".." / "alloc" */
        uid_t uid;        /* who the task runs as (0 = root) */
        gid_t gid;
        bool ended; /* ended for good: its secrets/ is not mounted (again) */
};

struct alloc_dir_owner {
        uid_t uid; /* <alloc>/, alloc/tmp, alloc/data */
        gid_t gid;
        mode_t dir_mode;    /* <alloc>/ */
        mode_t data_mode;   /* alloc/tmp, alloc/data */
        gid_t group;        /* alloc/ and alloc/logs are root:group */
        mode_t shared_mode; /* alloc/ */
        mode_t logs_mode;   /* alloc/logs */
};

struct alloc_dir_result {
        int secrets_mounted;    /* tmpfs mounted now */
        int secrets_reattached; /* tmpfs found mounted already (a restarted agent) */
        int secrets_on_disk;    /* mount not permitted: a 0700 directory instead */
        bool logs_made;         /* alloc/logs was made by this call: it holds no task's logs yet */
        char note[200];         /* why the last one is on disk, or "" */
};

/* The shared part's owner for these tasks (pure; see the header comment). */
void alloc_dir_shared_owner(const struct alloc_dir_task *t, size_t n, struct alloc_dir_owner *ret);

/* Make root (<data-dir>/alloc: the allocations' directories go in it) 0711 with its
 * parents, and mark it, where the file system has the flag (ext2/3/4), a top of
 * directory hierarchies (FS_TOPDIR_FL, `chattr +T`): the Orlov allocator then puts
 * each allocation's tree in a block group of its own choosing, one with few
 * directories and many free inodes, instead of packing every tree into the data
 * dir's group. On ext4 without a journal a new inode is searched for past each inode
 * of its group freed in the last minutes (reading the inode table for each), and the
 * data dir's group is where every earlier tree was freed: 1,000 trees of 9
 * directories and 2 FIFOs took 1.1-2.4 s of system CPU there after 3,000 were
 * removed, 0.3-0.4 s spread (bench/RESULTS.md, e2e3). 1 when marked (now or
 * before), 0 when the file system has no such flag, or negative errno with err. */
int alloc_dir_root_prepare(const char *root, struct error *err);

/* Make (or fix up) the tree at path (absolute; its parents are made 0711 when
 * missing), with the owners and modes above, and each task's secrets/ tmpfs,
 * mounted once: one already there is kept. ret (may be NULL) says how secrets/
 * went. 0 or negative errno with err. */
int alloc_dir_build(const char *path, const struct alloc_dir_task *t, size_t n, struct alloc_dir_result *ret,
                    struct error *err);

/* Write data to <path>/<task>/local/<rel> (rel relative, no "..": missing
 * directories on the way are made 0700), owned by uid:gid, mode 0600. */
int alloc_dir_write_file(const char *path, const char *task, const char *rel, const void *data, size_t n, uid_t uid,
                         gid_t gid, struct error *err);

/* Detach (MNT_DETACH) every task's secrets/ tmpfs under path: before the tree is
 * removed (GC) or when its allocation is destroyed. Returns how many were
 * detached; 0 when path does not exist. */
int alloc_dir_release(const char *path, struct error *err);

/* Detach the secrets/ tmpfs of one task (it ended for good). 1 when one was
 * detached, 0 when none was mounted (or the directory is gone), or negative errno. */
int alloc_dir_release_task(const char *path, const char *task, struct error *err);

/* Mount the secrets/ tmpfs of one task again (t->name, t->uid, t->gid): a task
 * dead for good that runs once more (alloc restart -all-tasks). One that is
 * mounted is kept; where mounting is not permitted secrets/ stays the 0700
 * directory (as alloc_dir_build). 0 or negative errno with err. */
int alloc_dir_remount_secrets(const char *path, const struct alloc_dir_task *t, struct error *err);

/* Whether dir_fd's entry name is a mount point holding a tmpfs (the secrets/ of
 * a task), without following a symlink. */
bool alloc_dir_is_tmpfs_mount(int dir_fd, const char *name);
