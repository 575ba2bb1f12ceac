/* test_sched_devices.c - device asks (devices.c) and dynamic ports (ports.c): the pure
 * functions, then through the scheduler and plan applier on a live store. */
#include <criterion/criterion.h>
#include <errno.h>

#include "common/error.h"
#include "common/hashmap.h"
#include "common/jobspec.h"
#include "controlplane/plan/applier.h"
#include "controlplane/scheduler/devices.h"
#include "controlplane/scheduler/ports.h"
#include "controlplane/scheduler/scheduler.h"
#include "controlplane/state/state.h"
#include "nodeagent/alloc/taskenv.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/live_planner.h"

/* Two device groups as the PCI fingerprinter reports them, one with an unhealthy instance. */
static const char *const node_devices =
    "[{\"Vendor\":\"nvidia\",\"Type\":\"gpu\",\"Name\":\"T4\","
    "  \"Instances\":[{\"ID\":\"t4-0\",\"Healthy\":true},{\"ID\":\"t4-1\",\"Healthy\":true}],"
    "  \"Attributes\":{\"memory\":{\"Int\":16,\"Unit\":\"GiB\"},\"device_id\":{\"String\":\"0x1eb8\"}}},"
    " {\"Vendor\":\"nvidia\",\"Type\":\"gpu\",\"Name\":\"A100\","
    "  \"Instances\":[{\"ID\":\"a-0\",\"Healthy\":true},{\"ID\":\"a-1\",\"Healthy\":false},"
    "                 {\"ID\":\"a-2\",\"Healthy\":true},{\"ID\":\"a-3\",\"Healthy\":true}],"
    "  \"Attributes\":{\"memory\":{\"Int\":40960,\"Unit\":\"MiB\"}}},"
    " {\"Vendor\":\"intel\",\"Type\":\"nic\",\"Name\":\"E810\",\"Instances\":[{\"ID\":\"nic-0\",\"Healthy\":true}]}]";

static struct node *gpu_node(const char *id) {
        struct node *n = fx_node(id, "dc1", 8000, 16384);
        n->devices = json_loads(node_devices, 0, NULL);
        cr_assert(n->devices);
        node_compute_class(n);
        return n;
}

/* A one-task group asking for `devices` (JSON array in the job's shape). */
static struct job *device_job(const char *id, int count, const char *devices) {
        struct job *j = fx_job(id, JOB_SERVICE, count, 100, 64);
        j->groups[0].tasks[0].resources.devices = json_loads(devices, 0, NULL);
        cr_assert(j->groups[0].tasks[0].resources.devices, "bad test JSON: %s", devices);
        return j;
}

static int assign(const struct job *j, const struct node *n, struct hashmap *used, double *score, json_t **tasks,
                  const char **why) {
        static char buf[160];
        return sched_devices_assign(&j->groups[0], n, used, NULL, score, tasks, buf, sizeof(buf), why);
}

static json_t *ids_of(json_t *tasks) {
        return json_object_get(json_array_get(json_object_get(tasks, "t"), 0), "DeviceIDs");
}

