/* test_fsm_scaling.c - the ScalingEvent command and the scaling-events table:
 * servers applying the same log answer the same events, newest first and bounded;
 * malformed commands change nothing; snapshots keep them and do not see later ones. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>

#include "common/error.h"
#include "controlplane/raft/fsm.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_scaling.h"

static json_t *event_cmd(const char *job, const char *group, int count, int64_t time) {
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:s,s:{s:I,s:i,s:i,s:s,s:b,s:n,s:s}}", "Type", "ScalingEvent",
                                "Namespace", "default", "JobID", job, "TaskGroup", group, "Event", "Time",
                                (json_int_t)time, "Count", count, "PreviousCount", count - 1, "Message", "scale",
                                "Error", 0, "Meta", "EvalID", "00000000-0000-0000-0000-000000000001");
        cr_assert_not_null(cmd);
        return cmd;
}

static int apply(struct fsm *f, uint64_t index, json_t *cmd) {
        struct error err = {0};
        int r = fsm_apply_command(f, index, cmd, &err);
        json_decref(cmd);
        return r;
}

Test(fsm_scaling, servers_applying_the_same_log_answer_the_same_bounded_events) {
        struct state_store *a = state_create(), *b = state_create();
        struct fsm *fa = fsm_create(&a, NULL, NULL), *fb = fsm_create(&b, NULL, NULL);
        cr_assert(a && b && fa && fb);
        for (int i = 1; i <= STATE_SCALING_EVENTS_MAX + 5; i++) {
                cr_assert_eq(apply(fa, (uint64_t)i + 10, event_cmd("web", "g", i, 1000 + i)), 0);
                cr_assert_eq(apply(fb, (uint64_t)i + 10, event_cmd("web", "g", i, 1000 + i)), 0);
        }
        const json_t *ea = state_scaling_events(a, "default", "web"), *eb = state_scaling_events(b, "default", "web");
        cr_assert_not_null(ea);
        cr_expect(json_equal((json_t *)ea, (json_t *)eb), "the same events on both servers");
        const json_t *list = json_object_get(ea, "g");
        cr_expect_eq(json_array_size(list), STATE_SCALING_EVENTS_MAX, "bounded per group");
        const json_t *newest = json_array_get(list, 0);
        cr_expect_eq(json_integer_value(json_object_get(newest, "Count")), STATE_SCALING_EVENTS_MAX + 5, "newest first");
        cr_expect_eq(json_integer_value(json_object_get(newest, "CreateIndex")), STATE_SCALING_EVENTS_MAX + 15);
        cr_expect(json_is_null(json_object_get(newest, "Meta")));
        cr_expect_null(state_scaling_events(a, "default", "other"));
        cr_expect_null(state_scaling_events(a, "prod", "web"), "namespaces are apart");
        fsm_destroy(fa);
        fsm_destroy(fb);
        state_destroy(a);
        state_destroy(b);
}

Test(fsm_scaling, malformed_commands_are_rejected_and_change_nothing) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        cr_assert(st && f);
        json_t *no_group = event_cmd("web", "g", 1, 1);
        json_object_set_new(no_group, "TaskGroup", json_string(""));
        cr_expect_eq(apply(f, 5, no_group), -EINVAL);
        json_t *bad_count = event_cmd("web", "g", 1, 1);
        json_object_set_new(json_object_get(bad_count, "Event"), "Count", json_string("3"));
        cr_expect_eq(apply(f, 6, bad_count), -EINVAL);
        json_t *no_time = event_cmd("web", "g", 1, 1);
        json_object_del(json_object_get(no_time, "Event"), "Time");
        cr_expect_eq(apply(f, 7, no_time), -EINVAL);
        json_t *bad_meta = event_cmd("web", "g", 1, 1);
        json_object_set_new(json_object_get(bad_meta, "Event"), "Meta", json_integer(1));
        cr_expect_eq(apply(f, 8, bad_meta), -EINVAL);
        cr_expect_null(state_scaling_events(st, "default", "web"));
        fsm_destroy(f);
        state_destroy(st);
}

Test(fsm_scaling, snapshots_keep_events_and_do_not_see_later_ones) {
        struct state_store *st = state_create();
        struct fsm *f = fsm_create(&st, NULL, NULL);
        cr_assert(st && f);
        cr_assert_eq(apply(f, 3, event_cmd("web", "g", 2, 100)), 0);
        struct state_store *view = state_snapshot(st);
        cr_assert_not_null(view);
        cr_assert_eq(apply(f, 4, event_cmd("web", "g", 3, 200)), 0);
        cr_expect_eq(json_array_size(json_object_get(state_scaling_events(view, "default", "web"), "g")), 1,
                     "the view was taken before the second event");
        cr_expect_eq(json_array_size(json_object_get(state_scaling_events(st, "default", "web"), "g")), 2);
        json_t *ev = json_object(); /* the caller keeps its event (state_scaling_add copies it) */
        cr_expect_eq(state_scaling_add(view, 9, "default", "web", "g", ev), -EROFS);
        json_decref(ev);

        json_t *saved = NULL;
        cr_assert_eq(state_save(st, &saved), 0);
        struct state_store *restored = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(saved, &restored, &err), 0, "%s", err.msg);
        cr_expect(json_equal((json_t *)state_scaling_events(st, "default", "web"),
                             (json_t *)state_scaling_events(restored, "default", "web")),
                  "a restored server answers the same events");
        json_object_set_new(saved, "ScalingEvents", json_pack("{s:{s:i}}", "default\x1fweb", "g", 1));
        struct state_store *bad = NULL;
        cr_expect_lt(state_restore(saved, &bad, &err), 0, "a malformed table is refused");
        json_decref(saved);
        state_destroy(restored);
        state_destroy(view);
        fsm_destroy(f);
        state_destroy(st);
}

Test(fsm_scaling, events_of_jobs_that_no_longer_exist_are_pruned_past_the_bound) {
        struct state_store *st = state_create();
        cr_assert_not_null(st);
        char job[32];
        for (int i = 0; i <= STATE_SCALING_JOBS_PRUNE + 1; i++) {
                snprintf(job, sizeof(job), "gone-%d", i);
                json_t *ev = json_pack("{s:I}", "Time", (json_int_t)i);
                cr_assert_eq(state_scaling_add(st, (uint64_t)i + 1, "default", job, "g", ev), 0);
                json_decref(ev);
        }
        cr_expect_null(state_scaling_events(st, "default", "gone-0"), "pruned: no such job");
        cr_expect_not_null(state_scaling_events(st, "default", job), "the newest is kept");
        state_destroy(st);
}
