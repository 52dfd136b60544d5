# monitor node blocks: listen beside them, a bad and a reused address, a duplicate name, an even count
cluster "t" {
  flavor             = "mariadb"
  active_master_role = "writer"
}

defaults {
  admin {
    password = env("ADMIN_PW")
  }
}

host "m1" {
  address = "10.0.0.1"
  mode    = "master"
  peer    = "m2"
}
host "m2" {
  address = "10.0.0.2"
  mode    = "master"
  peer    = "m1"
}
host "s1" {
  address = "10.0.0.3"
  mode    = "slave"
}

replication {
  user = "repl"
}

user "repl" {
  host     = "10.0.0.%"
  password = env("REPL_PW")
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}

role "writer" {
  mode   = "exclusive"
  hosts  = ["m1", "m2"]
  ips    = ["10.0.0.100"]
  prefer = "m1"
}
role "reader" {
  mode  = "balanced"
  hosts = ["s1"]
  ips   = ["10.0.0.101"]
}

monitor {
  token  = env("MON_TOKEN")
  listen = "10.0.0.9:9988" # ERROR: listen together with node blocks
  node "mon1" {
    listen = "10.0.0.7:9988"
    raft   = "0.0.0.0:9987" # ERROR: Invalid raft address
  }
  node "mon2" {
    listen = "10.0.0.7:9988" # ERROR: Address used twice
    raft   = "10.0.0.8:9987"
  }
  node "mon2" { # ERROR: Duplicate watch node
    listen = "10.0.0.6:9988"
    raft   = "10.0.0.6:9987"
  }
  node "mon3" { # ERROR: Missing listen address
    raft = "10.0.0.5:9987"
  }
  node "mon4" { # WARNING: Even number of watch nodes
    listen = "10.0.0.4:9988"
    raft   = "10.0.0.4:9987"
  }
}
