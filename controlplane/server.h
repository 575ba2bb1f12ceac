/* server.h - the drover-server hub: one struct, built by main.c and passed
 * explicitly. The libuv loop thread owns it all: Raft, state-store writes,
 * the broker, the plan applier and HTTP handling. Scheduler workers run on
 * their own threads over immutable snapshots and talk to the loop through
 * worker.c's hand-off. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "controlplane/config.h"

struct broker;
struct blocked_evals;
struct http_server;
struct http_req;
struct raft_node;
struct state_store;
struct workers;
struct heartbeats;
struct eval;
struct error;
struct raft_fsm_ops;

struct server {
        uv_loop_t *loop;
        struct server_config *cfg;
        struct raft_node *raft;
        struct state_store *state; /* live; written only by fsm.c */
        struct broker *broker;
        struct blocked_evals *blocked;
        struct workers *workers;
        struct heartbeats *heartbeats;
        struct http_server *http;
        bool leader;
        bool stopping;
        uv_timer_t tick;       /* 100 ms: leadership, broker timers, heartbeats, query deadlines */
        uv_timer_t wake;       /* 0 ms: re-run parked blocking queries after a state change */
        bool wake_pending;
        uint64_t last_unblock_failed_ns; /* leader: last blocked_unblock_failed */
        uv_signal_t sigint, sigterm;
        struct parked_query *parked; /* blocking queries waiting for a newer index */
};

int server_start(struct server *s, struct error *err);
void server_stop(struct server *s);

/* ---- FSM commands (fsm.c): every state change is one of these, applied in one place. */

/* Propose a command through Raft; cb(arg, status, index, msg) after it is applied
 * locally: status 0, or the state store's rejection (negative errno, msg says
 * why), or Raft's failure to commit it (-EAGAIN, -EIO). */
typedef void (*server_apply_cb)(void *arg, int status, uint64_t index, const char *msg);
int server_propose(struct server *s, json_t *cmd /* stolen */, server_apply_cb cb, void *arg);

extern const struct raft_fsm_ops server_fsm_ops;

/* Apply one encoded command to the state (used by Raft and by tests). A
 * rejection returns the negative code with err filled. */
int fsm_apply_command(struct server *s, uint64_t index, const json_t *cmd, struct error *err);

/* Leader side effects after an apply: enqueue evals, unblock, wake queries. */
void server_state_changed(struct server *s);
void server_on_evals(struct server *s, struct eval **evals, size_t n);
/* A node became ready, or capacity was freed on it: unblock evals of its class. */
void server_on_node_ready(struct server *s, const char *computed_class, uint64_t index);
void server_on_capacity_freed(struct server *s, const char *computed_class, uint64_t index);

/* ---- API (api/routes.c) */
void api_handle(void *data, struct http_req *req);
/* Re-run parked blocking queries whose index moved, answer timed-out ones. */
void api_wake_parked(struct server *s, bool timeouts_only);
void api_drop_parked(struct server *s);
