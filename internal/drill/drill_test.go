package drill

import (
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func TestDrillLongestGap(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name       string
		acks       []time.Time
		start, end time.Time
		want       time.Duration
	}{
		{"gap across the move", at(0, 10, 20, 500, 510), ms(25), ms(400), 480 * time.Millisecond},
		{"a longer gap before the move does not count", at(0, 900, 1000, 1010, 1300), ms(1005), ms(1200), 290 * time.Millisecond},
		{"gaps inside the move count", at(0, 100, 700, 710), ms(50), ms(705), 600 * time.Millisecond},
		{"no acks", nil, ms(0), ms(10), 0},
	}
	for _, tt := range tests {
		if got := longestGap(tt.acks, tt.start, tt.end); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestDrillCheck(t *testing.T) {
	c := &topology.Cluster{
		Name: "t", ActiveMasterRole: "writer",
		Hosts: []*topology.Host{
			{Name: "master1", Address: "10.0.0.11", Mode: topology.ModeMaster, Peer: "master2"},
			{Name: "master2", Address: "10.0.0.12", Mode: topology.ModeMaster, Peer: "master1"},
			{Name: "slave1", Address: "10.0.0.13", Mode: topology.ModeSlave},
		},
		Roles: []*topology.Role{{Name: "writer", Mode: topology.RoleExclusive, Hosts: []string{"master1", "master2"}, Prefer: "master1"}},
	}
	healthy := func() *topology.Live {
		l := &topology.Live{Hosts: map[string]*topology.LiveHost{}}
		for _, h := range c.Hosts {
			lh := &topology.LiveHost{Name: h.Name, Reachable: true, ReadOnly: h.Name != "master1"}
			if h.Name != "master1" {
				lh.Replica = &topology.ReplicaStatus{SourceHost: "10.0.0.11", IORunning: "Yes", SQLRunning: "Yes"}
			}
			l.Hosts[h.Name] = lh
		}
		return l
	}
	tests := []struct {
		name   string
		change func(l *topology.Live)
		want   string // in the error; "" healthy (apart from the plan)
	}{
		{"two writers", func(l *topology.Live) { l.Hosts["master2"].ReadOnly = false }, "exactly one writable master"},
		{"standby down", func(l *topology.Live) { l.Hosts["master2"].Reachable = false }, "no other reachable host"},
		{"replica stopped", func(l *topology.Live) { l.Hosts["slave1"].Replica.SQLRunning = "No" }, "slave1's replication is not sane"},
		{"replica elsewhere", func(l *topology.Live) { l.Hosts["slave1"].Replica.SourceHost = "10.0.0.12" }, "slave1 replicates from 10.0.0.12"},
	}
	for _, tt := range tests {
		l := healthy()
		tt.change(l)
		_, _, err := Check(c, l, time.Now())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	w, s, err := Check(c, healthy(), time.Now())
	if w != "master1" || s != "master2" {
		t.Errorf("writer %q standby %q (%v)", w, s, err)
	}
}
