/* test_periodic.c - the periodic dispatcher (controlplane/leader/periodic.h), driven
 * with a fake clock (the time is an argument) over a real state store. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "controlplane/leader/periodic.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

/* 2024-01-01 00:00:00 UTC. */
#define T0 INT64_C(1704067200)

struct launches {
        char ids[16][128];
        int n;
        struct state_store *st; /* when set, each child is registered at once */
        uint64_t index;
};

static int fake_launch(void *data, const struct job *child) {
        struct launches *l = data;
        cr_assert_lt(l->n, 16);
        snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", child->id);
        cr_assert_str_eq(job_parent_id(child), "rep");
        cr_assert(!job_is_periodic(child), "a child is not periodic itself");
        cr_assert_eq(child->type, JOB_BATCH);
        if (l->st) {
                struct job *c = job_copy(child);
                cr_assert_eq(state_upsert_job(l->st, ++l->index, c), 0);
                job_unref(c);
        }
        return 0;
}

static const struct periodic_ops ops = {.launch = fake_launch};

static void put_parent(struct state_store *st, uint64_t index, const char *spec, bool overlap, bool enabled) {
        struct job *j = fx_job("rep", JOB_BATCH, 1, 100, 100);
        j->submit_time = T0 * 1000000000LL;
        j->extra = json_pack("{s:{s:s,s:s,s:b,s:b,s:s}}", "Periodic", "Spec", spec, "SpecType", "cron",
                             "ProhibitOverlap", overlap, "Enabled", enabled, "TimeZone", "UTC");
        cr_assert_eq(state_upsert_job(st, index, j), 0);
        job_unref(j);
}

/* What the server does after each applied JobRegister/JobDeregister (periodic_applied). */
static void changed(struct periodic *p, struct state_store *st, int64_t now) {
        cr_assert_eq(periodic_job_changed(p, st, "default", "rep", now), 0);
}

static char *child_id(int64_t t) {
        static char buf[64];
        snprintf(buf, sizeof(buf), "rep/periodic-%lld", (long long)t);
        return buf;
}

Test(periodic, launches_at_each_cron_time_and_not_before) {
        struct state_store *st = state_create();
        struct launches l = {0};
        struct periodic *p = periodic_create(&ops, &l);
        put_parent(st, 10, "*/10 * * * * *", false, true);
        cr_assert_eq(periodic_tick(p, st, T0), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), 0, "not tracked before it is reported");
        changed(p, st, T0);
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), T0 + 10);
        cr_assert_eq(periodic_tick(p, st, T0 + 9), 0);
        cr_assert_eq(periodic_tick(p, st, T0 + 10), 1);
        cr_assert_str_eq(l.ids[0], child_id(T0 + 10));
        cr_assert_eq(periodic_tick(p, st, T0 + 10), 0, "one launch per time");
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), T0 + 20);
        /* A loop that stood still 35 s: only the most recent due time launches. */
        cr_assert_eq(periodic_tick(p, st, T0 + 55), 1);
        cr_assert_str_eq(l.ids[1], child_id(T0 + 50));
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), T0 + 60);
        periodic_destroy(p);
        state_destroy(st);
}

Test(periodic, prohibit_overlap_waits_for_the_running_child) {
        struct state_store *st = state_create();
        struct launches l = {.st = st, .index = 100};
        struct periodic *p = periodic_create(&ops, &l);
        put_parent(st, 10, "*/10 * * * * *", true, true);
        changed(p, st, T0);
        cr_assert_eq(periodic_tick(p, st, T0), 0);
        cr_assert_eq(periodic_tick(p, st, T0 + 10), 1);
        cr_assert(periodic_has_live_child(st, "default", "rep"), "the child is pending");
        cr_assert_eq(periodic_tick(p, st, T0 + 20), 1, "the tick is counted...");
        cr_assert_eq(l.n, 1, "...but nothing launched while the child lives");
        cr_assert_eq(state_deregister_job(st, ++l.index, "default", child_id(T0 + 10), false), 0);
        cr_assert(!periodic_has_live_child(st, "default", "rep"));
        cr_assert_eq(periodic_tick(p, st, T0 + 30), 1);
        cr_assert_eq(l.n, 2);
        cr_assert_str_eq(l.ids[1], child_id(T0 + 30));
        cr_assert_eq(periodic_last_launch(st, "default", "rep"), T0 + 30);
        periodic_destroy(p);
        state_destroy(st);
}

