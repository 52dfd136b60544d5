package watch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// recordingAgents answers every call and records which hosts got a lease.
type recordingAgents struct {
	mu     sync.Mutex
	leased map[string]int
}

func (r *recordingAgents) Status(ctx context.Context, host string) (*agent.Status, error) {
	return &agent.Status{Host: host, Mode: agent.ModeLease, Nonce: "n", Protocol: agent.ProtocolVersion}, nil
}

func (r *recordingAgents) Fence(ctx context.Context, host string, req agent.FenceRequest) (*agent.Status, error) {
	return &agent.Status{Host: host, Mode: agent.ModeLease, Nonce: "n", Fence: &agent.FenceReport{Complete: true}}, nil
}

func (r *recordingAgents) Witness(ctx context.Context, witness string, targets []string, timeout time.Duration) (*agent.WitnessReport, error) {
	return &agent.WitnessReport{Witness: witness}, nil
}

func (r *recordingAgents) SetRoles(ctx context.Context, host string, roles []agent.RoleIP, lease *agent.Lease) (*agent.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lease != nil {
		r.leased[host]++
	}
	held := make([]agent.HeldRole, 0, len(roles))
	for _, x := range roles {
		held = append(held, agent.HeldRole{Role: x.Role, IP: x.IP})
	}
	return &agent.Status{Host: host, Mode: agent.ModeLease, Roles: held, Nonce: "n"}, nil
}

// A host fenced as an old writer that came back ONLINE, but was not yet seen
// to replicate, can be promoted by the next failover. From then on its lease
// must be renewed: otherwise its own agent drops the writer VIP and sets it
// read_only one lease after the promotion (seen in the lab under load).
func TestPromotedHostLeaseIsRenewed(t *testing.T) {
	live := fakeLive(testCluster())
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	ra := &recordingAgents{leased: map[string]int{}}
	w.cfg.Agents = ra
	w.leases.SetFenced("master2", true)
	w.failoverPos["master2"] = "0-1-10"

	w.renewHost(context.Background(), "master2")
	if ra.leased["master2"] != 0 {
		t.Fatalf("a fenced host got a lease renewal")
	}

	w.promoting("master2")
	w.renewHost(context.Background(), "master2")
	if ra.leased["master2"] != 1 {
		t.Fatalf("the promoted host got %d lease renewals, want 1", ra.leased["master2"])
	}
	if _, ok := w.failoverPos["master2"]; ok {
		t.Errorf("the promoted host is still tracked as an old writer to rejoin")
	}
}

// The failsafe bound: one lease (+ margin) after the earliest start of a
// current streak of renewals of another host than the old writer.
func TestFailsafeBound(t *testing.T) {
	const ttl = time.Second
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name    string
		accepts map[string][]int // host -> answer arrival times (ms)
		now     int
		want    int // ms of the streak start the bound counts from; -1: none
	}{
		{"renewed steadily since 0", map[string][]int{"slave1": {0, 250, 500, 750, 1000}}, 1100, 0},
		{"a gap restarts the streak", map[string][]int{"slave1": {0, 250, 900, 1150, 1400}}, 1500, 900},
		{"the earliest current streak counts", map[string][]int{"slave1": {500, 750, 1000}, "slave2": {0, 250, 500, 750, 1000}}, 1100, 0},
		{"a streak that ended does not count", map[string][]int{"slave1": {0, 250}, "slave2": {600, 850, 1100}}, 1150, 600},
		{"the old writer's own renewals do not count", map[string][]int{"master1": {0, 250, 500, 750, 1000}}, 1100, -1},
		{"nobody renewed lately", map[string][]int{"slave1": {0, 250}}, 2000, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLeases(ttl)
			for host, times := range tt.accepts {
				for _, ms := range times {
					l.Accepted(host, at(ms))
				}
			}
			got, ok := l.FailsafeBound("master1", at(tt.now))
			if tt.want < 0 {
				if ok {
					t.Fatalf("bound %v, want none", got)
				}
				return
			}
			if want := at(tt.want).Add(ttl + leaseMargin(ttl)); !ok || !got.Equal(want) {
				t.Fatalf("bound %v (%v), want %v", got, ok, want)
			}
		})
	}
}
