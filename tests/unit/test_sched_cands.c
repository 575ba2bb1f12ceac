/* test_sched_cands.c - candidate lists kept across evaluations (struct
 * sched_cand_cache): hits on an unchanged nodes table, invalidation on any node
 * write, one entry per (pool, datacenters), the bounds, and the per-node driver
 * bitmask giving the same answers as node_has_driver. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/hashmap.h"
#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/plan.h"
#include "controlplane/scheduler/sched_internal.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"

static const struct scheduler_ops svc_ops = {.name = "service", .attempts = 5};

static void add_node(struct state_store *st, uint64_t *idx, const char *id, const char *dc) {
        struct node *n = fx_node(id, dc, 4000, 8192);
        cr_assert_eq(state_upsert_node(st, ++*idx, n), 0);
        node_unref(n);
}

/* Build the candidates of job j on snap with cache cc (NULL: none); return the
 * candidate IDs joined in ID order ("n1,n3,") in buf. */
static size_t cands_of(const struct state_store *snap, const struct job *j, struct sched_cand_cache *cc, char *buf,
                       size_t size) {
        struct eval *ev = fx_eval("eval-1", j, "job-register");
        struct sched_ctx ctx = {.ops = &svc_ops, .snap = snap, .eval = ev, .clock = &clock_real, .cands = cc};
        struct sched_attempt at = {.c = &ctx, .job = j};
        cr_assert_eq(sched_build_cands(&at), 0);
        size_t n = at.n_cands;
        const char *ids[64];
        cr_assert(n <= 64);
        for (size_t i = 0; i < n; i++)
                ids[i] = sched_cand_get(&at, i)->n->id;
        for (size_t i = 1; i < n; i++) /* insertion sort: the list is shuffled */
                for (size_t k = i; k > 0 && strcmp(ids[k - 1], ids[k]) > 0; k--) {
                        const char *t = ids[k];
                        ids[k] = ids[k - 1];
                        ids[k - 1] = t;
                }
        buf[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                strncat(buf, ids[i], size - strlen(buf) - 1);
                strncat(buf, ",", size - strlen(buf) - 1);
        }
        sched_attempt_free(&at);
        eval_unref(ev);
        return n;
}

static struct job *job_in(const char *id, const char *dc) {
        struct job *j = fx_job(id, JOB_SERVICE, 1, 100, 64);
        for (size_t i = 0; i < j->n_datacenters; i++)
                free(j->datacenters[i]);
        free(j->datacenters);
        j->datacenters = calloc(1, sizeof(*j->datacenters));
        j->datacenters[0] = strdup(dc);
        j->n_datacenters = 1;
        return j;
}

static struct sched_cand_cache_stats stats(const struct sched_cand_cache *cc) {
        struct sched_cand_cache_stats s;
        sched_cand_cache_stats(cc, &s);
        return s;
}

Test(sched_cands, unchanged_nodes_table_hits_and_gives_the_walks_list) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        add_node(st, &idx, "n1", "dc1");
        add_node(st, &idx, "n2", "dc1");
        add_node(st, &idx, "n3", "dc2");
        struct job *j = job_in("web", "dc1");
        struct sched_cand_cache *cc = sched_cand_cache_create(4, 1 << 20);
        char want[256], got[256];
        cr_assert_eq(cands_of(st, j, NULL, want, sizeof(want)), 2);
        cr_assert_str_eq(want, "n1,n2,");
        cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 2);
        cr_assert_str_eq(got, want);
        cr_assert_eq(stats(cc).misses, 1);
        cr_assert_eq(stats(cc).hits, 0);
        /* writes to other tables and a new snapshot: still the same nodes table */
        struct job *other = fx_job("other", JOB_SERVICE, 1, 100, 64);
        cr_assert_eq(state_upsert_job(st, ++idx, other), 0);
        struct state_store *snap = state_snapshot(st);
        cr_assert_eq(cands_of(snap, j, cc, got, sizeof(got)), 2);
        cr_assert_str_eq(got, want);
        cr_assert_eq(stats(cc).hits, 1);
        cr_assert_eq(stats(cc).entries, 1);
        state_destroy(snap);
        sched_cand_cache_destroy(cc);
        job_unref(other);
        job_unref(j);
        state_destroy(st);
}

