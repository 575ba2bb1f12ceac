/* job.c - `drover job run|status|stop` and the evaluation monitor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jobspec.h"
#include "common/limits.h"
#include "common/jsonx.h"
#include "common/macros.h"
#include "common/model.h"

static void now_stamp(char *buf, size_t len) {
        cli_fmt_time_ns(clock_now_ns(), buf, len);
}

int cli_monitor_eval(struct cli *c, const char *eval_id, bool verbose) {
        char ts[64], sid[9];
        struct error err = {0};
        now_stamp(ts, sizeof(ts));
        printf("==> %s: Monitoring evaluation \"%s\"\n", ts, verbose ? eval_id : cli_short_id(eval_id, sid));
        fflush(stdout);
        _cleanup_free_ char *path = NULL, *apath = NULL;
        if (asprintf(&path, "/v1/evaluation/%s", eval_id) < 0 ||
            asprintf(&apath, "/v1/evaluation/%s/allocations", eval_id) < 0)
                return 1;
        const char *last_status = NULL;
        _cleanup_free_ char *last = NULL;
        bool said_trigger = false;
        json_t *seen = json_object();
        int rc = 0;
        for (int tries = 0;; tries++) {
                _cleanup_json_ json_t *ev = NULL;
                if (cli_get(c, path, &ev, NULL, &err) < 0) {
                        fprintf(stderr, "Error reading evaluation: %s\n", err.msg);
                        rc = 1;
                        break;
                }
                const char *status = jx_str(ev, "Status", "");
                now_stamp(ts, sizeof(ts));
                if (!said_trigger) {
                        printf("    %s: Evaluation triggered by job \"%s\"\n", ts, jx_str(ev, "JobID", ""));
                        said_trigger = true;
                }
                _cleanup_json_ json_t *allocs = NULL;
                if (cli_get(c, apath, &allocs, NULL, &err) == 0) {
                        size_t i;
                        json_t *a;
                        json_array_foreach(allocs, i, a) {
                                const char *id = jx_str(a, "ID", "");
                                if (json_object_get(seen, id))
                                        continue;
                                json_object_set_new(seen, id, json_true());
                                char nid[9];
                                printf("    %s: Allocation \"%s\" created: node \"%s\", group \"%s\"\n", ts,
                                       verbose ? id : cli_short_id(id, sid),
                                       verbose ? jx_str(a, "NodeID", "") : cli_short_id(jx_str(a, "NodeID", ""), nid),
                                       jx_str(a, "TaskGroup", ""));
                        }
                }
                if (!last || strcmp(last, status) != 0) {
                        if (last)
                                printf("    %s: Evaluation status changed: \"%s\" -> \"%s\"\n", ts, last, status);
                        free(last);
                        last = strdup(status);
                }
                last_status = last;
                fflush(stdout);
                if (strcmp(status, "pending") != 0) {
                        json_t *failed = jx_obj(ev, "FailedTGAllocs");
                        now_stamp(ts, sizeof(ts));
                        const char *why = jx_str(ev, "StatusDescription", "");
                        printf("==> %s: Evaluation \"%s\" finished with status \"%s\"%s%s%s\n", ts,
                               verbose ? eval_id : cli_short_id(eval_id, sid), status, *why ? " (" : "", why,
                               *why ? ")" : "");
                        if (failed && json_object_size(failed)) {
                                printf("==> %s: Evaluation \"%s\" finished with status \"%s\" but failed to place all allocations:\n",
                                       ts, verbose ? eval_id : cli_short_id(eval_id, sid), status);
                                cli_print_placement_failures(failed);
                                const char *blocked = jx_str(ev, "BlockedEval", "");
                                if (*blocked)
                                        printf("    Evaluation \"%s\" waiting for additional capacity to place remainder\n",
                                               verbose ? blocked : cli_short_id(blocked, sid));
                                rc = 2;
                        }
                        if (strcmp(status, "complete") != 0 && rc == 0)
                                rc = 2;
                        break;
                }
                if (tries > 600) { /* 2 minutes */
                        printf("==> %s: Evaluation \"%s\" still %s; stopped monitoring\n", ts,
                               cli_short_id(eval_id, sid), last_status);
                        rc = 1;
                        break;
                }
                usleep(200 * 1000);
        }
        json_decref(seen);
        return rc;
}

