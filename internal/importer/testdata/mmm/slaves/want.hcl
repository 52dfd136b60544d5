# Converted from MySQL-MMM 2 configuration by `mmm import mmm`:
#   mmm_common.conf
#   mmm_mon_C1.conf
#   mmm_agent.conf
#   mmm_tools.conf
# Secrets are env() references; `mmm import` printed the variables to set.

cluster "C1" {
  flavor             = "mysql"
  active_master_role = "writer"
}

defaults {
  port      = 3306
  interface = "eth1"
  admin {
    user     = "root"
    password = env("MMM_ADMIN_PASSWORD")
  }
}

host "db1" {
  address = "10.0.0.11"
  mode    = "master"
  peer    = "db2"
}

host "db2" {
  address = "10.0.0.12"
  mode    = "master"
  peer    = "db1"
}

host "db3" {
  address = "10.0.0.13"
  mode    = "slave"
}

host "db4" {
  address = "10.0.0.14"
  port    = 3307
  mode    = "slave"
}

replication {
  user = "repl"
}

# MMM 2's replication account (replication_user)
user "repl" {
  host     = "10.0.0.%"
  password = env("MMM_REPLICATION_PASSWORD")
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}

# MMM 2's monitor account (monitor_user), with the privileges MMM's guide grants it
user "mmm_monitor" {
  host     = "10.0.0.%"
  password = env("MMM_MONITOR_PASSWORD")
  grant "*.*" {
    privileges = ["REPLICATION CLIENT"]
  }
}

# MMM 2's agent account (agent_user), with the privileges MMM's guide grants it
user "mmm_agent" {
  host     = "10.0.0.%"
  password = env("MMM_AGENT_PASSWORD")
  grant "*.*" {
    privileges = ["PROCESS", "REPLICATION CLIENT", "SUPER"]
  }
}

role "writer" {
  mode   = "exclusive"
  hosts  = ["db1", "db2"]
  ips    = ["10.0.0.100"]
  prefer = "db1"
}

role "reader" {
  mode  = "balanced"
  hosts = ["db3", "db4"]
  ips   = ["10.0.0.101", "10.0.0.102"]
}

agent {
  token    = env("MMM_AGENT_TOKEN")
  tls_cert = "/etc/mysql-mmm/mmm.crt"
  tls_key  = "/etc/mysql-mmm/mmm.key"
}

monitor {
  listen          = "10.0.0.5:9988"
  token           = env("MMM_MONITOR_TOKEN")
  check_period    = "2s"
  trap_period     = "4s"
  auto_set_online = "30s"
  flap_count      = 3
  flap_duration   = "1h"
  ping_ips        = ["10.0.0.1"]
}

check "ping" {
  timeout = "2s"
}

check "mysql" {
  timeout = "2s"
}

check "rep_threads" {
  trap_period = "10s"
  timeout     = "2s"
}

check "rep_backlog" {
  trap_period = "30s"
  timeout     = "2s"
  max_backlog = 120
}
