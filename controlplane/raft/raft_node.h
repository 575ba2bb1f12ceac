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
struct transport_tls_config;

struct raft_fsm_ops {
        /* Apply one committed entry, in log order. Runs on the loop thread on every
         * server (on a follower from an idle handle, a little after libraft
         * committed it: raft_node.c, "a follower's applies, deferred"). A
         * negative return (with err filled) is the FSM's deterministic rejection of
         * the command: the log moves on, and the proposer's callback gets the code
         * and the message. */
        int (*apply)(void *data, uint64_t index, const void *buf, size_t len, struct error *err);
        /* Snapshots are taken off the loop. On the loop: a consistent view of the
         * whole state, cheap (the state store's persistent maps make it O(1)). */
        int (*snapshot_begin)(void *data, void **ret_view);
        /* On a thread of libuv's pool: serialise the view; *ret_buf is malloc'd
         * and freed by the caller. */
        int (*snapshot_write)(void *view, void **ret_buf, size_t *ret_len);
        /* On the loop, once the snapshot is on disk (or failed): release the view. */
        void (*snapshot_end)(void *view);
        /* Replace the whole state, synchronously: a snapshot found at start (before
         * the loop serves anyone), or any snapshot without the four below. */
        int (*restore)(void *data, const void *buf, size_t len);
        /* Optional, all four or none: an entry too heavy to apply on the loop (one that
         * replaces the whole state), and a snapshot restored once the server runs, are
         * built on a thread of libuv's pool and swapped in on the loop in O(1).
         * Meanwhile every later entry is queued, and applied in log order after the
         * swap; a proposer's callback and a barrier's wait until their entry is
         * applied, and no snapshot is taken (libraft retries).
         * heavy: on the loop, cheap; whether this entry is one of those.
         * prepare: on the pool, without access to the live state: build the new state
         * from an entry's bytes (snapshot false) or a snapshot's into *ret_prepared, or
         * fail with err filled (an entry's failure is its deterministic rejection).
         * install: on the loop, in log order (index 0 for a snapshot): put the
         * prepared state in place; the state it replaces goes back into prepared.
         * discard: on any thread: free prepared (installed or not). */
        bool (*heavy)(void *data, const void *buf, size_t len);
        int (*prepare)(const void *buf, size_t len, bool snapshot, void **ret_prepared, struct error *err);
        int (*install)(void *data, uint64_t index, void *prepared, struct error *err);
        void (*discard)(void *prepared);
        /* Optional: a committed entry was queued for a later apply (a follower's, see
         * apply). On the loop, cheap: start what that apply can use and that runs off
         * the loop (the server decodes the entry's plan results on the pool). */
        void (*queued)(void *data, const void *buf, size_t len);
        /* Optional, with queued: whether that work is done (cheap, on the loop). A
         * queued entry whose work is not done waits, up to RAFT_NODE_READY_WAIT_MS,
         * while the loop serves its I/O, then is applied anyway. */
        bool (*ready)(void *data, const void *buf, size_t len);
};

#define RAFT_NODE_READY_WAIT_MS 20

/* One member of the Raft configuration, as this server sees it. */
struct raft_node_peer {
        uint64_t id;
        char address[64]; /* Raft address, host:port */
        bool voter;       /* false: standby or spare (joining, being caught up) */
        bool leader;
        /* leader only: the last log index known replicated there, and whether it
         * answered within the election timeout */
        uint64_t match_index;
        bool recent;
};

