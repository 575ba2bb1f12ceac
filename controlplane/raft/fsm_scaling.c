/* fsm_scaling.c - the ScalingEvent command (see fsm_scaling.h). */
#include "controlplane/raft/fsm_scaling.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/macros.h"
#include "controlplane/state/state_scaling.h"

#define MESSAGE_MAX 1024
#define META_KEYS_MAX 64

static bool int_or_null(const json_t *v) {
        return !v || json_is_null(v) || json_is_integer(v);
}

int fsm_scaling_event_apply(struct state_store *st, uint64_t index, const json_t *cmd) {
        const char *ns = jx_str(cmd, "Namespace", "default"), *job = jx_str(cmd, "JobID", ""),
                   *group = jx_str(cmd, "TaskGroup", "");
        const json_t *ev = json_object_get(cmd, "Event");
        if (!*job || !*group || !json_is_object(ev))
                return -EINVAL;
        const json_t *msg = json_object_get(ev, "Message"), *meta = json_object_get(ev, "Meta"),
                     *eval = json_object_get(ev, "EvalID");
        if (!json_is_integer(json_object_get(ev, "Time")) || !int_or_null(json_object_get(ev, "Count")) ||
            !int_or_null(json_object_get(ev, "PreviousCount")) ||
            (msg && !json_is_null(msg) && (!json_is_string(msg) || json_string_length(msg) > MESSAGE_MAX)) ||
            (meta && !json_is_null(meta) && (!json_is_object(meta) || json_object_size(meta) > META_KEYS_MAX)) ||
            (eval && !json_is_null(eval) && !json_is_string(eval)))
                return -EINVAL;
        /* Nomad's ScalingEvent with every field present. */
        const json_t *count = json_object_get(ev, "Count"), *prev = json_object_get(ev, "PreviousCount");
        _cleanup_json_ json_t *out = json_object();
        if (out && (json_object_set(out, "Time", json_object_get(ev, "Time")) < 0 ||
                    json_object_set_new(out, "Count", count ? json_incref((json_t *)count) : json_null()) < 0 ||
                    json_object_set_new(out, "PreviousCount",
                                        json_is_integer(prev) ? json_incref((json_t *)prev) : json_integer(0)) < 0 ||
                    json_object_set_new(out, "Message", json_string(json_is_string(msg) ? json_string_value(msg) : "")) <
                        0 ||
                    json_object_set_new(out, "Error", json_boolean(json_is_true(json_object_get(ev, "Error")))) < 0 ||
                    json_object_set_new(out, "Meta", meta ? json_incref((json_t *)meta) : json_null()) < 0 ||
                    json_object_set_new(out, "EvalID", eval ? json_incref((json_t *)eval) : json_null()) < 0))
                return -ENOMEM;
        if (!out)
                return -ENOMEM;
        return state_scaling_add(st, index, ns, job, group, out);
}
