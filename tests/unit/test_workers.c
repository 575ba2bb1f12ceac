/* test_workers.c - the leader's plan queue (controlplane/worker.c) as another
 * server's worker reaches it (workers_submit_remote), with no worker threads and
 * Raft replaced by a propose_parts that holds the commit until the test releases
 * it: a plan whose eval token is no longer outstanding is refused before anything
 * is proposed, and the eval's nack timer is paused while its plan waits for Raft
 * (a slow commit does not get the eval redelivered), then runs again from full. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <uv.h>

#include "common/clock.h"
#include "common/model.h"
#include "controlplane/broker/broker.h"
#include "controlplane/raft/batch.h"
#include "controlplane/scheduler/plan.h"
#include "controlplane/state/state.h"
#include "controlplane/worker.h"
#include "tests/unit/fixtures.h"

#define S 1000000000LL

static int64_t fake_mono;
static int64_t fake_mono_ns(void *data) {
        (void)data;
        return fake_mono;
}
static int64_t fake_wall_ns(void *data) {
        (void)data;
        return fake_mono + 1700000000LL * S;
}
static const struct clock_ops fake_clock = {.now_ns = fake_wall_ns, .monotonic_ns = fake_mono_ns};

static uv_loop_t loop;
static struct state_store *st;
static struct job *job;
static struct broker *b;
static struct workers *ws;

/* The fake Raft: the commit of the last batch proposed, held until released. */
static struct {
        void (*cb)(void *arg, int status, uint64_t index, const char *msg);
        void *arg;
        int proposed;
} raft;

static int fake_propose(void *data, json_t *cmd, void (*cb)(void *arg, int status, uint64_t index, const char *msg),
                        void *arg) {
        (void)data, (void)cb, (void)arg;
        json_decref(cmd);
        return -ENOTSUP;
}

static int fake_propose_parts(void *data, struct batch_part *parts, size_t n,
                              void (*cb)(void *arg, int status, uint64_t index, const char *msg), void *arg) {
        (void)data;
        for (size_t i = 0; i < n; i++)
                free((void *)parts[i].buf);
        raft.cb = cb;
        raft.arg = arg;
        raft.proposed++;
        return 0;
}

static bool fake_is_leader(void *data) {
        (void)data;
        return true;
}

static const struct workers_ops ops = {
    .propose = fake_propose, .propose_parts = fake_propose_parts, .is_leader = fake_is_leader};

/* What the remote worker's request is answered with. */
struct answer {
        int status, calls;
};

static void on_answer(void *arg, int status, const struct plan_result *result) {
        struct answer *a = arg;
        (void)result;
        a->status = status;
        a->calls++;
}

static void setup(void) {
        fake_mono = 1000 * S;
        cr_assert_eq(uv_loop_init(&loop), 0);
        st = state_create();
        job = fx_job("web", JOB_SERVICE, 1, 100, 100);
        state_upsert_job(st, 1, job);
        struct node *n = fx_node("n1", "dc1", 1000, 1000);
        state_upsert_node(st, 2, n);
        node_unref(n);
        b = broker_create(&fake_clock, NULL);
        cr_assert_not_null(b);
        broker_set_enabled(b, true);
        struct workers_config cfg = {.loop = &loop, .broker = b, .state = &st, .n = 0, .ops = &ops};
        cr_assert_eq(workers_create(&cfg, &ws), 0);
        raft.cb = NULL;
        raft.proposed = 0;
}

static void teardown(void) {
        ws = workers_destroy(ws);
        uv_run(&loop, UV_RUN_DEFAULT); /* the async handle closes */
        uv_loop_close(&loop);
        b = broker_destroy(b);
        state_destroy(st);
        job_unref(job);
}

TestSuite(workers, .init = setup, .fini = teardown, .timeout = 30);

/* The eval "e1" of job web, enqueued and dequeued: its token in tok. */
static void hold_eval(char *tok, size_t size) {
        struct eval *e = fx_eval("e1", job, "job-register");
        e->create_index = e->modify_index = 3;
        cr_assert_eq(broker_enqueue(b, e), 0);
        eval_unref(e);
        static const enum job_type types[] = {JOB_SERVICE};
        struct eval *got = NULL;
        char *t = NULL;
        cr_assert_eq(broker_dequeue(b, types, 1, &got, &t), 0);
        cr_assert_str_eq(got->id, "e1");
        snprintf(tok, size, "%s", t);
        free(t);
        eval_unref(got);
}

