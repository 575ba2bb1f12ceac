/* test_sched_config.c - the scheduler configuration in the replicated state: the
 * state store's field and its check-and-set, the SchedulerConfig FSM command,
 * snapshots, and the API answering from the state (so a new leader keeps it). */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "common/error.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "tests/support/api_harness.h"

Test(sched_config, a_new_store_holds_nomads_defaults) {
        struct state_store *st = state_create();
        const struct state_sched_config *sc = state_sched_config(st);
        cr_expect_eq(sc->algorithm, SCHED_ALG_BINPACK);
        cr_expect(sc->preempt_system);
        cr_expect(!sc->preempt_sysbatch && !sc->preempt_batch && !sc->preempt_service);
        cr_expect(!sc->reject_job_registration);
        cr_expect_eq(sc->create_index, 0);
        cr_expect_eq(sc->modify_index, 0);
        state_destroy(st);
}

Test(sched_config, set_keeps_create_index_and_checks_cas) {
        struct state_store *st = state_create();
        struct state_sched_config want = {.algorithm = SCHED_ALG_SPREAD, .preempt_service = true};
        cr_assert_eq(state_set_sched_config(st, 5, &want, true, 0), 0, "cas 0 matches a never-set config");
        cr_expect_eq(state_sched_config(st)->algorithm, SCHED_ALG_SPREAD);
        cr_expect_eq(state_sched_config(st)->create_index, 5);
        cr_expect_eq(state_sched_config(st)->modify_index, 5);
        cr_expect_eq(state_latest_index(st), 5);
        struct state_store *snap = state_snapshot(st);
        want.algorithm = SCHED_ALG_DOTPRODUCT;
        cr_expect_eq(state_set_sched_config(st, 7, &want, true, 4), -ECANCELED, "stale cas");
        cr_expect_eq(state_sched_config(st)->algorithm, SCHED_ALG_SPREAD, "a lost cas changes nothing");
        cr_expect_eq(state_set_sched_config(st, 7, &want, true, 5), 0);
        cr_expect_eq(state_sched_config(st)->create_index, 5);
        cr_expect_eq(state_sched_config(st)->modify_index, 7);
        cr_expect_eq(state_sched_config(snap)->algorithm, SCHED_ALG_SPREAD, "a snapshot keeps its view");
        cr_expect_eq(state_set_sched_config(snap, 8, &want, false, 0), -EROFS);
        want.algorithm = STATE_SCHED_ALGORITHMS;
        cr_expect_eq(state_set_sched_config(st, 8, &want, false, 0), -EINVAL);
        state_destroy(snap);
        state_destroy(st);
}

Test(sched_config, survives_save_and_restore) {
        struct state_store *st = state_create();
        struct state_sched_config want = {.algorithm = SCHED_ALG_DOTPRODUCT,
                                          .preempt_batch = true,
                                          .preempt_sysbatch = true,
                                          .reject_job_registration = true};
        cr_assert_eq(state_set_sched_config(st, 3, &want, false, 0), 0);
        cr_assert_eq(state_set_sched_config(st, 9, &want, false, 0), 0);
        json_t *saved = NULL;
        cr_assert_eq(state_save(st, &saved), 0);
        struct state_store *back = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(saved, &back, &err), 0, "%s", err.msg);
        const struct state_sched_config *sc = state_sched_config(back);
        cr_expect_eq(sc->algorithm, SCHED_ALG_DOTPRODUCT);
        cr_expect(sc->preempt_batch && sc->preempt_sysbatch && !sc->preempt_system && !sc->preempt_service);
        cr_expect(sc->reject_job_registration);
        cr_expect_eq(sc->create_index, 3);
        cr_expect_eq(sc->modify_index, 9);
        /* A corrupt one is refused, an absent one gives the defaults. */
        json_object_set_new(json_object_get(saved, "SchedulerConfig"), "Algorithm", json_integer(42));
        struct state_store *bad = NULL;
        cr_expect_eq(state_restore(saved, &bad, &err), -EINVAL);
        cr_expect_null(bad);
        json_object_del(saved, "SchedulerConfig");
        struct state_store *old = NULL;
        cr_assert_eq(state_restore(saved, &old, &err), 0, "%s", err.msg);
        cr_expect(state_sched_config(old)->preempt_system);
        cr_expect_eq(state_sched_config(old)->modify_index, 0);
        state_destroy(old);
        json_decref(saved);
        state_destroy(back);
        state_destroy(st);
}

