// Package consensus runs one watch node's raft member (hashicorp/raft, log
// and snapshots in raft-boltdb under the node's data directory): leader
// election among the file's monitor nodes, and the replicated state the
// acting watch commits — its saved state (mode, ADMIN_OFFLINE, flaps,
// failover positions, the writer, a failover's phases) and the grant epoch.
//
// We write no consensus code: raft elects, replicates and persists; this
// package only maps the file's nodes onto it and keeps two values in its
// state machine (docs/watch.md, "Several watch nodes").
package consensus

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Config is one node.
type Config struct {
	Node  string
	Nodes []*topology.MonitorNode
	// Dir holds raft.db and the snapshots.
	Dir string
	// Lease is the agents' lease: raft's timeouts are cut to it, so that a
	// new leader is elected and renews well before a lease runs out.
	Lease time.Duration
	// ServerTLS and ClientTLS turn on mutual TLS between the nodes (both
	// nil: plain TCP).
	ServerTLS, ClientTLS *tls.Config
	Logger               *slog.Logger
}

// Node is a running raft member.
type Node struct {
	cfg   Config
	raft  *raft.Raft
	fsm   *fsm
	store *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	addr  map[raft.ServerID]string // node -> control (listen) address
	stop  chan struct{}
	once  sync.Once
}

// Timeouts derives raft's timings from the agents' lease: a follower
// starts an election after 1–2 heartbeat timeouts of silence, and an
// isolated leader steps down after the leader lease timeout, before any
// follower may start an election. With the lab's 1 s lease: 150 ms.
func Timeouts(lease time.Duration) (heartbeat, leaderLease time.Duration) {
	heartbeat = min(max(lease/6, 100*time.Millisecond), time.Second)
	return heartbeat, heartbeat / 2
}

// Open starts the node: it opens (or creates) its store and, on first
// start, bootstraps the cluster with every declared node (each node does
// the same with the same list, which raft accepts).
func Open(cfg Config) (*Node, error) {
	self := findNode(cfg.Nodes, cfg.Node)
	if self == nil {
		return nil, fmt.Errorf("watch node %q is not declared in the monitor block", cfg.Node)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("raft data directory %s (set it with --data-dir): %w", cfg.Dir, err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.Dir, "raft.db"),
		// A second watch on this node's data would wait forever for the
		// file lock: say so instead.
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("open %s (is another `mmm watch --node %s` running?): %w", filepath.Join(cfg.Dir, "raft.db"), cfg.Node, err)
	}
	n := &Node{cfg: cfg, fsm: &fsm{}, store: store, addr: map[raft.ServerID]string{}}
	ok := false
	defer func() {
		if !ok {
			n.closeTransport()
			store.Close()
		}
	}()
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: newSlogWriter(cfg.Logger)})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		return nil, fmt.Errorf("raft snapshots: %w", err)
	}
	ln, err := listen(self.Raft, cfg.ServerTLS)
	if err != nil {
		return nil, fmt.Errorf("watch node %s: raft %s: %w", cfg.Node, self.Raft, err)
	}
	layer := &streamLayer{Listener: ln, client: cfg.ClientTLS}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 3, Timeout: 2 * time.Second, Logger: hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.Node)
	rc.Logger = hlog
	hb, ll := Timeouts(cfg.Lease)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = hb, hb, ll
	rc.CommitTimeout = hb
	// The state is small (one JSON document): snapshot often, keep a short
	// tail of log behind it.
	rc.SnapshotThreshold, rc.TrailingLogs = 512, 256
	var servers []raft.Server
	for _, nd := range cfg.Nodes {
		servers = append(servers, raft.Server{ID: raft.ServerID(nd.Name), Address: raft.ServerAddress(nd.Raft), Suffrage: raft.Voter})
		n.addr[raft.ServerID(nd.Name)] = nd.Listen
	}
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("raft state in %s: %w", cfg.Dir, err)
	}
	if !has {
		if err := raft.BootstrapCluster(rc, store, store, snaps, n.trans, raft.Configuration{Servers: servers}); err != nil {
			return nil, fmt.Errorf("bootstrap raft: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, n.trans)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	n.stop = make(chan struct{})
	go n.followFile()
	ok = true
	return n, nil
}

// followFile makes raft's membership the file's: the leader adds the node
// blocks it lacks and removes the nodes the file no longer declares (a node
// added or retired by editing the file and restarting the watch nodes).
// The bootstrap list only counts on the very first start.
func (n *Node) followFile() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.raft.State() != raft.Leader {
			continue
		}
		if err := n.reconcileMembers(); err != nil {
			n.cfg.Logger.Warn("raft membership", "error", err)
		}
	}
}

