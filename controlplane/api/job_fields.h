/* job_fields.h - the field names of Nomad's job JSON, struct by struct: a key
 * outside them is refused with its path instead of being silently dropped. */
#pragma once

#include <jansson.h>

struct error;

/* 0, or -EINVAL naming the first key, anywhere in the job (TaskGroups, Tasks,
 * Services and their Checks and Connect, Templates, Networks and their ports,
 * Volumes, VolumeMounts, Artifacts, Vault, Lifecycle, Scaling, Multiregion...),
 * that Nomad's API does not have: "Job.TaskGroups[0].Services[1].Checks[0]:
 * unknown field \"Intervall\"". Free-form maps (Meta, Env, Config, a proxy's
 * Config, a scaling Policy) are not looked into. Linear in the size of job. */
int job_json_check_fields(const json_t *job, struct error *err);
