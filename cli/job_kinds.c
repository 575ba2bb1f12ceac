/* job_kinds.c - `drover job history`, `job revert`, `job periodic force` and
 * `job dispatch`, in Nomad's output layout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/base64.h"
#include "common/clock.h"
#include "common/cron.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/macros.h"

/* "/v1/job/<escaped id><suffix>" for the job that prefix names, or NULL (printed). */
static char *job_path(struct cli *c, const char *prefix, const char *suffix) {
        _cleanup_free_ char *job_id = NULL;
        if (cli_resolve_prefix(c, "/v1/jobs", "job", prefix, &job_id))
                return NULL;
        _cleanup_free_ char *esc = http_escape(job_id);
        char *path = NULL;
        if (!esc || asprintf(&path, "/v1/job/%s%s", esc, suffix) < 0)
                return NULL;
        return path;
}

static int unknown_flag(const char *flag, const char *help) {
        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", flag, help);
        return 1;
}

/* Monitor the eval of a write's answer, or print its ID with -detach. */
static int follow(struct cli *c, const json_t *resp, bool detach) {
        const char *eval_id = jx_str(resp, "EvalID", "");
        if (!*eval_id)
                return 0;
        if (detach) {
                printf("Evaluation ID: %s\n", eval_id);
                return 0;
        }
        return cli_monitor_eval(c, eval_id, false);
}

/* ---- history ------------------------------------------------------------------------------ */

const char cli_job_history_help[] =
    "Usage: drover job history [options] <job>\n\n"
    "  Display the versions of the job the cluster keeps (the last 6), newest first.\n\n"
    "Options:\n"
    "  -address=<addr>   API address\n"
    "  -version <n>      only this version\n"
    "  -json             the versions as JSON\n";

int cli_job_history(struct cli *c, int argc, char **argv) {
        const char *id = NULL;
        long long only = -1;
        bool as_json = false;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-json") == 0)
                        as_json = true;
                else if (strcmp(argv[i], "-version") == 0 && i + 1 < argc)
                        only = atoll(argv[++i]);
                else if (strncmp(argv[i], "-version=", 9) == 0)
                        only = atoll(argv[i] + 9);
                else if (argv[i][0] == '-')
                        return unknown_flag(argv[i], cli_job_history_help);
                else
                        id = argv[i];
        }
        if (!id) {
                fprintf(stderr, "This command takes one argument: <job>\n\n%s", cli_job_history_help);
                return 1;
        }
        _cleanup_free_ char *path = job_path(c, id, "/versions");
        if (!path)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_get(c, path, &resp, NULL, &err) < 0) {
                fprintf(stderr, "Error retrieving job versions: %s\n", err.msg);
                return 1;
        }
        json_t *versions = json_object_get(resp, "Versions");
        if (as_json) {
                char *s = json_dumps(versions, JSON_INDENT(4));
                if (s)
                        printf("%s\n", s);
                free(s);
                return 0;
        }
        size_t i;
        json_t *v;
        bool first = true, found = false;
        json_array_foreach(versions, i, v) {
                long long ver = (long long)jx_int(v, "Version", 0);
                if (only >= 0 && ver != only)
                        continue;
                found = true;
                char date[64];
                cli_fmt_time_ns(jx_int(v, "SubmitTime", 0), date, sizeof(date));
                char vs[32];
                snprintf(vs, sizeof(vs), "%lld", ver);
                const char *keys[] = {"Version", "Stable", "Submit Date"};
                const char *vals[] = {vs, jx_bool(v, "Stable", false) ? "true" : "false", date};
                if (!first)
                        printf("\n");
                first = false;
                cli_print_kv(keys, vals, 3);
        }
        if (only >= 0 && !found) {
                fprintf(stderr, "Error: job \"%s\" has no version %lld (the last 6 are kept)\n", id, only);
                return 1;
        }
        return 0;
}

/* ---- revert ------------------------------------------------------------------------------- */

const char cli_job_revert_help[] =
    "Usage: drover job revert [options] <job> <version>\n\n"
    "  Register the job as it was at <version> (see `drover job history`): a new\n"
    "  version with that specification.\n\n"
    "Options:\n"
    "  -address=<addr>   API address\n"
    "  -detach           print the evaluation ID instead of monitoring it\n"
    "  -check-index <n>  only when the job's current version is <n> (EnforcePriorVersion)\n";

