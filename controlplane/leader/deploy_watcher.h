/* deploy_watcher.h - the deployment watcher (Nomad's nomad/deploymentwatcher) as pure
 * logic: each call of deploy_watcher_step looks at the state at time now_ns and
 * returns the FSM commands that move every active deployment on.
 *
 * - Health (health_check "task_states" and "checks": drover has no service checks):
 *   an alloc of the deployment whose health is unset becomes healthy once it and all
 *   its tasks have run for the group's min_healthy_time, unhealthy when its client
 *   says failed or lost, or when it is not healthy healthy_deadline after it was
 *   created. health_check "manual": only the API sets it. Changes go out as one
 *   DeploymentAllocHealth command per deployment with an evaluation of the job
 *   (TriggeredBy "deployment-watcher": the scheduler's update pacing moves on).
 * - A deployment with an unhealthy alloc, or whose group made no progress by its
 *   RequireProgressBy (pushed to now + progress_deadline each time an alloc becomes
 *   healthy), fails; with auto_revert the job is registered again as the spec of its
 *   newest Stable version older than the deployment's (from the job versions table,
 *   controlplane/state/state_versions.h; none kept: no revert), and the description
 *   says so as Nomad's does ("Failed due to unhealthy allocations - rolling back to job
 *   version 1", "... - no stable job version to auto revert to").
 * - A deployment is successful when every group has DesiredTotal healthy allocs, its
 *   canaries promoted, and no alloc of an older version is left running: the job's
 *   version is marked Stable. With auto_promote, groups whose canaries are all
 *   healthy are promoted.
 * The caller proposes the commands and must not call again before they are applied.
 * Cost: O(deployments x their jobs' allocs).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"

struct state_store;

struct deploy_watcher_env {
        void (*gen_id)(void *data, char buf[ID_BUF]); /* NULL: id_generate */
        void *id_data;
};

/* *ret_cmds: a new JSON array of FSM commands (empty when there is nothing to do).
 * 0 or -ENOMEM. env may be NULL. */
int deploy_watcher_step(const struct state_store *st, int64_t now_ns, const struct deploy_watcher_env *env,
                        json_t **ret_cmds);

/* The commands of the API's deployment actions, for the state at now_ns. 0, -ENOENT
 * (no such deployment), -EINVAL (not possible now: *ret_why says why), -ENOMEM.
 * promote: groups NULL = all. pause: pause true/false (resume). fail: as Nomad's
 * `deployment fail`, with auto_revert *ret_revert is the JobRegister of the newest Stable
 * version older than the deployment's (to propose after *ret_cmd), else NULL; the
 * description says which ("Deployment marked as failed - rolling back to job version N"). */
int deploy_cmd_promote(const struct state_store *st, const char *id, const char *const *groups, size_t n_groups,
                       int64_t now_ns, const struct deploy_watcher_env *env, json_t **ret_cmd, const char **ret_why);
int deploy_cmd_fail(const struct state_store *st, const char *id, int64_t now_ns, const struct deploy_watcher_env *env,
                    json_t **ret_cmd, json_t **ret_revert, const char **ret_why);
int deploy_cmd_pause(const struct state_store *st, const char *id, bool pause, int64_t now_ns,
                     const struct deploy_watcher_env *env, json_t **ret_cmd, const char **ret_why);
