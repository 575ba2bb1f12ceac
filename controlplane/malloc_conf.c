/* malloc_conf.c - jemalloc's options for drover-server, read by jemalloc at its first
 * allocation (the `malloc_conf` string it looks up in the executable; see jemalloc(3),
 * "TUNING"). Linked into drover-server only (Makefile MALLOC_OBJ), never into a
 * sanitizer build, whose allocator ignores it.
 *
 * narenas:2: fewer arenas (jemalloc's default is 4 per CPU); the loop and the
 * scheduler workers contend little, since the workers allocate on their own thread
 * caches. MALLOC_CONF in the environment is read after this string and overrides it.
 *
 * No transparent huge pages any more (jemalloc's default: it does not madvise its
 * extents, and the host's THP mode "madvise" then gives 4 KiB pages). Session 23 chose
 * thp:always,metadata_thp:always (~49,600 minor faults per bench/raft run down to
 * ~5,000-7,000; 3 pairs at host load 12-20, commit p99 144 against 287 ms). On this
 * VM a huge page's first touch zeroes 2 MiB in the faulting thread, often the event
 * loop: `perf` put clear_page_erms under do_huge_pmd_anonymous_page at 32-51% of each
 * server's samples and ~30% of the leader's loop, and a 2 MiB first touch of memory
 * the guest had not used took 4.5 ms (0.19 ms when reused; 4 KiB pages: 0.9 ms per
 * 2 MiB). 10 alternated pairs of bench/raft, same binary, with and without
 * (2026-12-03, load 3.5-4.8, bench/RESULTS.md "raftp99b"): the servers' CPU 0.93-1.34
 * s against 1.23-1.85 s (lower in 10 of 10), placements/s higher in 10 of 10, RSS 235
 * against 340 MB, commit p99 medians 40.9 and 41.3 ms. MALLOC_CONF=thp:always,
 * metadata_thp:always brings the huge pages back. */
const char *malloc_conf = "narenas:2";
