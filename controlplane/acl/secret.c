/* secret.c - constant-time comparison and SHA-256 of secrets. */
#include "controlplane/acl/secret.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/random.h>

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

static void to_hex(const unsigned char bytes[32], char ret[SECRET_HASH_HEX]) {
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < 32; i++) {
                ret[2 * i] = hex[bytes[i] >> 4];
                ret[2 * i + 1] = hex[bytes[i] & 15];
        }
        ret[64] = '\0';
}

int secret_hash(const char *s, char ret[SECRET_HASH_HEX]) {
        unsigned char digest[32];
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), digest) < 0)
                return -EIO;
        to_hex(digest, ret);
        return 0;
}

int secret_random_hex(char ret[SECRET_HASH_HEX]) {
        unsigned char bytes[32];
        size_t got = 0;
        while (got < sizeof(bytes)) {
                ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -EIO;
                got += (size_t)n;
        }
        to_hex(bytes, ret);
        explicit_bzero(bytes, sizeof(bytes));
        return 0;
}

bool secret_is_hex64(const char *s) {
        if (!s || strlen(s) != SECRET_HASH_HEX - 1)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}
