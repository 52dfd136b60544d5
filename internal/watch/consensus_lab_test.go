package watch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/consensus"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
)

// node is one in-process watch node: its raft member, its watch and its
// control API, on loopback.
type node struct {
	name   string
	raft   *consensus.Node
	w      *watch.Watch
	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// halt stops the node as kill -9 would: no hand-over of the lead, no
// hand-back of the agents.
func (n *node) halt() {
	if n.cancel == nil {
		return
	}
	_ = n.raft.Halt()
	n.cancel()
	<-n.done
	n.srv.Close()
	n.cancel = nil
}

func loopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nodeSet is three watch nodes against the lab's cluster (a copy of it
// with node blocks on loopback); each can be killed and started again on
// its data directory.
type nodeSet struct {
	t     *testing.T
	k     *cluster
	c     *topology.Cluster
	dirs  map[string]string
	nodes []*node
}

func startNodes(t *testing.T, k *cluster) *nodeSet {
	cp := *k.c
	s := &nodeSet{t: t, k: k, c: &cp, dirs: map[string]string{}}
	s.c.Monitor.Nodes = nil
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("mon%d", i)
		s.c.Monitor.Nodes = append(s.c.Monitor.Nodes, &topology.MonitorNode{Name: name, Listen: loopbackAddr(t), Raft: loopbackAddr(t)})
		s.dirs[name] = t.TempDir()
	}
	for _, nd := range s.c.Monitor.Nodes {
		s.nodes = append(s.nodes, s.start(nd.Name))
	}
	return s
}

// start runs node name (again).
func (s *nodeSet) start(name string) *node {
	t, c := s.t, s.c
	nd := c.Monitor.Node(name)
	timeouts := conn.Timeouts{Connect: 500 * time.Millisecond, Query: 2 * time.Second}
	rn, err := consensus.Open(consensus.Config{Node: nd.Name, Nodes: c.Monitor.Nodes, Dir: s.dirs[name], Lease: c.Monitor.Lease})
	if err != nil {
		t.Fatal(err)
	}
	pool := &apply.Pool{Cluster: c, Timeouts: timeouts}
	w := watch.New(watch.Config{Cluster: c, Inspect: s.k.inspect, DBs: pool, Agents: s.k.agents, Holder: "watch/" + nd.Name, Raft: rn,
		NewReader: func(host string) watch.HostReader {
			return inspect.NewReader(c, c.Host(host), inspect.Options{Timeouts: timeouts, SkipAccounts: true})
		},
		FailoverDBs: func() apply.Databases {
			return &apply.Pool{Cluster: c, Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond, Query: 10 * time.Second}}
		},
	})
	ln, err := net.Listen("tcp", nd.Listen)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: nd.Name, raft: rn, w: w, srv: &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() { _ = n.srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	w.Start(ctx)
	go func() {
		defer close(n.done)
		_ = w.Run(ctx)
		pool.Close()
	}()
	t.Cleanup(n.halt)
	return n
}

