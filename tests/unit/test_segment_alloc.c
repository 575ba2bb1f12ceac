/* segment_alloc: libraft's open segments are allocated as written blocks, so that
 * its RWF_NOWAIT direct writes (which rewrite the segment's last partly filled
 * block and go on into new ones) are not refused with EAGAIN. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "controlplane/raft/segment_alloc.h"

#define SEG (1 << 20)

static char dir[] = "/tmp/drover-segalloc-XXXXXX";

static void setup(void) {
        cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        cr_expect_eq(system(cmd), 0);
}

/* A file opened as libraft opens its open segments (O_DSYNC), allocated through
 * posix_fallocate (libraft's call; here bound to segment_alloc.c's definition). */
static int allocate(const char *name) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_DSYNC | O_CLOEXEC, 0600);
        cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
        cr_assert_eq(posix_fallocate(fd, 0, SEG), 0);
        return fd;
}

/* 1: some extent of fd is unwritten; 0: none; -1: the file system cannot say. */
static int has_unwritten(int fd) {
        struct {
                struct fiemap fm;
                struct fiemap_extent ext[32];
        } q;
        memset(&q, 0, sizeof(q));
        q.fm.fm_length = FIEMAP_MAX_OFFSET;
        q.fm.fm_flags = FIEMAP_FLAG_SYNC;
        q.fm.fm_extent_count = 32;
        if (ioctl(fd, FS_IOC_FIEMAP, &q.fm) < 0)
                return -1;
        for (unsigned i = 0; i < q.fm.fm_mapped_extents; i++)
                if (q.fm.fm_extents[i].fe_flags & FIEMAP_EXTENT_UNWRITTEN)
                        return 1;
        return 0;
}

/* libraft's pattern: a block written, then a write from that block on into the
 * next ones, both direct and RWF_NOWAIT. 0, -EAGAIN (refused), or 1 when the file
 * system takes no direct I/O (nothing to check). */
static int nowait_spanning_write(const char *name) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC);
        if (fd < 0 && errno == EINVAL)
                return 1;
        cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
        void *buf = NULL;
        cr_assert_eq(posix_memalign(&buf, 4096, 3 * 4096), 0);
        memset(buf, 'x', 3 * 4096);
        struct iovec one = {buf, 4096}, three = {buf, 3 * 4096};
        int r = 0;
        if (pwritev2(fd, &one, 1, 0, RWF_NOWAIT) < 0 || pwritev2(fd, &three, 1, 0, RWF_NOWAIT) < 0)
                r = -errno;
        free(buf);
        close(fd);
        return r;
}

Test(segment_alloc, an_open_segment_is_allocated_as_written_blocks, .init = setup, .fini = teardown) {
        segment_alloc_enable();
        unsigned long before = segment_alloc_filled();
        int fd = allocate("open-7");
        cr_expect_eq(segment_alloc_filled(), before + 1, "the segment was zero-filled");
        struct stat st;
        cr_assert_eq(fstat(fd, &st), 0);
        cr_expect_eq(st.st_size, SEG, "posix_fallocate's size");
        cr_expect_neq(has_unwritten(fd), 1, "no unwritten extent is left");
        close(fd);
        int r = nowait_spanning_write("open-7");
        cr_expect(r == 0 || r == 1, "a direct RWF_NOWAIT write over the written block and beyond: %s",
                  strerror(-r));
}

Test(segment_alloc, another_file_gets_libcs_allocation, .init = setup, .fini = teardown) {
        segment_alloc_enable();
        unsigned long before = segment_alloc_filled();
        int fd = allocate("open-7.tmp");
        cr_expect_eq(segment_alloc_filled(), before, "not a segment: not zero-filled");
        int unwritten = has_unwritten(fd);
        close(fd);
        if (unwritten != 1)
                cr_skip_test("this file system leaves no unwritten extents (%d): nothing to compare", unwritten);
        /* What every open segment looked like before: libraft's write pattern refused. */
        int r = nowait_spanning_write("open-7.tmp");
        cr_expect(r == -EAGAIN || r == 1, "a write spanning written and unwritten blocks: %d", r);
}

Test(segment_alloc, only_files_named_open_n_are_segments, .init = setup, .fini = teardown) {
        const char *yes[] = {"open-1", "open-42"}, *no[] = {"open-", "open-1.tmp", "open-x", "metadata1", "0000-0001"};
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]) + sizeof(no) / sizeof(no[0]); i++) {
                bool want = i < 2;
                const char *name = want ? yes[i] : no[i - 2];
                char path[256];
                snprintf(path, sizeof(path), "%s/%s", dir, name);
                int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                cr_assert_geq(fd, 0);
                cr_expect_eq(segment_alloc_is_segment(fd), want, "%s", name);
                close(fd);
        }
}
