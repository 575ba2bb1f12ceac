/* tmpdir.h - a test's scratch directory under /tmp and the files it writes there,
 * removed with all it holds by the suite's fini (which Criterion runs after a failed
 * assertion too). static inline: each test file gets its own copy.
 *
 *   static char dir[TMPDIR_SIZE];
 *   static void setup(void) { tmpdir_create(dir, "mine"); }
 *   static void teardown(void) { tmpdir_remove(dir); }
 *   ... tmpdir_put(dir, "a.hcl", "x = 1\n") ...
 */
#pragma once

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define TMPDIR_SIZE 64
#define TMPDIR_PATH_MAX 512

/* dir (TMPDIR_SIZE bytes) := a new "/tmp/drover-<tag>-XXXXXX", mode 0700. */
static inline void tmpdir_create(char *dir, const char *tag) {
        snprintf(dir, TMPDIR_SIZE, "/tmp/drover-%s-XXXXXX", tag);
        cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
}

static char tmpdir_failed_[TMPDIR_PATH_MAX]; /* the first entry that could not be removed */

static inline int tmpdir_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f) {
        (void)sb, (void)flag, (void)f;
        if (remove(p) < 0 && !tmpdir_failed_[0]) /* the walk goes on past it */
                snprintf(tmpdir_failed_, sizeof(tmpdir_failed_), "%s: %s", p, strerror(errno));
        return 0;
}

/* dir and all it holds, expected to go (a failed expectation names what stayed); a
 * file system mounted below it is neither entered nor removed (FTW_MOUNT), links are
 * not followed. Afterwards dir is "": a second call, or one on a dir never created,
 * does nothing. */
static inline void tmpdir_remove(char *dir) {
        if (!dir[0])
                return;
        tmpdir_failed_[0] = '\0';
        int r = nftw(dir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        cr_expect(r == 0 && !tmpdir_failed_[0], "%s left behind: %s", dir, r ? strerror(errno) : tmpdir_failed_);
        dir[0] = '\0';
}

/* dir/rel into ret (TMPDIR_PATH_MAX bytes) and its parent directories created
 * (mode 0755) as `mkdir -p` would. */
static inline void tmpdir_path(const char *dir, const char *rel, char *ret) {
        int n = snprintf(ret, TMPDIR_PATH_MAX, "%s/%s", dir, rel);
        cr_assert(n > 0 && n < TMPDIR_PATH_MAX, "path too long: %s/%s", dir, rel);
        for (char *s = ret + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
                *s = '\0';
                int r = mkdir(ret, 0755);
                int e = errno;
                *s = '/';
                cr_assert(r == 0 || e == EEXIST, "mkdir under %s: %s", ret, strerror(e));
        }
}

/* dir/rel opened for writing (truncated), its parents created, its path in ret_path
 * (TMPDIR_PATH_MAX bytes); the caller closes it. */
static inline FILE *tmpdir_open_at(const char *dir, const char *rel, char *ret_path) {
        tmpdir_path(dir, rel, ret_path);
        FILE *f = fopen(ret_path, "we");
        cr_assert_not_null(f, "open %s: %s", ret_path, strerror(errno));
        return f;
}

static inline FILE *tmpdir_open(const char *dir, const char *rel) {
        char p[TMPDIR_PATH_MAX];
        return tmpdir_open_at(dir, rel, p);
}

/* dir/rel holding text; its path, valid until eight more calls (a ring of buffers,
 * so a test can hold a few paths at once). */
static inline const char *tmpdir_put(const char *dir, const char *rel, const char *text) {
        static char paths[8][TMPDIR_PATH_MAX];
        static unsigned next;
        char *p = paths[next++ % 8];
        FILE *f = tmpdir_open_at(dir, rel, p);
        cr_assert_geq(fputs(text, f), 0);
        cr_assert_eq(fclose(f), 0);
        return p;
}
