/* test_versions.c - the state store's job-versions table (state_versions.h). */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/error.h"
#include "controlplane/state/state.h"
#include "controlplane/state/state_versions.h"
#include "tests/unit/fixtures.h"

/* Register "web" with count c at index i (each count a new spec, so a new version). */
static void put(struct state_store *st, uint64_t i, int count) {
        struct job *j = fx_job("web", JOB_SERVICE, count, 100, 100);
        cr_assert_eq(state_upsert_job(st, i, j), 0);
        job_unref(j);
}

Test(versions, kept_newest_first_and_bounded) {
        struct state_store *st = state_create();
        size_t n = 99;
        cr_assert_null(state_job_versions(st, "default", "web", &n));
        cr_assert_eq(n, 0);
        for (int i = 0; i < 9; i++)
                put(st, 10 + (uint64_t)i, i + 1);
        struct job *const *v = state_job_versions(st, "default", "web", &n);
        cr_assert_eq(n, STATE_JOB_VERSIONS_MAX);
        for (size_t k = 0; k < n; k++)
                cr_assert_eq(v[k]->version, 8 - k, "v[%zu] is version %llu", k, (unsigned long long)v[k]->version);
        cr_assert_eq(v[0]->groups[0].count, 9);
        cr_assert_null(state_job_version(st, "default", "web", 2), "version 2 fell off the bound");
        cr_assert_eq(state_job_version(st, "default", "web", 3)->groups[0].count, 4);
        cr_assert_eq(state_job_version(st, "default", "web", 8), state_job_get(st, "default", "web"));
        state_destroy(st);
}

Test(versions, same_spec_replaces_the_entry_not_adds) {
        struct state_store *st = state_create();
        put(st, 10, 1);
        put(st, 11, 1);
        size_t n;
        struct job *const *v = state_job_versions(st, "default", "web", &n);
        cr_assert_eq(n, 1);
        cr_assert_eq(v[0]->modify_index, 11);
        state_destroy(st);
}

/* A stable version registered again unchanged stays stable (the submitted job has no
 * Stable field: Nomad writes nothing for it), in the job and in its history; a
 * changed spec is a new version, not stable. */
Test(versions, an_unchanged_registration_keeps_the_version_stable) {
        struct state_store *st = state_create();
        put(st, 10, 1);
        put(st, 11, 2);
        cr_assert_eq(state_versions_mark_stable(st, 12, "default", "web", 1), 0);
        cr_assert(job_version_stable(state_job_get(st, "default", "web")));
        put(st, 13, 2);
        const struct job *cur = state_job_get(st, "default", "web");
        cr_expect_eq(cur->version, 1);
        cr_expect(job_version_stable(cur), "still stable after the same spec again");
        cr_expect(job_version_stable(state_job_version(st, "default", "web", 1)), "and in the history");
        put(st, 14, 3);
        cr_expect_eq(state_job_get(st, "default", "web")->version, 2);
        cr_expect_not(job_version_stable(state_job_get(st, "default", "web")), "a new spec is not stable");
        cr_expect(job_version_stable(state_job_version(st, "default", "web", 1)));
        state_destroy(st);
}

Test(versions, snapshot_keeps_its_view_and_purge_drops_them) {
        struct state_store *st = state_create();
        put(st, 10, 1);
        put(st, 11, 2);
        struct state_store *snap = state_snapshot(st);
        put(st, 12, 3);
        size_t n;
        state_job_versions(snap, "default", "web", &n);
        cr_assert_eq(n, 2, "a snapshot does not see later versions");
        state_job_versions(st, "default", "web", &n);
        cr_assert_eq(n, 3);
        cr_assert_eq(state_deregister_job(st, 13, "default", "web", true), 0);
        cr_assert_null(state_job_versions(st, "default", "web", &n));
        cr_assert_eq(n, 0);
        state_job_versions(snap, "default", "web", &n);
        cr_assert_eq(n, 2);
        state_destroy(snap);
        state_destroy(st);
}

Test(versions, survive_save_and_restore) {
        struct state_store *st = state_create();
        put(st, 10, 1);
        put(st, 11, 2);
        put(st, 12, 3);
        cr_assert_eq(state_deregister_job(st, 13, "default", "web", false), 0); /* version 3, stopped */
        json_t *saved = NULL;
        cr_assert_eq(state_save(st, &saved), 0);
        cr_assert_eq(json_array_size(json_object_get(saved, "JobVersionHistory")), 3, "the current one is in Jobs");
        struct state_store *back = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(saved, &back, &err), 0, "%s", err.msg);
        size_t n;
        struct job *const *v = state_job_versions(back, "default", "web", &n);
        cr_assert_eq(n, 4);
        cr_assert(v[0]->stop);
        cr_assert_eq(v[0], state_job_get(back, "default", "web"), "the current version is the table's object");
        cr_assert_eq(v[3]->version, 0);
        cr_assert_eq(v[3]->groups[0].count, 1);
        json_decref(saved);
        state_destroy(back);
        state_destroy(st);
}

Test(versions, bad_history_in_a_snapshot_is_refused) {
        json_t *snap = json_pack("{s:[],s:s}", "Jobs", "JobVersionHistory", "nope");
        struct state_store *back = NULL;
        struct error err = {0};
        cr_assert_eq(state_restore(snap, &back, &err), -EINVAL);
        cr_assert(strstr(err.msg, "JobVersionHistory"), "%s", err.msg);
        json_decref(snap);
}
