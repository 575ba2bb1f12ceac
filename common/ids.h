/* ids.h - UUIDs in Nomad's form (8-4-4-4-12 lowercase hex).
 *
 * Two kinds are made. id_generate: a random version 4 UUID (evals, nodes, tokens).
 * id_seq: sequenced version 8 UUIDs (RFC 9562's vendor-specific kind) for allocations,
 * laid out so that the IDs one scheduler eval makes are stored next to each other:
 *
 *   bytes 0-3   random (the 8-digit short ID the CLI shows stays as unique as a v4's)
 *   bytes 4-10  unix time in ms (48 bits), big-endian, around the version nibble 8
 *               (byte 6's high nibble) and the variant bits 10 (byte 8's top two)
 *   bytes 10-12 seq (18 bits, after the ms's low 6 bits in byte 10)
 *   bytes 13-15 random
 *
 * 56 random bits: IDs two servers make in the same ms with the same seq still differ.
 * seq counts IDs within a ms of this process; past 262,143 the ms moves on (an ID may
 * run ahead of the clock, never back), so (ms, seq) is unique in the process and the
 * text from the 10th character on sorts in the order a maker made its IDs (across
 * makers, in the order they took their blocks of 32, below). (Not
 * version 7, which sorts from the first character: every alloc of a minute would share
 * its first 8 digits, and the short IDs of `job status` would all read the same.)
 *
 * An id_seq hands out a block of ID_SEQ_BLOCK consecutive seq values at a time, taken
 * from one process-wide counter, so the IDs of a block share (ms, seq >> 5): id_path
 * keys a store's trie by that, which puts a plan's allocations into ~1/32 as many trie
 * nodes as random IDs take.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define ID_LEN 36
#define ID_BUF (ID_LEN + 1)
#define ID_SEQ_BLOCK 32

/* Fill buf (ID_BUF bytes) with a random v4 UUID. */
void id_generate(char buf[ID_BUF]);
bool id_is_valid(const char *s);

/* A maker of time-ordered IDs, one per thread (not shared without a lock); start it
 * zeroed or with id_seq_init. It takes a block of ID_SEQ_BLOCK IDs and their random
 * bytes (one getrandom call) when the last one is used up. */
struct id_seq {
        uint64_t next, end; /* (ms << 18 | seq) of the next ID and past the block's last */
        uint8_t rnd[7 * ID_SEQ_BLOCK];
        char text[ID_BUF]; /* the block's ID with its random digits and place still to fill */
};

void id_seq_init(struct id_seq *s);
/* Fill buf (ID_BUF bytes) with the next sequenced (v8) UUID. */
void id_seq_next(struct id_seq *s, char buf[ID_BUF]);

/* A trie path (the 64 bits a pmap consumes 5 at a time, lowest first) for an ID key:
 * for a UUID in id_seq's layout, 15 bits hashed from (ms, seq >> 5), then seq's low 5
 * bits, then a hash of the rest, so the IDs of one block fill one node of the trie's
 * 4th level; any other key (v4 UUIDs, names) gets pmap_hash, so random IDs spread. */
uint64_t id_path(const char *key);
