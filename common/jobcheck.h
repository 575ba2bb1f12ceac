/* jobcheck.h - the values inside a job that Nomad's validation refuses and that the
 * job model keeps as text or as unmodelled JSON: version constraint expressions, the
 * boolean of distinct_hosts, the update block and the reschedule block. Pure
 * functions, linear in their input. job_validate (model.c) calls them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct error;

/* A version constraint as hashicorp/go-version reads it: comma-separated terms, each
 * an optional operator (=, !=, >, >=, <, <=, ~>) and a version (an optional "v",
 * dot-separated numbers, an optional "-pre.release" and "+build"). With strict (the
 * semver operator, go-version's NewSemver), a version has at most three numbers and
 * a pre-release only after "-". */
bool version_constraint_valid(const char *s, bool strict);

/* Go's strconv.ParseBool, which Nomad applies to distinct_hosts' value: 1 for 1, t,
 * T, TRUE, true, True; 0 for 0, f, F, FALSE, false, False; -1 for anything else. */
int go_bool_parse(const char *s);

/* Nomad's UpdateStrategy and ReschedulePolicy checks on a job's or group's blocks in
 * their JSON shape (NULL or null: absent): MaxParallel and Canary integers >= 0,
 * HealthCheck "checks", "task_states" or "manual", durations >= 0; DelayFunction
 * "constant", "exponential" or "fibonacci", Attempts >= 0. -EINVAL with a message
 * that starts with `where` and names the field as the job file does
 * (`job "web", group "api", update: max_parallel must be >= 0 (got -1)`). */
int update_block_validate(const char *where, const json_t *update, struct error *err);
int reschedule_block_validate(const char *where, const json_t *reschedule, struct error *err);
