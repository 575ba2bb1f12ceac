/* main.c - the `drover` command: dispatch to subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define DROVER_VERSION "0.1.0"

static const char usage[] =
    "Usage: drover [-version] [-help] [-address=<addr>] [-region=<r>] [-namespace=<ns>] <command> [args]\n"
    "       (-name=<value> or -name <value>; every other flag goes after the command)\n\n"
    "Common commands:\n"
    "    job run <file>      Run a new job or update an existing job\n"
    "    job status [<job>]  Display status information about jobs\n"
    "    job stop <job>      Stop a running job\n"
    "    job scale <job> [<group>] <count>  Change the count of a task group\n"
    "    job plan|validate <file>  Dry-run a job update / check a job file\n"
    "    job inspect|history|revert|dispatch|periodic force  Versions and job kinds\n"
    "    status [<prefix>]   Status of the job, node, allocation or evaluation a prefix names\n"
    "    node status [<id>]  Display status information about nodes\n"
    "    node drain|eligibility <id>  Drain a node / toggle its scheduling eligibility\n"
    "    alloc status <id>   Display allocation status information\n"
    "    alloc logs <id> [<task>]  Print a task's logs\n"
    "    alloc stop|restart|signal <id>  Stop, restart or signal an allocation\n"
    "    eval status <id>|list  Display evaluation status / list evaluations\n"
    "    deployment list|status|promote|fail|pause|resume  Inspect and control deployments\n"
    "    agent-info          Display status information about the server\n"
    "    server members      Display the servers: address, status, leader, build, datacenter, region\n"
    "    server force-leave  Remove a server from the Raft configuration, by name\n"
    "    operator raft list-peers|remove-peer  Show or change the Raft configuration\n"
    "    operator snapshot save|restore <file>  Save or restore the cluster's state\n"
    "    operator scheduler get-config|set-config  Show or change the scheduler configuration\n"
    "    acl bootstrap|policy|role|token  Manage ACL policies, roles and tokens\n"
    "    tls ca create|cert create   Create the cluster CA and certificates (mutual TLS)\n"
    "    dev                 Start a one-host development cluster\n"
    "    version             Print the version\n"
    "    completion bash     Print a bash completion script\n\n"
    "The API address comes from -address, then $DROVER_ADDR, then $NOMAD_ADDR, then http://127.0.0.1:4646.\n"
    "HTTPS: -ca-cert, -client-cert and -client-key (or $DROVER_CACERT, $DROVER_CLIENT_CERT,\n"
    "$DROVER_CLIENT_KEY; NOMAD_* names too) after the command, e.g. drover job status -ca-cert ca.pem.\n"
    "Region and namespace: -region and -namespace (before or after the command), or $DROVER_REGION,\n"
    "$DROVER_NAMESPACE (NOMAD_* names too), sent as ?region= and ?namespace= on every request.\n"
    "ACL token: -token after the command, or $DROVER_TOKEN / $NOMAD_TOKEN (sent as X-Nomad-Token).\n"
    "Output: -json (the API's JSON) or -t=<template> (Go-template subset) after the command.\n"
    "IDs may be given by unique prefix. Run \"drover <command> -help\" for a command's options.\n"
    "Exit codes: 0 success; 1 error; 2 job run/scale: placement failures; job plan: 1 changes, 255 error.\n";

static const char version_help[] = "Usage: drover version [-json | -t=<template>]\n\n"
                                   "  Print drover's version.\n";

static int run_group(struct cli *c, const char *group, const struct cli_command *cmds, int argc, char **argv) {
        if (argc < 1 || strcmp(argv[0], "-help") == 0 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
                printf("Usage: drover %s <subcommand> [options] [args]\n\nSubcommands:\n", group);
                for (const struct cli_command *k = cmds; k->name; k++)
                        printf("    %-8s %s\n", k->name, k->synopsis);
                return argc < 1 ? 1 : 0;
        }
        for (const struct cli_command *k = cmds; k->name; k++) {
                if (strcmp(k->name, argv[0]) != 0)
                        continue;
                int n = cli_parse_common(c, argc - 1, argv + 1, k->help);
                if (n < 0)
                        return n == -1 ? 0 : 1;
                return k->run(c, n, argv + 1);
        }
        fprintf(stderr, "drover %s: unknown subcommand \"%s\"\n", group, argv[0]);
        fprintf(stderr, "Run \"drover %s -help\" for the list.\n", group);
        return 1;
}

/* A flag before the command that is not one of -address, -region, -namespace (each
 * as -name=<value> or -name <value>): say where it goes and return the exit code. Nomad's
 * CLI takes no flags before the command ("Invalid flags before the subcommand"); drover
 * takes those three there too, every other flag only after the command. */
