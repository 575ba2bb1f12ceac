/* test_isolation_policy.c - what a task may do, computed before it starts:
 * the seccomp profile, the capability set, the dynamic uid pool, the mount
 * plan, namespaces and Landlock rules. Nothing here needs root. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "isolation/caps.h"
#include "isolation/landlock.h"
#include "isolation/mounts.h"
#include "isolation/namespaces.h"
#include "isolation/seccomp.h"
#include "isolation/user.h"

Test(isolation_seccomp, default_profile_denies_the_dangerous_syscalls) {
        struct seccomp_profile *p = NULL;
        struct error err = {0};
        cr_assert_eq(seccomp_profile_build(NULL, NULL, &p, &err), 0, "%s", err.msg);
        static const char *const must[] = {"kexec_load", "init_module", "finit_module", "delete_module", "mount",
                                           "umount2", "pivot_root", "unshare", "setns", "bpf", "perf_event_open",
                                           "ptrace", "keyctl", "add_key", "request_key", "reboot", "swapon",
                                           "swapoff", "acct", "open_by_handle_at"};
        for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
                cr_expect(seccomp_profile_denies(p, must[i]), "%s must be denied", must[i]);
        cr_expect_not(seccomp_profile_denies(p, "read"));
        cr_expect_not(seccomp_profile_denies(p, "execve"));
        const struct sock_fprog *prog = seccomp_profile_prog(p);
        cr_expect_gt(prog->len, 20, "a compiled BPF program (%u instructions)", prog->len);
        seccomp_profile_free(p);
}

Test(isolation_seccomp, allow_and_deny_lists_adjust_the_profile) {
        const char *const allow[] = {"ptrace", NULL};
        const char *const deny[] = {"chroot", NULL};
        struct seccomp_profile *p = NULL;
        struct error err = {0};
        cr_assert_eq(seccomp_profile_build(allow, deny, &p, &err), 0, "%s", err.msg);
        cr_expect_not(seccomp_profile_denies(p, "ptrace"));
        cr_expect(seccomp_profile_denies(p, "chroot"));
        cr_expect(seccomp_profile_denies(p, "bpf"));
        seccomp_profile_free(p);
}

Test(isolation_seccomp, unknown_syscall_names_are_refused) {
        const char *const deny[] = {"not_a_syscall", NULL};
        struct seccomp_profile *p = NULL;
        struct error err = {0};
        cr_expect_eq(seccomp_profile_build(NULL, deny, &p, &err), -EINVAL);
        cr_expect(strstr(err.msg, "not_a_syscall"), "%s", err.msg);
        cr_expect_null(p);
}

Test(isolation_caps, nomad_exec_default_set) {
        char buf[512];
        cr_assert_gt(caps_format(caps_default_mask(), buf, sizeof(buf)), 0);
        cr_expect_str_eq(buf, "cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,"
                              "cap_setpcap,cap_net_bind_service,cap_sys_chroot,cap_mknod,cap_audit_write,cap_setfcap");
        cr_expect_eq(caps_default_mask(), 0xa80405fbULL); /* what /proc/self/status shows as CapEff in the VM */
}

Test(isolation_caps, add_and_drop_by_name) {
        const char *const add[] = {"NET_RAW", "cap_sys_time", NULL};
        const char *const drop[] = {"CAP_MKNOD", "kill", NULL};
        uint64_t m;
        struct error err = {0};
        cr_assert_eq(caps_compute(add, drop, &m, &err), 0, "%s", err.msg);
        cr_expect(m & (1ULL << 13)); /* net_raw */
        cr_expect(m & (1ULL << 25)); /* sys_time */
        cr_expect_not(m & (1ULL << 27)); /* mknod */
        cr_expect_not(m & (1ULL << 5));  /* kill */
        const char *const all[] = {"all", NULL};
        const char *const one[] = {"chown", NULL};
        cr_assert_eq(caps_compute(one, all, &m, &err), 0);
        cr_expect_eq(m, 1ULL);
        const char *const bad[] = {"cap_fly", NULL};
        cr_expect_eq(caps_compute(bad, NULL, &m, &err), -EINVAL);
        cr_expect(strstr(err.msg, "cap_add") && strstr(err.msg, "fly"), "%s", err.msg);
        cr_expect_geq(caps_last_cap(), 37);
}

Test(isolation_user, pool_hands_out_unique_ids_and_takes_them_back) {
        struct uid_pool *p = NULL;
        struct error err = {0};
        cr_assert_eq(uid_pool_create(80000, 80002, &p, &err), 0);
        uint32_t a, b, c, d;
        cr_assert_eq(uid_pool_take(p, &a), 0);
        cr_assert_eq(uid_pool_take(p, &b), 0);
        cr_assert_eq(uid_pool_mark(p, 80002), 0); /* a recovered task holds it */
        cr_expect_neq(a, b);
        cr_expect_eq(uid_pool_take(p, &c), -EBUSY);
        cr_expect_eq(uid_pool_in_use(p), 3);
        uid_pool_release(p, a);
        cr_assert_eq(uid_pool_take(p, &d), 0);
        cr_expect_eq(d, a);
        cr_expect_eq(uid_pool_mark(p, 90000), -ERANGE);
        uid_pool_free(p);
}