static const char job_run_help[] =
    "Usage: drover job run [options] <path>\n\n"
    "  Submit a job file (HCL or JSON) to the cluster and monitor the evaluation\n"
    "  it creates until its allocations are placed. The file is parsed and checked\n"
    "  locally first; errors name file:line:column. Use \"-\" to read standard input.\n\n"
    "Options:\n"
    "  -address=<addr>  API address (default $DROVER_ADDR or http://127.0.0.1:4646)\n"
    "  -detach          print the evaluation ID and return without monitoring\n"
    "  -verbose         full IDs\n"
    "  -var 'k=v'       value of the job file's variable \"k\" (repeatable; wins over\n"
    "                   -var-file, NOMAD_VAR_k and the default)\n"
    "  -var-file=<file> HCL file of k = value lines (repeatable, later files win)\n"
    "  -output          print the Job JSON that would be submitted, and submit nothing\n"
    "  -check-index=<n> submit only if the job's modify index is <n> (0: only if the job\n"
    "                   does not exist yet), as \"job plan\" suggests\n"
    "Exit codes: 0 placed, 1 error, 2 placement failures (waiting for capacity).\n";

static int read_all(const char *path, char **ret, size_t *ret_len) {
        FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
        if (!f)
                return -errno;
        struct stat st;
        if (f != stdin && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > LIMIT_JOBSPEC_SIZE) {
                fclose(f); /* refused without reading it */
                return -EFBIG;
        }
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 4096 + 1 > cap) {
                        cap = cap ? cap * 2 : 8192;
                        char *nb = realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                if (f != stdin)
                                        fclose(f);
                                return -ENOMEM;
                        }
                        buf = nb;
                }
                size_t n = fread(buf + len, 1, 4096, f);
                len += n;
                if (n == 0)
                        break;
                if (len > LIMIT_JOBSPEC_SIZE) { /* stdin may never end: stop at the limit */
                        free(buf);
                        if (f != stdin)
                                fclose(f);
                        return -EFBIG;
                }
        }
        if (f != stdin)
                fclose(f);
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* Parse and check a job file the way the server will. opts carries -var and -var-file;
 * file() reads relative to the job file's directory. */
static int load_job(const char *path, const struct jobspec_opts *opts, json_t **ret_job) {
        struct error err = {0};
        _cleanup_free_ char *src = NULL;
        size_t len = 0;
        int r = read_all(path, &src, &len);
        if (r < 0) {
                if (r == -EFBIG)
                        fprintf(stderr, "Error reading job file \"%s\": larger than %d bytes\n", path,
                                LIMIT_JOBSPEC_SIZE);
                else
                        fprintf(stderr, "Error opening job file \"%s\": %s\n", path, strerror(-r));
                return 1;
        }
        json_t *job = NULL;
        bool is_stdin = strcmp(path, "-") == 0;
        struct jobspec_opts o = *opts;
        _cleanup_free_ char *dir = NULL;
        if (!is_stdin) {
                const char *slash = strrchr(path, '/');
                dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
                if (!dir)
                        return 1;
                o.dir = *dir ? dir : "/";
        }
        if (jobspec_parse_opts(src, len, is_stdin ? "<stdin>" : path, &o, &job, &err) < 0) {
                fprintf(stderr, "Error parsing job file from %s:\n%s\n", path, err.msg);
                return 1;
        }
        struct job *j = NULL;
        if (job_from_json(job, &j, &err) < 0) {
                fprintf(stderr, "Error parsing job file from %s:\n%s\n", path, err.msg);
                json_decref(job);
                return 1;
        }
        job_canonicalize(j);
        r = job_validate(j, &err);
        job_unref(j);
        if (r < 0) {
                fprintf(stderr, "Error validating job from %s:\n%s\n", path, err.msg);
                json_decref(job);
                return 1;
        }
        *ret_job = job;
        return 0;
}

/* -var k=v, -var=k=v, -var-file f, -var-file=f at argv[*i]: 1 when taken (i advanced past a
 * separate value), 0 when not such a flag, -1 when its value is missing. */
