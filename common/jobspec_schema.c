/* jobspec_schema.c - the Nomad job file schema: one table per block type, HCL name -> JSON key
 * (Nomad API wire names, the hcl tags of the api package) and value kind. */
#include "common/jobspec_schema.h"

#include <stddef.h>

/* ---- schema tables ---------------------------------------------------------------------- */

#define ATTR(h, j, k)                                                                                                  \
        { .hcl = h, .json = j, .kind = k }
#define BLOCK(h, j, s)                                                                                                 \
        { .hcl = h, .json = j, .kind = K_BLOCK, .sub = &s }
#define BLOCKS(h, j, s)                                                                                                \
        { .hcl = h, .json = j, .kind = K_BLOCK, .sub = &s, .flags = FL_REPEAT }
#define BLOCKS_L(h, j, s, lk)                                                                                          \
        { .hcl = h, .json = j, .kind = K_BLOCK, .sub = &s, .flags = FL_REPEAT | FL_LABEL, .label_key = lk }
#define BLOCK_MAP(h, j, s, lk)                                                                                         \
        { .hcl = h, .json = j, .kind = K_BLOCK, .sub = &s, .flags = FL_MAP, .label_key = lk }
#define BLOCK_LIST1(h, j, s)                                                                                           \
        { .hcl = h, .json = j, .kind = K_BLOCK, .sub = &s, .flags = FL_LIST }
#define END                                                                                                            \
        { NULL }

static const struct js_schema s_constraint, s_affinity, s_spread, s_target, s_update, s_migrate, s_reschedule,
    s_restart, s_periodic, s_parameterized, s_multiregion, s_mr_strategy, s_mr_region, s_ui, s_ui_link, s_group, s_task,
    s_ephemeral, s_network, s_port, s_dns, s_cni, s_service, s_check, s_check_restart, s_connect, s_sidecar_service,
    s_proxy, s_upstream, s_mesh_gateway, s_expose, s_expose_path, s_sidecar_task, s_volume, s_mount_options, s_scaling,
    s_task_scaling, s_disconnect, s_consul, s_resources, s_device, s_numa, s_logs, s_artifact, s_template,
    s_change_script, s_wait, s_vault, s_lifecycle, s_dispatch, s_identity, s_volume_mount, s_csi_plugin, s_action,
    s_secret;

static const struct js_field f_constraint[] = {
    ATTR("attribute", "LTarget", K_STR),
    ATTR("value", "RTarget", K_STR),
    ATTR("operator", "Operand", K_STR),
    ATTR("version", "_version", K_STR),
    ATTR("semver", "_semver", K_STR),
    ATTR("regexp", "_regexp", K_STR),
    ATTR("set_contains", "_set_contains", K_STR),
    ATTR("set_contains_any", "_set_contains_any", K_STR),
    ATTR("set_contains_all", "_set_contains_all", K_STR),
    ATTR("distinct_hosts", "_distinct_hosts", K_BOOL),
    ATTR("distinct_property", "_distinct_property", K_STR),
    END,
};
static const struct js_schema s_constraint = {f_constraint, js_post_constraint, false};

static const struct js_field f_affinity[] = {
    ATTR("attribute", "LTarget", K_STR),
    ATTR("value", "RTarget", K_STR),
    ATTR("operator", "Operand", K_STR),
    ATTR("weight", "Weight", K_INT),
    ATTR("version", "_version", K_STR),
    ATTR("semver", "_semver", K_STR),
    ATTR("regexp", "_regexp", K_STR),
    ATTR("set_contains", "_set_contains", K_STR),
    ATTR("set_contains_any", "_set_contains_any", K_STR),
    ATTR("set_contains_all", "_set_contains_all", K_STR),
    END,
};
static const struct js_schema s_affinity = {f_affinity, js_post_constraint, false};

static const struct js_field f_target[] = {ATTR("value", "Value", K_STR), ATTR("percent", "Percent", K_INT), END};
static const struct js_schema s_target = {f_target, NULL, false};