Test(sched_cands, any_node_change_invalidates) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        add_node(st, &idx, "n1", "dc1");
        add_node(st, &idx, "n2", "dc1");
        struct job *j = job_in("web", "dc1");
        struct sched_cand_cache *cc = sched_cand_cache_create(4, 1 << 20);
        char got[256];
        cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 2);
        uint64_t inval = stats(cc).invalidations;
        /* drain n1: the cached list must not offer it */
        struct state_store *before = state_snapshot(st);
        cr_assert_eq(state_update_node_eligibility(st, ++idx, "n1", false), 0);
        cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 1);
        cr_assert_str_eq(got, "n2,");
        cr_assert_eq(stats(cc).invalidations, inval + 1);
        cr_assert_eq(stats(cc).hits, 0);
        /* a node that joins */
        add_node(st, &idx, "n3", "dc1");
        cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 2);
        cr_assert_str_eq(got, "n2,n3,");
        /* an older snapshot (another nodes table) is not served the newer list */
        cr_assert_eq(cands_of(before, j, cc, got, sizeof(got)), 2);
        cr_assert_str_eq(got, "n1,n2,");
        /* a node removed */
        cr_assert_eq(state_delete_node(st, ++idx, "n3"), 0);
        cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 1);
        cr_assert_str_eq(got, "n2,");
        cr_assert_eq(stats(cc).hits, 0);
        state_destroy(before);
        sched_cand_cache_destroy(cc);
        job_unref(j);
        state_destroy(st);
}

Test(sched_cands, different_datacenters_or_pools_do_not_share_an_entry) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        add_node(st, &idx, "n1", "dc1");
        add_node(st, &idx, "n2", "dc2");
        struct node *p = fx_node("n3", "dc1", 4000, 8192);
        free(p->node_pool);
        p->node_pool = strdup("gpu");
        cr_assert_eq(state_upsert_node(st, ++idx, p), 0);
        node_unref(p);
        struct job *a = job_in("a", "dc1"), *b = job_in("b", "dc2"), *g = job_in("g", "dc1");
        free(g->node_pool);
        g->node_pool = strdup("gpu");
        struct sched_cand_cache *cc = sched_cand_cache_create(4, 1 << 20);
        char got[256];
        cr_assert_eq(cands_of(st, a, cc, got, sizeof(got)), 1);
        cr_assert_str_eq(got, "n1,");
        cr_assert_eq(cands_of(st, b, cc, got, sizeof(got)), 1);
        cr_assert_str_eq(got, "n2,");
        cr_assert_eq(cands_of(st, g, cc, got, sizeof(got)), 1);
        cr_assert_str_eq(got, "n3,");
        cr_assert_eq(stats(cc).misses, 3);
        cr_assert_eq(stats(cc).entries, 3);
        cr_assert_eq(cands_of(st, b, cc, got, sizeof(got)), 1);
        cr_assert_str_eq(got, "n2,");
        cr_assert_eq(stats(cc).hits, 1);
        sched_cand_cache_destroy(cc);
        job_unref(a);
        job_unref(b);
        job_unref(g);
        state_destroy(st);
}

Test(sched_cands, entries_and_bytes_are_bounded) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        char id[16], dc[16];
        for (int i = 0; i < 4; i++) {
                snprintf(id, sizeof(id), "n%d", i);
                snprintf(dc, sizeof(dc), "dc%d", i);
                add_node(st, &idx, id, dc);
        }
        struct sched_cand_cache *cc = sched_cand_cache_create(2, 1 << 20);
        char got[256];
        for (int i = 0; i < 4; i++) {
                snprintf(dc, sizeof(dc), "dc%d", i);
                struct job *j = job_in("web", dc);
                cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 1);
                snprintf(id, sizeof(id), "n%d,", i);
                cr_assert_str_eq(got, id);
                job_unref(j);
                cr_assert_leq(stats(cc).entries, 2);
        }
        sched_cand_cache_destroy(cc);
        /* a byte budget smaller than one entry: nothing kept, answers still right */
        cc = sched_cand_cache_create(8, 16);
        struct job *j = job_in("web", "dc1");
        cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 1);
        cr_assert_eq(cands_of(st, j, cc, got, sizeof(got)), 1);
        cr_assert_str_eq(got, "n1,");
        cr_assert_eq(stats(cc).entries, 0);
        cr_assert_eq(stats(cc).hits, 0);
        job_unref(j);
        sched_cand_cache_destroy(cc);
        state_destroy(st);
}

