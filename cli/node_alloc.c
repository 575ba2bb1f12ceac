/* node_alloc.c - `drover node status`, `drover alloc status|logs`, `drover eval status`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/macros.h"

static int str_ptr_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "key = value" lines in key order, like Nomad's node status -verbose. */
static void print_sorted_attrs(json_t *attrs) {
        size_t n = json_object_size(attrs), i = 0;
        if (n == 0)
                return;
        const char **keys = calloc(n, sizeof(*keys));
        if (!keys)
                return;
        const char *k;
        json_t *v;
        json_object_foreach(attrs, k, v) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), str_ptr_cmp);
        for (i = 0; i < n; i++) {
                json_t *val = json_object_get(attrs, keys[i]);
                printf("%s = %s\n", keys[i], json_is_string(val) ? json_string_value(val) : "");
        }
        free(keys);
}

/* A device attribute in Nomad's Attribute shape: {"String"|"Int"|"Float"|"Bool", "Unit"}. */
static void device_attr_str(json_t *a, char *buf, size_t size) {
        json_t *v;
        const char *unit = jx_str(a, "Unit", "");
        if ((v = json_object_get(a, "String")))
                snprintf(buf, size, "%s", json_string_value(v) ? json_string_value(v) : "");
        else if ((v = json_object_get(a, "Int")))
                snprintf(buf, size, "%lld%s%s", (long long)json_integer_value(v), *unit ? " " : "", unit);
        else if ((v = json_object_get(a, "Float")))
                snprintf(buf, size, "%g%s%s", json_real_value(v), *unit ? " " : "", unit);
        else if ((v = json_object_get(a, "Bool")))
                snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
        else
                buf[0] = '\0';
}

/* NodeResources.Devices: one row per group; with -verbose each group's attributes. */
static void print_devices(json_t *devices, bool verbose) {
        if (json_array_size(devices) == 0)
                return;
        printf("\nDevices\n");
        static const char *const hdr[] = {"Device Group", "Count", "Healthy", "Instances"};
        struct table *t = table_new(4, hdr);
        size_t i;
        json_t *g;
        json_array_foreach(devices, i, g) {
                char name[256], count[16], healthy[16], inst[1024] = "";
                snprintf(name, sizeof(name), "%s/%s/%s", jx_str(g, "Vendor", ""), jx_str(g, "Type", ""),
                         jx_str(g, "Name", ""));
                json_t *insts = jx_arr(g, "Instances");
                size_t k, ok = 0, len = 0;
                json_t *in;
                json_array_foreach(insts, k, in) {
                        ok += jx_bool(in, "Healthy", false);
                        json_t *numa = json_object_get(jx_obj(in, "Locality"), "NumaNode");
                        if (len < sizeof(inst))
                                len += (size_t)snprintf(inst + len, sizeof(inst) - len, "%s%s", k ? ", " : "",
                                                        jx_str(in, "ID", ""));
                        if (json_is_integer(numa) && len < sizeof(inst))
                                len += (size_t)snprintf(inst + len, sizeof(inst) - len, " (numa %lld)",
                                                        (long long)json_integer_value(numa));
                }
                snprintf(count, sizeof(count), "%zu", json_array_size(insts));
                snprintf(healthy, sizeof(healthy), "%zu", ok);
                const char *cells[] = {name, count, healthy, inst};
                table_add(t, cells);
        }
        table_print(t);
        if (!verbose)
                return;
        printf("\nDevice Group Attributes\n");
        json_array_foreach(devices, i, g) {
                printf("Device Group = %s/%s/%s\n", jx_str(g, "Vendor", ""), jx_str(g, "Type", ""),
                       jx_str(g, "Name", ""));
                const char *k;
                json_t *a;
                json_object_foreach(jx_obj(g, "Attributes"), k, a) {
                        char val[512];
                        device_attr_str(a, val, sizeof(val));
                        printf("%s = %s\n", k, val);
                }
                printf("\n");
        }
}

static int one_id_arg(int argc, char **argv, const char *help, const char **ret, bool *verbose, bool optional) {
        *ret = NULL;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-verbose") == 0 && verbose)
                        *verbose = true;
                else if (argv[i][0] == '-') {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], help);
                        return 1;
                } else if (!*ret)
                        *ret = argv[i];
                else {
                        fprintf(stderr, "Too many arguments\n\n%s", help);
                        return 1;
                }
        }
        if (!*ret && !optional) {
                fprintf(stderr, "This command takes one argument: <id>\n\n%s", help);
                return 1;
        }
        return 0;
}