static const struct js_field f_spread[] = {
    ATTR("attribute", "Attribute", K_STR),
    ATTR("weight", "Weight", K_INT),
    BLOCKS_L("target", "SpreadTarget", s_target, "Value"),
    END,
};
static const struct js_schema s_spread = {f_spread, NULL, false};

static const struct js_field f_update[] = {
    ATTR("stagger", "Stagger", K_DUR),
    ATTR("max_parallel", "MaxParallel", K_INT),
    ATTR("health_check", "HealthCheck", K_STR),
    ATTR("min_healthy_time", "MinHealthyTime", K_DUR),
    ATTR("healthy_deadline", "HealthyDeadline", K_DUR),
    ATTR("progress_deadline", "ProgressDeadline", K_DUR),
    ATTR("canary", "Canary", K_INT),
    ATTR("auto_revert", "AutoRevert", K_BOOL),
    ATTR("auto_promote", "AutoPromote", K_BOOL),
    END,
};
static const struct js_schema s_update = {f_update, NULL, false};

static const struct js_field f_migrate[] = {
    ATTR("max_parallel", "MaxParallel", K_INT),
    ATTR("health_check", "HealthCheck", K_STR),
    ATTR("min_healthy_time", "MinHealthyTime", K_DUR),
    ATTR("healthy_deadline", "HealthyDeadline", K_DUR),
    END,
};
static const struct js_schema s_migrate = {f_migrate, NULL, false};

static const struct js_field f_reschedule[] = {
    ATTR("attempts", "Attempts", K_INT),
    ATTR("interval", "Interval", K_DUR),
    ATTR("delay", "Delay", K_DUR),
    ATTR("delay_function", "DelayFunction", K_STR),
    ATTR("max_delay", "MaxDelay", K_DUR),
    ATTR("unlimited", "Unlimited", K_BOOL),
    END,
};
static const struct js_schema s_reschedule = {f_reschedule, NULL, false};

static const struct js_field f_restart[] = {
    ATTR("attempts", "Attempts", K_INT),
    ATTR("interval", "Interval", K_DUR),
    ATTR("delay", "Delay", K_DUR),
    ATTR("mode", "Mode", K_STR),
    ATTR("render_templates", "RenderTemplates", K_BOOL),
    END,
};
static const struct js_schema s_restart = {f_restart, NULL, false};

static const struct js_field f_periodic[] = {
    ATTR("enabled", "Enabled", K_BOOL),
    ATTR("cron", "Spec", K_STR),
    ATTR("crons", "Specs", K_STRLIST),
    ATTR("spec_type", "SpecType", K_STR),
    ATTR("prohibit_overlap", "ProhibitOverlap", K_BOOL),
    ATTR("time_zone", "TimeZone", K_STR),
    END,
};
static const struct js_schema s_periodic = {f_periodic, js_post_periodic, false};

static const struct js_field f_parameterized[] = {
    ATTR("payload", "Payload", K_STR),
    ATTR("meta_required", "MetaRequired", K_STRLIST),
    ATTR("meta_optional", "MetaOptional", K_STRLIST),
    END,
};
static const struct js_schema s_parameterized = {f_parameterized, NULL, false};

static const struct js_field f_mr_strategy[] = {
    ATTR("max_parallel", "MaxParallel", K_INT),
    ATTR("on_failure", "OnFailure", K_STR),
    END,
};
static const struct js_schema s_mr_strategy = {f_mr_strategy, NULL, false};

static const struct js_field f_mr_region[] = {
    ATTR("count", "Count", K_INT),
    ATTR("datacenters", "Datacenters", K_STRLIST),
    ATTR("node_pool", "NodePool", K_STR),
    ATTR("meta", "Meta", K_STRMAP),
    END,
};
static const struct js_schema s_mr_region = {f_mr_region, NULL, false};

