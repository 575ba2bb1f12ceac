/* jobspec_vars.h - bind a job file's variables and locals into an evaluation context. */
#pragma once

struct error;
struct hcl_body;
struct hcl_eval;
struct jobspec_opts;

/* Declare var.* from the `variable` blocks of body (values from opts, then defaults; each
 * converted to its type and checked by its validation blocks) and local.* from its `locals`
 * blocks. A variable without a value, a value of the wrong type, a failed validation, an
 * undeclared -var or var-file name: errors with file:line:col. opts may be NULL. */
int jobspec_vars_setup(struct hcl_eval *ev, const struct hcl_body *body, const char *file,
                       const struct jobspec_opts *opts, struct error *err);
