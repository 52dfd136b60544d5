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

	w.renew(context.Background())
	if ra.leased["master2"] != 0 {
		t.Fatalf("a fenced host got a lease renewal")
	}

	w.promoting("master2")
	w.renew(context.Background())
	if ra.leased["master2"] != 1 {
		t.Fatalf("the promoted host got %d lease renewals, want 1", ra.leased["master2"])
	}
	if _, ok := w.failoverPos["master2"]; ok {
		t.Errorf("the promoted host is still tracked as an old writer to rejoin")
	}
}
