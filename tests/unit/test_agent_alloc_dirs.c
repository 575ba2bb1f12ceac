/* test_agent_alloc_dirs.c - an allocation's directories are private to its tasks:
 * owners and modes, secrets/ on a tmpfs mounted once and detached by the GC, and
 * no symlink followed. Mounting needs root: the tests skip without it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "nodeagent/alloc/alloc_dir.h"
#include "nodeagent/alloc/alloc_gc.h"
#include "tests/unit/tmpdir.h"

#define AID "6f1d0c1e-0000-4000-8000-0000000000d1"

static char dir[TMPDIR_SIZE]; /* the data dir */
static char adir[256];        /* <dir>/alloc/<AID> */

static void need_root(void) {
        if (geteuid() != 0)
                cr_skip_test("needs root (chown, mount)");
}

static void setup(void) {
        tmpdir_create(dir, "adir");
        snprintf(adir, sizeof(adir), "%s/alloc/" AID, dir);
}

static void teardown(void) {
        alloc_dir_release(adir, NULL); /* whatever a failed test left mounted */
        tmpdir_remove(dir);
}

TestSuite(agent_alloc_dirs, .init = setup, .fini = teardown, .timeout = 20);

static struct stat st_of(const char *rel) {
        char p[512];
        struct stat sb = {0};
        snprintf(p, sizeof(p), "%s/%s", adir, rel);
        cr_assert_eq(lstat(p, &sb), 0, "lstat %s: %s", p, strerror(errno));
        return sb;
}

static void expect_owned(const char *rel, uid_t uid, gid_t gid, mode_t mode) {
        struct stat sb = st_of(rel);
        cr_expect_eq(sb.st_uid, uid, "%s: owner %u, want %u", rel, (unsigned)sb.st_uid, (unsigned)uid);
        cr_expect_eq(sb.st_gid, gid, "%s: group %u, want %u", rel, (unsigned)sb.st_gid, (unsigned)gid);
        cr_expect_eq(sb.st_mode & 07777, mode, "%s: mode %o, want %o", rel, sb.st_mode & 07777, mode);
        cr_expect_eq(sb.st_mode & 0007, 0, "%s is not world-accessible", rel);
}

struct owned {
        const char *rel;
        uid_t uid;
        gid_t gid;
        mode_t mode;
};

static void expect_tree(const struct owned *want, size_t n) {
        for (size_t i = 0; i < n; i++)
                expect_owned(want[i].rel, want[i].uid, want[i].gid, want[i].mode);
}

static bool is_tmpfs(const char *rel) {
        char p[512];
        struct statfs fs;
        snprintf(p, sizeof(p), "%s/%s", adir, rel);
        return statfs(p, &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

/* Mounts at exactly path in /proc/self/mountinfo. */
static int mounts_at(const char *path) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        cr_assert_not_null(f);
        char line[4096], mp[4096];
        int n = 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, path) == 0)
                        n++;
        fclose(f);
        return n;
}

static int build(const struct alloc_dir_task *t, size_t n, struct alloc_dir_result *res, struct error *err) {
        return alloc_dir_build(adir, t, n, res, err);
}

/* The one-task tree most tests start from (root only). */
static const struct alloc_dir_task web[] = {{.name = "web", .uid = 80001, .gid = 80000}};

static void build_web(void) {
        need_root();
        struct error err = {0};
        cr_assert_eq(build(web, 1, NULL, &err), 0, "%s", err.msg);
}

Test(agent_alloc_dirs, one_user_owns_the_allocation_and_its_task_directories) {
        need_root();
        struct alloc_dir_task t[] = {{.name = "web", .uid = 80001, .gid = 80000}};
        struct alloc_dir_result res;
        struct error err = {0};
        cr_assert_eq(build(t, 1, &res, &err), 0, "%s", err.msg);
        static const char *const the_tasks[] = {".",           "web",        "web/local", "web/tmp",
                                                "web/secrets", "alloc/data", "alloc/tmp"};
        for (size_t i = 0; i < sizeof(the_tasks) / sizeof(the_tasks[0]); i++)
                expect_owned(the_tasks[i], 80001, 80000, 0700);
        /* The collector writes logs by path: no task owns alloc/ or alloc/logs. */
        expect_owned("alloc", 0, 80000, 01770);
        expect_owned("alloc/logs", 0, 80000, 0750);
        char parent[128];
        snprintf(parent, sizeof(parent), "%s/alloc", dir);
        struct stat sb;
        cr_assert_eq(stat(parent, &sb), 0);
        cr_expect_eq(sb.st_mode & 0777, 0711, "the data dir's alloc/ lists no allocation to others");
        cr_expect_eq(res.secrets_mounted, 1);
        cr_expect(res.logs_made, "alloc/logs made now: the log collector need not list it");
        cr_assert_eq(build(t, 1, &res, &err), 0, "%s", err.msg);
        cr_expect(!res.logs_made, "built again (a restarted agent): alloc/logs may hold logs");
}