static const struct js_field f_multiregion[] = {
    BLOCK("strategy", "Strategy", s_mr_strategy),
    BLOCKS_L("region", "Regions", s_mr_region, "Name"),
    END,
};
static const struct js_schema s_multiregion = {f_multiregion, NULL, false};

static const struct js_field f_ui_link[] = {ATTR("label", "Label", K_STR), ATTR("url", "URL", K_STR), END};
static const struct js_schema s_ui_link = {f_ui_link, NULL, false};

static const struct js_field f_ui[] = {
    ATTR("description", "Description", K_STR),
    BLOCKS("link", "Links", s_ui_link),
    END,
};
static const struct js_schema s_ui = {f_ui, NULL, false};

static const struct js_field f_job[] = {
    ATTR("id", "ID", K_STR),
    ATTR("name", "Name", K_STR),
    ATTR("region", "Region", K_STR),
    ATTR("namespace", "Namespace", K_STR),
    ATTR("type", "Type", K_STR),
    ATTR("priority", "Priority", K_INT),
    ATTR("all_at_once", "AllAtOnce", K_BOOL),
    ATTR("datacenters", "Datacenters", K_STRLIST),
    ATTR("node_pool", "NodePool", K_STR),
    ATTR("consul_token", "ConsulToken", K_STR),
    ATTR("consul_namespace", "ConsulNamespace", K_STR),
    ATTR("vault_token", "VaultToken", K_STR),
    ATTR("vault_namespace", "VaultNamespace", K_STR),
    ATTR("meta", "Meta", K_STRMAP),
    BLOCKS("constraint", "Constraints", s_constraint),
    BLOCKS("affinity", "Affinities", s_affinity),
    BLOCKS("spread", "Spreads", s_spread),
    BLOCK("update", "Update", s_update),
    BLOCK("migrate", "Migrate", s_migrate),
    BLOCK("reschedule", "Reschedule", s_reschedule),
    BLOCK("periodic", "Periodic", s_periodic),
    BLOCK("parameterized", "ParameterizedJob", s_parameterized),
    BLOCK("multiregion", "Multiregion", s_multiregion),
    BLOCK("ui", "UI", s_ui),
    BLOCKS_L("group", "TaskGroups", s_group, "Name"),
    BLOCKS_L("task", "_tasks", s_task, "Name"),
    END,
};
const struct js_schema js_schema_job = {f_job, NULL, false};

static const struct js_field f_ephemeral[] = {
    ATTR("sticky", "Sticky", K_BOOL),
    ATTR("migrate", "Migrate", K_BOOL),
    ATTR("size", "SizeMB", K_INT),
    END,
};
static const struct js_schema s_ephemeral = {f_ephemeral, NULL, false};

static const struct js_field f_port[] = {
    ATTR("static", "_static", K_INT),
    ATTR("to", "To", K_INT),
    ATTR("host_network", "HostNetwork", K_STR),
    ATTR("ignore_collision", "IgnoreCollision", K_BOOL),
    END,
};
static const struct js_schema s_port = {f_port, NULL, false};

static const struct js_field f_dns[] = {
    ATTR("servers", "Servers", K_STRLIST),
    ATTR("searches", "Searches", K_STRLIST),
    ATTR("options", "Options", K_STRLIST),
    END,
};
static const struct js_schema s_dns = {f_dns, NULL, false};

static const struct js_field f_cni[] = {ATTR("args", "Args", K_STRMAP), END};
static const struct js_schema s_cni = {f_cni, NULL, false};

static const struct js_field f_network[] = {
    ATTR("mode", "Mode", K_STR),
    ATTR("device", "Device", K_STR),
    ATTR("cidr", "CIDR", K_STR),
    ATTR("ip", "IP", K_STR),
    ATTR("hostname", "Hostname", K_STR),
    ATTR("mbits", "MBits", K_INT),
    BLOCK("dns", "DNS", s_dns),
    BLOCK("cni", "CNI", s_cni),
    BLOCKS_L("port", "_ports", s_port, "Label"),
    END,
};
static const struct js_schema s_network = {f_network, js_post_network, false};