/* An RFC 3339 task time, or "N/A" for Go's zero time, as Nomad prints it. */
static const char *time_or_na(const char *t) {
        return !*t || strncmp(t, "0001-01-01", 10) == 0 ? "N/A" : t;
}

/* ---- node status -------------------------------------------------------------- */

static const char node_status_help[] =
    "Usage: drover node status [options] [<node>]\n\n"
    "  Without a node: list client nodes. With a node ID (or unique prefix):\n"
    "  show its attributes, resources and allocations.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -verbose         full IDs and all attributes\n"
    "  -self            the node of this host: the one whose unique.hostname attribute is\n"
    "                   this host's name (an error when none or several are)\n"
    "  -json, -t=<tmpl> the API's JSON (the list, or the node), or a template of it\n";

/* -self: the one node whose unique.hostname is this host's name. */
static int self_node(struct cli *c, char **ret_id) {
        char host[256] = "";
        if (gethostname(host, sizeof(host) - 1) < 0 || !*host) {
                fprintf(stderr, "Error: -self: cannot read this host's name\n");
                return 1;
        }
        struct error err = {0};
        _cleanup_json_ json_t *list = NULL;
        if (cli_get(c, "/v1/nodes?resources=false", &list, NULL, &err) < 0) {
                fprintf(stderr, "Error querying node status: %s\n", err.msg);
                return 1;
        }
        size_t n = 0, i;
        json_t *node;
        json_array_foreach(list, i, node) {
                _cleanup_free_ char *path = NULL;
                _cleanup_json_ json_t *full = NULL;
                if (asprintf(&path, "/v1/node/%s", jx_str(node, "ID", "")) < 0 ||
                    cli_get(c, path, &full, NULL, &err) < 0)
                        continue;
                if (strcmp(jx_str(jx_obj(full, "Attributes"), "unique.hostname", ""), host) != 0)
                        continue;
                if (n++ == 0) {
                        *ret_id = strdup(jx_str(node, "ID", ""));
                } else {
                        fprintf(stderr, "Error: -self: several nodes run on host \"%s\"; name one\n", host);
                        free(*ret_id);
                        *ret_id = NULL;
                        return 1;
                }
        }
        if (n == 0) {
                fprintf(stderr, "Error: -self: no node runs on host \"%s\" (is an agent running here?)\n", host);
                return 1;
        }
        return *ret_id ? 0 : 1;
}

