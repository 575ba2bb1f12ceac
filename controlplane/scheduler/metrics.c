/* metrics.c - AllocationMetric. See metrics.h. */
#include "controlplane/scheduler/metrics.h"

#include <stdio.h>
#include <string.h>

static void bump_key(json_t **obj, const char *key) {
        if (!*obj)
                *obj = json_object();
        if (!*obj || !key)
                return;
        json_t *cur = json_object_get(*obj, key);
        json_object_set_new(*obj, key, json_integer(json_integer_value(cur) + 1));
}

void sched_metric_free(struct sched_metric *m) {
        json_decref(m->class_filtered);
        json_decref(m->constraint_filtered);
        json_decref(m->class_exhausted);
        json_decref(m->dimension_exhausted);
        json_decref(m->score_meta);
        memset(m, 0, sizeof(*m));
}

void sched_metric_filter(struct sched_metric *m, const struct node *n, const char *reason) {
        m->filtered++;
        if (n->node_class && *n->node_class)
                bump_key(&m->class_filtered, n->node_class);
        bump_key(&m->constraint_filtered, reason);
}

void sched_metric_exhaust(struct sched_metric *m, const struct node *n, const char *dim) {
        m->exhausted++;
        if (n->node_class && *n->node_class)
                bump_key(&m->class_exhausted, n->node_class);
        bump_key(&m->dimension_exhausted, dim);
}

static json_t *or_empty(json_t *o) {
        return o ? json_incref(o) : json_object();
}

json_t *sched_metric_json(const struct sched_metric_pool *p, const struct sched_metric *m, int64_t now, int coalesced) {
        json_t *scores = json_object();
        size_t i;
        json_t *v;
        json_array_foreach(m->score_meta, i, v) {
                const char *nid = json_string_value(json_object_get(v, "NodeID"));
                const char *k;
                json_t *s;
                json_object_foreach(json_object_get(v, "Scores"), k, s) {
                        char key[160];
                        snprintf(key, sizeof(key), "%s.%s", nid, k);
                        json_object_set(scores, key, s);
                }
        }
        json_t *o = json_object();
        json_object_set_new(o, "NodesEvaluated", json_integer(m->evaluated));
        json_object_set_new(o, "NodesFiltered", json_integer(m->filtered));
        json_object_set_new(o, "NodesInPool", json_integer(p->nodes_in_pool));
        json_object_set_new(o, "NodePool", json_string(p->node_pool ? p->node_pool : "default"));
        json_object_set_new(o, "NodesAvailable", p->nodes_available ? json_incref(p->nodes_available) : json_object());
        json_object_set_new(o, "ClassFiltered", or_empty(m->class_filtered));
        json_object_set_new(o, "ConstraintFiltered", or_empty(m->constraint_filtered));
        json_object_set_new(o, "NodesExhausted", json_integer(m->exhausted));
        json_object_set_new(o, "ClassExhausted", or_empty(m->class_exhausted));
        json_object_set_new(o, "DimensionExhausted", or_empty(m->dimension_exhausted));
        json_object_set_new(o, "QuotaExhausted", json_null());
        json_object_set_new(o, "ResourcesExhausted", json_null());
        json_object_set_new(o, "Scores", scores);
        json_object_set_new(o, "ScoreMetaData", m->score_meta ? json_incref(m->score_meta) : json_array());
        json_object_set_new(o, "AllocationTime", json_integer(now - m->start_ns));
        json_object_set_new(o, "CoalescedFailures", json_integer(coalesced));
        return o;
}
