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
        const json_t *allocated;       /* the alloc's AllocatedResources (its ports); may be NULL */
};

/* Build the full environment: host env, then NOMAD_* variables, then the task's
 * env block (interpolated). ret must be empty. Returns 0 or -ENOMEM. Each port of
 * allocated (Shared.Ports and the task's Networks) gives, as Nomad,
 * NOMAD_PORT_<label> (its `to` when > 0, else the host port), NOMAD_HOST_PORT_<label>,
 * NOMAD_IP_<label>, NOMAD_HOST_IP_<label>, NOMAD_ADDR_<label> and NOMAD_HOST_ADDR_<label>
 * (ip:host port); characters of the label other than [A-Za-z0-9_] become '_'. */
int taskenv_build(const struct taskenv_params *p, struct strmap *ret);

/* Replace ${NAME} with env's value; unknown references stay verbatim.
 * Returns a malloc'd string or NULL on allocation failure. */
char *taskenv_interpolate(const struct strmap *env, const char *s);

/* Deep copy of v with every string interpolated (object keys unchanged). */
json_t *taskenv_interpolate_json(const struct strmap *env, const json_t *v);
