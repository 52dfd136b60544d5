package apply

import (
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// The replica a copy is compared with is paused for the checksums: never a
// host that can be promoted (the writer waits for its semi-sync
// acknowledgements), only a slave of the same source without errors.
func TestVerifyReference(t *testing.T) {
	c := &topology.Cluster{
		ActiveMasterRole: "writer",
		Roles:            []*topology.Role{{Name: "writer", Hosts: []string{"master1", "master2"}}},
	}
	for _, h := range []struct {
		name string
		mode topology.HostMode
	}{{"master1", topology.ModeMaster}, {"master2", topology.ModeMaster}, {"slave1", topology.ModeSlave}, {"slave2", topology.ModeSlave}, {"slave3", topology.ModeSlave}} {
		c.Hosts = append(c.Hosts, &topology.Host{Name: h.name, Mode: h.mode})
	}
	replica := func(source string, sqlErr int) *topology.LiveHost {
		return &topology.LiveHost{Reachable: true, Replica: &topology.ReplicaStatus{SourceHost: source, SourcePort: 3306, IORunning: "Yes", SQLRunning: "Yes", LastSQLErrno: sqlErr}}
	}
	tests := []struct {
		name  string
		donor string
		live  map[string]*topology.LiveHost
		want  string
	}{
		{"the donor, a slave of the same source", "slave1",
			map[string]*topology.LiveHost{"slave3": replica("m1", 0), "slave1": replica("m1", 0), "slave2": replica("m1", 0)}, "slave1"},
		{"the donor is the standby master: another slave, never it", "master2",
			map[string]*topology.LiveHost{"slave3": replica("m1", 0), "master2": replica("m1", 0), "slave2": replica("m1", 0)}, "slave2"},
		{"the donor has a replication error: another slave", "slave1",
			map[string]*topology.LiveHost{"slave3": replica("m1", 0), "slave1": replica("m1", 1062), "slave2": replica("m1", 0)}, "slave2"},
		{"only masters replicate: none", "master1",
			map[string]*topology.LiveHost{"slave3": replica("m1", 0), "master2": replica("m1", 0)}, ""},
		{"the copy does not replicate: none", "slave1",
			map[string]*topology.LiveHost{"slave1": replica("m1", 0)}, ""},
	}
	for _, tt := range tests {
		a := &Applier{Cluster: c}
		got := ""
		if h := a.reference("slave3", tt.donor, &topology.Live{Hosts: tt.live}); h != nil {
			got = h.Name
		}
		if got != tt.want {
			t.Errorf("%s: reference %q, want %q", tt.name, got, tt.want)
		}
	}
}
