job "sec" {
  group "g" {
    task "t" {
      driver = "raw_exec