Test(sched_devices, names_match_by_type_vendor_and_model) {
        struct node *n = gpu_node("n1");
        const char *why = NULL;
        double score;
        json_t *tasks = NULL;
        struct job *j = device_job("j", 1, "[{\"Name\":\"nvidia/gpu/A100\",\"Count\":3}]");
        cr_assert_eq(assign(j, n, NULL, &score, &tasks, &why), 0);
        json_t *d = json_array_get(json_object_get(tasks, "t"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(d, "Name")), "A100");
        cr_assert_str_eq(json_string_value(json_object_get(d, "Vendor")), "nvidia");
        json_t *ids = json_object_get(d, "DeviceIDs");
        cr_assert_eq(json_array_size(ids), 3);
        cr_assert_str_eq(json_string_value(json_array_get(ids, 1)), "a-2", "the unhealthy a-1 is skipped");
        json_decref(tasks);
        job_unref(j);
        /* four healthy A100s do not exist */
        j = device_job("j", 1, "[{\"Name\":\"nvidia/gpu/A100\",\"Count\":4}]");
        cr_assert_eq(assign(j, n, NULL, &score, NULL, &why), -ENOSPC);
        cr_assert(strstr(why, "nvidia/gpu/A100"), "%s", why);
        job_unref(j);
        /* "gpu" alone matches either group; "amd/gpu" none; "nic" the NIC */
        j = device_job("j", 1, "[{\"Name\":\"gpu\",\"Count\":2}]");
        cr_assert_eq(assign(j, n, NULL, &score, NULL, &why), 0);
        job_unref(j);
        j = device_job("j", 1, "[{\"Name\":\"amd/gpu\"}]");
        cr_assert_eq(assign(j, n, NULL, &score, NULL, &why), -ENOSPC);
        cr_assert(strstr(why, "no amd/gpu"), "%s", why);
        job_unref(j);
        j = device_job("j", 1, "[{\"Name\":\"nic\"}]");
        cr_assert_eq(assign(j, n, NULL, &score, &tasks, &why), 0);
        cr_assert_str_eq(json_string_value(json_array_get(ids_of(tasks), 0)), "nic-0");
        json_decref(tasks);
        job_unref(j);
        node_unref(n);
}

Test(sched_devices, constraints_compare_attributes_with_units_and_skip_used_instances) {
        struct node *n = gpu_node("n1");
        const char *why = NULL;
        double score;
        json_t *tasks = NULL;
        /* memory >= 20 GiB: only the A100 (40960 MiB) */
        struct job *j = device_job("j", 1,
                                   "[{\"Name\":\"nvidia/gpu\",\"Count\":1,\"Constraints\":[{\"LTarget\":"
                                   "\"${device.attr.memory}\",\"RTarget\":\"20 GiB\",\"Operand\":\">=\"}]}]");
        cr_assert_eq(assign(j, n, NULL, &score, &tasks, &why), 0);
        cr_assert_str_eq(json_string_value(json_array_get(ids_of(tasks), 0)), "a-0");
        json_decref(tasks);
        /* a-0 and a-2 held by other allocs: a-3 */
        struct hashmap *used = hashmap_create(HASHMAP_OWN_KEYS);
        hashmap_put(used, "a-0", (void *)1, NULL);
        hashmap_put(used, "a-2", (void *)1, NULL);
        cr_assert_eq(assign(j, n, used, &score, &tasks, &why), 0);
        cr_assert_str_eq(json_string_value(json_array_get(ids_of(tasks), 0)), "a-3");
        json_decref(tasks);
        hashmap_put(used, "a-3", (void *)1, NULL);
        cr_assert_eq(assign(j, n, used, &score, NULL, &why), -ENOSPC, "the T4s have 16 GiB only");
        hashmap_destroy(used);
        job_unref(j);
        /* string attributes and the model */
        j = device_job("j", 1,
                       "[{\"Name\":\"gpu\",\"Constraints\":[{\"LTarget\":\"${device.attr.device_id}\",\"RTarget\":"
                       "\"0x1eb8\",\"Operand\":\"=\"},{\"LTarget\":\"${device.model}\",\"RTarget\":\"T\","
                       "\"Operand\":\"regexp\"}]}]");
        cr_assert_eq(assign(j, n, NULL, &score, &tasks, &why), 0);
        cr_assert_str_eq(json_string_value(json_array_get(ids_of(tasks), 0)), "t4-0");
        json_decref(tasks);
        job_unref(j);
        int c = 9;
        cr_assert(sched_device_units_cmp("16 GiB", "16384 MiB", &c) && c == 0);
        cr_assert(sched_device_units_cmp("1 GHz", "999 MHz", &c) && c == 1);
        cr_assert(!sched_device_units_cmp("1 GHz", "1 GiB", &c), "different kinds do not compare");
        cr_assert(!sched_device_units_cmp("lots", "1 GiB", &c));
        node_unref(n);
}