static int var_flag(int argc, char **argv, int *i, const char **vars, size_t *n_vars, const char **files,
                    size_t *n_files) {
        static const struct {
                const char *flag;
                bool file;
        } flags[] = {{"-var", false}, {"-var-file", true}};
        for (size_t k = 0; k < ARRAY_SIZE(flags); k++) {
                const char *a = argv[*i];
                if (a[0] == '-' && a[1] == '-')
                        a++;
                size_t n = strlen(flags[k].flag);
                if (strncmp(a, flags[k].flag, n) != 0 || (a[n] != '\0' && a[n] != '='))
                        continue;
                const char *val = a[n] == '=' ? a + n + 1 : NULL;
                if (!val) {
                        if (*i + 1 >= argc)
                                return -1;
                        val = argv[++*i];
                }
                if (flags[k].file)
                        files[(*n_files)++] = val;
                else
                        vars[(*n_vars)++] = val;
                return 1;
        }
        return 0;
}

static int job_run(struct cli *c, int argc, char **argv) {
        bool detach = false, verbose = false, output = false;
        long long check_index = -1;
        const char *path = NULL;
        _cleanup_free_ const char **vars = calloc((size_t)argc + 1, sizeof(*vars));
        _cleanup_free_ const char **files = calloc((size_t)argc + 1, sizeof(*files));
        struct jobspec_opts opts = {.env = true};
        if (!vars || !files)
                return 1;
        for (int i = 0; i < argc; i++) {
                int vf = var_flag(argc, argv, &i, vars, &opts.n_vars, files, &opts.n_var_files);
                if (vf < 0) {
                        fprintf(stderr, "Flag \"%s\" needs a value\n\n%s", argv[i], job_run_help);
                        return 1;
                }
                if (vf > 0)
                        continue;
                if (strcmp(argv[i], "-detach") == 0)
                        detach = true;
                else if (strcmp(argv[i], "-verbose") == 0)
                        verbose = true;
                else if (strcmp(argv[i], "-output") == 0)
                        output = true;
                else if (strncmp(argv[i], "-check-index=", 13) == 0 || (strcmp(argv[i], "-check-index") == 0 && i + 1 < argc)) {
                        const char *v = argv[i][12] == '=' ? argv[i] + 13 : argv[++i];
                        char *end;
                        errno = 0;
                        check_index = strtoll(v, &end, 10);
                        if (!*v || *end || errno || check_index < 0) {
                                fprintf(stderr, "-check-index: expected a job modify index (got \"%s\")\n", v);
                                return 1;
                        }
                } else if (argv[i][0] == '-' && argv[i][1]) {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], job_run_help);
                        return 1;
                } else if (!path)
                        path = argv[i];
                else {
                        fprintf(stderr, "This command takes one argument: <path>\n\n%s", job_run_help);
                        return 1;
                }
        }
        if (!path) {
                fprintf(stderr, "This command takes one argument: <path>\n\n%s", job_run_help);
                return 1;
        }
        opts.vars = vars;
        opts.var_files = files;
        _cleanup_json_ json_t *job = NULL;
        if (load_job(path, &opts, &job))
                return 1;
        _cleanup_json_ json_t *body = json_pack("{s:O}", "Job", job);
        if (body && check_index >= 0) {
                json_object_set_new(body, "EnforceIndex", json_true());
                json_object_set_new(body, "JobModifyIndex", json_integer(check_index));
        }
        if (output) {
                _cleanup_free_ char *txt = json_dumps(body, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
                if (!txt)
                        return 1;
                printf("%s\n", txt);
                return 0;
        }
        _cleanup_json_ json_t *resp = NULL;
        struct error err = {0};
        if (cli_send(c, "PUT", "/v1/jobs", body, &resp, &err) < 0) {
                fprintf(stderr, "Error submitting job: %s\n", err.msg);
                return 1;
        }
        const char *eval_id = jx_str(resp, "EvalID", "");
        if (!*eval_id) /* a periodic or parameterized parent: nothing to monitor */
                return cli_job_kinds_registered(json_object_get(body, "Job"));
        if (detach) {
                printf("Job registration successful\nEvaluation ID: %s\n", eval_id);
                return 0;
        }
        int r = cli_monitor_eval(c, eval_id, verbose);
        if (r == 0 && strcmp(jx_str(job, "Type", "service"), "service") == 0)
                r = cli_monitor_deployment(c, jx_str(job, "ID", ""), jx_int(resp, "JobModifyIndex", -1), verbose);
        return r;
}

