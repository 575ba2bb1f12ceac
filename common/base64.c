/* base64.c - see base64.h. */
#include "common/base64.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const unsigned char *in, size_t n) {
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v =
                    (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
                *o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? alphabet[v & 63] : '=';
        }
        *o = '\0';
        return out;
}

static int value_of(char ch) {
        const char *p = ch ? strchr(alphabet, ch) : NULL;
        return p ? (int)(p - alphabet) : -1;
}

ssize_t base64_decoded_len(const char *text) {
        size_t n = strlen(text), pad = 0;
        if (n % 4)
                return -1;
        for (size_t i = 0; i < n; i++) {
                if (text[i] == '=' && i + 2 >= n) {
                        pad++;
                        continue;
                }
                if (pad || value_of(text[i]) < 0)
                        return -1;
        }
        return (ssize_t)(n / 4 * 3 - pad);
}

int base64_decode(const char *text, unsigned char **ret, size_t *ret_n) {
        ssize_t len = base64_decoded_len(text);
        if (len < 0)
                return -EINVAL;
        unsigned char *out = malloc((size_t)len + 1);
        if (!out)
                return -ENOMEM;
        size_t o = 0, n = strlen(text);
        for (size_t i = 0; i < n; i += 4) {
                uint32_t v = 0;
                for (int k = 0; k < 4; k++)
                        v = v << 6 | (uint32_t)(text[i + k] == '=' ? 0 : value_of(text[i + k]));
                unsigned char b[3] = {(unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
                for (int k = 0; k < 3 && o < (size_t)len; k++)
                        out[o++] = b[k];
        }
        *ret = out;
        *ret_n = o;
        return 0;
}
