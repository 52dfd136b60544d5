# Two masters only: master1 takes writes behind the writer VIP, master2 is the
# standby that replicates from it (and master1 from master2, so either can
# become the writer). MySQL 8 this time; secrets come from files next to this
# one (file() paths are relative to the file that calls it).

variable "network" {
  description = "Where the cluster's hosts live; the accounts may connect from there."
  default     = "10.0.0.%"
}

cluster "pair" {
  flavor             = "mysql"
  active_master_role = "writer"
}

defaults {
  admin {
    user     = "mmm_admin"
    password = file("secrets/admin_password")
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

replication {
  user      = "replication"
  semi_sync = true
  ssl       = true
}

module "mmm_users" {
  source               = "../../modules/mmm-users"
  flavor               = "mysql"
  network              = var.network
  replication_password = file("secrets/replication_password")
  monitor_password     = file("secrets/monitor_password")
  agent_password       = file("secrets/agent_password")
}

role "writer" {
  mode   = "exclusive"
  hosts  = ["db1", "db2"]
  ips    = ["10.0.0.10"]
  prefer = "db1"
}

agent {
  token = env("MMM_AGENT_TOKEN")
}

monitor {
  token    = env("MMM_MONITOR_TOKEN")
  ping_ips = ["10.0.0.1"]
}