Test(agent_alloc_dirs, tasks_of_several_users_share_alloc_through_their_group) {
        need_root();
        struct alloc_dir_task t[] = {{.name = "web", .uid = 80001, .gid = 80000},
                                     {.name = "side", .uid = 80002, .gid = 80000}};
        struct error err = {0};
        cr_assert_eq(build(t, 2, NULL, &err), 0, "%s", err.msg);
        static const struct owned want[] = {
            {".", 0, 80000, 0710},
            {"alloc", 0, 80000, 01770},
            {"alloc/data", 0, 80000, 03770},
            {"alloc/tmp", 0, 80000, 03770},
            {"web/local", 80001, 80000, 0700},
            {"side/local", 80002, 80000, 0700},
            {"side/secrets", 80002, 80000, 0700},
        };
        expect_tree(want, sizeof(want) / sizeof(want[0]));
}

Test(agent_alloc_dirs, the_shared_owner_rule) {
        struct alloc_dir_owner o;
        struct alloc_dir_task root_only[] = {{.name = "a"}};
        alloc_dir_shared_owner(root_only, 1, &o);
        cr_expect(o.uid == 0 && o.gid == 0 && o.group == 0 && o.dir_mode == 0700 && o.shared_mode == 0700);
        /* A root task beside users of one group: root's, shared through that group. */
        struct alloc_dir_task mixed[] = {{.name = "a"}, {.name = "b", .uid = 1000, .gid = 1000}};
        alloc_dir_shared_owner(mixed, 2, &o);
        cr_expect(o.uid == 0 && o.gid == 1000 && o.group == 1000 && o.dir_mode == 0710 && o.data_mode == 03770);
        /* No common group: root alone. */
        struct alloc_dir_task apart[] = {{.name = "a", .uid = 1000, .gid = 1000},
                                         {.name = "b", .uid = 1001, .gid = 1001}};
        alloc_dir_shared_owner(apart, 2, &o);
        cr_expect(o.uid == 0 && o.gid == 0 && o.group == 0 && o.dir_mode == 0700 && o.shared_mode == 0700 &&
                  o.data_mode == 0700);
}

Test(agent_alloc_dirs, secrets_is_a_private_one_mib_tmpfs_mounted_once) {
        need_root();
        struct alloc_dir_task t[] = {{.name = "web", .uid = 80001, .gid = 80000}};
        struct alloc_dir_result res;
        struct error err = {0};
        cr_assert_eq(build(t, 1, &res, &err), 0, "%s", err.msg);
        cr_assert(is_tmpfs("web/secrets"));
        cr_expect(!is_tmpfs("web/local") || is_tmpfs("."), "only secrets/ is a tmpfs of its own");
        char p[512];
        struct statfs fs;
        snprintf(p, sizeof(p), "%s/web/secrets", adir);
        cr_assert_eq(statfs(p, &fs), 0);
        cr_expect_eq((uint64_t)fs.f_blocks * fs.f_bsize, 1024 * 1024, "1 MiB as Nomad's");
        cr_expect(fs.f_flags & ST_NOEXEC && fs.f_flags & ST_NOSUID && fs.f_flags & ST_NODEV);
        cr_expect_eq(mounts_at(p), 1);
        /* A restarted agent builds again: the mount (and what is in it) stays, once. */
        char f[600];
        snprintf(f, sizeof(f), "%s/token", p);
        FILE *w = fopen(f, "w");
        cr_assert_not_null(w);
        fputs("s3cr3t", w);
        fclose(w);
        cr_assert_eq(build(t, 1, &res, &err), 0, "%s", err.msg);
        cr_expect_eq(res.secrets_mounted, 0);
        cr_expect_eq(res.secrets_reattached, 1);
        cr_expect_eq(mounts_at(p), 1, "not mounted twice");
        cr_expect_eq(access(f, F_OK), 0, "the secret is still there");
        /* Released: detached, and the directory beneath is empty. */
        cr_expect_eq(alloc_dir_release(adir, &err), 1, "%s", err.msg);
        cr_expect_eq(mounts_at(p), 0);
        cr_expect_neq(access(f, F_OK), 0);
        cr_expect_eq(alloc_dir_release(adir, &err), 0, "nothing left to detach");
}