// acting waits for one node of nodes to act, and returns it.
func acting(t *testing.T, nodes []*node, timeout time.Duration) *node {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.cancel != nil && n.w.Acting() {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no watch node acts within %s", timeout)
	return nil
}

func failovers(r watch.Report, after time.Time) int {
	k := 0
	for _, e := range r.Events {
		if e.Kind == "failover" && e.At.After(after) {
			k++
		}
	}
	return k
}

// TestRaftNodesLab: three watch nodes with raft against the lab. Killing the
// leader costs no write and fences nothing; the deposed leader's grant is
// refused by the agent; the writer's server killed right after the next
// leader is: exactly one failover, by the node that leads then, no
// acknowledged row lost. Commands sent to a follower reach the leader.
func TestRaftNodesLab(t *testing.T) {
	k := setUp(t)
	k.stopWatch() // the single watch hands the agents back; the nodes take over
	ns := startNodes(t, k)
	c, nodes := ns.c, ns.nodes
	l1 := acting(t, nodes, 15*time.Second)
	k.w = l1.w
	r := k.waitFor(30*time.Second, "every host ONLINE under the first leader", func(r watch.Report) bool { return allOnline(r) && r.Writer != "" })
	writer := r.Writer
	standby := "master1"
	if writer == "master1" {
		standby = "master2"
	}
	t.Logf("leader %s, epoch %d, writer %s", l1.name, r.Epoch, writer)

	// A command sent to a follower is forwarded to the leader.
	var follower *node
	for _, n := range nodes {
		if n != l1 {
			follower = n
		}
	}
	cl := &watch.Client{Base: "http://" + c.Monitor.Node(follower.name).Listen, Token: c.Monitor.Token.Value()}
	if _, err := cl.Command(context.Background(), "mode", watch.Command{Mode: "manual"}); err != nil {
		t.Fatalf("mode manual through the follower %s: %v", follower.name, err)
	}
	if m := l1.w.Status().Mode; m != watch.ModeManual {
		t.Fatalf("the leader's mode after a command to a follower: %s", m)
	}
	k.waitFor(5*time.Second, "the follower mirrors the mode", func(watch.Report) bool { return follower.w.Status().Mode == watch.ModeManual })
	if _, err := cl.Command(context.Background(), "mode", watch.Command{Mode: "active"}); err != nil {
		t.Fatal(err)
	}
	st, err := cl.Status(context.Background())
	if err != nil || len(st.Nodes) != 3 || st.Leader != l1.name {
		t.Fatalf("status from a follower: nodes %+v leader %q err %v", st.Nodes, st.Leader, err)
	}

	// Kill -9 of the leader under write load.
	vip := c.WriterRole().IPs[0]
	ld := startLoad(t, c, vip)
	time.Sleep(2 * time.Second)
	oldEpoch := l1.w.Status().Epoch
	killedAt := time.Now()
	l1.halt()
	l2 := acting(t, nodes, 10*time.Second)
	t.Logf("%s acts %s after %s was killed (epoch %d)", l2.name, time.Since(killedAt).Round(time.Millisecond), l1.name, l2.w.Status().Epoch)
	time.Sleep(3 * time.Second)
	acked := ld.stop()
	gap, errs := longestGap(ld, killedAt.Add(-time.Second))
	t.Logf("%d writes acknowledged; longest gap around the leader kill %s; failed writes after the kill: %d (last: %v)", len(acked), gap.Round(time.Millisecond), errs, ld.lastErr())
	if errs > 0 {
		t.Errorf("%d writes through the writer VIP failed after the leader was killed (the writer was fenced?): %v", errs, ld.lastErr())
	}
	if readOnly(t, c, writer) {
		t.Fatalf("the writer %s was fenced when the leader died", writer)
	}
	if r := l2.w.Status(); r.Writer != writer || failovers(r, killedAt) != 0 {
		t.Fatalf("the leader's death moved the writer:\n%s", render(r))
	}
	checkRows(t, c, writer, acked)

	// The deposed leader's grant, delayed until now, is refused.
	newEpoch := l2.w.Status().Epoch
	if newEpoch <= oldEpoch {
		t.Fatalf("the new leader's epoch %d is not above the old one's %d", newEpoch, oldEpoch)
	}
	if err := staleGrant(k.agents, writer, c.Monitor.Lease, oldEpoch); err == nil || !strings.Contains(err.Error(), "epoch") {
		t.Fatalf("the agent accepted a grant of the deposed leader's epoch %d (now %d): %v", oldEpoch, newEpoch, err)
	} else {
		t.Logf("the deposed leader's grant: %v", err)
	}

	// The killed node comes back (as a follower); then the writer's server
	// dies right after the leader does.
	for i, n := range nodes {
		if n == l1 {
			nodes[i] = ns.start(l1.name)
		}
	}
	k.waitFor(15*time.Second, l1.name+" follows again", func(watch.Report) bool {
		for _, n := range nodes {
			if n.name == l1.name {
				return n.w.Status().Leader == l2.name
			}
		}
		return false
	})
	live := nodesExcept(nodes, l2)
	k.w = live[0].w
	// killWriter follows the node that acts, whichever wins.
	k.statusOf = func() watch.Report {
		for _, n := range live {
			if n.w.Acting() {
				return n.w.Status()
			}
		}
		return live[0].w.Status()
	}
	defer func() { k.statusOf = nil }()
	l2.halt()
	t0 := time.Now()
	killWriter(t, k, writer, standby, true)
	l3 := acting(t, live, 10*time.Second)
	k.w = l3.w
	if got := failovers(l3.w.Status(), t0); got != 1 {
		t.Errorf("%d failovers by %s, want exactly one:\n%s", got, l3.name, render(l3.w.Status()))
	}
	if got := failovers(l2.w.Status(), t0); got != 0 {
		t.Errorf("the killed leader %s failed over too", l2.name)
	}
	// Leave the lab to the next test as it found it: the old writer back,
	// rejoined, and the writer again; the agents in static mode.
	k.pids[writer] = restartServer(t, nil, k.l, writer) // kept for the next test
	k.waitFor(60*time.Second, writer+" rejoins ONLINE", func(r watch.Report) bool { return state(r, writer) == watch.Online })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l3.w.MoveRole(ctx, "writer", writer, false); err != nil {
		t.Fatalf("move the writer back to %s: %v\n%s", writer, err, render(l3.w.Status()))
	}
	for _, n := range nodes {
		n.halt()
	}
	for _, h := range c.Hosts {
		st, err := k.agents.Status(ctx, h.Name)
		if err != nil {
			t.Fatalf("agent %s: %v", h.Name, err)
		}
		var roles []agent.RoleIP
		for _, r := range st.Roles {
			roles = append(roles, agent.RoleIP{Role: r.Role, IP: r.IP})
		}
		if _, err := k.agents.SetRoles(ctx, h.Name, roles, nil); err != nil {
			t.Fatalf("agent %s back to static mode: %v", h.Name, err)
		}
	}
}

func nodesExcept(nodes []*node, out *node) []*node {
	var keep []*node
	for _, n := range nodes {
		if n != out {
			keep = append(keep, n)
		}
	}
	return keep
}

// staleGrant sends the writer's agent a grant with a fresh nonce and the
// given epoch, as a deposed leader's delayed request would arrive.
func staleGrant(ac *agent.Client, host string, ttl time.Duration, epoch uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := ac.Status(ctx, host)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	var roles []agent.RoleIP
	for _, r := range st.Roles {
		roles = append(roles, agent.RoleIP{Role: r.Role, IP: r.IP})
	}
	_, err = ac.SetRoles(ctx, host, roles, &agent.Lease{TTL: agent.Duration(ttl), Holder: "watch/deposed", Epoch: epoch, Nonce: st.Nonce})
	if err == nil {
		return errors.New("accepted")
	}
	return err
}

// longestGap is the longest time between acknowledged writes sent after
// from, and how many writes failed (the load records the last error only:
// a non-nil error after from counts one).
func longestGap(ld *load, from time.Time) (time.Duration, int) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	var gap time.Duration
	var prev time.Time
	for i, at := range ld.ackAt {
		if ld.startAt[i].Before(from) {
			continue
		}
		if !prev.IsZero() && at.Sub(prev) > gap {
			gap = at.Sub(prev)
		}
		prev = at
	}
	return gap, ld.errsAfter(from)
}
