/* test_pmap.c - the persistent map: against a plain hash map as the model, with
 * versions shared and changed independently, forced hash collisions, and the
 * value references balanced at the end. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/ids.h"
#include "common/pmap.h"

/* Values are counted objects so that leaked or doubly dropped references show. */
struct val {
        int refs;
        int n;
};
static int live_vals;

static struct val *val_new(int n) {
        struct val *v = malloc(sizeof(*v));
        v->refs = 1;
        v->n = n;
        live_vals++;
        return v;
}
static void val_ref(void *p) {
        ((struct val *)p)->refs++;
}
static void val_unref(void *p) {
        struct val *v = p;
        if (!v)
                return; /* an entry left empty (pmap_upsert_slot) */
        cr_assert_gt(v->refs, 0, "value dropped once too often");
        if (--v->refs == 0) {
                live_vals--;
                free(v);
        }
}

static uint64_t weak_hash(const char *key) { /* 4 distinct hashes: every level, then collisions */
        return hashmap_hash(key) & 3u;
}

static void setup(void) {
        live_vals = 0;
        pmap_hash = hashmap_hash;
}
static void teardown(void) {
        pmap_hash = hashmap_hash;
}
TestSuite(pmap, .init = setup, .fini = teardown);

struct check {
        const struct hashmap *model;
        size_t seen;
        bool ok;
};
static bool check_entry(void *arg, const char *key, void *value) {
        struct check *c = arg;
        c->seen++;
        if (hashmap_get(c->model, key) != (void *)(intptr_t)((struct val *)value)->n)
                c->ok = false;
        return true;
}

/* The map holds exactly the model's entries (value n stored as the model's value). */
static void expect_same(const struct pmap *m, const struct hashmap *model) {
        cr_assert_eq(m->count, hashmap_count(model));
        struct check c = {.model = model, .ok = true};
        pmap_foreach(m, check_entry, &c);
        cr_assert_eq(c.seen, hashmap_count(model));
        cr_assert(c.ok, "an entry differs from the model");
        size_t it = 0;
        const char *k;
        void *v;
        while (hashmap_next(model, &it, &k, &v)) {
                struct val *got = pmap_get(m, k);
                cr_assert_not_null(got, "%s missing", k);
                cr_assert_eq(got->n, (int)(intptr_t)v, "%s", k);
                /* the lookup with the path given finds the same, and a wrong one nothing */
                uint64_t (*path)(const char *) = m->path ? m->path : pmap_hash;
                cr_assert(pmap_keyed_by(m, path));
                cr_assert_eq(pmap_get_hashed(m, k, path(k)), got, "%s by its path", k);
                uint64_t wrong = path(k) ^ 0x21u; /* another slot at the root */
                struct val *other = pmap_get_hashed(m, k, wrong);
                cr_assert(!other || other == got, "%s: a wrong path found another entry", k);
        }
        cr_assert_null(pmap_get_hashed(m, "absent", (m->path ? m->path : pmap_hash)("absent")));
}

/* Random writes, removals and kept versions over `keys` keys: "key-N", or names[N]
 * when names is not NULL; the map keyed by path (NULL: pmap_hash, set to hash). */
static void random_ops_on(uint64_t (*hash)(const char *), uint64_t (*path)(const char *), char (*names)[ID_BUF],
                          int keys, int ops) {
        pmap_hash = hash;
        struct pmap m;
        pmap_init(&m, val_ref, val_unref);
        pmap_set_path(&m, path);
        struct hashmap *model = hashmap_create(HASHMAP_OWN_KEYS);
        struct pmap versions[8];
        struct hashmap *models[8];
        int nv = 0;
        srand(7);
        for (int i = 0; i < ops; i++) {
                char key[ID_BUF];
                int k = rand() % keys;
                if (names)
                        memcpy(key, names[k], ID_BUF);
                else
                        snprintf(key, sizeof(key), "key-%d", k);
                int op = rand() % 10;
                if (op < 2) { /* the one-walk insert-or-find */
                        int n = rand() % 100000 + 1;
                        void **slot = NULL;
                        int r = pmap_upsert_slot(&m, key, &slot);
                        void *mold = NULL;
                        int mr = hashmap_put(model, key, (void *)(intptr_t)n, &mold);
                        cr_assert_eq(r, mr == 0 ? 1 : 0, "upsert %s: %d vs model %d", key, r, mr);
                        struct val *old = *slot;
                        if (r == 0) {
                                cr_assert_eq(old->n, (int)(intptr_t)mold);
                                val_unref(old);
                        } else {
                                cr_assert_null(old, "a made entry holds NULL");
                        }
                        *slot = val_new(n);
                } else if (op < 6) {
                        int n = rand() % 100000 + 1;
                        struct val *old = NULL;
                        int r = pmap_put(&m, key, val_new(n), (void **)&old);
                        void *mold = NULL;
                        int mr = hashmap_put(model, key, (void *)(intptr_t)n, &mold);
                        cr_assert_eq(r, mr, "put %s: %d vs model %d", key, r, mr);
                        if (r == 1) {
                                cr_assert_eq(old->n, (int)(intptr_t)mold);
                                val_unref(old);
                        }
                } else if (op < 9) {
                        struct val *old = NULL;
                        int r = pmap_remove(&m, key, (void **)&old);
                        void *mold = NULL;
                        int mr = hashmap_remove(model, key, &mold);
                        cr_assert_eq(r, mr, "remove %s", key);
                        if (r == 0) {
                                cr_assert_eq(old->n, (int)(intptr_t)mold);
                                val_unref(old);
                        }
                } else if (nv < 8) { /* keep a version and what it must go on holding */
                        versions[nv] = pmap_share(&m);
                        models[nv] = hashmap_clone(model);
                        nv++;
                }
                if (i % 997 == 0)
                        expect_same(&m, model);
        }
        expect_same(&m, model);
        for (int v = 0; v < nv; v++) {
                expect_same(&versions[v], models[v]); /* later writes did not reach it */
                pmap_release(&versions[v]);
                hashmap_destroy(models[v]);
        }
        expect_same(&m, model);
        pmap_release(&m);
        hashmap_destroy(model);
        cr_expect_eq(live_vals, 0, "%d values leaked", live_vals);
}

