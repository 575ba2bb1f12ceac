/* test_broker.c - the eval broker and blocked evals, driven by a fake clock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/model.h"
#include "controlplane/broker/bheap.h"
#include "controlplane/broker/blocked.h"
#include "controlplane/broker/broker.h"

#define S NS_PER_SEC
#define WALL_OFFSET (INT64_C(1700000000) * S)

/* Monotonic time starts at 1000 s; wall time is a fixed offset from it. */
static int64_t fake_mono;
static int64_t fake_mono_ns(void *data) {
        return fake_mono;
}
static int64_t fake_wall_ns(void *data) {
        return fake_mono + WALL_OFFSET;
}
static const struct clock_ops fake_clock = {.now_ns = fake_wall_ns, .monotonic_ns = fake_mono_ns};

static struct broker *b;
static struct blocked_evals *bl;

static void setup(void) {
        fake_mono = 1000 * S;
        b = broker_create(&fake_clock, NULL);
        cr_assert_not_null(b);
        broker_set_enabled(b, true);
        bl = blocked_create(b);
        cr_assert_not_null(bl);
        blocked_set_enabled(bl, true);
}

static void teardown(void) {
        bl = blocked_destroy(bl);
        b = broker_destroy(b);
}

static struct eval *mk(const char *id, const char *job, enum job_type type, int prio, uint64_t index) {
        struct eval *e = eval_new();
        e->id = strdup(id);
        e->namespace = strdup("default");
        e->job_id = strdup(job);
        e->type = type;
        e->priority = prio;
        e->status = EVAL_PENDING;
        e->create_index = e->modify_index = index;
        return e;
}

/* Enqueue a new eval and drop the test's reference (the broker keeps its own). */
static void put(const char *id, const char *job, enum job_type type, int prio, uint64_t index) {
        struct eval *e = mk(id, job, type, prio, index);
        cr_assert_eq(broker_enqueue(b, e), 0, "enqueue %s", id);
        eval_unref(e);
}

static const enum job_type all_types[] = {JOB_SERVICE, JOB_BATCH, JOB_SYSTEM, JOB_SYSBATCH};

/* Dequeue from all types; returns the eval id (static buffer) or NULL for -EAGAIN.
 * The token is copied into tok when given. */
static const char *take(char *tok) {
        static char id[64];
        struct eval *e = NULL;
        char *t = NULL;
        int r = broker_dequeue(b, all_types, 4, &e, &t);
        if (r == -EAGAIN)
                return NULL;
        cr_assert_eq(r, 0, "dequeue: %d", r);
        snprintf(id, sizeof(id), "%s", e->id);
        if (tok)
                strcpy(tok, t);
        eval_unref(e);
        free(t);
        return id;
}

static void take_ack(const char *want) {
        char tok[64];
        const char *id = take(tok);
        cr_assert_not_null(id, "expected %s, nothing ready", want);
        cr_assert_str_eq(id, want);
        cr_assert_eq(broker_ack(b, want, tok), 0);
}

static void free_evals(struct eval **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                eval_unref(v[i]);
        free(v);
}

TestSuite(broker, .init = setup, .fini = teardown);

/* ---- ordering ------------------------------------------------------------------------- */

Test(broker, higher_priority_first_fifo_within) {
        put("e1", "j1", JOB_SERVICE, 50, 10);
        put("e2", "j2", JOB_SERVICE, 70, 11);
        put("e3", "j3", JOB_SERVICE, 50, 9);
        put("e4", "j4", JOB_BATCH, 70, 12);
        put("e5", "j5", JOB_SERVICE, 50, 9); /* same index as e3: enqueue order */
        take_ack("e2");
        take_ack("e4");
        take_ack("e3");
        take_ack("e5");
        take_ack("e1");
        cr_assert_null(take(NULL), "queue should be empty");
}