static int node_status(struct cli *c, int argc, char **argv) {
        bool verbose = false, self = false;
        const char *id;
        int kept = 0;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-self") == 0)
                        self = true;
                else
                        argv[kept++] = argv[i];
        }
        argc = kept;
        if (one_id_arg(argc, argv, node_status_help, &id, &verbose, true))
                return 1;
        _cleanup_free_ char *self_id = NULL;
        if (self) {
                if (id) {
                        fprintf(stderr, "-self and a node ID cannot be given together\n\n%s", node_status_help);
                        return 1;
                }
                if (self_node(c, &self_id))
                        return 1;
                id = self_id;
        }
        struct error err = {0};
        if (!id) {
                _cleanup_json_ json_t *list = NULL;
                if (cli_get(c, "/v1/nodes", &list, NULL, &err) < 0) {
                        fprintf(stderr, "Error querying node status: %s\n", err.msg);
                        return 1;
                }
                int o = cli_output(c, list);
                if (o >= 0)
                        return o;
                if (json_array_size(list) == 0) {
                        printf("No nodes registered\n");
                        return 0;
                }
                static const char *const hdr[] = {"ID", "Node Pool", "DC", "Name", "Class", "Drain", "Eligibility",
                                                  "Status"};
                struct table *t = table_new(8, hdr);
                size_t i;
                json_t *n;
                json_array_foreach(list, i, n) {
                        char sid[9];
                        const char *cls = jx_str(n, "NodeClass", "");
                        const char *cells[] = {verbose ? jx_str(n, "ID", "") : cli_short_id(jx_str(n, "ID", ""), sid),
                                               jx_str(n, "NodePool", ""),
                                               jx_str(n, "Datacenter", ""),
                                               jx_str(n, "Name", ""),
                                               *cls ? cls : "<none>",
                                               jx_bool(n, "Drain", false) ? "true" : "false",
                                               jx_str(n, "SchedulingEligibility", ""),
                                               jx_str(n, "Status", "")};
                        table_add(t, cells);
                }
                table_print(t);
                return 0;
        }
        _cleanup_free_ char *node_id = NULL;
        if (cli_resolve_prefix(c, "/v1/nodes", "node", id, &node_id))
                return 1;
        _cleanup_free_ char *p1 = NULL, *p2 = NULL;
        if (asprintf(&p1, "/v1/node/%s", node_id) < 0 || asprintf(&p2, "/v1/node/%s/allocations", node_id) < 0)
                return 1;
        _cleanup_json_ json_t *node = NULL, *allocs = NULL;
        if (cli_get(c, p1, &node, NULL, &err) < 0 || cli_get(c, p2, &allocs, NULL, &err) < 0) {
                fprintf(stderr, "Error querying node info: %s\n", err.msg);
                return 1;
        }
        int o = cli_output(c, node);
        if (o >= 0)
                return o;
        json_t *nr = jx_obj(node, "NodeResources");
        char cpu[32], mem[32], disk[32];
        snprintf(cpu, sizeof(cpu), "%lld MHz", (long long)jx_int(jx_obj(nr, "Cpu"), "CpuShares", 0));
        snprintf(mem, sizeof(mem), "%lld MiB", (long long)jx_int(jx_obj(nr, "Memory"), "MemoryMB", 0));
        snprintf(disk, sizeof(disk), "%lld MiB", (long long)jx_int(jx_obj(nr, "Disk"), "DiskMB", 0));
        json_t *attrs = jx_obj(node, "Attributes");
        const char *keys[] = {"ID",          "Name",     "Node Pool", "Class",  "DC",     "Drain",
                              "Eligibility", "Status",   "CPU",       "Memory", "Disk",   "Kernel",
                              "OS",          "Address"};
        const char *vals[] = {jx_str(node, "ID", ""),
                              jx_str(node, "Name", ""),
                              jx_str(node, "NodePool", ""),
                              *jx_str(node, "NodeClass", "") ? jx_str(node, "NodeClass", "") : "<none>",
                              jx_str(node, "Datacenter", ""),
                              jx_bool(node, "Drain", false) ? "true" : "false",
                              jx_str(node, "SchedulingEligibility", ""),
                              jx_str(node, "Status", ""),
                              cpu,
                              mem,
                              disk,
                              jx_str(attrs, "kernel.version", ""),
                              jx_str(attrs, "os.name", ""),
                              jx_str(node, "HTTPAddr", "")};
        cli_print_kv(keys, vals, (int)ARRAY_SIZE(keys));
        /* What the live allocations reserve, against what the node offers (Nomad's
         * "Allocated Resources"). */
        int64_t used_cpu = 0, used_mem = 0, used_disk = 0;
        size_t ai;
        json_t *al;
        json_array_foreach(allocs, ai, al) {
                const char *cs = jx_str(al, "ClientStatus", "");
                if (strcmp(jx_str(al, "DesiredStatus", ""), "run") != 0 ||
                    (strcmp(cs, "pending") != 0 && strcmp(cs, "running") != 0))
                        continue;
                json_t *ar = jx_obj(al, "AllocatedResources");
                const char *tn;
                json_t *tr;
                json_object_foreach(jx_obj(ar, "Tasks"), tn, tr) {
                        used_cpu += jx_int(jx_obj(tr, "Cpu"), "CpuShares", 0);
                        used_mem += jx_int(jx_obj(tr, "Memory"), "MemoryMB", 0);
                }
                used_disk += jx_int(jx_obj(ar, "Shared"), "DiskMB", 0);
        }
        printf("\nAllocated Resources\n");
        static const char *const rhdr[] = {"CPU", "Memory", "Disk"};
        struct table *rt = table_new(3, rhdr);
        char rc[64], rm[64], rd[64];
        snprintf(rc, sizeof(rc), "%lld/%lld MHz", (long long)used_cpu,
                 (long long)jx_int(jx_obj(nr, "Cpu"), "CpuShares", 0));
        snprintf(rm, sizeof(rm), "%lld MiB/%lld MiB", (long long)used_mem,
                 (long long)jx_int(jx_obj(nr, "Memory"), "MemoryMB", 0));
        snprintf(rd, sizeof(rd), "%lld MiB/%lld MiB", (long long)used_disk,
                 (long long)jx_int(jx_obj(nr, "Disk"), "DiskMB", 0));
        const char *rcells[] = {rc, rm, rd};
        table_add(rt, rcells);
        table_print(rt);
        print_devices(jx_arr(nr, "Devices"), verbose);
        if (verbose) {
                printf("\nDrivers\n");
                static const char *const dhdr[] = {"Driver", "Detected", "Healthy", "Message"};
                struct table *dt = table_new(4, dhdr);
                const char *dn;
                json_t *dv;
                json_object_foreach(jx_obj(node, "Drivers"), dn, dv) {
                        const char *dc[] = {dn, jx_bool(dv, "Detected", false) ? "true" : "false",
                                            jx_bool(dv, "Healthy", false) ? "true" : "false",
                                            jx_str(dv, "HealthDescription", "")};
                        table_add(dt, dc);
                }
                table_print(dt);
                printf("\nAttributes\n");
                print_sorted_attrs(attrs);
        }
        printf("\nAllocations\n");
        if (json_array_size(allocs) == 0) {
                printf("No allocations placed\n");
                return 0;
        }
        static const char *const ahdr[] = {"ID", "Job ID", "Task Group", "Version", "Desired", "Status", "Created"};
        struct table *t = table_new(7, ahdr);
        size_t i;
        json_t *a;
        json_array_foreach(allocs, i, a) {
                char sid[9], ver[16], created[32];
                snprintf(ver, sizeof(ver), "%lld", (long long)jx_int(a, "JobVersion", 0));
                cli_fmt_age_ns(jx_int(a, "CreateTime", 0), created, sizeof(created));
                const char *cells[] = {verbose ? jx_str(a, "ID", "") : cli_short_id(jx_str(a, "ID", ""), sid),
                                       jx_str(a, "JobID", ""),
                                       jx_str(a, "TaskGroup", ""),
                                       ver,
                                       jx_str(a, "DesiredStatus", ""),
                                       jx_str(a, "ClientStatus", ""),
                                       created};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

const struct cli_command cli_node_commands[] = {
    {"status", "Display status information about nodes", node_status_help, node_status},
    {"drain", "Toggle drain mode on a given node", cli_node_drain_help, cli_node_drain},
    {"eligibility", "Toggle scheduling eligibility for a given node", cli_node_eligibility_help,
     cli_node_eligibility},
    {NULL, NULL, NULL, NULL},
};

/* ---- alloc status / logs ----------------------------------------------------- */

static const char alloc_status_help[] =
    "Usage: drover alloc status [options] <allocation>\n\n"
    "  Show an allocation: where it runs, its status and each task's events.\n"
    "  The ID may be a unique prefix.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -verbose         full IDs and placement metrics\n"
    "  -stats           each running task's CPU and memory use, from its node\n"
    "                   (GET /v1/client/allocation/<id>/stats)\n";

static void fmt_bytes(uint64_t b, char *buf, size_t size) {
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)b;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
                v /= 1024;
                u++;
        }
        snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static bool measured_has(json_t *stats, const char *what) {
        size_t i;
        json_t *m;
        json_array_foreach(jx_arr(stats, "Measured"), i, m) {
                if (json_is_string(m) && strcmp(json_string_value(m), what) == 0)
                        return true;
        }
        return false;
}

