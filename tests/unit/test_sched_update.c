/* test_sched_update.c - in-place vs destructive updates (Nomad's tasksUpdated) and the
 * update block's merge and defaults. */
#include <criterion/criterion.h>

#include "controlplane/scheduler/update.h"
#include "tests/unit/fixtures.h"

struct ucase {
        const char *name;
        void (*edit)(struct job *j);
        bool destructive;
};

static struct task *t0(struct job *j) {
        return &j->groups[0].tasks[0];
}

static void e_none(struct job *j) {
        (void)j;
}
static void e_priority(struct job *j) {
        j->priority = 90;
}
static void e_count(struct job *j) {
        j->groups[0].count = 7;
}
static void e_update_block(struct job *j) {
        json_decref(j->extra); /* the copy's own */
        j->extra = json_pack("{s:{s:i}}", "Update", "MaxParallel", 4);
}
static void e_restart(struct job *j) {
        j->groups[0].restart.attempts = 9;
}
static void e_kill_timeout(struct job *j) {
        t0(j)->kill_timeout_ns = 99;
}
static void e_services(struct job *j) {
        json_decref(t0(j)->extra);
        t0(j)->extra = json_pack("{s:[{s:s}]}", "Services", "Name", "web");
}
static void e_env(struct job *j) {
        strmap_set(&t0(j)->env, "A", "1");
}
static void e_config(struct job *j) {
        json_decref(t0(j)->config);
        t0(j)->config = json_pack("{s:s}", "command", "/bin/other");
}
static void e_driver(struct job *j) {
        free(t0(j)->driver);
        t0(j)->driver = strdup("exec");
}
static void e_cpu(struct job *j) {
        t0(j)->resources.cpu += 1;
}
static void e_memory_max(struct job *j) {
        t0(j)->resources.memory_max_mb = 999;
}
static void e_job_meta(struct job *j) {
        strmap_set(&j->meta, "owner", "me");
}
static void e_task_meta(struct job *j) {
        strmap_set(&t0(j)->meta, "owner", "me");
}
static void e_group_constraint(struct job *j) {
        fx_add_constraint(&j->groups[0].constraints, &j->groups[0].n_constraints, "${attr.os}", "=", "linux");
}
static void e_job_constraint(struct job *j) {
        fx_add_constraint(&j->constraints, &j->n_constraints, "${attr.os}", "=", "linux");
}
static void e_artifacts(struct job *j) {
        json_decref(t0(j)->extra);
        t0(j)->extra = json_pack("{s:[{s:s}]}", "Artifacts", "GetterSource", "https://example.com/x");
}
static void e_templates(struct job *j) {
        json_decref(t0(j)->extra);
        t0(j)->extra = json_pack("{s:[{s:s}]}", "Templates", "EmbeddedTmpl", "x");
}
static void e_disk(struct job *j) {
        j->groups[0].ephemeral_disk_mb = 500;
}
static void e_datacenters(struct job *j) {
        j->datacenters[0][0] = 'x';
}
static void e_user(struct job *j) {
        free(t0(j)->user);
        t0(j)->user = strdup("nobody");
}

static void e_lifecycle(struct job *j) {
        t0(j)->hook = TASK_HOOK_PRESTART;
}
static void e_sidecar(struct job *j) {
        t0(j)->sidecar = true;
}

static const struct ucase cases[] = {
    {"no change", e_none, false},
    {"job priority", e_priority, false},
    {"count", e_count, false},
    {"update block", e_update_block, false},
    {"restart policy", e_restart, false},
    {"kill timeout", e_kill_timeout, false},
    {"services", e_services, false},
    {"env", e_env, true},
    {"driver config", e_config, true},
    {"driver", e_driver, true},
    {"user", e_user, true},
    {"cpu", e_cpu, true},
    {"memory_max", e_memory_max, true},
    {"job meta (the task sees it)", e_job_meta, true},
    {"task meta", e_task_meta, true},
    {"group constraint", e_group_constraint, true},
    {"job constraint", e_job_constraint, true},
    {"artifacts", e_artifacts, true},
    {"templates", e_templates, true},
    {"ephemeral disk", e_disk, true},
    {"datacenters", e_datacenters, true},
    {"lifecycle hook", e_lifecycle, true},
    {"lifecycle sidecar", e_sidecar, true},
};

