/* test_sched_preempt.c - preemption for device instances and static ports (preempt.c,
 * devices.c's sched_devices_preempt): the choice of victims as a pure function, then
 * through the scheduler and the plan applier on a live store. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "controlplane/plan/applier.h"
#include "controlplane/scheduler/devices.h"
#include "controlplane/scheduler/ports.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/live_planner.h"

/* Two GPU groups: two T4s, four A100s of which a-1 is unhealthy. */
static const char *const node_devices =
    "[{\"Vendor\":\"nvidia\",\"Type\":\"gpu\",\"Name\":\"T4\","
    "  \"Instances\":[{\"ID\":\"t4-0\",\"Healthy\":true},{\"ID\":\"t4-1\",\"Healthy\":true}]},"
    " {\"Vendor\":\"nvidia\",\"Type\":\"gpu\",\"Name\":\"A100\","
    "  \"Instances\":[{\"ID\":\"a-0\",\"Healthy\":true},{\"ID\":\"a-1\",\"Healthy\":false},"
    "                 {\"ID\":\"a-2\",\"Healthy\":true},{\"ID\":\"a-3\",\"Healthy\":true}]}]";

static struct node *gpu_node(const char *id, const char *devices) {
        struct node *n = fx_node(id, "dc1", 8000, 16384);
        n->devices = json_loads(devices, 0, NULL);
        cr_assert(n->devices);
        node_compute_class(n);
        return n;
}

static struct job *device_job(const char *id, int priority, const char *devices) {
        struct job *j = fx_job(id, JOB_SERVICE, 1, 100, 64);
        j->priority = priority;
        j->groups[0].tasks[0].resources.devices = json_loads(devices, 0, NULL);
        cr_assert(j->groups[0].tasks[0].resources.devices, "bad test JSON: %s", devices);
        return j;
}

/* The owner map of victims holding the listed instances: held[v] is a NULL-ended list. */
static struct hashmap *owners(const char *const *const *held, size_t nv) {
        struct hashmap *m = hashmap_create(HASHMAP_OWN_KEYS);
        for (size_t v = 0; v < nv; v++)
                for (const char *const *id = held[v]; *id; id++)
                        cr_assert_eq(hashmap_put(m, *id, (void *)(uintptr_t)(v + 1), NULL), 0);
        return m;
}

static int preempt(const char *ask, const struct hashmap *fixed, const struct hashmap *owner, const int *prio,
                   bool *chosen, size_t nv) {
        struct node *n = gpu_node("n1", node_devices);
        struct job *j = device_job("j", 70, ask);
        for (size_t i = 0; i < nv; i++)
                chosen[i] = false;
        int r = sched_devices_preempt(&j->groups[0], n, fixed, owner, prio, chosen, nv, NULL);
        job_unref(j);
        node_unref(n);
        return r;
}

static const char *const v0_t4[] = {"t4-0", NULL}, *const v1_t4[] = {"t4-1", NULL},
                         *const v2_a100[] = {"a-0", "a-2", "a-3", NULL};

Test(sched_preempt, device_group_whose_victims_have_the_lowest_priority) {
        const char *const *held[] = {v0_t4, v1_t4, v2_a100};
        int prio[] = {10, 20, 30};
        bool chosen[3];
        struct hashmap *owner = owners(held, 3);
        /* one GPU: the T4 held at priority 10, not the A100 held at 30 */
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu\",\"Count\":1}]", NULL, owner, prio, chosen, 3), 0);
        cr_assert(chosen[0] && !chosen[1] && !chosen[2]);
        /* two GPUs: both T4s (highest victim priority 20) beat the one A100 victim (30) */
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu\",\"Count\":2}]", NULL, owner, prio, chosen, 3), 0);
        cr_assert(chosen[0] && chosen[1] && !chosen[2]);
        /* the model named: only the A100s' holder will do */
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/A100\",\"Count\":2}]", NULL, owner, prio, chosen, 3), 0);
        cr_assert(!chosen[0] && !chosen[1] && chosen[2]);
        /* two asks of one alloc: a T4 and three A100s take v0 and v2 */
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/T4\"},{\"Name\":\"nvidia/gpu/A100\",\"Count\":3}]", NULL, owner,
                             prio, chosen, 3),
                     0);
        cr_assert(chosen[0] && !chosen[1] && chosen[2]);
        /* four A100s are not healthy: no choice */
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/A100\",\"Count\":4}]", NULL, owner, prio, chosen, 3), -ENOSPC);
        hashmap_destroy(owner);
}