/* Nomad's "Task Resources" with -stats: the memory and CPU tables of one task. */
static void print_task_stats(json_t *ru) {
        json_t *ms = jx_obj(ru, "MemoryStats"), *cs = jx_obj(ru, "CpuStats");
        static const char *const mem_fields[][2] = {
            {"RSS", "RSS"},     {"Cache", "Cache"},        {"Swap", "Swap"},
            {"Usage", "Usage"}, {"MaxUsage", "Max Usage"}, {"KernelUsage", "Kernel Usage"}};
        const char *hdr[ARRAY_SIZE(mem_fields)], *cells[ARRAY_SIZE(mem_fields)];
        char vals[ARRAY_SIZE(mem_fields)][32];
        size_t n = 0;
        for (size_t i = 0; i < ARRAY_SIZE(mem_fields); i++) {
                if (!measured_has(ms, mem_fields[i][1]))
                        continue;
                fmt_bytes((uint64_t)jx_int(ms, mem_fields[i][0], 0), vals[n], sizeof(vals[n]));
                hdr[n] = mem_fields[i][1];
                cells[n] = vals[n];
                n++;
        }
        printf("\nMemory Stats\n");
        if (n) {
                struct table *t = table_new((int)n, hdr);
                table_add(t, cells);
                table_print(t);
        } else {
                printf("(none measured)\n");
        }
        char pct[32], user[32], sys[32], thr[32], thr_t[32];
        snprintf(pct, sizeof(pct), "%.2f%%", json_number_value(json_object_get(cs, "Percent")));
        snprintf(user, sizeof(user), "%.2f%%", json_number_value(json_object_get(cs, "UserMode")));
        snprintf(sys, sizeof(sys), "%.2f%%", json_number_value(json_object_get(cs, "SystemMode")));
        snprintf(thr, sizeof(thr), "%lld", (long long)jx_int(cs, "ThrottledPeriods", 0));
        snprintf(thr_t, sizeof(thr_t), "%.3f s", (double)jx_int(cs, "ThrottledTime", 0) / 1e9);
        static const char *const chdr[] = {"Percent", "User Mode", "System Mode", "Throttled Periods",
                                           "Throttled Time"};
        const char *ccells[] = {pct, user, sys, thr, thr_t};
        printf("\nCPU Stats\n");
        struct table *t = table_new(measured_has(cs, "Throttled Periods") ? 5 : 3, chdr);
        table_add(t, ccells);
        table_print(t);
}

