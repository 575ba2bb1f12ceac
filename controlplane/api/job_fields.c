/* job_fields.c - the fields of Nomad's api structs a job carries (v1.4 to 1.9: what
 * its API client and `nomad job run -output` send, and what a job read answers),
 * one table per struct, and one checker that walks a job's JSON through them.
 *
 * A key outside its struct's table is a typo or a field drover cannot honour: it is
 * refused with its path, never silently dropped. Fields drover does not use (a
 * Service's Connect, a Template's Wait...) are in the tables all the same: Nomad's
 * JSON is accepted as it is. Free-form maps (Meta, Env, Config, Policy, a check's
 * Header, a gateway) are not looked into: any key is theirs.
 *
 * Cost: each key of the input is compared with its struct's names (at most ~45),
 * so the check is linear in the size of the job; the recursion is as deep as the
 * tables (8 levels), never deeper than the input. */
#include "controlplane/api/job_fields.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

enum child_kind {
        C_ONE,  /* "Key": {...} */
        C_LIST, /* "Key": [{...}, ...] */
        C_MAP,  /* "Key": {"name": {...}, ...} (a group's Volumes) */
};

struct api_struct;
struct api_child {
        const char *key;
        const struct api_struct *of;
        enum child_kind kind;
};
struct api_struct {
        const char *const *fields;        /* NULL-terminated; a child's key is listed here too */
        const struct api_child *children; /* {NULL}-terminated, or NULL */
};

#define FIELDS(...)                                                                                                    \
        (const char *const[]) {                                                                                        \
                __VA_ARGS__, NULL                                                                                      \
        }
#define CHILDREN(...)                                                                                                  \
        (const struct api_child[]) {                                                                                   \
                __VA_ARGS__, {                                                                                         \
                        NULL, NULL, C_ONE                                                                              \
                }                                                                                                      \
        }
#define ONE(k, s)                                                                                                      \
        { k, &s, C_ONE }
#define LIST(k, s)                                                                                                     \
        { k, &s, C_LIST }
#define MAP(k, s)                                                                                                      \
        { k, &s, C_MAP }

/* ---- placement ---- */
static const struct api_struct s_constraint = {FIELDS("LTarget", "RTarget", "Operand"), NULL};
static const struct api_struct s_affinity = {FIELDS("LTarget", "RTarget", "Operand", "Weight"), NULL};
static const struct api_struct s_spread_target = {FIELDS("Value", "Percent"), NULL};
static const struct api_struct s_spread = {FIELDS("Attribute", "Weight", "SpreadTarget"),
                                           CHILDREN(LIST("SpreadTarget", s_spread_target))};

/* ---- lifecycle of groups and jobs ---- */
static const struct api_struct s_update = {FIELDS("Stagger", "MaxParallel", "HealthCheck", "MinHealthyTime",
                                                  "HealthyDeadline", "ProgressDeadline", "Canary", "AutoRevert",
                                                  "AutoPromote"),
                                           NULL};
static const struct api_struct s_migrate = {FIELDS("MaxParallel", "HealthCheck", "MinHealthyTime", "HealthyDeadline"),
                                            NULL};
static const struct api_struct s_reschedule = {
    FIELDS("Attempts", "Interval", "Delay", "DelayFunction", "MaxDelay", "Unlimited"), NULL};
static const struct api_struct s_restart = {FIELDS("Interval", "Attempts", "Delay", "Mode", "RenderTemplates"), NULL};
static const struct api_struct s_ephemeral = {FIELDS("Sticky", "Migrate", "SizeMB"), NULL};
static const struct api_struct s_disconnect = {FIELDS("LostAfter", "Replace", "Reconcile", "StopOnClientAfter"), NULL};
static const struct api_struct s_consul = {FIELDS("Namespace", "Cluster", "Partition"), NULL};
/* ScalingPolicy: a group's Scaling, a task's ScalingPolicies (Target, Policy: free-form) */
static const struct api_struct s_scaling = {
    FIELDS("ID", "Namespace", "Type", "Target", "Min", "Max", "Policy", "Enabled", "CreateIndex", "ModifyIndex"), NULL};

/* ---- job kinds ---- */
static const struct api_struct s_periodic = {
    FIELDS("Enabled", "Spec", "Specs", "SpecType", "ProhibitOverlap", "TimeZone"), NULL};
static const struct api_struct s_parameterized = {FIELDS("Payload", "MetaRequired", "MetaOptional"), NULL};
static const struct api_struct s_mr_strategy = {FIELDS("MaxParallel", "OnFailure"), NULL};
static const struct api_struct s_mr_region = {FIELDS("Name", "Count", "Datacenters", "NodePool", "Meta"), NULL};
static const struct api_struct s_multiregion = {FIELDS("Strategy", "Regions"),
                                                CHILDREN(ONE("Strategy", s_mr_strategy), LIST("Regions", s_mr_region))};
