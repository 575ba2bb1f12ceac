#include "common/ids.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/pmap.h"

static void fill_random(uint8_t *b, size_t len) {
        size_t got = 0;
        while (got < len) {
                ssize_t n = getrandom(b + got, len - got, 0);
                if (n > 0)
                        got += (size_t)n;
        }
}

void id_generate(char buf[ID_BUF]) {
        uint8_t b[16];
        fill_random(b, sizeof(b));
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
        snprintf(buf, ID_BUF, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool id_is_valid(const char *s) {
        if (!s || strlen(s) != ID_LEN)
                return false;
        for (int i = 0; i < ID_LEN; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return false;
                }
        }
        return true;
}

#define SEQ_BITS 18

/* (ms << SEQ_BITS | seq) past the last ID this process handed out. ms stays below
 * 2^46 until the year 4199, so the pair fits. */
static uint64_t seq_state;

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Take the next block: aligned to ID_SEQ_BLOCK, not before the clock's ms, after every
 * block taken before (a seq past 18 bits carries into the ms). */
static void take_block(struct id_seq *s) {
        uint64_t now = now_ms() << SEQ_BITS, old = __atomic_load_n(&seq_state, __ATOMIC_RELAXED), start;
        do {
                start = (old + ID_SEQ_BLOCK - 1) & ~(uint64_t)(ID_SEQ_BLOCK - 1);
                if (start < now)
                        start = now;
        } while (!__atomic_compare_exchange_n(&seq_state, &old, start + ID_SEQ_BLOCK, true, __ATOMIC_RELAXED,
                                              __ATOMIC_RELAXED));
        s->next = start;
        s->end = start + ID_SEQ_BLOCK;
        fill_random(s->rnd, sizeof(s->rnd));
}

void id_seq_init(struct id_seq *s) {
        s->next = s->end = 0;
}

static const char hex[] = "0123456789abcdef";

void id_seq_next(struct id_seq *s, char buf[ID_BUF]) {
        if (s->next >= s->end)
                take_block(s);
        uint64_t v = s->next++;
        uint64_t ms = v >> SEQ_BITS, seq = v & ((1u << SEQ_BITS) - 1);
        const uint8_t *r = s->rnd + 7 * (v & (ID_SEQ_BLOCK - 1));
        uint8_t b[16] = {r[0],
                         r[1],
                         r[2],
                         r[3],
                         (uint8_t)(ms >> 40),
                         (uint8_t)(ms >> 32),
                         (uint8_t)(0x80 | (ms >> 28 & 0x0f)),
                         (uint8_t)(ms >> 20),
                         (uint8_t)(0x80 | (ms >> 14 & 0x3f)),
                         (uint8_t)(ms >> 6),
                         (uint8_t)((ms & 0x3f) << 2 | seq >> 16),
                         (uint8_t)(seq >> 8),
                         (uint8_t)seq,
                         r[4],
                         r[5],
                         r[6]};
        char *o = buf;
        for (int i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *o++ = '-';
                *o++ = hex[b[i] >> 4];
                *o++ = hex[b[i] & 15];
        }
        *o = '\0';
}

/* The value of n hex digits at s, or -1 when one is not a lowercase hex digit. */
static int64_t hex_n(const char *s, int n) {
        int64_t v = 0;
        for (int i = 0; i < n; i++) {
                char c = s[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                        return -1;
                v = v << 4 | d;
        }
        return v;
}

static uint64_t mix(uint64_t x) {
        x ^= x >> 30;
        x *= UINT64_C(0xbf58476d1ce4e5b9);
        x ^= x >> 27;
        x *= UINT64_C(0x94d049bb133111eb);
        return x ^ (x >> 31);
}

uint64_t id_path(const char *key) {
        /* 8-4-4-4-12 with version 8 and variant 10, read left to right (a short key stops at
         * its NUL, not a hex digit): anything else is hashed. */
        int64_t a = hex_n(key, 8), b = -1, c = -1, d = -1, e = -1;
        if (a >= 0 && key[8] == '-' && (b = hex_n(key + 9, 4)) >= 0 && key[13] == '-' && key[14] == '8' &&
            (c = hex_n(key + 15, 3)) >= 0 && key[18] == '-' && (d = hex_n(key + 19, 4)) >= 0 && key[23] == '-')
                e = hex_n(key + 24, 12);
        if (e < 0 || (d & 0xc000) != 0x8000 || key[ID_LEN] != '\0')
                return pmap_hash(key);
        uint64_t ms = (uint64_t)b << 32 | (uint64_t)c << 20 | (uint64_t)(d & 0x3fff) << 6 | (uint64_t)e >> 42;
        uint64_t seq = (uint64_t)e >> 24 & ((1u << SEQ_BITS) - 1);
        uint64_t rnd = (uint64_t)a << 24 | ((uint64_t)e & 0xffffff);
        uint64_t block = mix(ms << (SEQ_BITS - 5) | seq >> 5);
        return (block & 0x7fff) | (seq & 31) << 15 | mix(block ^ rnd) << 20;
}