static void random_ops(uint64_t (*hash)(const char *), int keys, int ops) {
        random_ops_on(hash, NULL, NULL, keys, ops);
}

Test(pmap, matches_a_hash_map_with_versions_kept) {
        random_ops(hashmap_hash, 3000, 40000);
}

Test(pmap, collisions_on_every_level) {
        random_ops(weak_hash, 200, 6000);
}

/* A map keyed by id_path: sequenced IDs (blocks of 32 sharing trie nodes) and v4 IDs
 * (hashed) side by side, and with a weak pmap_hash the v4 ones collide on every level
 * among the sequenced ones' nodes. */
static void ids_path_ops(uint64_t (*hash)(const char *)) {
        enum { N = 3000 };
        char(*names)[ID_BUF] = malloc(N * sizeof(*names));
        struct id_seq seq;
        id_seq_init(&seq);
        for (int i = 0; i < N; i++)
                if (i % 3 == 2)
                        id_generate(names[i]);
                else
                        id_seq_next(&seq, names[i]);
        random_ops_on(hash, id_path, names, N, 40000);
        free(names);
}

Test(pmap, a_path_of_the_maps_choosing) {
        ids_path_ops(hashmap_hash);
}

Test(pmap, a_path_of_the_maps_choosing_with_collisions) {
        ids_path_ops(weak_hash);
}

/* The path is the map's: a share keeps it, and a map that holds entries keeps its own. */
Test(pmap, set_path_only_on_an_empty_map) {
        struct pmap m;
        pmap_init(&m, val_ref, val_unref);
        pmap_set_path(&m, weak_hash);
        cr_assert_eq(pmap_put(&m, "a", val_new(1), NULL), 0);
        pmap_set_path(&m, hashmap_hash);
        cr_assert_eq(m.path, weak_hash, "a map with entries keeps its path");
        struct pmap s = pmap_share(&m);
        cr_assert_eq(s.path, weak_hash);
        cr_assert_eq(pmap_put(&s, "b", val_new(2), NULL), 0);
        cr_assert_eq(((struct val *)pmap_get(&s, "a"))->n, 1);
        cr_assert_null(pmap_get(&m, "b"));
        pmap_release(&s);
        pmap_release(&m);
        cr_expect_eq(live_vals, 0);
}

/* pmap_keyed_by answers for the map's own path, or pmap_hash when it has none. */
Test(pmap, keyed_by_its_path_or_pmap_hash) {
        struct pmap a, b;
        pmap_init(&a, val_ref, val_unref);
        pmap_init(&b, val_ref, val_unref);
        pmap_set_path(&b, id_path);
        cr_expect(pmap_keyed_by(&a, hashmap_hash));
        cr_expect(!pmap_keyed_by(&a, id_path));
        cr_expect(pmap_keyed_by(&b, id_path));
        cr_expect(!pmap_keyed_by(&b, hashmap_hash));
        pmap_hash = weak_hash;
        cr_expect(!pmap_keyed_by(&a, hashmap_hash), "a map without a path follows pmap_hash");
        cr_expect(pmap_keyed_by(&a, weak_hash));
        pmap_release(&a);
        pmap_release(&b);
}