Test(isolation_user, range_and_lookup) {
        uint32_t lo, hi;
        struct error err = {0};
        cr_expect_eq(uid_range_parse("80000-89999", &lo, &hi, &err), 0);
        cr_expect_eq(lo, 80000);
        cr_expect_eq(hi, 89999);
        cr_expect_eq(uid_range_parse("9-1", &lo, &hi, &err), -EINVAL);
        cr_expect_eq(uid_range_parse("0-10", &lo, &hi, &err), -EINVAL);
        cr_expect_eq(uid_range_parse("abc", &lo, &hi, &err), -EINVAL);
        uid_t u;
        gid_t g;
        cr_expect_eq(user_lookup("root", &u, &g, &err), 0);
        cr_expect_eq(u, 0);
        cr_expect_eq(user_lookup("no-such-user-drover", &u, &g, &err), -ENOENT);
        cr_expect(strstr(err.msg, "no-such-user-drover"), "%s", err.msg);
        cr_expect_eq(user_lookup("4242", &u, &g, &err), 0);
        cr_expect_eq(u, 4242);
        cr_expect_eq(user_of_pid(getpid(), &u, &err), 0);
        cr_expect_eq(u, getuid());
}

Test(isolation_mounts, plan_binds_system_dirs_read_only_and_creates_mount_points) {
        char root[] = "/tmp/drover-root-XXXXXX";
        cr_assert_not_null(mkdtemp(root));
        struct mount_bind b[] = {{.source = "/tmp", .target = "/alloc", .read_only = false}};
        struct mount_plan *p = NULL;
        struct error err = {0};
        cr_assert_eq(mount_plan_create(root, b, 1, &p, &err), 0, "%s", err.msg);
        int n = mount_plan_count(p);
        bool usr_ro = false, proc = false, tmp = false, alloc_rw = false, devnull = false;
        for (int i = 0; i < n; i++) {
                char d[8192];
                mount_plan_describe(p, i, d, sizeof(d));
                usr_ro |= strcmp(d, "bind /usr /usr ro") == 0;
                proc |= strncmp(d, "proc /proc", 10) == 0;
                tmp |= strncmp(d, "tmpfs /tmp", 10) == 0;
                alloc_rw |= strcmp(d, "bind /alloc /tmp") == 0;
                devnull |= strcmp(d, "dev /dev/null /dev/null") == 0;
        }
        cr_expect(usr_ro && proc && tmp && alloc_rw && devnull);
        char path[256];
        struct stat st;
        static const char *const dirs[] = {"usr", "proc", "tmp", "alloc", "dev", "etc"};
        for (size_t i = 0; i < 6; i++) {
                snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
                cr_expect_eq(stat(path, &st), 0, "mount point %s", path);
                rmdir(path);
        }
        static const char *const more[] = {"bin", "lib", "lib64", "sbin"};
        for (size_t i = 0; i < 4; i++) {
                snprintf(path, sizeof(path), "%s/%s", root, more[i]);
                rmdir(path);
        }
        mount_plan_free(p);
        cr_expect_eq(rmdir(root), 0, "only mount points were created");
}

Test(isolation_mounts, bad_targets_and_roots_are_refused) {
        struct mount_plan *p = NULL;
        struct error err = {0};
        cr_expect_eq(mount_plan_create("relative", NULL, 0, &p, &err), -EINVAL);
        char root[] = "/tmp/drover-root-XXXXXX";
        cr_assert_not_null(mkdtemp(root));
        struct mount_bind b[] = {{.source = "/tmp", .target = "/../etc"}};
        cr_expect_eq(mount_plan_create(root, b, 1, &p, &err), -EINVAL);
        struct mount_bind m[] = {{.source = "/no/such/source", .target = "/x"}};
        cr_expect_eq(mount_plan_create(root, m, 1, &p, &err), -ENOENT);
        cr_expect_null(p);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -r %s", root);
        cr_expect_eq(system(cmd), 0);
}

Test(isolation_namespaces, flags) {
        struct ns_options o = {0};
        uint64_t f = namespaces_clone_flags(&o);
        char buf[64];
        namespaces_format(f, buf, sizeof(buf));
        cr_expect_str_eq(buf, "pid,mnt,uts,ipc");
        o.net = true;
        namespaces_format(namespaces_clone_flags(&o), buf, sizeof(buf));
        cr_expect_str_eq(buf, "pid,mnt,uts,ipc,net");
        o.user = true;
        namespaces_format(namespaces_clone_flags(&o), buf, sizeof(buf));
        cr_expect_str_eq(buf, "pid,mnt,uts,ipc,net,user");
        o = (struct ns_options){0};
        cr_expect_eq(namespaces_clone_flags(&o) & CLONE_NEWUSER, 0, "no user namespace unless asked");
        cr_expect_eq(namespaces_check(f, NULL), 0);
}

Test(isolation_landlock, unveil_rules_parse) {
        uint64_t a;
        const char *path;
        struct error err = {0};
        cr_expect_eq(landlock_rule_parse("r:/etc/ssl", &a, &path, &err), 0);
        cr_expect_str_eq(path, "/etc/ssl");
        uint64_t r = a;
        cr_expect_eq(landlock_rule_parse("rwxc:/data", &a, &path, &err), 0);
        cr_expect((a & r) == r && a != r);
        cr_expect_eq(landlock_rule_parse("/etc", &a, &path, &err), -EINVAL);
        cr_expect_eq(landlock_rule_parse("q:/etc", &a, &path, &err), -EINVAL);
        cr_expect(strstr(err.msg, "'q'"), "%s", err.msg);
        cr_expect_eq(landlock_rule_parse("r:relative", &a, &path, &err), -EINVAL);
        if (landlock_abi() < 0)
                cr_skip_test("no Landlock in this kernel (%s)", strerror(-landlock_abi()));
        const char *const rules[] = {"r:/etc", "rwc:/tmp", NULL};
        struct landlock_ruleset *rs = NULL;
        cr_assert_eq(landlock_ruleset_create(rules, &rs, &err), 0, "%s", err.msg);
        cr_expect_eq(landlock_ruleset_count(rs), 2);
        landlock_ruleset_free(rs);
}
