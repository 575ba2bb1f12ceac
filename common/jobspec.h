/* jobspec.h - Nomad job file (HCL2 syntax, or JSON) -> Nomad API Job object.
 *
 * The result is what Nomad's jobspec parser returns: an api.Job BEFORE Canonicalize(), with
 * the JSON wire names (PascalCase) as keys, durations in integer nanoseconds and no defaults
 * filled in (`job "foo" {}` yields only ID and Name). Only fields present in the file appear.
 *
 * Expressions that are not literals (references, function calls) are not evaluated: `var.x`
 * is replaced by the default of `variable "x"` when the whole expression is that reference;
 * any other expression is kept as the interpolation string "${<expression text>}". Strings
 * keep "${...}" sequences verbatim (they are runtime interpolations in Nomad).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct error;

/* Parse a job file held in memory. Content starting with '{' is taken as JSON (either
 * {"Job": {...}} or a bare Job object). Returns 0 and the Job object (caller owns it), or a
 * negative errno with err holding "FILE:LINE:COL: ..." for syntax and schema errors. */
int jobspec_parse(const char *src, size_t len, const char *filename, json_t **ret_job, struct error *err);

/* Read and parse path (see jobspec_parse). */
int jobspec_parse_file(const char *path, json_t **ret_job, struct error *err);

/* Go time.ParseDuration: "10s", "1h30m", "1.5h", "500ms", "-2m" -> nanoseconds. */
int jobspec_parse_duration(const char *s, int64_t *ret_ns);
