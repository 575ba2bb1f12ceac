/* model.h - drover's data model: Job, TaskGroup, Task, Node, Allocation, Evaluation.
 *
 * The shapes follow Nomad's API structs. Objects held by the state store are
 * immutable once inserted and shared by reference count (atomic, so scheduler
 * worker threads may hold snapshots): to change one, copy it, edit the copy and
 * insert the copy. Fields Nomad has that drover does not model yet are kept
 * verbatim in `extra` (a JSON object) so that nothing a user sent is lost.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"

struct error;

/* ---- small containers ------------------------------------------------------ */

struct kv {
        char *key;
        char *value;
};

/* An ordered string map (Meta, Env, Attributes). Small; linear lookup. */
struct strmap {
        struct kv *items;
        size_t n;
};

const char *strmap_get(const struct strmap *m, const char *key);
int strmap_set(struct strmap *m, const char *key, const char *value);
void strmap_clear(struct strmap *m);
int strmap_copy(struct strmap *dst, const struct strmap *src);

/* ---- enums with their Nomad strings ---------------------------------------- */

enum job_type { JOB_SERVICE, JOB_BATCH, JOB_SYSTEM, JOB_SYSBATCH, JOB_TYPE_MAX };
enum node_status { NODE_INIT, NODE_READY, NODE_DOWN, NODE_DISCONNECTED, NODE_STATUS_MAX };
enum alloc_desired { ALLOC_DESIRED_RUN, ALLOC_DESIRED_STOP, ALLOC_DESIRED_EVICT, ALLOC_DESIRED_MAX };
enum alloc_client {
        ALLOC_CLIENT_PENDING,
        ALLOC_CLIENT_RUNNING,
        ALLOC_CLIENT_COMPLETE,
        ALLOC_CLIENT_FAILED,
        ALLOC_CLIENT_LOST,
        ALLOC_CLIENT_UNKNOWN,
        ALLOC_CLIENT_MAX
};
enum eval_status {
        EVAL_BLOCKED,
        EVAL_PENDING,
        EVAL_COMPLETE,
        EVAL_FAILED,
        EVAL_CANCELED,
        EVAL_STATUS_MAX
};
enum task_state_kind { TASK_PENDING, TASK_RUNNING, TASK_DEAD, TASK_STATE_MAX };
/* A task's lifecycle hook (Nomad's Lifecycle.Hook): none for the group's main tasks. */
enum task_hook { TASK_HOOK_NONE, TASK_HOOK_PRESTART, TASK_HOOK_POSTSTART, TASK_HOOK_POSTSTOP, TASK_HOOK_MAX };

const char *job_type_str(enum job_type t);
int job_type_parse(const char *s, enum job_type *ret);
const char *node_status_str(enum node_status s);
int node_status_parse(const char *s, enum node_status *ret);
const char *alloc_desired_str(enum alloc_desired s);
int alloc_desired_parse(const char *s, enum alloc_desired *ret);
const char *alloc_client_str(enum alloc_client s);
/* "" for TASK_HOOK_NONE; parsing "" gives TASK_HOOK_NONE. */
const char *task_hook_str(enum task_hook h);
int task_hook_parse(const char *s, enum task_hook *ret);
int alloc_client_parse(const char *s, enum alloc_client *ret);
const char *eval_status_str(enum eval_status s);
int eval_status_parse(const char *s, enum eval_status *ret);
const char *task_state_str(enum task_state_kind s);
int task_state_parse(const char *s, enum task_state_kind *ret);

/* An allocation is terminal when the server wants it stopped or the client says it ended. */
bool alloc_client_terminal(enum alloc_client s);

/* ---- job ------------------------------------------------------------------- */

struct constraint {
        char *ltarget;
        char *rtarget;
        char *operand;
};

struct affinity {
        char *ltarget;
        char *rtarget;
        char *operand;
        int weight; /* -100..100 */
};

struct spread_target {
        char *value;
        int percent;
};

struct spread {
        char *attribute;
        int weight;
        struct spread_target *targets;
        size_t n_targets;
};

struct restart_policy {
        bool set;
        int attempts;
        int64_t interval_ns;
        int64_t delay_ns;
        char *mode; /* "fail" | "delay" */
};

struct port {
        char *label;
        int value; /* static port, 0 = dynamic */
        int to;
        char *host_network;
};