Test(sched_devices, affinities_choose_the_group_and_score) {
        struct node *n = gpu_node("n1");
        const char *why = NULL;
        double score = -5;
        json_t *tasks = NULL;
        struct job *j = device_job("j", 1,
                                   "[{\"Name\":\"nvidia/gpu\",\"Affinities\":[{\"LTarget\":\"${device.model}\","
                                   "\"RTarget\":\"A100\",\"Operand\":\"=\",\"Weight\":50}]}]");
        cr_assert(sched_group_device_affinities(&j->groups[0]));
        cr_assert_eq(assign(j, n, NULL, &score, &tasks, &why), 0);
        cr_assert_str_eq(json_string_value(json_array_get(ids_of(tasks), 0)), "a-0", "the T4 comes first otherwise");
        cr_assert_float_eq(score, 1.0, 1e-9);
        json_decref(tasks);
        job_unref(j);
        j = device_job("j", 1,
                       "[{\"Name\":\"nvidia/gpu\",\"Affinities\":[{\"LTarget\":\"${device.model}\","
                       "\"RTarget\":\"H100\",\"Operand\":\"=\",\"Weight\":50}]}]");
        cr_assert_eq(assign(j, n, NULL, &score, NULL, &why), 0);
        cr_assert_float_eq(score, 0.0, 1e-9);
        job_unref(j);
        node_unref(n);
}

/* ---- through the scheduler ------------------------------------------------------------ */

static struct state_store *live;
static uint64_t idx;
static int ids;

static struct live_store planner_store = {&live, &idx};
static const struct planner_ops ops = {live_submit, live_write_eval, live_write_eval};

static void setup(void) {
        live = state_create();
        idx = 100;
        ids = 0;
}

static void teardown(void) {
        state_destroy(live);
}

static void schedule(struct job *j) {
        cr_assert_eq(state_upsert_job(live, ++idx, j), 0);
        struct eval *e = fx_eval("eval-1", j, "job-register");
        job_unref(j);
        state_upsert_evals(live, ++idx, &e, 1);
        struct state_store *snap = state_snapshot(live);
        struct scheduler_env env = {.gen_id = live_seq_id, .id_data = &ids};
        struct error err = {0};
        cr_assert_eq(scheduler_process_env(snap, e, &ops, &planner_store, &env, &err), 0, "%s", err.msg);
        state_destroy(snap);
        eval_unref(e);
}

struct seen {
        const struct alloc *v[32];
        int n;
};

static bool seen_cb(void *arg, const struct alloc *a) {
        struct seen *s = arg;
        if (!alloc_terminal(a) && s->n < 32)
                s->v[s->n++] = a;
        return true;
}

TestSuite(sched_devices_e2e, .init = setup, .fini = teardown);

