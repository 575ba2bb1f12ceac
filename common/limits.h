/* limits.h - bounds on what a job or node may hold, and the safe character set of
 * names that become paths. Every check is linear in the size of its input; the
 * duplicate-name checks use a hash set. docs/api.md "Limits" lists the same numbers.
 *
 * A safe name (task, group, job ID, node ID and name) is 1..LIMIT_NAME_LEN bytes with
 * no control character (0x00-0x1f, 0x7f), no '/', no '\\', is not "." or "..", and
 * does not start with '-'. Other bytes, UTF-8 included, are allowed (Nomad allows
 * fairly free names; these are the ones that break paths or command lines).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct error;
struct job;
struct node;

#define LIMIT_NAME_LEN 128            /* job ID and name, group, task, node ID and name */
#define LIMIT_STRING_LEN 1024         /* region, namespace, datacenter, driver, user, constraint targets */
#define LIMIT_KEY_LEN 256             /* meta and env keys */
#define LIMIT_VALUE_LEN (64 * 1024)   /* meta and env values */
#define LIMIT_MAP_ENTRIES 1024        /* entries in one meta, env or attributes map */
#define LIMIT_GROUPS 1000             /* groups per job */
#define LIMIT_TASKS 100               /* tasks per group */
#define LIMIT_JOB_TASKS 1000          /* tasks per job, all groups together */
#define LIMIT_COUNT 100000            /* count per group: a job of 100,000 in one group (Nomad: 50,000) */
#define LIMIT_ALLOCS 100000           /* sum of counts over a job's groups */
#define LIMIT_CONSTRAINTS 256         /* constraints and affinities per job, all levels together */
#define LIMIT_REGEXP_LEN 256          /* a regexp constraint's pattern */
#define LIMIT_DATACENTERS 64          /* datacenters per job */
#define LIMIT_NETWORKS 8              /* networks per group or task */
#define LIMIT_PORTS 128               /* ports per network */
#define LIMIT_SPREAD_TARGETS 64       /* targets per spread */
#define LIMIT_JOBSPEC_SIZE (16 * 1024 * 1024) /* an HCL or JSON job file, as the HTTP body limit */
/* HTTP bodies (docs/api.md "Limits"): what a server reads of a request, and of a
 * server's answer to another server (a follower's worker, a forwarded write). */
#define LIMIT_HTTP_BODY ((size_t)16 * 1024 * 1024)
/* PUT /v1/operator/snapshot (and its forwarded GET answer): the whole state, for a
 * management token when ACLs are on; about 1.4 KB per allocation saved. Its
 * StateRestore command is one Raft entry: at most half of a Raft message
 * (FRAME_GUARD_DEFAULT_MAX, 1 GiB), so that it reaches the followers with the
 * entries sent along with it. */
#define LIMIT_SNAPSHOT_BODY ((size_t)512 * 1024 * 1024)
/* A request forwarded to the leader: its answer (a list of every allocation). */
#define LIMIT_FORWARD_ANSWER ((size_t)64 * 1024 * 1024)
#define LIMIT_JSON_DEPTH 64            /* nesting of a request body */
#define LIMIT_JSON_ELEMENTS 10000      /* elements of one JSON array or members of one object */
#define LIMIT_JSON_STRING (1024 * 1024) /* bytes of one JSON string */
#define LIMIT_JSON_VALUES 200000       /* lists, objects and elements in one request body */
#define LIMIT_DURATION_NS (1LL << 62) /* any duration, about 146 years */

/* 0 when s is a safe name; else -EINVAL with "<what> ...: why" in err. */
int limits_check_name(const char *what, const char *s, struct error *err);

/* 0 when a regexp pattern is short and of bounded cost: no back-references and no
 * repetition of a group that itself repeats (star height 1), so that matching cannot
 * go exponential. -EINVAL with the reason otherwise. */
int limits_check_regexp(const char *pattern, struct error *err);

/* A linear pre-scan of a JSON request body, run before it is decoded (decoding a
 * 16 MiB body into a tree takes seconds of the event loop): nesting at most
 * LIMIT_JSON_DEPTH, at most LIMIT_JSON_ELEMENTS in one array or object, at most
 * LIMIT_JSON_VALUES lists, objects and elements in all, strings of at most
 * LIMIT_JSON_STRING bytes. It does not validate the JSON (the decoder does);
 * -EINVAL naming the limit and the byte offset. */
int limits_json_prescan(const char *body, size_t len, struct error *err);
/* The same with other bounds on elements per array or object and on values in all
 * (a snapshot restore: the whole state in one body, bounded by the body's size). */
int limits_json_prescan_with(const char *body, size_t len, size_t max_elements, size_t max_values,
                             struct error *err);

/* Sizes, counts, ranges and names of a job (after job_canonicalize). */
int limits_check_job(const struct job *j, struct error *err);

/* Sizes and names of a node (registration). */
int limits_check_node(const struct node *n, struct error *err);
