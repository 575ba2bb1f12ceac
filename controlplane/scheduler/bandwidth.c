/* bandwidth.c - network bandwidth asks and node capacity. See bandwidth.h. */
#include "controlplane/scheduler/bandwidth.h"

#include <jansson.h>
#include <string.h>

#include "controlplane/scheduler/candidates.h"
#include "controlplane/scheduler/ports.h"

static int64_t net_mbits(const struct network *net) {
        return net->mbits > 0 ? net->mbits : 0;
}

int64_t sched_group_mbits(const struct task_group *tg) {
        return sched_group_networks_sum(tg, net_mbits);
}

int64_t sched_alloc_mbits(const struct alloc *a) {
        const struct task_group *tg = a->job && a->task_group ? job_group(a->job, a->task_group) : NULL;
        return tg ? sched_group_mbits(tg) : 0;
}

int64_t sched_node_mbits(const struct node *n) {
        int64_t best = 0;
        size_t i;
        json_t *net;
        json_array_foreach(n->networks, i, net) {
                const char *mode = json_string_value(json_object_get(net, "Mode"));
                json_t *speed = json_object_get(net, "Speed");
                if ((!mode || strcmp(mode, "host") == 0) && json_is_integer(speed) && json_integer_value(speed) > best)
                        best = json_integer_value(speed);
        }
        return best;
}

static void add_held(const struct alloc *a, void *arg) {
        *(int64_t *)arg += sched_alloc_mbits(a);
}

int64_t sched_cand_mbits_used(const struct sched_attempt *at, const struct sched_cand *cd) {
        int64_t used = 0;
        sched_proposed_foreach(at, cd, add_held, &used);
        return used;
}