Test(sched_devices_e2e, instances_are_never_given_twice_on_a_node) {
        for (int i = 0; i < 2; i++) {
                char id[24];
                snprintf(id, sizeof(id), "n%d", i);
                struct node *n = gpu_node(id);
                cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
                node_unref(n);
        }
        /* 3 healthy A100s per node, 2 asked per alloc: one alloc per node fits, a third does not */
        schedule(device_job("train", 3, "[{\"Name\":\"nvidia/gpu/A100\",\"Count\":2}]"));
        struct seen s = {0};
        state_allocs_by_job_foreach(live, "default", "train", seen_cb, &s);
        cr_assert_eq(s.n, 2, "placed %d", s.n);
        cr_assert_str_neq(s.v[0]->node_id, s.v[1]->node_id);
        for (int i = 0; i < s.n; i++) {
                json_t *ids_i = json_object_get(
                    json_array_get(
                        json_object_get(json_object_get(json_object_get(s.v[i]->allocated, "Tasks"), "t"), "Devices"),
                        0),
                    "DeviceIDs");
                cr_assert_eq(json_array_size(ids_i), 2);
                cr_assert_str_neq(json_string_value(json_array_get(ids_i, 0)),
                                  json_string_value(json_array_get(ids_i, 1)));
        }
        /* the API shape: AllocatedResources.Tasks.t.Devices, and back */
        json_t *js = alloc_to_json(s.v[0]);
        json_t *devs = json_object_get(
            json_object_get(json_object_get(json_object_get(js, "AllocatedResources"), "Tasks"), "t"), "Devices");
        cr_assert_eq(json_array_size(devs), 1);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(devs, 0), "Type")), "gpu");
        struct alloc *back = NULL;
        struct error err = {0};
        cr_assert_eq(alloc_from_json(js, &back, &err), 0, "%s", err.msg);
        struct hashmap *held = hashmap_create(HASHMAP_OWN_KEYS);
        cr_assert_eq(sched_devices_held(back, held), 0);
        cr_assert_eq(hashmap_count(held), 2);
        hashmap_destroy(held);
        alloc_unref(back);
        json_decref(js);
        /* a second job gets the remaining A100 of each node, not one already held */
        schedule(device_job("infer", 2, "[{\"Name\":\"nvidia/gpu/A100\",\"Count\":1}]"));
        struct seen all = {0};
        state_allocs_by_node_foreach(live, "n0", seen_cb, &all);
        struct hashmap *on_n0 = hashmap_create(HASHMAP_OWN_KEYS);
        size_t total = 0;
        for (int i = 0; i < all.n; i++) {
                struct hashmap *one = hashmap_create(HASHMAP_OWN_KEYS);
                sched_devices_held(all.v[i], one);
                size_t it = 0;
                const char *k;
                while (hashmap_next(one, &it, &k, NULL)) {
                        cr_assert(!hashmap_contains(on_n0, k), "instance %s given twice on n0", k);
                        hashmap_put(on_n0, k, (void *)1, NULL);
                        total++;
                }
                hashmap_destroy(one);
        }
        cr_assert_eq(total, 3, "n0: 2 + 1 A100s held (got %zu)", total);
        hashmap_destroy(on_n0);
}

Test(sched_devices_e2e, dynamic_ports_come_from_the_range_without_collisions) {
        struct node *n = fx_node("n1", "dc1", 8000, 16384);
        strmap_set(&n->attributes, "unique.network.ip-address", "10.1.2.3");
        node_compute_class(n);
        cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
        node_unref(n);
        struct job *j = fx_job("web", JOB_SERVICE, 6, 100, 64);
        struct task_group *g = &j->groups[0];
        g->networks = calloc(1, sizeof(*g->networks));
        g->n_networks = 1;
        g->networks[0].dynamic_ports = calloc(2, sizeof(struct port));
        g->networks[0].n_dynamic = 2;
        g->networks[0].dynamic_ports[0] = (struct port){.label = strdup("http"), .to = 8080};
        g->networks[0].dynamic_ports[1] = (struct port){.label = strdup("metrics")};
        schedule(j);
        struct seen s = {0};
        state_allocs_by_job_foreach(live, "default", "web", seen_cb, &s);
        cr_assert_eq(s.n, 6);
        struct sched_portset used = {0};
        int ports = 0;
        for (int i = 0; i < s.n; i++) {
                json_t *flat = json_object_get(json_object_get(s.v[i]->allocated, "Shared"), "Ports");
                cr_assert_eq(json_array_size(flat), 2);
                size_t k;
                json_t *p;
                json_array_foreach(flat, k, p) {
                        int v = (int)json_integer_value(json_object_get(p, "Value"));
                        cr_assert(v >= SCHED_PORT_MIN && v <= SCHED_PORT_MAX, "port %d out of range", v);
                        cr_assert(!(used.bits[v / 64] >> (v % 64) & 1), "port %d given twice", v);
                        used.bits[v / 64] |= UINT64_C(1) << (v % 64);
                        cr_assert_str_eq(json_string_value(json_object_get(p, "HostIP")), "10.1.2.3");
                        ports++;
                }
                json_t *dyn = json_object_get(
                    json_array_get(json_object_get(json_object_get(s.v[i]->allocated, "Shared"), "Networks"), 0),
                    "DynamicPorts");
                cr_assert_str_eq(json_string_value(json_object_get(json_array_get(dyn, 0), "Label")), "http");
                cr_assert_eq(json_integer_value(json_object_get(json_array_get(dyn, 0), "To")), 8080);
        }
        cr_assert_eq(ports, 12);
        /* what the node's allocs hold is what was handed out */
        struct sched_portset held = {0};
        for (int i = 0; i < s.n; i++)
                sched_ports_held(s.v[i], &held);
        cr_assert_eq(sched_ports_free(&held), SCHED_PORT_MAX - SCHED_PORT_MIN + 1 - 12);
        cr_assert_eq(memcmp(&held, &used, sizeof(held)), 0);
}