static const char job_status_help[] =
    "Usage: drover job status [options] [<job>]\n\n"
    "  Without a job: list all jobs. With a job ID (or unique prefix): show the\n"
    "  job, its summary per task group and its allocations.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -verbose         full IDs\n";

static void summary_row(struct table *t, const char *group, const json_t *s) {
        char q[16], st[16], ru[16], fa[16], co[16], lo[16];
        snprintf(q, sizeof(q), "%lld", (long long)jx_int(s, "Queued", 0));
        snprintf(st, sizeof(st), "%lld", (long long)jx_int(s, "Starting", 0));
        snprintf(ru, sizeof(ru), "%lld", (long long)jx_int(s, "Running", 0));
        snprintf(fa, sizeof(fa), "%lld", (long long)jx_int(s, "Failed", 0));
        snprintf(co, sizeof(co), "%lld", (long long)jx_int(s, "Complete", 0));
        snprintf(lo, sizeof(lo), "%lld", (long long)jx_int(s, "Lost", 0));
        const char *cells[] = {group, q, st, ru, fa, co, lo};
        table_add(t, cells);
}

/* A job's status as Nomad's CLI shows it: "dead (stopped)" for a stopped job. */
static const char *status_text(const json_t *job) {
        const char *st = jx_str(job, "Status", "");
        return strcmp(st, "dead") == 0 && json_is_true(json_object_get(job, "Stop")) ? "dead (stopped)" : st;
}

