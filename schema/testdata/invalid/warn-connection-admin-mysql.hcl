# MySQL: CONNECTION_ADMIN writes past read_only (not past super_read_only)
cluster "t" {
  flavor             = "mysql"
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

user "ops" { # WARNING: Account can write to a fenced master
  host     = "10.0.0.%"
  password = env("OPS_PW")
  grant "*.*" {
    privileges = ["CONNECTION_ADMIN", "PROCESS"]
  }
}
