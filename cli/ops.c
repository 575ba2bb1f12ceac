/* ops.c - operator commands on nodes, allocations, evaluations and the agent:
 * `drover node drain`, `node eligibility`, `alloc stop`, `eval list`, `agent-info`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jobspec.h"
#include "common/jsonx.h"
#include "common/macros.h"

static void stamp(char *buf, size_t len) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(buf, len, "%Y-%m-%dT%H:%M:%S%z", &tm);
}

/* ---- node eligibility ------------------------------------------------------------------- */

const char cli_node_eligibility_help[] =
    "Usage: drover node eligibility [options] <node>\n\n"
    "  Toggle the scheduling eligibility of a node: an ineligible node keeps its\n"
    "  allocations but gets no new ones. A draining node cannot be made eligible.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -enable          make the node eligible for scheduling\n"
    "  -disable         make the node ineligible for scheduling\n";

int cli_node_eligibility(struct cli *c, int argc, char **argv) {
        int enable = -1;
        const char *id = NULL;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-enable") == 0)
                        enable = enable == 0 ? 2 : 1;
                else if (strcmp(argv[i], "-disable") == 0)
                        enable = enable == 1 ? 2 : 0;
                else if (argv[i][0] == '-') {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], cli_node_eligibility_help);
                        return 1;
                } else if (!id)
                        id = argv[i];
                else {
                        fprintf(stderr, "This command takes one argument: <node>\n\n%s", cli_node_eligibility_help);
                        return 1;
                }
        }
        if (enable < 0 || enable > 1 || !id) {
                fprintf(stderr, "Exactly one of -enable or -disable, and a node ID, are required\n\n%s",
                        cli_node_eligibility_help);
                return 1;
        }
        _cleanup_free_ char *node_id = NULL, *path = NULL;
        if (cli_resolve_prefix(c, "/v1/nodes", "node", id, &node_id))
                return 1;
        if (asprintf(&path, "/v1/node/%s/eligibility", node_id) < 0)
                return 1;
        _cleanup_json_ json_t *body =
            json_pack("{s:s,s:s}", "NodeID", node_id, "Eligibility", enable ? "eligible" : "ineligible");
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error updating scheduling eligibility: %s\n", err.msg);
                return 1;
        }
        printf("Node \"%s\" scheduling eligibility set: %s for scheduling\n", node_id,
               enable ? "eligible" : "ineligible");
        return 0;
}

/* ---- node drain ----------------------------------------------------------------------------- */

const char cli_node_drain_help[] =
    "Usage: drover node drain [options] <node>\n\n"
    "  Toggle drain mode on a node. A draining node is ineligible for new work and\n"
    "  its allocations move to other nodes, each task group's migrate.max_parallel\n"
    "  (default 1) at a time; system jobs go last. When everything has moved the\n"
    "  drain completes and the node stays ineligible until `node eligibility\n"
    "  -enable`. Without -detach the command follows the drain until it completes.\n\n"
    "Options:\n"
    "  -address=<addr>   API address\n"
    "  -enable           start draining the node\n"
    "  -disable          stop draining it; the node becomes eligible again\n"
    "  -deadline=<dur>   after this (e.g. 30m, 1h; default 1h) whatever is left is stopped\n"
    "  -no-deadline      no deadline\n"
    "  -force            stop everything at once (deadline now)\n"
    "  -ignore-system    leave system jobs' allocations on the node\n"
    "  -keep-ineligible  with -disable: leave the node ineligible\n"
    "  -monitor          only follow the node's drain until it completes\n"
    "  -detach           return once the drain is set, without following it\n"
    "  -yes              do not ask for confirmation\n";