func (n *Node) reconcileMembers() error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	have := map[raft.ServerID]raft.ServerAddress{}
	for _, s := range f.Configuration().Servers {
		have[s.ID] = s.Address
	}
	want := map[raft.ServerID]bool{}
	for _, nd := range n.cfg.Nodes {
		id, addr := raft.ServerID(nd.Name), raft.ServerAddress(nd.Raft)
		want[id] = true
		if have[id] == addr {
			continue
		}
		n.cfg.Logger.Warn("raft membership: adding a watch node of the file", "node", nd.Name, "raft", nd.Raft)
		if err := n.raft.AddVoter(id, addr, 0, 5*time.Second).Error(); err != nil {
			return fmt.Errorf("add watch node %s: %w", nd.Name, err)
		}
	}
	for id := range have {
		if !want[id] && id != raft.ServerID(n.cfg.Node) {
			n.cfg.Logger.Warn("raft membership: removing a watch node the file no longer declares", "node", id)
			if err := n.raft.RemoveServer(id, 0, 5*time.Second).Error(); err != nil {
				return fmt.Errorf("remove watch node %s: %w", id, err)
			}
		}
	}
	return nil
}

func findNode(nodes []*topology.MonitorNode, name string) *topology.MonitorNode {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (n *Node) closeTransport() {
	if n.trans != nil {
		n.trans.Close()
	}
}

// Close leaves the cluster's work to the others: a leader hands over
// leadership first (a quick, clean election), then raft stops.
func (n *Node) Close() error {
	n.once.Do(func() { close(n.stop) })
	if n.raft.State() == raft.Leader && len(n.cfg.Nodes) > 1 {
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			n.cfg.Logger.Warn("leadership transfer", "error", err)
		}
	}
	err := n.raft.Shutdown().Error()
	n.closeTransport()
	return errors.Join(err, n.store.Close())
}

// Halt stops the member at once without handing the lead over, as a crash
// would (tests and drills).
func (n *Node) Halt() error {
	n.once.Do(func() { close(n.stop) })
	err := n.raft.Shutdown().Error()
	n.closeTransport()
	return errors.Join(err, n.store.Close())
}

// Name is this node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Leading says whether this node is raft's leader now.
func (n *Node) Leading() bool { return n.raft.State() == raft.Leader }

// Term is raft's current term as this node knows it.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Leader names the leader this node knows of and its control address ("":
// none known).
func (n *Node) Leader() (name, listen string) {
	_, id := n.raft.LeaderWithID()
	return string(id), n.addr[id]
}

// Barrier returns once every entry committed before it is applied here.
func (n *Node) Barrier(ctx context.Context) error {
	return n.raft.Barrier(timeoutOf(ctx)).Error()
}

// State is the replicated watch state (nil: none committed yet).
func (n *Node) State() []byte { return n.fsm.get().State }

// Epoch is the last committed grant epoch.
func (n *Node) Epoch() uint64 { return n.fsm.get().Epoch }

// SaveState commits state (only the leader can).
func (n *Node) SaveState(ctx context.Context, state []byte) error {
	_, err := n.apply(ctx, command{Op: opState, State: state})
	return err
}

// BumpEpoch commits a new epoch above every one committed before and above
// atLeast-1, and returns it. A deposed leader cannot: its grants keep an
// epoch the agents already saw surpassed.
func (n *Node) BumpEpoch(ctx context.Context, atLeast uint64) (uint64, error) {
	return n.apply(ctx, command{Op: opEpoch, AtLeast: atLeast})
}

func (n *Node) apply(ctx context.Context, c command) (uint64, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	f := n.raft.Apply(b, timeoutOf(ctx))
	if err := f.Error(); err != nil {
		return 0, fmt.Errorf("raft commit (%s): %w", c.Op, err)
	}
	if e, ok := f.Response().(uint64); ok {
		return e, nil
	}
	return 0, nil
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 5 * time.Second
}

