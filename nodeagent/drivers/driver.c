/* driver.c - the registry of task drivers. */
#include "nodeagent/drivers/driver.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>

#include "common/macros.h"

#include "isolation/cgroup.h"
#include "isolation/user.h"

static const struct driver_ops *const drivers[] = {
    &raw_exec_driver,
    &exec_driver,
};

static struct driver_settings settings = {
    .raw_exec_enabled = false,
    .cgroup_mount = CGROUP_DEFAULT_MOUNT,
    .cgroup_parent = CGROUP_DEFAULT_PARENT,
    .uid_min = UID_POOL_DEFAULT_MIN,
    .uid_max = UID_POOL_DEFAULT_MAX,
};

void driver_configure(const struct driver_settings *s) {
        settings = *s;
}

const struct driver_settings *driver_settings(void) {
        return &settings;
}

const struct driver_ops *driver_find(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
                if (strcmp(drivers[i]->name, name) == 0)
                        return drivers[i];
        return NULL;
}

const struct driver_ops *driver_at(size_t i) {
        return i < ARRAY_SIZE(drivers) ? drivers[i] : NULL;
}

int signal_parse(const char *name) {
        static const struct {
                const char *name;
                int sig;
        } sigs[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
                    {"STOP", SIGSTOP}, {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH}};
        if (!name || !*name)
                return -EINVAL;
        if (strncasecmp(name, "SIG", 3) == 0)
                name += 3;
        for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
                if (strcasecmp(name, sigs[i].name) == 0)
                        return sigs[i].sig;
        return -EINVAL;
}