Test(sched_update, tasks_updated_table) {
        struct job *a = fx_job("web", JOB_SERVICE, 2, 100, 100);
        a->groups[0].tasks[0].config = json_pack("{s:s}", "command", "/bin/sleep");
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct job *b = job_copy(a);
                cases[i].edit(b);
                cr_expect_eq(sched_tasks_updated(a, b, "g"), cases[i].destructive, "%s: want %s", cases[i].name,
                             cases[i].destructive ? "destructive" : "in place");
                cr_expect_eq(sched_tasks_updated(b, a, "g"), cases[i].destructive, "%s (reversed)", cases[i].name);
                job_unref(b);
        }
        cr_expect(sched_tasks_updated(a, a, "missing"), "a group missing is destructive");
        job_unref(a);
}

Test(sched_update, meta_and_env_order_does_not_matter) {
        struct job *a = fx_job("web", JOB_SERVICE, 1, 100, 100);
        strmap_set(&a->groups[0].tasks[0].env, "A", "1");
        strmap_set(&a->groups[0].tasks[0].env, "B", "2");
        struct job *b = fx_job("web", JOB_SERVICE, 1, 100, 100);
        strmap_set(&b->groups[0].tasks[0].env, "B", "2");
        strmap_set(&b->groups[0].tasks[0].env, "A", "1");
        cr_assert_not(sched_tasks_updated(a, b, "g"));
        /* the same meta key moved from the job to the task: the task sees the same */
        strmap_set(&a->meta, "k", "v");
        strmap_set(&b->groups[0].tasks[0].meta, "k", "v");
        cr_assert_not(sched_tasks_updated(a, b, "g"));
        job_unref(a);
        job_unref(b);
}

Test(sched_update, strategy_defaults_and_merge) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        struct update_strategy s;
        sched_update_strategy(j, &j->groups[0], &s);
        cr_assert_not(s.set);
        cr_assert_eq(s.max_parallel, 1);
        cr_assert_eq(s.min_healthy_ns, INT64_C(10000000000));
        cr_assert_eq(s.healthy_deadline_ns, INT64_C(300000000000));
        cr_assert_eq(s.progress_deadline_ns, INT64_C(600000000000));
        j->extra = json_pack("{s:{s:i,s:I,s:i,s:b}}", "Update", "MaxParallel", 3, "MinHealthyTime",
                             (json_int_t)1000000000, "Canary", 1, "AutoRevert", 1);
        j->groups[0].extra = json_pack("{s:{s:i,s:s}}", "Update", "MaxParallel", 2, "HealthCheck", "task_states");
        sched_update_strategy(j, &j->groups[0], &s);
        cr_assert(s.set);
        cr_assert_eq(s.max_parallel, 2, "the group's over the job's");
        cr_assert_eq(s.min_healthy_ns, INT64_C(1000000000), "the job's where the group says nothing");
        cr_assert_eq(s.canary, 1);
        cr_assert(s.auto_revert);
        cr_assert_not(s.health_checks);
        job_unref(j);
        struct job *b = fx_job("b", JOB_BATCH, 1, 100, 100);
        b->extra = json_pack("{s:{s:i}}", "Update", "MaxParallel", 3);
        sched_update_strategy(b, &b->groups[0], &s);
        cr_assert_eq(s.max_parallel, 0, "batch jobs update all at once");
        cr_assert_not(s.set);
        job_unref(b);
}

Test(sched_update, outdated_by_version_or_modify_index) {
        struct job *a = fx_job("web", JOB_SERVICE, 1, 100, 100);
        struct alloc *al = fx_alloc("x", a, "n1", 0, 100, 100);
        cr_assert_not(sched_alloc_outdated(al, a));
        struct job *b = job_copy(a);
        cr_assert_not(sched_alloc_outdated(al, b), "an equal copy is the same version");
        b->version++;
        cr_assert(sched_alloc_outdated(al, b));
        alloc_unref(al);
        job_unref(a);
        job_unref(b);
}