static const struct api_struct s_ui_link = {FIELDS("Label", "URL"), NULL};
static const struct api_struct s_ui = {FIELDS("Description", "Links"), CHILDREN(LIST("Links", s_ui_link))};

/* ---- networks and resources ---- */
static const struct api_struct s_port = {FIELDS("Label", "Value", "To", "HostNetwork", "IgnoreCollision"), NULL};
static const struct api_struct s_dns = {FIELDS("Servers", "Searches", "Options"), NULL};
static const struct api_struct s_cni = {FIELDS("Args"), NULL};
static const struct api_struct s_network = {
    FIELDS("Mode", "Device", "CIDR", "IP", "DNS", "ReservedPorts", "DynamicPorts", "Hostname", "MBits", "CNI"),
    CHILDREN(ONE("DNS", s_dns), LIST("ReservedPorts", s_port), LIST("DynamicPorts", s_port), ONE("CNI", s_cni))};
static const struct api_struct s_device = {FIELDS("Name", "Count", "Constraints", "Affinities"),
                                           CHILDREN(LIST("Constraints", s_constraint), LIST("Affinities", s_affinity))};
static const struct api_struct s_numa = {FIELDS("Affinity", "Devices"), NULL};
static const struct api_struct s_resources = {
    FIELDS("CPU", "Cores", "MemoryMB", "MemoryMaxMB", "DiskMB", "Networks", "Devices", "IOPS", "NUMA", "SecretsMB"),
    CHILDREN(LIST("Networks", s_network), LIST("Devices", s_device), ONE("NUMA", s_numa))};
static const struct api_struct s_log_config = {FIELDS("MaxFiles", "MaxFileSizeMB", "Disabled", "Enabled"), NULL};

/* ---- volumes ---- */
static const struct api_struct s_mount_options = {FIELDS("FSType", "MountFlags"), NULL};
static const struct api_struct s_volume = {
    FIELDS("Name", "Type", "Source", "ReadOnly", "AccessMode", "AttachmentMode", "MountOptions", "PerAlloc", "Sticky"),
    CHILDREN(ONE("MountOptions", s_mount_options))};
static const struct api_struct s_volume_mount = {
    FIELDS("Volume", "Destination", "ReadOnly", "PropagationMode", "SELinuxLabel"), NULL};

/* ---- services (Consul's or Nomad's own) ---- */
static const struct api_struct s_identity = {
    FIELDS("Name", "Audience", "ChangeMode", "ChangeSignal", "Env", "File", "Filepath", "ServiceName", "TTL"), NULL};
static const struct api_struct s_check_restart = {FIELDS("Limit", "Grace", "IgnoreWarnings"), NULL};
/* "Id": older api versions had one on checks and services (unused) */
static const struct api_struct s_check = {
    FIELDS("Id", "Name", "Type", "Command", "Args", "Path", "Protocol", "PortLabel", "Expose", "AddressMode",
           "Advertise", "Interval", "Timeout", "InitialStatus", "Notes", "TLSServerName", "TLSSkipVerify", "Header",
           "Method", "Body", "CheckRestart", "GRPCService", "GRPCUseTLS", "TaskName", "SuccessBeforePassing",
           "FailuresBeforeCritical", "FailuresBeforeWarning", "OnUpdate"),
    CHILDREN(ONE("CheckRestart", s_check_restart))};
static const struct api_struct s_mesh_gateway = {FIELDS("Mode"), NULL};
static const struct api_struct s_upstream = {FIELDS("DestinationName", "DestinationNamespace", "DestinationPeer",
                                                    "DestinationPartition", "DestinationType", "LocalBindPort",
                                                    "LocalBindAddress", "LocalBindSocketPath", "LocalBindSocketMode",
                                                    "Datacenter", "MeshGateway", "Config"),
                                             CHILDREN(ONE("MeshGateway", s_mesh_gateway))};
static const struct api_struct s_expose_path = {FIELDS("Path", "Protocol", "LocalPathPort", "ListenerPort"), NULL};
/* "Path" and "ExposeConfig": the older names of Paths and Expose */
static const struct api_struct s_expose = {FIELDS("Paths", "Path"),
                                           CHILDREN(LIST("Paths", s_expose_path), LIST("Path", s_expose_path))};
static const struct api_struct s_proxy = {
    FIELDS("LocalServiceAddress", "LocalServicePort", "Expose", "ExposeConfig", "Upstreams", "TransparentProxy",
           "Config"),
    CHILDREN(ONE("Expose", s_expose), ONE("ExposeConfig", s_expose), LIST("Upstreams", s_upstream))};
static const struct api_struct s_sidecar_service = {FIELDS("Tags", "Port", "Proxy", "DisableDefaultTCPCheck", "Meta"),
                                                    CHILDREN(ONE("Proxy", s_proxy))};