/* sched_feasible's driver check with the cached bitmask agrees with node_has_driver. */
Test(sched_cands, driver_bitmask_matches_node_has_driver) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        struct node *d = fx_node("n1", "dc1", 4000, 8192); /* docker by attribute */
        strmap_set(&d->attributes, "driver.docker", "1");
        node_compute_class(d);
        cr_assert_eq(state_upsert_node(st, ++idx, d), 0);
        node_unref(d);
        struct node *u = fx_node("n2", "dc1", 4000, 8192); /* docker listed but unhealthy */
        u->drivers = realloc(u->drivers, 2 * sizeof(*u->drivers));
        u->drivers[1] = (struct node_driver){strdup("docker"), true, false};
        u->n_drivers = 2;
        strmap_set(&u->attributes, "driver.docker", "1");
        node_compute_class(u);
        cr_assert_eq(state_upsert_node(st, ++idx, u), 0);
        node_unref(u);
        add_node(st, &idx, "n3", "dc1"); /* raw_exec only */
        const char *drivers[] = {"docker", "raw_exec", "podman"};
        for (int with = 0; with <= 1; with++)
                for (size_t k = 0; k < 3; k++) {
                        struct job *j = job_in("web", "dc1");
                        free(j->groups[0].tasks[0].driver);
                        j->groups[0].tasks[0].driver = strdup(drivers[k]);
                        struct sched_cand_cache *cc = with ? sched_cand_cache_create(4, 1 << 20) : NULL;
                        struct eval *ev = fx_eval("eval-1", j, "job-register");
                        struct sched_ctx ctx = {
                            .ops = &svc_ops, .snap = st, .eval = ev, .clock = &clock_real, .cands = cc};
                        for (int pass = 0; pass < 2; pass++) { /* a miss, then a hit */
                                struct sched_attempt at = {.c = &ctx, .job = j};
                                at.plan = plan_new(ev->id, NULL, j);
                                cr_assert_eq(sched_build_cands(&at), 0);
                                cr_assert_eq(at.drv_known, with == 1);
                                struct sched_group g;
                                cr_assert_eq(sched_group_init(&at, &g, 0), 0);
                                for (size_t i = 0; i < at.n_cands; i++) {
                                        char buf[160];
                                        const char *why = sched_feasible(&at, &g, sched_cand_get(&at, i), buf, sizeof(buf));
                                        bool has = node_has_driver(sched_cand_get(&at, i)->n, drivers[k]);
                                        cr_assert_eq(why == NULL, has, "%s on %s (cache %d pass %d): %s", drivers[k],
                                                     sched_cand_get(&at, i)->n->id, with, pass, why ? why : "feasible");
                                }
                                sched_group_free(&g);
                                sched_attempt_free(&at);
                        }
                        if (cc)
                                cr_assert_eq(stats(cc).hits, 1);
                        sched_cand_cache_destroy(cc);
                        eval_unref(ev);
                        job_unref(j);
                }
        state_destroy(st);
}

/* The per-class memo read through the cache's interned classes gives each node its own
 * class's answer, on a miss and on a hit, for two groups with different constraints. */