struct network {
        char *mode;
        int mbits;
        struct port *reserved_ports;
        size_t n_reserved;
        struct port *dynamic_ports;
        size_t n_dynamic;
        json_t *extra;
};

struct resources {
        int cpu;           /* MHz */
        int cores;         /* exclusive cores */
        int memory_mb;
        int memory_max_mb; /* 0 = unset */
        int disk_mb;
        bool cpu_set;    /* CPU given explicitly (so an explicit 0 is an error, not a default) */
        bool memory_set; /* MemoryMB given explicitly */
        struct network *networks;
        size_t n_networks;
        json_t *devices; /* array, kept verbatim until devices are scheduled */
};

struct log_config {
        int max_files;
        int max_file_size_mb;
        bool disabled;
};

struct task {
        char *name;
        char *driver;
        char *user;
        json_t *config; /* driver config object, snake_case keys */
        struct strmap env;
        struct strmap meta;
        struct resources resources;
        struct constraint *constraints;
        size_t n_constraints;
        struct affinity *affinities;
        size_t n_affinities;
        struct restart_policy restart;
        struct log_config logs;
        int64_t kill_timeout_ns;
        char *kill_signal;
        bool leader;
        /* Nomad's lifecycle { hook, sidecar } (Lifecycle: {Hook, Sidecar}; null = none):
         * prestart tasks run before the main tasks (sidecar: and beside them), poststart
         * ones once every main task runs, poststop ones after all others ended. */
        enum task_hook hook;
        bool sidecar;
        json_t *extra; /* unmodelled Nomad fields (Services, Templates, ...) */
};

struct task_group {
        char *name;
        int count;
        struct constraint *constraints;
        size_t n_constraints;
        struct affinity *affinities;
        size_t n_affinities;
        struct spread *spreads;
        size_t n_spreads;
        struct task *tasks;
        size_t n_tasks;
        struct restart_policy restart;
        int ephemeral_disk_mb;
        struct network *networks;
        size_t n_networks;
        struct strmap meta;
        json_t *extra;
};

enum job_status { JOB_STATUS_PENDING, JOB_STATUS_RUNNING, JOB_STATUS_DEAD, JOB_STATUS_MAX };
const char *job_status_str(enum job_status s);

struct job {
        int refcount;
        char *id;
        char *name;
        char *region;
        char *namespace;
        enum job_type type;
        int priority;
        bool all_at_once;
        char **datacenters;
        size_t n_datacenters;
        char *node_pool;
        struct constraint *constraints;
        size_t n_constraints;
        struct affinity *affinities;
        size_t n_affinities;
        struct spread *spreads;
        size_t n_spreads;
        struct task_group *groups;
        size_t n_groups;
        struct strmap meta;
        /* server-set */
        bool stop;
        enum job_status status;
        uint64_t version;
        int64_t submit_time; /* unix ns */
        uint64_t create_index;
        uint64_t modify_index;
        uint64_t job_modify_index;
        json_t *extra;
};

struct job *job_new(void);
struct job *job_ref(struct job *j);
struct job *job_unref(struct job *j); /* returns NULL */
/* Deep copy with refcount 1. */
struct job *job_copy(const struct job *j);

/* ---- job kinds (periodic, parameterized and their children) ----
 * Nomad's Periodic, ParameterizedJob, ParentID, Dispatched, Payload and
 * DispatchPayload are kept in Nomad's JSON shape in `extra`; these read them. */
/* A periodic parent: Periodic is set (enabled or not). Never placed itself. */
bool job_is_periodic(const struct job *j);
/* A parameterized parent: ParameterizedJob set and not Dispatched. Never placed itself. */
bool job_is_parameterized(const struct job *j);
/* Periodic or parameterized parent: the scheduler places nothing for it. */
bool job_is_parent(const struct job *j);
/* ParentID ("" when none). */
const char *job_parent_id(const struct job *j);
const struct task_group *job_group(const struct job *j, const char *name);

/* Apply Nomad's Canonicalize defaults (type service, priority 50, region global,
 * namespace default, node pool default, datacenters ["*"], count 1, restart
 * policy by type, cpu 100 / memory 300 when unset, ephemeral disk 300 MB...). */
void job_canonicalize(struct job *j);

