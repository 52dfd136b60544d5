package watch

import (
	"context"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// The status page's view comes from the report and the probes' facts: the
// replication source by host name, the GTID distance to it, read_only, and
// the chart's latencies. Nothing here talks to a server.
func TestView(t *testing.T) {
	live := fakeLive(testCluster())
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	w.Start(context.Background())
	lag := int64(4)
	m1 := w.c.Host("master1")
	facts := map[string]*topology.LiveHost{
		"master1": {Name: "master1", Reachable: true, GTIDExecuted: "0-1-10"},
		"slave1": {Name: "slave1", Reachable: true, ReadOnly: true, GTIDExecuted: "0-1-7",
			Replica: &topology.ReplicaStatus{SourceHost: m1.Address, IORunning: "Yes", SQLRunning: "Yes", SecondsBehind: &lag}},
		"slave2": {Name: "slave2", Reachable: true, ReadOnly: true, GTIDExecuted: "0-1-10",
			Replica: &topology.ReplicaStatus{SourceHost: "192.0.2.99", IORunning: "Connecting", SQLRunning: "Yes", LastIOError: "can't connect"}},
	}
	sent := time.Now().Add(-3 * time.Millisecond)
	for name, lh := range facts {
		w.facts.update(name, func(f *HostFacts) {
			f.Live, f.LiveSent, f.LiveAt = lh, sent, sent.Add(2*time.Millisecond)
			f.Server = ServerFact{State: agent.ProbeOK, Took: 500 * time.Microsecond}
		})
	}
	v := w.View()
	if v.Writer != "master1" || v.Cluster != w.c.Name || len(v.Hosts) != len(w.c.Hosts) {
		t.Fatalf("view: writer %q cluster %q, %d hosts", v.Writer, v.Cluster, len(v.Hosts))
	}
	s1 := v.Host("slave1")
	if r := s1.Replication; r == nil || r.Source != "master1" || r.LagSeconds == nil || *r.LagSeconds != 4 || r.Behind == nil || *r.Behind != 3 {
		t.Errorf("slave1 replication %+v (lag %v, behind %v), want from master1, lag 4s, 3 transactions behind", r, deref(r.LagSeconds), deref(r.Behind))
	}
	if s1.ReadOnly == nil || !*s1.ReadOnly {
		t.Errorf("slave1 read_only %v", s1.ReadOnly)
	}
	// A source that is not a host of the file keeps its address and has no
	// distance; the channel's error is there.
	if r := v.Host("slave2").Replication; r == nil || r.Source != "192.0.2.99" || r.Behind != nil || r.Error != "can't connect" || r.Running() {
		t.Errorf("slave2 replication %+v", r)
	}
	// master2 was not inspected: nothing is made up.
	if h := v.Host("master2"); h.Replication != nil || h.ReadOnly != nil {
		t.Errorf("master2 without facts: %+v", h)
	}
	sm := w.uiSample()
	if hs := sm.Hosts["slave1"]; hs.Lag == nil || *hs.Lag != 4 || hs.PingMS != 0.5 || hs.InspectMS != 2 {
		t.Errorf("slave1 sample %+v", hs)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
