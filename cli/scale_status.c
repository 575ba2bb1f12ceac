/* scale_status.c - `drover job scale`, `drover status [prefix]` and
 * `drover completion bash`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/jsonx.h"
#include "common/macros.h"

/* ---- job scale ------------------------------------------------------------------ */

const char cli_job_scale_help[] = "Usage: drover job scale [options] <job> [<group>] <count>\n\n"
                                  "  Change the count of a task group: the job gets a new version with that count\n"
                                  "  (PUT /v1/job/<job>/scale), and the evaluation is followed. The group may be left\n"
                                  "  out when the job has one. With -json or -t and no count, prints the job's scale\n"
                                  "  status (GET /v1/job/<job>/scale).\n\n"
                                  "Options:\n"
                                  "  -address=<addr>   API address\n"
                                  "  -detach           return at once with the evaluation ID\n"
                                  "  -verbose          full IDs\n"
                                  "  -json, -t=<tmpl>  print the scale status (no count given)\n\n"
                                  "Exit codes: 0 scaled (and placed when followed); 1 error; 2 placement failures.\n";

static bool parse_count(const char *s, long *ret) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || !*s || *end || v < 0 || v > 50000)
                return false;
        *ret = v;
        return true;
}

int cli_job_scale(struct cli *c, int argc, char **argv) {
        bool detach = false, verbose = false;
        const char *args[3];
        int n = 0;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-detach") == 0)
                        detach = true;
                else if (strcmp(argv[i], "-verbose") == 0)
                        verbose = true;
                else if (argv[i][0] == '-' && argv[i][1]) {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], cli_job_scale_help);
                        return 1;
                } else if (n < 3)
                        args[n++] = argv[i];
                else {
                        fprintf(stderr, "Too many arguments\n\n%s", cli_job_scale_help);
                        return 1;
                }
        }
        bool status_only = n == 1 && (c->json || c->tmpl);
        if (n < 2 && !status_only) {
                fprintf(stderr, "Expected a job, an optional group and a count\n\n%s", cli_job_scale_help);
                return 1;
        }
        _cleanup_free_ char *job_id = NULL;
        if (cli_resolve_prefix(c, "/v1/jobs", "job", args[0], &job_id))
                return 1;
        _cleanup_free_ char *esc = http_escape(job_id), *path = NULL;
        if (!esc || asprintf(&path, "/v1/job/%s/scale", esc) < 0)
                return 1;
        struct error err = {0};
        if (status_only) {
                _cleanup_json_ json_t *st = NULL;
                if (cli_get(c, path, &st, NULL, &err) < 0) {
                        fprintf(stderr, "Error querying the job's scale status: %s\n", err.msg);
                        return 1;
                }
                return cli_output(c, st);
        }
        long count;
        if (!parse_count(args[n - 1], &count)) {
                fprintf(stderr, "Invalid count \"%s\": expected an integer from 0 to 50000\n", args[n - 1]);
                return 1;
        }
        _cleanup_free_ char *group = n == 3 ? strdup(args[1]) : NULL;
        if (!group) {
                _cleanup_free_ char *jpath = NULL;
                if (asprintf(&jpath, "/v1/job/%s", esc) < 0)
                        return 1;
                _cleanup_json_ json_t *job = NULL;
                if (cli_get(c, jpath, &job, NULL, &err) < 0) {
                        fprintf(stderr, "Error querying job: %s\n", err.msg);
                        return 1;
                }
                json_t *groups = json_object_get(job, "TaskGroups");
                if (json_array_size(groups) != 1) {
                        fprintf(stderr, "Job \"%s\" has %zu task groups: name the one to scale\n", job_id,
                                json_array_size(groups));
                        return 1;
                }
                group = strdup(jx_str(json_array_get(groups, 0), "Name", ""));
        }
        char msg[128];
        snprintf(msg, sizeof(msg), "submitted using the Drover CLI");
        _cleanup_json_ json_t *body =
            json_pack("{s:I,s:{s:s},s:s}", "Count", (json_int_t)count, "Target", "Group", group, "Message", msg);
        _cleanup_json_ json_t *resp = NULL;
        if (!body || cli_send(c, "POST", path, body, &resp, &err) < 0) {
                fprintf(stderr, "Error submitting scaling request: %s\n", err.msg);
                return 1;
        }
        const char *eval_id = jx_str(resp, "EvalID", "");
        if (detach || !*eval_id) {
                printf("Job scale successful\n");
                if (*eval_id)
                        printf("Evaluation ID: %s\n", eval_id);
                return 0;
        }
        return cli_monitor_eval(c, eval_id, verbose);
}

/* ---- status ---------------------------------------------------------------------- */

const char cli_status_help[] = "Usage: drover status [options] [<prefix>]\n\n"
                               "  Without an argument, the jobs (as drover job status). With an ID or prefix,\n"
                               "  whichever job, node, allocation or evaluation it names (POST /v1/search over\n"
                               "  all contexts), as that kind's status command shows it.\n\n"
                               "Options:\n"
                               "  -address=<addr>   API address\n"
                               "  -verbose          full IDs and more detail\n"
                               "  -json, -t=<tmpl>  the API's JSON, or formatted with a template\n\n"
                               "Exit codes: 0; 1 error, no match or a prefix matching objects of several kinds.\n";

static int run_status_of(struct cli *c, const struct cli_command *cmds, int argc, char **argv) {
        for (const struct cli_command *k = cmds; k->name; k++)
                if (strcmp(k->name, "status") == 0)
                        return k->run(c, argc, argv);
        return 1;
}