Test(periodic, a_new_leader_launches_missed_runs_once) {
        struct state_store *st = state_create();
        struct launches l = {.st = st, .index = 100};
        put_parent(st, 10, "*/10 * * * * *", false, true);
        /* The old leader launched at T0+10, then there was no leader for 90 s. */
        struct periodic *old = periodic_create(&ops, &l);
        changed(old, st, T0);
        periodic_tick(old, st, T0);
        periodic_tick(old, st, T0 + 10);
        periodic_destroy(old);
        cr_assert_eq(l.n, 1);
        struct periodic *p = periodic_create(&ops, &l);
        cr_assert_eq(periodic_restore(p, st, T0 + 100), 1);
        cr_assert_eq(l.n, 2);
        cr_assert_str_eq(l.ids[1], child_id(T0 + 100), "launched now, once");
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), T0 + 110);
        /* Nothing missed: a restore launches nothing. */
        cr_assert_eq(periodic_restore(p, st, T0 + 105), 0);
        cr_assert_eq(periodic_tick(p, st, T0 + 109), 0);
        cr_assert_eq(periodic_tick(p, st, T0 + 110), 1);
        periodic_destroy(p);
        state_destroy(st);
}

Test(periodic, never_launched_parent_counts_from_its_submit_time) {
        struct state_store *st = state_create();
        struct launches l = {0};
        put_parent(st, 10, "0 * * * *", false, true); /* hourly; submitted at T0 */
        struct periodic *p = periodic_create(&ops, &l);
        cr_assert_eq(periodic_restore(p, st, T0 + 1800), 0, "the first hour is not due yet");
        cr_assert_eq(periodic_restore(p, st, T0 + 3700), 1, "missed the 01:00 launch");
        periodic_destroy(p);
        state_destroy(st);
}

Test(periodic, disabled_stopped_and_deleted_parents_are_not_tracked) {
        struct state_store *st = state_create();
        struct launches l = {0};
        struct periodic *p = periodic_create(&ops, &l);
        put_parent(st, 10, "* * * * * *", false, false);
        changed(p, st, T0);
        periodic_tick(p, st, T0);
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), 0, "disabled");
        put_parent(st, 11, "* * * * * *", false, true);
        changed(p, st, T0);
        periodic_tick(p, st, T0);
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), T0 + 1, "enabled by an update");
        cr_assert_eq(state_deregister_job(st, 12, "default", "rep", false), 0);
        changed(p, st, T0 + 5);
        cr_assert_eq(periodic_tick(p, st, T0 + 5), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), 0, "stopped");
        put_parent(st, 13, "* * * * * *", false, true);
        changed(p, st, T0 + 5);
        periodic_tick(p, st, T0 + 5);
        cr_assert_eq(state_deregister_job(st, 14, "default", "rep", true), 0);
        changed(p, st, T0 + 10);
        cr_assert_eq(periodic_tick(p, st, T0 + 10), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "rep"), 0, "purged");
        cr_assert_eq(l.n, 0);
        periodic_clear(p);
        periodic_destroy(p);
        state_destroy(st);
}

Test(periodic, child_and_register_command) {
        struct job *parent = fx_job("rep", JOB_BATCH, 1, 100, 100);
        parent->extra = json_pack("{s:{s:s}}", "Periodic", "Spec", "@daily");
        struct job *child = NULL;
        cr_assert_eq(periodic_child(parent, T0, &child), 0);
        cr_assert_str_eq(child->id, child_id(T0));
        cr_assert_str_eq(child->name, child_id(T0));
        json_t *cmd = periodic_register_command(child, "11111111-2222-3333-4444-555555555555", "periodic-job", 7);
        cr_assert_str_eq(jx_str(cmd, "Type", ""), "JobRegister");
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Job"), "ParentID", ""), "rep");
        cr_assert(!json_is_object(
            json_object_get(json_object_get(cmd, "Job"), "Periodic"))); /* absent or null (Nomad: nil) */
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Eval"), "JobID", ""), child_id(T0));
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Eval"), "TriggeredBy", ""), "periodic-job");
        json_decref(cmd);
        job_unref(child);
        job_unref(parent);
}

