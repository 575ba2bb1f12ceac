/* deployment.c - `drover deployment list|status|promote|fail|pause|resume`, in
 * Nomad's layout (command/deployment_*.go). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"

static const char list_help[] =
    "Usage: drover deployment list [options]\n\n"
    "  List the deployments, newest first: ID, Job ID, Job Version, Status, Description.\n\n"
    "Options:\n  -json  Print the deployments as JSON.\n  -t <template>  Format them with a template.\n  -verbose  Full IDs.\n";
static const char status_help[] = "Usage: drover deployment status [options] <deployment>\n\n"
                                  "  Show a deployment (ID or unique prefix): its status and, per task group, the\n"
                                  "  desired, placed, healthy and unhealthy allocations and the progress deadline.\n\n"
                                  "Options:\n  -json  Print the deployment as JSON.\n  -t <template>  Format it with a template.\n  -verbose  Full IDs.\n";
static const char promote_help[] = "Usage: drover deployment promote [options] <deployment>\n\n"
                                   "  Promote the canaries of a deployment: the rest of its allocations are then\n"
                                   "  replaced, update.max_parallel at a time. Without -group, every group.\n\n"
                                   "Options:\n  -group <name>  Promote this group only (repeatable).\n"
                                   "  -detach  Do not monitor the evaluation.\n";
static const char fail_help[] = "Usage: drover deployment fail [options] <deployment>\n\n"
                                "  Mark an active deployment failed (with auto_revert the job goes back to its\n"
                                "  last stable version).\n\nOptions:\n  -detach  Do not monitor the evaluation.\n";
static const char pause_help[] = "Usage: drover deployment pause <deployment>\n\n"
                                 "  Pause an active deployment: no allocation is replaced until it is resumed.\n";
static const char resume_help[] =
    "Usage: drover deployment resume [options] <deployment>\n\n"
    "  Resume a paused deployment.\n\nOptions:\n  -detach  Do not monitor the evaluation.\n";

/* The one operand, a deployment ID or unique prefix, resolved into *ret_id; the
 * flags are the command's. 0, or 1 after printing why. */
static int resolve(struct cli *c, int argc, char **argv, const struct cli_flag *flags, const char *help,
                   char **ret_id) {
        const char *ops[1] = {0};
        int n = 0;
        if (cli_args(argc, argv, flags, 1, 1, "<deployment>", help, ops, &n))
                return 1;
        return cli_resolve_prefix(c, "/v1/deployments", "deployment", ops[0], ret_id);
}

static const char *short_or_full(const char *id, bool verbose, char buf[9]) {
        return verbose ? id : cli_short_id(id, buf);
}

/* Newest first: the API answers in ID order (its list options page by ID). */
static int by_create_index_desc(const void *a, const void *b) {
        json_int_t x = jx_int(*(json_t *const *)a, "CreateIndex", 0), y = jx_int(*(json_t *const *)b, "CreateIndex", 0);
        return x < y ? 1 : x > y ? -1 : 0;
}

static json_t *newest_first(json_t *list) {
        size_t n = json_array_size(list);
        json_t **v = n ? calloc(n, sizeof(*v)) : NULL;
        json_t *out = json_array();
        if (!out || (n && !v)) {
                free(v);
                json_decref(out);
                return json_incref(list);
        }
        for (size_t i = 0; i < n; i++)
                v[i] = json_array_get(list, i);
        qsort(v, n, sizeof(*v), by_create_index_desc);
        for (size_t i = 0; i < n; i++)
                json_array_append(out, v[i]);
        free(v);
        return out;
}

static int deployment_list(struct cli *c, int argc, char **argv) {
        bool verbose = false;
        const struct cli_flag flags[] = {{"-verbose", NULL, &verbose, true}, {0}};
        int n = 0;
        if (cli_args(argc, argv, flags, 0, 0, "", list_help, NULL, &n))
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *got = NULL;
        if (cli_get(c, "/v1/deployments", &got, NULL, &err) < 0) {
                fprintf(stderr, "Error retrieving deployments: %s\n", err.msg);
                return 1;
        }
        _cleanup_json_ json_t *list = newest_first(got);
        int o = cli_output(c, list);
        if (o >= 0)
                return o;
        if (json_array_size(list) == 0) {
                printf("No deployments found\n");
                return 0;
        }
        static const char *const hdr[] = {"ID", "Job ID", "Job Version", "Status", "Description"};
        struct table *t = table_new(5, hdr);
        size_t i;
        json_t *d;
        json_array_foreach(list, i, d) {
                char sid[9], ver[24];
                snprintf(ver, sizeof(ver), "%lld", (long long)jx_int(d, "JobVersion", 0));
                const char *row[] = {short_or_full(jx_str(d, "ID", ""), verbose, sid), jx_str(d, "JobID", ""), ver,
                                     jx_str(d, "Status", ""), jx_str(d, "StatusDescription", "")};
                table_add(t, row);
        }
        table_print(t);
        return 0;
}

