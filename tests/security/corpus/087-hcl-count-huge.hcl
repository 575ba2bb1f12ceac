job "sec" {
  group "g" {
    count = 99999999999999999999
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
