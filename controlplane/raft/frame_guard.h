/* frame_guard.h - a bound on every Raft message a server reads from a peer.
 *
 * libraft's uv transport (0.15, src/uv_recv.c) reads a message as a preamble
 * [type u64][header length u64], the header, then a payload whose length the
 * header gives (AppendEntries: the sum of its entries' sizes, each padded to 8 bytes; InstallSnapshot:
 * the snapshot's size), all little-endian. It checks none of these lengths: it
 * allocates whatever a peer announces (a header length of 2^40 bytes, a
 * snapshot of 60 GiB) and decodes an AppendEntries header by its own entry
 * count, not by its length. The guard parses that framing on the byte stream
 * before libraft sees it, and rejects a message whose preamble, header and
 * payload together exceed the cap, or whose header is not what its type says
 * (an unknown type; an AppendEntries header that is not 40 bytes, or 48 in
 * libraft 0.15's encoding, + 16 per entry it counts; an InstallSnapshot header
 * that is not its fixed part + its configuration + 8; another type's header
 * longer than 64 bytes). The connection is then closed.
 *
 * Pure: no I/O, no allocation; feed it the bytes in any chunks. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Default cap on one message: a snapshot of the state (60 MB at 10,000 finished
 * jobs before GC) or a catch-up batch of entries fits many times over. */
#define FRAME_GUARD_DEFAULT_MAX (1024ull * 1024 * 1024)

struct frame_guard {
        uint64_t max;
        int state; /* 0: preamble, 1: header, 2: payload */
        uint64_t type, hdr_len, pos, payload;
        uint64_t conf_len; /* bytes of the entries' headers (the configuration) */
        uint64_t fixed;      /* bytes of the header's fixed part (AppendEntries, InstallSnapshot) */
        uint64_t conf_start; /* where the entries' headers (the configuration) begin */
        unsigned char scratch[48], word[8];
        uint64_t messages; /* whole messages seen */
};

void frame_guard_init(struct frame_guard *g, uint64_t max);
/* Consume n more bytes of the stream. 0 while every message is within bounds;
 * -EMSGSIZE (*ret_size: the size announced so far) when one exceeds the cap;
 * -EBADMSG when the framing is malformed. After an error the stream is lost:
 * close it. */
int frame_guard_feed(struct frame_guard *g, const void *buf, size_t n, uint64_t *ret_size);
/* The warning for a connection closed on frame_guard_feed's error `why` (size: its
 * *ret_size): "<what> closed: ..." with the count of such connections so far. */
void frame_guard_log_refusal(const struct frame_guard *g, int why, uint64_t size, const char *what, uint64_t count);
