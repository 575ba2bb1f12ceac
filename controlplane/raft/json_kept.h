/* json_kept.h - the leader's own JSON commands, kept for its FSM's apply.
 *
 * A JSON command (a job registration, an eval update, a node's heartbeat) is built
 * as a jansson object, dumped into the Raft entry, and, once committed, parsed back
 * from those bytes by every server's FSM, on the event loop: ~42 us for a job
 * registration (1.8 KB; jansson's parser), the largest part of its apply. The
 * leader built the object it dumped: it keeps it here, with a copy of the bytes,
 * and its FSM applies that object when it applies a part with exactly the same
 * bytes (json_kept_take compares them). json_loads(json_dumps(o)) is o for every
 * value jansson holds (integers, reals printed with 17 digits, strings, objects in
 * their order), so the leader applies what the followers parse; an entry that is
 * not its own (another leader's, after an election) never matches and is parsed.
 *
 * Whoever proposes a command hands its object over for good: neither it nor
 * anything in it may change afterwards (server_propose takes cmd).
 *
 * Loop thread only. Bounded: at most JSON_KEPT_MAX objects and JSON_KEPT_MAX_BYTES
 * of their bytes; the oldest are dropped first. The FSM applies in log order, so a
 * take finds its part at the head or just after it (parts of proposals that failed
 * before it): it looks at JSON_KEPT_SCAN at most, and drops what it passed. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#define JSON_KEPT_MAX 4096
#define JSON_KEPT_MAX_BYTES (16u << 20)
#define JSON_KEPT_SCAN 64

struct json_kept;

struct json_kept *json_kept_create(void);
/* NULL ok; returns NULL. */
struct json_kept *json_kept_destroy(struct json_kept *k);

/* Keep obj (a reference taken, released on every path) for the part whose bytes
 * are buf (taken: malloc'd, freed on every path), in the order proposed. k NULL:
 * both released. */
void json_kept_put(struct json_kept *k, void *buf, size_t len, json_t *obj);

/* The object kept with exactly these bytes (a new reference), or NULL: none within
 * the first JSON_KEPT_SCAN kept. Those kept before it are dropped. */
json_t *json_kept_take(struct json_kept *k, const void *buf, size_t len);

/* Forget everything (this server is no longer the leader). */
void json_kept_clear(struct json_kept *k);

size_t json_kept_count(const struct json_kept *k);