Test(periodic, registration_checks_the_block) {
        struct job *j = fx_job("rep", JOB_SERVICE, 1, 100, 100);
        j->extra = json_pack("{s:{s:s}}", "Periodic", "Spec", "* * * * *");
        json_decref(j->groups[0].tasks[0].config);
        j->groups[0].tasks[0].config = json_pack("{s:s}", "command", "/bin/true");
        job_canonicalize(j);
        struct error err = {0};
        cr_assert_eq(job_validate(j, &err), -EINVAL);
        cr_assert(strstr(err.msg, "periodic can only be used with \"batch\" or \"sysbatch\""), "%s", err.msg);
        j->type = JOB_BATCH;
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        json_object_set_new(json_object_get(j->extra, "Periodic"), "Spec", json_string("99 * * * *"));
        cr_assert_eq(job_validate(j, &err), -EINVAL);
        cr_assert(strstr(err.msg, "minute: 99 out of range"), "%s", err.msg);
        json_object_set_new(json_object_get(j->extra, "Periodic"), "Spec", json_string("* * * * *"));
        json_object_set_new(json_object_get(j->extra, "Periodic"), "TimeZone", json_string("Nowhere/Land"));
        cr_assert_eq(job_validate(j, &err), -EINVAL);
        cr_assert(strstr(err.msg, "Nowhere/Land"), "%s", err.msg);
        json_object_del(j->extra, "Periodic");
        json_object_set_new(j->extra, "ParameterizedJob", json_pack("{s:s}", "Payload", "sometimes"));
        cr_assert_eq(job_validate(j, &err), -EINVAL);
        cr_assert(strstr(err.msg, "payload must be"), "%s", err.msg);
        json_object_set_new(
            j->extra, "ParameterizedJob",
            json_pack("{s:s,s:[s],s:[s]}", "Payload", "required", "MetaRequired", "a", "MetaOptional", "b"));
        cr_assert_eq(job_validate(j, &err), 0, "%s", err.msg);
        cr_assert(job_is_parameterized(j));
        json_object_set_new(j->extra, "Dispatched", json_true());
        cr_assert(!job_is_parameterized(j), "a dispatched child is not a parent");
        job_unref(j);
}

Test(periodic, parents_run_until_stopped_children_finish) {
        struct state_store *st = state_create();
        struct job *parent = fx_job("disp", JOB_BATCH, 1, 100, 100);
        parent->extra = json_pack("{s:{s:s}}", "ParameterizedJob", "Payload", "optional");
        cr_assert_eq(state_upsert_job(st, 10, parent), 0);
        cr_assert_eq(state_job_get(st, "default", "disp")->status, JOB_STATUS_RUNNING, "a parent runs");
        struct job *child = job_copy(parent);
        free(child->id);
        child->id = strdup("disp/dispatch-1-abcdef01");
        json_object_set_new(child->extra, "Dispatched", json_true());
        json_object_set_new(child->extra, "ParentID", json_string("disp"));
        cr_assert_eq(state_upsert_job(st, 11, child), 0);
        cr_assert_eq(state_job_get(st, "default", "disp/dispatch-1-abcdef01")->status, JOB_STATUS_PENDING,
                     "a dispatched child is a plain batch job: pending until it runs");
        cr_assert_eq(state_deregister_job(st, 12, "default", "disp/dispatch-1-abcdef01", false), 0);
        cr_assert_eq(state_job_get(st, "default", "disp/dispatch-1-abcdef01")->status, JOB_STATUS_DEAD);
        struct periodic_children ch;
        periodic_children(st, "default", "disp", &ch);
        cr_assert_eq(ch.dead, 1);
        cr_assert_eq(ch.pending + ch.running, 0);
        job_unref(child);
        job_unref(parent);
        state_destroy(st);
}

/* Many parents: each tick launches exactly the due ones, earliest first, learning of
 * registrations, stops, GC and a restored state from the applied commands
 * (periodic_applied), never by scanning the jobs. */
static int order_launch(void *data, const struct job *child) {
        struct launches *l = data;
        if (l->n < 16)
                snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", child->id);
        l->n++;
        return 0;
}

static const struct periodic_ops order_ops = {.launch = order_launch};

