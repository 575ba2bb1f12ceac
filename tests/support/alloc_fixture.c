/* alloc_fixture.c - helpers of the alloc runner suites (alloc_fixture.h). */
#include "tests/support/alloc_fixture.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/model.h"
#include "nodeagent/alloc/alloc_dir.h"
#include "nodeagent/alloc/alloc_runner.h"
#include "nodeagent/drivers/driver.h"
#include "nodeagent/logs/logmon.h"

void alloc_fixture_setup(struct alloc_fixture *f, const char *name) {
        struct driver_settings ds = *driver_settings();
        ds.raw_exec_enabled = true; /* opt-in, as drover dev does */
        driver_configure(&ds);
        snprintf(f->dir, sizeof(f->dir), "/tmp/drover-%s-XXXXXX", name);
        cr_assert_not_null(mkdtemp(f->dir));
        struct error err = {0};
        f->lm = logmon_create(f->dir, &err);
        cr_assert_not_null(f->lm, "%s", err.msg);
        uv_loop_init(&f->loop);
        log_set_level(LOG_LVL_WARN);
}

void alloc_fixture_teardown(struct alloc_fixture *f) {
        uv_run(&f->loop, UV_RUN_DEFAULT); /* let closes finish */
        uv_loop_close(&f->loop);
        logmon_destroy(f->lm);
        f->lm = NULL;
        alloc_fixture_remove(f->dir);
}

struct alloc *alloc_fixture_alloc(const char *id, const char *name, const char *type, const char *restart,
                                  const char *tasks) {
        char buf[4096];
        int n = snprintf(buf, sizeof(buf),
                         "{\"ID\":\"%s\",\"Name\":\"%s\",\"JobID\":\"web\",\"TaskGroup\":\"api\",\"DesiredStatus\":\"run\","
                         "\"ClientStatus\":\"pending\",\"Job\":{\"ID\":\"web\",\"Name\":\"web\",\"Type\":\"%s\","
                         "\"TaskGroups\":[{\"Name\":\"api\",\"Count\":1,\"RestartPolicy\":%s,\"Tasks\":[%s]}]}}",
                         id, name, type, restart, tasks);
        cr_assert_lt(n, (int)sizeof(buf), "test JSON too long");
        json_error_t je;
        json_t *o = json_loads(buf, 0, &je);
        cr_assert_not_null(o, "bad test JSON: %s", je.text);
        struct alloc *a = NULL;
        struct error err = {0};
        cr_assert_eq(alloc_from_json(o, &a, &err), 0, "%s", err.msg);
        json_decref(o);
        return a;
}

void alloc_fixture_run_until_finished(struct alloc_fixture *f, struct alloc_runner *ar, int ms) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (!alloc_runner_finished(ar)) {
                uv_run(&f->loop, UV_RUN_ONCE);
                clock_gettime(CLOCK_MONOTONIC, &t);
                if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
                        break;
        }
}

struct alloc *alloc_fixture_as_reported(struct alloc *a, struct alloc_runner *ar) {
        json_t *o = alloc_to_json(a);
        json_t *u = alloc_runner_update_json(ar);
        json_object_set(o, "TaskStates", json_object_get(u, "TaskStates"));
        json_object_set(o, "ClientStatus", json_object_get(u, "ClientStatus"));
        json_decref(u);
        struct alloc *b = NULL;
        struct error err = {0};
        cr_assert_eq(alloc_from_json(o, &b, &err), 0, "%s", err.msg);
        json_decref(o);
        return b;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

void alloc_fixture_remove(const char *data_dir) {
        char root[512], path[1024];
        snprintf(root, sizeof(root), "%s/alloc", data_dir);
        DIR *d = opendir(root);
        struct dirent *e;
        while (d && (e = readdir(d)))
                if (e->d_name[0] != '.') {
                        snprintf(path, sizeof(path), "%s/%s", root, e->d_name);
                        alloc_dir_release(path, NULL);
                }
        if (d)
                closedir(d);
        nftw(data_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
