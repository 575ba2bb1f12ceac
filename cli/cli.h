/* cli.h - shared pieces of the `drover` command. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct error;

struct cli {
        const char *address; /* -address, DROVER_ADDR, or http://127.0.0.1:4646 */
        const char *prog;    /* argv[0] for messages */
        bool json;           /* -json: print the API's JSON instead of the tables */
        const char *tmpl;    /* -t: format the API's JSON with this template (output.c) */
        const char *region;    /* -region, $DROVER_REGION, $NOMAD_REGION: ?region= on every request */
        const char *namespace; /* -namespace, $DROVER_NAMESPACE, $NOMAD_NAMESPACE: ?namespace= */
};

/* A subcommand: argc/argv start at the subcommand's own arguments. Returns the exit code. */
struct cli_command {
        const char *name; /* "job run" */
        const char *synopsis;
        const char *help;
        int (*run)(struct cli *c, int argc, char **argv);
};

extern const struct cli_command cli_job_commands[];
extern const struct cli_command cli_node_commands[];
extern const struct cli_command cli_alloc_commands[];
extern const struct cli_command cli_eval_commands[];
extern const struct cli_command cli_deployment_commands[]; /* deployment.c */
/* After `job run`: follow the deployment the registration made (the job's latest, when
 * its JobModifyIndex is the registration's) until it ends, in Nomad's layout. 0 when
 * there is none or it succeeded; 1 when it failed or was cancelled. */
int cli_monitor_deployment(struct cli *c, const char *job_id, int64_t job_modify_index, bool verbose);
extern const struct cli_command cli_server_commands[];
extern const struct cli_command cli_operator_raft_commands[];
extern const struct cli_command cli_operator_snapshot_commands[];
extern const struct cli_command cli_operator_scheduler_commands[]; /* operator_sched.c */
extern const struct cli_command cli_acl_commands[], cli_acl_policy_commands[], cli_acl_role_commands[],
    cli_acl_token_commands[];
extern const struct cli_command cli_tls_ca_commands[], cli_tls_cert_commands[]; /* tls.c */
int cli_dev(struct cli *c, int argc, char **argv);
/* scale_status.c */
int cli_job_scale(struct cli *c, int argc, char **argv);
int cli_status(struct cli *c, int argc, char **argv);
int cli_completion(struct cli *c, int argc, char **argv);
extern const char cli_job_scale_help[], cli_status_help[], cli_completion_help[];
/* ops.c */
int cli_node_drain(struct cli *c, int argc, char **argv);
int cli_node_eligibility(struct cli *c, int argc, char **argv);
int cli_alloc_stop(struct cli *c, int argc, char **argv);
int cli_eval_list(struct cli *c, int argc, char **argv);
int cli_agent_info(struct cli *c, int argc, char **argv);
extern const char cli_node_drain_help[], cli_node_eligibility_help[], cli_alloc_stop_help[], cli_eval_list_help[],
    cli_agent_info_help[];
extern const char cli_dev_help[];
/* alloc_ctl.c */
int cli_alloc_restart(struct cli *c, int argc, char **argv);
int cli_alloc_signal(struct cli *c, int argc, char **argv);
extern const char cli_alloc_restart_help[], cli_alloc_signal_help[];
/* job_kinds.c */
int cli_job_history(struct cli *c, int argc, char **argv);
int cli_job_revert(struct cli *c, int argc, char **argv);
int cli_job_periodic(struct cli *c, int argc, char **argv);
int cli_job_dispatch(struct cli *c, int argc, char **argv);
/* `job status` of a periodic or parameterized parent: next launch, children summary
 * and list (true); false for other jobs (nothing printed). */
bool cli_job_kinds_status(struct cli *c, const json_t *job, const json_t *summary);
/* `job run` of a job the server made no evaluation for (a periodic or parameterized
 * parent): "Job registration successful" and, for a periodic one, the next launch. */