static const struct js_field f_check_restart[] = {
    ATTR("limit", "Limit", K_INT),
    ATTR("grace", "Grace", K_DUR),
    ATTR("ignore_warnings", "IgnoreWarnings", K_BOOL),
    END,
};
static const struct js_schema s_check_restart = {f_check_restart, NULL, false};

static const struct js_field f_check[] = {
    ATTR("name", "Name", K_STR),
    ATTR("type", "Type", K_STR),
    ATTR("command", "Command", K_STR),
    ATTR("args", "Args", K_STRLIST),
    ATTR("path", "Path", K_STR),
    ATTR("protocol", "Protocol", K_STR),
    ATTR("port", "PortLabel", K_STR),
    ATTR("expose", "Expose", K_BOOL),
    ATTR("address_mode", "AddressMode", K_STR),
    ATTR("advertise", "Advertise", K_STR),
    ATTR("interval", "Interval", K_DUR),
    ATTR("timeout", "Timeout", K_DUR),
    ATTR("initial_status", "InitialStatus", K_STR),
    ATTR("notes", "Notes", K_STR),
    ATTR("tls_server_name", "TLSServerName", K_STR),
    ATTR("tls_skip_verify", "TLSSkipVerify", K_BOOL),
    ATTR("header", "Header", K_ANY),
    ATTR("method", "Method", K_STR),
    ATTR("body", "Body", K_STR),
    ATTR("grpc_service", "GRPCService", K_STR),
    ATTR("grpc_use_tls", "GRPCUseTLS", K_BOOL),
    ATTR("task", "TaskName", K_STR),
    ATTR("success_before_passing", "SuccessBeforePassing", K_INT),
    ATTR("failures_before_critical", "FailuresBeforeCritical", K_INT),
    ATTR("failures_before_warning", "FailuresBeforeWarning", K_INT),
    ATTR("on_update", "OnUpdate", K_STR),
    BLOCK("check_restart", "CheckRestart", s_check_restart),
    END,
};
static const struct js_schema s_check = {f_check, NULL, false};

static const struct js_field f_mesh_gateway[] = {ATTR("mode", "Mode", K_STR), END};
static const struct js_schema s_mesh_gateway = {f_mesh_gateway, NULL, false};

static const struct js_field f_upstream[] = {
    ATTR("destination_name", "DestinationName", K_STR),
    ATTR("destination_namespace", "DestinationNamespace", K_STR),
    ATTR("destination_peer", "DestinationPeer", K_STR),
    ATTR("destination_partition", "DestinationPartition", K_STR),
    ATTR("destination_type", "DestinationType", K_STR),
    ATTR("local_bind_port", "LocalBindPort", K_INT),
    ATTR("local_bind_address", "LocalBindAddress", K_STR),
    ATTR("local_bind_socket_path", "LocalBindSocketPath", K_STR),
    ATTR("local_bind_socket_mode", "LocalBindSocketMode", K_STR),
    ATTR("datacenter", "Datacenter", K_STR),
    ATTR("config", "Config", K_ANY),
    BLOCK("mesh_gateway", "MeshGateway", s_mesh_gateway),
    END,
};
static const struct js_schema s_upstream = {f_upstream, NULL, false};

static const struct js_field f_expose_path[] = {
    ATTR("path", "Path", K_STR),
    ATTR("protocol", "Protocol", K_STR),
    ATTR("local_path_port", "LocalPathPort", K_INT),
    ATTR("listener_port", "ListenerPort", K_STR),
    END,
};
static const struct js_schema s_expose_path = {f_expose_path, NULL, false};

static const struct js_field f_expose[] = {BLOCKS("path", "Paths", s_expose_path), END};
static const struct js_schema s_expose = {f_expose, NULL, false};

