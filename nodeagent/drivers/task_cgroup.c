/* task_cgroup.c - the cgroup v2 of one task (see task_cgroup.h). */
#include "nodeagent/drivers/task_cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/macros.h"
#include "isolation/cgroup.h"
#include "nodeagent/drivers/driver.h"

const char *const task_cgroup_controllers[] = {"cpu", "memory", "pids", NULL};

bool task_cgroup_usable(void) {
        const struct driver_settings *s = driver_settings();
        return cgroup_check(s->cgroup_mount, NULL, NULL) == 0;
}

int task_cgroup_create(const struct driver_spec *spec, const struct cgroup_limits *limits, struct cgroup **ret,
                       struct error *err) {
        const struct driver_settings *s = driver_settings();
        /* Controllers the limits need; cpuset and io only when asked for. */
        const char *ctls[8];
        size_t n = 0;
        if (limits) {
                for (size_t i = 0; task_cgroup_controllers[i]; i++)
                        ctls[n++] = task_cgroup_controllers[i];
                if (limits->cpuset_cpus[0])
                        ctls[n++] = "cpuset";
                if (limits->io_weight)
                        ctls[n++] = "io";
        }
        ctls[n] = NULL;
        int r = cgroup_prepare_parent(s->cgroup_mount, s->cgroup_parent, ctls, err);
        if (r < 0)
                return r;
        char name[200];
        if (spec->alloc_id && *spec->alloc_id)
                snprintf(name, sizeof(name), "%s.%s.scope", spec->alloc_id, spec->task_name);
        else {
                char id[40];
                id_generate(id);
                snprintf(name, sizeof(name), "%s.%s.scope", id, spec->task_name);
        }
        for (char *p = name; *p; p++)
                if (*p == '/')
                        *p = '_';
        struct cgroup_limits none = {0};
        r = cgroup_create(s->cgroup_parent, name, limits ? limits : &none, ret, err);
        if (r == -EEXIST) {
                /* A leftover of an earlier run of this task: empty it and try once more. */
                char path[600];
                snprintf(path, sizeof(path), "%s/%s", s->cgroup_parent, name);
                struct cgroup *old = NULL;
                if (cgroup_open(path, &old, NULL) == 0) {
                        cgroup_remove(old, 2000, NULL);
                        cgroup_free(old);
                }
                error_clear(err);
                r = cgroup_create(s->cgroup_parent, name, limits ? limits : &none, ret, err);
        }
        return r;
}

int task_cgroup_kill(const struct driver_handle *h) {
        if (!h->cgroup[0])
                return -ENOENT;
        struct cgroup *cg = NULL;
        int r = cgroup_open(h->cgroup, &cg, NULL);
        if (r < 0)
                return r;
        r = cgroup_kill(cg, NULL);
        cgroup_free(cg);
        return r;
}

void task_cgroup_finish(const struct driver_handle *h, struct driver_exit *ex) {
        if (!h->cgroup[0])
                return;
        struct cgroup *cg = NULL;
        struct error err = {0};
        if (cgroup_open(h->cgroup, &cg, &err) < 0) {
                log_debug("task cgroup: %s", err.msg);
                return;
        }
        uint64_t ooms = 0;
        if (cgroup_oom_kills(cg, &ooms, &err) == 0 && ooms > 0)
                ex->oom_killed = true;
        if (cgroup_remove(cg, 5000, &err) < 0)
                log_warn("task cgroup: %s", err.msg);
        cgroup_free(cg);
}

void task_cgroup_remove_path(const char *path) {
        const struct driver_settings *s = driver_settings();
        size_t pl = strlen(s->cgroup_parent);
        if (!path[0] || strncmp(path, s->cgroup_parent, pl) != 0 || path[pl] != '/' || strstr(path + pl, "/.."))
                return;
        struct cgroup *cg = NULL;
        struct error err = {0};
        if (cgroup_open(path, &cg, NULL) < 0)
                return;
        if (cgroup_remove(cg, 2000, &err) < 0)
                log_warn("task cgroup: %s", err.msg);
        cgroup_free(cg);
}

void task_cgroup_recover(struct driver_handle *h) {
        const struct driver_settings *s = driver_settings();
        char path[600];
        h->cgroup[0] = '\0';
        if (cgroup_of_pid(h->pid, s->cgroup_mount, path, sizeof(path), NULL) < 0)
                return;
        size_t pl = strlen(s->cgroup_parent);
        size_t len = strlen(path);
        if (strncmp(path, s->cgroup_parent, pl) == 0 && path[pl] == '/' && len < sizeof(h->cgroup))
                memcpy(h->cgroup, path, len + 1);
}
