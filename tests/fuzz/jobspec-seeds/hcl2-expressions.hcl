variable "n" {
  type    = number
  default = 3
}
variable "tags" {
  type    = map(string)
  default = { a = "1", b = "2" }
}
locals {
  names  = [for i in range(var.n) : format("w-%02d", i)]
  joined = join(",", [for k, v in var.tags : "${k}=${v}" if v != ""])
  cfg    = jsondecode(jsonencode({ x = [1, 2.5, true, null] }))
  pick   = var.n > 2 ? upper("big") : lower("SMALL")
  parts  = regexall("[a-z]+", "ab12cd34")
  text   = <<-EOT
    %{ for n in local.names ~}
    ${n}
    %{ endfor ~}
    EOT
}
job "expr" {
  meta = merge(var.tags, { joined = local.joined, pick = local.pick })
  group "g" {
    count = length(local.names)
    task "t" {
      driver = "exec"
      config {
        command = "/bin/echo"
        args    = concat(local.names, local.parts, [base64encode(local.text), "${NOMAD_ALLOC_ID}"])
      }
      env {
        X = substr(title(replace("a-b-c", "-", " ")), 0, 3)
        Y = "${attr.kernel.name}-${local.cfg.x[1] * 2}"
      }
    }
  }
}