Test(sched_preempt, a_free_instance_or_a_kept_holder_changes_the_choice) {
        /* only a-0 is held (by v0): a-2 is free, nobody is evicted */
        static const char *const only_a0[] = {"a-0", NULL};
        const char *const *held[] = {only_a0};
        int prio[] = {10};
        bool chosen[1];
        struct hashmap *owner = owners(held, 1);
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/A100\"}]", NULL, owner, prio, chosen, 1), 0);
        cr_assert(!chosen[0]);
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/A100\",\"Count\":3}]", NULL, owner, prio, chosen, 1), 0);
        cr_assert(chosen[0]);
        hashmap_destroy(owner);
        /* t4-0 held by an alloc that stays: two T4s cannot be had; one can, through v1 */
        const char *const *held2[] = {v0_t4, v1_t4};
        int prio2[] = {10, 20};
        bool chosen2[2];
        owner = owners(held2, 2);
        struct hashmap *fixed = hashmap_create(HASHMAP_OWN_KEYS);
        hashmap_remove(owner, "t4-0", NULL);
        cr_assert_eq(hashmap_put(fixed, "t4-0", (void *)1, NULL), 0);
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/T4\",\"Count\":2}]", fixed, owner, prio2, chosen2, 2), -ENOSPC);
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/T4\"}]", fixed, owner, prio2, chosen2, 2), 0);
        cr_assert(!chosen2[0] && chosen2[1]);
        hashmap_destroy(fixed);
        hashmap_destroy(owner);
}

Test(sched_preempt, the_smallest_set_of_victims) {
        /* two A100s: v0 (priority 10) holds one, v1 (10) two: v1 alone is enough */
        static const char *const one[] = {"a-0", NULL}, *const two[] = {"a-2", "a-3", NULL};
        const char *const *held[] = {one, two};
        int prio[] = {10, 10};
        bool chosen[2];
        struct hashmap *owner = owners(held, 2);
        cr_assert_eq(preempt("[{\"Name\":\"nvidia/gpu/A100\",\"Count\":2}]", NULL, owner, prio, chosen, 2), 0);
        cr_assert(!chosen[0] && chosen[1], "v0 taken first is given back");
        hashmap_destroy(owner);
}

/* ---- through the scheduler ------------------------------------------------------------ */

static struct state_store *live;
static uint64_t idx;
static int ids;
static struct eval *last_eval;

static struct live_store planner_store = {&live, &idx};

static int write_eval(void *data, const struct eval *ev) {
        eval_unref(last_eval);
        last_eval = eval_copy(ev);
        return live_write_eval(data, ev);
}

static const struct planner_ops ops = {live_submit, write_eval, write_eval};

static void setup(void) {
        live = state_create();
        idx = 100;
        ids = 0;
        last_eval = NULL;
}

static void teardown(void) {
        eval_unref(last_eval);
        state_destroy(live);
}

TestSuite(sched_preempt_e2e, .init = setup, .fini = teardown);

static void add_node(struct node *n) {
        cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
        node_unref(n);
}

/* An alloc of j on node, running, holding the device instances `devices` (a JSON
 * array of IDs, or NULL). */
static void put_alloc(const char *id, struct job *j, const char *node, int index, const char *devices) {
        struct alloc *a = fx_alloc(id, j, node, index, 100, 64);
        if (devices) {
                json_t *ids_j = json_loads(devices, 0, NULL);
                cr_assert(ids_j);
                a->allocated = json_pack("{s:{},s:{s:{s:[{s:s,s:s,s:s,s:o}]}}}", "Shared", "Tasks", "t", "Devices",
                                         "Vendor", "nvidia", "Type", "gpu", "Name", "T4", "DeviceIDs", ids_j);
        }
        cr_assert_eq(state_upsert_allocs(live, ++idx, &a, 1), 0);
        alloc_unref(a);
}

static void add_job(struct job *j) {
        cr_assert_eq(state_upsert_job(live, ++idx, j), 0);
}

