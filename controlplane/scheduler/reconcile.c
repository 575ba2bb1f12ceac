/* reconcile.c - the pure reconciler. See reconcile.h. */
#include "controlplane/scheduler/reconcile.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashmap.h"
#include "common/macros.h"
#include "controlplane/scheduler/reschedule.h"
#include "controlplane/scheduler/update.h"
#include "controlplane/state/state_deploy.h"

const char sched_desc_not_needed[] = "alloc not needed due to job update";
const char sched_desc_lost[] = "alloc is lost since its node is down";
const char sched_desc_migrate[] = "alloc is being migrated";
const char sched_desc_update[] = "alloc is being updated due to job update";

/* The group's migrate.max_parallel (over the job's; default 1). */
static int migrate_max_parallel(const struct job *j, const struct task_group *tg) {
        json_t *v = json_object_get(json_object_get(tg->extra, "Migrate"), "MaxParallel");
        if (!json_is_integer(v))
                v = json_object_get(json_object_get(j->extra, "Migrate"), "MaxParallel");
        return json_is_integer(v) && json_integer_value(v) >= 0 ? (int)json_integer_value(v) : 1;
}

#define NO_GROUP SIZE_MAX
#define LINEAR_GROUPS 8 /* up to this many groups a scan beats hashing */

struct live {
        struct alloc *a;
        int index;
        bool outdated; /* runs an older job version */
};

/* Stopped first when above count: older versions, then the highest indexes. */
static int cmp_live_desc(const void *a, const void *b) {
        const struct live *x = a, *y = b;
        if (x->outdated != y->outdated)
                return x->outdated ? -1 : 1;
        return (y->index > x->index) - (y->index < x->index);
}

/* Healthy for update pacing: marked so by its deployment, or running outside any. */
static bool alloc_healthy(const struct alloc *a) {
        if (a->deploy_health != DEPLOY_HEALTH_UNSET || a->deployment_id)
                return a->deploy_health == DEPLOY_HEALTH_HEALTHY;
        return a->client_status == ALLOC_CLIENT_RUNNING;
}

/* sched_tasks_updated, remembered per old job object (allocs of a version share one). */
#define UPDATE_MEMO 8
struct update_memo {
        const struct job *job[UPDATE_MEMO];
        bool destructive[UPDATE_MEMO];
        size_t n;
};

static bool destructive_update(struct update_memo *m, const struct job *old, const struct job *j, const char *tg) {
        for (size_t i = 0; i < m->n; i++)
                if (m->job[i] == old)
                        return m->destructive[i];
        bool d = sched_tasks_updated(old, j, tg);
        if (m->n < UPDATE_MEMO) {
                m->job[m->n] = old;
                m->destructive[m->n++] = d;
        }
        return d;
}

