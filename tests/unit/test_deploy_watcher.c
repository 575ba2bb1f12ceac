/* test_deploy_watcher.c - deployments in the state store (created with the job's
 * version, cancelled by the next, kept in snapshots, deleted with the job) and the
 * deployment watcher driven with a fake clock: health from task states after
 * min_healthy_time, unhealthy allocs and the progress deadline fail it, success marks
 * the version Stable (in the job versions table too, even once a newer version is
 * registered), auto_revert registers the last stable version found there again,
 * PlacedCanaries lists the canaries' IDs, healthy_deadline marks a late alloc unhealthy,
 * auto_promote promotes once the canaries are healthy, health_check = "manual" is never
 * judged by the watcher. */
#include <criterion/criterion.h>

#include <errno.h>

#include "common/error.h"
#include "common/jsonx.h"
#include "controlplane/leader/deploy_watcher.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_deploy.h"
#include "controlplane/state/state_versions.h"
#include "tests/unit/fixtures.h"

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1800000000) * SEC)

static struct state_store *st;
static uint64_t idx = 10;

static void setup(void) {
        st = state_create();
}
static void teardown(void) {
        state_destroy(st);
}
TestSuite(deploy, .init = setup, .fini = teardown);

/* Register a service job "web" (count 2) with update {max_parallel, min_healthy 1 s}. */
static const struct job *register_web(const char *env_version, bool auto_revert, int64_t now) {
        struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 100);
        j->extra = json_pack("{s:{s:i,s:I,s:I,s:I,s:b}}", "Update", "MaxParallel", 1, "MinHealthyTime", (json_int_t)SEC,
                             "HealthyDeadline", (json_int_t)(60 * SEC), "ProgressDeadline", (json_int_t)(120 * SEC),
                             "AutoRevert", auto_revert);
        strmap_set(&j->groups[0].tasks[0].env, "VERSION", env_version);
        idx++;
        cr_assert_eq(state_upsert_job(st, idx, j), 0);
        const struct job *stored = state_job_get(st, "default", "web");
        cr_assert_eq(state_deploy_for_job(st, idx, stored, now), 0);
        job_unref(j);
        return stored;
}

/* An alloc of the job's current version in its deployment, running since started. */
static void add_alloc(const char *id, int index, int64_t started, enum alloc_client cs) {
        const struct job *j = state_job_get(st, "default", "web");
        const struct deployment *d = state_deployment_latest(st, "default", "web");
        struct alloc *a = fx_alloc(id, (struct job *)j, "n1", index, 100, 100);
        a->deployment_id = strdup(d->id);
        a->client_status = cs;
        a->create_time = started;
        a->task_states = calloc(1, sizeof(*a->task_states));
        a->n_task_states = 1;
        a->task_states[0].name = strdup("t");
        a->task_states[0].state = cs == ALLOC_CLIENT_RUNNING ? TASK_RUNNING : TASK_DEAD;
        a->task_states[0].started_at = started;
        idx++;
        cr_assert_eq(state_upsert_allocs(st, idx, &a, 1), 0);
        alloc_unref(a);
}

/* Apply the watcher's commands as the FSM would (the subset these tests need). */
static void apply(json_t *cmds) {
        size_t i;
        json_t *cmd;
        json_array_foreach(cmds, i, cmd) {
                const char *type = json_string_value(json_object_get(cmd, "Type"));
                idx++;
                if (strcmp(type, "DeploymentAllocHealth") == 0) {
                        for (int k = 0; k < 2; k++) {
                                json_t *arr = json_object_get(cmd, k ? "Unhealthy" : "Healthy");
                                for (size_t x = 0; x < json_array_size(arr); x++) {
                                        const char *id = json_string_value(json_array_get(arr, x));
                                        state_deploy_set_health(st, idx, &id, 1, k == 0, 1);
                                }
                        }
                } else if (strcmp(type, "DeploymentUpsert") == 0) {
                        struct deployment *d = NULL;
                        cr_assert_eq(deployment_from_json(json_object_get(cmd, "Deployment"), &d, NULL), 0);
                        state_upsert_deployment(st, idx, d);
                        deployment_unref(d);
                        json_t *sj = json_object_get(cmd, "StableJob");
                        if (sj)
                                cr_assert_eq(state_versions_mark_stable(st, idx, jx_str(sj, "Namespace", ""),
                                                                        jx_str(sj, "JobID", ""),
                                                                        (uint64_t)jx_int(sj, "Version", -1)),
                                             0);
                }
        }
}

static json_t *step(int64_t now) {
        json_t *cmds = NULL;
        cr_assert_eq(deploy_watcher_step(st, now, NULL, &cmds), 0);
        return cmds;
}

static const char *type_of(json_t *cmds, size_t i) {
        return json_string_value(json_object_get(json_array_get(cmds, i), "Type"));
}