static void put_periodic(struct state_store *st, uint64_t index, const char *id, const char *spec) {
        struct job *j = fx_job(id, JOB_BATCH, 1, 100, 100);
        j->submit_time = T0 * 1000000000LL;
        j->extra = json_pack("{s:{s:s,s:s,s:b,s:b,s:s}}", "Periodic", "Spec", spec, "SpecType", "cron",
                             "ProhibitOverlap", false, "Enabled", true, "TimeZone", "UTC");
        cr_assert_eq(state_upsert_job(st, index, j), 0);
        job_unref(j);
}

static void applied(struct periodic *p, struct state_store *st, json_t *cmd, int64_t now) {
        cr_assert_eq(periodic_applied(p, st, cmd, now), 0);
        json_decref(cmd);
}

Test(periodic, the_earliest_due_parents_launch_as_commands_report_changes) {
        struct state_store *st = state_create();
        struct launches l = {0};
        struct periodic *p = periodic_create(&order_ops, &l);
        /* 300 parents every 7 s (minute-aligned: due at :07, :14, ...) and one every 3 s */
        char id[32];
        for (int i = 0; i < 300; i++) {
                snprintf(id, sizeof(id), "seven-%03d", i);
                put_periodic(st, 10 + (uint64_t)i, id, "*/7 * * * * *");
                applied(p, st,
                        json_pack("{s:s,s:{s:s,s:s}}", "Type", "JobRegister", "Job", "ID", id, "Namespace", "default"),
                        T0);
        }
        put_periodic(st, 400, "three", "*/3 * * * * *");
        applied(p, st, json_pack("{s:s,s:{s:s}}", "Type", "JobRegister", "Job", "ID", "three"), T0);
        cr_assert_eq(periodic_next_launch(p, "default", "three"), T0 + 3);
        cr_assert_eq(periodic_next_launch(p, "default", "seven-123"), T0 + 7);
        cr_assert_eq(periodic_tick(p, st, T0 + 2), 0, "nothing due");
        cr_assert_eq(periodic_tick(p, st, T0 + 3), 1, "only the earliest");
        cr_assert_str_eq(l.ids[0], "three/periodic-1704067203");
        cr_assert_eq(periodic_tick(p, st, T0 + 6), 1);
        cr_assert_eq(periodic_tick(p, st, T0 + 7), 300, "every parent due at :07, once");
        cr_assert_eq(periodic_tick(p, st, T0 + 7), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "seven-000"), T0 + 14);
        /* stopped through a command: no longer launched */
        cr_assert_eq(state_deregister_job(st, 500, "default", "three", false), 0);
        applied(p, st, json_pack("{s:s,s:s,s:s}", "Type", "JobDeregister", "Namespace", "default", "JobID", "three"),
                T0 + 8);
        cr_assert_eq(periodic_next_launch(p, "default", "three"), 0);
        cr_assert_eq(periodic_tick(p, st, T0 + 9), 0, "three was due at :09 but is stopped");
        /* a GC that purged a parent (deleted behind the dispatcher's back) */
        cr_assert_eq(state_deregister_job(st, 501, "default", "seven-000", true), 0);
        applied(p, st,
                json_pack("{s:s,s:[{s:s,s:s}]}", "Type", "GC", "Jobs", "Namespace", "default", "ID", "seven-000"),
                T0 + 9);
        cr_assert_eq(periodic_next_launch(p, "default", "seven-000"), 0);
        l.n = 0;
        cr_assert_eq(periodic_tick(p, st, T0 + 14), 299);
        /* an unrelated command changes nothing; a restored state is read whole */
        applied(p, st, json_pack("{s:s}", "Type", "EvalUpdate"), T0 + 15);
        cr_assert_eq(periodic_next_launch(p, "default", "seven-001"), T0 + 21);
        struct state_store *other = state_create();
        put_periodic(other, 7, "restored", "*/5 * * * * *");
        applied(p, other, json_pack("{s:s}", "Type", "StateRestore"), T0 + 15);
        cr_assert_eq(periodic_next_launch(p, "default", "seven-001"), 0, "gone with the old state");
        cr_assert_eq(periodic_next_launch(p, "default", "restored"), T0 + 20);
        cr_assert_eq(periodic_tick(p, other, T0 + 21), 1);
        periodic_destroy(p);
        state_destroy(other);
        state_destroy(st);
}

/* ---- a restored state read off the loop (periodic_ops.offload) ---- */