static int add_inplace(struct reconcile_out *out, size_t *cap, struct alloc *a, size_t g) {
        if (out->n_inplace == *cap) {
                size_t n = *cap ? *cap * 2 : 16;
                struct reconcile_inplace *v = realloc(out->inplace, n * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                out->inplace = v;
                *cap = n;
        }
        out->inplace[out->n_inplace++] = (struct reconcile_inplace){a, g};
        return 0;
}

void reconcile_out_free(struct reconcile_out *out) {
        free(out->stops);
        free(out->place);
        free(out->inplace);
        free(out->delayed);
        memset(out, 0, sizeof(*out));
}

const char *sched_followup_eval_id(const struct alloc *a) {
        const char *id = a->extra ? json_string_value(json_object_get(a->extra, "FollowupEvalID")) : NULL;
        return id && *id ? id : NULL;
}

static int add_delayed(struct reconcile_out *out, struct alloc *a, int64_t when) {
        size_t n = out->n_delayed;
        if (n == 0 || (n & (n - 1)) == 0) { /* capacity: the next power of two */
                struct reconcile_delayed *v = realloc(out->delayed, (n ? n * 2 : 4) * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                out->delayed = v;
        }
        out->delayed[out->n_delayed++] = (struct reconcile_delayed){a, when};
        if (!out->followup_ns || when < out->followup_ns)
                out->followup_ns = when;
        return 0;
}

static int add_stop(struct reconcile_out *out, size_t *cap, struct alloc *a, const char *desc, int client) {
        if (out->n_stops == *cap) {
                size_t n = *cap ? *cap * 2 : 16;
                struct reconcile_stop *v = realloc(out->stops, n * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                out->stops = v;
                *cap = n;
        }
        out->stops[out->n_stops++] = (struct reconcile_stop){a, desc, client};
        return 0;
}

/* Group index of each alloc (NO_GROUP: the job has no such group). */
static int group_of_allocs(const struct job *j, struct alloc *const *allocs, size_t n, size_t *gid) {
        struct hashmap *names = NULL;
        if (j->n_groups > LINEAR_GROUPS) {
                names = hashmap_create(0); /* keys borrowed from the job */
                if (!names || hashmap_reserve(names, j->n_groups) < 0) {
                        hashmap_destroy(names);
                        return -ENOMEM;
                }
                for (size_t g = 0; g < j->n_groups; g++)
                        if (hashmap_put(names, j->groups[g].name, (void *)(uintptr_t)(g + 1), NULL) < 0) {
                                hashmap_destroy(names);
                                return -ENOMEM;
                        }
        }
        for (size_t i = 0; i < n; i++) {
                const char *tg = allocs[i]->task_group;
                gid[i] = NO_GROUP;
                if (!tg)
                        continue;
                if (names) {
                        uintptr_t v = (uintptr_t)hashmap_get(names, tg);
                        if (v)
                                gid[i] = v - 1;
                        continue;
                }
                for (size_t g = 0; g < j->n_groups; g++)
                        if (strcmp(j->groups[g].name, tg) == 0) {
                                gid[i] = g;
                                break;
                        }
        }
        hashmap_destroy(names);
        return 0;
}

/* One group: its allocs are bucket[0..n). */
#define CANARY_MAX 64 /* canaries placed per group and evaluation */

struct caps {
        size_t stop, place, inplace;
};

/* Live allocs of an older version: in place now, or destructively, max_parallel at a
 * time less the new-version allocs not healthy yet. live[from..n_live) are sorted by
 * descending index; moved ones are skipped; the destructive ones join lost[]. */
static int reconcile_updates(const struct reconcile_in *in, size_t g, struct live *live, size_t from, size_t n_live,
                             const bool *moved, struct live *lost, size_t *n_lost, bool *taken, size_t count,
                             int canaries_wanted, int *canary_idx, int *ret_n_canary, size_t *ret_destructive,
                             struct reconcile_out *out, struct caps *caps) {
        const struct task_group *tg = &in->job->groups[g];
        struct update_strategy us;
        sched_update_strategy(in->job, tg, &us);
        struct update_memo memo = {0};
        size_t in_flight = 0, n_dest = 0, limit = SIZE_MAX;
        int r;
        bool canaries = false; /* promoted canaries share their names with old allocs */
        for (size_t i = from; i < n_live; i++) {
                if (!moved[i] && !live[i].outdated && !alloc_healthy(live[i].a))
                        in_flight++;
                canaries = canaries || live[i].a->deploy_canary;
        }
        *ret_n_canary = 0;
        if (in->updates_blocked || canaries_wanted >= 0) /* canaries first: nothing replaced until promoted */
                limit = 0;
        else if (!in->batch && us.max_parallel > 0)
                limit = (size_t)us.max_parallel > in_flight ? (size_t)us.max_parallel - in_flight : 0;
        for (size_t k = n_live; k-- > from;) { /* lowest indexes first */
                if (moved[k] || !live[k].outdated)
                        continue;
                struct alloc *a = live[k].a;
                if (!destructive_update(&memo, a->job, in->job, tg->name)) {
                        if ((r = add_inplace(out, &caps->inplace, a, g)) < 0)
                                return r;
                        continue;
                }
                if (canaries_wanted > 0 && *ret_n_canary < canaries_wanted && *ret_n_canary < CANARY_MAX)
                        canary_idx[(*ret_n_canary)++] = live[k].index;
                if (n_dest >= limit)
                        continue;
                if ((r = add_stop(out, &caps->stop, a, sched_desc_update, -1)) < 0)
                        return r;
                bool name_held = false; /* by a canary of the new version: the replacement takes a free one */
                for (size_t i = from; canaries && i < n_live && !name_held; i++)
                        name_held = i != k && !moved[i] && !live[i].outdated && live[i].index == live[k].index;
                if (!name_held && live[k].index >= 0 && (size_t)live[k].index < count)
                        taken[live[k].index] = false;
                lost[(*n_lost)++] = live[k];
                n_dest++;
        }
        out->n_destructive += n_dest;
        *ret_destructive = n_dest;
        return 0;
}

static int reconcile_group(const struct reconcile_in *in, const struct hashmap *replaced, size_t g,
                           struct alloc *const *bucket, size_t n, struct live *live, struct live *lost,
                           struct live *failed, bool *taken, bool *moved, struct reconcile_out *out,
                           struct caps *caps) {
        size_t *stop_cap = &caps->stop, *place_cap = &caps->place;
        const struct task_group *tg = &in->job->groups[g];
        size_t count = tg->count > 0 ? (size_t)tg->count : 0;
        size_t n_live = 0, n_lost = 0, n_done = 0, n_failed = 0;
        int r, n_canaries = 0;
        const struct deploy_group *dg = in->deploy ? deployment_group(in->deploy, tg->name) : NULL;
        bool canary_hold = dg && dg->desired_canaries > 0 && !dg->promoted;
        memset(taken, 0, count * sizeof(*taken));
        for (size_t i = 0; i < n; i++) {
                struct alloc *a = bucket[i];
                if (a->desired_status != ALLOC_DESIRED_RUN)
                        continue;
                int idx = alloc_name_index(a);
                if (a->client_status == ALLOC_CLIENT_FAILED) { /* the reschedule policy decides, below */
                        if (!replaced || !hashmap_contains(replaced, a->id))
                                failed[n_failed++] = (struct live){a, idx};
                        continue;
                }
                bool done = in->batch && a->client_status == ALLOC_CLIENT_COMPLETE;
                if (done) {
                        if (idx >= 0 && (size_t)idx < count && !taken[idx]) {
                                taken[idx] = true;
                                n_done++;
                        }
                        continue;
                }
                if (alloc_client_terminal(a->client_status)) { /* lost, failed service, complete service */
                        /* marked lost with its node (the heartbeat's write): stopped as Nomad's are */
                        if (a->client_status == ALLOC_CLIENT_LOST &&
                            (r = add_stop(out, stop_cap, a, sched_desc_lost, ALLOC_CLIENT_LOST)) < 0)
                                return r;
                        lost[n_lost++] = (struct live){a, idx};
                        continue;
                }
                if (in->node_lost && in->node_lost(in->data, a->node_id)) {
                        if ((r = add_stop(out, stop_cap, a, sched_desc_lost, ALLOC_CLIENT_LOST)) < 0)
                                return r;
                        lost[n_lost++] = (struct live){a, idx};
                        continue;
                }
                if (canary_hold && a->deploy_canary && a->deployment_id &&
                    strcmp(a->deployment_id, in->deploy->id) == 0) {
                        n_canaries++; /* beside the group until promoted */
                        continue;
                }
                live[n_live++] = (struct live){a, idx, sched_alloc_outdated(a, in->job)};
        }
        /* Too many: stop the highest indexes first. */
        qsort(live, n_live, sizeof(*live), cmp_live_desc);
        size_t excess = n_live + n_done > count ? n_live + n_done - count : 0;
        if (excess > n_live)
                excess = n_live;
        for (size_t i = 0; i < excess; i++)
                if ((r = add_stop(out, stop_cap, live[i].a, sched_desc_not_needed, -1)) < 0)
                        return r;
        for (size_t i = excess; i < n_live; i++) {
                moved[i] = false;
                if (live[i].index >= 0 && (size_t)live[i].index < count)
                        taken[live[i].index] = true;
        }
        /* Drain: migrate while fewer than max_parallel of the group are missing (not
         * running), whoever stopped them: the leader's drainer (leader/drainer.c) paces
         * with the same rule, so the two never move more than max_parallel at a time. */
        size_t n_migrating = 0;
        if (in->node_draining) {
                size_t running = 0;
                for (size_t i = excess; i < n_live; i++)
                        running += live[i].a->client_status == ALLOC_CLIENT_RUNNING;
                size_t inflight = count > running ? count - running : 0;
                size_t maxp = (size_t)migrate_max_parallel(in->job, tg);
                for (size_t i = excess; i < n_live && inflight + n_migrating < maxp; i++) {
                        if (!in->node_draining(in->data, live[i].a->node_id))
                                continue;
                        if ((r = add_stop(out, stop_cap, live[i].a, sched_desc_migrate, -1)) < 0)
                                return r;
                        if (live[i].index >= 0 && (size_t)live[i].index < count)
                                taken[live[i].index] = false;
                        lost[n_lost++] = live[i];
                        moved[i] = true;
                        n_migrating++;
                }
        }
        size_t n_destructive = 0;
        int canary_idx[CANARY_MAX], n_canary_new = 0;
        int wanted = canary_hold ? (dg->desired_canaries > n_canaries ? dg->desired_canaries - n_canaries : 0) : -1;
        if ((r = reconcile_updates(in, g, live, excess, n_live, moved, lost, &n_lost, taken, count, wanted, canary_idx,
                                   &n_canary_new, &n_destructive, out, caps)) < 0)
                return r;
        if (n_canary_new) { /* beside the old allocs, named after those they will replace */
                if (out->n_place + (size_t)n_canary_new > *place_cap) {
                        size_t cap = out->n_place + (size_t)n_canary_new + *place_cap;
                        struct place_req *v = realloc(out->place, cap * sizeof(*v));
                        if (!v)
                                return -ENOMEM;
                        out->place = v;
                        *place_cap = cap;
                }
                for (int i = 0; i < n_canary_new; i++)
                        out->place[out->n_place++] = (struct place_req){g, canary_idx[i], NULL, true};
        }
        /* Failed allocs whose slot no live alloc holds: replace now, wait, or leave failed. */
        struct resched_policy pol;
        if (n_failed)
                sched_resched_policy(in->job, tg, &pol);
        size_t held = 0;
        for (size_t i = 0; i < n_failed; i++) {
                int idx = failed[i].index;
                bool in_range = idx >= 0 && (size_t)idx < count;
                if (in_range && taken[idx])
                        continue;
                int64_t when = 0;
                bool eligible = sched_resched_when(&pol, failed[i].a, in->now, &when);
                const char *followup = sched_followup_eval_id(failed[i].a);
                if (eligible && (when <= in->now || (followup && in->eval_id && strcmp(followup, in->eval_id) == 0))) {
                        lost[n_lost++] = failed[i];
                        continue;
                }
                if (eligible && !followup && (r = add_delayed(out, failed[i].a, when)) < 0)
                        return r;
                if (in_range) { /* the slot waits for its delay, or stays failed */
                        taken[idx] = true;
                        held++;
                }
        }
        size_t have = n_live - excess - n_migrating - n_destructive + n_done + held;
        size_t need = have < count ? count - have : 0;
        if (!need)
                return 0;
        if (out->n_place + need > *place_cap) {
                size_t cap = *place_cap * 2 > out->n_place + need ? *place_cap * 2 : out->n_place + need;
                struct place_req *v = realloc(out->place, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                out->place = v;
                *place_cap = cap;
        }
        /* Indexes whose live alloc sits outside [0,count) or duplicates an index leave
         * holes: fill replacements of lost allocs first (same name), then the lowest
         * free indexes. */
        size_t added = 0;
        for (size_t i = 0; i < n_lost && added < need; i++) {
                int idx = lost[i].index;
                if (idx < 0 || (size_t)idx >= count || taken[idx])
                        continue;
                taken[idx] = true;
                out->place[out->n_place + added++] = (struct place_req){g, idx, lost[i].a};
        }
        for (size_t idx = 0; idx < count && added < need; idx++) {
                if (taken[idx])
                        continue;
                taken[idx] = true;
                out->place[out->n_place + added++] = (struct place_req){g, (int)idx, NULL};
        }
        out->n_place += added;
        return 0;
}

/* Bucket the allocs by group (a counting sort that keeps their order), then
 * reconcile each group. */
static int reconcile_groups(const struct reconcile_in *in, const size_t *gid, struct reconcile_out *out,
                            struct caps *caps) {
        const struct job *j = in->job;
        size_t n = in->n_allocs;
        _cleanup_free_ size_t *start = calloc(j->n_groups + 1, sizeof(*start));
        _cleanup_free_ size_t *fill = malloc((j->n_groups + 1) * sizeof(*fill));
        _cleanup_free_ struct alloc **bucket = malloc((n + 1) * sizeof(*bucket));
        if (!start || !fill || !bucket)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (gid[i] != NO_GROUP)
                        start[gid[i] + 1]++;
        size_t max_bucket = 0, max_count = 0;
        for (size_t g = 0; g < j->n_groups; g++) {
                max_bucket = start[g + 1] > max_bucket ? start[g + 1] : max_bucket;
                start[g + 1] += start[g];
                size_t c = j->groups[g].count > 0 ? (size_t)j->groups[g].count : 0;
                max_count = c > max_count ? c : max_count;
        }
        memcpy(fill, start, (j->n_groups + 1) * sizeof(*fill));
        for (size_t i = 0; i < n; i++)
                if (gid[i] != NO_GROUP)
                        bucket[fill[gid[i]]++] = in->allocs[i];
        _cleanup_free_ struct live *live = malloc((max_bucket + 1) * sizeof(*live));
        _cleanup_free_ struct live *lost = malloc((max_bucket + 1) * sizeof(*lost));
        _cleanup_free_ struct live *failed = malloc((max_bucket + 1) * sizeof(*failed));
        _cleanup_free_ bool *taken = malloc(max_count + 1);
        _cleanup_free_ bool *moved = malloc(max_bucket + 1);
        if (!live || !lost || !failed || !taken || !moved)
                return -ENOMEM;
        /* The failed allocs another alloc already replaced (built only when one failed). */
        struct hashmap *replaced = NULL;
        for (size_t i = 0; i < n && !replaced; i++)
                if (in->allocs[i]->client_status == ALLOC_CLIENT_FAILED && !(replaced = hashmap_create(0)))
                        return -ENOMEM;
        for (size_t i = 0; replaced && i < n; i++)
                if (in->allocs[i]->previous_allocation &&
                    hashmap_put(replaced, in->allocs[i]->previous_allocation, (void *)1, NULL) < 0) {
                        hashmap_destroy(replaced);
                        return -ENOMEM;
                }
        int r = 0;
        for (size_t g = 0; g < j->n_groups && r == 0; g++)
                r = reconcile_group(in, replaced, g, bucket + start[g], start[g + 1] - start[g], live, lost, failed,
                                    taken, moved, out, caps);
        hashmap_destroy(replaced);
        return r;
}

int sched_reconcile(const struct reconcile_in *in, struct reconcile_out *out) {
        memset(out, 0, sizeof(*out));
        const struct job *j = in->job;
        bool stopped = !j || j->stop || job_is_parent(j); /* periodic/parameterized parents run as children */
        size_t n = in->n_allocs;
        struct caps caps = {0};
        _cleanup_free_ size_t *gid = calloc(n + 1, sizeof(*gid));
        if (!gid)
                return -ENOMEM;
        int r = stopped ? 0 : group_of_allocs(j, in->allocs, n, gid);
        /* Allocs nobody wants any more: job stopped, group removed. */
        for (size_t i = 0; i < n && r == 0; i++) {
                struct alloc *a = in->allocs[i];
                if (!alloc_terminal(a) && (stopped || gid[i] == NO_GROUP))
                        r = add_stop(out, &caps.stop, a, sched_desc_not_needed, -1);
        }
        if (r == 0 && !stopped)
                r = reconcile_groups(in, gid, out, &caps);
        if (r < 0)
                reconcile_out_free(out);
        return r;
}
