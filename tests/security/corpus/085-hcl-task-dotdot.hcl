job "sec" {
  type = "batch"
  group "g" {
    task "../x" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