static int bad_leading_flag(const char *arg) {
        static const char *const global[] = {"address", "region", "namespace"};
        static const char *const after[] = {"token", "ca-cert", "client-cert", "client-key", "json", "t"};
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        size_t len = strcspn(name, "=");
        for (size_t k = 0; k < sizeof(global) / sizeof(global[0]); k++)
                if (strlen(global[k]) == len && strncmp(name, global[k], len) == 0) {
                        fprintf(stderr, "drover: flag \"%s\" needs a value: -%s=<value> or -%s <value>\n", arg,
                                global[k], global[k]);
                        return 1;
                }
        for (size_t k = 0; k < sizeof(after) / sizeof(after[0]); k++)
                if (strlen(after[k]) == len && strncmp(name, after[k], len) == 0) {
                        const char *value = strcmp(after[k], "json") == 0 ? "" : "=<value>";
                        fprintf(stderr,
                                "drover: flag \"%s\" goes after the command, as in Nomad: drover <command> -%s%s [args]\n"
                                "(for example: drover job status -%s%s). Only -address, -region and -namespace may\n"
                                "also come before the command.\n",
                                arg, after[k], value, after[k], value);
                        return 1;
                }
        fprintf(stderr,
                "drover: unknown flag \"%s\" before the command; a command's own flags go after it\n"
                "(drover <command> %s [args]; \"drover <command> -help\" lists them)\n\n%s",
                arg, arg, usage);
        return 1;
}

