/* blocked.h - blocked evaluations (Nomad's nomad/blocked_evals.go), leader only.
 *
 * An eval the scheduler could not fully place waits here until capacity that
 * might fit it appears; it is then enqueued into the broker again. Pure and
 * single-threaded like the broker. At most one blocked eval per (namespace, job):
 * the newer (max(create_index, snapshot_index)) wins, the other is reported as a
 * duplicate for the server to mark canceled.
 *
 * Captured evals (class_eligibility known) are unblocked by a change on a node
 * class they marked eligible or never saw; a class they marked ineligible leaves
 * them blocked. Escaped evals (escaped_computed_class: constraints on unique.*
 * attributes) are unblocked by a change on any class. A block that arrives after
 * an unblock it would have matched (unblock index > eval snapshot_index) is
 * enqueued at once: the scheduler ran on a snapshot that did not see the capacity.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model.h"

struct broker;
struct blocked_evals;

/* What blocked_block() did with the eval. */
enum blocked_result {
        BLOCKED_TRACKED = 0,    /* waits for an unblock */
        BLOCKED_REENQUEUED = 1, /* missed an unblock: enqueued into the broker now */
        BLOCKED_DUPLICATE = 2,  /* older than the job's blocked eval: reported as a duplicate */
};

/* The broker receives unblocked evals and must outlive the tracker. Disabled at first. */
struct blocked_evals *blocked_create(struct broker *broker);
/* Accepts NULL; returns NULL. */
struct blocked_evals *blocked_destroy(struct blocked_evals *bl);

/* Disabling drops every blocked eval, duplicate and unblock index. */
void blocked_set_enabled(struct blocked_evals *bl, bool enabled);
bool blocked_enabled(const struct blocked_evals *bl);

/* Block an eval (takes a reference). Blocking the eval that is already blocked
 * for its job replaces the stored copy. Returns an enum blocked_result, or
 * -ENOTCONN when disabled, -EINVAL without id, -ENOMEM. */
int blocked_block(struct blocked_evals *bl, struct eval *e);
/* The same for an eval the worker holding `token` blocks again (Nomad's Reblock):
 * when it is unblocked while still outstanding, the broker runs it after the Ack. */
int blocked_reblock(struct blocked_evals *bl, struct eval *e, const char *token);

/* Capacity appeared on a node of computed_class (node ready or eligible, an alloc
 * went terminal) at Raft index `index`: enqueue the matching evals into the
 * broker. Returns how many were unblocked. */
size_t blocked_unblock(struct blocked_evals *bl, const char *computed_class, uint64_t index);
/* Unblock the evals blocked by max-plan-attempts (Nomad runs this every minute). */
size_t blocked_unblock_failed(struct blocked_evals *bl);

/* Stop tracking a job's blocked eval (the job was placed, stopped or purged).
 * Returns 1 when one was tracked (*ret_eval, if not NULL, gets the reference;
 * otherwise it is dropped), else 0. */
int blocked_untrack(struct blocked_evals *bl, const char *ns, const char *job_id, struct eval **ret_eval);
/* The job's blocked eval, borrowed, or NULL. */
const struct eval *blocked_get(const struct blocked_evals *bl, const char *ns, const char *job_id);

/* Take the evals replaced by a newer blocked eval of their job; the server marks
 * them canceled. *ret is a malloc'd array of references (NULL when none). */
size_t blocked_drain_duplicates(struct blocked_evals *bl, struct eval ***ret);

struct blocked_stats {
        size_t total_blocked; /* captured + escaped */
        size_t total_escaped;
        size_t total_duplicates; /* not drained yet */
        size_t by_type[JOB_TYPE_MAX];
};

void blocked_stats(const struct blocked_evals *bl, struct blocked_stats *ret);