Test(deploy, created_with_the_version_and_cancelled_by_the_next) {
        register_web("1", false, T0);
        const struct deployment *d0 = state_deployment_latest(st, "default", "web");
        cr_assert_not_null(d0);
        cr_assert_eq(d0->status, DEPLOY_RUNNING);
        cr_assert_eq(d0->job_version, 0);
        cr_assert_eq(d0->n_groups, 1);
        cr_assert_eq(d0->groups[0].desired_total, 2);
        cr_assert_eq(d0->groups[0].require_progress_by, T0 + 120 * SEC);
        char id0[64];
        snprintf(id0, sizeof(id0), "%s", d0->id);
        /* the same registration again (no change): no new deployment */
        register_web("1", false, T0);
        cr_assert_str_eq(state_deployment_latest(st, "default", "web")->id, id0);
        register_web("2", false, T0 + SEC);
        const struct deployment *d1 = state_deployment_latest(st, "default", "web");
        cr_assert_str_neq(d1->id, id0);
        cr_assert_eq(d1->job_version, 1);
        cr_assert_eq(state_deployment_get(st, id0)->status, DEPLOY_CANCELLED);
        /* a job without an update block, and a batch job, get none */
        struct job *plain = fx_job("plain", JOB_SERVICE, 1, 100, 100);
        cr_assert_eq(state_upsert_job(st, ++idx, plain), 0);
        cr_assert_eq(state_deploy_for_job(st, idx, state_job_get(st, "default", "plain"), T0), 0);
        cr_assert_null(state_deployment_latest(st, "default", "plain"));
        job_unref(plain);
        /* snapshots keep them; deleting the job deletes them */
        json_t *saved = NULL;
        cr_assert_eq(state_save(st, &saved), 0);
        struct state_store *back = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(saved, &back, &err), 0, "%s", err.msg);
        cr_assert_eq(state_deployment_get(back, id0)->status, DEPLOY_CANCELLED);
        cr_assert_eq(state_deployment_latest(back, "default", "web")->job_version, 1);
        state_destroy(back);
        json_decref(saved);
        cr_assert_eq(state_delete_job(st, ++idx, "default", "web"), 0);
        cr_assert_null(state_deployment_latest(st, "default", "web"));
}

Test(deploy, healthy_after_min_healthy_time_then_successful_and_stable) {
        register_web("1", false, T0);
        add_alloc("a0", 0, T0, ALLOC_CLIENT_RUNNING);
        add_alloc("a1", 1, T0 + SEC / 2, ALLOC_CLIENT_RUNNING);
        json_t *cmds = step(T0 + SEC / 2);
        cr_assert_eq(json_array_size(cmds), 0, "nobody has run 1 s yet");
        json_decref(cmds);
        cmds = step(T0 + SEC);
        cr_assert_eq(json_array_size(cmds), 2);
        cr_assert_str_eq(type_of(cmds, 0), "DeploymentAllocHealth");
        /* progress: RequireProgressBy moves to now + progress_deadline */
        json_t *bump = json_object_get(json_array_get(cmds, 1), "Deployment");
        cr_assert_str_eq(jx_str(bump, "Status", ""), "running");
        json_t *by = json_object_get(json_object_get(json_object_get(bump, "TaskGroups"), "g"), "RequireProgressBy");
        cr_assert_str_eq(json_string_value(by), "2027-01-15T08:02:01.000000000Z", "a time.Time, as Nomad writes it");
        struct deployment *back = NULL;
        cr_assert_eq(deployment_from_json(bump, &back, NULL), 0);
        cr_assert_eq(back->groups[0].require_progress_by, T0 + SEC + 120 * SEC, "round trip to the nanosecond");
        deployment_unref(back);
        json_t *h = json_object_get(json_array_get(cmds, 0), "Healthy");
        cr_assert_eq(json_array_size(h), 1);
        cr_assert_str_eq(json_string_value(json_array_get(h, 0)), "a0");
        cr_assert_str_eq(
            jx_str(json_array_get(json_object_get(json_array_get(cmds, 0), "Evals"), 0), "TriggeredBy", ""),
            "deployment-watcher");
        apply(cmds);
        json_decref(cmds);
        cr_assert_eq(state_alloc_get(st, "a0")->deploy_health, DEPLOY_HEALTH_HEALTHY);
        /* a1 healthy too: every group complete, no older version left: successful */
        cmds = step(T0 + 2 * SEC);
        cr_assert_eq(json_array_size(cmds), 2);
        cr_assert_str_eq(type_of(cmds, 0), "DeploymentAllocHealth");
        cr_assert_str_eq(type_of(cmds, 1), "DeploymentUpsert");
        json_t *up = json_array_get(cmds, 1);
        cr_assert_str_eq(jx_str(json_object_get(up, "Deployment"), "Status", ""), "successful");
        cr_assert_eq(jx_int(json_object_get(up, "StableJob"), "Version", -1), 0);
        apply(cmds);
        json_decref(cmds);
        cmds = step(T0 + 3 * SEC);
        cr_assert_eq(json_array_size(cmds), 0, "a finished deployment is left alone");
        json_decref(cmds);
}

