# READ_ONLY ADMIN writes past read_only: a warning, except for the admin
# account mmm connects with and a block that allows it
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

user "dba" { # WARNING: Account can write to a fenced master
  host     = "10.0.0.%"
  password = env("DBA_PW")
  grant "*.*" {
    privileges = ["PROCESS", "READ_ONLY ADMIN"]
  }
}

user "root" {
  host     = "10.0.0.%"
  password = env("ADMIN_PW")
  grant "*.*" {
    privileges = ["READ_ONLY ADMIN", "SUPER"]
  }
}

user "fencer" {
  host                   = "10.0.0.%"
  password               = env("FENCER_PW")
  allow_read_only_bypass = true
  grant "*.*" {
    privileges = ["READ_ONLY ADMIN"]
  }
}
