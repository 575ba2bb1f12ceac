/* leadership.c - leader duties start only after a Raft barrier (leadership.h). */
#include "controlplane/leader/leadership.h"

#include <stdlib.h>

#include "common/log.h"

struct leadership {
        const struct leadership_ops *ops;
        void *data;
        bool established;
        uint64_t established_term;
        bool barrier_pending;
        uint64_t barrier_term;
        bool stopped;
};

struct leadership *leadership_create(const struct leadership_ops *ops, void *data) {
        struct leadership *l = calloc(1, sizeof(*l));
        if (!l)
                return NULL;
        l->ops = ops;
        l->data = data;
        return l;
}

struct leadership *leadership_destroy(struct leadership *l) {
        free(l);
        return NULL;
}

static void revoke(struct leadership *l) {
        if (!l->established)
                return;
        l->established = false;
        l->ops->revoke(l->data);
}

void leadership_observe(struct leadership *l) {
        if (!l || l->stopped)
                return;
        uint64_t term = 0;
        bool leader = l->ops->raft_leader(l->data, &term);
        if (l->established && (!leader || term != l->established_term))
                revoke(l); /* lost, or lost and won again between two looks: a new barrier */
        if (!leader || l->established || l->barrier_pending)
                return;
        l->barrier_pending = true;
        l->barrier_term = term;
        int r = l->ops->barrier(l->data);
        if (r < 0) {
                l->barrier_pending = false;
                log_debug("leadership: barrier for term %llu not sent (%d); retrying", (unsigned long long)term, r);
        }
}

void leadership_barrier_done(struct leadership *l, int status, uint64_t index) {
        if (!l)
                return;
        l->barrier_pending = false;
        if (l->stopped)
                return;
        if (status < 0) {
                log_debug("leadership: barrier for term %llu failed (%d)", (unsigned long long)l->barrier_term, status);
                return; /* still leader: the next observe sends another */
        }
        uint64_t term = 0;
        if (!l->ops->raft_leader(l->data, &term) || term != l->barrier_term)
                return; /* leadership lost while the barrier committed */
        l->established = true;
        l->established_term = term;
        l->ops->establish(l->data, index);
}

bool leadership_established(const struct leadership *l) {
        return l && l->established;
}

bool leadership_barrier_pending(const struct leadership *l) {
        return l && l->barrier_pending;
}

void leadership_stop(struct leadership *l) {
        if (l)
                l->stopped = true;
}
