/* alloc_fixture.c - helpers of the alloc runner suites (alloc_fixture.h). */
#include "tests/support/alloc_fixture.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/model.h"
#include "nodeagent/alloc/alloc_dir.h"
#include "nodeagent/alloc/alloc_runner.h"

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