static void schedule(struct job *j) {
        add_job(j);
        struct eval *e = fx_eval("eval-hi", j, "job-register");
        state_upsert_evals(live, ++idx, &e, 1);
        struct state_store *snap = state_snapshot(live);
        static const struct sched_preemption on = {.system = true, .service = true};
        struct scheduler_env env = {.gen_id = live_seq_id, .id_data = &ids, .preemption = &on};
        struct error err = {0};
        cr_assert_eq(scheduler_process_env(snap, e, &ops, &planner_store, &env, &err), 0, "%s", err.msg);
        state_destroy(snap);
        eval_unref(e);
}

/* The live alloc of job id (exactly one expected), or NULL when it has none. */
static const struct alloc *the_alloc(const char *job) {
        const struct alloc *found = NULL;
        size_t n = 0;
        const char *nodes[] = {"n1", "n2"};
        for (size_t k = 0; k < 2; k++) {
                size_t na;
                struct alloc *const *list = state_allocs_by_node(live, nodes[k], &na);
                for (size_t i = 0; i < na; i++)
                        if (!alloc_terminal(list[i]) && strcmp(list[i]->job_id, job) == 0) {
                                found = list[i];
                                n++;
                        }
        }
        cr_assert_leq(n, 1, "%s has %zu live allocs", job, n);
        return found;
}

static const char *status_of(const char *alloc_id) {
        const struct alloc *a = state_alloc_get(live, alloc_id);
        cr_assert_not_null(a, "%s", alloc_id);
        return alloc_desired_str(a->desired_status);
}

/* The new alloc's PreemptedAllocations, as one comma-separated string. */
static void preempted_list(const struct alloc *a, char *buf, size_t size) {
        size_t i, off = 0;
        json_t *v;
        buf[0] = '\0';
        json_array_foreach(json_object_get(a->extra, "PreemptedAllocations"), i, v) {
                off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "", json_string_value(v));
        }
}

static const char *const one_t4 = "[{\"Vendor\":\"nvidia\",\"Type\":\"gpu\",\"Name\":\"T4\","
                                  "  \"Instances\":[{\"ID\":\"g0\",\"Healthy\":true}]}]";

/* A full GPU node: the high-priority job asking for the GPU evicts its low-priority
 * holder (and nobody else), gets its instance, and lists it; a holder within 10
 * priority levels is never evicted. */
Test(sched_preempt_e2e, a_device_ask_evicts_the_lower_priority_holder) {
        add_node(gpu_node("n1", one_t4));
        add_node(gpu_node("n2", one_t4));
        struct job *low = fx_job("low", JOB_SERVICE, 1, 100, 64), *other = fx_job("other", JOB_SERVICE, 1, 100, 64),
                   *near = fx_job("near", JOB_SERVICE, 1, 100, 64);
        low->priority = 20;
        other->priority = 10;
        near->priority = 65;
        add_job(low);
        add_job(other);
        add_job(near);
        put_alloc("low-0", low, "n1", 0, "[\"g0\"]");
        put_alloc("other-0", other, "n1", 0, NULL); /* lower still, but holds no GPU */
        put_alloc("near-0", near, "n2", 0, "[\"g0\"]");
        struct job *hi = device_job("hi", 70, "[{\"Name\":\"nvidia/gpu\",\"Count\":1}]");
        schedule(hi);
        const struct alloc *a = the_alloc("hi");
        cr_assert_not_null(a, "placed by evicting the GPU's holder");
        cr_assert_str_eq(a->node_id, "n1");
        cr_assert_str_eq(status_of("low-0"), "evict");
        cr_assert_str_eq(status_of("other-0"), "run", "holds nothing the ask needs");
        cr_assert_str_eq(status_of("near-0"), "run", "within 10 priority levels");
        char list[256];
        preempted_list(a, list, sizeof(list));
        cr_assert_str_eq(list, "low-0");
        json_t *dev =
            json_array_get(json_object_get(json_object_get(json_object_get(a->allocated, "Tasks"), "t"), "Devices"), 0);
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(dev, "DeviceIDs"), 0)), "g0");
        char want[96];
        snprintf(want, sizeof(want), "Preempted by alloc ID %s", a->id);
        cr_assert_str_eq(state_alloc_get(live, "low-0")->desired_description, want);
        job_unref(hi);
        job_unref(low);
        job_unref(other);
        job_unref(near);
}