Test(sched_cands, interned_class_memo_matches_each_nodes_constraints) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        const char *kernels[] = {"linux", "windows", "linux", "darwin", "windows", "linux"};
        for (int i = 0; i < 6; i++) {
                char id[16];
                snprintf(id, sizeof(id), "n%d", i);
                struct node *n = fx_node(id, "dc1", 4000, 8192);
                strmap_set(&n->attributes, "kernel.name", kernels[i]);
                node_compute_class(n);
                cr_assert_eq(state_upsert_node(st, ++idx, n), 0);
                node_unref(n);
        }
        struct job *j = job_in("web", "dc1");
        j->groups = realloc(j->groups, 2 * sizeof(*j->groups));
        j->groups[1] = (struct task_group){0};
        j->groups[1].name = strdup("g2");
        j->groups[1].count = 1;
        j->groups[1].tasks = calloc(1, sizeof(*j->groups[1].tasks));
        j->groups[1].n_tasks = 1;
        j->groups[1].tasks[0].name = strdup("t");
        j->groups[1].tasks[0].driver = strdup("raw_exec");
        j->n_groups = 2;
        fx_add_constraint(&j->groups[0].constraints, &j->groups[0].n_constraints, "${attr.kernel.name}", "=", "linux");
        fx_add_constraint(&j->groups[1].constraints, &j->groups[1].n_constraints, "${attr.kernel.name}", "!=",
                          "linux");
        struct sched_cand_cache *cc = sched_cand_cache_create(4, 1 << 20);
        struct eval *ev = fx_eval("eval-1", j, "job-register");
        struct sched_ctx ctx = {.ops = &svc_ops, .snap = st, .eval = ev, .clock = &clock_real, .cands = cc};
        for (int pass = 0; pass < 2; pass++) {
                struct sched_attempt at = {.c = &ctx, .job = j};
                at.plan = plan_new(ev->id, NULL, j);
                cr_assert_eq(sched_build_cands(&at), 0);
                cr_assert(at.drv_known);
                cr_assert_eq(at.n_cands, 6);
                for (size_t gi = 0; gi < 2; gi++) {
                        struct sched_group g;
                        cr_assert_eq(sched_group_init(&at, &g, gi), 0);
                        int feasible = 0;
                        for (size_t i = 0; i < at.n_cands; i++) {
                                char buf[160];
                                const char *why = sched_feasible(&at, &g, sched_cand_get(&at, i), buf, sizeof(buf));
                                bool is_linux = strcmp(strmap_get(&sched_cand_get(&at, i)->n->attributes, "kernel.name"), "linux") == 0;
                                cr_assert_eq(why == NULL, gi == 0 ? is_linux : !is_linux, "group %zu on %s (pass %d)", gi,
                                             sched_cand_get(&at, i)->n->id, pass);
                                feasible += why == NULL;
                        }
                        cr_assert_eq(feasible, 3);
                        sched_group_free(&g);
                }
                sched_attempt_free(&at);
        }
        cr_assert_eq(stats(cc).hits, 1);
        sched_cand_cache_destroy(cc);
        eval_unref(ev);
        job_unref(j);
        state_destroy(st);
}

/* A hit gives the very order the walk and shuffle give (placements do not depend on
 * whether the list was cached). */
Test(sched_cands, hit_keeps_the_walks_shuffled_order) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        for (int i = 0; i < 40; i++) {
                char id[16];
                snprintf(id, sizeof(id), "n%02d", i);
                add_node(st, &idx, id, i % 3 ? "dc1" : "dc2");
        }
        struct job *j = job_in("web", "dc1");
        struct sched_cand_cache *cc = sched_cand_cache_create(4, 1 << 20);
        for (int e = 0; e < 5; e++) {
                char eid[48];
                snprintf(eid, sizeof(eid), "00000000-0000-0000-0000-0000000000%02d", e);
                struct eval *ev = fx_eval(eid, j, "job-register");
                struct sched_ctx plain = {.ops = &svc_ops, .snap = st, .eval = ev, .clock = &clock_real};
                struct sched_ctx cached = plain;
                cached.cands = cc;
                struct sched_attempt a = {.c = &plain, .job = j}, b = {.c = &cached, .job = j};
                cr_assert_eq(sched_build_cands(&a), 0);
                cr_assert_eq(sched_build_cands(&b), 0);
                cr_assert_eq(a.n_cands, 26);
                cr_assert_eq(b.n_cands, a.n_cands);
                for (size_t i = 0; i < a.n_cands; i++)
                        cr_assert_eq(sched_cand_get(&a, i)->n, sched_cand_get(&b, i)->n, "eval %d position %zu", e, i);
                cr_assert_eq(a.pool.nodes_in_pool, b.pool.nodes_in_pool);
                cr_assert(json_equal(a.pool.nodes_available, b.pool.nodes_available));
                sched_attempt_free(&a);
                sched_attempt_free(&b);
                eval_unref(ev);
        }
        cr_assert_eq(stats(cc).hits, 4);
        sched_cand_cache_destroy(cc);
        job_unref(j);
        state_destroy(st);
}