int cli_job_revert(struct cli *c, int argc, char **argv) {
        const char *args[2] = {NULL, NULL};
        int n = 0;
        bool detach = false;
        long long enforce = -1;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-detach") == 0)
                        detach = true;
                else if (strcmp(argv[i], "-check-index") == 0 && i + 1 < argc)
                        enforce = atoll(argv[++i]);
                else if (argv[i][0] == '-')
                        return unknown_flag(argv[i], cli_job_revert_help);
                else if (n < 2)
                        args[n++] = argv[i];
                else
                        n = 3;
        }
        char *end = NULL;
        long long version = n == 2 ? strtoll(args[1], &end, 10) : -1;
        if (n != 2 || !end || *end || version < 0) {
                fprintf(stderr, "This command takes two arguments: <job> <version>\n\n%s", cli_job_revert_help);
                return 1;
        }
        _cleanup_free_ char *path = job_path(c, args[0], "/revert");
        if (!path)
                return 1;
        _cleanup_json_ json_t *body = json_pack("{s:s,s:I}", "JobID", args[0], "JobVersion", (json_int_t)version);
        if (enforce >= 0)
                json_object_set_new(body, "EnforcePriorVersion", json_integer(enforce));
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error retrieving job version: %s\n", err.msg);
                return 1;
        }
        return follow(c, resp, detach);
}

/* ---- periodic force ----------------------------------------------------------------------- */

const char cli_job_periodic_help[] = "Usage: drover job periodic force [options] <job>\n\n"
                                     "  Launch a child of the periodic job now, whatever its schedule (and its\n"
                                     "  prohibit_overlap).\n\n"
                                     "Options:\n"
                                     "  -address=<addr>   API address\n"
                                     "  -detach           print the evaluation ID instead of monitoring it\n";

int cli_job_periodic(struct cli *c, int argc, char **argv) {
        if (argc < 1 || strcmp(argv[0], "force") != 0) {
                fprintf(stderr, "%s", cli_job_periodic_help);
                return 1;
        }
        const char *id = NULL;
        bool detach = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-detach") == 0)
                        detach = true;
                else if (argv[i][0] == '-')
                        return unknown_flag(argv[i], cli_job_periodic_help);
                else
                        id = argv[i];
        }
        if (!id) {
                fprintf(stderr, "This command takes one argument: <job>\n\n%s", cli_job_periodic_help);
                return 1;
        }
        _cleanup_free_ char *path = job_path(c, id, "/periodic/force");
        if (!path)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        _cleanup_json_ json_t *body = json_object();
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error forcing periodic job: %s\n", err.msg);
                return 1;
        }
        if (detach) {
                printf("Force periodic successful\n");
                return follow(c, resp, true);
        }
        return follow(c, resp, false);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

#define PAYLOAD_MAX (16 * 1024)

const char cli_job_dispatch_help[] =
    "Usage: drover job dispatch [options] <parameterized job> [input source]\n\n"
    "  Dispatch an instance of a parameterized job. The payload is the content of\n"
    "  the input source file, or of standard input when it is \"-\" (at most 16 KiB).\n\n"
    "Options:\n"
    "  -address=<addr>   API address\n"
    "  -meta <key>=<value>  dispatch metadata (repeatable)\n"
    "  -detach           print the evaluation ID instead of monitoring it\n";

/* Read at most PAYLOAD_MAX + 1 bytes of path ("-": stdin). */
static int read_payload(const char *path, unsigned char *buf, size_t *ret_n) {
        FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
        if (!f)
                return -errno;
        size_t n = fread(buf, 1, PAYLOAD_MAX + 1, f);
        int bad = ferror(f);
        if (f != stdin)
                fclose(f);
        if (bad)
                return -EIO;
        *ret_n = n;
        return 0;
}

