/* state_internal.h - raw table access shared by state.c and state_persist.c. */
#pragma once

#include "controlplane/state/state.h"

/* Insert/replace objects as they are (indexes untouched; a reference is taken). */
int state_raw_put_job(struct state_store *st, struct job *j);
int state_raw_put_node(struct state_store *st, struct node *n);
int state_raw_put_alloc(struct state_store *st, struct alloc *a);
/* How many of the job's allocs are not terminal (kept by the index: O(1)). */
size_t state_job_live_allocs(const struct state_store *st, const char *ns, const char *job_id);
/* state_raw_put_alloc in two steps, for a writer that needs the stored version first
 * (one walk of the allocs table for both). Begin: the entry of id made this version's
 * own (a new id gets an empty one); `old` is the stored alloc (NULL: new), valid until
 * the end. End: store a (a->id == id) and index it, or with a NULL, leave the table as
 * it was. Nothing else may write the allocs table in between. */
struct state_alloc_write {
        const char *id;
        void **slot;
        struct alloc *old;
};
int state_raw_put_alloc_begin(struct state_store *st, const char *id, struct state_alloc_write *ret);
int state_raw_put_alloc_end(struct state_store *st, struct alloc *a, const struct state_alloc_write *w);
int state_raw_put_eval(struct state_store *st, struct eval *e);
void state_raw_set_indexes(struct state_store *st, uint64_t latest, const uint64_t tables[STATE_TABLE_COUNT]);
int state_raw_del_job(struct state_store *st, const char *ns, const char *id);
int state_raw_del_node(struct state_store *st, const char *id);
int state_raw_del_alloc(struct state_store *st, const char *id);
int state_raw_del_eval(struct state_store *st, const char *id);
/* Record a write at index to table t (and the overall latest index). */
void state_raw_bump(struct state_store *st, enum state_table t, uint64_t index);
void state_raw_bump_latest(struct state_store *st, uint64_t index);
/* The ACL tables (state_acl.c): the store's slot, and their reference counting. */
struct deploy_tables;
struct deploy_tables **state_raw_deploy(struct state_store *st); /* state_deploy.c's slot */
struct acl_tables;
struct acl_tables **state_raw_acl(struct state_store *st);
struct acl_tables *state_acl_tables_ref(struct acl_tables *a);
void state_acl_tables_unref(struct acl_tables *a);
/* The job-versions table (state_versions.c): the store's slot (a snapshot's is only read). */
struct version_table;
struct version_table **state_raw_versions(const struct state_store *st);
/* The scaling-events table (state_scaling.c): the store's slot (a snapshot's is only read). */
struct scaling_table;
struct scaling_table **state_raw_scaling(const struct state_store *st);
