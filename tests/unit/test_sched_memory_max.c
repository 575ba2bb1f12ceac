/* test_sched_memory_max.c - memory_max in a placement's AllocatedResources follows the
 * scheduler configuration's MemoryOversubscriptionEnabled as in Nomad: off (Nomad's
 * default, drover's servers) every task shows MemoryMaxMB 0 whatever its memory_max;
 * on, the task's memory_max. The JSON survives a round trip (the plan codec's JSON
 * form, snapshots). */
#include <criterion/criterion.h>

#include "common/error.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/live_planner.h"

static struct state_store *live;
static uint64_t idx;
static int ids;
static struct live_store planner_store = {&live, &idx};
static const struct planner_ops ops = {live_submit, live_write_eval, live_write_eval};

static bool first_alloc(void *arg, const struct alloc *a) {
        *(const struct alloc **)arg = a;
        return false;
}

/* Place job "mm" (task "t": memory 100, memory_max 300; task "u": no memory_max, with a
 * static port so that AllocatedResources has assignments of its own) and return the
 * MemoryMaxMB of each task in its allocation's JSON, after a JSON round trip too. */
static void place(bool oversub, json_int_t *ret_t, json_int_t *ret_u) {
        live = state_create();
        idx = 10;
        ids = 0;
        struct node *n = fx_node("n1", "dc1", 4000, 8192);
        cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
        node_unref(n);
        struct job *j = fx_job("mm", JOB_SERVICE, 1, 100, 100);
        struct task_group *g = &j->groups[0];
        g->tasks = realloc(g->tasks, 2 * sizeof(*g->tasks));
        memset(&g->tasks[1], 0, sizeof(g->tasks[1]));
        g->n_tasks = 2;
        g->tasks[1].name = strdup("u");
        g->tasks[1].driver = strdup("raw_exec");
        g->tasks[1].resources.cpu = 50;
        g->tasks[1].resources.memory_mb = 64;
        g->tasks[0].resources.memory_max_mb = 300;
        fx_add_static_port(j, 8080);
        cr_assert_eq(state_upsert_job(live, ++idx, j), 0);
        struct eval *e = fx_eval("eval-1", j, "job-register");
        job_unref(j);
        cr_assert_eq(state_upsert_evals(live, ++idx, &e, 1), 0);
        struct state_store *snap = state_snapshot(live);
        struct scheduler_env env = {.gen_id = live_seq_id, .id_data = &ids, .memory_oversubscription = oversub};
        struct error err = {0};
        cr_assert_eq(scheduler_process_env(snap, e, &ops, &planner_store, &env, &err), 0, "%s", err.msg);
        state_destroy(snap);
        eval_unref(e);
        const struct alloc *a = NULL;
        state_allocs_by_job_foreach(live, "default", "mm", first_alloc, &a);
        cr_assert_not_null(a, "placed");
        json_t *js = alloc_to_json(a);
        struct alloc *back = NULL;
        cr_assert_eq(alloc_from_json(js, &back, &err), 0, "%s", err.msg);
        json_t *js2 = alloc_to_json(back);
        json_t *o[] = {js, js2};
        for (int k = 0; k < 2; k++) {
                json_t *tasks = json_object_get(json_object_get(o[k], "AllocatedResources"), "Tasks");
                json_t *t = json_object_get(json_object_get(tasks, "t"), "Memory");
                json_t *u = json_object_get(json_object_get(tasks, "u"), "Memory");
                cr_assert_eq(json_integer_value(json_object_get(t, "MemoryMB")), 100);
                cr_assert_eq(json_integer_value(json_object_get(u, "MemoryMB")), 64);
                cr_assert(json_is_integer(json_object_get(t, "MemoryMaxMB")));
                if (k == 1) {
                        cr_assert_eq(json_integer_value(json_object_get(t, "MemoryMaxMB")), *ret_t, "round trip");
                        cr_assert_eq(json_integer_value(json_object_get(u, "MemoryMaxMB")), *ret_u, "round trip");
                }
                *ret_t = json_integer_value(json_object_get(t, "MemoryMaxMB"));
                *ret_u = json_integer_value(json_object_get(u, "MemoryMaxMB"));
        }
        cr_assert_eq(json_array_size(json_object_get(json_object_get(json_object_get(js, "AllocatedResources"), "Shared"),
                                                     "Ports")),
                     1, "the port assignment is still there");
        json_decref(js);
        json_decref(js2);
        alloc_unref(back);
        state_destroy(live);
}

Test(sched_memory_max, zero_without_memory_oversubscription) {
        json_int_t t = -1, u = -1;
        place(false, &t, &u);
        cr_assert_eq(t, 0, "memory_max 300 is not allocated without oversubscription");
        cr_assert_eq(u, 0);
}

Test(sched_memory_max, the_tasks_memory_max_with_memory_oversubscription) {
        json_int_t t = -1, u = -1;
        place(true, &t, &u);
        cr_assert_eq(t, 300);
        cr_assert_eq(u, 0, "a task without memory_max");
}

/* An alloc that Nomad serialised with MemoryMaxMB (oversubscription on there) keeps it. */
Test(sched_memory_max, nomads_allocated_memory_max_is_kept) {
        struct job *j = fx_job("mm", JOB_SERVICE, 1, 100, 100);
        j->groups[0].tasks[0].resources.memory_max_mb = 300;
        struct alloc *a = fx_alloc("a0", j, "n1", 0, 100, 100);
        json_t *js = alloc_to_json(a);
        json_t *mem = json_object_get(
            json_object_get(json_object_get(json_object_get(js, "AllocatedResources"), "Tasks"), "t"), "Memory");
        cr_assert_eq(json_integer_value(json_object_get(mem, "MemoryMaxMB")), 0, "no scheduler record: 0");
        json_object_set_new(mem, "MemoryMaxMB", json_integer(512));
        struct alloc *back = NULL;
        struct error err = {0};
        cr_assert_eq(alloc_from_json(js, &back, &err), 0, "%s", err.msg);
        json_t *js2 = alloc_to_json(back);
        mem = json_object_get(
            json_object_get(json_object_get(json_object_get(js2, "AllocatedResources"), "Tasks"), "t"), "Memory");
        cr_assert_eq(json_integer_value(json_object_get(mem, "MemoryMaxMB")), 512);
        json_decref(js);
        json_decref(js2);
        alloc_unref(a);
        alloc_unref(back);
        job_unref(j);
}
