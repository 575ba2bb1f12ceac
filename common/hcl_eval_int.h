/* hcl_eval_int.h - what the function library (hcl_funcs.c) uses of the evaluator (hcl_eval.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct hcl_eval;
struct hn;
struct hcl_value;

/* Fill the context's error with "FILE:LINE:COL: msg" at node at; returns -EINVAL. */
int hev_fail(struct hcl_eval *ev, const struct hn *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int hev_oom(struct hcl_eval *ev);
/* Charge work steps and produced bytes; an error once a bound is passed. */
int hev_charge(struct hcl_eval *ev, const struct hn *at, size_t work, size_t bytes);
/* New string value of n bytes, checked against HCL_EVAL_MAX_STRING and valid UTF-8. */
int hev_string(struct hcl_eval *ev, const struct hn *at, const char *s, size_t n, json_t **ret);
/* A number, stored as an integer when whole and within +-2^53. NULL when not finite. */
json_t *hev_num(double d);
const char *hev_type(const json_t *v);
/* Conversions as HCL's automatic ones: number/bool -> string, numeric string -> number,
 * "true"/"false" -> bool. *ret is a new string the caller frees / a plain value. */
int hev_to_string(struct hcl_eval *ev, const struct hn *at, const json_t *v, char **ret, size_t *ret_len);
int hev_to_number(struct hcl_eval *ev, const struct hn *at, const json_t *v, double *ret);
int hev_to_bool(struct hcl_eval *ev, const struct hn *at, const json_t *v, bool *ret);
/* Object keys, sorted bytewise (HCL's map order). Caller frees the array (not the keys). */
int hev_sorted_keys(struct hcl_eval *ev, const json_t *obj, const char ***ret, size_t *ret_n);
const char *hev_dir(const struct hcl_eval *ev);
/* The size of v written out (shared parts counted each time they appear), walked at the
 * cost of one step per element; an error past cap bytes. */
int hev_measure(struct hcl_eval *ev, const struct hn *at, const json_t *v, size_t cap, size_t *ret);

/* Call function name with n evaluated arguments (borrowed); at locates the call. */
int hcl_call(struct hcl_eval *ev, const struct hn *at, const char *name, json_t **args, size_t n, json_t **ret);

/* For hcl_body.c: set the error buffer for a public entry point; evaluate a value; bind an
 * iterator name (borrowed) to val (borrowed) until the matching pop. */
void hev_begin(struct hcl_eval *ev, struct error *err);
int hev_value(struct hcl_eval *ev, const struct hcl_value *v, json_t **ret);
int hev_scope_push(struct hcl_eval *ev, const struct hn *at, const char *name, json_t *val);
void hev_scope_pop(struct hcl_eval *ev);
const char *hev_file(const struct hcl_eval *ev);
