/* batch.h - several FSM commands in one Raft entry.
 *
 * Writes that arrive on the same turn of the server's loop (job registrations,
 * plan results, eval updates) share one entry, so that one fsync on a majority
 * commits them all. An entry is either one JSON command ({"Type": ...}, the
 * original form, still read) or a batch:
 *
 *   "DRB1" | u32 n | n x (u8 kind | u32 len | len bytes)
 *
 * kind BATCH_JSON: a JSON command; kind BATCH_PLAN: a plan result in the compact
 * form of controlplane/plan/codec.h. Integers little-endian. The parts are applied
 * in order at the entry's index, each as if it were an entry of its own: a part
 * the state store rejects does not stop the others.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BATCH_MAGIC "DRB1"
#define BATCH_JSON 'J'
#define BATCH_PLAN 'P'
/* Bounds of one entry: more parts or bytes go in the next one. */
#define BATCH_MAX_PARTS 4096
#define BATCH_MAX_BYTES (8u << 20)

struct batch_part {
        uint8_t kind;
        const void *buf;
        size_t len;
};

bool batch_is_batch(const void *buf, size_t len);
/* Encode parts into one malloc'd buffer. */
int batch_encode(const struct batch_part *parts, size_t n, void **ret_buf, size_t *ret_len);
/* The same in two steps, for a caller that owns the destination (raft_node_apply_fill
 * writes a batch straight into libraft's buffer): the encoded size (-E2BIG for more
 * than BATCH_MAX_PARTS parts or a part of 4 GiB or more), then the encoding into dst,
 * which holds that many bytes. */
int batch_encoded_len(const struct batch_part *parts, size_t n, size_t *ret_len);
void batch_encode_to(const struct batch_part *parts, size_t n, void *dst);
/* Call fn for each part in order; stops at and returns the first negative return of
 * fn. -EINVAL when the buffer is truncated or corrupt (before any call: the whole
 * buffer is checked first). */
int batch_foreach(const void *buf, size_t len, int (*fn)(void *arg, size_t i, const struct batch_part *p), void *arg);
/* The number of parts (-EINVAL when corrupt). */
int batch_count(const void *buf, size_t len);
