/* pmap.h - persistent (structurally shared) string-keyed map of void *.
 *
 * A hash array mapped trie: 32-way nodes indexed by 5 bits of the key's 64-bit
 * hash (or of a path of the map's choosing, pmap_set_path), reference counted.
 * pmap_share() is O(1): the copy and the original share every node, and a later
 * write to either copies only the nodes on its path (O(log32 n)), so a snapshot
 * taken per scheduler eval costs nothing however big the table is. Nodes that only one version reaches are updated in place.
 *
 * Each entry lives in a small reference-counted leaf that owns a copy of the key
 * and the map's one reference on the value: when the last version holding a leaf
 * lets go of it, the map calls `unref_value` (given at pmap_init) on the value.
 *
 * A map version may be read from any number of threads at once; writes to one
 * version need the caller's exclusion, and must not race with pmap_share() of
 * that same version. Reference counts are atomic, so versions shared between
 * threads can be released anywhere.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pmap_node;

struct pmap {
        struct pmap_node *root; /* NULL when empty */
        size_t count;
        void (*ref_value)(void *value);   /* may be NULL (values not counted) */
        void (*unref_value)(void *value); /* may be NULL */
        uint64_t (*path)(const char *key); /* NULL: pmap_hash (see pmap_set_path) */
};

void pmap_init(struct pmap *m, void (*ref_value)(void *value), void (*unref_value)(void *value));
/* Key the trie of an empty map by path(key) instead of pmap_hash(key) (ignored once
 * the map holds entries): 64 bits consumed 5 at a time from the lowest, the root's
 * slot first. Keys whose paths share their low bits share trie nodes, so a path that
 * gives keys written together equal low bits (id_path: the IDs of one scheduler
 * eval) makes a write copy fewer nodes; a path must still spread the keys it is
 * given over those bits, or the trie grows deep. Shares keep it. */
void pmap_set_path(struct pmap *m, uint64_t (*path)(const char *key));
/* Another version with the same content (O(1)). */
struct pmap pmap_share(const struct pmap *m);
/* Let go of this version; leaves no other version holds are freed. */
void pmap_release(struct pmap *m);

/* The value, or NULL when absent. */
void *pmap_get(const struct pmap *m, const char *key);
/* The same for a caller that already has the key's path in this map (hash: what
 * pmap_keyed_by(m, f) says f gives, computed once and kept, e.g. per scheduler
 * candidate): no hashing. A wrong hash finds nothing (never a wrong entry). */
void *pmap_get_hashed(const struct pmap *m, const char *key, uint64_t hash);
/* Insert or replace. The map takes over the caller's reference on value. Returns
 * 0 when inserted, 1 when it replaced, -ENOMEM (nothing changed; the caller keeps
 * its reference). A replaced value goes to *ret_old with a reference of its own
 * (ref_value), when ret_old is not NULL. */
int pmap_put(struct pmap *m, const char *key, void *value, void **ret_old);
/* Remove: 0 (the old value to *ret_old with a reference of its own, when ret_old
 * is not NULL), -ENOENT, or -ENOMEM (nothing changed). */
int pmap_remove(struct pmap *m, const char *key, void **ret_old);

/* For values that are changed in place: make the entry of key belong to this
 * version alone (copying the nodes and the leaf that other versions share; a
 * copied leaf takes a reference of its own on the value, ref_value) and give the
 * address of its value slot, which the caller may read and overwrite (the slot
 * owns one reference). 0, -ENOENT, or -ENOMEM (nothing changed). The value
 * itself may still be shared: its own reference count says so. */
int pmap_get_mut(struct pmap *m, const char *key, void ***ret_slot);

/* As pmap_get_mut, and a key not found gets a new entry holding NULL (one walk of the
 * trie where a lookup and then an insert take two): 0 found, 1 made (the caller stores
 * its value, with the map's one reference, in *ret_slot, or removes the key again;
 * unref_value must accept NULL if the entry is let go of while empty), -ENOMEM
 * (nothing changed). */
int pmap_upsert_slot(struct pmap *m, const char *key, void ***ret_slot);

/* Visit every entry in hash order until cb returns false. */
void pmap_foreach(const struct pmap *m, bool (*cb)(void *arg, const char *key, void *value), void *arg);

/* The key hash (hashmap_hash). Tests swap it for a weak one to force collisions;
 * change it only while no map holds entries. */
extern uint64_t (*pmap_hash)(const char *key);

/* Is this map's trie keyed by hash(key): its path (pmap_set_path), or pmap_hash when it
 * has none? A caller of pmap_get_hashed checks it (inline: two loads and a compare) and
 * hashes as pmap_get does where it is not. */
static inline bool pmap_keyed_by(const struct pmap *m, uint64_t (*hash)(const char *key)) {
        return (m->path ? m->path : pmap_hash) == hash;
}