/* The pool, by hand: offloaded works wait until the test runs them. */
struct pool {
        struct launches l;
        struct {
                void (*work)(void *);
                void (*done)(void *, bool);
                void *arg;
        } q[4];
        int n;
};

static int pool_offload(void *data, void (*work)(void *), void (*done)(void *, bool), void *arg) {
        struct pool *pl = data;
        cr_assert_lt(pl->n, 4);
        pl->q[pl->n].work = work;
        pl->q[pl->n].done = done;
        pl->q[pl->n++].arg = arg;
        return 0;
}

/* Run the oldest waiting work (canceled: its done alone, as libuv does). */
static void pool_run(struct pool *pl, bool canceled) {
        cr_assert_gt(pl->n, 0);
        if (!canceled)
                pl->q[0].work(pl->q[0].arg);
        pl->q[0].done(pl->q[0].arg, canceled);
        memmove(&pl->q[0], &pl->q[1], (size_t)(pl->n - 1) * sizeof(pl->q[0]));
        pl->n--;
}

static int pool_launch(void *data, const struct job *child) {
        return order_launch(&((struct pool *)data)->l, child);
}

static const struct periodic_ops pool_ops = {.launch = pool_launch, .offload = pool_offload};

/* A StateRestore is read on the pool, not on the spot: the old parents launch nothing
 * meanwhile, job changes applied meanwhile are re-read at the swap (the next tick),
 * and a launch that fell due during the rebuild goes at that tick. */
Test(periodic, a_restored_state_is_read_off_the_loop_and_swapped_in) {
        struct state_store *st = state_create();
        struct pool pl = {0};
        struct periodic *p = periodic_create(&pool_ops, &pl);
        put_periodic(st, 10, "old", "*/2 * * * * *");
        applied(p, st, json_pack("{s:s,s:{s:s}}", "Type", "JobRegister", "Job", "ID", "old"), T0);
        cr_assert_eq(periodic_next_launch(p, "default", "old"), T0 + 2);
        /* the state replaced: "old" is gone, "kept" and "gone-later" restored */
        struct state_store *restored = state_create();
        put_periodic(restored, 20, "kept", "*/5 * * * * *");
        put_periodic(restored, 21, "gone-later", "*/5 * * * * *");
        applied(p, restored, json_pack("{s:s}", "Type", "StateRestore"), T0 + 1);
        cr_assert(periodic_rebuilding(p));
        cr_assert_eq(pl.n, 1, "the read is offloaded");
        cr_assert_eq(periodic_next_launch(p, "default", "kept"), 0, "not read on the spot");
        cr_assert_eq(periodic_tick(p, restored, T0 + 2), 0, "the replaced parents launch nothing");
        /* changes applied while the pool reads */
        put_periodic(restored, 22, "late", "*/3 * * * * *");
        applied(p, restored, json_pack("{s:s,s:{s:s}}", "Type", "JobRegister", "Job", "ID", "late"), T0 + 2);
        cr_assert_eq(state_deregister_job(restored, 23, "default", "gone-later", false), 0);
        applied(p, restored,
                json_pack("{s:s,s:s,s:s}", "Type", "JobDeregister", "Namespace", "default", "JobID", "gone-later"),
                T0 + 2);
        pool_run(&pl, false);
        cr_assert(periodic_rebuilding(p), "built, swapped in at the next tick");
        cr_assert_eq(periodic_tick(p, restored, T0 + 5), 1, "kept was due at :05, during the rebuild");
        cr_assert_str_eq(pl.l.ids[0], "kept/periodic-1704067205");
        cr_assert_not(periodic_rebuilding(p));
        cr_assert_eq(periodic_next_launch(p, "default", "old"), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "gone-later"), 0, "stopped during the rebuild");
        cr_assert_eq(periodic_next_launch(p, "default", "late"), T0 + 6, "registered during the rebuild");
        cr_assert_eq(periodic_next_launch(p, "default", "kept"), T0 + 10);
        cr_assert_eq(pl.n, 1, "the old set is freed on the pool");
        pool_run(&pl, false);
        cr_assert_eq(periodic_tick(p, restored, T0 + 6), 1);
        periodic_destroy(p);
        state_destroy(restored);
        state_destroy(st);
}

/* A rebuild overtaken (leadership lost, a second restore) is never swapped in; one
 * that fails is made good on the spot; one in flight at destroy frees the dispatcher
 * when it ends. */