static const struct js_field f_proxy[] = {
    ATTR("local_service_address", "LocalServiceAddress", K_STR),
    ATTR("local_service_port", "LocalServicePort", K_INT),
    ATTR("config", "Config", K_ANY),
    ATTR("transparent_proxy", "TransparentProxy", K_ANY),
    BLOCKS("upstreams", "Upstreams", s_upstream),
    BLOCK("expose", "Expose", s_expose),
    END,
};
static const struct js_schema s_proxy = {f_proxy, NULL, false};

static const struct js_field f_sidecar_service[] = {
    ATTR("tags", "Tags", K_STRLIST),
    ATTR("port", "Port", K_STR),
    ATTR("disable_default_tcp_check", "DisableDefaultTCPCheck", K_BOOL),
    ATTR("meta", "Meta", K_STRMAP),
    BLOCK("proxy", "Proxy", s_proxy),
    END,
};
static const struct js_schema s_sidecar_service = {f_sidecar_service, NULL, false};

static const struct js_field f_sidecar_task[] = {
    ATTR("name", "Name", K_STR),
    ATTR("driver", "Driver", K_STR),
    ATTR("user", "User", K_STR),
    ATTR("config", "Config", K_ANY),
    ATTR("env", "Env", K_STRMAP),
    ATTR("meta", "Meta", K_STRMAP),
    ATTR("kill_timeout", "KillTimeout", K_DUR),
    ATTR("kill_signal", "KillSignal", K_STR),
    ATTR("shutdown_delay", "ShutdownDelay", K_DUR),
    BLOCK("resources", "Resources", s_resources),
    BLOCK("logs", "LogConfig", s_logs),
    END,
};
static const struct js_schema s_sidecar_task = {f_sidecar_task, NULL, false};

static const struct js_field f_connect[] = {
    ATTR("native", "Native", K_BOOL),
    ATTR("gateway", "Gateway", K_ANY),
    BLOCK("sidecar_service", "SidecarService", s_sidecar_service),
    BLOCK("sidecar_task", "SidecarTask", s_sidecar_task),
    END,
};
static const struct js_schema s_connect = {f_connect, NULL, false};

static const struct js_field f_identity[] = {
    ATTR("name", "Name", K_STR),
    ATTR("aud", "Audience", K_STRLIST),
    ATTR("env", "Env", K_BOOL),
    ATTR("file", "File", K_BOOL),
    ATTR("filepath", "Filepath", K_STR),
    ATTR("change_mode", "ChangeMode", K_STR),
    ATTR("change_signal", "ChangeSignal", K_STR),
    ATTR("ttl", "TTL", K_DUR),
    ATTR("service_name", "ServiceName", K_STR),
    END,
};
static const struct js_schema s_identity = {f_identity, NULL, false};

static const struct js_field f_service[] = {
    ATTR("name", "Name", K_STR),
    ATTR("port", "PortLabel", K_STR),
    ATTR("tags", "Tags", K_STRLIST),
    ATTR("canary_tags", "CanaryTags", K_STRLIST),
    ATTR("enable_tag_override", "EnableTagOverride", K_BOOL),
    ATTR("address_mode", "AddressMode", K_STR),
    ATTR("address", "Address", K_STR),
    ATTR("task", "TaskName", K_STR),
    ATTR("provider", "Provider", K_STR),
    ATTR("on_update", "OnUpdate", K_STR),
    ATTR("cluster", "Cluster", K_STR),
    ATTR("kind", "Kind", K_STR),
    ATTR("meta", "Meta", K_STRMAP),
    ATTR("canary_meta", "CanaryMeta", K_STRMAP),
    ATTR("tagged_addresses", "TaggedAddresses", K_STRMAP),
    BLOCKS("check", "Checks", s_check),
    BLOCK("check_restart", "CheckRestart", s_check_restart),
    BLOCK("connect", "Connect", s_connect),
    BLOCK("identity", "Identity", s_identity),
    END,
};
static const struct js_schema s_service = {f_service, NULL, true};