/* Limits on one job (docs/jobspec.md "Limits"); beyond them registration answers 400.
 * Validation costs time linear in the job's size (names checked with a hash set). */
#define JOB_MAX_GROUPS LIMIT_GROUPS /* task groups per job (common/limits.h) */
#define GROUP_MAX_TASKS 100      /* tasks per group */
#define JOB_MAX_TASKS LIMIT_JOB_TASKS /* tasks per job, all groups together */
#define JOB_MAX_COUNT 100000     /* count per group: common/limits.h LIMIT_COUNT (checked equal there) */
#define JOB_MAX_CONSTRAINTS 100  /* constraints (and, apart, affinities) per job, group or task */

/* Check a canonicalised job. Messages name the place:
 * `job "web", group "api": count must be >= 0 (got -1)`. Constraint and affinity
 * operators must be Nomad's (see constraint_operand_known), regexps must compile,
 * static ports must be in 1..65535 and not reserved twice in a group. */
int job_validate(const struct job *j, struct error *err);
/* Is op one of Nomad's constraint operators ("" and NULL mean "=")? Affinities
 * (affinity = true) take them all but distinct_hosts and distinct_property. */
bool constraint_operand_known(const char *op, bool affinity);

/* Sum of the task resources of a group (what one allocation asks for). */
struct res_ask {
        int64_t cpu;
        int64_t memory_mb;
        int64_t disk_mb;
};
struct res_ask task_group_ask(const struct task_group *tg);

/* ---- node ------------------------------------------------------------------ */

struct node_driver {
        char *name;
        bool detected;
        bool healthy;
        char *description; /* HealthDescription: why it is undetected or unhealthy; NULL = none */
};

struct node {
        int refcount;
        char *id;
        char *secret_id;
        char *name;
        char *datacenter;
        char *region; /* the servers' region, stamped at registration; NULL: not known ("global") */
        char *node_class;
        char *node_pool;
        char *http_addr;
        enum node_status status;
        char *status_description;
        bool eligible; /* SchedulingEligibility "eligible" | "ineligible" */
        bool drain;
        struct strmap attributes;
        struct strmap meta;
        struct node_driver *drivers;
        size_t n_drivers;
        int64_t cpu_shares; /* NodeResources.Cpu.CpuShares (MHz total) */
        int total_cores;
        int64_t memory_mb;
        int64_t disk_mb;
        int64_t reserved_cpu;
        int64_t reserved_memory_mb;
        int64_t reserved_disk_mb;
        json_t *devices;  /* NodeResources.Devices: [{Vendor,Type,Name,Instances[],Attributes{}}] or NULL */
        json_t *networks; /* NodeResources.NodeNetworks: [{Mode,Device,MacAddress,Speed,Addresses[]}] or NULL */
        int64_t status_updated_at; /* unix seconds, like Nomad */
        char *computed_class;      /* "v1:<hash>", set by node_compute_class */
        uint64_t create_index;
        uint64_t modify_index;
        json_t *extra;
};

struct node *node_new(void);
struct node *node_ref(struct node *n);
struct node *node_unref(struct node *n);
struct node *node_copy(const struct node *n);
bool node_has_driver(const struct node *n, const char *driver); /* drivers list, else the "driver.<name>" attribute */
/* Nomad's computed class: hash of everything but unique.* attributes. */
void node_compute_class(struct node *n);
int node_validate(const struct node *n, struct error *err);

/* ---- allocation ------------------------------------------------------------ */

struct task_event {
        char *type;
        char *message;
        int64_t time; /* unix ns */
        int exit_code;
        int signal;
};

struct task_state {
        char *name;
        enum task_state_kind state;
        bool failed;
        int restarts;
        int64_t started_at;  /* unix ns, 0 = never */
        int64_t finished_at; /* unix ns, 0 = not yet */
        struct task_event *events;
        size_t n_events;
};

/* DeploymentStatus.Healthy: unset (null), true, false. */
enum deploy_health { DEPLOY_HEALTH_UNSET, DEPLOY_HEALTH_HEALTHY, DEPLOY_HEALTH_UNHEALTHY };

/* Strings shared by allocs decoded together (a plan result's namespace, eval, job, group
 * and node names: controlplane/plan/codec.c): a reference-counted arena. A string field of
 * an alloc that points into the alloc's `strings` arena belongs to the arena and is not
 * freed with the alloc: replace such a field with alloc_set_str, or change an alloc_copy
 * (whose strings are all its own). Which fields the arena holds is known in O(1) once
 * its maker calls alloc_arena_sealed (below); until then alloc_unref asks the arena. */
