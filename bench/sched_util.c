/* sched_util.c - small helpers, deterministic randomness and IDs, the workload and its fixtures. */
#include "bench/sched_bench.h"

/* ---- small helpers ------------------------------------------------------------------------ */

void die_oom(void) {
        fputs("sched: out of memory\n", stderr);
        exit(2);
}

void *xcalloc(size_t n, size_t size) {
        void *p = calloc(n ? n : 1, size);
        if (!p)
                die_oom();
        return p;
}

char *xstrdup(const char *s) {
        char *p = strdup(s);
        if (!p)
                die_oom();
        return p;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
        return x < y ? -1 : x > y;
}

/* Median of v (sorted in place); NAN when empty. */
double median(double *v, size_t n) {
        if (!n)
                return NAN;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest-rank percentile of a sorted array. */
int64_t percentile(const int64_t *sorted, size_t n, double p) {
        if (!n)
                return 0;
        size_t rank = (size_t)ceil(p * (double)n);
        return sorted[rank ? rank - 1 : 0];
}

/* ---- deterministic randomness and IDs ------------------------------------------------------ */

uint64_t rng_next(uint64_t *s) {
        uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
int rng_range(uint64_t *s, int lo, int hi) {
        return lo + (int)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* A v4-shaped UUID drawn from the stream: the same seed gives the same IDs. */
void uuid_from(uint64_t *s, char buf[ID_BUF]) {
        uint64_t a = rng_next(s), b = rng_next(s);
        /* "%08x-%04x-4%03x-%04x-%012x" of (a >> 32, a >> 16, a & 0xfff, b >> 48 (variant
         * bits set), b & 0xffffffffffff), without printf: the bench makes one ID per
         * placement, and snprintf cost as much as the rest of the placement */
        a = (a & ~UINT64_C(0xf000)) | UINT64_C(0x4000);
        b = (b & ~(UINT64_C(0xc000) << 48)) | (UINT64_C(0x8000) << 48);
        static const char hex[] = "0123456789abcdef";
        char *o = buf;
        for (int i = 60; i >= 0; i -= 4) {
                *o++ = hex[(a >> i) & 15];
                if (i == 32 || i == 16)
                        *o++ = '-';
        }
        *o++ = '-';
        for (int i = 60; i >= 0; i -= 4) {
                *o++ = hex[(b >> i) & 15];
                if (i == 48)
                        *o++ = '-';
        }
        *o = '\0';
}

/* 70% service / 30% batch, count 10..50, and three shapes so that cpu and memory both
 * bind somewhere (uniform asks make packing trivial): balanced, cpu-heavy, memory-heavy.
 * Every ask is under 40% of a node in each dimension. */
static struct spec spec_next(uint64_t *rng) {
        struct spec s = {.type = rng_range(rng, 0, 9) < 7 ? JOB_SERVICE : JOB_BATCH, .count = rng_range(rng, 10, 50)};
        switch (rng_range(rng, 0, 3)) {
        case 0:
        case 1: /* balanced: 100..1000 MHz, about 2 MB per MHz like the node */
                s.cpu = 50 * rng_range(rng, 2, 20);
                s.mem = s.cpu * rng_range(rng, 16, 24) / 10;
                break;
        case 2: /* cpu-heavy: 500..1500 MHz, 128..1024 MB */
                s.cpu = 50 * rng_range(rng, 10, 30);
                s.mem = 64 * rng_range(rng, 2, 16);
                break;
        default: /* memory-heavy: 100..500 MHz, 1024..3072 MB */
                s.cpu = 50 * rng_range(rng, 2, 10);
                s.mem = 128 * rng_range(rng, 8, 24);
                break;
        }
        s.constrained = rng_range(rng, 0, 1);
        return s;
}

/* Jobs from `seed` until target_cpu MHz is asked in all (the last job crosses it). The
 * sequence for a seed does not depend on the target: a smaller target gives a prefix. */
struct spec *workload(uint64_t seed, int64_t target_cpu, size_t *ret_n) {
        uint64_t rng = seed;
        size_t n = 0, cap = 64;
        struct spec *v = xcalloc(cap, sizeof(*v));
        for (int64_t asked = 0; asked < target_cpu;) {
                if (n == cap) {
                        cap *= 2;
                        v = realloc(v, cap * sizeof(*v));
                        if (!v)
                                die_oom();
                }
                v[n] = spec_next(&rng);
                asked += (int64_t)v[n].count * v[n].cpu;
                n++;
        }
        *ret_n = n;
        return v;
}

/* ---- fixtures -------------------------------------------------------------------------------- */

/* Node i: 4000 MHz / 8192 MB, or with vary one of three shapes around it (round robin). */
struct node *make_node(int i, uint64_t *rng, bool vary) {
        static const int64_t cpus[] = {4000, 3600, 4400}, mems[] = {8192, 7168, 9216};
        char id[ID_BUF], name[32];
        uuid_from(rng, id);
        snprintf(name, sizeof(name), "node-%05d", i);
        struct node *n = node_new();
        if (!n)
                die_oom();
        n->id = xstrdup(id);
        n->secret_id = xstrdup(id);
        n->name = xstrdup(name);
        n->datacenter = xstrdup(i % 2 ? "dc2" : "dc1");
        n->node_class = xstrdup("");
        n->node_pool = xstrdup("default");
        n->status = NODE_READY;
        n->eligible = true;
        n->cpu_shares = vary ? cpus[i % 3] : NODE_CPU;
        n->memory_mb = vary ? mems[i % 3] : NODE_MEM;
        n->disk_mb = NODE_DISK;
        n->total_cores = 4;
        n->drivers = xcalloc(1, sizeof(*n->drivers));
        n->drivers[0] = (struct node_driver){xstrdup("raw_exec"), true, true};
        n->n_drivers = 1;
        if (strmap_set(&n->attributes, "kernel.name", "linux") < 0 ||
            strmap_set(&n->attributes, "cpu.numcores", "4") < 0 ||
            strmap_set(&n->attributes, "unique.hostname", name) < 0)
                die_oom();
        node_compute_class(n);
        return n;
}

struct job *make_job(const struct spec *s, size_t i) {
        char id[32];
        snprintf(id, sizeof(id), "%s-%05zu", s->type == JOB_BATCH ? "etl" : "web", i);
        struct job *j = job_new();
        if (!j)
                die_oom();
        j->id = xstrdup(id);
        j->type = s->type;
        j->groups = xcalloc(1, sizeof(*j->groups));
        j->n_groups = 1;
        struct task_group *g = &j->groups[0];
        g->name = xstrdup("g");
        g->count = s->count;
        g->tasks = xcalloc(1, sizeof(*g->tasks));
        g->n_tasks = 1;
        g->tasks[0].name = xstrdup("t");
        g->tasks[0].driver = xstrdup("raw_exec");
        if (s->constrained) { /* memoised per computed class, as in Nomad */
                j->constraints = xcalloc(1, sizeof(*j->constraints));
                j->constraints[0] = (struct constraint){xstrdup("${attr.kernel.name}"), xstrdup("linux"), xstrdup("=")};
                j->n_constraints = 1;
        }
        job_canonicalize(j);
        g->tasks[0].resources.cpu = s->cpu;
        g->tasks[0].resources.memory_mb = s->mem;
        g->tasks[0].resources.cpu_set = g->tasks[0].resources.memory_set = true;
        g->ephemeral_disk_mb = TASK_DISK;
        if (!j->name || !j->namespace || !j->n_datacenters)
                die_oom();
        return j;
}

struct eval *make_eval(const struct job *j, uint64_t *rng) {
        char id[ID_BUF];
        uuid_from(rng, id);
        struct eval *e = eval_new();
        if (!e)
                die_oom();
        e->id = xstrdup(id);
        e->namespace = xstrdup(j->namespace);
        e->priority = j->priority;
        e->type = j->type;
        e->triggered_by = xstrdup("job-register");
        e->job_id = xstrdup(j->id);
        e->status = EVAL_PENDING;
        return e;
}
