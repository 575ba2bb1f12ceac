/* taskenv.h - a task's environment and ${...} interpolation. Pure functions. */
#pragma once

#include <jansson.h>
#include <sys/types.h>

struct strmap;
struct error;

/* A user database entry (each field malloc'd; NULL when unknown). */
struct taskenv_user {
        char *name;
        char *home;
        char *shell;
};

/* The entry of uid (getpwuid_r: may read NSS, so off the event loop). 0, -ENOENT
 * when uid has none, or -ENOMEM. ret is written only on success. */
int taskenv_user_lookup(uid_t uid, struct taskenv_user *ret);
void taskenv_user_clear(struct taskenv_user *u);

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
        /* The agent's environment (environ-style; may be NULL): only LANG, LC_ALL, TZ
         * and the names in passthrough reach the task, never the rest (the agent's
         * node secret, proxy credentials). */
        char *const *host_env;
        const char *passthrough; /* comma-separated variable names; may be NULL */
        /* Who the task runs as: HOME, USER, LOGNAME, SHELL (unset when NULL). */
        const struct taskenv_user *user;
        const json_t *allocated; /* the alloc's AllocatedResources (its ports); may be NULL */
};

#define TASKENV_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Build the task's whole environment, and only that: PATH (TASKENV_DEFAULT_PATH),
 * LANG, LC_ALL, TZ and the passthrough names when the agent has them, HOME, USER,
 * LOGNAME and SHELL of the task's user, then Nomad's variables, each also under
 * DROVER_ (NOMAD_ALLOC_ID and DROVER_ALLOC_ID, ...), then the task's env block
 * (interpolated; it may override any of them). ret must be empty. Returns 0 or
 * -ENOMEM. Each port of allocated (Shared.Ports and the task's Networks) gives, as
 * Nomad, NOMAD_PORT_<label> (its `to` when > 0, else the host port),
 * NOMAD_HOST_PORT_<label>, NOMAD_IP_<label>, NOMAD_HOST_IP_<label>,
 * NOMAD_ADDR_<label> and NOMAD_HOST_ADDR_<label> (ip:host port), and the same under
 * DROVER_; characters of the label other than [A-Za-z0-9_] become '_'. */
int taskenv_build(const struct taskenv_params *p, struct strmap *ret);

/* Replace ${NAME} with env's value; unknown references stay verbatim.
 * Returns a malloc'd string or NULL on allocation failure. */
char *taskenv_interpolate(const struct strmap *env, const char *s);

/* Deep copy of v with every string interpolated (object keys unchanged). */
json_t *taskenv_interpolate_json(const struct strmap *env, const json_t *v);