static int job_status(struct cli *c, int argc, char **argv) {
        bool verbose = false;
        const char *id = NULL;
        const struct cli_flag flags[] = {{"-verbose", NULL, &verbose, true}, {0}};
        int n = 0;
        if (cli_args(argc, argv, flags, 0, 1, "[<job>]", job_status_help, &id, &n))
                return 1;
        struct error err = {0};
        if (!id) {
                _cleanup_json_ json_t *list = NULL;
                if (cli_get(c, "/v1/jobs", &list, NULL, &err) < 0) {
                        fprintf(stderr, "Error querying jobs: %s\n", err.msg);
                        return 1;
                }
                int o = cli_output(c, list);
                if (o >= 0)
                        return o;
                if (json_array_size(list) == 0) {
                        printf("No running jobs\n");
                        return 0;
                }
                static const char *const hdr[] = {"ID", "Type", "Priority", "Status", "Submit Date"};
                struct table *t = table_new(5, hdr);
                size_t i;
                json_t *j;
                json_array_foreach(list, i, j) {
                        char prio[16], when[64];
                        snprintf(prio, sizeof(prio), "%lld", (long long)jx_int(j, "Priority", 0));
                        cli_fmt_time_ns(jx_int(j, "SubmitTime", 0), when, sizeof(when));
                        const char *cells[] = {jx_str(j, "ID", ""), jx_str(j, "Type", ""), prio, status_text(j),
                                               when};
                        table_add(t, cells);
                }
                table_print(t);
                return 0;
        }
        _cleanup_free_ char *job_id = NULL;
        if (cli_resolve_prefix(c, "/v1/jobs", "job", id, &job_id))
                return 1;
        _cleanup_free_ char *esc = http_escape(job_id), *p1 = NULL, *p2 = NULL, *p3 = NULL;
        if (asprintf(&p1, "/v1/job/%s", esc) < 0 || asprintf(&p2, "/v1/job/%s/summary", esc) < 0 ||
            asprintf(&p3, "/v1/job/%s/allocations", esc) < 0)
                return 1;
        _cleanup_json_ json_t *job = NULL, *summary = NULL, *allocs = NULL;
        if (cli_get(c, p1, &job, NULL, &err) < 0 || cli_get(c, p2, &summary, NULL, &err) < 0 ||
            cli_get(c, p3, &allocs, NULL, &err) < 0) {
                fprintf(stderr, "Error querying job: %s\n", err.msg);
                return 1;
        }
        int o = cli_output(c, job);
        if (o >= 0)
                return o;
        char prio[16], when[64];
        snprintf(prio, sizeof(prio), "%lld", (long long)jx_int(job, "Priority", 0));
        cli_fmt_time_ns(jx_int(job, "SubmitTime", 0), when, sizeof(when));
        _cleanup_free_ char *dcs = json_dumps(json_object_get(job, "Datacenters"), JSON_COMPACT | JSON_ENCODE_ANY);
        const char *keys[] = {"ID", "Name", "Submit Date", "Type", "Priority", "Datacenters", "Namespace",
                              "Node Pool", "Status", "Periodic", "Parameterized"};
        const char *vals[] = {jx_str(job, "ID", ""),     jx_str(job, "Name", ""),      when,
                              jx_str(job, "Type", ""),   prio,                          dcs,
                              jx_str(job, "Namespace", ""), jx_str(job, "NodePool", ""), status_text(job),
                              json_is_object(json_object_get(job, "Periodic")) ? "true" : "false",
                              json_is_object(json_object_get(job, "ParameterizedJob")) &&
                                      !jx_bool(job, "Dispatched", false)
                                  ? "true"
                                  : "false"};
        cli_print_kv(keys, vals, (int)ARRAY_SIZE(keys));
        if (cli_job_kinds_status(c, job, summary)) /* periodic/parameterized parent: its children */
                return 0;
        printf("\nSummary\n");
        static const char *const shdr[] = {"Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost"};
        struct table *t = table_new(7, shdr);
        const char *g;
        json_t *s;
        json_object_foreach(jx_obj(summary, "Summary"), g, s) summary_row(t, g, s);
        table_print(t);
        printf("\nAllocations\n");
        if (json_array_size(allocs) == 0) {
                printf("No allocations placed\n");
                return 0;
        }
        static const char *const ahdr[] = {"ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created",
                                           "Modified"};
        t = table_new(8, ahdr);
        size_t i;
        json_t *a;
        json_array_foreach(allocs, i, a) {
                char sid[9], nid[9], ver[16], created[32], modified[32];
                snprintf(ver, sizeof(ver), "%lld", (long long)jx_int(a, "JobVersion", 0));
                cli_fmt_age_ns(jx_int(a, "CreateTime", 0), created, sizeof(created));
                cli_fmt_age_ns(jx_int(a, "ModifyTime", 0), modified, sizeof(modified));
                const char *cells[] = {verbose ? jx_str(a, "ID", "") : cli_short_id(jx_str(a, "ID", ""), sid),
                                       verbose ? jx_str(a, "NodeID", "")
                                               : cli_short_id(jx_str(a, "NodeID", ""), nid),
                                       jx_str(a, "TaskGroup", ""),
                                       ver,
                                       jx_str(a, "DesiredStatus", ""),
                                       jx_str(a, "ClientStatus", ""),
                                       created,
                                       modified};
                table_add(t, cells);
        }
        table_print(t);
        return 0;
}

static const char job_stop_help[] =
    "Usage: drover job stop [options] <job>\n\n"
    "  Stop a job: its allocations are stopped and the job is marked dead.\n"
    "  The job ID may be a unique prefix.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n"
    "  -detach          return after the stop is accepted\n"
    "  -purge           remove the job from the state entirely\n";

static int job_stop(struct cli *c, int argc, char **argv) {
        bool detach = false, purge = false;
        const char *id = NULL;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-detach") == 0)
                        detach = true;
                else if (strcmp(argv[i], "-purge") == 0)
                        purge = true;
                else if (strcmp(argv[i], "-yes") == 0)
                        continue;
                else if (argv[i][0] == '-') {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], job_stop_help);
                        return 1;
                } else
                        id = argv[i];
        }
        if (!id) {
                fprintf(stderr, "This command takes one argument: <job>\n\n%s", job_stop_help);
                return 1;
        }
        _cleanup_free_ char *job_id = NULL;
        if (cli_resolve_prefix(c, "/v1/jobs", "job", id, &job_id))
                return 1;
        _cleanup_free_ char *esc = http_escape(job_id), *path = NULL;
        if (asprintf(&path, "/v1/job/%s%s", esc, purge ? "?purge=true" : "") < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_send(c, "DELETE", path, NULL, &resp, &err) < 0) {
                fprintf(stderr, "Error deregistering job: %s\n", err.msg);
                return 1;
        }
        const char *eval_id = jx_str(resp, "EvalID", "");
        if (detach || !*eval_id) {
                printf("%s\n", eval_id);
                return 0;
        }
        return cli_monitor_eval(c, eval_id, false);
}

