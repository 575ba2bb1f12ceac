job "sec" {
  update {
    max_parallel = -1
  }
  group "g" {
    reschedule {
      delay_function = "x"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