Test(broker, many_evals_come_out_in_priority_order) {
        char id[32], job[32];
        for (int i = 0; i < 500; i++) {
                snprintf(id, sizeof(id), "e%d", i);
                snprintf(job, sizeof(job), "j%d", i);
                put(id, job, i % 2 ? JOB_SERVICE : JOB_BATCH, (i * 37) % 100, (uint64_t)(1000 - i));
        }
        int last_prio = 101;
        uint64_t last_index = 0;
        for (int i = 0; i < 500; i++) {
                struct eval *e;
                char *t;
                cr_assert_eq(broker_dequeue(b, all_types, 4, &e, &t), 0);
                cr_assert(e->priority < last_prio || (e->priority == last_prio && e->create_index > last_index),
                          "eval %s (prio %d, index %llu) out of order", e->id, e->priority,
                          (unsigned long long)e->create_index);
                last_prio = e->priority;
                last_index = e->create_index;
                cr_assert_eq(broker_ack(b, e->id, t), 0);
                eval_unref(e);
                free(t);
        }
}

Test(broker, dequeue_reads_only_the_requested_types) {
        put("svc", "j1", JOB_SERVICE, 50, 1);
        put("bat", "j2", JOB_BATCH, 90, 2);
        struct eval *e;
        char *t;
        enum job_type sys = JOB_SYSTEM;
        cr_assert_eq(broker_dequeue(b, &sys, 1, &e, &t), -EAGAIN);
        enum job_type svc = JOB_SERVICE;
        cr_assert_eq(broker_dequeue(b, &svc, 1, &e, &t), 0);
        cr_assert_str_eq(e->id, "svc", "a service worker got a batch eval");
        eval_unref(e);
        free(t);
        cr_assert_eq(broker_dequeue(b, &svc, 1, &e, &t), -EAGAIN);
        struct broker_stats st;
        broker_stats(b, &st);
        cr_assert_eq(st.by_type[JOB_BATCH].ready, 1);
        cr_assert_eq(st.by_type[JOB_SERVICE].unacked, 1);
        cr_assert_eq(st.total_ready, 1);
        cr_assert_eq(st.total_unacked, 1);
        enum job_type bad = JOB_TYPE_MAX;
        cr_assert_eq(broker_dequeue(b, &bad, 1, &e, &t), -EINVAL);
        cr_assert_eq(broker_dequeue(b, all_types, 0, &e, &t), -EINVAL);
}

Test(broker, same_eval_enqueued_twice_is_handed_out_once) {
        struct eval *e = mk("e1", "j1", JOB_SERVICE, 50, 1);
        cr_assert_eq(broker_enqueue(b, e), 0);
        cr_assert_eq(broker_enqueue(b, e), 0);
        char tok[64];
        cr_assert_str_eq(take(tok), "e1");
        cr_assert_eq(broker_enqueue(b, e), 0, "re-enqueue while outstanding");
        cr_assert_null(take(NULL));
        cr_assert_eq(broker_ack(b, "e1", tok), 0);
        cr_assert_null(take(NULL), "an acked eval came back");
        cr_assert_eq(e->refcount, 1, "broker leaked a reference");
        eval_unref(e);
}

Test(broker, bad_evals_are_refused) {
        struct eval *e = eval_new();
        cr_assert_eq(broker_enqueue(b, e), -EINVAL, "no id");
        e->id = strdup("x");
        e->type = JOB_TYPE_MAX;
        cr_assert_eq(broker_enqueue(b, e), -EINVAL, "bad type");
        eval_unref(e);
}

/* ---- per-job serialisation ------------------------------------------------------------- */

Test(broker, one_eval_per_job_and_older_pending_are_cancelable) {
        put("a1", "A", JOB_SERVICE, 50, 10);
        put("a2", "A", JOB_SERVICE, 50, 11);
        put("a3", "A", JOB_SERVICE, 50, 12);
        put("b1", "B", JOB_SERVICE, 10, 13);
        char tok[64];
        cr_assert_str_eq(take(tok), "a1");
        cr_assert_str_eq(take(NULL), "b1", "pending evals of job A were handed out while a1 is unacked");
        cr_assert_null(take(NULL));
        struct broker_stats st;
        broker_stats(b, &st);
        cr_assert_eq(st.total_pending, 2);
        cr_assert_eq(st.by_type[JOB_SERVICE].pending, 2);

        struct eval **v;
        cr_assert_eq(broker_drain_cancelable(b, &v), 0);
        cr_assert_null(v);
        cr_assert_eq(broker_ack(b, "a1", tok), 0);
        /* The newest pending eval runs; the older one is superseded. */
        cr_assert_eq(broker_drain_cancelable(b, &v), 1);
        cr_assert_str_eq(v[0]->id, "a2");
        free_evals(v, 1);
        broker_stats(b, &st);
        cr_assert_eq(st.total_pending, 0);
        cr_assert_eq(st.total_ready, 1);
        cr_assert_eq(st.total_cancelable, 0, "drained");
        take_ack("a3");
        cr_assert_null(take(NULL));
}

