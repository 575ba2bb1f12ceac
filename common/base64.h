/* base64.h - standard padded base64 (RFC 4648 section 4), as Nomad's API sends
 * []byte fields (a dispatched job's Payload). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* NUL-terminated text for n bytes (malloc'd), or NULL on out of memory. */
char *base64_encode(const unsigned char *in, size_t n);
/* The decoded size of text, or -1 when it is not padded standard base64. */
ssize_t base64_decoded_len(const char *text);
/* Decode text into a malloc'd buffer: 0, -EINVAL (not base64), -ENOMEM. */
int base64_decode(const char *text, unsigned char **ret, size_t *ret_n);