// Info is what `mmm show` prints about one node.
type Info struct {
	Name  string `json:"name"`
	Raft  string `json:"raft"`
	State string `json:"state"` // Leader, Follower, Candidate, Shutdown; "unreachable" when asked of another
	Term  uint64 `json:"term"`
	// LastContact: since when this follower heard no leader (0 on the leader).
	LastContact time.Duration `json:"last_contact_ns"`
	Leader      string        `json:"leader,omitempty"`
	Epoch       uint64        `json:"epoch"`
	AppliedAt   uint64        `json:"applied_index"`
}

// Info describes this node as it sees itself.
func (n *Node) Info() Info {
	leader, _ := n.Leader()
	in := Info{Name: n.cfg.Node, State: n.raft.State().String(), Term: n.raft.CurrentTerm(), Leader: leader,
		Epoch: n.Epoch(), AppliedAt: n.raft.AppliedIndex()}
	if self := findNode(n.cfg.Nodes, n.cfg.Node); self != nil {
		in.Raft = self.Raft
	}
	if n.raft.State() != raft.Leader {
		if lc := n.raft.LastContact(); !lc.IsZero() {
			in.LastContact = time.Since(lc)
		}
	}
	return in
}

// ControlAddress is node's control (listen) address.
func (n *Node) ControlAddress(node string) string { return n.addr[raft.ServerID(node)] }

// The state machine: the last committed state and the epoch.
type fsm struct {
	mu sync.Mutex
	v  value
}

type value struct {
	State json.RawMessage `json:"state,omitempty"`
	Epoch uint64          `json:"epoch"`
}

const (
	opState = "state"
	opEpoch = "epoch"
)

type command struct {
	Op      string          `json:"op"`
	State   json.RawMessage `json:"state,omitempty"`
	AtLeast uint64          `json:"at_least,omitempty"`
}

func (f *fsm) get() value {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v
}

func (f *fsm) Apply(l *raft.Log) any {
	var c command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("raft entry %d: %w", l.Index, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch c.Op {
	case opState:
		f.v.State = c.State
	case opEpoch:
		f.v.Epoch = max(f.v.Epoch+1, c.AtLeast)
		return f.v.Epoch
	}
	return nil
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	b, err := json.Marshal(f.get())
	if err != nil {
		return nil, err
	}
	return snapshot(b), nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var v value
	if err := json.NewDecoder(rc).Decode(&v); err != nil {
		return fmt.Errorf("raft snapshot: %w", err)
	}
	f.mu.Lock()
	f.v = v
	f.mu.Unlock()
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}

// streamLayer is raft's transport over TCP, or TLS 1.3 with the cluster's
// CA when the file has a tls block.
type streamLayer struct {
	net.Listener
	client *tls.Config
}

func listen(addr string, server *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil || server == nil {
		return ln, err
	}
	return tls.NewListener(ln, server), nil
}

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if s.client == nil {
		return d.Dial("tcp", string(address))
	}
	return tls.DialWithDialer(d, "tcp", string(address), s.client)
}

// slogWriter turns hclog's lines into slog records, each distinct message
// at most once per quietFor: raft says "failed to make requestVote RPC" to
// a dead node several times a second, and one line says it as well.
type slogWriter struct {
	log  *slog.Logger
	mu   *sync.Mutex
	seen map[string]time.Time
}

const quietFor = 30 * time.Second

func newSlogWriter(log *slog.Logger) slogWriter {
	return slogWriter{log: log, mu: &sync.Mutex{}, seen: map[string]time.Time{}}
}

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(trimNewline(p))
	// hclog's line: "<timestamp> [LEVEL] raft: message: key=value ..."
	msg := line
	if i := strings.Index(line, "["); i >= 0 {
		msg = line[i:]
	}
	key := msg
	if i := strings.Index(key, "="); i >= 0 {
		key = key[:i] // the message without its details (terms, indexes)
	}
	w.mu.Lock()
	last, ok := w.seen[key]
	now := time.Now()
	if ok && now.Sub(last) < quietFor {
		w.mu.Unlock()
		return len(p), nil
	}
	w.seen[key] = now
	w.mu.Unlock()
	w.log.Warn(msg, "component", "raft")
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
