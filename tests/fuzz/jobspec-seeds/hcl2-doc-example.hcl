variable "image" {
  type        = string
  default     = "redis:7"
  description = "the image to run"
  validation {
    condition     = length(var.image) > 0
    error_message = "image must not be empty"
  }
}

variable "ports" {
  type    = list(number)
  default = [6379]
}

locals {
  name = "cache"
  tags = [for p in var.ports : "port-${p}"]
}

job "cache" {
  meta = { owner = upper(local.name) }
  group "g" {
    count = length(var.ports)
    network {
      dynamic "port" {
        for_each = var.ports
        labels   = ["p${port.key}"]
        content { static = port.value }
      }
    }
    task "redis" {
      driver = "exec"
      config {
        command = "/usr/bin/redis-server"
        args    = ["--port", "${var.ports[0]}"]
      }
      env {
        NAME = "${local.name}-${NOMAD_ALLOC_INDEX}"   # NOMAD_* stays for the agent
        TAGS = join(",", local.tags)
      }
    }
  }
}