/* What a candidate carries from the cache's record (one line per candidate): on a miss
 * (the walk stored) and on a hit (filled from the record) the same node, class, hash,
 * driver bits and capacity as the plain walk's, the capacity being the node's less its
 * reserved resources (sched_rank reads it instead of the node). */
Test(sched_cands, a_hit_gives_each_candidate_what_the_walk_gives) {
        struct state_store *st = state_create();
        uint64_t idx = 1;
        for (int i = 0; i < 12; i++) {
                char id[16];
                snprintf(id, sizeof(id), "n%02d", i);
                struct node *n = fx_node(id, "dc1", 1000 + 100 * i, 2048 + 64 * i);
                n->disk_mb = 50000 + i;
                n->reserved_cpu = 10 * i;
                n->reserved_memory_mb = 3 * i;
                n->reserved_disk_mb = 7 * i;
                cr_assert_eq(state_upsert_node(st, ++idx, n), 0);
                node_unref(n);
        }
        struct job *j = job_in("web", "dc1");
        struct sched_cand_cache *cc = sched_cand_cache_create(4, 1 << 20);
        struct eval *ev = fx_eval("00000000-0000-0000-0000-000000000001", j, "job-register");
        struct sched_ctx plain = {.ops = &svc_ops, .snap = st, .eval = ev, .clock = &clock_real};
        struct sched_ctx cached = plain;
        cached.cands = cc;
        struct sched_attempt w = {.c = &plain, .job = j}, miss = {.c = &cached, .job = j},
                             hit = {.c = &cached, .job = j};
        cr_assert_eq(sched_build_cands(&w), 0);
        cr_assert_eq(sched_build_cands(&miss), 0);
        cr_assert_eq(sched_build_cands(&hit), 0);
        cr_assert_eq(stats(cc).hits, 1);
        cr_assert_eq(w.n_cands, 12);
        cr_assert_eq(hit.n_cands, 12);
        for (size_t i = 0; i < w.n_cands; i++) {
                struct sched_cand *a = sched_cand_get(&w, i), *b = sched_cand_get(&miss, i),
                                  *c = sched_cand_get(&hit, i);
                const struct node *n = a->n;
                cr_assert(b->n == n && c->n == n, "position %zu", i);
                cr_assert_eq(a->avail.cpu, n->cpu_shares - n->reserved_cpu);
                cr_assert_eq(a->avail.mem, n->memory_mb - n->reserved_memory_mb);
                cr_assert_eq(a->avail.disk, n->disk_mb - n->reserved_disk_mb);
                cr_assert(memcmp(&a->avail, &b->avail, sizeof(a->avail)) == 0, "miss, position %zu", i);
                cr_assert(memcmp(&a->avail, &c->avail, sizeof(a->avail)) == 0, "hit, position %zu", i);
                cr_assert(b->node_class == n->node_class && c->node_class == n->node_class);
                cr_assert_eq(sched_cand_hash(c), hashmap_hash(n->id));
                cr_assert(b->drv == c->drv && b->cls == c->cls && b->slot == c->slot && c->slot != 0);
        }
        sched_attempt_free(&w);
        sched_attempt_free(&miss);
        sched_attempt_free(&hit);
        eval_unref(ev);
        sched_cand_cache_destroy(cc);
        job_unref(j);
        state_destroy(st);
}