Test(broker, nacked_eval_keeps_its_job) {
        put("a1", "A", JOB_SERVICE, 50, 10);
        char tok[64];
        cr_assert_str_eq(take(tok), "a1");
        put("a2", "A", JOB_SERVICE, 50, 11);
        cr_assert_eq(broker_nack(b, "a1", tok), 0);
        fake_mono += 1 * S;
        broker_tick(b);
        /* a1 comes back before a2 may run. */
        take_ack("a1");
        take_ack("a2");
}

Test(broker, same_job_in_other_namespace_is_independent) {
        struct eval *e = mk("x1", "web", JOB_SERVICE, 50, 1);
        free(e->namespace);
        e->namespace = strdup("prod");
        broker_enqueue(b, e);
        eval_unref(e);
        put("x2", "web", JOB_SERVICE, 50, 2);
        cr_assert_not_null(take(NULL));
        cr_assert_not_null(take(NULL), "namespaces share a job slot");
}

/* ---- ack / nack / tokens ----------------------------------------------------------------- */

Test(broker, ack_and_nack_check_the_token) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        char tok[64];
        cr_assert_str_eq(take(tok), "e1");
        cr_assert_str_eq(broker_outstanding_token(b, "e1"), tok);
        cr_assert_eq(broker_ack(b, "e1", "not-the-token"), -EPERM);
        cr_assert_eq(broker_nack(b, "e1", "not-the-token"), -EPERM);
        cr_assert_eq(broker_ack(b, "e1", NULL), -EPERM);
        cr_assert_eq(broker_outstanding_reset(b, "e1", "nope"), -EPERM);
        cr_assert_eq(broker_ack(b, "nope", tok), -ENOENT);
        cr_assert_eq(broker_ack(b, NULL, tok), -ENOENT);
        cr_assert_eq(broker_ack(b, "e1", tok), 0);
        cr_assert_eq(broker_ack(b, "e1", tok), -ENOENT, "acked twice");
        cr_assert_eq(broker_nack(b, "e1", tok), -ENOENT);
        cr_assert_null(broker_outstanding_token(b, "e1"));
}

Test(broker, ready_eval_cannot_be_acked) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        cr_assert_eq(broker_ack(b, "e1", ""), -ENOENT);
}

Test(broker, each_dequeue_gets_a_fresh_token) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        char t1[64], t2[64];
        take(t1);
        cr_assert_eq(broker_nack(b, "e1", t1), 0);
        fake_mono += 1 * S;
        broker_tick(b);
        cr_assert_str_eq(take(t2), "e1");
        cr_assert_str_neq(t1, t2);
        cr_assert_eq(broker_ack(b, "e1", t1), -EPERM, "a stale token acked the eval");
        cr_assert_eq(broker_ack(b, "e1", t2), 0);
}