/* A symlink where a directory belongs (a task, or anyone who could write there,
 * planted it): the build fails and the link's target is neither chowned,
 * chmodded nor mounted on. */
Test(agent_alloc_dirs, a_symlink_planted_in_place_of_a_subdirectory_is_not_followed) {
        build_web();
        const struct alloc_dir_task *t = web;
        struct error err = {0};
        cr_assert_eq(alloc_dir_release(adir, &err), 1);
        char target[128], p[512];
        snprintf(target, sizeof(target), "%s/target", dir);
        cr_assert_eq(mkdir(target, 0755), 0);
        static const char *const subs[] = {"web/secrets", "web/local", "alloc/logs"};
        for (size_t i = 0; i < 3; i++) {
                snprintf(p, sizeof(p), "%s/%s", adir, subs[i]);
                cr_assert_eq(rmdir(p), 0, "%s: %s", p, strerror(errno));
                cr_assert_eq(symlink(target, p), 0);
                err = (struct error){0};
                cr_expect_eq(build(t, 1, NULL, &err), -ENOTDIR, "%s: %s", subs[i], err.msg);
                cr_expect(strstr(err.msg, "not a directory"), "%s", err.msg);
                struct stat sb;
                cr_assert_eq(stat(target, &sb), 0);
                cr_expect(sb.st_uid == 0 && (sb.st_mode & 07777) == 0755, "%s: the target is untouched", subs[i]);
                cr_expect_eq(mounts_at(target), 0, "%s: nothing mounted on the target", subs[i]);
                cr_assert_eq(unlink(p), 0);
                cr_assert_eq(mkdir(p, 0700), 0);
        }
        /* The task directory itself. */
        snprintf(p, sizeof(p), "%s/web", adir);
        char moved[600];
        snprintf(moved, sizeof(moved), "%s/web.old", adir);
        cr_assert_eq(rename(p, moved), 0);
        cr_assert_eq(symlink(target, p), 0);
        cr_expect_eq(build(t, 1, NULL, &err), -ENOTDIR, "%s", err.msg);
        cr_expect_eq(mounts_at(target), 0);
        struct stat sb;
        cr_assert_eq(stat(target, &sb), 0);
        cr_expect(sb.st_uid == 0 && (sb.st_mode & 07777) == 0755);
}

Test(agent_alloc_dirs, bad_task_names_are_refused) {
        struct error err = {0};
        static const char *const bad[] = {"..", ".", "a/b", "alloc", ""};
        for (size_t i = 0; i < 5; i++) {
                struct alloc_dir_task t[] = {{.name = bad[i]}};
                cr_expect_eq(build(t, 1, NULL, &err), -EINVAL, "\"%s\" accepted", bad[i]);
        }
        char p[256];
        snprintf(p, sizeof(p), "%s/alloc/b", dir);
        cr_expect_neq(access(p, F_OK), 0, "nothing made outside the allocation");
}

Test(agent_alloc_dirs, a_written_file_is_the_tasks_and_private) {
        build_web();
        struct error err = {0};
        cr_assert_eq(alloc_dir_write_file(adir, "web", "in/payload.json", "{}", 2, 80001, 80000, &err), 0, "%s",
                     err.msg);
        expect_owned("web/local/in", 80001, 80000, 0700);
        expect_owned("web/local/in/payload.json", 80001, 80000, 0600);
        cr_expect_eq(st_of("web/local/in/payload.json").st_size, 2);
        cr_expect_eq(alloc_dir_write_file(adir, "web", "../x", "", 0, 0, 0, &err), -EINVAL);
        /* A symlink on the way is not followed. */
        char target[128], p[512];
        snprintf(target, sizeof(target), "%s/target", dir);
        cr_assert_eq(mkdir(target, 0755), 0);
        snprintf(p, sizeof(p), "%s/web/local/link", adir);
        cr_assert_eq(symlink(target, p), 0);
        cr_expect_eq(alloc_dir_write_file(adir, "web", "link/f", "x", 1, 80001, 80000, &err), -ENOTDIR, "%s", err.msg);
        snprintf(p, sizeof(p), "%s/f", target);
        cr_expect_neq(access(p, F_OK), 0, "nothing written through the link");
}

/* The GC removes a terminal allocation whose secrets/ is still mounted: detached
 * first, then removed (nftw does not cross mounts and would leave it). */
