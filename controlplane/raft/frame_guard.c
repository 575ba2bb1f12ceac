/* frame_guard.c - see frame_guard.h. */
#include "controlplane/raft/frame_guard.h"

#include <errno.h>
#include <raft.h>
#include <string.h>

#include "common/log.h"

#define PREAMBLE 16
/* An AppendEntries header: term, prev index, prev term, commit (32 bytes), the
 * entry count (8), 16 bytes per entry; libraft 0.15 (Debian's) adds an unused
 * word at the end (48 + 16 n in all), older versions the leader's ID after the
 * term (the count at 40). An InstallSnapshot header: term, last index, last
 * term, conf index, conf length (40 bytes; 48 with the leader's ID), the
 * configuration, the data length (8), and in 0.15 an unused word (8). The guard reads the first 48 bytes (40
 * for an AppendEntries of 40 + 16 n) and takes the layout whose count or length
 * adds up to the header's length. */
#define FIXED_MIN 40
#define FIXED_MAX 48
#define SMALL_HEADER_MAX 64

enum { ST_PREAMBLE, ST_HEADER, ST_PAYLOAD };

static uint64_t le(const unsigned char *p, int n) {
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

void frame_guard_init(struct frame_guard *g, uint64_t max) {
        memset(g, 0, sizeof(*g));
        g->max = max ? max : FRAME_GUARD_DEFAULT_MAX;
}

/* The message's size as announced so far; overflow-safe (the parts are bounded
 * by max before they are added). */
static uint64_t total(const struct frame_guard *g) {
        return PREAMBLE + g->hdr_len + g->payload;
}

static int over(const struct frame_guard *g, uint64_t *ret_size) {
        if (ret_size)
                *ret_size = total(g);
        return -EMSGSIZE;
}

static int preamble_done(struct frame_guard *g, uint64_t *ret_size) {
        /* the type's byte, and in later libraft a version byte at 2; the rest zero */
        g->type = g->scratch[0];
        if (g->scratch[1] || g->scratch[3] || le(g->scratch + 4, 4))
                return -EBADMSG;
        g->hdr_len = le(g->scratch + 8, 8);
        g->payload = 0;
        g->pos = 0;
        g->fixed = 0;
        if (g->hdr_len == 0)
                return -EBADMSG;
        if (g->hdr_len > g->max - PREAMBLE) {
                if (ret_size)
                        *ret_size = g->hdr_len > UINT64_MAX - PREAMBLE ? UINT64_MAX : g->hdr_len + PREAMBLE;
                return -EMSGSIZE;
        }
        switch (g->type) {
        case RAFT_IO_APPEND_ENTRIES:
                if (g->hdr_len % 16 == FIXED_MIN % 16 && g->hdr_len >= FIXED_MIN)
                        g->fixed = FIXED_MIN; /* 40 + 16 n: the count at 32, entries from 40 */
                else if (g->hdr_len % 16 == FIXED_MAX % 16 && g->hdr_len >= FIXED_MAX)
                        g->fixed = FIXED_MAX; /* 48 + 16 n: read 48 bytes, then decide */
                else
                        return -EBADMSG;
                break;
        case RAFT_IO_INSTALL_SNAPSHOT:
                if (g->hdr_len < FIXED_MAX)
                        return -EBADMSG;
                g->fixed = FIXED_MAX;
                break;
        case RAFT_IO_APPEND_ENTRIES_RESULT:
        case RAFT_IO_REQUEST_VOTE:
        case RAFT_IO_REQUEST_VOTE_RESULT:
        case RAFT_IO_TIMEOUT_NOW:
                if (g->hdr_len > SMALL_HEADER_MAX)
                        return -EBADMSG;
                break;
        default:
                return -EBADMSG;
        }
        g->state = ST_HEADER;
        return 0;
}

/* An InstallSnapshot's configuration length, once its first 48 header bytes are
 * read: the word at 40 (libraft 0.15) or at 32 (later), whichever makes the
 * header's length add up; -1 when neither does. */
static int snapshot_layout(struct frame_guard *g) {
        uint64_t at40 = le(g->scratch + 40, 8), at32 = le(g->scratch + 32, 8);
        if (g->hdr_len >= 56 && at32 == g->hdr_len - 56) {
                g->conf_len = at32; /* 0.15: an unused word after the data length */
                g->conf_start = 40;
        } else if (g->hdr_len >= 56 && at40 == g->hdr_len - 56) {
                g->conf_len = at40;
                g->conf_start = 48;
        } else if (at32 == g->hdr_len - 48) {
                g->conf_len = at32;
                g->conf_start = 40;
        } else {
                return -EBADMSG;
        }
        return 0;
}

/* An AppendEntries' entries once its first g->fixed header bytes are read:
 * where they begin and end (g->conf_start, g->conf_len reused); -1 when the
 * count matches no layout. */
static int entries_layout(struct frame_guard *g) {
        uint64_t n = g->fixed == FIXED_MIN ? (g->hdr_len - FIXED_MIN) / 16 : (g->hdr_len - FIXED_MAX) / 16;
        if (le(g->scratch + 32, 8) == n)
                g->conf_start = 40; /* 0.15: an unused word after the entries, when 48 + 16 n */
        else if (g->fixed == FIXED_MAX && le(g->scratch + 40, 8) == n)
                g->conf_start = 48; /* with the leader's ID */
        else
                return -EBADMSG; /* libraft would read that many entries */
        g->conf_len = 16 * n;
        return 0;
}

/* One byte of the header at g->pos. */
static int header_byte(struct frame_guard *g, unsigned char b, uint64_t *ret_size) {
        uint64_t p = g->pos;
        if (p < g->fixed) {
                g->scratch[p] = b;
                if (p == g->fixed - 1 && g->type == RAFT_IO_APPEND_ENTRIES)
                        return entries_layout(g);
                if (p == g->fixed - 1 && g->type == RAFT_IO_INSTALL_SNAPSHOT)
                        return snapshot_layout(g);
                return 0;
        }
        if (g->type == RAFT_IO_APPEND_ENTRIES) {
                /* each entry's 16-byte header ends with its size (4 bytes); the
                 * bytes before g->fixed hold none of them */
                if (p < g->conf_start || p >= g->conf_start + g->conf_len)
                        return 0; /* the unused word */
                uint64_t k = (p - g->conf_start) % 16;
                if (k < 12)
                        return 0;
                g->word[k - 12] = b;
                if (k == 15) {
                        /* as libraft counts it (its entries are multiples of 8 bytes);
                         * <= 4 GiB each: no overflow below max */
                        g->payload += le(g->word, 4);
                        if (total(g) > g->max)
                                return over(g, ret_size);
                }
        } else if (g->type == RAFT_IO_INSTALL_SNAPSHOT && p >= g->conf_start + g->conf_len &&
                   p < g->conf_start + g->conf_len + 8) { /* the data length; an unused word may follow */
                uint64_t k = p - g->conf_start - g->conf_len;
                g->word[k] = b;
                if (k == 7) {
                        uint64_t len = le(g->word, 8);
                        if (len > g->max) {
                                if (ret_size)
                                        *ret_size = len;
                                return -EMSGSIZE;
                        }
                        g->payload = len;
                        if (total(g) > g->max)
                                return over(g, ret_size);
                }
        }
        return 0;
}

int frame_guard_feed(struct frame_guard *g, const void *buf, size_t n, uint64_t *ret_size) {
        const unsigned char *p = buf;
        while (n > 0) {
                if (g->state == ST_PREAMBLE) {
                        size_t take = PREAMBLE - (size_t)g->pos < n ? PREAMBLE - (size_t)g->pos : n;
                        memcpy(g->scratch + g->pos, p, take);
                        g->pos += take;
                        p += take;
                        n -= take;
                        if (g->pos == PREAMBLE) {
                                int r = preamble_done(g, ret_size);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (g->state == ST_HEADER) {
                        int r = header_byte(g, *p, ret_size);
                        if (r < 0)
                                return r;
                        p++;
                        n--;
                        if (++g->pos == g->hdr_len) {
                                g->pos = 0;
                                g->state = g->payload > 0 ? ST_PAYLOAD : ST_PREAMBLE;
                                g->messages += g->payload == 0;
                        }
                        continue;
                }
                uint64_t left = g->payload - g->pos;
                size_t take = left < n ? (size_t)left : n;
                g->pos += take;
                p += take;
                n -= take;
                if (g->pos == g->payload) {
                        g->pos = 0;
                        g->state = ST_PREAMBLE;
                        g->messages++;
                }
        }
        return 0;
}

void frame_guard_log_refusal(const struct frame_guard *g, int why, uint64_t size, const char *what, uint64_t count) {
        if (why == -EMSGSIZE)
                log_warn("%s closed: a message of %llu bytes, over the cap of %llu bytes (%llu connection(s) closed so far)",
                         what, (unsigned long long)size, (unsigned long long)g->max, (unsigned long long)count);
        else
                log_warn("%s closed: malformed Raft message framing (type %llu, header of %llu bytes; %llu connection(s) "
                         "closed so far)",
                         what, (unsigned long long)g->type, (unsigned long long)g->hdr_len, (unsigned long long)count);
}
