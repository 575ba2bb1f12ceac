/* batch.c - several FSM commands in one Raft entry. See batch.h. */
#include "controlplane/raft/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rd32(const unsigned char *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

bool batch_is_batch(const void *buf, size_t len) {
        return len >= 8 && memcmp(buf, BATCH_MAGIC, 4) == 0;
}

int batch_encoded_len(const struct batch_part *parts, size_t n, size_t *ret_len) {
        if (n > BATCH_MAX_PARTS)
                return -E2BIG;
        size_t len = 8;
        for (size_t i = 0; i < n; i++) {
                if (parts[i].len > UINT32_MAX)
                        return -E2BIG;
                len += 5 + parts[i].len;
        }
        *ret_len = len;
        return 0;
}

void batch_encode_to(const struct batch_part *parts, size_t n, void *dst) {
        unsigned char *p = dst;
        memcpy(p, BATCH_MAGIC, 4);
        wr32(p + 4, (uint32_t)n);
        p += 8;
        for (size_t i = 0; i < n; i++) {
                *p++ = parts[i].kind;
                wr32(p, (uint32_t)parts[i].len);
                p += 4;
                if (parts[i].len)
                        memcpy(p, parts[i].buf, parts[i].len);
                p += parts[i].len;
        }
}

int batch_encode(const struct batch_part *parts, size_t n, void **ret_buf, size_t *ret_len) {
        size_t len = 0;
        int r = batch_encoded_len(parts, n, &len);
        if (r < 0)
                return r;
        unsigned char *b = malloc(len);
        if (!b)
                return -ENOMEM;
        batch_encode_to(parts, n, b);
        *ret_buf = b;
        *ret_len = len;
        return 0;
}

int batch_count(const void *buf, size_t len) {
        if (!batch_is_batch(buf, len))
                return -EINVAL;
        const unsigned char *p = buf;
        uint32_t n = rd32(p + 4);
        if (n > BATCH_MAX_PARTS)
                return -EINVAL;
        size_t off = 8;
        for (uint32_t i = 0; i < n; i++) {
                if (len - off < 5)
                        return -EINVAL;
                uint32_t l = rd32(p + off + 1);
                off += 5;
                if (l > len - off)
                        return -EINVAL;
                off += l;
        }
        return off == len ? (int)n : -EINVAL;
}

int batch_foreach(const void *buf, size_t len, int (*fn)(void *arg, size_t i, const struct batch_part *p), void *arg) {
        int n = batch_count(buf, len);
        if (n < 0)
                return n;
        const unsigned char *p = buf;
        size_t off = 8;
        for (int i = 0; i < n; i++) {
                struct batch_part part = {.kind = p[off], .len = rd32(p + off + 1), .buf = p + off + 5};
                off += 5 + part.len;
                int r = fn(arg, (size_t)i, &part);
                if (r < 0)
                        return r;
        }
        return 0;
}