static const struct js_field f_mount_options[] = {
    ATTR("fs_type", "FSType", K_STR),
    ATTR("mount_flags", "MountFlags", K_STRLIST),
    END,
};
static const struct js_schema s_mount_options = {f_mount_options, NULL, false};

static const struct js_field f_volume[] = {
    ATTR("type", "Type", K_STR),
    ATTR("source", "Source", K_STR),
    ATTR("read_only", "ReadOnly", K_BOOL),
    ATTR("access_mode", "AccessMode", K_STR),
    ATTR("attachment_mode", "AttachmentMode", K_STR),
    ATTR("per_alloc", "PerAlloc", K_BOOL),
    ATTR("sticky", "Sticky", K_BOOL),
    BLOCK("mount_options", "MountOptions", s_mount_options),
    END,
};
static const struct js_schema s_volume = {f_volume, NULL, false};

static const struct js_field f_scaling[] = {
    ATTR("min", "Min", K_INT),   ATTR("max", "Max", K_INT),       ATTR("enabled", "Enabled", K_BOOL),
    ATTR("type", "Type", K_STR), ATTR("policy", "Policy", K_ANY), END,
};
static const struct js_schema s_scaling = {f_scaling, js_post_group_scaling, false};
static const struct js_schema s_task_scaling = {f_scaling, js_post_task_scaling, false};

static const struct js_field f_disconnect[] = {
    ATTR("lost_after", "LostAfter", K_DUR),
    ATTR("stop_on_client_after", "StopOnClientAfter", K_DUR),
    ATTR("replace", "Replace", K_BOOL),
    ATTR("reconcile", "Reconcile", K_STR),
    END,
};
static const struct js_schema s_disconnect = {f_disconnect, NULL, false};

static const struct js_field f_consul[] = {
    ATTR("namespace", "Namespace", K_STR),
    ATTR("cluster", "Cluster", K_STR),
    ATTR("partition", "Partition", K_STR),
    END,
};
static const struct js_schema s_consul = {f_consul, NULL, false};

static const struct js_field f_group[] = {
    ATTR("count", "Count", K_INT),
    ATTR("meta", "Meta", K_STRMAP),
    ATTR("shutdown_delay", "ShutdownDelay", K_DUR),
    ATTR("max_run_duration", "MaxRunDuration", K_DUR),
    ATTR("stop_after_client_disconnect", "StopAfterClientDisconnect", K_DUR),
    ATTR("max_client_disconnect", "MaxClientDisconnect", K_DUR),
    ATTR("prevent_reschedule_on_lost", "PreventRescheduleOnLost", K_BOOL),
    BLOCKS("constraint", "Constraints", s_constraint),
    BLOCKS("affinity", "Affinities", s_affinity),
    BLOCKS("spread", "Spreads", s_spread),
    BLOCKS_L("task", "Tasks", s_task, "Name"),
    BLOCK("restart", "RestartPolicy", s_restart),
    BLOCK("reschedule", "ReschedulePolicy", s_reschedule),
    BLOCK("ephemeral_disk", "EphemeralDisk", s_ephemeral),
    BLOCK("update", "Update", s_update),
    BLOCK("migrate", "Migrate", s_migrate),
    BLOCK_LIST1("network", "Networks", s_network),
    BLOCKS("service", "Services", s_service),
    BLOCK_MAP("volume", "Volumes", s_volume, "Name"),
    BLOCK("scaling", "Scaling", s_scaling),
    BLOCK("disconnect", "Disconnect", s_disconnect),
    BLOCK("consul", "Consul", s_consul),
    END,
};
static const struct js_schema s_group = {f_group, NULL, false};

static const struct js_field f_device[] = {
    ATTR("count", "Count", K_INT),
    BLOCKS("constraint", "Constraints", s_constraint),
    BLOCKS("affinity", "Affinities", s_affinity),
    END,
};
static const struct js_schema s_device = {f_device, NULL, false};