Test(agent_alloc_dirs, the_gc_detaches_secrets_and_removes_the_directory) {
        build_web();
        struct error err = {0};
        char p[512];
        snprintf(p, sizeof(p), "%s/web/secrets", adir);
        cr_assert_eq(mounts_at(p), 1);
        struct gc_policy pol = {.max_allocs = 0, .disk_usage_threshold = 100, .max_age_ns = 1};
        cr_expect_eq(alloc_gc_run(dir, &pol, INT64_MAX, NULL, NULL, NULL, &err), 1, "%s", err.msg);
        cr_expect_eq(mounts_at(p), 0, "the tmpfs is detached");
        cr_expect_neq(access(adir, F_OK), 0, "the directory is gone");
}

/* An agent that may not mount (not root): secrets/ is a 0700 directory, and the
 * result says so (the agent logs it). A child drops to nobody to try. */
Test(agent_alloc_dirs, without_permission_to_mount_secrets_is_a_private_directory) {
        need_root();
        char data[128];
        snprintf(data, sizeof(data), "%s/alloc", dir);
        cr_assert_eq(chmod(dir, 0711), 0);
        cr_assert_eq(mkdir(data, 0700), 0);
        cr_assert_eq(chown(data, 65534, 65534), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(10);
                struct alloc_dir_task t[] = {{.name = "web", .uid = 65534, .gid = 65534}};
                struct alloc_dir_result res;
                struct error err = {0};
                if (alloc_dir_build(adir, t, 1, &res, &err) < 0)
                        _exit(11);
                _exit(res.secrets_on_disk == 1 && res.secrets_mounted == 0 && strstr(res.note, "not permitted") ? 0
                                                                                                                : 12);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status));
        cr_expect_eq(WEXITSTATUS(status), 0, "child: %d (10 setuid, 11 build, 12 result)", WEXITSTATUS(status));
        cr_expect(!is_tmpfs("web/secrets") || is_tmpfs("web"));
        expect_owned("web/secrets", 65534, 65534, 0700);
}

/* One task's tmpfs goes when it ends; a task that ended is not mounted again
 * (a restarted agent builds the tree for every task). */
Test(agent_alloc_dirs, an_ended_tasks_secrets_are_detached_and_not_mounted_again) {
        need_root();
        struct alloc_dir_task t[] = {{.name = "a", .uid = 80001, .gid = 80000},
                                     {.name = "b", .uid = 80002, .gid = 80000}};
        struct error err = {0};
        cr_assert_eq(build(t, 2, NULL, &err), 0, "%s", err.msg);
        cr_assert(is_tmpfs("a/secrets") && is_tmpfs("b/secrets"));
        cr_expect_eq(alloc_dir_release_task(adir, "a", &err), 1, "%s", err.msg);
        cr_expect(!is_tmpfs("a/secrets") && is_tmpfs("b/secrets"), "only a's");
        cr_expect_eq(alloc_dir_release_task(adir, "a", &err), 0);
        cr_expect_eq(alloc_dir_release_task(adir, "../x", &err), 0, "no such task directory");
        t[0].ended = true;
        struct alloc_dir_result res;
        cr_assert_eq(build(t, 2, &res, &err), 0, "%s", err.msg);
        cr_expect(!is_tmpfs("a/secrets"));
        cr_expect(res.secrets_mounted == 0 && res.secrets_reattached == 1);
        expect_owned("a/secrets", 80001, 80000, 0700);
}

/* The flags of path, or -1 where its file system has none (tmpfs). */
static int fs_flags(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
        int flags = 0;
        int r = ioctl(fd, FS_IOC_GETFLAGS, &flags);
        close(fd);
        return r < 0 ? -1 : flags;
}

Test(agent_alloc_dirs, the_allocations_root_is_marked_a_top_of_directory_trees) {
        char root[300];
        snprintf(root, sizeof(root), "%s/alloc", dir);
        struct error err = {0};
        int r = alloc_dir_root_prepare(root, &err);
        cr_assert_geq(r, 0, "%s", err.msg);
        struct stat sb;
        cr_assert_eq(stat(root, &sb), 0);
        cr_expect_eq(sb.st_mode & 07777, 0711, "mode %o", sb.st_mode & 07777);
        if (r == 0) {
                cr_expect_lt(fs_flags(root) & FS_TOPDIR_FL, 1, "said unsupported, yet the flag is there");
                cr_skip_test("%s: the file system has no FS_TOPDIR_FL (not ext2/3/4)", dir);
        }
        cr_expect_neq(fs_flags(root) & FS_TOPDIR_FL, 0, "FS_TOPDIR_FL set on %s", root);
        cr_expect_eq(alloc_dir_root_prepare(root, &err), 1, "again: already marked: %s", err.msg);
        /* An allocation's tree is made under it as before. */
        build_web();
        expect_owned("web/local", 80001, 80000, 0700);
}