Test(sched_preempt_e2e, no_lower_priority_holder_no_preemption) {
        add_node(gpu_node("n1", one_t4));
        struct job *near = fx_job("near", JOB_SERVICE, 1, 100, 64);
        near->priority = 61;
        add_job(near);
        put_alloc("near-0", near, "n1", 0, "[\"g0\"]");
        struct job *hi = device_job("hi", 70, "[{\"Name\":\"nvidia/gpu\"}]");
        schedule(hi);
        cr_assert_null(the_alloc("hi"));
        cr_assert_str_eq(status_of("near-0"), "run");
        cr_assert_not_null(json_object_get(last_eval->failed_tg_allocs, "g"), "the failure is reported");
        job_unref(hi);
        job_unref(near);
}

/* A service job of one alloc asking cpu MHz at that priority, reserving static port
 * `port` (0: none). */
static struct job *port_job(const char *id, int priority, int cpu, int port) {
        struct job *j = fx_job(id, JOB_SERVICE, 1, cpu, 64);
        j->priority = priority;
        if (port)
                fx_add_static_port(j, port);
        return j;
}

/* Static port 8080 taken on both nodes: the node whose holder has the lowest priority
 * is chosen, and there only the holder is evicted; a holder not low enough rules its
 * node out. */
Test(sched_preempt_e2e, a_static_port_evicts_its_lowest_priority_holder) {
        add_node(fx_node("n1", "dc1", 8000, 16000));
        add_node(fx_node("n2", "dc1", 8000, 16000));
        struct job *p40 = port_job("p40", 40, 100, 8080), *p20 = port_job("p20", 20, 100, 8080),
                   *p5 = port_job("p5", 5, 100, 0);
        add_job(p40);
        add_job(p20);
        add_job(p5);
        put_alloc("p40-0", p40, "n1", 0, NULL);
        put_alloc("p20-0", p20, "n2", 0, NULL);
        put_alloc("p5-0", p5, "n2", 0, NULL); /* the lowest, but without the port */
        struct job *hi = port_job("hi", 80, 100, 8080);
        schedule(hi);
        const struct alloc *a = the_alloc("hi");
        cr_assert_not_null(a);
        cr_assert_str_eq(a->node_id, "n2", "its port holder has priority 20, n1's 40");
        cr_assert_str_eq(status_of("p20-0"), "evict");
        cr_assert_str_eq(status_of("p5-0"), "run");
        cr_assert_str_eq(status_of("p40-0"), "run");
        char list[256];
        preempted_list(a, list, sizeof(list));
        cr_assert_str_eq(list, "p20-0");
        char hi_id[ID_BUF];
        snprintf(hi_id, sizeof(hi_id), "%s", a->id);
        job_unref(hi);

        /* a second job wanting 8080 at priority 45: n1's holder (40) is within 10, n2's
         * holder is "hi" (80): nothing to evict */
        struct job *again = port_job("again", 45, 100, 8080);
        schedule(again);
        cr_assert_null(the_alloc("again"));
        cr_assert_str_eq(status_of("p40-0"), "run");
        cr_assert_str_eq(status_of(hi_id), "run");
        job_unref(again);
        job_unref(p40);
        job_unref(p20);
        job_unref(p5);
}

/* A full node and a port: the port's holder is evicted first, and counts towards the
 * cpu the ask needs, so no other victim is taken when it frees enough. */
Test(sched_preempt_e2e, port_victims_count_towards_cpu) {
        add_node(fx_node("n1", "dc1", 1000, 16000));
        struct job *lo = port_job("lo", 10, 100, 0), *holder = port_job("holder", 30, 100, 9090);
        add_job(lo);
        add_job(holder);
        struct alloc *x = fx_alloc("lo-0", lo, "n1", 0, 300, 64);
        struct alloc *y = fx_alloc("holder-0", holder, "n1", 0, 600, 64);
        cr_assert_eq(state_upsert_allocs(live, ++idx, &x, 1), 0);
        cr_assert_eq(state_upsert_allocs(live, ++idx, &y, 1), 0);
        alloc_unref(x);
        alloc_unref(y);
        struct job *hi = port_job("hi", 80, 500, 9090);
        schedule(hi);
        cr_assert_not_null(the_alloc("hi"));
        cr_assert_str_eq(status_of("holder-0"), "evict");
        cr_assert_str_eq(status_of("lo-0"), "run", "the holder's 600 MHz are enough for 500");
        job_unref(hi);
        job_unref(lo);
        job_unref(holder);
}

