/* malloc_conf.c - jemalloc's options for drover-server, read by jemalloc at its first
 * allocation (the `malloc_conf` string it looks up in the executable; see jemalloc(3),
 * "TUNING"). Linked into drover-server only (Makefile MALLOC_OBJ), never into a
 * sanitizer build, whose allocator ignores it.
 *
 * thp:always,metadata_thp:always: jemalloc asks for transparent huge pages
 * (madvise(MADV_HUGEPAGE) on its extents; the host's THP mode "madvise" is enough).
 * The state store grows by hundreds of MB of small blocks, and on virtual machines
 * each first touch of a 4 KiB page is a fault that costs far more than the work on
 * it: bench/raft's three servers took ~49,600 minor faults per run, about half of
 * their CPU. With huge pages, ~4,000-5,000, and 30-40% less CPU per placement; the
 * price is a larger RSS (a huge page is resident whole; 237 -> ~340-410 MB for the
 * three servers of bench/raft). narenas:2: fewer arenas (jemalloc's default is 4
 * per CPU), each holding its own partly used huge pages; the loop and the scheduler
 * workers contend little, since the workers allocate on their own thread caches.
 * MALLOC_CONF in the environment is read after this string and overrides it.
 * Kept after 3 alternated pairs of bench/raft runs with and without THP
 * (MALLOC_CONF=thp:default,metadata_thp:disabled; 2026-12-03, host load 12-20):
 * commit p99 144 ms with, 287 ms without (medians), CPU per 100k placements 2.11 s
 * with, 2.34 s without (session 23's single p99 of 57.6 ms had no run without THP
 * beside it on the same host load). */
const char *malloc_conf = "thp:always,metadata_thp:always,narenas:2";