Test(deploy, older_version_still_running_keeps_it_running) {
        register_web("1", false, T0);
        struct alloc *old = fx_alloc("old", (struct job *)state_job_get(st, "default", "web"), "n1", 1, 100, 100);
        idx++;
        state_upsert_allocs(st, idx, &old, 1);
        alloc_unref(old);
        register_web("2", false, T0);
        add_alloc("a0", 0, T0, ALLOC_CLIENT_RUNNING);
        add_alloc("a1", 1, T0, ALLOC_CLIENT_RUNNING);
        json_t *cmds = step(T0 + 5 * SEC);
        apply(cmds);
        json_decref(cmds);
        cmds = step(T0 + 6 * SEC);
        for (size_t i = 0; i < json_array_size(cmds); i++)
                cr_assert_str_neq(jx_str(json_object_get(json_array_get(cmds, i), "Deployment"), "Status", ""),
                                  "successful", "an alloc of version 0 still runs");
        json_decref(cmds);
}

Test(deploy, unhealthy_alloc_fails_it_and_auto_revert_registers_the_stable_version) {
        /* version 0 deployed successfully */
        register_web("1", true, T0);
        add_alloc("v0a", 0, T0, ALLOC_CLIENT_RUNNING);
        add_alloc("v0b", 1, T0, ALLOC_CLIENT_RUNNING);
        json_t *cmds = step(T0 + 2 * SEC);
        apply(cmds);
        json_decref(cmds);
        cr_assert_eq(state_deployment_latest(st, "default", "web")->status, DEPLOY_SUCCESSFUL);
        /* version 1: its first alloc fails */
        register_web("2", true, T0 + 10 * SEC);
        add_alloc("v1a", 0, T0 + 10 * SEC, ALLOC_CLIENT_FAILED);
        cmds = step(T0 + 11 * SEC);
        cr_assert_eq(json_array_size(cmds), 3);
        cr_assert_str_eq(type_of(cmds, 0), "DeploymentAllocHealth");
        cr_assert_str_eq(type_of(cmds, 1), "DeploymentUpsert");
        json_t *d = json_object_get(json_array_get(cmds, 1), "Deployment");
        cr_assert_str_eq(jx_str(d, "Status", ""), "failed");
        cr_assert_str_eq(jx_str(d, "StatusDescription", ""),
                         "Failed due to unhealthy allocations - rolling back to job version 0");
        cr_assert_str_eq(type_of(cmds, 2), "JobRegister");
        json_t *job = json_object_get(json_array_get(cmds, 2), "Job");
        const char *env = json_string_value(json_object_get(
            json_object_get(
                json_array_get(json_object_get(json_array_get(json_object_get(job, "TaskGroups"), 0), "Tasks"), 0),
                "Env"),
            "VERSION"));
        cr_assert_str_eq(env, "1", "the spec of the stable version 0");
        json_decref(cmds);
}

static const char *env_of(const json_t *job) {
        return json_string_value(json_object_get(
            json_object_get(
                json_array_get(json_object_get(json_array_get(json_object_get(job, "TaskGroups"), 0), "Tasks"), 0),
                "Env"),
            "VERSION"));
}

/* Take version `env` of web through a successful deployment (two healthy allocs). */
static void deploy_ok(const char *env, const char *a, const char *b, int64_t t) {
        register_web(env, true, t);
        add_alloc(a, 0, t, ALLOC_CLIENT_RUNNING);
        add_alloc(b, 1, t, ALLOC_CLIENT_RUNNING);
        json_t *cmds = step(t + 2 * SEC);
        apply(cmds);
        json_decref(cmds);
        cr_assert_eq(state_deployment_latest(st, "default", "web")->status, DEPLOY_SUCCESSFUL);
}

Test(deploy, auto_revert_takes_the_newest_stable_version_from_the_versions_table) {
        /* the allocations of each stable version are gone (replaced, then garbage collected) */
        deploy_ok("1", "v0a", "v0b", T0);
        cr_assert_eq(state_delete_alloc(st, ++idx, "v0a"), 0);
        cr_assert_eq(state_delete_alloc(st, ++idx, "v0b"), 0);
        deploy_ok("2", "v1a", "v1b", T0 + 10 * SEC);
        cr_assert_eq(state_delete_alloc(st, ++idx, "v1a"), 0);
        cr_assert_eq(state_delete_alloc(st, ++idx, "v1b"), 0);
        size_t n = 0;
        struct job *const *v = state_job_versions(st, "default", "web", &n);
        cr_assert_eq(n, 2);
        cr_assert(job_version_stable(v[0]) && job_version_stable(v[1]), "both versions kept Stable");
        /* version 2 is never stable; version 3 fails */
        register_web("3", true, T0 + 20 * SEC);
        register_web("4", true, T0 + 30 * SEC);
        v = state_job_versions(st, "default", "web", &n);
        cr_assert_eq(n, 4);
        cr_assert(!job_version_stable(v[0]) && !job_version_stable(v[1]) && job_version_stable(v[2]));
        add_alloc("v3a", 0, T0 + 30 * SEC, ALLOC_CLIENT_FAILED);
        json_t *cmds = step(T0 + 31 * SEC);
        cr_assert_eq(json_array_size(cmds), 3);
        cr_assert_str_eq(type_of(cmds, 2), "JobRegister");
        cr_assert_str_eq(env_of(json_object_get(json_array_get(cmds, 2), "Job")), "2",
                         "the spec of version 1, the newest Stable one");
        json_decref(cmds);
}

