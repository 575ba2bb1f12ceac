/* test_sched_usage.c - the state store's per-node usage (state_node_usage) that the
 * scheduler reads instead of walking a node's allocs, and the scheduler's per-attempt
 * collision index (sched_collisions / sched_coll_add). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/plan.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

/* The same figures by walking the node's allocs, as the scheduler used to. */
static struct state_usage walked(const struct state_store *st, const char *node) {
        size_t n;
        struct alloc *const *list = state_allocs_by_node(st, node, &n);
        struct state_usage u = {0};
        for (size_t i = 0; i < n; i++) {
                if (alloc_terminal(list[i]))
                        continue;
                u.cpu += list[i]->resources.cpu;
                u.memory_mb += list[i]->resources.memory_mb;
                u.disk_mb += list[i]->resources.disk_mb;
                u.live++;
        }
        return u;
}

static void same(const struct state_store *st, const char *node) {
        struct state_usage a = state_node_usage(st, node), b = walked(st, node);
        cr_assert_eq(a.cpu, b.cpu, "%s: cpu %lld, walked %lld", node, (long long)a.cpu, (long long)b.cpu);
        cr_assert_eq(a.memory_mb, b.memory_mb, "%s: memory", node);
        cr_assert_eq(a.disk_mb, b.disk_mb, "%s: disk", node);
        cr_assert_eq(a.live, b.live, "%s: live %lld, walked %lld", node, (long long)a.live, (long long)b.live);
        /* the scheduler's lookup with the node ID's hash already made finds the same */
        struct state_usage h = state_node_usage_h(st, node, hashmap_hash(node));
        cr_assert(h.cpu == a.cpu && h.memory_mb == a.memory_mb && h.disk_mb == a.disk_mb && h.live == a.live &&
                      h.ports == a.ports,
                  "%s: state_node_usage_h differs", node);
}

static void put(struct state_store *st, uint64_t *idx, struct job *j, const char *id, const char *node, int index,
                int cpu, int mem) {
        struct alloc *a = fx_alloc(id, j, node, index, cpu, mem);
        a->resources.disk_mb = 10 * index + 1;
        cr_assert_eq(state_upsert_allocs(st, ++*idx, &a, 1), 0);
        alloc_unref(a);
}

Test(sched_usage, node_usage_follows_every_write_and_snapshots_keep_theirs) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        struct job *j = fx_job("web", JOB_SERVICE, 4, 100, 64);
        cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
        cr_assert_eq(state_node_usage(st, "n1").live, 0);
        put(st, &idx, j, "a1", "n1", 0, 100, 64);
        put(st, &idx, j, "a2", "n1", 1, 200, 128);
        put(st, &idx, j, "a3", "n2", 2, 300, 256);
        struct state_usage u = state_node_usage(st, "n1");
        cr_assert_eq(u.cpu, 300);
        cr_assert_eq(u.memory_mb, 192);
        cr_assert_eq(u.live, 2);
        struct state_store *snap = state_snapshot(st);
        /* stop one, a client update making one terminal, move one to another node */
        cr_assert_eq(state_stop_alloc(st, ++idx, "a1", ALLOC_DESIRED_STOP, "stop", -1, 1), 0);
        cr_assert_eq(state_update_alloc_client(st, ++idx, "a3", ALLOC_CLIENT_FAILED, "boom", NULL, 0, 2), 0);
        put(st, &idx, j, "a2", "n2", 1, 250, 100); /* same ID, new node and size */
        put(st, &idx, j, "a4", "n1", 3, 50, 32);
        same(st, "n1");
        same(st, "n2");
        cr_assert_eq(state_node_usage(st, "n1").cpu, 50);
        cr_assert_eq(state_node_usage(st, "n2").cpu, 250);
        /* the snapshot still sees its own version */
        cr_assert_eq(state_node_usage(snap, "n1").cpu, 300);
        cr_assert_eq(state_node_usage(snap, "n2").cpu, 300);
        same(snap, "n1");
        cr_assert_eq(state_delete_alloc(st, ++idx, "a4"), 0);
        same(st, "n1");
        cr_assert_eq(state_node_usage(st, "n1").live, 0);
        /* ports the allocs' AllocatedResources record, shared and per task network */
        struct alloc *p = fx_alloc("p1", j, "n1", 5, 10, 10);
        p->allocated = json_loads("{\"Shared\":{\"Ports\":[{\"Value\":20001},{\"Value\":8080}]},\"Tasks\":{\"t\":"
                                  "{\"Networks\":[{\"DynamicPorts\":[{\"Value\":20002}],\"ReservedPorts\":[]}]}}}",
                                  0, NULL);
        cr_assert_eq(state_upsert_allocs(st, ++idx, &p, 1), 0);
        alloc_unref(p);
        cr_assert_eq(state_node_usage(st, "n1").ports, 3);
        cr_assert_eq(state_stop_alloc(st, ++idx, "p1", ALLOC_DESIRED_STOP, "stop", -1, 1), 0);
        cr_assert_eq(state_node_usage(st, "n1").ports, 0, "a stopped alloc holds none");
        state_destroy(snap);
        job_unref(j);
        state_destroy(st);
}