Test(broker, nack_delays_then_failed_queue) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        put("e2", "j1", JOB_SERVICE, 50, 2); /* pending behind e1 */
        char tok[64];
        struct broker_stats st;

        cr_assert_str_eq(take(tok), "e1");
        cr_assert_eq(broker_nack(b, "e1", tok), 0);
        /* First nack: 1 s. */
        broker_stats(b, &st);
        cr_assert_eq(st.total_waiting, 1);
        cr_assert_eq(broker_next_timeout_ns(b), 1 * S);
        fake_mono += 1 * S - 1;
        cr_assert_eq(broker_tick(b), 0);
        cr_assert_null(take(NULL), "re-enqueued before its nack delay");
        fake_mono += 1;
        cr_assert_eq(broker_tick(b), 1);

        cr_assert_str_eq(take(tok), "e1");
        cr_assert_eq(broker_nack(b, "e1", tok), 0);
        /* Second nack: (2-1) x 20 s. */
        cr_assert_eq(broker_next_timeout_ns(b), 20 * S);
        fake_mono += 19 * S;
        broker_tick(b);
        cr_assert_null(take(NULL));
        fake_mono += 1 * S;
        broker_tick(b);

        cr_assert_str_eq(take(tok), "e1");
        cr_assert_eq(broker_nack(b, "e1", tok), 0);
        /* Third dequeue reached the delivery limit. */
        broker_stats(b, &st);
        cr_assert_eq(st.total_failed, 1);
        cr_assert_eq(st.total_waiting, 0);
        cr_assert_eq(broker_next_timeout_ns(b), -1);
        cr_assert_null(take(NULL), "a failed eval was handed out, or its job was freed early");

        struct eval **v;
        cr_assert_eq(broker_drain_failed(b, &v), 1);
        cr_assert_str_eq(v[0]->id, "e1");
        free_evals(v, 1);
        cr_assert_eq(broker_drain_failed(b, &v), 0);
        cr_assert_null(v);
        /* Draining frees the job like an ack. */
        take_ack("e2");
}

Test(broker, custom_delivery_limit_and_delays) {
        struct broker_config c = broker_config_default();
        c.delivery_limit = 1;
        struct broker *b1 = broker_create(&fake_clock, &c);
        broker_set_enabled(b1, true);
        struct eval *e = mk("e1", "j1", JOB_BATCH, 50, 1);
        broker_enqueue(b1, e);
        eval_unref(e);
        char *t;
        cr_assert_eq(broker_dequeue(b1, all_types, 4, &e, &t), 0);
        cr_assert_eq(broker_nack(b1, e->id, t), 0);
        eval_unref(e);
        free(t);
        struct eval **v;
        cr_assert_eq(broker_drain_failed(b1, &v), 1);
        free_evals(v, 1);
        broker_destroy(b1);

        c = broker_config_default();
        c.delivery_limit = 0;
        cr_assert_null(broker_create(&fake_clock, &c), "delivery limit 0 accepted");
        c = broker_config_default();
        c.nack_timeout_ns = 0;
        cr_assert_null(broker_create(&fake_clock, &c), "nack timeout 0 accepted");
        cr_assert_null(broker_create(NULL, NULL));
}

Test(broker, nack_timeout_and_outstanding_reset) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        char tok[64];
        cr_assert_str_eq(take(tok), "e1");
        cr_assert_eq(broker_next_timeout_ns(b), 60 * S);
        fake_mono += 59 * S;
        cr_assert_eq(broker_tick(b), 0);
        cr_assert_eq(broker_outstanding_reset(b, "e1", tok), 0);
        fake_mono += 59 * S; /* 118 s after the dequeue, 59 s after the reset */
        cr_assert_eq(broker_tick(b), 0);
        cr_assert_str_eq(broker_outstanding_token(b, "e1"), tok, "reset did not extend the timer");
        fake_mono += 1 * S;
        cr_assert_eq(broker_tick(b), 1);
        cr_assert_null(broker_outstanding_token(b, "e1"), "nack timeout did not fire");
        cr_assert_eq(broker_ack(b, "e1", tok), -ENOENT, "a timed-out eval was acked");
        /* A timeout counts as a nack: back after 1 s. */
        cr_assert_null(take(NULL));
        fake_mono += 1 * S;
        broker_tick(b);
        take_ack("e1");
}

/* A worker whose eval timed out and went to another worker may no longer write
 * it: the check its eval updates and creates (and its plans) go through. */