Test(deploy, no_stable_version_no_revert) {
        register_web("1", true, T0);
        add_alloc("a0", 0, T0, ALLOC_CLIENT_FAILED);
        json_t *cmds = step(T0 + SEC);
        for (size_t i = 0; i < json_array_size(cmds); i++)
                cr_assert_str_neq(type_of(cmds, i), "JobRegister", "nothing stable to go back to");
        cr_assert_eq(json_array_size(cmds), 2);
        cr_assert_str_eq(jx_str(json_object_get(json_array_get(cmds, 1), "Deployment"), "StatusDescription", ""),
                         "Failed due to unhealthy allocations - no stable job version to auto revert to");
        json_decref(cmds);
}

Test(deploy, stable_marks_an_older_version_in_the_versions_table) {
        register_web("1", true, T0);
        register_web("2", true, T0);
        uint64_t before = state_table_index(st, STATE_TABLE_JOBS);
        cr_assert_eq(state_versions_mark_stable(st, ++idx, "default", "web", 0), 0);
        cr_assert(state_table_index(st, STATE_TABLE_JOBS) > before, "a blocking read of the job wakes");
        cr_assert(job_version_stable(state_job_version(st, "default", "web", 0)));
        cr_assert(!job_version_stable(state_job_version(st, "default", "web", 1)));
        cr_assert(!job_version_stable(state_job_get(st, "default", "web")), "the current version is left as it is");
        cr_assert_eq(state_versions_mark_stable(st, ++idx, "default", "web", 7), 0, "not kept: nothing to do");
        /* the current version: the job itself, same version */
        cr_assert_eq(state_versions_mark_stable(st, ++idx, "default", "web", 1), 0);
        cr_assert(job_version_stable(state_job_get(st, "default", "web")));
        cr_assert_eq(state_job_get(st, "default", "web")->version, 1);
        cr_assert(job_version_stable(state_job_version(st, "default", "web", 1)));
        /* kept through a Raft snapshot */
        json_t *snap = NULL;
        cr_assert_eq(state_save(st, &snap), 0);
        struct state_store *back = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(snap, &back, &err), 0, "%s", err.msg);
        cr_assert(job_version_stable(state_job_version(back, "default", "web", 0)));
        cr_assert(job_version_stable(state_job_version(back, "default", "web", 1)));
        state_destroy(back);
        json_decref(snap);
}

Test(deploy, placed_canaries_lists_the_canary_allocation_ids) {
        register_web("1", false, T0);
        add_alloc("c0", 0, T0, ALLOC_CLIENT_RUNNING);
        add_alloc("c1", 1, T0, ALLOC_CLIENT_RUNNING);
        add_alloc("r0", 0, T0, ALLOC_CLIENT_RUNNING);
        static const char *const canary[] = {"c0", "c1"};
        for (size_t i = 0; i < 2; i++) {
                struct alloc *a = alloc_copy(state_alloc_get(st, canary[i]));
                a->deploy_canary = true;
                cr_assert_eq(state_upsert_allocs(st, ++idx, &a, 1), 0);
                alloc_unref(a);
        }
        const struct deployment *d = state_deployment_latest(st, "default", "web");
        json_t *o = deployment_to_json(d, st);
        json_t *pc = json_object_get(json_object_get(json_object_get(o, "TaskGroups"), "g"), "PlacedCanaries");
        cr_assert_eq(json_array_size(pc), 2);
        bool seen[2] = {false, false};
        for (size_t i = 0; i < 2; i++)
                for (size_t k = 0; k < 2; k++)
                        seen[k] = seen[k] || strcmp(json_string_value(json_array_get(pc, i)), canary[k]) == 0;
        cr_assert(seen[0] && seen[1]);
        json_decref(o);
        o = deployment_to_json(d, NULL);
        pc = json_object_get(json_object_get(json_object_get(o, "TaskGroups"), "g"), "PlacedCanaries");
        cr_assert(json_is_array(pc) && json_array_size(pc) == 0, "without the store: an empty array");
        json_decref(o);
}