int main(int argc, char **argv) {
        struct cli c = {.prog = argv[0]};
        const char *env = getenv("DROVER_ADDR");
        if (!env || !*env)
                env = getenv("NOMAD_ADDR");
        c.address = env && *env ? env : "http://127.0.0.1:4646";
        static const char *const scope_env[2][2] = {{"DROVER_REGION", "NOMAD_REGION"},
                                                    {"DROVER_NAMESPACE", "NOMAD_NAMESPACE"}};
        for (int k = 0; k < 2; k++) {
                const char *v = getenv(scope_env[k][0]);
                if (!v || !*v)
                        v = getenv(scope_env[k][1]);
                *(k == 0 ? &c.region : &c.namespace) = v && *v ? v : NULL;
        }
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if (strcmp(argv[i], "-version") == 0 || strcmp(argv[i], "--version") == 0 ||
                    strcmp(argv[i], "-v") == 0) {
                        printf("drover v%s\n", DROVER_VERSION);
                        return 0;
                }
                if (strcmp(argv[i], "-help") == 0 || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                        fputs(usage, stdout);
                        return 0;
                }
                const char *v;
                if (cli_opt("region", argc, argv, &i, &v))
                        c.region = v;
                else if (cli_opt("namespace", argc, argv, &i, &v))
                        c.namespace = v;
                else if (cli_opt("address", argc, argv, &i, &v))
                        c.address = v;
                else
                        return bad_leading_flag(argv[i]);
        }
        if (i >= argc) {
                fputs(usage, stderr);
                return 1;
        }
        const char *cmd = argv[i];
        int rest = argc - i - 1;
        char **rargv = argv + i + 1;
        if (strcmp(cmd, "job") == 0)
                return run_group(&c, "job", cli_job_commands, rest, rargv);
        if (strcmp(cmd, "node") == 0)
                return run_group(&c, "node", cli_node_commands, rest, rargv);
        if (strcmp(cmd, "alloc") == 0)
                return run_group(&c, "alloc", cli_alloc_commands, rest, rargv);
        if (strcmp(cmd, "deployment") == 0)
                return run_group(&c, "deployment", cli_deployment_commands, rest, rargv);
        if (strcmp(cmd, "eval") == 0)
                return run_group(&c, "eval", cli_eval_commands, rest, rargv);
        if (strcmp(cmd, "server") == 0)
                return run_group(&c, "server", cli_server_commands, rest, rargv);
        if (strcmp(cmd, "operator") == 0) {
                if (rest >= 1 && strcmp(rargv[0], "snapshot") == 0)
                        return run_group(&c, "operator snapshot", cli_operator_snapshot_commands, rest - 1, rargv + 1);
                if (rest >= 1 && strcmp(rargv[0], "scheduler") == 0)
                        return run_group(&c, "operator scheduler", cli_operator_scheduler_commands, rest - 1,
                                         rargv + 1);
                if (rest < 1 || strcmp(rargv[0], "raft") != 0) {
                        fprintf(stderr, "Usage: drover operator raft <list-peers|remove-peer> [options]\n"
                                        "       drover operator snapshot <save|restore> [options] <file>\n"
                                        "       drover operator scheduler <get-config|set-config> [options]\n");
                        return 1;
                }
                return run_group(&c, "operator raft", cli_operator_raft_commands, rest - 1, rargv + 1);
        }
        if (strcmp(cmd, "acl") == 0) {
                if (rest >= 1 && strcmp(rargv[0], "policy") == 0)
                        return run_group(&c, "acl policy", cli_acl_policy_commands, rest - 1, rargv + 1);
                if (rest >= 1 && strcmp(rargv[0], "token") == 0)
                        return run_group(&c, "acl token", cli_acl_token_commands, rest - 1, rargv + 1);
                if (rest >= 1 && strcmp(rargv[0], "role") == 0)
                        return run_group(&c, "acl role", cli_acl_role_commands, rest - 1, rargv + 1);
                if (rest < 1 || strcmp(rargv[0], "bootstrap") != 0) {
                        fprintf(rest < 1 ? stderr : stdout,
                                "Usage: drover acl bootstrap\n"
                                "       drover acl policy <apply|list|info|delete> [options] [args]\n"
                                "       drover acl role <create|list|info|update|delete> [options] [args]\n"
                                "       drover acl token <create|list|info|delete|self> [options] [args]\n"
                                "The token to act with: -token, $DROVER_TOKEN or $NOMAD_TOKEN.\n");
                        return rest >= 1 && (strcmp(rargv[0], "-help") == 0 || strcmp(rargv[0], "-h") == 0 ||
                                             strcmp(rargv[0], "--help") == 0)
                                   ? 0
                                   : 1;
                }
                return run_group(&c, "acl", cli_acl_commands, rest, rargv);
        }
        if (strcmp(cmd, "tls") == 0) {
                if (rest >= 1 && strcmp(rargv[0], "ca") == 0)
                        return run_group(&c, "tls ca", cli_tls_ca_commands, rest - 1, rargv + 1);
                if (rest >= 1 && strcmp(rargv[0], "cert") == 0)
                        return run_group(&c, "tls cert", cli_tls_cert_commands, rest - 1, rargv + 1);
                fprintf(stderr, "Usage: drover tls ca create [options]\n"
                                "       drover tls cert create -server|-client|-cli [options]\n");
                return 1;
        }
        if (strcmp(cmd, "dev") == 0) {
                int n = cli_parse_common(&c, rest, rargv, cli_dev_help);
                return n < 0 ? (n == -1 ? 0 : 1) : cli_dev(&c, n, rargv);
        }
        if (strcmp(cmd, "agent-info") == 0) {
                int n = cli_parse_common(&c, rest, rargv, cli_agent_info_help);
                return n < 0 ? 0 : cli_agent_info(&c, n, rargv);
        }
        if (strcmp(cmd, "version") == 0) {
                int n = cli_parse_common(&c, rest, rargv, version_help);
                if (n < 0)
                        return n == -1 ? 0 : 1;
                if (c.json || c.tmpl) {
                        json_t *v = json_pack("{s:s,s:s}", "Version", DROVER_VERSION, "Name", "drover");
                        int r = cli_output(&c, v);
                        json_decref(v);
                        return r;
                }
                printf("drover v%s\n", DROVER_VERSION);
                return 0;
        }
        if (strcmp(cmd, "status") == 0) {
                int n = cli_parse_common(&c, rest, rargv, cli_status_help);
                return n < 0 ? (n == -1 ? 0 : 1) : cli_status(&c, n, rargv);
        }
        if (strcmp(cmd, "completion") == 0) {
                int n = cli_parse_common(&c, rest, rargv, cli_completion_help);
                return n < 0 ? (n == -1 ? 0 : 1) : cli_completion(&c, n, rargv);
        }
        fprintf(stderr, "drover: unknown command \"%s\"\n\n%s", cmd, usage);
        return 1;
}
