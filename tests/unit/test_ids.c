/* test_ids.c - v4 and sequenced (v8) UUIDs: the layout, the order and uniqueness of
 * sequenced IDs, unique short IDs, and id_path's trie paths (a block of 32 IDs shares
 * the upper levels, blocks spread, every other key hashed). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/pmap.h"

static int cmp_str(const void *a, const void *b) {
        return strcmp(a, b);
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

Test(ids, v4_ids_are_valid_and_random) {
        char a[ID_BUF], b[ID_BUF];
        id_generate(a);
        id_generate(b);
        cr_assert(id_is_valid(a), "%s", a);
        cr_assert_eq(a[14], '4', "%s: version 4", a);
        cr_assert(strchr("89ab", a[19]), "%s: variant 10", a);
        cr_assert_str_neq(a, b);
}

Test(ids, sequenced_ids_are_version_8_and_rise_after_the_short_id) {
        enum { N = 20000 };
        char(*v)[ID_BUF] = malloc(N * sizeof(*v));
        struct id_seq s;
        id_seq_init(&s);
        for (int i = 0; i < N; i++) {
                id_seq_next(&s, v[i]);
                cr_assert(id_is_valid(v[i]), "%s", v[i]);
                cr_assert_eq(v[i][14], '8', "%s: version 8", v[i]);
                cr_assert(strchr("89ab", v[i][19]), "%s: variant 10", v[i]);
                if (i > 0) /* from the 10th character: (ms, seq, random) */
                        cr_assert_lt(strcmp(v[i - 1] + 9, v[i] + 9), 0, "%s then %s", v[i - 1], v[i]);
        }
        /* The first 8 digits are random: as many distinct short IDs as a v4's give
         * (20,000 draws of 32 bits: about 0.05 pairs expected). */
        char(*shorts)[9] = malloc(N * sizeof(*shorts));
        for (int i = 0; i < N; i++) {
                memcpy(shorts[i], v[i], 8);
                shorts[i][8] = '\0';
        }
        qsort(shorts, N, sizeof(*shorts), cmp_str);
        int same = 0;
        for (int i = 1; i < N; i++)
                same += strcmp(shorts[i - 1], shorts[i]) == 0;
        cr_assert_leq(same, 2, "%d short IDs repeat", same);
        free(shorts);
        free(v);
}

Test(ids, two_makers_never_make_the_same_id) {
        enum { N = 10000 };
        char(*v)[ID_BUF] = malloc(2 * N * sizeof(*v));
        struct id_seq a, b;
        id_seq_init(&a);
        id_seq_init(&b);
        for (int i = 0; i < N; i++) { /* interleaved: each takes its own blocks */
                id_seq_next(&a, v[2 * i]);
                id_seq_next(&b, v[2 * i + 1]);
        }
        /* Without the random bits: (ms, seq) alone is unique within the process. */
        for (int i = 0; i < 2 * N; i++)
                memcpy(v[i] + 30, "000000", 7);
        qsort(v, 2 * N, sizeof(*v), cmp_str);
        for (int i = 1; i < 2 * N; i++)
                cr_assert_str_neq(v[i - 1] + 9, v[i] + 9);
        free(v);
}

Test(ids, a_block_shares_its_path_and_blocks_spread) {
        enum { BLOCKS = 1024 };
        struct id_seq s;
        id_seq_init(&s);
        uint32_t *tops = malloc(BLOCKS * sizeof(*tops));
        for (int blk = 0; blk < BLOCKS; blk++) {
                uint32_t seen = 0;
                for (int i = 0; i < ID_SEQ_BLOCK; i++) {
                        char id[ID_BUF];
                        id_seq_next(&s, id);
                        uint64_t p = id_path(id);
                        if (i == 0)
                                tops[blk] = p & 0x7fff;
                        cr_assert_eq(p & 0x7fff, tops[blk], "%s: the block's first 3 levels", id);
                        seen |= 1u << (p >> 15 & 31);
                }
                cr_assert_eq(seen, 0xffffffffu, "the 32 IDs of a block take the 32 slots of one node");
        }
        /* 1,024 blocks over 32,768 prefixes: about 16 pairs share one, by chance. */
        qsort(tops, BLOCKS, sizeof(*tops), cmp_u32);
        int distinct = 1;
        for (int i = 1; i < BLOCKS; i++)
                distinct += tops[i] != tops[i - 1];
        cr_assert_geq(distinct, BLOCKS - 64, "%d distinct prefixes of %d blocks", distinct, BLOCKS);
        free(tops);
}

Test(ids, other_keys_are_hashed) {
        char v4[ID_BUF], sq[ID_BUF], bad[ID_BUF];
        id_generate(v4);
        struct id_seq s;
        id_seq_init(&s);
        id_seq_next(&s, sq);
        const char *keys[] = {v4, "", "a", "node-1", "0123abcd-12", "0123abcd-0123-8", sq + 1};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                cr_assert_eq(id_path(keys[i]), pmap_hash(keys[i]), "\"%s\"", keys[i]);
        memcpy(bad, sq, ID_BUF);
        bad[19] = '4'; /* variant 0 */
        cr_assert_eq(id_path(bad), pmap_hash(bad));
        memcpy(bad, sq, ID_BUF);
        bad[14] = '7'; /* version 7 */
        cr_assert_eq(id_path(bad), pmap_hash(bad));
        char longer[ID_BUF + 1];
        memcpy(longer, sq, ID_LEN);
        memcpy(longer + ID_LEN, "0", 2);
        cr_assert_eq(id_path(longer), pmap_hash(longer));
        cr_assert_neq(id_path(sq), pmap_hash(sq), "a sequenced ID takes its own path");
}