/* A plan of e1 placing one allocation of web on n1, as a follower's worker sends it. */
static struct plan *plan_of_e1(const char *tok) {
        struct plan *p = plan_new("e1", tok, job);
        p->snapshot_index = state_latest_index(st);
        struct alloc *a = fx_alloc("a1", job, "n1", 0, 100, 100);
        a->client_status = ALLOC_CLIENT_PENDING;
        cr_assert_eq(plan_add_place(p, a), 0);
        alloc_unref(a);
        return p;
}

Test(workers, a_plan_whose_eval_token_is_no_longer_outstanding_is_refused) {
        char tok[64];
        hold_eval(tok, sizeof(tok));
        /* The worker is too slow: the nack timeout hands the eval back to the broker. */
        fake_mono += broker_next_timeout_ns(b);
        cr_assert_eq(broker_tick(b), 1, "the eval timed out");
        struct answer ans = {0};
        cr_assert_eq(workers_submit_remote(ws, plan_of_e1(tok), tok, on_answer, &ans), 0);
        cr_expect_eq(ans.calls, 1, "answered at once");
        cr_expect_eq(ans.status, -ESTALE, "refused: the token is no longer outstanding (got %d)", ans.status);
        cr_expect_eq(raft.proposed, 0, "nothing was proposed");
}

Test(workers, the_nack_timer_is_paused_while_the_plan_waits_for_raft) {
        char tok[64];
        hold_eval(tok, sizeof(tok));
        int64_t full = broker_next_timeout_ns(b);
        cr_assert_gt(full, 0, "the nack timer runs while the worker plans");
        struct answer ans = {0};
        cr_assert_eq(workers_submit_remote(ws, plan_of_e1(tok), tok, on_answer, &ans), 0);
        cr_assert_eq(raft.proposed, 1, "the plan was proposed");
        cr_expect_eq(ans.calls, 0, "and waits for its commit");
        cr_expect_eq(broker_next_timeout_ns(b), -1, "no nack timer while the plan waits");
        fake_mono += 10 * full; /* a very slow commit */
        cr_expect_eq(broker_tick(b), 0, "the eval was not redelivered while its plan waited");
        cr_expect_eq(broker_check_token(b, "e1", tok), 0, "the worker still holds it");
        raft.cb(raft.arg, 0, 10, NULL); /* committed */
        cr_expect_eq(ans.calls, 1);
        cr_expect_eq(ans.status, 0, "committed (got %d)", ans.status);
        cr_expect_eq(broker_next_timeout_ns(b), full, "the nack timer runs again, from full");
        cr_expect_eq(broker_ack(b, "e1", tok), 0);
}

/* What another server's waiting worker heard. */
struct waited {
        int calls;
        char eval_id[64];
};

static void on_waited(void *arg, const struct eval *ev, const char *token) {
        struct waited *w = arg;
        w->calls++;
        snprintf(w->eval_id, sizeof(w->eval_id), "%s", ev ? ev->id : "-");
        cr_assert_eq(ev == NULL, token == NULL);
}

Test(workers, a_worker_waiting_at_the_leader_gets_the_next_ready_eval) {
        struct waited first = {0}, second = {0};
        cr_assert_eq(workers_wait_eval(ws, 10 * S, on_waited, &first), 0);
        cr_assert_eq(workers_wait_eval(ws, 10 * S, on_waited, &second), 0);
        workers_dispatch(ws);
        cr_expect_eq(first.calls + second.calls, 0, "nothing ready: both still wait");
        struct eval *e = fx_eval("e1", job, "job-register");
        cr_assert_eq(broker_enqueue(b, e), 0);
        eval_unref(e);
        workers_dispatch(ws);
        cr_expect_eq(first.calls, 1, "the one that waited longest got it");
        cr_expect_str_eq(first.eval_id, "e1");
        cr_expect_eq(second.calls, 0);
        struct broker_stats bs;
        broker_stats(b, &bs);
        cr_expect_eq(bs.total_unacked, 1, "handed out under a token, as to a local worker");
        workers_leadership_lost(ws);
        cr_expect_eq(second.calls, 1, "the other hears none when the leadership goes");
        cr_expect_str_eq(second.eval_id, "-");
}

Test(workers, a_wait_that_ran_out_is_answered_with_none_at_the_tick) {
        struct waited w = {0};
        cr_assert_eq(workers_wait_eval(ws, 0, on_waited, &w), 0);
        workers_tick(ws);
        cr_expect_eq(w.calls, 1);
        cr_expect_str_eq(w.eval_id, "-");
        struct waited late = {0};
        cr_assert_eq(workers_wait_eval(ws, 10 * S, on_waited, &late), 0);
        ws = workers_destroy(ws);
        cr_expect_eq(late.calls, 1, "a stopping server answers its waiters");
}
