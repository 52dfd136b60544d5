# The local lab with three watch nodes: examples/lab (2 masters + 2 slaves in
# network namespaces) whose monitor runs as three `mmm watch --node NAME`, raft
# electing the one that acts.
# `mmm lab up --config examples/lab-raft --watch` starts the servers, the agents
# and the three watch nodes: mon1 on the root namespace's 198.18.0.1, mon2 and
# mon3 each in a namespace of its own on the lab's bridge (198.18.0.31 and .32,
# outside the hosts' .11-.14 and the VIPs' .100-.102), so a test can cut one off.
# Lab addresses must lie in 198.18.0.0/15. A node's listen and raft share one IP.
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

# Every node reaches the servers from its own address: replication and
# mmm_monitor allow 198.18.0.%, and the lab creates the admin (root) for any
# host, so .1, .31 and .32 are all covered.
monitor {
  token           = var.monitor_token
  check_period    = "250ms"
  trap_period     = "1s"
  lease           = "1s"
  auto_set_online = "30s"
  ping_ips        = ["198.18.0.1"]
  # The lab's own dir (MMM_LAB_DIR, /var/tmp/mmm-lab, then the lab's name):
  # node NAME keeps its raft data in watch/NAME/ beside the file, and
  # `mmm lab down` removes it with the lab. (lab up --watch passes this path
  # itself, so a lab moved to another /24 or dir keeps its own.)
  state_file = "/var/tmp/mmm-lab/mmm18-0/watch/watch.state"

  node "mon1" {
    listen = "198.18.0.1:9988"
    raft   = "198.18.0.1:9987"
  }
  node "mon2" {
    listen = "198.18.0.31:9988"
    raft   = "198.18.0.31:9987"
  }
  node "mon3" {
    listen = "198.18.0.32:9988"
    raft   = "198.18.0.32:9987"
  }
}

check "rep_backlog" {
  max_backlog = 60
}