int cli_job_kinds_registered(const json_t *job);
extern const char cli_job_history_help[], cli_job_revert_help[], cli_job_periodic_help[], cli_job_dispatch_help[];

/* Parse the common flags (-address=X, -address X; -region, -namespace; -ca-cert, -client-cert,
 * -client-key, else $DROVER_CACERT, $DROVER_CLIENT_CERT, $DROVER_CLIENT_KEY or
 * their NOMAD_* names; -token, else $DROVER_TOKEN or $NOMAD_TOKEN, sent as
 * X-Nomad-Token) out of argv in place; also -h/-help. Returns the new argc,
 * -1 when help was asked for, -2 after printing a bad TLS setting. */
int cli_parse_common(struct cli *c, int argc, char **argv, const char *help);

/* "-name=X", "-name X" (or --name) at argv[*i]: true and *ret (X, argv[*i] then
 * past it) when it is one; false for anything else, a bare -name at the end too. */
bool cli_opt(const char *name, int argc, char **argv, int *i, const char **ret);

/* One flag of a command, for cli_args: -name sets *ret_set to set_to; with
 * ret_value, -name=V and -name V store V there instead (the last one wins). */
struct cli_flag {
        const char *name; /* "-verbose" */
        const char **ret_value;
        bool *ret_set;
        bool set_to;
};

/* Scan a command's arguments (after cli_parse_common): the flags in flags (ended
 * by a zeroed row) and from min to max operands, in order, into ret_ops. An
 * unknown flag, or too few or too many operands, prints why and help and returns
 * 1 ("This command takes one or two arguments: <allocation> [<task>]", operands
 * naming them); else 0 and *ret_n. */
int cli_args(int argc, char **argv, const struct cli_flag *flags, int min, int max, const char *operands,
             const char *help, const char **ret_ops, int *ret_n);

/* GET/PUT/DELETE against the API. Print errors as "Error ...: msg" and return 1. */
int cli_get(struct cli *c, const char *path, json_t **ret, uint64_t *ret_index, struct error *err);
int cli_send(struct cli *c, const char *method, const char *path, const json_t *body, json_t **ret,
             struct error *err);
/* cli_send waiting up to timeout_ms (30 s above) for the answer. */
int cli_send_timeout(struct cli *c, const char *method, const char *path, const json_t *body, long timeout_ms,
                     json_t **ret, struct error *err);

/* Resolve a unique ID prefix through a list endpoint ("/v1/allocations"):
 * 0 and *ret_id, or prints what went wrong and returns 1. */
/* Print why each task group could not be placed (an eval's FailedTGAllocs), as Nomad does. */
void cli_print_placement_failures(const json_t *failed_tg_allocs);

int cli_resolve_prefix(struct cli *c, const char *list_path, const char *what, const char *prefix, char **ret_id);

/* Formatting. */
const char *cli_short_id(const char *id, char buf[9]);
void cli_fmt_time_ns(int64_t ns, char *buf, size_t len);  /* "2026-11-24T10:00:00Z" */
void cli_fmt_age_ns(int64_t ns, char *buf, size_t len);   /* "12s ago" */
void cli_print_kv(const char *const *keys, const char *const *vals, int n);

/* A column-aligned table: add rows of n cells, then print. */
struct table;
struct table *table_new(int ncols, const char *const *headers);
void table_add(struct table *t, const char *const *cells);
void table_print(struct table *t); /* prints and frees */

/* output.c: with -t or -json, print data (the template, or the JSON indented) and
 * return the exit code (0, or 1 after a template error); -1 when neither is set. */
#include <stdio.h>
int cli_output(struct cli *c, const json_t *data);
/* Render the Go-template subset (output.c) of data to out; -EINVAL with the reason
 * (nothing printed) for a template it cannot run. */
int cli_template_render(const char *tmpl, const json_t *data, FILE *out, struct error *err);

/* Eval monitor shared by job run / job stop. */
int cli_monitor_eval(struct cli *c, const char *eval_id, bool verbose);
