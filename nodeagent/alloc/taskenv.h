/* taskenv.h - a task's environment and ${...} interpolation. Pure functions. */
#pragma once

#include <jansson.h>

struct strmap;
struct error;

struct taskenv_params {
        const char *alloc_id;
        int alloc_index; /* -1 = unknown */
        const char *alloc_name;
        const char *job_id;
        const char *job_name;
        const char *group_name;
        const char *task_name;
        const char *namespace;
        const char *region;
        const char *dc;
        const char *node_id;
        const char *node_name;
        const char *alloc_dir;         /* <data>/alloc/<id>/alloc */
        const char *task_dir;          /* <data>/alloc/<id>/<task>/local */
        const char *secrets_dir;       /* <data>/alloc/<id>/<task>/secrets */
        int cpu_limit;                 /* MHz */
        int memory_limit;              /* MB */
        const struct strmap *task_env; /* the task's env block; values are interpolated */
        char *const *host_env;         /* environ-style base (raw_exec inherits the agent's); may be NULL */
};

/* Build the full environment: host env, then NOMAD_* variables, then the task's
 * env block (interpolated). ret must be empty. Returns 0 or -ENOMEM. */
int taskenv_build(const struct taskenv_params *p, struct strmap *ret);

/* Replace ${NAME} with env's value; unknown references stay verbatim.
 * Returns a malloc'd string or NULL on allocation failure. */
char *taskenv_interpolate(const struct strmap *env, const char *s);

/* Deep copy of v with every string interpolated (object keys unchanged). */
json_t *taskenv_interpolate_json(const struct strmap *env, const json_t *v);
