/* metrics.c - AllocationMetric. See metrics.h. */
#include "controlplane/scheduler/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bump_key(struct sched_counts *c, const char *key) {
        if (!key)
                return;
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->v[i].key, key) == 0) {
                        c->v[i].n++;
                        return;
                }
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 4;
                struct sched_count *v = realloc(c->v, cap * sizeof(*v));
                if (!v)
                        return; /* a count lost to ENOMEM; the totals stay right */
                c->v = v;
                c->cap = cap;
        }
        char *k = strdup(key);
        if (k)
                c->v[c->n++] = (struct sched_count){k, 1};
}

static void counts_free(struct sched_counts *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->v[i].key);
        free(c->v);
}

static json_t *counts_json(const struct sched_counts *c) {
        json_t *o = json_object();
        for (size_t i = 0; o && i < c->n; i++)
                if (c->v[i].n)
                        json_object_set_new(o, c->v[i].key, json_integer(c->v[i].n));
        return o;
}

void sched_metric_free(struct sched_metric *m) {
        counts_free(&m->class_filtered);
        counts_free(&m->constraint_filtered);
        counts_free(&m->class_exhausted);
        counts_free(&m->dimension_exhausted);
        json_decref(m->score_meta);
        memset(m, 0, sizeof(*m));
}

static void counts_zero(struct sched_counts *c) {
        for (size_t i = 0; i < c->n; i++)
                c->v[i].n = 0;
}

void sched_metric_restart(struct sched_metric *m, int64_t start_ns, bool no_meta) {
        counts_zero(&m->class_filtered);
        counts_zero(&m->constraint_filtered);
        counts_zero(&m->class_exhausted);
        counts_zero(&m->dimension_exhausted);
        json_decref(m->score_meta);
        m->score_meta = NULL;
        m->evaluated = m->filtered = m->exhausted = 0;
        m->start_ns = start_ns;
        m->no_meta = no_meta;
}

void sched_metric_filter(struct sched_metric *m, const struct node *n, const char *reason) {
        m->filtered++;
        if (n->node_class && *n->node_class)
                bump_key(&m->class_filtered, n->node_class);
        bump_key(&m->constraint_filtered, reason);
}

void sched_metric_exhaust_class(struct sched_metric *m, const char *node_class, const char *dim) {
        m->exhausted++;
        if (node_class && *node_class)
                bump_key(&m->class_exhausted, node_class);
        bump_key(&m->dimension_exhausted, dim);
}

void sched_metric_exhaust(struct sched_metric *m, const struct node *n, const char *dim) {
        sched_metric_exhaust_class(m, n->node_class, dim);
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
        json_object_set_new(o, "ClassFiltered", counts_json(&m->class_filtered));
        json_object_set_new(o, "ConstraintFiltered", counts_json(&m->constraint_filtered));
        json_object_set_new(o, "NodesExhausted", json_integer(m->exhausted));
        json_object_set_new(o, "ClassExhausted", counts_json(&m->class_exhausted));
        json_object_set_new(o, "DimensionExhausted", counts_json(&m->dimension_exhausted));
        json_object_set_new(o, "QuotaExhausted", json_null());
        json_object_set_new(o, "ResourcesExhausted", json_null());
        json_object_set_new(o, "Scores", scores);
        json_object_set_new(o, "ScoreMetaData", m->score_meta ? json_incref(m->score_meta) : json_array());
        json_object_set_new(o, "AllocationTime", json_integer(now - m->start_ns));
        json_object_set_new(o, "CoalescedFailures", json_integer(coalesced));
        return o;
}