Test(broker, redelivered_eval_refuses_the_first_workers_token) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        char t1[64], t2[64];
        cr_assert_str_eq(take(t1), "e1"); /* worker 1 */
        cr_assert_eq(broker_check_token(b, "e1", t1), 0, "the holder's update was refused");
        fake_mono += 60 * S; /* nack timeout: worker 1 is too slow */
        cr_assert_eq(broker_tick(b), 1);
        cr_assert_eq(broker_check_token(b, "e1", t1), -ENOENT, "an update accepted while nobody holds the eval");
        fake_mono += 1 * S; /* the first nack's re-enqueue delay */
        broker_tick(b);
        cr_assert_str_eq(take(t2), "e1"); /* worker 2 */
        cr_assert_eq(broker_check_token(b, "e1", t1), -EPERM, "worker 1's stale update was accepted");
        cr_assert_eq(broker_check_token(b, "e1", t2), 0, "worker 2's update was refused");
        cr_assert_eq(broker_check_token(b, "e1", NULL), -EPERM);
        cr_assert_eq(broker_check_token(b, "e2", t2), -ENOENT, "a token accepted for another eval");
        cr_assert_eq(broker_check_token(b, NULL, t2), -ENOENT);
        cr_assert_eq(broker_ack(b, "e1", t2), 0);
        cr_assert_eq(broker_check_token(b, "e1", t2), -ENOENT, "an update accepted after the ack");
}

Test(broker, paused_nack_timer_does_not_fire) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        char tok[64];
        take(tok);
        cr_assert_eq(broker_pause_nack_timeout(b, "e1", tok), 0);
        cr_assert_eq(broker_next_timeout_ns(b), -1);
        fake_mono += 600 * S;
        cr_assert_eq(broker_tick(b), 0);
        cr_assert_eq(broker_resume_nack_timeout(b, "e1", tok), 0);
        cr_assert_eq(broker_next_timeout_ns(b), 60 * S, "resume restarts the full timeout");
        fake_mono += 60 * S;
        cr_assert_eq(broker_tick(b), 1);
        cr_assert_eq(broker_pause_nack_timeout(b, "e1", tok), -ENOENT);
}

/* ---- delayed evals ---------------------------------------------------------------------------- */

Test(broker, delayed_eval_is_released_at_its_time) {
        struct eval *e = mk("later", "j1", JOB_SERVICE, 90, 1);
        e->wait_until = fake_wall_ns(NULL) + 5 * S;
        cr_assert_eq(broker_enqueue(b, e), 0);
        eval_unref(e);
        put("now", "j2", JOB_SERVICE, 10, 2);
        struct broker_stats st;
        broker_stats(b, &st);
        cr_assert_eq(st.total_delayed, 1);
        cr_assert_eq(st.by_type[JOB_SERVICE].delayed, 1);
        cr_assert_eq(broker_next_timeout_ns(b), 5 * S);
        take_ack("now");
        cr_assert_null(take(NULL), "a delayed eval was handed out early");
        fake_mono += 4 * S;
        cr_assert_eq(broker_tick(b), 0);
        cr_assert_eq(broker_next_timeout_ns(b), 1 * S);
        fake_mono += 2 * S;
        cr_assert_eq(broker_next_timeout_ns(b), 0);
        cr_assert_eq(broker_tick(b), 1);
        take_ack("later");
}

Test(broker, past_wait_until_is_ready_now) {
        struct eval *e = mk("e1", "j1", JOB_SERVICE, 50, 1);
        e->wait_until = fake_wall_ns(NULL) - 5 * S;
        broker_enqueue(b, e);
        eval_unref(e);
        take_ack("e1");
}

Test(broker, released_delayed_eval_waits_for_its_job) {
        struct eval *e = mk("d", "A", JOB_SERVICE, 50, 5);
        e->wait_until = fake_wall_ns(NULL) + 1 * S;
        broker_enqueue(b, e);
        eval_unref(e);
        put("a", "A", JOB_SERVICE, 50, 1);
        char tok[64];
        cr_assert_str_eq(take(tok), "a");
        fake_mono += 1 * S;
        broker_tick(b);
        cr_assert_null(take(NULL), "two evals of one job outstanding");
        cr_assert_eq(broker_ack(b, "a", tok), 0);
        take_ack("d");
}

/* ---- enable / disable -------------------------------------------------------------------------- */