struct str_arena;
struct str_arena *str_arena_new(void);
struct str_arena *str_arena_ref(struct str_arena *s);
struct str_arena *str_arena_unref(struct str_arena *s); /* NULL ok; returns NULL */
/* A NUL-terminated copy of p[0..n), kept until the arena's last reference goes; NULL on ENOMEM. */
char *str_arena_add(struct str_arena *s, const char *p, size_t n);
bool str_arena_owns(const struct str_arena *s, const char *p);
/* size bytes, zeroed and aligned for any type, kept as the strings are; NULL on ENOMEM. */
void *str_arena_alloc(struct str_arena *s, size_t size);

struct alloc {
        int refcount;
        struct str_arena *strings; /* NULL, or the arena some string fields point into */
        /* With strings: ALLOC_ARENA_STRUCT when the struct itself is in the arena,
         * ALLOC_ARENA_SEALED when the ALLOC_STR_* bits below say which string fields the
         * arena holds (alloc_arena_sealed; alloc_set_str clears a field's bit). */
        uint16_t arena_bits;
        char *id;
        char *namespace;
        char *eval_id;
        char *name; /* "<job>.<group>[<index>]" */
        char *node_id;
        char *node_name;
        char *job_id;
        struct job *job; /* the job version it runs (shared) */
        char *task_group;
        struct res_ask resources;
        enum alloc_desired desired_status;
        char *desired_description;
        enum alloc_client client_status;
        char *client_description;
        struct task_state *task_states;
        size_t n_task_states;
        char *previous_allocation;
        char *next_allocation;
        json_t *metrics; /* AllocationMetric, as JSON */
        /* What the scheduler assigned beyond cpu/memory/disk, in Nomad's AllocatedResources
         * shape: {"Tasks":{task:{"Devices":[{Vendor,Type,Name,DeviceIDs}]}},
         * "Shared":{"Ports":[{Label,Value,To,HostIP}],"Networks":[...]}} or NULL. Shared
         * like metrics (never changed in place). */
        json_t *allocated;
        /* deployments (controlplane/leader/deploy_watcher.h): the deployment that placed
         * or adopted the alloc, and its DeploymentStatus */
        char *deployment_id;          /* DeploymentID, NULL: none */
        enum deploy_health deploy_health; /* DeploymentStatus.Healthy */
        int64_t deploy_health_time;   /* DeploymentStatus.Timestamp (unix ns), 0: unset */
        bool deploy_canary;           /* DeploymentStatus.Canary */
        uint64_t create_index;
        uint64_t modify_index;
        uint64_t alloc_modify_index;
        int64_t create_time; /* unix ns */
        int64_t modify_time;
        json_t *extra;
};

/* The string fields of struct alloc, each with its bit in arena_bits. */
#define ALLOC_STR_FIELDS(X)                                                                                    \
        X(id) X(namespace) X(eval_id) X(name) X(node_id) X(node_name) X(job_id) X(task_group)                  \
        X(desired_description) X(client_description) X(previous_allocation) X(next_allocation) X(deployment_id)
enum {
#define ALLOC_STR_ENUM(f) ALLOC_STR_BIT_##f,
        ALLOC_STR_FIELDS(ALLOC_STR_ENUM)
#undef ALLOC_STR_ENUM
        ALLOC_STR_N,
};
_Static_assert(ALLOC_STR_N <= 14, "arena_bits: one bit per string field, two flags");
#define ALLOC_ARENA_STRUCT (1u << 14)
#define ALLOC_ARENA_SEALED (1u << 15)

struct alloc *alloc_new(void);
/* An alloc whose struct lives in the arena s (a->strings holds a reference on it): the
 * allocs decoded or placed together take no malloc each, and the struct's memory goes
 * with the arena's last reference (an alloc_copy is on the heap as ever). */
struct alloc *alloc_new_in(struct str_arena *s);
/* Its maker's word that every string field of a (from alloc_new_in) set so far is in
 * a->strings and the rest are NULL: alloc_unref and alloc_set_str then know each field's
 * owner by a bit instead of walking the arena's chunks (O(1) per string). A NULL field
 * set later is the alloc's own (freed with it); replace a non-NULL one with alloc_set_str
 * (a plain assignment over a sealed arena field would leak the new string). */