Test(deploy, progress_deadline_fails_it) {
        register_web("1", false, T0);
        add_alloc("a0", 0, T0, ALLOC_CLIENT_PENDING);
        json_t *cmds = step(T0 + 60 * SEC);
        cr_assert_eq(json_array_size(cmds), 0, "before the deadlines");
        json_decref(cmds);
        cmds = step(T0 + 121 * SEC);
        /* the alloc is past its healthy deadline (60 s) too: unhealthy, and failed */
        int failed = 0;
        for (size_t i = 0; i < json_array_size(cmds); i++)
                failed +=
                    strcmp(jx_str(json_object_get(json_array_get(cmds, i), "Deployment"), "Status", ""), "failed") == 0;
        cr_assert_eq(failed, 1);
        json_decref(cmds);
}

Test(deploy, api_actions_pause_resume_fail_promote) {
        register_web("1", false, T0);
        const char *id = state_deployment_latest(st, "default", "web")->id;
        char did[64];
        snprintf(did, sizeof(did), "%s", id);
        json_t *cmd = NULL;
        const char *why = NULL;
        cr_assert_eq(deploy_cmd_pause(st, "nope", true, T0, NULL, &cmd, &why), -ENOENT);
        cr_assert_eq(deploy_cmd_promote(st, did, NULL, 0, T0, NULL, &cmd, &why), -EINVAL);
        cr_assert_str_eq(why, "no canaries to promote");
        cr_assert_eq(deploy_cmd_pause(st, did, true, T0, NULL, &cmd, &why), 0);
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Deployment"), "Status", ""), "paused");
        json_t *arr = json_pack("[o]", cmd);
        apply(arr);
        json_decref(arr);
        /* paused: health is still judged, the status does not move */
        add_alloc("a0", 0, T0, ALLOC_CLIENT_RUNNING);
        add_alloc("a1", 1, T0, ALLOC_CLIENT_RUNNING);
        json_t *cmds = step(T0 + 5 * SEC);
        cr_assert_eq(json_array_size(cmds), 1);
        cr_assert_str_eq(type_of(cmds, 0), "DeploymentAllocHealth");
        json_decref(cmds);
        cr_assert_eq(deploy_cmd_pause(st, did, false, T0, NULL, &cmd, &why), 0);
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Deployment"), "Status", ""), "running");
        cr_assert_eq(json_array_size(json_object_get(cmd, "Evals")), 1, "resuming evaluates the job");
        json_decref(cmd);
        json_t *revert = NULL;
        cr_assert_eq(deploy_cmd_fail(st, did, T0, NULL, &cmd, &revert, &why), 0);
        cr_assert_null(revert, "no auto_revert: nothing registered again");
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Deployment"), "StatusDescription", ""),
                         "Deployment marked as failed");
        arr = json_pack("[o]", cmd);
        apply(arr);
        json_decref(arr);
        cr_assert_eq(deploy_cmd_fail(st, did, T0, NULL, &cmd, &revert, &why), -EINVAL, "not active any more");
}

Test(deploy, alloc_deployment_status_round_trips_in_nomads_json) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        struct alloc *a = fx_alloc("a0", j, "n1", 0, 100, 100);
        a->deployment_id = strdup("d-1");
        a->deploy_health = DEPLOY_HEALTH_UNHEALTHY;
        a->deploy_health_time = T0 + 123456789;
        a->deploy_canary = true;
        json_t *o = alloc_to_json(a);
        json_t *ds = json_object_get(o, "DeploymentStatus");
        cr_assert(json_is_false(json_object_get(ds, "Healthy")));
        cr_assert_str_eq(jx_str(ds, "Timestamp", ""), "2027-01-15T08:00:00.123456789Z", "RFC 3339, as Go writes it");
        struct alloc *b = NULL;
        struct error err = {0};
        cr_assert_eq(alloc_from_json(o, &b, &err), 0, "%s", err.msg);
        cr_assert_str_eq(b->deployment_id, "d-1");
        cr_assert_eq(b->deploy_health, DEPLOY_HEALTH_UNHEALTHY);
        cr_assert_eq(b->deploy_health_time, a->deploy_health_time);
        cr_assert(b->deploy_canary);
        json_decref(o);
        alloc_unref(b);
        /* none: null, and "" from Nomad means none */
        free(a->deployment_id);
        a->deployment_id = NULL;
        a->deploy_health = DEPLOY_HEALTH_UNSET;
        a->deploy_canary = false;
        o = alloc_to_json(a);
        cr_assert(json_is_null(json_object_get(o, "DeploymentStatus")));
        cr_assert_eq(alloc_from_json(o, &b, &err), 0);
        cr_assert_null(b->deployment_id);
        json_decref(o);
        alloc_unref(b);
        alloc_unref(a);
        job_unref(j);
}

