/* hcl_eval.h - evaluate HCL2 expressions, templates and bodies as Nomad 1.x does.
 *
 * Values are jansson values: null, bool, number (an integer when whole and within +-2^53,
 * a real otherwise), string, list (array), object/map (object). A reference to a run-time
 * root - attr.*, node.*, meta.*, env.*, device.*, NOMAD_*, DROVER_* - evaluates to a
 * run-time placeholder that a template or the final conversion renders as "${<source>}", so
 * that the agent interpolates it when the task starts; any other use of it is an error.
 *
 * Scope: `var.NAME` (hcl_eval_set_var), `local.NAME` (hcl_eval_add_local: evaluated on first
 * use, a cycle is an error), for-expression variables, dynamic-block iterators.
 *
 * Bounds, so that a hostile job file can exhaust neither memory nor time: nesting depth
 * (HCL_EXPR_MAX_DEPTH), HCL_EVAL_MAX_STRING bytes per string, HCL_EVAL_MAX_ITEMS elements per
 * collection, HCL_EVAL_MAX_WORK evaluation steps and HCL_EVAL_MAX_BYTES bytes produced per
 * context. Every error is "FILE:LINE:COL: message".
 *
 * Not thread-safe; one context per job file.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct error;
struct hcl_value;
struct hcl_body;

#define HCL_EVAL_MAX_STRING (1u << 20)
#define HCL_EVAL_MAX_ITEMS 100000u
#define HCL_EVAL_MAX_WORK 1000000u
#define HCL_EVAL_MAX_BYTES (64u << 20)
#define HCL_EVAL_MAX_FILE (1u << 20)

struct hcl_eval;

/* file names the source in errors; dir is where file() reads from (NULL: file() is an
 * error, as for a job read from stdin or the API). */
int hcl_eval_create(const char *file, const char *dir, struct hcl_eval **ret, struct error *err);
struct hcl_eval *hcl_eval_free(struct hcl_eval *ev);
void hcl_eval_freep(struct hcl_eval **ev);

/* Bind var.NAME to value (a new reference is taken). */
int hcl_eval_set_var(struct hcl_eval *ev, const char *name, json_t *value, struct error *err);

/* Declare local.NAME as expr (borrowed: must outlive ev). A second declaration is an error. */
int hcl_eval_add_local(struct hcl_eval *ev, const char *name, const struct hcl_value *expr, int line, int col,
                       struct error *err);

/* Evaluate every local value once (as Nomad does: an unused local with an error, or a
 * cycle, is still an error). */
int hcl_eval_all_locals(struct hcl_eval *ev, struct error *err);

/* Evaluate an attribute value. The caller owns *ret. */
int hcl_eval_value(struct hcl_eval *ev, const struct hcl_value *v, json_t **ret, struct error *err);

/* Parse and evaluate expression text found at file:line:col (a -var value, for instance). */
int hcl_eval_text(struct hcl_eval *ev, const char *text, const char *file, int line, int col, json_t **ret,
                  struct error *err);

/* Convert value to the type constraint written as type_expr (`string`, `list(number)`,
 * `map(string)`, `object({a = string})`, `any`; NULL is any). A mismatch is reported at
 * line:col as "WHAT: expected a value of type T, found K". The caller owns *ret. */
int hcl_eval_convert(struct hcl_eval *ev, const struct hcl_value *type_expr, json_t *value, const char *what, int line,
                     int col, json_t **ret, struct error *err);

/* Evaluate every attribute of body in place, so that only literals remain (run-time
 * references become "${...}" strings), and expand `dynamic "type" { for_each, iterator,
 * labels, content {} }` blocks into the blocks they describe. */
int hcl_eval_body(struct hcl_eval *ev, struct hcl_body *body, struct error *err);

/* A run-time placeholder? (see above) */
bool hcl_eval_is_runtime(const json_t *v);

/* Literal tree for value (run-time placeholders become "${...}" strings); NULL when out of memory. */
struct hcl_value *hcl_value_from_json(const json_t *v, int line, int col);
