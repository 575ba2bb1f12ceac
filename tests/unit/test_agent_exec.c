/* test_agent_exec.c - the exec driver's config checks and fingerprint, and
 * raw_exec's opt-in. Starting isolated tasks needs root and cgroup v2 with
 * controllers: the VM tier does that through the real agent. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "isolation/cgroup.h"
#include "nodeagent/drivers/driver.h"

static int validate(const char *json, struct error *err) {
        json_t *c = json_loads(json, 0, NULL);
        cr_assert_not_null(c, "bad test json %s", json);
        int r = exec_driver.validate(c, err);
        json_decref(c);
        return r;
}

Test(agent_exec, config_is_checked_field_by_field) {
        struct error err = {0};
        cr_expect_eq(validate("{\"command\":\"/bin/true\",\"args\":[\"x\"],\"cap_add\":[\"net_raw\"],"
                              "\"cap_drop\":[\"mknod\"],\"seccomp_allow\":[\"ptrace\"],\"seccomp_deny\":[\"chroot\"],"
                              "\"unveil\":[\"r:/etc/ssl\"],\"network_mode\":\"none\",\"pids_limit\":64,"
                              "\"cpu_hard_limit\":true,\"io_weight\":100,\"user_namespace\":true}",
                              &err),
                     0, "%s", err.msg);
        static const struct {
                const char *json, *want;
        } bad[] = {
            {"{}", "config.command is required"},
            {"{\"command\":\"x\",\"args\":\"a\"}", "config.args must be a list"},
            {"{\"command\":\"x\",\"cap_add\":[\"fly\"]}", "unknown capability"},
            {"{\"command\":\"x\",\"seccomp_deny\":[\"nope\"]}", "unknown syscall \"nope\""},
            {"{\"command\":\"x\",\"unveil\":[\"/etc\"]}", "unveil[0]"},
            {"{\"command\":\"x\",\"network_mode\":\"bridge\"}", "network_mode"},
            {"{\"command\":\"x\",\"pids_limit\":-1}", "pids_limit"},
            {"{\"command\":\"x\",\"cpu_hard_limit\":\"yes\"}", "cpu_hard_limit"},
            {"{\"command\":\"x\",\"user_namespace\":1}", "config.user_namespace must be true or false"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                error_clear(&err);
                cr_expect_eq(validate(bad[i].json, &err), -EINVAL, "%s accepted", bad[i].json);
                cr_expect(strstr(err.msg, bad[i].want), "%s: got \"%s\", want \"%s\"", bad[i].json, err.msg,
                          bad[i].want);
        }
}

Test(agent_exec, fingerprint_says_why_exec_is_undetected) {
        struct driver_health h = {0};
        exec_driver.fingerprint(&h);
        const char *const ctls[] = {"cpu", "memory", "pids", NULL};
        struct error err = {0};
        bool usable = cgroup_check(CGROUP_DEFAULT_MOUNT, ctls, &err) == 0 && geteuid() == 0;
        cr_expect_eq(h.detected, usable, "%s", h.description);
        if (!usable) {
                cr_expect_not(h.healthy);
                cr_expect(strncmp(h.description, "exec: ", 6) == 0 && strlen(h.description) > 12, "reason: %s",
                          h.description);
        }
}

Test(agent_exec, raw_exec_is_opt_in) {
        struct driver_settings saved = *driver_settings(), s = saved;
        s.raw_exec_enabled = false;
        driver_configure(&s);
        struct driver_health h = {0};
        raw_exec_driver.fingerprint(&h);
        cr_expect_not(h.detected);
        cr_expect(strstr(h.description, "-raw-exec"), "%s", h.description);
        json_t *c = json_pack("{s:s}", "command", "/bin/true");
        struct driver_spec spec = {.task_name = "t", .config = c, .task_dir = "/tmp", .stdout_path = "/dev/null",
                                   .stderr_path = "/dev/null"};
        struct driver_handle hd;
        int fd;
        struct error err = {0};
        cr_expect_eq(raw_exec_driver.start(&spec, &hd, &fd, &err), -EPERM);
        cr_expect(strstr(err.msg, "disabled"), "%s", err.msg);
        json_decref(c);
        s.raw_exec_enabled = true;
        driver_configure(&s);
        memset(&h, 0, sizeof(h));
        raw_exec_driver.fingerprint(&h);
        cr_expect(h.detected && h.healthy);
        driver_configure(&saved);
}