/* Nomad's healthy_deadline: an alloc that is not healthy (here never started) within
 * healthy_deadline of its creation is marked unhealthy, which fails the deployment
 * before its progress deadline. */
Test(deploy, healthy_deadline_marks_a_never_started_alloc_unhealthy) {
        register_web("1", false, T0);
        add_alloc("a0", 0, T0, ALLOC_CLIENT_PENDING);
        json_t *cmds = step(T0 + 60 * SEC);
        cr_assert_eq(json_array_size(cmds), 0, "at the deadline itself: not yet");
        json_decref(cmds);
        cmds = step(T0 + 61 * SEC);
        cr_assert_eq(json_array_size(cmds), 2);
        cr_assert_str_eq(type_of(cmds, 0), "DeploymentAllocHealth");
        json_t *bad = json_object_get(json_array_get(cmds, 0), "Unhealthy");
        cr_assert_eq(json_array_size(bad), 1);
        cr_assert_str_eq(json_string_value(json_array_get(bad, 0)), "a0");
        cr_assert_str_eq(type_of(cmds, 1), "DeploymentUpsert");
        json_t *dj = json_object_get(json_array_get(cmds, 1), "Deployment");
        cr_assert_str_eq(jx_str(dj, "Status", ""), "failed");
        cr_assert_str_eq(jx_str(dj, "StatusDescription", ""), "Failed due to unhealthy allocations");
        json_decref(cmds);
}

/* update { canary = 1, auto_promote } promotes the group once its canary is healthy, and
 * asks for an eval to roll the rest; without auto_promote it waits for `deployment
 * promote`. */
Test(deploy, auto_promote_once_the_canaries_are_healthy) {
        register_web("0", false, T0); /* version 0: the first version has nothing to canary */
        for (int ap = 0; ap < 2; ap++) {
                struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 100);
                j->extra = json_pack("{s:{s:i,s:I,s:I,s:I,s:i,s:b}}", "Update", "MaxParallel", 1, "MinHealthyTime",
                                     (json_int_t)SEC, "HealthyDeadline", (json_int_t)(60 * SEC), "ProgressDeadline",
                                     (json_int_t)(120 * SEC), "Canary", 1, "AutoPromote", ap);
                strmap_set(&j->groups[0].tasks[0].env, "VERSION", ap ? "auto" : "manual");
                cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
                job_unref(j);
                cr_assert_eq(state_deploy_for_job(st, idx, state_job_get(st, "default", "web"), T0), 0);
                const struct deployment *d = state_deployment_latest(st, "default", "web");
                cr_assert_eq(d->groups[0].desired_canaries, 1);
                cr_assert_eq(d->groups[0].auto_promote, ap == 1);
                const char *id = ap ? "canary-auto" : "canary-manual";
                add_alloc(id, 0, T0, ALLOC_CLIENT_RUNNING);
                struct alloc *a = alloc_copy(state_alloc_get(st, id));
                a->deploy_canary = true;
                cr_assert_eq(state_upsert_allocs(st, ++idx, &a, 1), 0);
                alloc_unref(a);
                json_t *cmds = step(T0 + SEC);
                cr_assert_eq(json_array_size(cmds), 2, "auto_promote %d", ap);
                cr_assert_str_eq(type_of(cmds, 0), "DeploymentAllocHealth");
                cr_assert_str_eq(type_of(cmds, 1), "DeploymentUpsert");
                json_t *up = json_array_get(cmds, 1);
                json_t *g = json_object_get(json_object_get(json_object_get(up, "Deployment"), "TaskGroups"), "g");
                cr_assert_eq(json_is_true(json_object_get(g, "Promoted")), ap == 1, "auto_promote %d", ap);
                cr_assert_eq(json_array_size(json_object_get(up, "Evals")), (size_t)ap,
                             "an eval follows the promotion only");
                cr_assert_str_eq(jx_str(json_object_get(up, "Deployment"), "Status", ""), "running");
                cr_assert_str_eq(jx_str(json_object_get(up, "Deployment"), "StatusDescription", ""),
                                 ap ? "Deployment is running" : "Deployment is running but requires manual promotion");
                if (!ap) { /* promoted by hand: running, nothing waits any more */
                        apply(cmds);
                        json_t *cmd = NULL;
                        const char *why = NULL;
                        const char *did = state_deployment_latest(st, "default", "web")->id;
                        cr_assert_eq(deploy_cmd_promote(st, did, NULL, 0, T0 + SEC, NULL, &cmd, &why), 0);
                        cr_assert_str_eq(jx_str(json_object_get(cmd, "Deployment"), "StatusDescription", ""),
                                         "Deployment is running");
                        json_decref(cmd);
                }
                json_decref(cmds);
        }
}