struct raft_node_config {
        uint64_t id;           /* this server's Raft ID, >= 1 */
        const char *address;   /* host:port for Raft RPC, e.g. 127.0.0.1:4647 */
        const char *data_dir;  /* log and snapshots */
        bool bootstrap;        /* form a new cluster if the dir is empty: a single voter, or every voter below */
        const struct raft_node_peer *voters; /* n_voters > 0: the initial configuration (must hold this server) */
        size_t n_voters;
        unsigned election_timeout_ms;
        unsigned heartbeat_timeout_ms;
        unsigned snapshot_threshold; /* entries between snapshots */
        unsigned snapshot_trailing;  /* entries kept after a snapshot */
        const struct transport_tls_config *tls; /* non-NULL: Raft over mutual TLS (transport_tls.h) */
        /* the largest message a peer may send (frame_guard.h); 0: FRAME_GUARD_DEFAULT_MAX */
        uint64_t max_message;
        /* Optional: on the loop, right after libraft handled a message or a tick that
         * changed this server's view of the leader (its own state, or the leader's
         * ID): a follower that hears from a new leader, a candidate, an election
         * won or lost. Cheap; it must not close Raft. */
        void (*leader_changed)(void *arg);
        void *leader_changed_arg;
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
/* The same for an entry of len bytes that fill writes (all of them) straight into the
 * buffer libraft keeps, rather than one built first and copied: a batch of plan results
 * is one fresh copy on the loop instead of two. */
typedef void (*raft_node_fill_fn)(void *fill_arg, void *dst);
int raft_node_apply_fill(struct raft_node *rn, size_t len, raft_node_fill_fn fill, void *fill_arg,
                         raft_node_apply_cb cb, void *arg);

/* A barrier: an empty entry whose callback runs once it and every entry before
 * it are applied to the local FSM. status 0 (index: the barrier's), -EAGAIN when
 * this server is not (or stopped being) the leader, -ECANCELED when Raft is
 * closing, -EIO otherwise. A new leader runs one before it acts on its state. */
typedef void (*raft_node_barrier_cb)(void *arg, int status, uint64_t index);
int raft_node_barrier(struct raft_node *rn, raft_node_barrier_cb cb, void *arg);
/* The current Raft term (0 without Raft). */
uint64_t raft_node_term(struct raft_node *rn);

bool raft_node_is_leader(struct raft_node *rn);
/* The configuration: *ret malloc'd (free it). */
int raft_node_peers(struct raft_node *rn, struct raft_node_peer **ret, size_t *ret_n);
/* Index of the configuration entry in force. */
uint64_t raft_node_configuration_index(struct raft_node *rn);
uint64_t raft_node_commit_index(struct raft_node *rn);
/* Snapshots restored into the FSM since start: the server's own at start, or
 * one the leader sent because the entries this server lacks were truncated. */
uint64_t raft_node_snapshots_restored(const struct raft_node *rn);
/* Milliseconds since this server last heard from a leader (0 on the leader). */
uint64_t raft_node_last_contact_ms(struct raft_node *rn);
/* Whether this server has a Raft configuration (bootstrapped, or received one). */
bool raft_node_has_configuration(struct raft_node *rn);
/* Whether data_dir already holds Raft state (a restart, not a new server). */
bool raft_node_dir_has_state(const char *data_dir);

/* Membership changes, leader only (-EAGAIN elsewhere; -EBUSY while another
 * change is in progress). cb(arg, status, msg) once done. */
typedef void (*raft_node_change_cb)(void *arg, int status, const char *msg);
/* Add a server and promote it to voter once it has caught up with the log. An
 * already-voting member with the same ID and address is answered 0 at once. */
int raft_node_add_voter(struct raft_node *rn, uint64_t id, const char *address, raft_node_change_cb cb, void *arg);
int raft_node_remove(struct raft_node *rn, uint64_t id, raft_node_change_cb cb, void *arg);
/* Leader only: hand leadership to the most up-to-date voting follower (libraft
 * picks it and sends it TimeoutNow); this server is a follower once it has won
 * its election, or still the leader an election timeout later when it failed
 * (raft_node_is_leader tells). 0 when started or already under way, -EAGAIN on a
 * follower, -ENOENT when there is no other voter. */
int raft_node_transfer(struct raft_node *rn);
/* A follower that is leaving: it still votes and follows the leader but no
 * longer starts an election (its election timeout becomes an hour). Once the
 * leader has removed it, it hears from nobody: without this it would campaign
 * an election timeout later and its higher term would depose the leader
 * (the Raft thesis, section 4.2.3, "disruptive servers"). */
void raft_node_no_campaign(struct raft_node *rn);
/* Leader's address, or NULL when none is known. */
const char *raft_node_leader_address(struct raft_node *rn, uint64_t *ret_id);
/* The last index applied to the FSM. A follower applies committed entries a little
 * after libraft reports them applied (raft_node.c: it acknowledges new entries
 * first), so this may trail libraft's last_applied there; on the leader, after a
 * barrier and before a snapshot it does not. */
uint64_t raft_node_last_applied(struct raft_node *rn);
const char *raft_node_state_name(struct raft_node *rn);
