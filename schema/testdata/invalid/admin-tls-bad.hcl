# admin.tls is off, required or verify
cluster "t" {
  flavor             = "mariadb"
  active_master_role = "writer"
}

defaults {
  admin {
    password = env("ADMIN_PW")
    tls      = "maybe" # ERROR: Invalid admin tls
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
