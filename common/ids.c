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

static const char hex[] = "0123456789abcdef";

static void put_hex(char *o, uint8_t b) {
        o[0] = hex[b >> 4];
        o[1] = hex[b & 15];
}

/* Take the next block: aligned to ID_SEQ_BLOCK, not before the clock's ms, after every
 * block taken before (a seq past 18 bits carries into the ms). The text from the '-'
 * after the short ID to the block's last seq digit is the same for the whole block. */
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
        uint64_t ms = start >> SEQ_BITS, seq = start & ((1u << SEQ_BITS) - 1);
        const uint8_t b[9] = {(uint8_t)(ms >> 40),
                              (uint8_t)(ms >> 32),
                              (uint8_t)(0x80 | (ms >> 28 & 0x0f)),
                              (uint8_t)(ms >> 20),
                              (uint8_t)(0x80 | (ms >> 14 & 0x3f)),
                              (uint8_t)(ms >> 6),
                              (uint8_t)((ms & 0x3f) << 2 | seq >> 16),
                              (uint8_t)(seq >> 8),
                              (uint8_t)seq};
        char *t = s->text;
        memcpy(t, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", ID_BUF);
        for (int i = 0; i < 9; i++) /* bytes 4-12 of the UUID: characters 9-29 */
                put_hex(t + 9 + 2 * i + (i >= 2) + (i >= 4) + (i >= 6), b[i]);
}

void id_seq_init(struct id_seq *s) {
        s->next = s->end = 0;
}

void id_seq_next(struct id_seq *s, char buf[ID_BUF]) {
        if (s->next >= s->end)
                take_block(s);
        uint64_t v = s->next++;
        const uint8_t *r = s->rnd + 7 * (v & (ID_SEQ_BLOCK - 1));
        memcpy(buf, s->text, ID_BUF);
        for (int i = 0; i < 4; i++)
                put_hex(buf + 2 * i, r[i]);
        put_hex(buf + 28, (uint8_t)v); /* seq's low byte: its low 5 bits are the place in the block */
        for (int i = 0; i < 3; i++)
                put_hex(buf + 30 + 2 * i, r[4 + i]);
}

static uint64_t mix(uint64_t x) {
        x ^= x >> 30;
        x *= UINT64_C(0xbf58476d1ce4e5b9);
        x ^= x >> 27;
        x *= UINT64_C(0x94d049bb133111eb);
        return x ^ (x >> 31);
}

static uint64_t load8(const char *p) {
        uint64_t w;
        memcpy(&w, p, 8);
        return w;
}

static unsigned hex_val(char c) {
        return (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10) & 15;
}

uint64_t id_path(const char *key) {
        /* 8-4-4-4-12 with version 8 and variant 10; anything else is hashed. The digits are
         * not checked: a key of this shape with other characters gets a path all the same,
         * only one that does not follow its time. */
        if (strlen(key) != ID_LEN || key[8] != '-' || key[13] != '-' || key[14] != '8' || key[18] != '-' ||
            key[23] != '-' || !strchr("89ab", key[19]))
                return pmap_hash(key);
        /* Characters 9-27 and the high 3 bits of seq's low byte (28-29) name the block; the
         * low 5 bits are the place in it; the random digits (0-7, 30-35) tell apart the IDs
         * of two servers with the same block and place. */
        unsigned lo = hex_val(key[28]) << 4 | hex_val(key[29]);
        uint64_t block = mix(load8(key + 9) ^ mix(load8(key + 17) ^ mix(load8(key + 20) ^ (lo >> 5))));
        uint64_t rnd = load8(key) ^ load8(key + 28) << 1;
        return (block & 0x7fff) | (uint64_t)(lo & 31) << 15 | mix(block ^ rnd) << 20;
}