int cli_status(struct cli *c, int argc, char **argv) {
        const char *prefix = NULL;
        char *pass[3];
        int npass = 0;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-verbose") == 0)
                        pass[npass++] = argv[i];
                else if (argv[i][0] == '-') {
                        fprintf(stderr, "Unknown flag \"%s\"\n\n%s", argv[i], cli_status_help);
                        return 1;
                } else if (!prefix)
                        prefix = argv[i];
                else {
                        fprintf(stderr, "Too many arguments\n\n%s", cli_status_help);
                        return 1;
                }
        }
        if (!prefix)
                return run_status_of(c, cli_job_commands, npass, pass);
        struct error err = {0};
        _cleanup_json_ json_t *body = json_pack("{s:s,s:s}", "Prefix", prefix, "Context", "all");
        _cleanup_json_ json_t *resp = NULL;
        if (!body || cli_send(c, "POST", "/v1/search", body, &resp, &err) < 0) {
                fprintf(stderr, "Error querying search with id: \"%s\": %s\n", prefix, err.msg);
                return 1;
        }
        static const struct {
                const char *context;
                const struct cli_command *cmds;
        } kinds[] = {{"jobs", cli_job_commands},
                     {"nodes", cli_node_commands},
                     {"allocs", cli_alloc_commands},
                     {"evals", cli_eval_commands}};
        json_t *matches = json_object_get(resp, "Matches");
        int found = -1, kinds_found = 0;
        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
                if (json_array_size(json_object_get(matches, kinds[i].context)) > 0) {
                        found = (int)i;
                        kinds_found++;
                }
        if (kinds_found == 0) {
                fprintf(stderr, "No matches found for \"%s\"\n", prefix);
                return 1;
        }
        if (kinds_found > 1) {
                fprintf(stderr, "Prefix \"%s\" matched objects of several kinds; use the command of one:\n", prefix);
                for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
                        json_t *ids = json_object_get(matches, kinds[i].context), *v;
                        size_t k;
                        json_array_foreach(ids, k, v)
                            fprintf(stderr, "  %-7s %s\n", kinds[i].context, json_string_value(v));
                }
                return 1;
        }
        pass[npass++] = (char *)prefix;
        return run_status_of(c, kinds[found].cmds, npass, pass);
}

/* ---- completion --------------------------------------------------------------------- */

const char cli_completion_help[] = "Usage: drover completion bash\n\n"
                                   "  Print a bash completion script for drover's commands and subcommands:\n"
                                   "    source <(drover completion bash)\n"
                                   "  or install it as /usr/share/bash-completion/completions/drover.\n";

static void words(const struct cli_command *cmds) {
        for (const struct cli_command *k = cmds; k->name; k++)
                printf("%s%s", k == cmds ? "" : " ", k->name);
}

int cli_completion(struct cli *c, int argc, char **argv) {
        (void)c;
        if (argc != 1 || strcmp(argv[0], "bash") != 0) {
                fprintf(stderr, "%s", cli_completion_help);
                return 1;
        }
        printf("# bash completion for drover (generated by `drover completion bash`)\n"
               "_drover() {\n"
               "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" words=\"\"\n"
               "    local globals=\"-address -region -namespace -token -json -t -help -ca-cert -client-cert -client-key\"\n"
               "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
               "        words=\"job node alloc eval deployment status server operator acl tls agent-info dev version completion\"\n"
               "    elif [ \"$COMP_CWORD\" -eq 2 ]; then\n"
               "        case \"${COMP_WORDS[1]}\" in\n");
        static const struct {
                const char *group;
                const struct cli_command *cmds;
        } groups[] = {{"job", cli_job_commands},   {"node", cli_node_commands},     {"alloc", cli_alloc_commands},
                      {"eval", cli_eval_commands}, {"server", cli_server_commands}, {"acl", cli_acl_commands},
                      {"deployment", cli_deployment_commands}};
        for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
                printf("            %s) words=\"", groups[i].group);
                words(groups[i].cmds);
                printf("%s\" ;;\n", strcmp(groups[i].group, "acl") == 0 ? " policy role token" : "");
        }
        printf("            operator) words=\"raft snapshot scheduler\" ;;\n"
               "            tls) words=\"ca cert\" ;;\n"
               "            completion) words=\"bash\" ;;\n"
               "        esac\n"
               "    elif [ \"$COMP_CWORD\" -eq 3 ]; then\n"
               "        case \"${COMP_WORDS[1]} ${COMP_WORDS[2]}\" in\n"
               "            \"operator raft\") words=\"");
        words(cli_operator_raft_commands);
        printf("\" ;;\n            \"operator snapshot\") words=\"");
        words(cli_operator_snapshot_commands);
        printf("\" ;;\n            \"operator scheduler\") words=\"");
        words(cli_operator_scheduler_commands);
        printf("\" ;;\n            \"acl role\") words=\"");
        words(cli_acl_role_commands);
        printf("\" ;;\n            \"acl policy\") words=\"");
        words(cli_acl_policy_commands);
        printf("\" ;;\n            \"acl token\") words=\"");
        words(cli_acl_token_commands);
        printf("\" ;;\n"
               "        esac\n"
               "    fi\n"
               "    case \"$cur\" in\n"
               "        -*) COMPREPLY=($(compgen -W \"$globals\" -- \"$cur\")) ;;\n"
               "        *) if [ -n \"$words\" ]; then COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"));\n"
               "           else COMPREPLY=($(compgen -f -- \"$cur\")); fi ;;\n"
               "    esac\n"
               "}\n"
               "complete -F _drover drover\n");
        return 0;
}