Test(pmap, share_then_write_both_sides) {
        struct pmap a;
        pmap_init(&a, val_ref, val_unref);
        for (int i = 0; i < 100; i++) {
                char k[16];
                snprintf(k, sizeof(k), "k%d", i);
                cr_assert_eq(pmap_put(&a, k, val_new(i), NULL), 0);
        }
        struct pmap b = pmap_share(&a);
        cr_assert_eq(pmap_put(&a, "k5", val_new(500), NULL), 1);
        cr_assert_eq(pmap_remove(&b, "k6", NULL), 0);
        cr_assert_eq(pmap_remove(&b, "k6", NULL), -ENOENT);
        cr_expect_eq(((struct val *)pmap_get(&a, "k5"))->n, 500);
        cr_expect_eq(((struct val *)pmap_get(&b, "k5"))->n, 5);
        cr_expect_not_null(pmap_get(&a, "k6"));
        cr_expect_null(pmap_get(&b, "k6"));
        cr_expect_eq(a.count, 100);
        cr_expect_eq(b.count, 99);
        pmap_release(&a);
        cr_expect_eq(((struct val *)pmap_get(&b, "k7"))->n, 7, "b lives on after a is gone");
        pmap_release(&b);
        cr_expect_eq(live_vals, 0);
}

Test(pmap, empty_map_and_last_removal) {
        struct pmap m;
        pmap_init(&m, NULL, val_unref);
        cr_expect_null(pmap_get(&m, "x"));
        cr_expect_eq(pmap_remove(&m, "x", NULL), -ENOENT);
        cr_assert_eq(pmap_put(&m, "x", val_new(1), NULL), 0);
        cr_assert_eq(pmap_remove(&m, "x", NULL), 0);
        cr_expect_null(m.root, "emptied map frees its root");
        cr_expect_eq(m.count, 0);
        pmap_release(&m);
        cr_expect_eq(live_vals, 0);
}

Test(pmap, get_mut_separates_the_entry_from_other_versions) {
        for (int round = 0; round < 2; round++) {
                pmap_hash = round ? weak_hash : hashmap_hash;
                struct pmap a;
                pmap_init(&a, val_ref, val_unref);
                for (int i = 0; i < 50; i++) {
                        char k[16];
                        snprintf(k, sizeof(k), "k%d", i);
                        cr_assert_eq(pmap_put(&a, k, val_new(i), NULL), 0);
                }
                struct pmap b = pmap_share(&a);
                void **slot;
                cr_assert_eq(pmap_get_mut(&a, "k9", &slot), 0);
                struct val *v = *slot;
                cr_expect_eq(v->refs, 2, "the value is shared by a's new leaf and b's old one");
                *slot = val_new(900); /* the slot's reference moves to the new value */
                val_unref(v);
                cr_expect_eq(((struct val *)pmap_get(&a, "k9"))->n, 900);
                cr_expect_eq(((struct val *)pmap_get(&b, "k9"))->n, 9);
                cr_assert_eq(pmap_get_mut(&a, "k9", &slot), 0);
                cr_expect_eq(((struct val *)*slot)->refs, 1, "now a's alone: no copy");
                cr_expect_eq(pmap_get_mut(&a, "nope", &slot), -ENOENT);
                pmap_release(&a);
                pmap_release(&b);
                cr_expect_eq(live_vals, 0, "round %d: %d values leaked", round, live_vals);
        }
}

Test(pmap, upsert_slot_finds_or_makes_in_one_version) {
        for (int round = 0; round < 2; round++) {
                pmap_hash = round ? weak_hash : hashmap_hash;
                struct pmap a;
                pmap_init(&a, val_ref, val_unref);
                void **slot;
                cr_assert_eq(pmap_upsert_slot(&a, "first", &slot), 1, "an empty map gets its root");
                *slot = val_new(1);
                for (int i = 0; i < 50; i++) {
                        char k[16];
                        snprintf(k, sizeof(k), "k%d", i);
                        cr_assert_eq(pmap_put(&a, k, val_new(i), NULL), 0);
                }
                struct pmap b = pmap_share(&a);
                cr_assert_eq(pmap_upsert_slot(&a, "k9", &slot), 0);
                struct val *v = *slot;
                cr_expect_eq(v->n, 9);
                cr_expect_eq(v->refs, 2, "the value is shared by a's new leaf and b's old one");
                *slot = val_new(900);
                val_unref(v);
                cr_assert_eq(pmap_upsert_slot(&a, "new", &slot), 1);
                cr_expect_null(*slot);
                *slot = val_new(77);
                cr_expect_eq(a.count, 52);
                cr_expect_eq(b.count, 51);
                cr_expect_eq(((struct val *)pmap_get(&a, "k9"))->n, 900);
                cr_expect_eq(((struct val *)pmap_get(&b, "k9"))->n, 9);
                cr_expect_eq(((struct val *)pmap_get(&a, "new"))->n, 77);
                cr_expect_null(pmap_get(&b, "new"), "the other version does not see the new key");
                cr_assert_eq(pmap_upsert_slot(&a, "new", &slot), 0);
                cr_expect_eq(((struct val *)*slot)->refs, 1, "a's alone: no copy");
                cr_assert_eq(pmap_upsert_slot(&b, "gone", &slot), 1);
                cr_assert_eq(pmap_remove(&b, "gone", NULL), 0, "an entry left empty is removed again");
                cr_expect_eq(b.count, 51);
                pmap_release(&a);
                pmap_release(&b);
                cr_expect_eq(live_vals, 0, "round %d: %d values leaked", round, live_vals);
        }
}