static const struct api_struct s_sidecar_task = {
    FIELDS("Name", "Driver", "User", "Config", "Env", "Resources", "Meta", "KillTimeout", "LogConfig", "ShutdownDelay",
           "KillSignal", "VolumeMounts"),
    CHILDREN(ONE("Resources", s_resources), ONE("LogConfig", s_log_config), LIST("VolumeMounts", s_volume_mount))};
static const struct api_struct s_connect = {
    FIELDS("Native", "Gateway", "SidecarService", "SidecarTask"),
    CHILDREN(ONE("SidecarService", s_sidecar_service), ONE("SidecarTask", s_sidecar_task))};
static const struct api_struct s_service = {FIELDS("Id", "Name", "Tags", "CanaryTags", "EnableTagOverride", "PortLabel",
                                                   "AddressMode", "Address", "Checks", "CheckRestart", "Connect",
                                                   "Meta", "CanaryMeta", "TaggedAddresses", "TaskName", "OnUpdate",
                                                   "Identity", "Provider", "Cluster", "Kind", "Namespace"),
                                            CHILDREN(LIST("Checks", s_check), ONE("CheckRestart", s_check_restart),
                                                     ONE("Connect", s_connect), ONE("Identity", s_identity))};

/* ---- what a task brings with it ---- */
static const struct api_struct s_artifact = {
    FIELDS("GetterSource", "GetterOptions", "GetterHeaders", "GetterMode", "GetterInsecure", "RelativeDest", "Chown"),
    NULL};
static const struct api_struct s_change_script = {FIELDS("Command", "Args", "Timeout", "FailOnError"), NULL};
static const struct api_struct s_wait = {FIELDS("Min", "Max"), NULL};
static const struct api_struct s_template = {
    FIELDS("SourcePath", "DestPath", "EmbeddedTmpl", "ChangeMode", "ChangeScript", "ChangeSignal", "Splay", "Perms",
           "Uid", "Gid", "LeftDelim", "RightDelim", "Envvars", "VaultGrace", "Wait", "ErrMissingKey", "Once"),
    CHILDREN(ONE("ChangeScript", s_change_script), ONE("Wait", s_wait))};
static const struct api_struct s_vault = {FIELDS("Policies", "Namespace", "Env", "DisableFile", "ChangeMode",
                                                 "ChangeSignal", "Role", "Cluster", "AllowTokenExpiration"),
                                          NULL};
static const struct api_struct s_lifecycle = {FIELDS("Hook", "Sidecar"), NULL};
static const struct api_struct s_dispatch_payload = {FIELDS("File"), NULL};
static const struct api_struct s_csi_plugin = {FIELDS("ID", "Type", "MountDir", "StagePublishBaseDir", "HealthTimeout"),
                                               NULL};
static const struct api_struct s_action = {FIELDS("Name", "Command", "Args"), NULL};
static const struct api_struct s_secret = {FIELDS("Name", "Provider", "Path", "Config", "Env"), NULL};

/* ---- the job ---- */
static const struct api_struct s_task = {
    FIELDS("Name", "Driver", "User", "Lifecycle", "Config", "Constraints", "Affinities", "Env", "Services", "Resources",
           "RestartPolicy", "Meta", "KillTimeout", "LogConfig", "Artifacts", "Vault", "Templates", "DispatchPayload",
           "VolumeMounts", "CSIPluginConfig", "Leader", "ShutdownDelay", "KillSignal", "Kind", "ScalingPolicies",
           "Identity", "Identities", "Actions", "Consul", "Schedule", "Secrets"),
    CHILDREN(LIST("Constraints", s_constraint), LIST("Affinities", s_affinity), LIST("Services", s_service),
             ONE("Resources", s_resources), ONE("RestartPolicy", s_restart), ONE("LogConfig", s_log_config),
             LIST("Artifacts", s_artifact), ONE("Vault", s_vault), LIST("Templates", s_template),
             ONE("Lifecycle", s_lifecycle), ONE("DispatchPayload", s_dispatch_payload),
             LIST("VolumeMounts", s_volume_mount), ONE("CSIPluginConfig", s_csi_plugin),
             LIST("ScalingPolicies", s_scaling), ONE("Identity", s_identity), LIST("Identities", s_identity),
             LIST("Actions", s_action), ONE("Consul", s_consul), LIST("Secrets", s_secret))};