Test(sched_devices_e2e, a_full_dynamic_range_stops_placement) {
        struct node *n = fx_node("n1", "dc1", 8000, 16384);
        cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
        node_unref(n);
        /* one alloc holding every port of the range but one */
        struct job *hog = fx_job("hog", JOB_SERVICE, 1, 100, 64);
        cr_assert_eq(state_upsert_job(live, ++idx, hog), 0);
        struct alloc *a = fx_alloc("hog-0", hog, "n1", 0, 100, 64);
        json_t *ports = json_array();
        for (int p = SCHED_PORT_MIN; p < SCHED_PORT_MAX; p++)
                json_array_append_new(ports, json_pack("{s:s,s:i}", "Label", "x", "Value", p));
        a->allocated = json_pack("{s:{s:o}}", "Shared", "Ports", ports);
        cr_assert_eq(state_upsert_allocs(live, ++idx, &a, 1), 0);
        alloc_unref(a);
        job_unref(hog);
        struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 64);
        struct task_group *g = &j->groups[0];
        g->networks = calloc(1, sizeof(*g->networks));
        g->n_networks = 1;
        g->networks[0].dynamic_ports = calloc(1, sizeof(struct port));
        g->networks[0].n_dynamic = 1;
        g->networks[0].dynamic_ports[0] = (struct port){.label = strdup("http")};
        schedule(j);
        struct seen s = {0};
        state_allocs_by_job_foreach(live, "default", "web", seen_cb, &s);
        cr_assert_eq(s.n, 1, "one port was left: one alloc (got %d)", s.n);
        json_t *p = json_array_get(json_object_get(json_object_get(s.v[0]->allocated, "Shared"), "Ports"), 0);
        cr_assert_eq(json_integer_value(json_object_get(p, "Value")), SCHED_PORT_MAX);
}

