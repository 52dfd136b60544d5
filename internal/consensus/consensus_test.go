package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startNodes(t *testing.T, k int) ([]*Node, []Config) {
	t.Helper()
	var nodes []*topology.MonitorNode
	for i := range k {
		nodes = append(nodes, &topology.MonitorNode{Name: fmt.Sprintf("mon%d", i+1), Listen: freeAddr(t), Raft: freeAddr(t)})
	}
	var out []*Node
	var cfgs []Config
	for _, nd := range nodes {
		cfg := Config{Node: nd.Name, Nodes: nodes, Dir: t.TempDir(), Lease: time.Second}
		n, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		out = append(out, n)
		cfgs = append(cfgs, cfg)
	}
	return out, cfgs
}

func waitLeader(t *testing.T, nodes []*Node, except *Node) *Node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n != except && n.Leading() {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no leader within 10s")
	return nil
}

// TestEpochAndStateSurviveLeaderLoss: a new leader's epoch exceeds every
// epoch committed before, also ones asked for by number, and the state
// committed by the old leader is there.
func TestEpochAndStateSurviveLeaderLoss(t *testing.T) {
	nodes, _ := startNodes(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l1 := waitLeader(t, nodes, nil)
	e1, err := l1.BumpEpoch(ctx, 1_764_000_000) // a single watch's epoch before
	if err != nil || e1 != 1_764_000_000 {
		t.Fatalf("first epoch %d %v", e1, err)
	}
	if e, err := l1.BumpEpoch(ctx, 0); err != nil || e != e1+1 {
		t.Fatalf("bump: %d %v, want %d", e, err, e1+1)
	}
	if err := l1.SaveState(ctx, []byte(`{"mode":"manual"}`)); err != nil {
		t.Fatal(err)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := waitLeader(t, nodes, l1)
	if err := l2.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := string(l2.State()); got != `{"mode":"manual"}` {
		t.Errorf("state on the new leader: %s", got)
	}
	e2, err := l2.BumpEpoch(ctx, 0)
	if err != nil || e2 <= e1+1 {
		t.Fatalf("new leader's epoch %d %v, want above %d", e2, err, e1+1)
	}
	for _, n := range nodes {
		if n != l1 && n != l2 {
			if _, err := n.BumpEpoch(ctx, 0); err == nil {
				t.Error("a follower committed an epoch")
			}
		}
	}
}

// TestRestartKeepsState: a node restarted on its data directory keeps the
// committed epoch (bootstrap is not done twice).
func TestRestartKeepsState(t *testing.T) {
	nodes, cfgs := startNodes(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l := waitLeader(t, nodes, nil)
	e, err := l.BumpEpoch(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := Open(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitLeader(t, []*Node{n}, nil)
	if err := n.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Epoch() != e {
		t.Errorf("epoch after restart %d, want %d", n.Epoch(), e)
	}
}

// A message raft repeats (to a dead node) is logged once per quietFor.
func TestRaftLogQuiet(t *testing.T) {
	var buf strings.Builder
	w := newSlogWriter(slog.New(slog.NewTextHandler(&buf, nil)))
	for _, line := range []string{
		"2026-11-27T23:41:38.395Z [ERROR] raft: failed to make requestVote RPC: target=mon1 term=4\n",
		"2026-11-27T23:41:38.644Z [ERROR] raft: failed to make requestVote RPC: target=mon1 term=5\n",
		"2026-11-27T23:41:38.644Z [WARN]  raft: Election timeout reached, restarting election\n",
	} {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(buf.String(), "requestVote"); got != 1 {
		t.Errorf("the repeated message was logged %d times:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), "Election timeout") {
		t.Errorf("another message was dropped:\n%s", buf.String())
	}
}

// A node block added to the file joins the cluster once the nodes run with
// the new file: the leader adds it.
func TestMembershipFollowsTheFile(t *testing.T) {
	nodes, cfgs := startNodes(t, 1)
	l := waitLeader(t, nodes, nil)
	nd := &topology.MonitorNode{Name: "mon2", Listen: freeAddr(t), Raft: freeAddr(t)}
	all := append(cfgs[0].Nodes, nd)
	l.cfg.Nodes = all // the leader restarted with the new file, in effect
	n2, err := Open(Config{Node: "mon2", Nodes: all, Dir: t.TempDir(), Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if leader, _ := n2.Leader(); leader == "mon1" && n2.Info().AppliedAt > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("mon2 did not join: %+v", n2.Info())
}

// With the cluster's CA, raft speaks TLS: the nodes elect a leader and
// replicate over it.
func TestTLS(t *testing.T) {
	var nodes []*topology.MonitorNode
	for i := range 3 {
		nodes = append(nodes, &topology.MonitorNode{Name: fmt.Sprintf("mon%d", i+1), Listen: freeAddr(t), Raft: freeAddr(t)})
	}
	dir := t.TempDir()
	c := &topology.Cluster{Name: "t", Monitor: topology.Monitor{Listen: "127.0.0.1:9988", Nodes: nodes}}
	if _, err := pki.Init(c, dir, false); err != nil {
		t.Fatal(err)
	}
	var running []*Node
	for _, nd := range nodes {
		srv, err := pki.ServerConfig(dir, pki.Monitor)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := pki.ClientConfig(dir, pki.Monitor)
		if err != nil {
			t.Fatal(err)
		}
		n, err := Open(Config{Node: nd.Name, Nodes: nodes, Dir: t.TempDir(), Lease: time.Second, ServerTLS: srv, ClientTLS: cli})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		running = append(running, n)
	}
	l := waitLeader(t, running, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.BumpEpoch(ctx, 7); err != nil {
		t.Fatalf("commit over TLS: %v", err)
	}
}
