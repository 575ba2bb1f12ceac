/* raft_node.h - libraft (Canonical's C Raft) with its libuv TCP transport and
 * on-disk log, wrapped for drover-server. It knows nothing of jobs: entries are
 * opaque buffers handed to an FSM through raft_fsm_ops, in log order, with the
 * log index that modify indexes are made of. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct uv_loop_s;
struct raft_node;

struct raft_fsm_ops {
        /* Apply one committed entry. Runs on the loop thread on every server. A
         * negative return (with err filled) is the FSM's deterministic rejection of
         * the command: the log moves on, and the proposer's callback gets the code
         * and the message. */
        int (*apply)(void *data, uint64_t index, const void *buf, size_t len, struct error *err);
        /* Serialise the whole state; *ret_buf is malloc'd and freed by the caller. */
        int (*snapshot)(void *data, void **ret_buf, size_t *ret_len);
        /* Replace the whole state. */
        int (*restore)(void *data, const void *buf, size_t len);
};

struct raft_node_config {
        uint64_t id;           /* this server's Raft ID, >= 1 */
        const char *address;   /* host:port for Raft RPC, e.g. 127.0.0.1:4647 */
        const char *data_dir;  /* log and snapshots */
        bool bootstrap;        /* form a new single-voter cluster if the dir is empty */
        unsigned election_timeout_ms;
        unsigned heartbeat_timeout_ms;
        unsigned snapshot_threshold; /* entries between snapshots */
        unsigned snapshot_trailing;  /* entries kept after a snapshot */
};

int raft_node_create(struct uv_loop_s *loop, const struct raft_node_config *cfg, const struct raft_fsm_ops *fsm,
                     void *fsm_data, struct raft_node **ret, struct error *err);
/* Close asynchronously; done(arg) runs once everything is released. */
void raft_node_close(struct raft_node *rn, void (*done)(void *arg), void *arg);

/* status 0: applied. Negative: either Raft failed to commit it (-EAGAIN when
 * leadership was lost, -EIO) and msg says so, or the entry was committed at
 * index and the FSM rejected it: status is the FSM's code, msg its message. */
typedef void (*raft_node_apply_cb)(void *arg, int status, uint64_t index, const char *msg);
/* Propose one entry; buf is copied. cb runs after the entry was applied to the
 * local FSM (status 0 or the FSM's rejection) or failed. */
int raft_node_apply(struct raft_node *rn, const void *buf, size_t len, raft_node_apply_cb cb, void *arg);

bool raft_node_is_leader(struct raft_node *rn);
/* Leader's address, or NULL when none is known. */
const char *raft_node_leader_address(struct raft_node *rn, uint64_t *ret_id);
uint64_t raft_node_last_applied(struct raft_node *rn);
const char *raft_node_state_name(struct raft_node *rn);
