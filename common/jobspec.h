/* jobspec.h - Nomad job file (HCL2 syntax, or JSON) -> Nomad API Job object.
 *
 * The result is what Nomad's jobspec parser returns: an api.Job BEFORE Canonicalize(), with
 * the JSON wire names (PascalCase) as keys, durations in integer nanoseconds and no defaults
 * filled in (`job "foo" {}` yields only ID and Name). Only fields present in the file appear.
 *
 * HCL2 is evaluated as Nomad 1.x does (common/hcl_eval.h): `variable` blocks (type, default,
 * validation) take their values from jobspec_opts (-var, -var-file, NOMAD_VAR_*), `locals`
 * blocks, functions, operators, conditionals, for expressions, templates and `dynamic`
 * blocks. References to run-time values (${attr.*}, ${node.*}, ${meta.*}, ${env.*},
 * ${device.*}, ${NOMAD_*}, ${DROVER_*}) stay in the strings for the agent to interpolate;
 * anything else that cannot be evaluated is an error "FILE:LINE:COL: ...".
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;

/* Where variable values come from, and where file() reads. Precedence, lowest first: the
 * variable's default, NOMAD_VAR_<name> (when env), each var file in order, each "-var" in
 * order. */
struct jobspec_opts {
        const char *const *vars; /* "NAME=VALUE" */
        size_t n_vars;
        const char *const *var_files; /* paths of HCL files of NAME = value lines */
        size_t n_var_files;
        const char *dir; /* directory file() reads from; NULL: file() is an error */
        bool env;        /* read NOMAD_VAR_<name> from the environment */
};

/* Parse a job file held in memory. Content starting with '{' is taken as JSON (either
 * {"Job": {...}} or a bare Job object). Returns 0 and the Job object (caller owns it), or a
 * negative errno with err holding "FILE:LINE:COL: ..." for syntax and schema errors. */
int jobspec_parse(const char *src, size_t len, const char *filename, json_t **ret_job, struct error *err);
/* The same with variable values and a directory for file() (opts may be NULL). */
int jobspec_parse_opts(const char *src, size_t len, const char *filename, const struct jobspec_opts *opts,
                       json_t **ret_job, struct error *err);

/* Read and parse path (see jobspec_parse); file() reads relative to path's directory. */
int jobspec_parse_file(const char *path, json_t **ret_job, struct error *err);
/* The same with opts (may be NULL); opts->dir NULL means path's directory. */
int jobspec_parse_file_opts(const char *path, const struct jobspec_opts *opts, json_t **ret_job, struct error *err);

/* Go time.ParseDuration: "10s", "1h30m", "1.5h", "500ms", "-2m" -> nanoseconds. */
int jobspec_parse_duration(const char *s, int64_t *ret_ns);
