/* test_agent_util.c - the agent's file-system helpers (mkdir_p). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nodeagent/util.h"

static char dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        return remove(p);
}

static void setup(void) {
        snprintf(dir, sizeof(dir), "/tmp/drover-util-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(agent_util, .init = setup, .fini = teardown);

static bool is_dir(const char *path, mode_t *ret_mode) {
        struct stat sb;
        if (stat(path, &sb) < 0 || !S_ISDIR(sb.st_mode))
                return false;
        if (ret_mode)
                *ret_mode = sb.st_mode & 07777;
        return true;
}

Test(agent_util, mkdir_p_creates_every_missing_component) {
        char path[256];
        snprintf(path, sizeof(path), "%s/a/b//c/d/", dir);
        cr_assert_eq(mkdir_p(path, 0700), 0);
        const char *want[] = {"a", "a/b", "a/b/c", "a/b/c/d"};
        for (size_t i = 0; i < 4; i++) {
                char p[256];
                mode_t mode = 0777;
                snprintf(p, sizeof(p), "%s/%s", dir, want[i]);
                cr_expect(is_dir(p, &mode), "%s is a directory", p);
                cr_expect_eq(mode & 0077, 0, "%s made with the mode asked for (umask aside)", p);
        }
        cr_expect_eq(mkdir_p(path, 0700), 0, "a directory that exists is fine");
        snprintf(path, sizeof(path), "%s/a/b/e", dir);
        cr_expect_eq(mkdir_p(path, 0755), 0, "one missing under an existing parent");
        cr_expect(is_dir(path, NULL));
}

Test(agent_util, mkdir_p_reports_a_file_in_the_way_and_long_paths) {
        char path[256];
        snprintf(path, sizeof(path), "%s/file", dir);
        int fd = open(path, O_WRONLY | O_CREAT, 0644);
        cr_assert_geq(fd, 0);
        close(fd);
        snprintf(path, sizeof(path), "%s/file/x/y", dir);
        cr_expect_eq(mkdir_p(path, 0755), -ENOTDIR);
        char *lng = malloc(5000);
        memset(lng, 'a', 4999);
        lng[0] = '/';
        lng[4999] = '\0';
        cr_expect_eq(mkdir_p(lng, 0755), -ENAMETOOLONG);
        free(lng);
}