/* Follow a drain until the node has no DrainStrategy. 0 when complete. */
static int monitor_drain(struct cli *c, const char *node_id) {
        char ts[64];
        _cleanup_free_ char *path = NULL, *apath = NULL;
        if (asprintf(&path, "/v1/node/%s", node_id) < 0 || asprintf(&apath, "/v1/node/%s/allocations", node_id) < 0)
                return 1;
        _cleanup_json_ json_t *seen = json_object(); /* alloc IDs already reported */
        stamp(ts, sizeof(ts));
        printf("%s: Ctrl-C to stop monitoring: will not cancel the node drain\n", ts);
        for (;;) {
                struct error err = {0};
                _cleanup_json_ json_t *allocs = NULL, *node = NULL;
                if (cli_get(c, apath, &allocs, NULL, &err) == 0) {
                        size_t i;
                        json_t *a;
                        json_array_foreach(allocs, i, a) {
                                const char *id = jx_str(a, "ID", "");
                                const char *desired = jx_str(a, "DesiredStatus", "");
                                const char *client = jx_str(a, "ClientStatus", "");
                                char key[128];
                                bool stopped = strcmp(desired, "run") != 0;
                                bool done = strcmp(client, "running") != 0 && strcmp(client, "pending") != 0;
                                if (stopped) {
                                        snprintf(key, sizeof(key), "m:%s", id);
                                        if (!json_object_get(seen, key)) {
                                                json_object_set_new(seen, key, json_true());
                                                stamp(ts, sizeof(ts));
                                                printf("%s: Alloc \"%s\" marked for migration\n", ts, id);
                                        }
                                }
                                if (stopped && done) {
                                        snprintf(key, sizeof(key), "d:%s", id);
                                        if (!json_object_get(seen, key)) {
                                                json_object_set_new(seen, key, json_true());
                                                stamp(ts, sizeof(ts));
                                                printf("%s: Alloc \"%s\" draining\n", ts, id);
                                        }
                                }
                        }
                }
                if (cli_get(c, path, &node, NULL, &err) < 0) {
                        fprintf(stderr, "Error monitoring node: %s\n", err.msg);
                        return 1;
                }
                if (!json_is_object(json_object_get(node, "DrainStrategy"))) {
                        const char *status = jx_str(jx_obj(node, "LastDrain"), "Status", "complete");
                        stamp(ts, sizeof(ts));
                        if (strcmp(status, "canceled") == 0) {
                                printf("%s: Drain canceled for node \"%s\"\n", ts, node_id);
                                return 1;
                        }
                        printf("%s: Drain complete for node \"%s\"\n", ts, node_id);
                        return 0;
                }
                fflush(stdout);
                usleep(500 * 1000);
        }
}

int cli_node_drain(struct cli *c, int argc, char **argv) {
        int enable = -1;
        bool yes = false, detach = false, ignore_system = false, keep_ineligible = false, monitor = false;
        int64_t deadline = 3600LL * NS_PER_SEC;
        const char *id = NULL;
        for (int i = 0; i < argc; i++) {
                const char *a = argv[i];
                const char *dl = NULL;
                if (strcmp(a, "-enable") == 0)
                        enable = enable == 0 ? 2 : 1;
                else if (strcmp(a, "-disable") == 0)
                        enable = enable == 1 ? 2 : 0;
                else if (strcmp(a, "-yes") == 0)
                        yes = true;
                else if (strcmp(a, "-detach") == 0)
                        detach = true;
                else if (strcmp(a, "-ignore-system") == 0)
                        ignore_system = true;
                else if (strcmp(a, "-keep-ineligible") == 0)
                        keep_ineligible = true;
                else if (strcmp(a, "-monitor") == 0)
                        monitor = true;
                else if (strcmp(a, "-no-deadline") == 0)
                        deadline = 0;
                else if (strcmp(a, "-force") == 0)
                        deadline = -1;
                else if (strncmp(a, "-deadline=", 10) == 0)
                        dl = a + 10;
                else if (strcmp(a, "-deadline") == 0 && i + 1 < argc)
                        dl = argv[++i];
                else if (a[0] == '-') {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", a, cli_node_drain_help);
                        return 1;
                } else if (!id)
                        id = a;
                else {
                        fprintf(stderr, "This command takes one argument: <node>\n\n%s", cli_node_drain_help);
                        return 1;
                }
                if (dl && (jobspec_parse_duration(dl, &deadline) < 0 || deadline <= 0)) {
                        fprintf(stderr, "Invalid -deadline \"%s\": a positive duration such as 30m or 1h\n", dl);
                        return 1;
                }
        }
        if ((monitor ? enable != -1 : enable < 0 || enable > 1) || !id) {
                fprintf(stderr, "Exactly one of -enable, -disable or -monitor, and a node ID, are required\n\n%s",
                        cli_node_drain_help);
                return 1;
        }
        _cleanup_free_ char *node_id = NULL, *path = NULL;
        if (cli_resolve_prefix(c, "/v1/nodes", "node", id, &node_id))
                return 1;
        if (monitor)
                return monitor_drain(c, node_id);
        if (enable && !yes) {
                if (!isatty(STDIN_FILENO)) {
                        fprintf(stderr, "Refusing to drain node \"%s\" without confirmation: add -yes\n", node_id);
                        return 1;
                }
                printf("Are you sure you want to enable drain mode for node \"%s\"? [y/N] ", node_id);
                fflush(stdout);
                char answer[16] = "";
                if (!fgets(answer, sizeof(answer), stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
                        printf("Canceling drain toggle\n");
                        return 1;
                }
        }
        if (asprintf(&path, "/v1/node/%s/drain", node_id) < 0)
                return 1;
        _cleanup_json_ json_t *body = NULL;
        if (enable)
                body = json_pack("{s:s,s:{s:I,s:b},s:b}", "NodeID", node_id, "DrainSpec", "Deadline",
                                 (json_int_t)deadline, "IgnoreSystemJobs", ignore_system, "MarkEligible", 0);
        else
                body = json_pack("{s:s,s:n,s:b}", "NodeID", node_id, "DrainSpec", "MarkEligible", !keep_ineligible);
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error updating drain specification: %s\n", err.msg);
                return 1;
        }
        char ts[64];
        stamp(ts, sizeof(ts));
        if (!enable) {
                printf("%s: Node \"%s\" drain strategy unset\n", ts, node_id);
                return 0;
        }
        printf("%s: Node \"%s\" drain strategy set\n", ts, node_id);
        fflush(stdout);
        return detach ? 0 : monitor_drain(c, node_id);
}

