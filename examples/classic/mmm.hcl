# The classic MMM layout (as the original MySQL-MMM documentation draws it):
# two masters replicating each other, one of them writable behind the writer
# VIP, and two slaves behind two reader VIPs.
#
#            writer 192.168.2.201          reader 192.168.2.202, 192.168.2.203
#                    |                                  |
#   master1 .206 <=======> master2 .207        slave1 .208   slave2 .209
#
# Secrets come from the environment; `mmm validate` runs without them.

cluster "classic" {
  flavor             = "mariadb"
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

host "master1" {
  address = "192.168.2.206"
  mode    = "master"
  peer    = "master2"
}
host "master2" {
  address = "192.168.2.207"
  mode    = "master"
  peer    = "master1"
}
host "slave1" {
  address = "192.168.2.208"
  mode    = "slave"
}
host "slave2" {
  address = "192.168.2.209"
  mode    = "slave"
  bootstrap {
    donor = "slave1"
  }
}

replication {
  user      = "replication"
  semi_sync = true
}

# replication, mmm_monitor and mmm_agent with the grants MariaDB needs.
module "mmm_users" {
  source               = "../../modules/mmm-users"
  flavor               = "mariadb"
  network              = "192.168.2.%"
  replication_password = env("MMM_REPLICATION_PASSWORD")
  monitor_password     = env("MMM_MONITOR_PASSWORD")
  agent_password       = env("MMM_AGENT_PASSWORD")
}

user "app" {
  host     = "192.168.2.%"
  password = env("APP_PASSWORD")
  grant "shop.*" {
    privileges = ["SELECT", "INSERT", "UPDATE", "DELETE"]
  }
}

role "writer" {
  mode   = "exclusive"
  hosts  = ["master1", "master2"]
  ips    = ["192.168.2.201"]
  prefer = "master1"
}
role "reader" {
  mode  = "balanced"
  hosts = ["slave1", "slave2"]
  ips   = ["192.168.2.202", "192.168.2.203"]
}

agent {
  port  = 9989
  token = env("MMM_AGENT_TOKEN")
  # fence = "kill"   # the default: a server whose read_only cannot be set in
  #                  # time (frozen, hung) is stopped; "read_only": only try
}

monitor {
  listen          = "127.0.0.1:9988"
  token           = env("MMM_MONITOR_TOKEN")
  check_period    = "250ms"
  trap_period     = "1s"
  lease           = "1s"
  auto_set_online = "30s"
  ping_ips        = ["192.168.2.1"]
  # A writer lost together with its agent (power cut, kernel hang) is failed
  # over only once it is known fenced: a hook that powers it off out of band
  # (IPMI, cloud API) with MMM_HOST and MMM_ADDRESS set; exit 0 = fenced.
  # fence_hook = ["/usr/local/sbin/mmm-fence-ipmi", "--off"]
}

check "rep_backlog" {
  max_backlog = 60
}