/* Before its canaries are healthy a deployment says what it waits for, as Nomad's does. */
Test(deploy, a_canary_deployment_says_it_waits_for_a_promotion) {
        register_web("0", false, T0);
        for (int ap = 0; ap < 2; ap++) {
                struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 100);
                j->extra = json_pack("{s:{s:i,s:I,s:I,s:i,s:b}}", "Update", "MaxParallel", 1, "MinHealthyTime",
                                     (json_int_t)(10 * SEC), "HealthyDeadline", (json_int_t)(60 * SEC), "Canary", 1,
                                     "AutoPromote", ap);
                strmap_set(&j->groups[0].tasks[0].env, "VERSION", ap ? "auto" : "manual");
                cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
                job_unref(j);
                cr_assert_eq(state_deploy_for_job(st, idx, state_job_get(st, "default", "web"), T0), 0);
                json_t *cmds = step(T0 + SEC);
                cr_assert_eq(json_array_size(cmds), 1, "auto_promote %d", ap);
                cr_assert_str_eq(
                    jx_str(json_object_get(json_array_get(cmds, 0), "Deployment"), "StatusDescription", ""),
                    ap ? "Deployment is running pending automatic promotion"
                       : "Deployment is running but requires manual promotion");
                apply(cmds);
                json_decref(cmds);
                cmds = step(T0 + 2 * SEC);
                cr_assert_eq(json_array_size(cmds), 0, "said once");
                json_decref(cmds);
        }
}

/* deployment fail by hand, as Nomad's: with auto_revert the newest stable version is
 * registered again and the description says which; without one, it says so. */
Test(deploy, fail_by_hand_with_auto_revert_registers_the_stable_version) {
        register_web("1", true, T0);
        const char *id = state_deployment_latest(st, "default", "web")->id;
        json_t *cmd = NULL, *revert = NULL;
        const char *why = NULL;
        cr_assert_eq(deploy_cmd_fail(st, id, T0, NULL, &cmd, &revert, &why), 0);
        cr_assert_null(revert);
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Deployment"), "StatusDescription", ""),
                         "Deployment marked as failed - no stable job version to auto revert to");
        json_decref(cmd);
        deploy_ok("2", "v1a", "v1b", T0 + 10 * SEC); /* version 1, stable */
        register_web("3", true, T0 + 20 * SEC);
        id = state_deployment_latest(st, "default", "web")->id;
        cr_assert_eq(deploy_cmd_fail(st, id, T0 + 21 * SEC, NULL, &cmd, &revert, &why), 0);
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Deployment"), "Status", ""), "failed");
        cr_assert_str_eq(jx_str(json_object_get(cmd, "Deployment"), "StatusDescription", ""),
                         "Deployment marked as failed - rolling back to job version 1");
        cr_assert_not_null(revert);
        cr_assert_str_eq(jx_str(revert, "Type", ""), "JobRegister");
        cr_assert_str_eq(env_of(json_object_get(revert, "Job")), "2", "the spec of version 1");
        cr_assert_eq(json_array_size(json_object_get(revert, "Evals")), 1);
        json_decref(cmd);
        json_decref(revert);
}

/* update { health_check = "manual" }: the watcher never judges health itself, not after
 * min_healthy_time nor past healthy_deadline; an operator's health mark decides. */
Test(deploy, manual_health_is_never_judged_by_the_watcher) {
        struct job *j = fx_job("web", JOB_SERVICE, 1, 100, 100);
        j->extra = json_pack("{s:{s:i,s:s,s:I,s:I,s:I}}", "Update", "MaxParallel", 1, "HealthCheck", "manual",
                             "MinHealthyTime", (json_int_t)SEC, "HealthyDeadline", (json_int_t)(60 * SEC),
                             "ProgressDeadline", (json_int_t)(0));
        cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
        job_unref(j);
        cr_assert_eq(state_deploy_for_job(st, idx, state_job_get(st, "default", "web"), T0), 0);
        add_alloc("m0", 0, T0, ALLOC_CLIENT_RUNNING);
        json_t *cmds = step(T0 + 90 * SEC);
        cr_assert_eq(json_array_size(cmds), 0, "running 90 s, past both: still not judged");
        json_decref(cmds);
        const char *id = "m0";
        cr_assert_eq(state_deploy_set_health(st, ++idx, &id, 1, true, 1), 0); /* the operator's mark */
        cmds = step(T0 + 91 * SEC);
        cr_assert_eq(json_array_size(cmds), 1);
        cr_assert_str_eq(type_of(cmds, 0), "DeploymentUpsert");
        cr_assert_str_eq(jx_str(json_object_get(json_array_get(cmds, 0), "Deployment"), "Status", ""), "successful");
        json_decref(cmds);
}