Test(broker, disabled_broker_drops_and_refuses) {
        struct broker *b1 = broker_create(&fake_clock, NULL);
        cr_assert_not(broker_enabled(b1), "a new broker is enabled");
        struct eval *e = mk("e1", "j1", JOB_SERVICE, 50, 1);
        cr_assert_eq(broker_enqueue(b1, e), -ENOTCONN);
        struct eval *out;
        char *t;
        cr_assert_eq(broker_dequeue(b1, all_types, 4, &out, &t), -ENOTCONN);
        broker_destroy(b1);

        /* Losing leadership flushes everything. */
        cr_assert_eq(broker_enqueue(b, e), 0);
        put("e2", "j2", JOB_SERVICE, 50, 2);
        char tok[64];
        take(tok);
        broker_set_enabled(b, false);
        struct broker_stats st;
        broker_stats(b, &st);
        cr_assert_eq(st.total_ready + st.total_unacked, 0);
        cr_assert_eq(e->refcount, 1, "flush kept a reference");
        cr_assert_eq(broker_tick(b), 0);
        cr_assert_eq(broker_next_timeout_ns(b), -1);
        broker_set_enabled(b, true);
        cr_assert_null(take(NULL), "evals survived a disable");
        cr_assert_eq(broker_ack(b, "e1", tok), -ENOENT);
        cr_assert_eq(broker_ack(b, "e2", tok), -ENOENT);
        eval_unref(e);
}

/* ---- reblock while outstanding ------------------------------------------------------------------- */

Test(broker, requeue_with_token_runs_again_after_ack) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        char tok[64];
        take(tok);
        struct eval *again = mk("e1", "j1", JOB_SERVICE, 50, 1);
        cr_assert_eq(broker_enqueue_token(b, again, "other-token"), 0);
        cr_assert_eq(broker_enqueue_token(b, again, tok), 0);
        cr_assert_null(take(NULL), "requeued while outstanding");
        cr_assert_eq(broker_ack(b, "e1", tok), 0);
        take_ack("e1");
        cr_assert_null(take(NULL), "the wrong token also requeued");
        eval_unref(again);
}

Test(broker, requeue_is_dropped_on_nack) {
        put("e1", "j1", JOB_SERVICE, 50, 1);
        char tok[64];
        take(tok);
        struct eval *again = mk("e1", "j1", JOB_SERVICE, 50, 1);
        broker_enqueue_token(b, again, tok);
        eval_unref(again);
        cr_assert_eq(broker_nack(b, "e1", tok), 0);
        fake_mono += 1 * S;
        broker_tick(b);
        take_ack("e1");
        cr_assert_null(take(NULL));
}

/* ---- blocked evals ----------------------------------------------------------------------------------- */

static struct eval *mk_blocked(const char *id, const char *job, uint64_t index, const char *elig_json, bool escaped) {
        struct eval *e = mk(id, job, JOB_SERVICE, 50, index);
        e->status = EVAL_BLOCKED;
        e->snapshot_index = index;
        if (elig_json)
                e->class_eligibility = json_loads(elig_json, 0, NULL);
        e->escaped_computed_class = escaped;
        return e;
}

static int block(const char *id, const char *job, uint64_t index, const char *elig_json, bool escaped) {
        struct eval *e = mk_blocked(id, job, index, elig_json, escaped);
        int r = blocked_block(bl, e);
        eval_unref(e);
        return r;
}