static const struct js_field f_numa[] = {
    ATTR("affinity", "Affinity", K_STR),
    ATTR("devices", "Devices", K_STRLIST),
    END,
};
static const struct js_schema s_numa = {f_numa, NULL, false};

static const struct js_field f_resources[] = {
    ATTR("cpu", "CPU", K_INT),
    ATTR("cores", "Cores", K_INT),
    ATTR("memory", "MemoryMB", K_INT),
    ATTR("memory_max", "MemoryMaxMB", K_INT),
    ATTR("disk", "DiskMB", K_INT),
    ATTR("iops", "IOPS", K_INT),
    ATTR("secrets", "SecretsMB", K_INT),
    BLOCK_LIST1("network", "Networks", s_network),
    BLOCKS_L("device", "Devices", s_device, "Name"),
    BLOCK("numa", "NUMA", s_numa),
    END,
};
static const struct js_schema s_resources = {f_resources, NULL, false};

static const struct js_field f_logs[] = {
    ATTR("max_files", "MaxFiles", K_INT),
    ATTR("max_file_size", "MaxFileSizeMB", K_INT),
    ATTR("disabled", "Disabled", K_BOOL),
    ATTR("enabled", "Enabled", K_BOOL),
    END,
};
static const struct js_schema s_logs = {f_logs, NULL, false};

static const struct js_field f_artifact[] = {
    ATTR("source", "GetterSource", K_STR),
    ATTR("options", "GetterOptions", K_STRMAP),
    ATTR("headers", "GetterHeaders", K_STRMAP),
    ATTR("mode", "GetterMode", K_STR),
    ATTR("destination", "RelativeDest", K_STR),
    ATTR("chown", "Chown", K_BOOL),
    END,
};
static const struct js_schema s_artifact = {f_artifact, NULL, false};

static const struct js_field f_change_script[] = {
    ATTR("command", "Command", K_STR),
    ATTR("args", "Args", K_STRLIST),
    ATTR("timeout", "Timeout", K_DUR),
    ATTR("fail_on_error", "FailOnError", K_BOOL),
    END,
};
static const struct js_schema s_change_script = {f_change_script, NULL, false};

static const struct js_field f_wait[] = {ATTR("min", "Min", K_DUR), ATTR("max", "Max", K_DUR), END};
static const struct js_schema s_wait = {f_wait, NULL, false};

static const struct js_field f_template[] = {
    ATTR("source", "SourcePath", K_STR),
    ATTR("destination", "DestPath", K_STR),
    ATTR("data", "EmbeddedTmpl", K_STR),
    ATTR("change_mode", "ChangeMode", K_STR),
    ATTR("change_signal", "ChangeSignal", K_STR),
    ATTR("splay", "Splay", K_DUR),
    ATTR("perms", "Perms", K_STR),
    ATTR("uid", "Uid", K_INT),
    ATTR("gid", "Gid", K_INT),
    ATTR("left_delimiter", "LeftDelim", K_STR),
    ATTR("right_delimiter", "RightDelim", K_STR),
    ATTR("env", "Envvars", K_BOOL),
    ATTR("vault_grace", "VaultGrace", K_DUR),
    ATTR("error_on_missing_key", "ErrMissingKey", K_BOOL),
    ATTR("once", "Once", K_BOOL),
    BLOCK("change_script", "ChangeScript", s_change_script),
    BLOCK("wait", "Wait", s_wait),
    END,
};
static const struct js_schema s_template = {f_template, NULL, false};

static const struct js_field f_vault[] = {
    ATTR("policies", "Policies", K_STRLIST),
    ATTR("namespace", "Namespace", K_STR),
    ATTR("env", "Env", K_BOOL),
    ATTR("disable_file", "DisableFile", K_BOOL),
    ATTR("change_mode", "ChangeMode", K_STR),
    ATTR("change_signal", "ChangeSignal", K_STR),
    ATTR("role", "Role", K_STR),
    ATTR("cluster", "Cluster", K_STR),
    ATTR("allow_token_expiration", "AllowTokenExpiration", K_BOOL),
    END,
};
static const struct js_schema s_vault = {f_vault, NULL, false};