int cli_job_dispatch(struct cli *c, int argc, char **argv) {
        const char *id = NULL, *input = NULL;
        bool detach = false;
        _cleanup_json_ json_t *meta = json_object();
        for (int i = 0; i < argc; i++) {
                const char *kv = NULL;
                if (strcmp(argv[i], "-detach") == 0)
                        detach = true;
                else if (strcmp(argv[i], "-meta") == 0 && i + 1 < argc)
                        kv = argv[++i];
                else if (strncmp(argv[i], "-meta=", 6) == 0)
                        kv = argv[i] + 6;
                else if (argv[i][0] == '-' && argv[i][1])
                        return unknown_flag(argv[i], cli_job_dispatch_help);
                else if (!id)
                        id = argv[i];
                else if (!input)
                        input = argv[i];
                else {
                        fprintf(stderr, "This command takes one or two arguments\n\n%s", cli_job_dispatch_help);
                        return 1;
                }
                if (kv) {
                        const char *eq = strchr(kv, '=');
                        if (!eq || eq == kv) {
                                fprintf(stderr, "Error: -meta takes key=value (got \"%s\")\n", kv);
                                return 1;
                        }
                        _cleanup_free_ char *k = strndup(kv, (size_t)(eq - kv));
                        json_object_set_new(meta, k, json_string(eq + 1));
                }
        }
        if (!id) {
                fprintf(stderr, "This command takes one or two arguments\n\n%s", cli_job_dispatch_help);
                return 1;
        }
        _cleanup_json_ json_t *body = json_pack("{s:s,s:O}", "JobID", id, "Meta", meta);
        if (input) {
                _cleanup_free_ unsigned char *buf = malloc(PAYLOAD_MAX + 1);
                size_t n = 0;
                int r = buf ? read_payload(input, buf, &n) : -ENOMEM;
                if (r < 0) {
                        fprintf(stderr, "Error reading input data: %s: %s\n", input, strerror(-r));
                        return 1;
                }
                if (n > PAYLOAD_MAX) {
                        fprintf(stderr, "Error: the payload is larger than %d bytes\n", PAYLOAD_MAX);
                        return 1;
                }
                _cleanup_free_ char *enc = base64_encode(buf, n);
                if (!enc)
                        return 1;
                json_object_set_new(body, "Payload", json_string(enc));
        }
        _cleanup_free_ char *path = job_path(c, id, "/dispatch");
        if (!path)
                return 1;
        struct error err = {0};
        _cleanup_json_ json_t *resp = NULL;
        if (cli_send(c, "PUT", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Failed to dispatch job: %s\n", err.msg);
                return 1;
        }
        const char *keys[] = {"Dispatched Job ID", "Evaluation ID"};
        const char *vals[] = {jx_str(resp, "DispatchedJobID", ""), jx_str(resp, "EvalID", "")};
        cli_print_kv(keys, vals, 2);
        if (detach)
                return 0;
        printf("\n");
        return follow(c, resp, false);
}

/* "<time> (<n>s from now)" of the next launch of a Periodic block, or "none". */
static void next_launch_text(const json_t *per, bool stopped, char *buf, size_t size) {
        struct cron_periodic p;
        int64_t now = clock_now_ns() / NS_PER_SEC, next = 0;
        snprintf(buf, size, "none");
        if (stopped || cron_periodic_parse(per, &p, NULL) < 0)
                return;
        if (p.enabled && cron_periodic_next(&p, now, &next) == 0) {
                char when[64];
                cli_fmt_time_ns(next * NS_PER_SEC, when, sizeof(when));
                snprintf(buf, size, "%s (%llds from now)", when, (long long)(next - now));
        }
        cron_periodic_clear(&p);
}

int cli_job_kinds_registered(const json_t *job) {
        printf("Job registration successful\n");
        const json_t *per = json_object_get(job, "Periodic");
        if (json_is_object(per) && !json_is_object(json_object_get(job, "ParameterizedJob"))) {
                char text[96];
                next_launch_text(per, false, text, sizeof(text));
                printf("Approximate next launch time: %s\n", text);
        }
        return 0;
}

/* ---- job status of a parent ------------------------------------------------------------ */

bool cli_job_kinds_status(struct cli *c, const json_t *job, const json_t *summary) {
        const json_t *per = json_object_get(job, "Periodic");
        bool periodic = json_is_object(per);
        bool param = json_is_object(json_object_get(job, "ParameterizedJob")) && !jx_bool(job, "Dispatched", false);
        if (!periodic && !param)
                return false;
        if (periodic) {
                /* Computed here from the spec, as Nomad's CLI does. */
                char text[96];
                next_launch_text(per, jx_bool(job, "Stop", false), text, sizeof(text));
                const char *keys[] = {"Next Periodic Launch"};
                const char *vals[] = {text};
                cli_print_kv(keys, vals, 1);
        }
        const json_t *ch = json_object_get(summary, "Children");
        printf("\n%s\n", periodic ? "Children Job Summary" : "Parameterized Job Summary");
        static const char *const hdr[] = {"Pending", "Running", "Dead"};
        struct table *t = table_new(3, hdr);
        char pe[16], ru[16], de[16];
        snprintf(pe, sizeof(pe), "%lld", (long long)jx_int(ch, "Pending", 0));
        snprintf(ru, sizeof(ru), "%lld", (long long)jx_int(ch, "Running", 0));
        snprintf(de, sizeof(de), "%lld", (long long)jx_int(ch, "Dead", 0));
        const char *row[] = {pe, ru, de};
        table_add(t, row);
        table_print(t);
        printf("\n%s\n", periodic ? "Previously Launched Jobs" : "Dispatched Jobs");
        _cleanup_free_ char *esc = http_escape(jx_str(job, "ID", "")), *path = NULL;
        _cleanup_json_ json_t *children = NULL;
        struct error err = {0};
        if (!esc || asprintf(&path, "/v1/jobs?prefix=%s%%2F", esc) < 0 || cli_get(c, path, &children, NULL, &err) < 0) {
                printf("(cannot list them: %s)\n", err.msg);
                return true;
        }
        size_t i, n = 0;
        json_t *j;
        json_array_foreach(children, i, j) n += strcmp(jx_str(j, "ParentID", ""), jx_str(job, "ID", "")) == 0;
        if (n == 0) {
                printf("No %s\n", periodic ? "instances of periodic job found"
                                           : "dispatched instances of parameterized job found");
                return true;
        }
        static const char *const chdr[] = {"ID", "Status"};
        t = table_new(2, chdr);
        json_array_foreach(children, i, j) {
                if (strcmp(jx_str(j, "ParentID", ""), jx_str(job, "ID", "")) != 0)
                        continue;
                const char *cells[] = {jx_str(j, "ID", ""), jx_str(j, "Status", "")};
                table_add(t, cells);
        }
        table_print(t);
        return true;
}
