namespace "default" {
  policy = "read"
  capabilities = ["submit-job"]
}
node { policy = "write" }
