/* plan_predecode.h - the leader's own plan results, decoded on libuv's pool while
 * their Raft entry commits, and a follower's, while its committed entries wait for
 * their (deferred) apply, so that the FSM applies them without decoding them on the
 * loop.
 *
 * Every server applies a plan entry by decoding its compact result (plan/codec.h)
 * and writing it into the state store, on the event loop: for a plan of 500
 * allocations milliseconds, during which the leader answers nothing and drives no
 * Raft I/O, so that small commands committed behind it (job registrations) wait for
 * it. The leader knows each plan's bytes when it proposes them: it hands them
 * here (the applier's buffer, once copied into the entry), a pool thread decodes it during the fsync and the followers' round trip,
 * and the FSM takes the decoded result when it applies a part with exactly those
 * bytes (plan_predecode_take compares them), then writes it into the state as it
 * would write its own decoding. The result is the decoding of the same bytes, by
 * the same function, so every server still applies the same thing. A decoding no
 * pool thread has begun by the apply is cancelled, and the FSM decodes the part
 * itself, as without this module; one a pool thread is doing is waited for
 * (decoding the same bytes again on the loop would hold the loop longer, beside
 * that thread).
 *
 * Loop thread only, except the decoding itself. Bounded: at most
 * PLAN_PREDECODE_MAX results held or in flight; the oldest is dropped for a new one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct plan_predecode;
struct plan_result;
typedef struct uv_loop_s uv_loop_t;

#define PLAN_PREDECODE_MAX 32

struct plan_predecode *plan_predecode_create(uv_loop_t *loop);
/* Frees the results held; decodings still on the pool free themselves when they
 * come back (the loop must run until then, as it does for any uv_work_t). NULL ok;
 * returns NULL. */
struct plan_predecode *plan_predecode_destroy(struct plan_predecode *pp);

/* Queue a copy of buf (an encoded plan result, as proposed) for decoding on the
 * pool. 0, or -ENOMEM, or libuv's error when the work cannot be queued (nothing
 * held then); pp NULL (destroyed at the server's stop): -EINVAL. */
int plan_predecode_start(struct plan_predecode *pp, const void *buf, size_t len);
/* The same without the copy: buf (malloc'd) is taken, freed on every failure too (the
 * leader hands over the buffer its applier encoded, once it is in the entry). */
int plan_predecode_start_owned(struct plan_predecode *pp, void *buf, size_t len);

/* The same with the result already decoded from buf (both taken, freed on every
 * failure too): the plan applier decodes what it encoded on the pool thread that
 * encoded it, sparing a second task (a wakeup each way) per plan. */
int plan_predecode_put(struct plan_predecode *pp, void *buf, size_t len, struct plan_result *res);

/* The result decoded from exactly these bytes, the caller's to free
 * (plan_result_free); NULL when none was queued with them, its decoding failed, or no
 * pool thread had begun it (then cancelled). A decoding under way on the pool is
 * waited for (the loop blocks until that thread is done). Results
 * queued before the one returned are dropped: they were proposed before it, so
 * their entries would have been applied before it (or never, their proposals
 * having failed). pp NULL: NULL. Cost: a comparison of the bytes with each held
 * copy of the same length, at most PLAN_PREDECODE_MAX. */
struct plan_result *plan_predecode_take(struct plan_predecode *pp, const void *buf, size_t len);

/* false while a decoding of exactly these bytes is queued or under way on the pool;
 * true when it is done or none was queued. Same cost as plan_predecode_take. */
bool plan_predecode_ready(struct plan_predecode *pp, const void *buf, size_t len);

/* Results held or on the pool (tests). */
size_t plan_predecode_count(const struct plan_predecode *pp);
