package plan

import (
	"time"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Secrets used by the test clusters; TestNoSecretLeaks looks for them.
const (
	adminSecret   = "s3cret-admin-pw"
	replSecret    = "s3cret-repl-pw"
	monitorSecret = "s3cret-monitor-pw"
	appSecret     = "s3cret-app-pw"
)

var allSecrets = []string{adminSecret, replSecret, monitorSecret, appSecret}

var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

const mariaVersion = "10.11.6-MariaDB-0+deb12u1-log"

// labCluster is examples/lab/mmm.hcl built in Go (the tests do not depend on
// the HCL loader).
func labCluster() *topology.Cluster {
	admin := topology.Account{User: "root", Password: topology.NewSecret(adminSecret, "var.admin_password")}
	host := func(name, addr string, mode topology.HostMode, peer string) *topology.Host {
		return &topology.Host{Name: name, Address: addr, Port: 3306, Mode: mode, Peer: peer, Interface: "eth0", Admin: admin}
	}
	return &topology.Cluster{
		Name:             "lab",
		Flavor:           "mariadb",
		ActiveMasterRole: "writer",
		Hosts: []*topology.Host{
			host("master1", "198.18.0.11", topology.ModeMaster, "master2"),
			host("master2", "198.18.0.12", topology.ModeMaster, "master1"),
			host("slave1", "198.18.0.13", topology.ModeSlave, ""),
			host("slave2", "198.18.0.14", topology.ModeSlave, ""),
		},
		Replication: topology.Replication{User: "replication", SemiSync: true},
		Users: []*topology.User{
			{Name: "replication", Host: "198.18.0.%", Password: topology.NewSecret(replSecret, "var.replication_password"),
				Grants: []topology.Grant{{On: "*.*", Privileges: []string{"REPLICATION SLAVE"}}}, Ensure: topology.EnsurePresent},
			{Name: "mmm_monitor", Host: "198.18.0.%", Password: topology.NewSecret(monitorSecret, "var.monitor_password"),
				Grants: []topology.Grant{{On: "*.*", Privileges: []string{"REPLICATION CLIENT"}}}, Ensure: topology.EnsurePresent},
			{Name: "app", Host: "%", Password: topology.NewSecret(appSecret, "var.app_password"),
				Grants: []topology.Grant{{On: "shop.*", Privileges: []string{"DELETE", "INSERT", "SELECT", "UPDATE"}}}, Ensure: topology.EnsurePresent},
		},
		Roles: []*topology.Role{
			{Name: "writer", Mode: topology.RoleExclusive, Hosts: []string{"master1", "master2"}, IPs: []string{"198.18.0.100"}, Prefer: "master1"},
			{Name: "reader", Mode: topology.RoleBalanced, Hosts: []string{"slave1", "slave2"}, IPs: []string{"198.18.0.101", "198.18.0.102"}},
		},
	}
}

// freshLive is the lab right after `mmm lab up`: every server writable, no
// replication, no accounts but the admin, a few provisioning transactions in
// some binary logs.
func freshLive(c *topology.Cluster) *topology.Live {
	live := &topology.Live{Hosts: map[string]*topology.LiveHost{}}
	binlog := map[string]string{"master1": "0-1-2", "master2": "0-2-2", "slave1": "", "slave2": "0-4-2"}
	for i, h := range c.Hosts {
		lh := &topology.LiveHost{
			Name: h.Name, Address: h.Address, Port: h.Port, Reachable: true, Version: mariaVersion,
			ServerID: uint32(i + 1), LogBin: true, LogSlaveUpdates: true,
			GTIDBinlogPos: binlog[h.Name], GTIDCurrentPos: binlog[h.Name],
			AutoIncrementIncrement: 1, AutoIncrementOffset: 1, ReplicaNetTimeout: 60,
			Users: map[string]*topology.LiveUser{},
		}
		for _, u := range c.Users {
			lh.Users[u.Key()] = &topology.LiveUser{Name: u.Name, Host: u.Host}
		}
		live.Hosts[h.Name] = lh
	}
	return live
}

// convergedLive is the lab after a successful apply with master1 the writer.
func convergedLive(c *topology.Cluster) *topology.Live {
	live := &topology.Live{Hosts: map[string]*topology.LiveHost{}}
	for i, h := range c.Hosts {
		lh := &topology.LiveHost{
			Name: h.Name, Address: h.Address, Port: h.Port, Reachable: true, Version: mariaVersion,
			ServerID: uint32(i + 1), LogBin: true, LogSlaveUpdates: true, GTIDStrictMode: true,
			ReadOnly:               h.Name != "master1",
			GTIDBinlogPos:          "0-1-42",
			GTIDSlavePos:           "0-1-42",
			GTIDCurrentPos:         "0-1-42",
			AutoIncrementIncrement: 1, AutoIncrementOffset: 1, ReplicaNetTimeout: ReplicaNetTimeout(c.Replication.Heartbeat),
			Users: map[string]*topology.LiveUser{},
		}
		if h.Mode == topology.ModeMaster {
			lh.AutoIncrementIncrement, lh.AutoIncrementOffset = 2, i+1
			lh.SemiSyncMasterEnabled, lh.SemiSyncSlaveEnabled = true, true
		}
		src := c.Host("master1")
		if h.Name == "master1" {
			src = c.Host("master2")
		}
		lh.Replica = &topology.ReplicaStatus{
			SourceHost: src.Address, SourcePort: 3306, SourceUser: "replication", UsingGTID: "Slave_Pos",
			IORunning: "Yes", SQLRunning: "Yes", ConnectRetry: 60, HeartbeatPeriod: 30,
		}
		for _, u := range c.Users {
			lh.Users[u.Key()] = &topology.LiveUser{Name: u.Name, Host: u.Host, Exists: true, Password: topology.PasswordMatch,
				Grants: liveGrants(u.Grants)}
		}
		live.Hosts[h.Name] = lh
	}
	return live
}

// withVIPs adds agent-reported VIP holders: the writer VIP on master1, one
// reader VIP on each slave.
func withVIPs(live *topology.Live) *topology.Live {
	live.VIPs = map[string][]string{
		"198.18.0.100": {"master1"},
		"198.18.0.101": {"slave1"},
		"198.18.0.102": {"slave2"},
	}
	return live
}

// liveGrants is what inspect reports for declared grants on mariaVersion:
// the server's own names (REPLICATION CLIENT is shown as BINLOG MONITOR).
func liveGrants(declared []topology.Grant) []topology.Grant {
	f, err := flavor.Parse(mariaVersion)
	if err != nil {
		panic(err)
	}
	var out []topology.Grant
	for _, g := range declared {
		out = append(out, flavor.NormalizeGrant(f, g))
	}
	return out
}
