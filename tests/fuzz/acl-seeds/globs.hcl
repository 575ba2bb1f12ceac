namespace "prod-*" { policy = "deny" }
namespace "*" { policy = "write" }
agent { policy = "read" }
operator { policy = "deny" }