static const struct api_struct s_group = {
    FIELDS("Name", "Count", "Constraints", "Affinities", "Tasks", "Spreads", "Volumes", "RestartPolicy", "Disconnect",
           "ReschedulePolicy", "EphemeralDisk", "Update", "Migrate", "Networks", "Meta", "Services", "ShutdownDelay",
           "StopAfterClientDisconnect", "MaxClientDisconnect", "PreventRescheduleOnLost", "MaxRunDuration", "Scaling",
           "Consul"),
    CHILDREN(LIST("Tasks", s_task), LIST("Constraints", s_constraint), LIST("Affinities", s_affinity),
             LIST("Spreads", s_spread), MAP("Volumes", s_volume), ONE("RestartPolicy", s_restart),
             ONE("Disconnect", s_disconnect), ONE("ReschedulePolicy", s_reschedule), ONE("EphemeralDisk", s_ephemeral),
             ONE("Update", s_update), ONE("Migrate", s_migrate), LIST("Networks", s_network),
             LIST("Services", s_service), ONE("Scaling", s_scaling), ONE("Consul", s_consul))};
static const struct api_struct s_job = {
    FIELDS("Region", "Namespace", "ID", "ParentID", "Name", "Type", "Priority", "AllAtOnce", "Datacenters", "NodePool",
           "Constraints", "Affinities", "TaskGroups", "Update", "Multiregion", "Spreads", "Periodic",
           "ParameterizedJob", "Reschedule", "Migrate", "Meta", "ConsulToken", "VaultToken", "Stop", "Dispatched",
           "DispatchIdempotencyToken", "Payload", "ConsulNamespace", "VaultNamespace", "NomadTokenID", "Status",
           "StatusDescription", "Stable", "Version", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex", "UI",
           "VersionTag"),
    CHILDREN(LIST("TaskGroups", s_group), LIST("Constraints", s_constraint), LIST("Affinities", s_affinity),
             LIST("Spreads", s_spread), ONE("Update", s_update), ONE("Migrate", s_migrate),
             ONE("Reschedule", s_reschedule), ONE("Periodic", s_periodic), ONE("ParameterizedJob", s_parameterized),
             ONE("Multiregion", s_multiregion), ONE("UI", s_ui))};

#undef FIELDS
#undef CHILDREN
#undef ONE
#undef LIST
#undef MAP

#define PATH_MAX_LEN 512

/* Where check_struct is: the path an error names ("Job.TaskGroups[0].Tasks[1]"),
 * written only for an error (a registration has no error, and snprintf for every
 * child was ~3% of the leader loop's work per registration). */
struct path {
        const struct path *up; /* NULL: the root, named by key */
        const char *key;
        enum { P_ONE, P_INDEX, P_NAME } kind;
        size_t index;     /* P_INDEX */
        const char *name; /* P_NAME */
};

/* p written into buf (size > 0, truncated to fit); its length. */
static size_t path_write(const struct path *p, char *buf, size_t size) {
        size_t n = p->up ? path_write(p->up, buf, size) : 0;
        int w;
        if (!p->up)
                w = snprintf(buf, size, "%s", p->key);
        else if (p->kind == P_ONE)
                w = snprintf(buf + n, size - n, ".%s", p->key);
        else if (p->kind == P_INDEX)
                w = snprintf(buf + n, size - n, ".%s[%zu]", p->key, p->index);
        else
                w = snprintf(buf + n, size - n, ".%s[\"%.64s\"]", p->key, p->name);
        n += w > 0 ? (size_t)w : 0;
        return n < size ? n : size - 1;
}

static int check_struct(const json_t *o, const struct api_struct *st, const struct path *path, struct error *err) {
        if (!json_is_object(o))
                return 0; /* null, or a wrong type the decoder reports */
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)o, k, v) {
                bool found = false;
                for (const char *const *f = st->fields; *f && !found; f++)
                        found = strcmp(*f, k) == 0;
                if (!found) {
                        char where[PATH_MAX_LEN];
                        path_write(path, where, sizeof(where));
                        return errorf(err, -EINVAL, "%s: unknown field \"%.64s\"", where, k);
                }
        }
        for (const struct api_child *ch = st->children; ch && ch->key; ch++) {
                json_t *child = json_object_get(o, ch->key), *e;
                struct path sub = {.up = path, .key = ch->key};
                int r = 0;
                if (ch->kind == C_ONE) {
                        sub.kind = P_ONE;
                        r = check_struct(child, ch->of, &sub, err);
                } else if (ch->kind == C_LIST) {
                        size_t i;
                        sub.kind = P_INDEX;
                        json_array_foreach(child, i, e) {
                                sub.index = i;
                                if ((r = check_struct(e, ch->of, &sub, err)) < 0)
                                        break;
                        }
                } else {
                        const char *name;
                        sub.kind = P_NAME;
                        json_object_foreach(child, name, e) {
                                sub.name = name;
                                if ((r = check_struct(e, ch->of, &sub, err)) < 0)
                                        break;
                        }
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int job_json_check_fields(const json_t *job, struct error *err) {
        const struct path root = {.key = "Job"};
        return check_struct(job, &s_job, &root, err);
}
