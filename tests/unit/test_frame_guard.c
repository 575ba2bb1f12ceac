/* test_frame_guard.c - every Raft message a peer sends is bounded before libraft
 * allocates for it (controlplane/raft/frame_guard.h): a hostile length in the
 * preamble, in an AppendEntries entry or in an InstallSnapshot is refused, a
 * header that lies about its entries is malformed, and real traffic split in any
 * chunks passes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <raft.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "controlplane/raft/frame_guard.h"

static size_t put64(unsigned char *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (8 * i));
        return 8;
}

/* An AppendEntries message with n entries of the given sizes (data zeroes, unless
 * header_only), in one of libraft's layouts: 0, the count after the commit index
 * (40 + 16 n); 1, libraft 0.15's, the same and an unused word at the end (48 +
 * 16 n); 2, older ones', the leader's ID after the term (48 + 16 n). */
static size_t append_entries_(unsigned char *buf, unsigned n, const uint32_t *sizes, bool header_only, int layout) {
        size_t o = 0;
        o += put64(buf + o, RAFT_IO_APPEND_ENTRIES);
        o += put64(buf + o, (layout ? 48 : 40) + 16ull * n);
        o += put64(buf + o, 7); /* term */
        if (layout == 2)
                o += put64(buf + o, 3); /* leader ID */
        for (int i = 0; i < 3; i++)
                o += put64(buf + o, 7); /* prev index, prev term, commit */
        o += put64(buf + o, n);
        size_t payload = 0;
        for (unsigned i = 0; i < n; i++) {
                o += put64(buf + o, 7);
                buf[o] = RAFT_COMMAND;
                memset(buf + o + 1, 0, 3);
                for (int b = 0; b < 4; b++)
                        buf[o + 4 + b] = (unsigned char)(sizes[i] >> (8 * b));
                o += 8;
                payload += sizes[i];
        }
        if (layout == 1)
                o += put64(buf + o, 0); /* unused */
        if (header_only)
                return o;
        memset(buf + o, 0, payload);
        return o + payload;
}

static size_t append_entries(unsigned char *buf, unsigned n, const uint32_t *sizes) {
        return append_entries_(buf, n, sizes, false, 0);
}

Test(frame_guard, real_traffic_in_any_chunks_passes) {
        static unsigned char buf[8192];
        uint32_t sizes[3] = {24, 1000, 8}; /* libraft's entries are multiples of 8 bytes */
        for (int layout = 0; layout < 3; layout++) {
                size_t m = append_entries_(buf, 3, sizes, false, layout);
                m += put64(buf + m, RAFT_IO_APPEND_ENTRIES_RESULT); /* a small message after it */
                m += put64(buf + m, 24);
                memset(buf + m, 0, 24);
                m += 24;
                m += append_entries_(buf + m, 0, NULL, false, layout); /* a heartbeat */
                for (size_t chunk = 1; chunk <= m; chunk = chunk * 3 + 1) {
                        struct frame_guard g;
                        frame_guard_init(&g, 4096);
                        for (size_t off = 0; off < m; off += chunk)
                                cr_assert_eq(frame_guard_feed(&g, buf + off, off + chunk > m ? m - off : chunk, NULL), 0,
                                             "layout %d, chunks of %zu", layout, chunk);
                        cr_expect_eq(g.messages, 3, "layout %d, chunks of %zu: %llu", layout, chunk,
                                     (unsigned long long)g.messages);
                }
        }
}

Test(frame_guard, a_huge_length_in_the_preamble_is_refused_at_once) {
        unsigned char pre[16];
        put64(pre, RAFT_IO_APPEND_ENTRIES);
        put64(pre + 8, UINT64_MAX - 3); /* libraft would malloc it */
        struct frame_guard g;
        frame_guard_init(&g, 0);
        uint64_t size = 0;
        cr_expect_eq(frame_guard_feed(&g, pre, sizeof(pre), &size), -EMSGSIZE);
        cr_expect_eq(size, UINT64_MAX);
        put64(pre + 8, 1ull << 31); /* 2 GiB: over the default 1 GiB */
        frame_guard_init(&g, 0);
        cr_expect_eq(frame_guard_feed(&g, pre, sizeof(pre), &size), -EMSGSIZE);
        cr_expect_eq(size, (1ull << 31) + 16);
}

Test(frame_guard, entries_adding_up_over_the_cap_are_refused_before_their_data) {
        static unsigned char buf[4096];
        uint32_t sizes[3] = {UINT32_MAX, UINT32_MAX, 8};
        size_t hdr = append_entries_(buf, 3, sizes, true, 0); /* the data never comes */
        cr_assert_eq(hdr, 16 + 40 + 16 * 3);
        struct frame_guard g;
        frame_guard_init(&g, 1ull << 32); /* 4 GiB: the first entry fits, the second does not */
        uint64_t size = 0;
        cr_expect_eq(frame_guard_feed(&g, buf, hdr, &size), -EMSGSIZE);
        cr_expect_gt(size, 1ull << 32);
}

Test(frame_guard, a_snapshot_over_the_cap_is_refused) {
        unsigned char buf[128];
        size_t o = 0;
        o += put64(buf + o, RAFT_IO_INSTALL_SNAPSHOT);
        o += put64(buf + o, 56 + 16); /* a configuration of 16 bytes (0.15's layout) */
        for (int i = 0; i < 4; i++)
                o += put64(buf + o, 3);
        o += put64(buf + o, 16);
        memset(buf + o, 1, 16);
        o += 16;
        o += put64(buf + o, 64ull << 30); /* a 64 GiB snapshot */
        o += put64(buf + o, 0);           /* libraft 0.15's unused word */
        struct frame_guard g;
        frame_guard_init(&g, 0);
        uint64_t size = 0;
        cr_expect_eq(frame_guard_feed(&g, buf, o, &size), -EMSGSIZE);
        cr_expect_eq(size, 64ull << 30);
        /* the same of 100 bytes passes, data included */
        put64(buf + o - 16, 100);
        frame_guard_init(&g, 0);
        cr_expect_eq(frame_guard_feed(&g, buf, o, NULL), 0);
        unsigned char data[100] = {0};
        cr_expect_eq(frame_guard_feed(&g, data, sizeof(data), NULL), 0);
        cr_expect_eq(g.messages, 1);
}

Test(frame_guard, a_header_that_lies_about_itself_is_malformed) {
        static unsigned char buf[4096];
        uint32_t sizes[2] = {8, 8};
        append_entries(buf, 2, sizes);
        put64(buf + 16 + 32, 1000000); /* n_entries: libraft would read past the header */
        struct frame_guard g;
        frame_guard_init(&g, 0);
        cr_expect_eq(frame_guard_feed(&g, buf, 16 + 40, NULL), -EBADMSG);
        unsigned char pre[16];
        put64(pre, 99); /* no such message type */
        put64(pre + 8, 24);
        frame_guard_init(&g, 0);
        cr_expect_eq(frame_guard_feed(&g, pre, 16, NULL), -EBADMSG);
        put64(pre, RAFT_IO_REQUEST_VOTE); /* a vote request of 1 MiB */
        put64(pre + 8, 1 << 20);
        frame_guard_init(&g, 0);
        cr_expect_eq(frame_guard_feed(&g, pre, 16, NULL), -EBADMSG);
        put64(pre + 8, 0); /* an empty header: libraft refuses it too */
        frame_guard_init(&g, 0);
        cr_expect_eq(frame_guard_feed(&g, pre, 16, NULL), -EBADMSG);
}
