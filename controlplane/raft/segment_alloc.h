/* segment_alloc.h - libraft's open segments are allocated as written blocks.
 *
 * libraft 0.15 (Debian 12) prepares each open segment (8 MiB, "open-N" in the data
 * dir) with posix_fallocate(), which on ext4 and xfs leaves unwritten extents, and
 * then writes entries with io_submit(RWF_NOWAIT) through O_DIRECT, each write
 * starting at the segment's last partly filled block. A write that spans a written
 * block and unwritten ones is not a plain overwrite, and the file system refuses it
 * under RWF_NOWAIT (EAGAIN); libraft then redoes it as a blocking write on libuv's
 * pool. In bench/raft 71 of 100 writes of a server went that way: one more turn of
 * the loop to see the EAGAIN, a wait for a pool thread behind plan checks, and an
 * extent conversion with its journal commit before the entry was durable, on the
 * path of every commit.
 *
 * drover-server therefore defines posix_fallocate() itself (segment_alloc.c; the
 * executable's definition comes first in the dynamic linker's lookup, and
 * libraft's call binds to it): once segment_alloc_enable() was called, a file
 * named open-N is allocated with libc's posix_fallocate() and then overwritten with
 * zeros (segment_alloc_fill), so that every later write of libraft is an overwrite
 * of written blocks and completes in the kernel, without the pool. Any other file
 * gets libc's posix_fallocate() unchanged. The zeros cost one 8 MiB write per
 * segment, on the pool thread that prepares it, ahead of its use. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* From now on, libraft's open segments are zero-filled when allocated. */
void segment_alloc_enable(void);

/* Whether fd is a file named open-N (libraft's open segment). */
bool segment_alloc_is_segment(int fd);

/* Write zeros over [offset, offset + len) of fd (already allocated), bypassing the
 * page cache where the file system allows (a direct write with RWF_NOWAIT fails
 * over cached pages), and leave no cached pages behind. 0, or an errno value. */
int segment_alloc_fill(int fd, off_t offset, off_t len);

/* How many segments were zero-filled so far (tests, logs). */
unsigned long segment_alloc_filled(void);
