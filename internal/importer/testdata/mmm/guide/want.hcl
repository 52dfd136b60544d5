# Converted from MySQL-MMM 2 configuration by `mmm import mmm`:
#   mmm_common.conf
#   mmm_mon.conf
#   mmm_agent.conf
# Secrets are env() references; `mmm import` printed the variables to set.

cluster "mmm" {
  flavor             = "mysql"
  active_master_role = "writer"
}

defaults {
  port      = 3306
  interface = "eth0"
  admin {
    user     = "root"
    password = env("MMM_ADMIN_PASSWORD")
  }
}

host "db1" {
  address = "192.168.0.31"
  mode    = "master"
  peer    = "db2"
}

host "db2" {
  address = "192.168.0.32"
  mode    = "master"
  peer    = "db1"
}

host "db3" {
  address = "192.168.0.33"
  mode    = "slave"
}

replication {
  user = "replication"
}

# MMM 2's replication account (replication_user)
user "replication" {
  host     = "192.168.0.%"
  password = env("MMM_REPLICATION_PASSWORD")
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}

# MMM 2's monitor account (monitor_user), with the privileges MMM's guide grants it
user "mmm_monitor" {
  host     = "192.168.0.%"
  password = env("MMM_MONITOR_PASSWORD")
  grant "*.*" {
    privileges = ["REPLICATION CLIENT"]
  }
}

# MMM 2's agent account (agent_user), with the privileges MMM's guide grants it
user "mmm_agent" {
  host     = "192.168.0.%"
  password = env("MMM_AGENT_PASSWORD")
  grant "*.*" {
    privileges = ["PROCESS", "REPLICATION CLIENT", "SUPER"]
  }
}

role "writer" {
  mode  = "exclusive"
  hosts = ["db1", "db2"]
  ips   = ["192.168.0.50"]
}

role "reader" {
  mode  = "balanced"
  hosts = ["db1", "db2", "db3"]
  ips   = ["192.168.0.51", "192.168.0.52", "192.168.0.53"]
}

agent {
  token = env("MMM_AGENT_TOKEN")
}

monitor {
  listen   = "127.0.0.1:9988"
  token    = env("MMM_MONITOR_TOKEN")
  ping_ips = ["192.168.0.1", "192.168.0.2", "192.168.0.3"]
}