/* ---- job plan / validate / inspect --------------------------------------------------- */

static const char job_plan_help[] =
    "Usage: drover job plan [options] <path>\n\n"
    "  Dry-run the scheduler with the job file: what would be created, updated,\n"
    "  stopped or fail to place. Nothing is changed on the cluster.\n\n"
    "  Exit codes: 0 nothing would change, 1 allocations would be created or\n"
    "  destroyed (or fail to place), 255 an error.\n\n"
    "Options:\n"
    "  -address=<addr>   API address\n"
    "  -var 'key=value'  set a variable (repeatable)\n"
    "  -var-file=<path>  variables from an HCL file (repeatable)\n"
    "  -verbose          the placement metrics in full\n";

static const char job_validate_help[] =
    "Usage: drover job validate [options] <path>\n\n"
    "  Check a job file: locally (syntax, schema, variables), then on the server\n"
    "  (the same checks as a registration). Exit code 0 when valid, 1 otherwise.\n\n"
    "Options:\n"
    "  -address=<addr>   API address\n"
    "  -var 'key=value'  set a variable (repeatable)\n"
    "  -var-file=<path>  variables from an HCL file (repeatable)\n";

static const char job_inspect_help[] =
    "Usage: drover job inspect [options] <job>\n\n"
    "  Print the registered job as the API holds it: {\"Job\": {...}} in JSON.\n"
    "  The ID may be a unique prefix.\n\n"
    "Options:\n"
    "  -address=<addr>  API address\n";

/* The job file and variable flags of plan and validate. 0, or an exit code. */
static int load_job_args(int argc, char **argv, const char *help, bool *ret_verbose, json_t **ret_job,
                         const char **ret_path) {
        const char *path = NULL;
        _cleanup_free_ const char **vars = calloc((size_t)argc + 1, sizeof(*vars));
        _cleanup_free_ const char **files = calloc((size_t)argc + 1, sizeof(*files));
        struct jobspec_opts opts = {.env = true};
        if (!vars || !files)
                return 255;
        for (int i = 0; i < argc; i++) {
                int vf = var_flag(argc, argv, &i, vars, &opts.n_vars, files, &opts.n_var_files);
                if (vf < 0) {
                        fprintf(stderr, "Flag \"%s\" needs a value\n\n%s", argv[i], help);
                        return 255;
                }
                if (vf > 0)
                        continue;
                if (ret_verbose && strcmp(argv[i], "-verbose") == 0)
                        *ret_verbose = true;
                else if (argv[i][0] == '-' && argv[i][1]) {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], help);
                        return 255;
                } else if (!path)
                        path = argv[i];
                else {
                        fprintf(stderr, "This command takes one argument: <path>\n\n%s", help);
                        return 255;
                }
        }
        if (!path) {
                fprintf(stderr, "This command takes one argument: <path>\n\n%s", help);
                return 255;
        }
        opts.vars = vars;
        opts.var_files = files;
        if (ret_path)
                *ret_path = path;
        return load_job(path, &opts, ret_job) ? 255 : 0;
}

/* "(3 create, 1 ignore)" from a group's DesiredTGUpdates; true when it changes allocations. */
static bool tg_updates_text(const json_t *u, char *buf, size_t size) {
        static const struct {
                const char *key, *word;
                bool changes;
        } kinds[] = {{"Place", "create", true},         {"DestructiveUpdate", "create/destroy update", true},
                     {"InPlaceUpdate", "in-place update", false}, {"Migrate", "migrate", true},
                     {"Stop", "destroy", true},          {"Canary", "canary", true},
                     {"Ignore", "ignore", false}};
        size_t len = 0;
        bool changes = false;
        buf[0] = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
                long long n = (long long)jx_int(u, kinds[i].key, 0);
                if (n <= 0 || len >= size)
                        continue;
                len += (size_t)snprintf(buf + len, size - len, "%s%lld %s", len ? ", " : "", n, kinds[i].word);
                changes |= kinds[i].changes;
        }
        return changes;
}

