# variables.hcl - HCL2 as Nomad 1.x evaluates it: variables with a type and a validation,
# locals, functions, for expressions, a dynamic block that makes one task per name.
#
#   drover job run -var 'greeting=hi there' -var 'names=["ann", "bob"]' examples/variables.hcl
#   drover job run -output examples/variables.hcl     # the evaluated Job, nothing submitted
#
# ${NOMAD_TASK_NAME} is not evaluated here: the agent fills it in when the task starts.
# docs/job-files.md describes the language.
variable "greeting" {
  type    = string
  default = "hello"
  validation {
    condition     = length(var.greeting) > 0
    error_message = "greeting must not be empty"
  }
}

variable "names" {
  type    = list(string)
  default = ["world"]
}

locals {
  everyone = join(" and ", [for n in var.names : title(n)])
  labels   = { for n in var.names : n => upper(n) }
}

job "variables" {
  datacenters = ["*"]
  type        = "batch"
  meta        = local.labels

  group "say" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    # one task per name
    dynamic "task" {
      for_each = var.names
      labels   = [task.value]

      content {
        driver = "raw_exec"

        config {
          command = "/bin/sh"
          args    = ["-c", "echo \"$MESSAGE (task ${NOMAD_TASK_NAME}, ${upper(task.value)} is ${task.key + 1} of ${length(var.names)})\""]
        }

        env {
          MESSAGE = "${title(var.greeting)}, ${local.everyone}!"
        }

        resources {
          cpu    = 100 # MHz
          memory = 32  # MB
        }
      }
    }
  }
}