Test(broker, blocked_unblock_by_class) {
        cr_assert_eq(block("elig", "j1", 10, "{\"v1:a\": true, \"v1:b\": false}", false), BLOCKED_TRACKED);
        cr_assert_eq(block("inelig", "j2", 10, "{\"v1:a\": false}", false), BLOCKED_TRACKED);
        cr_assert_eq(block("unseen", "j3", 10, "{\"v1:b\": true}", false), BLOCKED_TRACKED);
        cr_assert_eq(block("escaped", "j4", 10, "{\"v1:a\": false}", true), BLOCKED_TRACKED);
        struct blocked_stats st;
        blocked_stats(bl, &st);
        cr_assert_eq(st.total_blocked, 4);
        cr_assert_eq(st.total_escaped, 1);
        cr_assert_eq(st.by_type[JOB_SERVICE], 4);

        /* Class a: eligible yes; explicitly ineligible no; unknown class yes; escaped yes. */
        cr_assert_eq(blocked_unblock(bl, "v1:a", 20), 3);
        cr_assert_not_null(blocked_get(bl, "default", "j2"), "the ineligible eval was unblocked");
        cr_assert_null(blocked_get(bl, "default", "j1"));
        blocked_stats(bl, &st);
        cr_assert_eq(st.total_blocked, 1);
        cr_assert_eq(st.total_escaped, 0);
        /* They are in the broker now, in blocking order (same priority and index). */
        take_ack("elig");
        take_ack("unseen");
        take_ack("escaped");
        cr_assert_null(take(NULL));

        /* A class the eval never saw unblocks it. */
        cr_assert_eq(blocked_unblock(bl, "v1:c", 21), 1);
        take_ack("inelig");
        blocked_stats(bl, &st);
        cr_assert_eq(st.total_blocked, 0);
}

Test(broker, blocked_without_eligibility_is_unblocked_by_any_class) {
        block("e", "j1", 10, NULL, false);
        cr_assert_eq(blocked_unblock(bl, "v1:x", 11), 1);
        take_ack("e");
}

Test(broker, escaped_eval_needs_a_class) {
        block("e", "j1", 10, NULL, true);
        block("c", "j2", 10, "{\"v1:x\": false}", false);
        cr_assert_eq(blocked_unblock(bl, "v1:x", 11), 1);
        take_ack("e");
        cr_assert_eq(blocked_unblock(bl, "v1:x", 12), 0, "an ineligible eval was unblocked");
}

Test(broker, missed_unblock_is_enqueued_at_once) {
        /* Capacity of class a appeared at index 20 ... */
        cr_assert_eq(blocked_unblock(bl, "v1:a", 20), 0);
        /* ... while the scheduler ran on a snapshot at 15 and saw class a as eligible. */
        cr_assert_eq(block("late", "j1", 15, "{\"v1:a\": true}", false), BLOCKED_REENQUEUED);
        take_ack("late");
        /* A snapshot at or after the unblock saw the capacity: it stays blocked. */
        cr_assert_eq(block("fresh", "j2", 20, "{\"v1:a\": true}", false), BLOCKED_TRACKED);
        /* Ineligible for the unblocked class: stays blocked. */
        cr_assert_eq(block("inelig", "j3", 15, "{\"v1:a\": false}", false), BLOCKED_TRACKED);
        /* Never saw the class (added after the snapshot): re-enqueued. */
        cr_assert_eq(block("unseen", "j4", 15, "{\"v1:b\": false}", false), BLOCKED_REENQUEUED);
        /* Escaped: any unblock after its snapshot counts. */
        cr_assert_eq(block("esc", "j5", 15, "{\"v1:a\": false}", true), BLOCKED_REENQUEUED);
        take_ack("unseen");
        take_ack("esc");
        cr_assert_null(take(NULL));
}

Test(broker, one_blocked_eval_per_job_newer_wins) {
        cr_assert_eq(block("old", "j1", 10, NULL, false), BLOCKED_TRACKED);
        cr_assert_eq(block("new", "j1", 12, NULL, false), BLOCKED_TRACKED);
        cr_assert_str_eq(blocked_get(bl, "default", "j1")->id, "new");
        /* An older eval arriving late is itself the duplicate. */
        cr_assert_eq(block("older", "j1", 11, NULL, false), BLOCKED_DUPLICATE);
        struct blocked_stats st;
        blocked_stats(bl, &st);
        cr_assert_eq(st.total_blocked, 1);
        cr_assert_eq(st.total_duplicates, 2);
        struct eval **v;
        cr_assert_eq(blocked_drain_duplicates(bl, &v), 2);
        cr_assert_str_eq(v[0]->id, "old");
        cr_assert_str_eq(v[1]->id, "older");
        free_evals(v, 2);
        cr_assert_eq(blocked_drain_duplicates(bl, &v), 0);
        cr_assert_null(v);
        /* Blocking the same eval again (an update, a restore) is not a duplicate. */
        cr_assert_eq(block("new", "j1", 12, NULL, true), BLOCKED_TRACKED);
        blocked_stats(bl, &st);
        cr_assert_eq(st.total_duplicates, 0);
        cr_assert_eq(st.total_escaped, 1, "the stored copy was not replaced");
        cr_assert_eq(blocked_unblock(bl, "v1:a", 13), 1);
        take_ack("new");
}

