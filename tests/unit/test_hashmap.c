/* test_hashmap.c - the string-keyed hash map. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"

Test(hashmap, many_keys_put_get_remove) {
        struct hashmap *m = hashmap_create(HASHMAP_OWN_KEYS);
        char k[32];
        for (long i = 0; i < 100000; i++) {
                snprintf(k, sizeof(k), "key-%ld", i);
                cr_assert_eq(hashmap_put(m, k, (void *)(i + 1), NULL), 0);
        }
        cr_assert_eq(hashmap_count(m), 100000);
        for (long i = 0; i < 100000; i++) {
                snprintf(k, sizeof(k), "key-%ld", i);
                cr_assert_eq((long)hashmap_get(m, k), i + 1);
        }
        for (long i = 0; i < 100000; i += 2) {
                snprintf(k, sizeof(k), "key-%ld", i);
                void *old;
                cr_assert_eq(hashmap_remove(m, k, &old), 0);
                cr_assert_eq((long)old, i + 1);
        }
        cr_assert_eq(hashmap_count(m), 50000);
        for (long i = 0; i < 100000; i++) {
                snprintf(k, sizeof(k), "key-%ld", i);
                cr_assert_eq((long)hashmap_get(m, k), i % 2 ? i + 1 : 0, "key %ld", i);
        }
        cr_assert_eq(hashmap_remove(m, "key-0", NULL), -ENOENT);
        hashmap_destroy(m);
}

Test(hashmap, replace_returns_old_value) {
        struct hashmap *m = hashmap_create(HASHMAP_OWN_KEYS);
        void *old = NULL;
        cr_assert_eq(hashmap_put(m, "a", (void *)1, NULL), 0);
        cr_assert_eq(hashmap_put(m, "a", (void *)2, &old), 1);
        cr_assert_eq((long)old, 1);
        cr_assert_eq((long)hashmap_get(m, "a"), 2);
        cr_assert_eq(hashmap_count(m), 1);
        hashmap_destroy(m);
}

Test(hashmap, clone_is_independent_and_iteration_sees_all) {
        struct hashmap *m = hashmap_create(HASHMAP_OWN_KEYS);
        char k[32];
        for (long i = 0; i < 1000; i++) {
                snprintf(k, sizeof(k), "n%ld", i);
                hashmap_put(m, k, (void *)(i + 1), NULL);
        }
        struct hashmap *c = hashmap_clone(m);
        hashmap_remove(m, "n5", NULL);
        hashmap_put(m, "new", (void *)7, NULL);
        cr_assert_eq((long)hashmap_get(c, "n5"), 6);
        cr_assert_null(hashmap_get(c, "new"));
        size_t it = 0, seen = 0;
        long sum = 0;
        void *v;
        while (hashmap_next(c, &it, NULL, &v)) {
                seen++;
                sum += (long)v;
        }
        cr_assert_eq(seen, 1000);
        cr_assert_eq(sum, 1000L * 1001 / 2);
        hashmap_destroy(c);
        hashmap_destroy(m);
}

Test(hashmap, borrowed_keys) {
        struct hashmap *m = hashmap_create(0);
        static const char *keys[] = {"x", "y", "z"};
        for (int i = 0; i < 3; i++)
                hashmap_put(m, keys[i], (void *)keys[i], NULL);
        cr_assert_str_eq(hashmap_get(m, "y"), "y");
        hashmap_clear(m);
        cr_assert_eq(hashmap_count(m), 0);
        cr_assert_null(hashmap_get(m, "y"));
        hashmap_destroy(m);
}