/* Nomad's diff marks: "+" added, "-" deleted, "+/-" edited, "" unchanged. */
static const char *diff_mark(const char *type) {
        return strcmp(type, "Added") == 0     ? "+ "
               : strcmp(type, "Deleted") == 0 ? "- "
               : strcmp(type, "Edited") == 0  ? "+/- "
                                              : "";
}

/* `+/- Count: "2" => "3"` lines of a diff's Fields. */
static void print_field_diffs(const json_t *fields, const char *indent) {
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f) {
                const char *type = jx_str(f, "Type", "None");
                if (strcmp(type, "Added") == 0)
                        printf("%s  + %s: \"%s\"\n", indent, jx_str(f, "Name", ""), jx_str(f, "New", ""));
                else if (strcmp(type, "Deleted") == 0)
                        printf("%s  - %s: \"%s\"\n", indent, jx_str(f, "Name", ""), jx_str(f, "Old", ""));
                else
                        printf("%s  +/- %s: \"%s\" => \"%s\"\n", indent, jx_str(f, "Name", ""), jx_str(f, "Old", ""),
                               jx_str(f, "New", ""));
        }
}

static int job_plan_cmd(struct cli *c, int argc, char **argv) {
        bool verbose = false;
        _cleanup_json_ json_t *job = NULL;
        const char *file = NULL;
        int r = load_job_args(argc, argv, job_plan_help, &verbose, &job, &file);
        if (r)
                return r;
        const char *id = jx_str(job, "ID", "");
        _cleanup_free_ char *esc = http_escape(id), *path = NULL;
        if (!esc || asprintf(&path, "/v1/job/%s/plan", esc) < 0)
                return 255;
        _cleanup_json_ json_t *body = json_pack("{s:O,s:b}", "Job", job, "Diff", 1);
        _cleanup_json_ json_t *resp = NULL;
        struct error err = {0};
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error during plan: %s\n", err.msg);
                return 255;
        }
        json_t *diff = jx_obj(resp, "Diff");
        printf("%sJob: \"%s\"\n", diff_mark(jx_str(diff, "Type", "None")), id);
        print_field_diffs(jx_arr(diff, "Fields"), "");
        json_t *dtg = jx_obj(jx_obj(resp, "Annotations"), "DesiredTGUpdates");
        bool changes = false;
        const char *g;
        json_t *u;
        json_object_foreach(dtg, g, u) {
                char txt[256];
                changes |= tg_updates_text(u, txt, sizeof(txt));
                json_t *gd = NULL, *x;
                size_t k;
                json_array_foreach(jx_arr(diff, "TaskGroups"), k, x) {
                        if (strcmp(jx_str(x, "Name", ""), g) == 0)
                                gd = x;
                }
                printf("%sTask Group: \"%s\"%s%s%s\n", diff_mark(jx_str(gd, "Type", "None")), g, *txt ? " (" : "", txt,
                       *txt ? ")" : "");
                print_field_diffs(jx_arr(gd, "Fields"), "  ");
        }
        printf("\nScheduler dry-run:\n");
        json_t *failed = jx_obj(resp, "FailedTGAllocs");
        if (json_object_size(failed) == 0) {
                printf("- All tasks successfully allocated.\n");
        } else {
                changes = true;
                printf("- WARNING: Failed to place all allocations.\n");
                cli_print_placement_failures(failed);
                if (verbose) {
                        _cleanup_free_ char *txt = json_dumps(failed, JSON_INDENT(2) | JSON_SORT_KEYS);
                        if (txt)
                                printf("%s\n", txt);
                }
        }
        const char *next = jx_str(resp, "NextPeriodicLaunch", "");
        if (*next && strncmp(next, "0001-", 5) != 0)
                printf("- If submitted now, next periodic launch would be at %s.\n", next);
        /* Nomad's table of the allocations the plan would preempt. */
        json_t *pre = jx_arr(jx_obj(resp, "Annotations"), "PreemptedAllocs");
        if (json_array_size(pre) > 0) {
                printf("\nPreemptions:\n\n%-36s  %-20s  %s\n", "Alloc ID", "Job ID", "Task Group");
                size_t k;
                json_t *a;
                json_array_foreach(pre, k, a) printf("%-36s  %-20s  %s\n", jx_str(a, "ID", ""), jx_str(a, "JobID", ""),
                                                      jx_str(a, "TaskGroup", ""));
        }
        long long jmi = (long long)jx_int(resp, "JobModifyIndex", 0);
        printf("\nJob Modify Index: %lld\n", jmi);
        printf("To submit the job with version verification run:\n\n"
               "drover job run -check-index %lld %s\n\n"
               "When running the job with the check-index flag, the job will only be run if the\n"
               "job modify index given matches the server-side version. If the index has\n"
               "changed, another user has modified the job and the plan's results are\n"
               "potentially invalid.\n",
               jmi, file ? file : "<path>");
        return changes ? 1 : 0;
}