/* From the job file: the device block and a dynamic port, as `drover job run` reads them. */
Test(sched_devices_e2e, a_job_file_device_block_and_dynamic_port_are_placed) {
        static const char hcl[] = "job \"train\" {\n"
                                  "  datacenters = [\"dc1\"]\n"
                                  "  group \"g\" {\n"
                                  "    network {\n"
                                  "      port \"http\" {}\n"
                                  "      port \"admin\" { static = 8081 }\n"
                                  "    }\n"
                                  "    task \"t\" {\n"
                                  "      driver = \"raw_exec\"\n"
                                  "      config { command = \"/bin/true\" }\n"
                                  "      resources {\n"
                                  "        cpu = 100\n"
                                  "        memory = 64\n"
                                  "        device \"nvidia/gpu\" {\n"
                                  "          count = 2\n"
                                  "          constraint {\n"
                                  "            attribute = \"${device.attr.memory}\"\n"
                                  "            operator  = \">=\"\n"
                                  "            value     = \"20 GiB\"\n"
                                  "          }\n"
                                  "          affinity {\n"
                                  "            attribute = \"${device.model}\"\n"
                                  "            value     = \"A100\"\n"
                                  "            weight    = 50\n"
                                  "          }\n"
                                  "        }\n"
                                  "      }\n"
                                  "    }\n"
                                  "  }\n"
                                  "}\n";
        json_t *jj = NULL;
        struct error err = {0};
        cr_assert_eq(jobspec_parse(hcl, sizeof(hcl) - 1, "train.hcl", &jj, &err), 0, "%s", err.msg);
        struct job *j = NULL;
        cr_assert_eq(job_from_json(jj, &j, &err), 0, "%s", err.msg);
        json_decref(jj);
        cr_assert(sched_group_has_devices(&j->groups[0]));
        cr_assert(sched_group_device_affinities(&j->groups[0]));
        cr_assert_eq(sched_group_dynamic_ports(&j->groups[0]), 1);
        struct node *n = gpu_node("n1");
        strmap_set(&n->attributes, "driver.raw_exec", "1");
        node_compute_class(n);
        cr_assert_eq(state_upsert_node(live, ++idx, n), 0);
        node_unref(n);
        schedule(j);
        struct seen s = {0};
        state_allocs_by_job_foreach(live, "default", "train", seen_cb, &s);
        cr_assert_eq(s.n, 1);
        json_t *js = alloc_to_json(s.v[0]);
        json_t *ar = json_object_get(js, "AllocatedResources");
        json_t *dev = json_array_get(json_object_get(json_object_get(json_object_get(ar, "Tasks"), "t"), "Devices"), 0);
        cr_assert_str_eq(json_string_value(json_object_get(dev, "Name")), "A100");
        cr_assert_eq(json_array_size(json_object_get(dev, "DeviceIDs")), 2);
        json_t *ports = json_object_get(json_object_get(ar, "Shared"), "Ports");
        cr_assert_eq(json_array_size(ports), 2);
        bool http = false, admin = false;
        size_t i;
        json_t *p;
        json_array_foreach(ports, i, p) {
                const char *label = json_string_value(json_object_get(p, "Label"));
                int v = (int)json_integer_value(json_object_get(p, "Value"));
                if (strcmp(label, "http") == 0)
                        http = v >= SCHED_PORT_MIN && v <= SCHED_PORT_MAX;
                if (strcmp(label, "admin") == 0)
                        admin = v == 8081;
        }
        cr_assert(http && admin);
        json_t *scores = json_object_get(
            json_array_get(json_object_get(json_object_get(js, "Metrics"), "ScoreMetaData"), 0), "Scores");
        cr_assert_float_eq(json_number_value(json_object_get(scores, "devices")), 1.0, 1e-9);
        json_decref(js);
}