/* Nomad's status body: the KV block, then "Deployed" per group. */
static void print_deployment(const json_t *d, bool verbose) {
        char sid[9], ver[24];
        snprintf(ver, sizeof(ver), "%lld", (long long)jx_int(d, "JobVersion", 0));
        const char *keys[] = {"ID", "Job ID", "Job Version", "Status", "Description"};
        const char *vals[] = {short_or_full(jx_str(d, "ID", ""), verbose, sid), jx_str(d, "JobID", ""), ver,
                              jx_str(d, "Status", ""), jx_str(d, "StatusDescription", "")};
        cli_print_kv(keys, vals, 5);
        json_t *tgs = json_object_get(d, "TaskGroups");
        bool canaries = false;
        const char *name;
        json_t *g;
        json_object_foreach(tgs, name, g) canaries = canaries || jx_int(g, "DesiredCanaries", 0) > 0;
        printf("\nDeployed\n");
        static const char *const hdr[] = {"Task Group", "Desired",   "Placed",
                                          "Healthy",    "Unhealthy", "Progress Deadline"};
        static const char *const hdr_c[] = {"Task Group", "Promoted", "Desired",   "Canaries",
                                            "Placed",     "Healthy",  "Unhealthy", "Progress Deadline"};
        struct table *t = canaries ? table_new(8, hdr_c) : table_new(6, hdr);
        json_object_foreach(tgs, name, g) {
                char des[16], can[16], pl[16], he[16], un[16], dl[48];
                snprintf(des, sizeof(des), "%lld", (long long)jx_int(g, "DesiredTotal", 0));
                snprintf(can, sizeof(can), "%lld", (long long)jx_int(g, "DesiredCanaries", 0));
                snprintf(pl, sizeof(pl), "%lld", (long long)jx_int(g, "PlacedAllocs", 0));
                snprintf(he, sizeof(he), "%lld", (long long)jx_int(g, "HealthyAllocs", 0));
                snprintf(un, sizeof(un), "%lld", (long long)jx_int(g, "UnhealthyAllocs", 0));
                int64_t by = 0; /* RFC 3339 (Go's time.Time); the zero time: none */
                if (model_time_parse(json_object_get(g, "RequireProgressBy"), &by) == 0 && by > 0)
                        cli_fmt_time_ns(by, dl, sizeof(dl));
                else
                        snprintf(dl, sizeof(dl), "N/A");
                if (canaries) {
                        const char *row[] = {
                            name, jx_bool(g, "Promoted", false) ? "true" : "false", des, can, pl, he, un, dl};
                        table_add(t, row);
                } else {
                        const char *row[] = {name, des, pl, he, un, dl};
                        table_add(t, row);
                }
        }
        table_print(t);
}

static int deployment_status(struct cli *c, int argc, char **argv) {
        bool verbose = false;
        const struct cli_flag flags[] = {{"-verbose", NULL, &verbose, true}, {0}};
        _cleanup_free_ char *id = NULL;
        if (resolve(c, argc, argv, flags, status_help, &id) != 0)
                return 1;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/v1/deployment/%s", id) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *d = NULL;
        if (cli_get(c, path, &d, NULL, &err) < 0) {
                fprintf(stderr, "Error retrieving deployment: %s\n", err.msg);
                return 1;
        }
        int o = cli_output(c, d);
        if (o >= 0)
                return o;
        print_deployment(d, verbose);
        return 0;
}