static const struct js_field f_lifecycle[] = {ATTR("hook", "Hook", K_STR), ATTR("sidecar", "Sidecar", K_BOOL), END};
static const struct js_schema s_lifecycle = {f_lifecycle, NULL, false};

static const struct js_field f_dispatch[] = {ATTR("file", "File", K_STR), END};
static const struct js_schema s_dispatch = {f_dispatch, NULL, false};

static const struct js_field f_volume_mount[] = {
    ATTR("volume", "Volume", K_STR),
    ATTR("destination", "Destination", K_STR),
    ATTR("read_only", "ReadOnly", K_BOOL),
    ATTR("propagation_mode", "PropagationMode", K_STR),
    ATTR("selinux_label", "SELinuxLabel", K_STR),
    END,
};
static const struct js_schema s_volume_mount = {f_volume_mount, NULL, false};

static const struct js_field f_csi_plugin[] = {
    ATTR("id", "ID", K_STR),
    ATTR("type", "Type", K_STR),
    ATTR("mount_dir", "MountDir", K_STR),
    ATTR("stage_publish_base_dir", "StagePublishBaseDir", K_STR),
    ATTR("health_timeout", "HealthTimeout", K_DUR),
    END,
};
static const struct js_schema s_csi_plugin = {f_csi_plugin, NULL, false};

static const struct js_field f_action[] = {ATTR("command", "Command", K_STR), ATTR("args", "Args", K_STRLIST), END};
static const struct js_schema s_action = {f_action, NULL, false};

static const struct js_field f_secret[] = {
    ATTR("provider", "Provider", K_STR),
    ATTR("path", "Path", K_STR),
    ATTR("config", "Config", K_ANY),
    ATTR("env", "Env", K_STRMAP),
    END,
};
static const struct js_schema s_secret = {f_secret, NULL, false};

static const struct js_field f_task[] = {
    ATTR("driver", "Driver", K_STR),
    ATTR("user", "User", K_STR),
    ATTR("kind", "Kind", K_STR),
    ATTR("leader", "Leader", K_BOOL),
    ATTR("config", "Config", K_ANY),
    ATTR("env", "Env", K_STRMAP),
    ATTR("meta", "Meta", K_STRMAP),
    ATTR("kill_timeout", "KillTimeout", K_DUR),
    ATTR("kill_signal", "KillSignal", K_STR),
    ATTR("shutdown_delay", "ShutdownDelay", K_DUR),
    ATTR("schedule", "Schedule", K_ANY),
    BLOCKS("constraint", "Constraints", s_constraint),
    BLOCKS("affinity", "Affinities", s_affinity),
    BLOCK("resources", "Resources", s_resources),
    BLOCK("restart", "RestartPolicy", s_restart),
    BLOCK("logs", "LogConfig", s_logs),
    BLOCKS("artifact", "Artifacts", s_artifact),
    BLOCKS("template", "Templates", s_template),
    BLOCK("vault", "Vault", s_vault),
    BLOCK("consul", "Consul", s_consul),
    BLOCKS("service", "Services", s_service),
    BLOCK("lifecycle", "Lifecycle", s_lifecycle),
    BLOCK("dispatch_payload", "DispatchPayload", s_dispatch),
    BLOCKS("identity", "_identity", s_identity),
    BLOCKS("volume_mount", "VolumeMounts", s_volume_mount),
    BLOCKS_L("scaling", "ScalingPolicies", s_task_scaling, "_label"),
    BLOCK("csi_plugin", "CSIPluginConfig", s_csi_plugin),
    BLOCKS_L("action", "Actions", s_action, "Name"),
    BLOCKS_L("secret", "Secrets", s_secret, "Name"),
    END,
};
static const struct js_schema s_task = {f_task, js_post_task, false};
