/* plan.h - the plan as plain data: what a scheduler asks the leader to commit, and
 * what the plan applier committed. Shared by controlplane/scheduler (which builds
 * plans) and controlplane/plan (which checks and applies them); depends on neither.
 *
 * Per node: allocations to place (new allocs, full struct alloc with its Job,
 * NodeID, resources, DesiredStatus run, ClientStatus pending) and stops of
 * existing allocs (ID + DesiredStatus stop/evict + description, optionally a new
 * ClientStatus such as lost).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

struct error;
struct hashmap;

struct plan_stop {
        struct alloc *alloc; /* the existing alloc (a reference) */
        enum alloc_desired desired;
        char *description;
        int client_status; /* -1 = unchanged, else enum alloc_client */
};

struct plan_node {
        char *node_id;
        struct alloc **place; /* references */
        size_t n_place, cap_place;
        struct plan_stop *stop;
        size_t n_stop, cap_stop;
};

/* A set of node IDs that answers "surely not in" without hashing the ID again: two bits
 * of 4,096 per ID, chosen by the ID's hashmap_hash (computed once, e.g. per candidate
 * node). A set bit may be another ID's: then ask the map itself. */
struct node_filter {
        uint64_t w[64];
};

static inline void node_filter_add(struct node_filter *f, uint64_t h) {
        f->w[(h >> 6) & 63] |= UINT64_C(1) << (h & 63);
        f->w[(h >> 38) & 63] |= UINT64_C(1) << ((h >> 32) & 63);
}

static inline bool node_filter_may(const struct node_filter *f, uint64_t h) {
        return (f->w[(h >> 6) & 63] >> (h & 63) & 1) && (f->w[(h >> 38) & 63] >> ((h >> 32) & 63) & 1);
}

struct plan {
        char *eval_id;
        char *eval_token;
        int priority;
        bool all_at_once;
        struct job *job; /* reference; NULL when the job is gone */
        uint64_t snapshot_index;
        int64_t timestamp_ns; /* modify time for stops (the FSM must not read a clock) */
        struct plan_node *nodes;
        size_t n_nodes, cap_nodes;
        struct hashmap *by_node; /* node ID -> index + 1 into nodes (plan_node_get keeps it) */
        struct node_filter filter; /* the IDs in by_node (plan_node_find_hashed) */
};

struct plan_result {
        char *eval_id;
        struct job *job;
        int64_t timestamp_ns;
        struct plan_node *nodes; /* what was (or will be) committed */
        size_t n_nodes, cap_nodes;
        struct hashmap *by_node; /* node ID -> index + 1 in nodes (plan_result_add_node) */
        char **rejected_nodes;
        size_t n_rejected;
        uint64_t refresh_index; /* != 0: partial commit, refresh to at least this and retry */
        uint64_t alloc_index;   /* the Raft index the result was committed at */
};

struct plan *plan_new(const char *eval_id, const char *eval_token, struct job *job);
struct plan *plan_free(struct plan *p); /* returns NULL */
/* The entry of node_id, created when absent; NULL on ENOMEM. */
struct plan_node *plan_node_get(struct plan *p, const char *node_id, bool create);
const struct plan_node *plan_node_find(const struct plan *p, const char *node_id);
/* The same for a caller that has the ID's hashmap_hash: most nodes are in no plan, and
 * for them the answer takes no hashing. */
const struct plan_node *plan_node_find_hashed(const struct plan *p, const char *node_id, uint64_t hash);
int plan_add_place(struct plan *p, struct alloc *a); /* takes a reference; a->node_id picks the node */
/* The same for a caller that remembers where the node's entry is: *hint is its index + 1
 * in p->nodes (0: not known yet), checked against a->node_id and updated; no hashing
 * when it is right. hash: hashmap_hash(a->node_id), which the caller has (a node new to
 * the plan then costs no hashing either). */
int plan_add_place_at(struct plan *p, struct alloc *a, uint64_t hash, size_t *hint);
int plan_add_stop(struct plan *p, struct alloc *a, enum alloc_desired desired, const char *description,
                  int client_status);
/* Undo the last n stops added for node_id (a preemption whose placement failed). */
void plan_drop_stops(struct plan *p, const char *node_id, size_t n);
size_t plan_count_place(const struct plan *p);
size_t plan_count_stop(const struct plan *p);
bool plan_is_noop(const struct plan *p);

struct plan_result *plan_result_new(void);
struct plan_result *plan_result_free(struct plan_result *r);                /* returns NULL */
int plan_result_add_node(struct plan_result *r, const struct plan_node *n); /* copies refs */
int plan_result_reject(struct plan_result *r, const char *node_id);
bool plan_result_is_noop(const struct plan_result *r);
uint64_t plan_result_refresh_index(const struct plan_result *r);
/* The index the result was committed at; a refresh index below it is raised to it. */
void plan_result_set_alloc_index(struct plan_result *r, uint64_t index);
size_t plan_result_count_place(const struct plan_result *r);
size_t plan_result_count_stop(const struct plan_result *r);
bool plan_result_rejected(const struct plan_result *r, const char *node_id);

/* The FSM command payload: {"EvalID","Job","Timestamp","NodeAllocation":{node:[alloc without Job]},
 * "NodeUpdate":{node:[{"ID","DesiredStatus","DesiredDescription","ClientStatus"}]},
 * "RejectedNodes":[..],"RefreshIndex","AllocIndex"}. Placed allocs get the result's Job back.
 * Stops decoded from JSON carry only the alloc ID (alloc->id) until applied. */
json_t *plan_result_to_json(const struct plan_result *r);
int plan_result_from_json(const json_t *obj, struct plan_result **ret, struct error *err);