/* ---- alloc stop ----------------------------------------------------------------------------- */

const char cli_alloc_stop_help[] = "Usage: drover alloc stop [options] <allocation>\n\n"
                                   "  Stop an allocation. Its job is evaluated again, so a service job gets a\n"
                                   "  replacement. The ID may be a unique prefix. Without -detach the command\n"
                                   "  monitors the evaluation.\n\n"
                                   "Options:\n"
                                   "  -address=<addr>  API address\n"
                                   "  -detach          print the evaluation ID and return\n"
                                   "  -verbose         full IDs\n";

int cli_alloc_stop(struct cli *c, int argc, char **argv) {
        bool detach = false, verbose = false;
        const char *id = NULL;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-detach") == 0)
                        detach = true;
                else if (strcmp(argv[i], "-verbose") == 0)
                        verbose = true;
                else if (argv[i][0] == '-') {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], cli_alloc_stop_help);
                        return 1;
                } else
                        id = argv[i];
        }
        if (!id) {
                fprintf(stderr, "This command takes one argument: <allocation>\n\n%s", cli_alloc_stop_help);
                return 1;
        }
        _cleanup_free_ char *alloc_id = NULL, *path = NULL;
        if (cli_resolve_prefix(c, "/v1/allocations", "allocation", id, &alloc_id))
                return 1;
        if (asprintf(&path, "/v1/allocation/%s/stop", alloc_id) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL, *body = json_object();
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error stopping allocation: %s\n", err.msg);
                return 1;
        }
        const char *eval_id = jx_str(resp, "EvalID", "");
        if (detach || !*eval_id) {
                printf("%s\n", eval_id);
                return 0;
        }
        return cli_monitor_eval(c, eval_id, verbose);
}

/* ---- eval list ------------------------------------------------------------------------------- */

const char cli_eval_list_help[] =
    "Usage: drover eval list [options]\n\n"
    "  List evaluations, newest first.\n\n"
    "Options:\n"
    "  -address=<addr>   API address\n"
    "  -job=<id>         only this job's\n"
    "  -status=<status>  only those in this status (pending, blocked, complete, failed, canceled)\n"
    "  -verbose          full IDs\n"
    "  -json             the API's JSON\n";

static int eval_newer_first(const void *a, const void *b) {
        int64_t x = jx_int(*(json_t *const *)a, "CreateIndex", 0), y = jx_int(*(json_t *const *)b, "CreateIndex", 0);
        return x < y ? 1 : x > y ? -1 : 0;
}