Test(sched_config, fsm_command_applies_validates_and_checks_cas) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        struct error err = {0};
        json_t *cmd = json_pack("{s:s,s:i,s:b,s:b}", "Type", "SchedulerConfig", "Algorithm", SCHED_ALG_SPREAD,
                                "PreemptService", 1, "RejectJobRegistration", 1);
        cr_assert_eq(fsm_apply_command(f, 10, cmd, &err), 0, "%s", err.msg);
        cr_expect_eq(state_sched_config(st)->algorithm, SCHED_ALG_SPREAD);
        cr_expect(state_sched_config(st)->preempt_service);
        cr_expect(!state_sched_config(st)->preempt_system, "the command carries every field");
        cr_expect(state_sched_config(st)->reject_job_registration);
        cr_expect_eq(state_sched_config(st)->modify_index, 10);
        /* A check-and-set that lost the race is rejected with -ECANCELED. */
        json_object_set_new(cmd, "Algorithm", json_integer(SCHED_ALG_BINPACK));
        json_object_set_new(cmd, "CAS", json_integer(9));
        cr_expect_eq(fsm_apply_command(f, 11, cmd, &err), -ECANCELED);
        cr_expect(strstr(err.msg, "check-and-set"), "%s", err.msg);
        cr_expect_eq(state_sched_config(st)->algorithm, SCHED_ALG_SPREAD);
        json_object_set_new(cmd, "CAS", json_integer(10));
        cr_expect_eq(fsm_apply_command(f, 12, cmd, &err), 0, "%s", err.msg);
        cr_expect_eq(state_sched_config(st)->algorithm, SCHED_ALG_BINPACK);
        cr_expect_eq(state_sched_config(st)->modify_index, 12);
        /* Bad commands change nothing. */
        json_object_del(cmd, "CAS");
        json_object_set_new(cmd, "Algorithm", json_integer(-1));
        cr_expect_eq(fsm_apply_command(f, 13, cmd, &err), -EINVAL);
        json_object_set_new(cmd, "Algorithm", json_string("spread"));
        cr_expect_eq(fsm_apply_command(f, 14, cmd, &err), -EINVAL);
        json_object_set_new(cmd, "Algorithm", json_integer(SCHED_ALG_SPREAD));
        json_object_set_new(cmd, "CAS", json_string("12"));
        cr_expect_eq(fsm_apply_command(f, 15, cmd, &err), -EINVAL);
        cr_expect_eq(state_sched_config(st)->modify_index, 12);
        cr_expect_eq(state_sched_config(st)->algorithm, SCHED_ALG_BINPACK);
        json_decref(cmd);
        fsm_destroy(f);
        state_destroy(st);
}

/* The API reads the configuration from the state: what a SchedulerConfig command
 * put there (as on a new leader that never saw the PUT) is what GET answers and what
 * job registration obeys, and ?cas compares against the state's ModifyIndex. */
Test(sched_config, api_answers_from_the_replicated_state) {
        struct api_harness *s = api_harness_new();
        cr_assert_not_null(s);
        json_t *cmd = json_pack("{s:s,s:i,s:b}", "Type", "SchedulerConfig", "Algorithm", SCHED_ALG_SPREAD,
                                "RejectJobRegistration", 1);
        uint64_t idx = state_latest_index(s->state) + 1;
        cr_assert_eq(fsm_apply_command(s->fsm, idx, cmd, NULL), 0);
        json_decref(cmd);
        struct api_reply r;
        api_harness_request(s, "GET", "/v1/operator/scheduler/configuration", NULL, 0, &r);
        cr_assert_eq(r.status, 200);
        json_t *j = json_loads(r.body, 0, NULL);
        json_t *sc = json_object_get(j, "SchedulerConfig");
        cr_expect_str_eq(json_string_value(json_object_get(sc, "SchedulerAlgorithm")), "spread");
        cr_expect(json_is_true(json_object_get(sc, "RejectJobRegistration")));
        cr_expect_eq(json_integer_value(json_object_get(sc, "ModifyIndex")), (json_int_t)idx);
        json_decref(j);
        api_reply_clear(&r);
        char target[96];
        snprintf(target, sizeof(target), "/v1/operator/scheduler/configuration?cas=%llu", (unsigned long long)idx);
        const char *body = "{\"SchedulerAlgorithm\":\"binpack\"}";
        api_harness_request(s, "PUT", target, body, strlen(body), &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        j = json_loads(r.body, 0, NULL);
        cr_expect(json_is_true(json_object_get(j, "Updated")), "%s", r.body);
        json_decref(j);
        api_reply_clear(&r);
        cr_expect_eq(state_sched_config(s->state)->algorithm, SCHED_ALG_BINPACK, "the PUT went through the FSM");
        cr_expect(state_sched_config(s->state)->reject_job_registration, "fields not in the body are kept");
        cr_expect_gt(state_sched_config(s->state)->modify_index, idx);
        api_harness_request(s, "PUT", "/v1/operator/scheduler/configuration?cas=-1", body, strlen(body), &r);
        cr_expect_eq(r.status, 400);
        api_reply_clear(&r);
        api_harness_free(s);
}

/* Another write of the configuration commits between the route's check and its own
 * command: the FSM's check-and-set refuses the second, and the answer says so. */
static void racing_write(struct api_harness *h, void *arg) {
        (void)arg;
        json_t *cmd = json_pack("{s:s,s:i}", "Type", "SchedulerConfig", "Algorithm", SCHED_ALG_DOTPRODUCT);
        cr_assert_eq(fsm_apply_command(h->fsm, state_latest_index(h->state) + 1, cmd, NULL), 0);
        json_decref(cmd);
}

Test(sched_config, a_cas_write_that_loses_the_race_in_the_fsm_is_not_updated) {
        struct api_harness *s = api_harness_new();
        cr_assert_not_null(s);
        api_harness_before_apply(s, racing_write, NULL);
        const char *body = "{\"SchedulerAlgorithm\":\"spread\"}";
        struct api_reply r;
        api_harness_request(s, "PUT", "/v1/operator/scheduler/configuration?cas=0", body, strlen(body), &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_t *j = json_loads(r.body, 0, NULL);
        cr_expect(json_is_false(json_object_get(j, "Updated")), "%s", r.body);
        json_decref(j);
        api_reply_clear(&r);
        cr_expect_eq(state_sched_config(s->state)->algorithm, SCHED_ALG_DOTPRODUCT, "the racing write stands");
        api_harness_free(s);
}
