/* codec.h - the compact binary form of a plan result, as the Raft log carries it.
 *
 * The JSON form (plan_result_to_json) repeats every field name of every allocation
 * and a deep copy of its AllocationMetric; decoding it on every server cost more
 * than the rest of a commit (bench/raft). This form writes each allocation as its
 * values in a fixed order, the strings that repeat within a result (namespace,
 * eval, job, group, node name, descriptions) once, and each distinct metrics
 * object once (allocations of a group share it after decoding, as the scheduler's
 * do). The result's Job is written once as JSON. An allocation the compact form
 * cannot express exactly (task states, another job version, a node ID that is not
 * its plan node's) is written as its full JSON instead, so every result
 * round-trips. Counts, lengths, indexes and resources are LEB128 varints, times the
 * (zigzag) distance from the result's timestamp, UUIDs 16 bytes, a name
 * "<job>.<group>[<index>]" its index after the first (about 40 bytes an allocation,
 * against 170 in DPR1, so the log, its fsync, the replication and the followers'
 * wire carry a quarter of it). Decoded strings live in the result's arena. Nothing
 * is aligned.
 *
 * The decoder bounds every read by the buffer and every count by what is left
 * in it, so a corrupt entry fails with -EINVAL rather than reading past it.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

struct error;
struct plan_result;

/* The first bytes of an encoded result. */
#define PLAN_CODEC_MAGIC "DPR2"

/* The Content-Type of an encoded result as the body of a server's internal HTTP
 * call (a follower's plan sent to the leader, the leader's answer). */
#define PLAN_CODEC_CONTENT_TYPE "application/octet-stream"

/* *ret_buf is malloc'd (free it). */
int plan_result_encode(const struct plan_result *r, void **ret_buf, size_t *ret_len);
int plan_result_decode(const void *buf, size_t len, struct plan_result **ret, struct error *err);

/* The compact form inside JSON, for the servers' internal HTTP calls (a follower's
 * worker sends its plan to the leader and gets the result back): an array of hex
 * strings of at most 512 KiB each (request strings are limited to 1 MiB). NULL when
 * out of memory. */
json_t *plan_result_to_wire(const struct plan_result *r);
int plan_result_from_wire(const json_t *wire, struct plan_result **ret, struct error *err);
