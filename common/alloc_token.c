/* alloc_token.c - HMAC-SHA256 allocation tokens (GnuTLS). */
#include "common/alloc_token.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <string.h>

int alloc_token(const char *node_secret, const char *alloc_id, char ret[ALLOC_TOKEN_BUF]) {
        unsigned char mac[32];
        if (!node_secret || !*node_secret || !alloc_id)
                return -EINVAL;
        if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, node_secret, strlen(node_secret), alloc_id, strlen(alloc_id), mac) < 0)
                return -EIO;
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 32; i++) {
                ret[2 * i] = hex[mac[i] >> 4];
                ret[2 * i + 1] = hex[mac[i] & 15];
        }
        ret[64] = '\0';
        return 0;
}

bool alloc_token_equal(const char *presented, const char *expected) {
        if (!presented || !expected)
                return false;
        size_t a = strlen(presented), b = strlen(expected);
        unsigned char diff = (unsigned char)(a != b);
        for (size_t i = 0; i < b; i++)
                diff |= (unsigned char)(presented[i < a ? i : 0] ^ expected[i]);
        return diff == 0;
}
