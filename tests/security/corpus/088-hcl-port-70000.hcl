job "sec" {
  group "g" {
    network {
      port "http" { static = 70000 }
    }
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}