int cli_eval_list(struct cli *c, int argc, char **argv) {
        bool verbose = false, as_json = c->json || c->tmpl;
        const char *job = NULL, *status = NULL;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-verbose") == 0)
                        verbose = true;
                else if (strcmp(argv[i], "-json") == 0)
                        as_json = true;
                else if (strncmp(argv[i], "-job=", 5) == 0)
                        job = argv[i] + 5;
                else if (strncmp(argv[i], "-status=", 8) == 0)
                        status = argv[i] + 8;
                else {
                        fprintf(stderr, "Unknown argument \"%s\"\n\n%s", argv[i], cli_eval_list_help);
                        return 1;
                }
        }
        struct error err = {0};
        _cleanup_json_ json_t *list = NULL;
        if (cli_get(c, "/v1/evaluations", &list, NULL, &err) < 0) {
                fprintf(stderr, "Error querying evaluations: %s\n", err.msg);
                return 1;
        }
        size_t n = json_array_size(list), k = 0;
        _cleanup_free_ json_t **rows = calloc(n ? n : 1, sizeof(*rows));
        if (!rows)
                return 1;
        for (size_t i = 0; i < n; i++) {
                json_t *e = json_array_get(list, i);
                if ((job && strcmp(jx_str(e, "JobID", ""), job) != 0) ||
                    (status && strcmp(jx_str(e, "Status", ""), status) != 0))
                        continue;
                rows[k++] = e;
        }
        qsort(rows, k, sizeof(*rows), eval_newer_first);
        if (as_json) {
                _cleanup_json_ json_t *out = json_array();
                for (size_t i = 0; i < k; i++)
                        json_array_append(out, rows[i]);
                if (c->tmpl)
                        return cli_output(c, out);
                _cleanup_free_ char *txt = json_dumps(out, JSON_INDENT(4) | JSON_SORT_KEYS);
                if (txt)
                        printf("%s\n", txt);
                return 0;
        }
        if (k == 0) {
                printf("No evals found\n");
                return 0;
        }
        static const char *const hdr[] = {"ID",        "Priority", "Triggered By", "Job ID",
                                          "Namespace", "Node ID",  "Status",       "Placement Failures"};
        struct table *t = table_new(8, hdr);
        for (size_t i = 0; i < k; i++) {
                json_t *e = rows[i];
                char id[9], node[9], prio[16];
                snprintf(prio, sizeof(prio), "%lld", (long long)jx_int(e, "Priority", 0));
                const char *eid = jx_str(e, "ID", ""), *nid = jx_str(e, "NodeID", "");
                const char *cells[] = {verbose ? eid : cli_short_id(eid, id),
                                       prio,
                                       jx_str(e, "TriggeredBy", ""),
                                       jx_str(e, "JobID", ""),
                                       jx_str(e, "Namespace", "default"),
                                       *nid ? (verbose ? nid : cli_short_id(nid, node)) : "<none>",
                                       jx_str(e, "Status", ""),
                                       json_object_size(jx_obj(e, "FailedTGAllocs")) ? "true" : "false"};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

/* ---- agent-info ---------------------------------------------------------------------------- */

const char cli_agent_info_help[] = "Usage: drover agent-info [options]\n\n"
                                   "  Display status information about the server the command talks to: its\n"
                                   "  name, region, whether it leads, and its state counters.\n\n"
                                   "Options:\n"
                                   "  -address=<addr>  API address\n"
                                   "  -json            the API's JSON (/v1/agent/self)\n";

static int key_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "section\n  key = value" lines, keys sorted, as Nomad's agent-info. */
static void print_section(const char *name, const json_t *obj) {
        size_t n = json_object_size(obj), i = 0;
        _cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof(*keys));
        if (!keys)
                return;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), key_cmp);
        printf("%s\n", name);
        for (i = 0; i < n; i++) {
                json_t *val = json_object_get(obj, keys[i]);
                if (json_is_string(val))
                        printf("  %s = %s\n", keys[i], json_string_value(val));
                else if (json_is_integer(val))
                        printf("  %s = %lld\n", keys[i], (long long)json_integer_value(val));
                else if (json_is_boolean(val))
                        printf("  %s = %s\n", keys[i], json_is_true(val) ? "true" : "false");
        }
}

int cli_agent_info(struct cli *c, int argc, char **argv) {
        bool as_json = c->json || c->tmpl;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-json") == 0)
                        as_json = true;
                else {
                        fprintf(stderr, "Unknown argument \"%s\"\n\n%s", argv[i], cli_agent_info_help);
                        return 1;
                }
        }
        struct error err = {0};
        _cleanup_json_ json_t *self = NULL;
        if (cli_get(c, "/v1/agent/self", &self, NULL, &err) < 0) {
                fprintf(stderr, "Error querying agent info: %s\n", err.msg);
                return 1;
        }
        if (c->tmpl)
                return cli_output(c, self);
        if (as_json) {
                _cleanup_free_ char *txt = json_dumps(self, JSON_INDENT(4) | JSON_SORT_KEYS);
                if (txt)
                        printf("%s\n", txt);
                return 0;
        }
        json_t *config = jx_obj(self, "config"), *member = jx_obj(self, "member");
        _cleanup_json_ json_t *agent =
            json_pack("{s:s,s:s,s:s,s:s}", "name", jx_str(member, "Name", ""), "region", jx_str(config, "Region", ""),
                      "datacenter", jx_str(config, "Datacenter", ""), "version",
                      jx_str(jx_obj(config, "Version"), "Version", ""));
        print_section("agent", agent);
        json_t *stats = jx_obj(self, "stats");
        size_t n = json_object_size(stats), i = 0;
        _cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof(*keys));
        if (!keys)
                return 1;
        const char *k;
        json_t *v;
        json_object_foreach(stats, k, v) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), key_cmp);
        for (i = 0; i < n; i++)
                print_section(keys[i], json_object_get(stats, keys[i]));
        return 0;
}
