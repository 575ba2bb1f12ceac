/* secret.c - constant-time comparison and SHA-256 of secrets. */
#include "controlplane/acl/secret.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>

bool secret_equal(const char *a, const char *b) {
        if (!a || !b)
                return false;
        size_t la = strlen(a), lb = strlen(b);
        /* Compare over the longer length, reading the shorter as zeros. */
        size_t n = la > lb ? la : lb;
        unsigned char diff = (unsigned char)(la != lb);
        for (size_t i = 0; i < n; i++) {
                unsigned char x = i < la ? (unsigned char)a[i] : 0;
                unsigned char y = i < lb ? (unsigned char)b[i] : 0;
                diff |= x ^ y;
        }
        return diff == 0;
}

int secret_hash(const char *s, char ret[SECRET_HASH_HEX]) {
        unsigned char digest[32];
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), digest) < 0)
                return -EIO;
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < sizeof(digest); i++) {
                ret[2 * i] = hex[digest[i] >> 4];
                ret[2 * i + 1] = hex[digest[i] & 15];
        }
        ret[64] = '\0';
        return 0;
}
