/* fsm.h - every state change of drover-server, applied in one place.
 *
 * A command is a JSON object {"Type": "...", ...} or a plan result in its compact
 * form (plan/codec.h); one Raft entry carries one JSON command or a batch of
 * commands (raft/batch.h).
 * The FSM applies it to the live state store with the entry's index, on every
 * server, in log order, deterministically. What the rest of the server does
 * after a change (enqueue evals on the leader, wake blocking queries) it is
 * told through the hooks given at creation; the FSM calls nothing else. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct error;
struct eval;
struct fsm;
struct plan_result;
struct state_store;

/* Each hook may be NULL. They run on the loop thread, right after the apply (but
 * plan_decoded: before it). */
struct fsm_hooks {
        /* Any command was applied, or a snapshot restored. */
        void (*state_changed)(void *data);
        /* Evaluations were written (pending or blocked ones concern the broker). */
        void (*evals)(void *data, struct eval **evals, size_t n);
        /* A node became ready: unblock evals of its class. */
        void (*node_ready)(void *data, const char *computed_class, uint64_t index);
        /* An allocation finished on a node: its capacity is free again. */
        void (*capacity_freed)(void *data, const char *computed_class, uint64_t index);
        /* A command was applied without error: cmd, or (cmd NULL) a compact plan
         * result of the evaluation plan_eval_id (the event stream's source). */
        void (*applied)(void *data, uint64_t index, const json_t *cmd, const char *plan_eval_id);
        /* A plan part is about to be applied: the result decoded from exactly these
         * bytes ahead of the apply (the leader's own proposals, raft/plan_predecode.h),
         * the FSM's to free; NULL: the FSM decodes the part itself. */
        struct plan_result *(*plan_decoded)(void *data, const void *buf, size_t len);
        /* A JSON command is about to be applied: the object these exact bytes were
         * dumped from (the leader's own proposals, raft/json_kept.h), a new reference;
         * NULL: the FSM parses the bytes itself. */
        json_t *(*json_decoded)(void *data, const void *buf, size_t len);
        /* A committed entry with this plan part was queued to be applied a little
         * later (a follower's, raft_node.h): it may be decoded ahead, for plan_decoded
         * to give at the apply. */
        void (*plan_queued)(void *data, const void *buf, size_t len);
        /* Whether a plan part queued so is decoded (or will not be): false while its
         * decoding is still to do or under way. */
        bool (*plan_ready)(void *data, const void *buf, size_t len);
};

/* state: the slot of the live state store, which a snapshot restore replaces.
 * hooks is copied; data is passed to every hook. */
struct fsm *fsm_create(struct state_store **state, const struct fsm_hooks *hooks, void *data);
struct fsm *fsm_destroy(struct fsm *f);

/* Apply one decoded command at index. A rejection returns the negative code
 * with err filled ("JobDeregister of job "web" rejected ...: not found"). */
int fsm_apply_command(struct fsm *f, uint64_t index, const json_t *cmd, struct error *err);

/* The outcome of part `part` of the batch entry (raft/batch.h) applied at index:
 * 0, or the FSM's negative code with *ret_msg its message. Valid until the next
 * batch entry is applied, i.e. in the proposer's callback of that entry (libraft
 * runs it right after the apply). -EIO for another index. */
int fsm_batch_status(const struct fsm *f, uint64_t index, size_t part, const char **ret_msg);

/* The raft_fsm_ops (raft_node.h) of this FSM: data is the struct fsm. */
extern const struct raft_fsm_ops fsm_raft_ops;