static int alloc_status(struct cli *c, int argc, char **argv) {
        bool verbose = false, stats = false;
        const char *id;
        char *rest[64];
        int nrest = 0;
        for (int i = 0; i < argc && nrest < (int)ARRAY_SIZE(rest); i++) {
                if (strcmp(argv[i], "-stats") == 0)
                        stats = true;
                else
                        rest[nrest++] = argv[i];
        }
        if (one_id_arg(nrest, rest, alloc_status_help, &id, &verbose, false))
                return 1;
        _cleanup_free_ char *alloc_id = NULL, *path = NULL;
        if (cli_resolve_prefix(c, "/v1/allocations", "allocation", id, &alloc_id))
                return 1;
        if (asprintf(&path, "/v1/allocation/%s", alloc_id) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *a = NULL;
        if (cli_get(c, path, &a, NULL, &err) < 0) {
                fprintf(stderr, "Error querying allocation: %s\n", err.msg);
                return 1;
        }
        int o = cli_output(c, a);
        if (o >= 0)
                return o;
        char created[32], modified[32], ver[16], sid[9], eid[9], nid[9];
        cli_fmt_age_ns(jx_int(a, "CreateTime", 0), created, sizeof(created));
        cli_fmt_age_ns(jx_int(a, "ModifyTime", 0), modified, sizeof(modified));
        snprintf(ver, sizeof(ver), "%lld", (long long)jx_int(a, "JobVersion", 0));
        const char *keys[] = {"ID",          "Eval ID",       "Name",           "Node ID",
                              "Node Name",   "Job ID",        "Job Version",    "Client Status",
                              "Client Description", "Desired Status", "Desired Description", "Created",
                              "Modified"};
        const char *vals[] = {verbose ? jx_str(a, "ID", "") : cli_short_id(jx_str(a, "ID", ""), sid),
                              verbose ? jx_str(a, "EvalID", "") : cli_short_id(jx_str(a, "EvalID", ""), eid),
                              jx_str(a, "Name", ""),
                              verbose ? jx_str(a, "NodeID", "") : cli_short_id(jx_str(a, "NodeID", ""), nid),
                              jx_str(a, "NodeName", ""),
                              jx_str(a, "JobID", ""),
                              ver,
                              jx_str(a, "ClientStatus", ""),
                              *jx_str(a, "ClientDescription", "") ? jx_str(a, "ClientDescription", "") : "<none>",
                              jx_str(a, "DesiredStatus", ""),
                              *jx_str(a, "DesiredDescription", "") ? jx_str(a, "DesiredDescription", "") : "<none>",
                              created,
                              modified};
        cli_print_kv(keys, vals, (int)ARRAY_SIZE(keys));
        _cleanup_json_ json_t *usage = NULL;
        if (stats) {
                _cleanup_free_ char *spath = NULL;
                struct error serr = {0};
                if (asprintf(&spath, "/v1/client/allocation/%s/stats", alloc_id) < 0 ||
                    cli_get(c, spath, &usage, NULL, &serr) < 0)
                        printf("\nCouldn't retrieve stats: %s\n", serr.msg);
        }
        const char *task;
        json_t *ts;
        json_object_foreach(jx_obj(a, "TaskStates"), task, ts) {
                printf("\nTask \"%s\" is \"%s\"\n", task, jx_str(ts, "State", ""));
                printf("Task Events:\n");
                char restarts[16];
                snprintf(restarts, sizeof(restarts), "%lld", (long long)jx_int(ts, "Restarts", 0));
                const char *tk[] = {"Started At", "Finished At", "Total Restarts"};
                const char *tv[] = {time_or_na(jx_str(ts, "StartedAt", "")), time_or_na(jx_str(ts, "FinishedAt", "")),
                                    restarts};
                cli_print_kv(tk, tv, 3);
                if (usage) {
                        json_t *tu = jx_obj(jx_obj(usage, "Tasks"), task);
                        if (tu)
                                print_task_stats(jx_obj(tu, "ResourceUsage"));
                        else
                                printf("\nTask Resources: no stats (the task is not running)\n");
                }
                printf("\nRecent Events:\n");
                static const char *const ehdr[] = {"Time", "Type", "Description"};
                struct table *t = table_new(3, ehdr);
                json_t *events = jx_arr(ts, "Events");
                for (size_t i = json_array_size(events); i-- > 0;) {
                        json_t *ev = json_array_get(events, i);
                        char when[64];
                        cli_fmt_time_ns(jx_int(ev, "Time", 0), when, sizeof(when));
                        const char *cells[] = {when, jx_str(ev, "Type", ""), jx_str(ev, "DisplayMessage", "")};
                        table_add(t, cells);
                }
                table_print(t);
        }
        if (verbose && jx_obj(a, "Metrics")) {
                json_t *m = jx_obj(a, "Metrics");
                printf("\nPlacement Metrics\n");
                printf("Nodes Evaluated = %lld\nNodes Filtered = %lld\nNodes Exhausted = %lld\n",
                       (long long)jx_int(m, "NodesEvaluated", 0), (long long)jx_int(m, "NodesFiltered", 0),
                       (long long)jx_int(m, "NodesExhausted", 0));
        }
        return 0;
}

/* Where the last `lines` lines of buf start. */
static size_t tail_start(const char *buf, size_t len, long lines) {
        size_t i = len;
        if (i && buf[i - 1] == '\n')
                i--; /* the final newline ends the last line */
        for (long seen = 0; i > 0; i--)
                if (buf[i - 1] == '\n' && ++seen == lines)
                        break;
        return lines == 0 ? len : i;
}

/* http_stream's on_data: the followed bytes go to stdout as they come. */
static int write_stdout(void *arg, const char *buf, size_t len) {
        (void)arg;
        if (fwrite(buf, 1, len, stdout) != len)
                return -1;
        fflush(stdout);
        return 0;
}

static const char alloc_logs_help[] =
    "Usage: drover alloc logs [options] <allocation> [<task>]\n\n"
    "  Print a task's stdout (or stderr) as the node agent captured it. The task\n"
    "  may be left out when the allocation has only one.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -stderr          print stderr instead of stdout\n"
    "  -f               follow: keep printing what the task writes until it is dead\n"
    "                   (relayed by the servers: GET /v1/client/fs/logs/<id>?follow=true)\n"
    "  -tail            start at the end: the last -n lines (default 10)\n"
    "  -n=<lines>       with -tail, how many lines\n";

static int alloc_logs(struct cli *c, int argc, char **argv) {
        bool use_stderr = false, follow = false, tail = false;
        const char *n_text = NULL, *ops[2] = {0};
        const struct cli_flag flags[] = {{"-stderr", NULL, &use_stderr, true}, {"-stdout", NULL, &use_stderr, false},
                                         {"-f", NULL, &follow, true},         {"-follow", NULL, &follow, true},
                                         {"-tail", NULL, &tail, true},        {"-n", &n_text, NULL, false},
                                         {0}};
        int n = 0;
        if (cli_args(argc, argv, flags, 1, 2, "<allocation> [<task>]", alloc_logs_help, ops, &n))
                return 1;
        const char *id = ops[0], *task = n == 2 ? ops[1] : NULL;
        long lines = 10;
        if (n_text) {
                char *end;
                lines = strtol(n_text, &end, 10);
                if (end == n_text || *end || lines < 0) {
                        fprintf(stderr, "-n: expected a number of lines (got \"%s\")\n", n_text);
                        return 1;
                }
        }
        _cleanup_free_ char *alloc_id = NULL, *path = NULL;
        if (cli_resolve_prefix(c, "/v1/allocations", "allocation", id, &alloc_id))
                return 1;
        if (asprintf(&path, "/v1/allocation/%s", alloc_id) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *a = NULL;
        if (cli_get(c, path, &a, NULL, &err) < 0) {
                fprintf(stderr, "Error querying allocation: %s\n", err.msg);
                return 1;
        }
        /* Pick the task: the only one, or the one named. */
        json_t *groups = jx_arr(jx_obj(a, "Job"), "TaskGroups"), *g, *tasks = NULL;
        size_t i;
        json_array_foreach(groups, i, g) if (strcmp(jx_str(g, "Name", ""), jx_str(a, "TaskGroup", "")) == 0) tasks =
            jx_arr(g, "Tasks");
        if (!task) {
                if (json_array_size(tasks) != 1) {
                        fprintf(stderr, "Allocation \"%.8s\" is running %zu tasks; name one:\n", alloc_id,
                                json_array_size(tasks));
                        json_t *t;
                        json_array_foreach(tasks, i, t) fprintf(stderr, "  %s\n", jx_str(t, "Name", ""));
                        return 1;
                }
                task = jx_str(json_array_get(tasks, 0), "Name", "");
        } else {
                bool found = false;
                json_t *t;
                json_array_foreach(tasks, i, t) found = found || strcmp(jx_str(t, "Name", ""), task) == 0;
                if (!found) {
                        fprintf(stderr, "Could not find task named: %s\n", task);
                        return 1;
                }
        }
        /* Logs live on the node: ask its agent, as Nomad's CLI does. */
        _cleanup_free_ char *npath = NULL;
        if (asprintf(&npath, "/v1/node/%s", jx_str(a, "NodeID", "")) < 0)
                return 1;
        _cleanup_json_ json_t *node = NULL;
        if (cli_get(c, npath, &node, NULL, &err) < 0) {
                fprintf(stderr, "Error querying node of allocation: %s\n", err.msg);
                return 1;
        }
        const char *http_addr = jx_str(node, "HTTPAddr", "");
        if (!*http_addr) {
                fprintf(stderr, "Node \"%s\" does not advertise an HTTP address for logs\n", jx_str(node, "Name", ""));
                return 1;
        }
        _cleanup_free_ char *base = NULL, *lpath = NULL, *etask = http_escape(task);
        /* TLS is cluster-wide (Nomad's tls.http): an https:// server means https:// agents,
         * with the same -ca-cert / -client-cert as for the server. */
        bool https = strncmp(c->address, "https://", 8) == 0;
        if (asprintf(&base, "%s://%s", https ? "https" : "http", http_addr) < 0 ||
            asprintf(&lpath, "/v1/client/fs/logs/%s?task=%s&type=%s&plain=true", alloc_id, etask,
                     use_stderr ? "stderr" : "stdout") < 0)
                return 1;
        /* The agent wants the allocation's token, which the servers hand out with it. */
        _cleanup_free_ char *token_hdr = NULL;
        if (asprintf(&token_hdr, "X-Drover-Token: %s", jx_str(a, "AllocToken", "")) < 0)
                return 1;
        const char *const hdrs[] = {token_hdr, NULL};
        struct http_response resp;
        if (http_request_headers(base, "GET", lpath, hdrs, 30000, &resp, &err) < 0) {
                fprintf(stderr, "Error reading logs from node %s: %s\n", http_addr, err.msg);
                return 1;
        }
        if (resp.status != 200) {
                fprintf(stderr, "Error reading logs: %ld (%s)\n", resp.status, resp.body);
                http_response_clear(&resp);
                return 1;
        }
        size_t from = tail ? tail_start(resp.body, resp.len, lines) : 0;
        fwrite(resp.body + from, 1, resp.len - from, stdout);
        fflush(stdout);
        /* Offsets are the agent's: bytes since the task's first output, across log rotations. */
        uint64_t offset = resp.has_log_end ? resp.log_end : resp.len;
        http_response_clear(&resp);
        if (!follow)
                return 0;
        /* Follow through the servers: they relay what the task writes after `offset`
         * as it comes (GET .../logs?follow=true) and end once it is dead. */
        _cleanup_free_ char *furl = NULL, *ens = http_escape(jx_str(a, "Namespace", "default"));
        if (!ens || asprintf(&furl, "%s/v1/client/fs/logs/%s?task=%s&type=%s&plain=true&follow=true&offset=%llu"
                             "&namespace=%s",
                             c->address, alloc_id, etask, use_stderr ? "stderr" : "stdout",
                             (unsigned long long)offset, ens) < 0)
                return 1;
        if (http_stream(furl, NULL, write_stdout, NULL, &resp, &err) < 0) {
                fprintf(stderr, "Error following logs: %s\n", err.msg);
                return 1;
        }
        int rc = 0;
        if (resp.status != 200) {
                fprintf(stderr, "Error following logs: %ld (%s)\n", resp.status, resp.body);
                rc = 1;
        }
        http_response_clear(&resp);
        return rc;
}

const struct cli_command cli_alloc_commands[] = {
    {"status", "Display allocation status information and metadata", alloc_status_help, alloc_status},
    {"logs", "Streams the logs of a task", alloc_logs_help, alloc_logs},
    {"stop", "Stop and reschedule a running allocation", cli_alloc_stop_help, cli_alloc_stop},
    {"restart", "Restart a running allocation's tasks", cli_alloc_restart_help, cli_alloc_restart},
    {"signal", "Send a signal to a running allocation's tasks", cli_alloc_signal_help, cli_alloc_signal},
    {NULL, NULL, NULL, NULL},
};

/* ---- eval status ---------------------------------------------------------------- */

static const char eval_status_help[] =
    "Usage: drover eval status [options] <evaluation>\n\n"
    "  Show an evaluation: its trigger, status and any placement failures.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -monitor         follow it until it finishes\n";

static int eval_status(struct cli *c, int argc, char **argv) {
        bool monitor = false;
        const char *id = NULL;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-monitor") == 0)
                        monitor = true;
                else if (argv[i][0] == '-') {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], eval_status_help);
                        return 1;
                } else
                        id = argv[i];
        }
        if (!id) {
                fprintf(stderr, "This command takes one argument: <evaluation>\n\n%s", eval_status_help);
                return 1;
        }
        _cleanup_free_ char *eval_id = NULL, *path = NULL;
        if (cli_resolve_prefix(c, "/v1/evaluations", "evaluation", id, &eval_id))
                return 1;
        if (monitor)
                return cli_monitor_eval(c, eval_id, false);
        if (asprintf(&path, "/v1/evaluation/%s", eval_id) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *e = NULL;
        if (cli_get(c, path, &e, NULL, &err) < 0) {
                fprintf(stderr, "Error querying evaluation: %s\n", err.msg);
                return 1;
        }
        int o = cli_output(c, e);
        if (o >= 0)
                return o;
        char prio[16];
        snprintf(prio, sizeof(prio), "%lld", (long long)jx_int(e, "Priority", 0));
        json_t *failed = jx_obj(e, "FailedTGAllocs");
        const char *keys[] = {"ID",     "Status",    "Status Description", "Type",     "TriggeredBy",
                              "Job ID", "Namespace", "Priority",           "Placement Failures", "Blocked Eval"};
        const char *vals[] = {jx_str(e, "ID", ""),
                              jx_str(e, "Status", ""),
                              jx_str(e, "StatusDescription", ""),
                              jx_str(e, "Type", ""),
                              jx_str(e, "TriggeredBy", ""),
                              jx_str(e, "JobID", ""),
                              jx_str(e, "Namespace", ""),
                              prio,
                              json_object_size(failed) ? "true" : "false",
                              jx_str(e, "BlockedEval", "")};
        cli_print_kv(keys, vals, (int)ARRAY_SIZE(keys));
        if (json_object_size(failed)) {
                printf("\n==> Failed Placements\n");
                cli_print_placement_failures(failed);
        }
        return 0;
}

const struct cli_command cli_eval_commands[] = {
    {"status", "Display evaluation status and placement failure reasons", eval_status_help, eval_status},
    {"list", "List the evaluations", cli_eval_list_help, cli_eval_list},
    {NULL, NULL, NULL, NULL},
};
