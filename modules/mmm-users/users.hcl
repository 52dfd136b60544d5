# The accounts mmm's own programs use, with the privileges each flavor needs.
# See README.md for why each privilege is there.

variable "flavor" {
  description = "\"mariadb\" (10.5 or later) or \"mysql\" (8.0 or later); the same as the cluster's flavor."
}
variable "network" {
  description = "Host pattern the accounts may connect from, e.g. \"192.168.2.%\"."
}

variable "replication_user" {
  default = "replication"
}
variable "replication_password" {
  sensitive = true
}

variable "monitor_user" {
  default = "mmm_monitor"
}
variable "monitor_password" {
  sensitive = true
}

variable "agent_user" {
  default = "mmm_agent"
}
variable "agent_password" {
  sensitive = true
}

# Replicas connect to their source with this account.
user "replication" {
  name     = var.replication_user
  host     = var.network
  password = var.replication_password
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}

# mmm watch: reads replication and binary log state on every host.
user "monitor" {
  name     = var.monitor_user
  host     = var.network
  password = var.monitor_password
  grant "*.*" {
    privileges = var.flavor == "mysql" ? ["REPLICATION CLIENT"] : ["BINLOG MONITOR", "SLAVE MONITOR"]
  }
}

# mmm agent: fences its own server when it loses the monitor (read_only,
# kill client connections). Setting read_only takes READ_ONLY ADMIN on MariaDB,
# which also writes past it: expected here, so no warning.
user "agent" {
  name                   = var.agent_user
  host                   = var.network
  password               = var.agent_password
  allow_read_only_bypass = true
  grant "*.*" {
    privileges = (var.flavor == "mysql"
      ? ["CONNECTION_ADMIN", "PROCESS", "REPLICATION CLIENT", "SYSTEM_VARIABLES_ADMIN"]
    : ["BINLOG MONITOR", "CONNECTION ADMIN", "PROCESS", "READ_ONLY ADMIN", "SLAVE MONITOR"])
  }
}
