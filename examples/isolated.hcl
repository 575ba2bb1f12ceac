# isolated.hcl - a task under the exec driver: its own cgroup v2 with limits,
# pid/mount/uts/ipc namespaces, its task directory as "/", a dynamic non-root
# user, Nomad's default capabilities, a seccomp deny-list. Needs an agent on a
# host with cgroup v2 (the fingerprint says why exec is undetected otherwise).
job "isolated" {
  datacenters = ["*"]
  type        = "batch"

  group "isolated" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    task "show" {
      driver = "exec"

      config {
        command        = "/bin/sh"
        args           = ["-c", "id; hostname; grep -E 'CapEff|NoNewPrivs|Seccomp:' /proc/self/status; ls /proc | grep -c '^[0-9]'"]
        pids_limit     = 64
        cpu_hard_limit = true
        unveil         = ["r:/etc/ssl"]
        # Its own user namespace: only its uid/gid mapped, so its capabilities
        # do not reach the host's files (off by default).
        user_namespace = true
      }

      resources {
        cpu        = 250 # MHz
        memory     = 64  # MB: memory.high
        memory_max = 128 # MB: memory.max
      }
    }
  }
}
