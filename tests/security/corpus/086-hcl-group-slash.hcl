job "sec" {
  group "a/b" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
