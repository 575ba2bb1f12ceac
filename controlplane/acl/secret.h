/* secret.h - comparing and hashing secrets (node secrets, the node registration
 * secret, ACL token secrets). Comparisons take time independent of where the
 * inputs differ; hashes are SHA-256 by GnuTLS, as lower-case hex. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SECRET_HASH_HEX 65 /* 64 hex digits and the NUL */

/* a and b equal, without an early exit on the first differing byte (the time
 * depends only on the lengths). NULL equals nothing, not even NULL. */
bool secret_equal(const char *a, const char *b);

/* SHA-256 of s as 64 lower-case hex digits into ret. 0, or -EIO when GnuTLS fails. */
int secret_hash(const char *s, char ret[SECRET_HASH_HEX]);

/* 256 random bits from the kernel (getrandom) as 64 lower-case hex digits into
 * ret: the servers' shared secret (state_acl.h). 0, or -EIO. */
int secret_random_hex(char ret[SECRET_HASH_HEX]);
/* Whether s is 64 lower-case hex digits (a SHA-256 or a secret_random_hex). */
bool secret_is_hex64(const char *s);