/* A job of n groups "g0".."g<n-1>", count 1 each, one task "t", update { canary = 1 }. */
static struct job *many_groups_job(int n, const char *version) {
        struct job *j = fx_job("wide", JOB_SERVICE, 1, 10, 10);
        struct task_group *g0 = &j->groups[0];
        struct task_group *v = calloc((size_t)n, sizeof(*v));
        cr_assert_not_null(v);
        v[0] = *g0;
        free(j->groups);
        j->groups = v;
        j->n_groups = (size_t)n;
        for (int g = 1; g < n; g++) {
                v[g].count = 1;
                v[g].tasks = calloc(1, sizeof(*v[g].tasks));
                v[g].n_tasks = 1;
                v[g].tasks[0].name = strdup("t");
                v[g].tasks[0].driver = strdup("raw_exec");
        }
        for (int g = 0; g < n; g++) {
                free(v[g].name);
                cr_assert_geq(asprintf(&v[g].name, "g%d", g), 0);
                strmap_set(&v[g].tasks[0].env, "VERSION", version);
        }
        job_canonicalize(j);
        j->extra = json_pack("{s:{s:i,s:I,s:I,s:I,s:i}}", "Update", "MaxParallel", 1, "MinHealthyTime", (json_int_t)SEC,
                             "HealthyDeadline", (json_int_t)(60 * SEC), "ProgressDeadline", (json_int_t)(120 * SEC),
                             "Canary", 1);
        return j;
}

/* Promotion reads every group's counts in one pass over the job's allocations (not one
 * pass per group): with the most groups a job may have (JOB_MAX_GROUPS), each with a healthy canary except the last, a
 * promotion of all groups is refused, one of the healthy groups only is promoted alone,
 * and once the last canary is healthy every group is. */
Test(deploy, promote_many_groups_in_one_pass) {
        enum { N = JOB_MAX_GROUPS }; /* the most a job may have */
        for (int v = 0; v < 2; v++) {
                struct job *j = many_groups_job(N, v ? "1" : "0");
                cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
                job_unref(j);
                cr_assert_eq(state_deploy_for_job(st, idx, state_job_get(st, "default", "wide"), T0), 0);
        }
        const struct job *j = state_job_get(st, "default", "wide");
        const struct deployment *d = state_deployment_latest(st, "default", "wide");
        cr_assert_eq(d->n_groups, N);
        cr_assert_eq(d->groups[N - 1].desired_canaries, 1);
        char did[64];
        snprintf(did, sizeof(did), "%s", d->id);
        struct alloc **allocs = calloc(N, sizeof(*allocs));
        for (int g = 0; g < N; g++) {
                char id[32], name[64];
                snprintf(id, sizeof(id), "wide-c%d", g);
                snprintf(name, sizeof(name), "wide.g%d[0]", g);
                struct alloc *a = fx_alloc(id, (struct job *)j, "n1", 0, 10, 10);
                free(a->task_group);
                a->task_group = strdup(d->groups[g].name);
                free(a->name);
                a->name = strdup(name);
                a->deployment_id = strdup(did);
                a->deploy_canary = true;
                a->deploy_health = g == N - 1 ? DEPLOY_HEALTH_UNSET : DEPLOY_HEALTH_HEALTHY;
                allocs[g] = a;
        }
        cr_assert_eq(state_upsert_allocs(st, ++idx, allocs, N), 0);
        for (int g = 0; g < N; g++)
                alloc_unref(allocs[g]);
        free(allocs);

        json_t *cmd = NULL;
        const char *why = NULL;
        cr_assert_eq(deploy_cmd_promote(st, did, NULL, 0, T0, NULL, &cmd, &why), -EINVAL);
        cr_assert_str_eq(why, "not all canaries are healthy yet");
        char last_group[32], last_alloc[32];
        snprintf(last_group, sizeof(last_group), "g%d", N - 1);
        snprintf(last_alloc, sizeof(last_alloc), "wide-c%d", N - 1);
        const char *some[] = {"g7", last_group, "nope"};
        cr_assert_eq(deploy_cmd_promote(st, did, some, 3, T0, NULL, &cmd, &why), -EINVAL, "the last is not healthy");
        cr_assert_eq(deploy_cmd_promote(st, did, some, 1, T0, NULL, &cmd, &why), 0);
        json_t *tgs = json_object_get(json_object_get(cmd, "Deployment"), "TaskGroups");
        cr_assert(json_is_true(json_object_get(json_object_get(tgs, "g7"), "Promoted")));
        cr_assert(json_is_false(json_object_get(json_object_get(tgs, "g8"), "Promoted")), "only the group asked for");
        json_decref(cmd);

        const char *last = last_alloc;
        cr_assert_eq(state_deploy_set_health(st, ++idx, &last, 1, true, T0), 0);
        cr_assert_eq(deploy_cmd_promote(st, did, NULL, 0, T0, NULL, &cmd, &why), 0);
        tgs = json_object_get(json_object_get(cmd, "Deployment"), "TaskGroups");
        cr_assert_eq(json_object_size(tgs), N);
        const char *name;
        json_t *g;
        json_object_foreach(tgs, name, g) cr_assert(json_is_true(json_object_get(g, "Promoted")), "%s", name);
        json_decref(cmd);
}
