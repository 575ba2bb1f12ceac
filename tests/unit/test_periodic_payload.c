/* test_periodic_payload.c - the base64 of dispatch payloads (common/base64.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

Test(payload_base64, round_trips_every_length_mod_3) {
        const unsigned char in[] = "hello\0world\xff\x80";
        for (size_t n = 0; n < sizeof(in); n++) {
                char *enc = base64_encode(in, n);
                cr_assert_not_null(enc);
                cr_assert_eq(strlen(enc), (n + 2) / 3 * 4);
                cr_assert_eq(base64_decoded_len(enc), (ssize_t)n, "%s", enc);
                unsigned char *dec = NULL;
                size_t m = 99;
                cr_assert_eq(base64_decode(enc, &dec, &m), 0);
                cr_assert_eq(m, n);
                cr_assert(n == 0 || memcmp(dec, in, n) == 0);
                free(dec);
                free(enc);
        }
        char *enc = base64_encode((const unsigned char *)"hi", 2);
        cr_assert_str_eq(enc, "aGk=", "RFC 4648 alphabet and padding");
        free(enc);
}

Test(payload_base64, refuses_what_is_not_padded_standard_base64) {
        const char *bad[] = {"aGk", "aG=k", "a===", "aGk-", "aGk_", "aGk=aGk=", "aGk\n"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                cr_assert_eq(base64_decoded_len(bad[i]), -1, "\"%s\" accepted", bad[i]);
                unsigned char *dec = NULL;
                size_t n;
                cr_assert_eq(base64_decode(bad[i], &dec, &n), -EINVAL);
        }
}