/* The agent exports what the scheduler recorded (nodeagent/alloc/taskenv.c). */
Test(sched_devices, ports_reach_the_task_environment) {
        json_t *allocated = json_loads(
            "{\"Shared\":{\"Ports\":[{\"Label\":\"http\",\"Value\":23456,\"To\":8080,\"HostIP\":\"10.1.2.3\"},"
            "{\"Label\":\"db-admin\",\"Value\":8081,\"To\":0,\"HostIP\":\"10.1.2.3\"}]},"
            "\"Tasks\":{\"t\":{\"Networks\":[{\"IP\":\"10.9.9.9\",\"DynamicPorts\":[{\"Label\":\"rpc\",\"Value\":"
            "21000}]}]},\"other\":{\"Networks\":[{\"IP\":\"1.1.1.1\",\"DynamicPorts\":[{\"Label\":\"nope\","
            "\"Value\":21001}]}]}}}",
            0, NULL);
        cr_assert(allocated);
        struct taskenv_params p = {.alloc_index = -1, .task_name = "t", .allocated = allocated};
        struct strmap m = {0};
        cr_assert_eq(taskenv_build(&p, &m), 0);
        cr_assert_str_eq(strmap_get(&m, "NOMAD_PORT_http"), "8080", "the port inside the task: `to`");
        cr_assert_str_eq(strmap_get(&m, "NOMAD_HOST_PORT_http"), "23456");
        cr_assert_str_eq(strmap_get(&m, "NOMAD_ADDR_http"), "10.1.2.3:23456");
        cr_assert_str_eq(strmap_get(&m, "NOMAD_IP_http"), "10.1.2.3");
        cr_assert_str_eq(strmap_get(&m, "NOMAD_PORT_db_admin"), "8081", "no `to`: the host port");
        cr_assert_str_eq(strmap_get(&m, "NOMAD_ADDR_rpc"), "10.9.9.9:21000");
        cr_assert_null(strmap_get(&m, "NOMAD_PORT_nope"), "another task's network");
        strmap_clear(&m);
        json_decref(allocated);
}

/* What the plan applier can check when two workers raced for the same node. */
Test(sched_devices, conflicts_among_a_nodes_allocs) {
        struct job *j = fx_job("web", JOB_SERVICE, 2, 100, 64);
        struct task_group *g = &j->groups[0];
        g->networks = calloc(1, sizeof(*g->networks));
        g->n_networks = 1;
        g->networks[0].reserved_ports = calloc(1, sizeof(struct port));
        g->networks[0].n_reserved = 1;
        g->networks[0].reserved_ports[0] = (struct port){.label = strdup("admin"), .value = 8080};
        struct job *other = fx_job("other", JOB_SERVICE, 1, 100, 64);
        struct alloc *a = fx_alloc("a", j, "n1", 0, 100, 64), *b = fx_alloc("b", other, "n1", 0, 100, 64);
        a->allocated = json_loads("{\"Shared\":{\"Ports\":[{\"Label\":\"admin\",\"Value\":8080},{\"Label\":\"http\","
                                  "\"Value\":20001}]},\"Tasks\":{\"t\":{\"Devices\":[{\"DeviceIDs\":[\"t4-0\"]}]}}}",
                                  0, NULL);
        b->allocated = json_loads("{\"Shared\":{\"Ports\":[{\"Label\":\"x\",\"Value\":20002}]},"
                                  "\"Tasks\":{\"t\":{\"Devices\":[{\"DeviceIDs\":[\"t4-1\"]}]}}}",
                                  0, NULL);
        const struct alloc *both[] = {a, b};
        int port = 0;
        const char *id = NULL;
        cr_assert_eq(sched_ports_conflict(both, 2, &port), 0, "8080 twice in one alloc counts once");
        cr_assert_eq(sched_devices_conflict(both, 2, &id), 0);
        json_decref(b->allocated);
        b->allocated = json_loads("{\"Shared\":{\"Ports\":[{\"Label\":\"x\",\"Value\":20001}]},"
                                  "\"Tasks\":{\"t\":{\"Devices\":[{\"DeviceIDs\":[\"t4-0\"]}]}}}",
                                  0, NULL);
        cr_assert_eq(sched_ports_conflict(both, 2, &port), 1);
        cr_assert_eq(port, 20001);
        cr_assert_eq(sched_devices_conflict(both, 2, &id), 1);
        cr_assert_str_eq(id, "t4-0");
        /* another alloc of the same job: its static 8080 collides with a's */
        struct alloc *c = fx_alloc("c", j, "n1", 1, 100, 64);
        const struct alloc *ac[] = {a, c};
        cr_assert_eq(sched_ports_conflict(ac, 2, &port), 1);
        cr_assert_eq(port, 8080);
        alloc_unref(a);
        alloc_unref(b);
        alloc_unref(c);
        job_unref(j);
        job_unref(other);
}