/* PUT the action, print what happened, then monitor its eval unless -detach. */
static int action(struct cli *c, int argc, char **argv, const char *help, const char *what, json_t *body,
                  const char *done) {
        _cleanup_json_ json_t *b = body;
        bool detach = false;
        const char *group = NULL; /* promote's, repeatable: read by deployment_promote */
        struct cli_flag flags[] = {{"-detach", NULL, &detach, true}, {"-group", &group, NULL, false}, {0}};
        if (strcmp(what, "promote") != 0)
                flags[1] = (struct cli_flag){0};
        _cleanup_free_ char *id = NULL;
        if (resolve(c, argc, argv, flags, help, &id) != 0)
                return 1;
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/v1/deployment/%s/%s", what, id) < 0)
                return 1;
        json_object_set_new(b, "DeploymentID", json_string(id));
        struct error err = {0};
        _cleanup_json_ json_t *reply = NULL;
        if (cli_send(c, "PUT", path, b, &reply, &err) < 0) {
                fprintf(stderr, "Error %s deployment: %s\n", done, err.msg);
                return 1;
        }
        printf("Deployment \"%s\" %s\n", id, done);
        const char *eval = jx_str(reply, "EvalID", "");
        if (!*eval || detach)
                return 0;
        printf("\n");
        return cli_monitor_eval(c, eval, false);
}

static int deployment_promote(struct cli *c, int argc, char **argv) {
        json_t *body = json_object(), *groups = json_array();
        for (int i = 0; i + 1 < argc; i++)
                if (strcmp(argv[i], "-group") == 0)
                        json_array_append_new(groups, json_string(argv[++i]));
        if (json_array_size(groups))
                json_object_set_new(body, "Groups", groups);
        else {
                json_decref(groups);
                json_object_set_new(body, "All", json_true());
        }
        return action(c, argc, argv, promote_help, "promote", body, "promoted");
}

static int deployment_fail(struct cli *c, int argc, char **argv) {
        return action(c, argc, argv, fail_help, "fail", json_object(), "failed");
}

static int deployment_pause(struct cli *c, int argc, char **argv) {
        return action(c, argc, argv, pause_help, "pause", json_pack("{s:b}", "Pause", 1), "paused");
}

static int deployment_resume(struct cli *c, int argc, char **argv) {
        return action(c, argc, argv, resume_help, "pause", json_pack("{s:b}", "Pause", 0), "resumed");
}

const struct cli_command cli_deployment_commands[] = {
    {"list", "List all deployments", list_help, deployment_list},
    {"status", "Display the status of a deployment", status_help, deployment_status},
    {"promote", "Promote the canaries of a deployment", promote_help, deployment_promote},
    {"fail", "Manually fail a deployment", fail_help, deployment_fail},
    {"pause", "Pause a deployment", pause_help, deployment_pause},
    {"resume", "Resume a paused deployment", resume_help, deployment_resume},
    {NULL, NULL, NULL, NULL},
};

int cli_monitor_deployment(struct cli *c, const char *job_id, int64_t job_modify_index, bool verbose) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "/v1/job/%s/deployment", job_id) < 0)
                return 1;
        bool announced = false;
        for (;;) {
                struct error err = {0};
                _cleanup_json_ json_t *d = NULL;
                if (cli_get(c, path, &d, NULL, &err) < 0) {
                        fprintf(stderr, "Error retrieving deployment: %s\n", err.msg);
                        return 1;
                }
                /* none, or an older version's: this registration made no deployment */
                if (!json_is_object(d) || jx_int(d, "JobModifyIndex", -1) != job_modify_index)
                        return 0;
                const char *status = jx_str(d, "Status", "");
                char sid[9], ts[40];
                if (!announced) {
                        cli_fmt_time_ns(clock_now_ns(), ts, sizeof(ts));
                        printf("==> %s: Monitoring deployment \"%s\"\n", ts,
                               short_or_full(jx_str(d, "ID", ""), verbose, sid));
                        fflush(stdout);
                        announced = true;
                }
                if (strcmp(status, "running") != 0 && strcmp(status, "paused") != 0) {
                        bool ok = strcmp(status, "successful") == 0;
                        printf("  %s Deployment \"%s\" %s\n\n", ok ? "✓" : "!",
                               short_or_full(jx_str(d, "ID", ""), verbose, sid), status);
                        print_deployment(d, verbose);
                        return ok ? 0 : 1;
                }
                struct timespec half = {0, 500000000};
                nanosleep(&half, NULL);
        }
}
