# hello.hcl - the first job to run on drover.
#
# A batch job: three allocations of one task each. Every allocation prints its
# index, so `drover alloc logs <id>` shows which one it was.
job "hello" {
  datacenters = ["*"]
  type        = "batch"

  group "hello" {
    count = 3

    restart {
      attempts = 0
      mode     = "fail"
    }

    task "say" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "echo \"hello from allocation ${NOMAD_ALLOC_INDEX} on $(hostname)\""]
      }

      resources {
        cpu    = 100 # MHz
        memory = 32  # MB
      }
    }
  }
}
