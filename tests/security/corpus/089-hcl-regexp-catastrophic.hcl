job "sec" {
  constraint {
    attribute = "${attr.kernel.name}"
    operator = "regexp"
    value = "(a+)+$"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
