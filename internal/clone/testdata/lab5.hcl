# internal/clone's lab: examples/lab/mmm.hcl plus slave3, bootstrapped from slave1.
# The local lab: 2 masters + 2 slaves in network namespaces on one machine.
# `mmm lab up --config examples/lab` starts the servers; `make demo` runs the whole job.
# Lab addresses must lie in 198.18.0.0/15; the monitor (root namespace) takes 198.18.0.1.
# Secrets are variables with lab-only defaults, so the lab needs no environment;
# a real cluster takes them from env() or file() (see examples/classic).

variable "admin_password" {
  default   = "lab-admin-secret"
  sensitive = true
}
variable "replication_password" {
  default   = "lab-repl-secret"
  sensitive = true
}
variable "monitor_password" {
  default   = "lab-monitor-secret"
  sensitive = true
}
variable "app_password" {
  default   = "lab-app-secret"
  sensitive = true
}
variable "agent_token" {
  default   = "lab-agent-token"
  sensitive = true
}
variable "monitor_token" {
  default   = "lab-monitor-token"
  sensitive = true
}

cluster "lab" {
  flavor             = "mariadb"
  active_master_role = "writer"
}

defaults {
  port      = 3306
  interface = "eth0"
  admin {
    user     = "root"
    password = var.admin_password
  }
}

host "master1" {
  address = "198.18.0.11"
  mode    = "master"
  peer    = "master2"
}
host "master2" {
  address = "198.18.0.12"
  mode    = "master"
  peer    = "master1"
}
host "slave1" {
  address = "198.18.0.13"
  mode    = "slave"
}
host "slave2" {
  address = "198.18.0.14"
  mode    = "slave"
}
# The fifth host: empty when the lab starts; the first apply with it clones it.
host "slave3" {
  address = "198.18.0.15"
  mode    = "slave"
  bootstrap {
    donor = "slave1"
  }
}

replication {
  user      = "replication"
  semi_sync = true
}

user "replication" {
  host     = "198.18.0.%"
  password = var.replication_password
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}
# The monitor reads replication state: on MariaDB 10.5.9+ that is BINLOG
# MONITOR (alias REPLICATION CLIENT) plus SLAVE MONITOR for SHOW SLAVE STATUS.
user "mmm_monitor" {
  host     = "198.18.0.%"
  password = var.monitor_password
  grant "*.*" {
    privileges = ["REPLICATION CLIENT", "SLAVE MONITOR"]
  }
}
user "app" {
  host     = "%"
  password = var.app_password
  grant "shop.*" {
    privileges = ["SELECT", "INSERT", "UPDATE", "DELETE"]
  }
}

role "writer" {
  mode   = "exclusive"
  hosts  = ["master1", "master2"]
  ips    = ["198.18.0.100"]
  prefer = "master1"
}
role "reader" {
  mode  = "balanced"
  hosts = ["slave1", "slave2"]
  ips   = ["198.18.0.101", "198.18.0.102"]
}

agent {
  port  = 9989
  token = var.agent_token
}

monitor {
  listen          = "198.18.0.1:9988"
  token           = var.monitor_token
  check_period    = "250ms"
  trap_period     = "1s"
  lease           = "1s"
  auto_set_online = "30s"
  ping_ips        = ["198.18.0.1"]
}

check "rep_backlog" {
  max_backlog = 60
}