static int job_validate_cmd(struct cli *c, int argc, char **argv) {
        _cleanup_json_ json_t *job = NULL;
        if (load_job_args(argc, argv, job_validate_help, NULL, &job, NULL))
                return 1;
        _cleanup_json_ json_t *body = json_pack("{s:O}", "Job", job);
        _cleanup_json_ json_t *resp = NULL;
        struct error err = {0};
        if (cli_send(c, "PUT", "/v1/validate/job", body, &resp, &err) < 0) {
                fprintf(stderr, "Error validating job: %s\n", err.msg);
                return 1;
        }
        json_t *errs = json_object_get(resp, "ValidationErrors");
        if (json_array_size(errs) > 0) {
                fprintf(stderr, "Job validation errors:\n%zu error%s occurred:\n", json_array_size(errs),
                        json_array_size(errs) == 1 ? "" : "s");
                size_t i;
                json_t *e;
                json_array_foreach(errs, i, e) fprintf(stderr, "\t* %s\n", json_string_value(e));
                return 1;
        }
        printf("Job validation successful\n");
        return 0;
}

static int job_inspect_cmd(struct cli *c, int argc, char **argv) {
        const char *id = NULL;
        int n = 0;
        if (cli_args(argc, argv, NULL, 1, 1, "<job>", job_inspect_help, &id, &n))
                return 1;
        _cleanup_free_ char *job_id = NULL;
        if (cli_resolve_prefix(c, "/v1/jobs", "job", id, &job_id))
                return 1;
        _cleanup_free_ char *esc = http_escape(job_id), *path = NULL;
        if (!esc || asprintf(&path, "/v1/job/%s", esc) < 0)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *j = NULL;
        if (cli_get(c, path, &j, NULL, &err) < 0) {
                fprintf(stderr, "Error inspecting job: %s\n", err.msg);
                return 1;
        }
        _cleanup_json_ json_t *out = json_pack("{s:O}", "Job", j);
        _cleanup_free_ char *txt = json_dumps(out, JSON_INDENT(4) | JSON_SORT_KEYS);
        if (!txt)
                return 1;
        printf("%s\n", txt);
        return 0;
}

const struct cli_command cli_job_commands[] = {
    {"run", "Run a new job or update an existing job", job_run_help, job_run},
    {"status", "Display status information about a job", job_status_help, job_status},
    {"stop", "Stop a running job", job_stop_help, job_stop},
    {"plan", "Dry-run a job update to determine its effects", job_plan_help, job_plan_cmd},
    {"validate", "Checks if a given job specification is valid", job_validate_help, job_validate_cmd},
    {"inspect", "Inspect a submitted job", job_inspect_help, job_inspect_cmd},
    {"history", "Display all tracked versions of a job", cli_job_history_help, cli_job_history},
    {"revert", "Revert to a prior version of the job", cli_job_revert_help, cli_job_revert},
    {"periodic", "Interact with periodic jobs (force)", cli_job_periodic_help, cli_job_periodic},
    {"dispatch", "Dispatch an instance of a parameterized job", cli_job_dispatch_help, cli_job_dispatch},
    {"scale", "Change the count of a task group", cli_job_scale_help, cli_job_scale},
    {NULL, NULL, NULL, NULL},
};