Test(sched_usage, node_usage_matches_a_walk_after_random_writes) {
        struct state_store *st = state_create();
        uint64_t idx = 1, rng = 42;
        struct job *j = fx_job("web", JOB_SERVICE, 4, 100, 64);
        cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
        struct state_store *snaps[8] = {0};
        for (int step = 0; step < 400; step++) {
                rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
                unsigned r = (unsigned)(rng >> 33);
                char id[24], node[24];
                snprintf(id, sizeof(id), "a%u", r % 40);
                snprintf(node, sizeof(node), "n%u", (r >> 8) % 4);
                switch ((r >> 12) % 4) {
                case 0:
                case 1:
                        put(st, &idx, j, id, node, (int)(r % 7), (int)(r % 500) + 1, (int)(r % 300) + 1);
                        break;
                case 2:
                        state_stop_alloc(st, ++idx, id, ALLOC_DESIRED_STOP, "stop", -1, 1);
                        break;
                default:
                        state_delete_alloc(st, ++idx, id);
                }
                if (step % 50 == 0) {
                        state_destroy(snaps[step / 50]);
                        snaps[step / 50] = state_snapshot(st);
                }
        }
        for (int n = 0; n < 4; n++) {
                char node[24];
                snprintf(node, sizeof(node), "n%d", n);
                same(st, node);
                for (int s = 0; s < 8; s++)
                        same(snaps[s], node);
        }
        for (int s = 0; s < 8; s++)
                state_destroy(snaps[s]);
        job_unref(j);
        state_destroy(st);
}

static const struct scheduler_ops svc_ops = {.name = "service", .attempts = 5};

Test(sched_usage, collisions_count_live_allocs_less_plan_stops_plus_placements) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        for (int i = 1; i <= 2; i++) {
                char id[24];
                snprintf(id, sizeof(id), "n%d", i);
                struct node *n = fx_node(id, "dc1", 4000, 8192);
                cr_assert_eq(state_upsert_node(st, ++idx, n), 0);
                node_unref(n);
        }
        struct job *j = fx_job("web", JOB_SERVICE, 4, 100, 64);
        struct job *other = fx_job("db", JOB_SERVICE, 1, 100, 64);
        cr_assert_eq(state_upsert_job(st, ++idx, j), 0);
        cr_assert_eq(state_upsert_job(st, ++idx, other), 0);
        put(st, &idx, j, "a1", "n1", 0, 100, 64);
        put(st, &idx, j, "a2", "n1", 1, 100, 64);
        put(st, &idx, other, "b1", "n1", 0, 100, 64);
        cr_assert_eq(state_stop_alloc(st, ++idx, "a2", ALLOC_DESIRED_STOP, "old", -1, 1), 0);
        put(st, &idx, j, "a3", "n1", 2, 100, 64);
        struct eval *ev = fx_eval("eval-1", j, "job-register");
        struct sched_ctx ctx = {.ops = &svc_ops, .snap = st, .eval = ev, .clock = &clock_real};
        ctx.class_elig = json_object();
        struct sched_attempt at = {.c = &ctx, .job = state_job_get(st, "default", "web")};
        at.plan = plan_new(ev->id, NULL, (struct job *)at.job);
        /* the plan stops a3 before the collision index is built */
        cr_assert_eq(plan_add_stop(at.plan, (struct alloc *)state_alloc_get(st, "a3"), ALLOC_DESIRED_STOP, "x", -1), 0);
        cr_assert_eq(sched_build_cands(&at), 0);
        struct sched_cand *c1 = NULL, *c2 = NULL;
        for (size_t i = 0; i < at.n_cands; i++)
                *(strcmp(sched_cand_get(&at, i)->n->id, "n1") == 0 ? &c1 : &c2) = sched_cand_get(&at, i);
        cr_assert(c1 && c2);
        cr_assert_eq(sched_collisions(&at, c1, "g"), 1, "a1 only: a2 is stopped, a3 stopped by the plan");
        cr_assert_eq(sched_collisions(&at, c1, NULL), 1);
        cr_assert_eq(sched_collisions(&at, c2, "g"), 0);
        /* placements bump it, per group and for the job */
        struct alloc *p = fx_alloc("p1", (struct job *)at.job, "n2", 3, 100, 64);
        cr_assert_eq(plan_add_place(at.plan, p), 0);
        cr_assert_eq(sched_coll_add(&at, c2, "g"), 0);
        alloc_unref(p);
        cr_assert_eq(sched_collisions(&at, c2, "g"), 1);
        cr_assert_eq(sched_collisions(&at, c2, "other-group"), 0);
        cr_assert_eq(sched_collisions(&at, c2, NULL), 1);
        /* usage: the store's figure less the plan's stop plus the placement */
        sched_cand_usage(&at, c1);
        cr_assert_eq(c1->u.cpu, 200, "a1 and b1 (got %lld)", (long long)c1->u.cpu);
        sched_cand_usage(&at, c2);
        cr_assert_eq(c2->u.cpu, 100);
        sched_attempt_free(&at);
        json_decref(ctx.class_elig);
        eval_unref(ev);
        job_unref(j);
        job_unref(other);
        state_destroy(st);
}
