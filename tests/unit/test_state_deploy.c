/* test_state_deploy.c - a deployment's per-group counts (state_deploy.c): every group's
 * at once in one pass (state_deploy_group_counts, which deployment_to_json uses) agree
 * with the one-group count for each of many groups, canaries listed per group, and
 * allocations of another deployment or of a group the deployment lacks count nowhere. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "controlplane/state/state.h"
#include "controlplane/state/state_deploy.h"
#include "tests/unit/fixtures.h"

enum { G = 200 };

Test(state_deploy, group_counts_of_many_groups_in_one_pass) {
        struct state_store *st = state_create();
        struct job *j = fx_job("many", JOB_SERVICE, 1, 10, 10);
        cr_assert_eq(state_upsert_job(st, 1, j), 0);
        json_t *tgs = json_object();
        for (int g = 0; g < G; g++) {
                char name[32];
                snprintf(name, sizeof(name), "g%d", g);
                json_object_set_new(tgs, name, json_pack("{s:i}", "DesiredTotal", 4));
        }
        json_t *dj =
            json_pack("{s:s,s:s,s:s,s:o}", "ID", "d1", "JobID", "many", "Namespace", "default", "TaskGroups", tgs);
        struct deployment *d = NULL;
        cr_assert_eq(deployment_from_json(dj, &d, NULL), 0);
        json_decref(dj);
        cr_assert_eq((int)d->n_groups, G);
        /* group g has g % 4 + 1 allocs of d1: the first a canary when g is even, the second
         * healthy, the third unhealthy; plus one of another deployment and a stray group */
        struct alloc *v[G * 4 + 2];
        size_t n = 0;
        for (int g = 0; g < G; g++)
                for (int k = 0; k <= g % 4; k++) {
                        char id[64];
                        snprintf(id, sizeof(id), "%08d-0000-4000-8000-000000000000", g * 4 + k);
                        struct alloc *a = fx_alloc(id, j, "n1", k, 10, 10);
                        free(a->task_group);
                        cr_assert(asprintf(&a->task_group, "g%d", g) > 0);
                        a->deployment_id = strdup("d1");
                        a->deploy_canary = k == 0 && g % 2 == 0;
                        a->deploy_health = k == 1   ? DEPLOY_HEALTH_HEALTHY
                                           : k == 2 ? DEPLOY_HEALTH_UNHEALTHY
                                                    : DEPLOY_HEALTH_UNSET;
                        v[n++] = a;
                }
        v[n] = fx_alloc("eeeeeeee-0000-4000-8000-000000000000", j, "n1", 0, 10, 10); /* task group "g" */
        v[n++]->deployment_id = strdup("d1");
        v[n] = fx_alloc("ffffffff-0000-4000-8000-000000000000", j, "n1", 0, 10, 10);
        free(v[n]->task_group);
        v[n]->task_group = strdup("g3");
        v[n++]->deployment_id = strdup("d0");
        cr_assert_eq(state_upsert_allocs(st, 2, v, n), 0);

        struct deploy_counts counts[G];
        json_t *canaries[G];
        cr_assert_eq(state_deploy_group_counts(st, d, counts, canaries), 0);
        for (size_t g = 0; g < d->n_groups; g++) {
                int have = atoi(d->groups[g].name + 1) % 4 + 1;
                bool even = atoi(d->groups[g].name + 1) % 2 == 0;
                struct deploy_counts one = state_deploy_counts(st, d, d->groups[g].name);
                cr_assert_eq(counts[g].placed, have, "%s", d->groups[g].name);
                cr_assert_eq(counts[g].placed, one.placed);
                cr_assert_eq(counts[g].healthy, have > 1);
                cr_assert_eq(counts[g].unhealthy, have > 2);
                cr_assert_eq(counts[g].placed_canaries, even);
                cr_assert_eq(counts[g].healthy_canaries, 0);
                cr_assert_eq(memcmp(&counts[g], &one, sizeof(one)), 0, "%s", d->groups[g].name);
                cr_assert_eq(json_array_size(canaries[g]), (size_t)even, "%s", d->groups[g].name);
                json_decref(canaries[g]);
        }
        /* deployment_to_json shows the same */
        json_t *o = deployment_to_json(d, st);
        json_t *g6 = json_object_get(json_object_get(o, "TaskGroups"), "g6");
        cr_assert_eq(json_integer_value(json_object_get(g6, "PlacedAllocs")), 3);
        cr_assert_eq(json_integer_value(json_object_get(g6, "HealthyAllocs")), 1);
        cr_assert_eq(json_integer_value(json_object_get(g6, "UnhealthyAllocs")), 1);
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(g6, "PlacedCanaries"), 0)),
                         "00000024-0000-4000-8000-000000000000");
        json_decref(o);
        for (size_t i = 0; i < n; i++)
                alloc_unref(v[i]);
        deployment_unref(d);
        job_unref(j);
        state_destroy(st);
}