/* Victims chosen for cpu, but the placement then finds no dynamic port (a full range is
 * not a reason to preempt): the victims' stops are undone, nobody is evicted for
 * nothing. */
Test(sched_preempt_e2e, a_placement_that_fails_after_all_evicts_nobody) {
        add_node(fx_node("n1", "dc1", 1000, 16000));
        struct job *hog = port_job("hog", 50, 100, 0), *lo = port_job("lo", 10, 900, 0);
        add_job(hog);
        add_job(lo);
        struct alloc *a = fx_alloc("hog-0", hog, "n1", 0, 100, 64);
        json_t *ports = json_array();
        for (int p = SCHED_PORT_MIN; p <= SCHED_PORT_MAX; p++)
                json_array_append_new(ports, json_pack("{s:s,s:i}", "Label", "x", "Value", p));
        a->allocated = json_pack("{s:{s:o}}", "Shared", "Ports", ports);
        cr_assert_eq(state_upsert_allocs(live, ++idx, &a, 1), 0);
        alloc_unref(a);
        put_alloc("lo-0", lo, "n1", 0, NULL); /* 100 MHz: not enough room for 500 */
        struct alloc *big = alloc_copy(state_alloc_get(live, "lo-0"));
        big->resources.cpu = 900;
        cr_assert_eq(state_upsert_allocs(live, ++idx, &big, 1), 0);
        alloc_unref(big);
        struct job *hi = port_job("hi", 55, 500, 0);
        struct task_group *g = &hi->groups[0];
        g->networks = calloc(1, sizeof(*g->networks));
        g->n_networks = 1;
        g->networks[0].dynamic_ports = calloc(1, sizeof(struct port));
        g->networks[0].n_dynamic = 1;
        g->networks[0].dynamic_ports[0] = (struct port){.label = strdup("http")};
        schedule(hi);
        cr_assert_null(the_alloc("hi"));
        cr_assert_str_eq(status_of("lo-0"), "run", "its stop was undone");
        cr_assert_str_eq(status_of("hog-0"), "run");
        job_unref(hi);
        job_unref(hog);
        job_unref(lo);
}

/* ---- network bandwidth ------------------------------------------------------------------ */

/* A job whose group network asks for mbits (cpu 100, memory 64). */
static struct job *bw_job(const char *id, int priority, int mbits) {
        struct job *j = fx_job(id, JOB_SERVICE, 1, 100, 64);
        j->priority = priority;
        struct task_group *g = &j->groups[0];
        g->networks = calloc(1, sizeof(*g->networks));
        g->n_networks = 1;
        g->networks[0].mbits = mbits;
        return j;
}

static void schedule_with(struct job *j, bool preempt) {
        add_job(j);
        struct eval *e = fx_eval("eval-hi", j, "job-register");
        state_upsert_evals(live, ++idx, &e, 1);
        struct state_store *snap = state_snapshot(live);
        const struct sched_preemption pre = {.system = true, .service = preempt};
        struct scheduler_env env = {.gen_id = live_seq_id, .id_data = &ids, .preemption = &pre};
        struct error err = {0};
        cr_assert_eq(scheduler_process_env(snap, e, &ops, &planner_store, &env, &err), 0, "%s", err.msg);
        state_destroy(snap);
        eval_unref(e);
}

/* Each row: holders on a 1,000 Mbit/s node (plenty of cpu and memory), the ask of a job
 * at priority `prio`, whether it is placed, and which holders are evicted: lowest
 * priority first, within a priority the biggest holder of bandwidth first, unneeded
 * victims given back, nobody within 10 priority levels, nobody when bandwidth is free. */
