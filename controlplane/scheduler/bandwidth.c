/* bandwidth.c - network bandwidth asks and node capacity. See bandwidth.h. */
#include "controlplane/scheduler/bandwidth.h"

#include <jansson.h>
#include <string.h>

#include "controlplane/scheduler/candidates.h"

static int64_t nets_mbits(const struct network *nets, size_t n) {
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
                sum += nets[i].mbits > 0 ? nets[i].mbits : 0;
        return sum;
}

int64_t sched_group_mbits(const struct task_group *tg) {
        int64_t sum = nets_mbits(tg->networks, tg->n_networks);
        for (size_t t = 0; t < tg->n_tasks; t++)
                sum += nets_mbits(tg->tasks[t].resources.networks, tg->tasks[t].resources.n_networks);
        return sum;
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