Test(broker, untrack_and_unblock_failed) {
        block("a", "j1", 10, NULL, false);
        struct eval *e = mk_blocked("b", "j2", 10, "{\"v1:a\": false}", false);
        e->triggered_by = strdup("max-plan-attempts");
        blocked_block(bl, e);
        eval_unref(e);
        struct eval *got = NULL;
        cr_assert_eq(blocked_untrack(bl, "default", "j1", &got), 1);
        cr_assert_str_eq(got->id, "a");
        eval_unref(got);
        cr_assert_eq(blocked_untrack(bl, "default", "j1", NULL), 0);
        cr_assert_eq(blocked_unblock_failed(bl), 1);
        take_ack("b");
        struct blocked_stats st;
        blocked_stats(bl, &st);
        cr_assert_eq(st.total_blocked, 0);
}

Test(broker, reblocked_eval_runs_after_its_ack) {
        /* The worker runs a blocked eval that the broker handed out ... */
        block("e", "j1", 10, NULL, false);
        blocked_unblock(bl, "v1:a", 11);
        char tok[64];
        cr_assert_str_eq(take(tok), "e");
        /* ... it blocks again; capacity appears before the worker acks. */
        struct eval *e = mk_blocked("e", "j1", 12, NULL, false);
        cr_assert_eq(blocked_reblock(bl, e, tok), BLOCKED_TRACKED);
        eval_unref(e);
        cr_assert_eq(blocked_unblock(bl, "v1:a", 13), 1);
        cr_assert_null(take(NULL));
        cr_assert_eq(broker_ack(b, "e", tok), 0);
        take_ack("e");
}

Test(broker, disabled_blocked_tracker) {
        struct blocked_evals *bl1 = blocked_create(b);
        cr_assert_not(blocked_enabled(bl1));
        struct eval *e = mk_blocked("e", "j1", 10, NULL, false);
        cr_assert_eq(blocked_block(bl1, e), -ENOTCONN);
        cr_assert_eq(blocked_unblock(bl1, "v1:a", 11), 0);
        blocked_destroy(bl1);
        cr_assert_null(blocked_create(NULL));

        cr_assert_eq(blocked_unblock(bl, "v1:z", 50), 0);
        cr_assert_eq(blocked_block(bl, e), BLOCKED_REENQUEUED, "snapshot 10 < unblock 50");
        take_ack("e");
        cr_assert_eq(e->refcount, 1);
        block("d1", "j2", 100, NULL, false);
        block("d2", "j2", 101, NULL, false); /* d1 becomes a duplicate */
        blocked_set_enabled(bl, false);
        blocked_set_enabled(bl, true);
        struct blocked_stats st;
        blocked_stats(bl, &st);
        cr_assert_eq(st.total_blocked + st.total_duplicates, 0);
        /* The unblock index was forgotten too: no missed-unblock re-enqueue. */
        cr_assert_eq(blocked_block(bl, e), BLOCKED_TRACKED);
        blocked_set_enabled(bl, false);
        cr_assert_eq(e->refcount, 1, "flush kept a reference");
        eval_unref(e);
}

/* ---- containers ------------------------------------------------------------------------------------------ */

static bool int_less(const void *x, const void *y) {
        return *(const int *)x < *(const int *)y;
}

Test(broker_containers, heap_pops_in_order) {
        struct bheap h;
        bheap_init(&h, int_less);
        static int v[1000];
        for (int i = 0; i < 1000; i++) {
                v[i] = (i * 7919) % 1000;
                bheap_push(&h, &v[i]);
        }
        for (int i = 0; i < 1000; i++)
                cr_assert_eq(*(int *)bheap_pop(&h), i);
        cr_assert_null(bheap_pop(&h));
        bheap_clear(&h);
}