Test(sched_preempt_e2e, network_bandwidth_table) {
        static const struct {
                const char *name;
                struct {
                        int prio, mbits;
                } holders[4];
                int ask, prio;
                bool placed;
                const char *evicted; /* the holders' indexes, e.g. "1,0" in PreemptedAllocations order */
        } rows[] = {
            {"one victim of the lowest priority is enough", {{20, 300}, {20, 600}, {40, 100}}, 500, 80, true, "1"},
            {"two of the lowest priority", {{20, 300}, {20, 600}, {40, 100}}, 800, 80, true, "1,0"},
            {"the lowest priority before the bigger", {{10, 400}, {20, 300}, {20, 300}}, 350, 80, true, "0"},
            {"the smallest set: the big holder", {{20, 100}, {20, 100}, {20, 700}}, 500, 80, true, "2"},
            {"a higher priority only when needed", {{20, 200}, {50, 800}}, 900, 80, true, "0,1"},
            {"holders within 10 levels are kept", {{20, 500}, {20, 500}}, 500, 25, false, ""},
            {"free bandwidth: nobody evicted", {{20, 300}, {20, 300}}, 400, 80, true, ""},
            {"more than the link: nobody evicted", {{20, 300}}, 1200, 80, false, ""},
        };
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
                teardown();
                setup();
                struct node *n = fx_node("n1", "dc1", 8000, 16000);
                n->networks = json_pack("[{s:s,s:s,s:i},{s:s,s:s,s:i}]", "Mode", "host", "Device", "lo", "Speed", 100,
                                        "Mode", "host", "Device", "eth0", "Speed", 1000);
                add_node(n);
                char ids_of[4][32];
                struct job *held[4] = {0};
                for (size_t h = 0; h < 4 && rows[r].holders[h].prio; h++) {
                        char jid[16];
                        snprintf(jid, sizeof(jid), "h%zu", h);
                        snprintf(ids_of[h], sizeof(ids_of[h]), "h%zu-0", h);
                        held[h] = bw_job(jid, rows[r].holders[h].prio, rows[r].holders[h].mbits);
                        add_job(held[h]);
                        put_alloc(ids_of[h], held[h], "n1", 0, NULL);
                }
                struct job *hi = bw_job("hi", rows[r].prio, rows[r].ask);
                schedule_with(hi, true);
                const struct alloc *a = the_alloc("hi");
                cr_assert_eq(a != NULL, rows[r].placed, "%s", rows[r].name);
                char want[128] = "", got[256] = "";
                size_t off = 0;
                for (const char *p = rows[r].evicted; *p; p++)
                        off += (size_t)snprintf(want + off, sizeof(want) - off, "%s",
                                                *p == ',' ? "," : ids_of[*p - '0']);
                if (a)
                        preempted_list(a, got, sizeof(got));
                cr_assert_str_eq(got, want, "%s", rows[r].name);
                for (size_t h = 0; h < 4 && held[h]; h++) {
                        bool evicted = strstr(want, ids_of[h]) != NULL;
                        cr_assert_str_eq(status_of(ids_of[h]), evicted ? "evict" : "run", "%s: %s", rows[r].name,
                                         ids_of[h]);
                        job_unref(held[h]);
                }
                job_unref(hi);
        }
}

/* Without preemption a bandwidth shortfall is the placement's failure, named as Nomad
 * names it; a node reporting no network speed is not limited. */
Test(sched_preempt_e2e, bandwidth_exceeded_without_preemption) {
        struct node *n = fx_node("n1", "dc1", 8000, 16000);
        n->networks = json_pack("[{s:s,s:s,s:i}]", "Mode", "host", "Device", "eth0", "Speed", 1000);
        add_node(n);
        struct job *lo = bw_job("lo", 20, 700);
        add_job(lo);
        put_alloc("lo-0", lo, "n1", 0, NULL);
        struct job *hi = bw_job("hi", 80, 400);
        schedule_with(hi, false);
        cr_assert_null(the_alloc("hi"));
        cr_assert_str_eq(status_of("lo-0"), "run");
        cr_assert_not_null(last_eval);
        json_t *dims = json_object_get(json_object_get(last_eval->failed_tg_allocs, "g"), "DimensionExhausted");
        cr_assert_eq(json_integer_value(json_object_get(dims, "network: bandwidth exceeded")), 1, "%s",
                     json_dumps(last_eval->failed_tg_allocs, JSON_COMPACT));
        job_unref(hi);
        /* the same ask on a node that reports no speed */
        add_node(fx_node("n2", "dc1", 8000, 16000));
        struct job *big = bw_job("big", 80, 5000);
        schedule_with(big, false);
        const struct alloc *a = the_alloc("big");
        cr_assert_not_null(a);
        cr_assert_str_eq(a->node_id, "n2");
        job_unref(big);
        job_unref(lo);
}