Test(periodic, an_overtaken_or_failed_rebuild_is_not_swapped_in) {
        struct state_store *a = state_create(), *b = state_create();
        put_periodic(a, 10, "from-a", "*/5 * * * * *");
        put_periodic(b, 10, "from-b", "*/5 * * * * *");
        struct pool pl = {0};
        struct periodic *p = periodic_create(&pool_ops, &pl);
        applied(p, a, json_pack("{s:s}", "Type", "StateRestore"), T0);
        applied(p, b, json_pack("{s:s}", "Type", "StateRestore"), T0);
        pool_run(&pl, false); /* a's, overtaken by b's */
        pool_run(&pl, false);
        cr_assert_eq(periodic_tick(p, b, T0 + 1), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "from-a"), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "from-b"), T0 + 5);
        pool_run(&pl, false); /* the replaced set's free */
        applied(p, a, json_pack("{s:s}", "Type", "StateRestore"), T0 + 1);
        periodic_clear(p); /* leadership lost meanwhile */
        pool_run(&pl, false);
        cr_assert_not(periodic_rebuilding(p));
        cr_assert_eq(periodic_tick(p, a, T0 + 5), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "from-a"), 0);
        applied(p, a, json_pack("{s:s}", "Type", "StateRestore"), T0 + 1);
        pool_run(&pl, true); /* canceled: read on the spot at the next tick */
        cr_assert(periodic_rebuilding(p));
        cr_assert_eq(periodic_tick(p, a, T0 + 2), 0);
        cr_assert_eq(periodic_next_launch(p, "default", "from-a"), T0 + 5);
        applied(p, a, json_pack("{s:s}", "Type", "StateRestore"), T0 + 2);
        periodic_destroy(p); /* in flight: its end frees the dispatcher (ASan: no leak) */
        pool_run(&pl, false);
        cr_assert_eq(pl.n, 0);
        state_destroy(a);
        state_destroy(b);
}

/* Leadership gained with an offload: the state is read on the pool (no launch on the
 * spot), and the parents whose launch was missed launch once at the swap, each
 * counted from its newest child (one walk of the jobs): "missed" last launched at
 * :50 (due :60), "fresh" at :95 (due :100, not yet), "fresh/periodic-1704067290", a
 * parent named like a child, never (due :10). */
Test(periodic, a_new_leader_reads_the_state_off_the_loop) {
        struct state_store *st = state_create();
        struct pool pl = {0};
        put_periodic(st, 10, "missed", "*/10 * * * * *");
        put_periodic(st, 11, "fresh", "*/10 * * * * *");
        put_periodic(st, 12, "fresh/periodic-1704067290", "*/10 * * * * *");
        struct job *c = fx_job("missed/periodic-1704067250", JOB_BATCH, 1, 100, 100);
        cr_assert_eq(state_upsert_job(st, 13, c), 0);
        job_unref(c);
        c = fx_job("fresh/periodic-1704067295", JOB_BATCH, 1, 100, 100);
        cr_assert_eq(state_upsert_job(st, 14, c), 0);
        job_unref(c);
        struct periodic *p = periodic_create(&pool_ops, &pl);
        cr_assert_eq(periodic_restore(p, st, T0 + 99), 0, "nothing launched on the spot");
        cr_assert(periodic_rebuilding(p));
        cr_assert_eq(pl.l.n, 0);
        pool_run(&pl, false);
        cr_assert_eq(periodic_tick(p, st, T0 + 99), 0, "nothing due on the heap");
        cr_assert_not(periodic_rebuilding(p));
        cr_assert_eq(pl.l.n, 2, "at the swap, the missed ones once each");
        bool missed = false, named = false;
        for (int i = 0; i < pl.l.n; i++) {
                missed = missed || strcmp(pl.l.ids[i], "missed/periodic-1704067299") == 0;
                named = named || strcmp(pl.l.ids[i], "fresh/periodic-1704067290/periodic-1704067299") == 0;
        }
        cr_assert(missed && named, "%s %s", pl.l.ids[0], pl.l.ids[1]);
        cr_assert_eq(periodic_next_launch(p, "default", "fresh"), T0 + 100);
        cr_assert_eq(periodic_tick(p, st, T0 + 100), 3);
        pool_run(&pl, false);
        periodic_destroy(p);
        state_destroy(st);
}