void alloc_arena_sealed(struct alloc *a);
struct alloc *alloc_ref(struct alloc *a);
struct alloc *alloc_unref(struct alloc *a);
/* A copy to change before it is stored. Strings and task states are the copy's
 * own; the JSON of metrics and extra is shared (reference counted, never changed
 * in place once set: replace it, do not edit it). */
struct alloc *alloc_copy(const struct alloc *a);
/* alloc_copy with extra[key] = value (a new extra object: the shared one is not
 * changed; value's reference is taken, also on failure). NULL on ENOMEM. */
struct alloc *alloc_copy_set_extra(const struct alloc *a, const char *key, json_t *value);
/* Replace the string field *field of a by a copy of v (NULL ok), freeing the old one
 * unless a's arena holds it: 0, -ENOMEM, or -EINVAL when field is no string field of a. */
int alloc_set_str(struct alloc *a, char **field, const char *v);
/* The index in "<job>.<group>[<index>]", or -1. */
int alloc_name_index(const struct alloc *a);
/* Terminal: desired stop/evict, or client complete/failed/lost. */
bool alloc_terminal(const struct alloc *a);
const struct task_state *alloc_task_state(const struct alloc *a, const char *task);

/* ---- evaluation ------------------------------------------------------------ */

struct eval {
        int refcount;
        char *id;
        char *namespace;
        int priority;
        enum job_type type;
        char *triggered_by;
        char *job_id;
        uint64_t job_modify_index;
        char *node_id;
        enum eval_status status;
        char *status_description;
        char *next_eval;
        char *previous_eval;
        char *blocked_eval;
        json_t *failed_tg_allocs;   /* {group: AllocationMetric} or NULL */
        json_t *queued_allocations; /* {group: n} or NULL */
        json_t *class_eligibility;  /* {class: bool} or NULL */
        bool escaped_computed_class;
        uint64_t snapshot_index;
        int64_t wait_until; /* unix ns, 0 = now */
        uint64_t create_index;
        uint64_t modify_index;
        int64_t create_time;
        int64_t modify_time;
        json_t *extra;
};

struct eval *eval_new(void);
struct eval *eval_ref(struct eval *e);
struct eval *eval_unref(struct eval *e);
struct eval *eval_copy(const struct eval *e);

/* ---- JSON codec (Nomad's API shape, PascalCase keys) ------------------------ */

/* Full objects. Encoders return a new reference; decoders fill err with the
 * JSON path of the first problem ("Job.TaskGroups[0].Count: expected integer"). */
json_t *job_to_json(const struct job *j);
int job_from_json(const json_t *obj, struct job **ret, struct error *err);
json_t *node_to_json(const struct node *n);
int node_from_json(const json_t *obj, struct node **ret, struct error *err);
json_t *alloc_to_json(const struct alloc *a);
int alloc_from_json(const json_t *obj, struct alloc **ret, struct error *err);
json_t *eval_to_json(const struct eval *e);
int eval_from_json(const json_t *obj, struct eval **ret, struct error *err);

/* List stubs, as Nomad's list endpoints return them. */
json_t *job_to_stub_json(const struct job *j, json_t *summary /* borrowed, may be NULL */);
json_t *node_to_stub_json(const struct node *n);
json_t *alloc_to_stub_json(const struct alloc *a);
/* Go's time.Time in JSON: UTC RFC 3339 with nanoseconds, 0 as Go's zero time
 * ("0001-01-01T00:00:00Z"); back from any offset, or from integer nanoseconds
 * (0: unset). buf: 48 bytes are enough. */
void model_time_format(int64_t ns, char *buf, size_t size);
int model_time_parse(const json_t *v, int64_t *ret);

/* Task states alone (what an agent sends in an alloc update). */
json_t *task_states_to_json(const struct task_state *ts, size_t n);
int task_states_from_json(const json_t *obj, struct task_state **ret, size_t *ret_n, struct error *err);
void task_states_free(struct task_state *ts, size_t n);
int task_state_copy(struct task_state *dst, const struct task_state *src);
int task_state_add_event(struct task_state *ts, const char *type, const char *message, int64_t time, int exit_code,
                         int signal);
