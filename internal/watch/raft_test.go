package watch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/consensus"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// fakeRaft is a Replicator whose leadership the test decides.
type fakeRaft struct {
	mu      sync.Mutex
	leading bool
	state   []byte
	epoch   uint64
	commits int
}

func (f *fakeRaft) Name() string { return "mon1" }
func (f *fakeRaft) Leading() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leading
}
func (f *fakeRaft) Leader() (string, string) {
	if f.Leading() {
		return "mon1", "127.0.0.1:1"
	}
	return "", ""
}
func (f *fakeRaft) Barrier(context.Context) error { return nil }
func (f *fakeRaft) State() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}
func (f *fakeRaft) Epoch() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch
}
func (f *fakeRaft) SaveState(_ context.Context, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.leading {
		return errors.New("not the leader")
	}
	f.state, f.commits = b, f.commits+1
	return nil
}
func (f *fakeRaft) BumpEpoch(_ context.Context, atLeast uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.leading {
		return 0, errors.New("not the leader")
	}
	f.epoch = max(f.epoch+1, atLeast)
	return f.epoch, nil
}
func (f *fakeRaft) Info() consensus.Info         { return consensus.Info{Name: "mon1"} }
func (f *fakeRaft) ControlAddress(string) string { return "" }

// epochAgents are agents that saw epoch seen.
type epochAgents struct {
	recordingAgents
	seen uint64
}

func (e *epochAgents) Status(ctx context.Context, host string) (*agent.Status, error) {
	return &agent.Status{Host: host, Mode: agent.ModeLease, Nonce: "n", Protocol: agent.ProtocolVersion, Epoch: e.seen}, nil
}

func newNodeWatch(t *testing.T, live *topology.Live, r *fakeRaft) (*Watch, *epochAgents) {
	t.Helper()
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	w.cfg.Raft = r
	ag := &epochAgents{recordingAgents: recordingAgents{leased: map[string]int{}}, seen: 900}
	w.cfg.Agents = ag
	return w, ag
}

// A follower renews no lease and commits nothing, whatever its mode.
func TestFollowerNeitherRenewsNorCommits(t *testing.T) {
	r := &fakeRaft{}
	w, ag := newNodeWatch(t, fakeLive(testCluster()), r)
	w.Start(context.Background())
	w.renewHost(context.Background(), "master1")
	w.mu.Lock()
	w.mode = ModeManual
	w.save()
	w.mu.Unlock()
	if ag.leased["master1"] != 0 || r.commits != 0 {
		t.Fatalf("a follower renewed %d leases and committed %d states", ag.leased["master1"], r.commits)
	}
	if w.actingNow() {
		t.Fatal("a follower acts")
	}
}

// A new leader's epoch exceeds what the agents saw and what raft committed;
// it counts every lease as granted at the takeover; it renews only then; and
// it stops the moment raft deposes it.
func TestTakeoverEpochBoundsAndStepDown(t *testing.T) {
	r := &fakeRaft{leading: true, epoch: 100}
	w, ag := newNodeWatch(t, fakeLive(testCluster()), r)
	w.Start(context.Background())
	before := time.Now()
	w.takeover(context.Background())
	if !w.actingNow() {
		t.Fatal("the leader does not act after its takeover")
	}
	if e := w.epochNow(); e <= ag.seen || e != r.epoch {
		t.Errorf("epoch %d: want above the agents' %d and committed (raft has %d)", e, ag.seen, r.epoch)
	}
	for _, h := range w.c.Hosts {
		if b := w.leases.Bound(h.Name); b.Before(before.Add(w.lease())) {
			t.Errorf("%s: bound %s is less than one lease after the takeover", h.Name, b)
		}
	}
	w.renewHost(context.Background(), "master1")
	if ag.leased["master1"] != 0 {
		t.Errorf("the new leader renewed master1 before it read what master1 holds")
	}
	if w.leases.Learned("master1", nil, before.Add(-time.Second)) {
		t.Error("an answer asked before the takeover was taken as master1's roles")
	}
	if !w.leases.Learned("master1", []RoleIP{{Role: "writer", IP: "10.0.0.100"}}, time.Now()) {
		t.Fatal("an answer asked after the takeover was not taken")
	}
	w.renewHost(context.Background(), "master1")
	if ag.leased["master1"] != 1 {
		t.Errorf("the leader renewed master1 %d times, want 1", ag.leased["master1"])
	}
	r.mu.Lock()
	r.leading = false
	r.mu.Unlock()
	w.renewHost(context.Background(), "master1")
	if ag.leased["master1"] != 1 {
		t.Error("a deposed leader renewed a lease")
	}
	if err := w.bumpEpoch("test"); err == nil {
		t.Error("a deposed leader started an epoch")
	}
}

// A failover its predecessor left after the promotion is finished by the
// new leader: reality (the candidate writable) names the writer, the old one
// stays fenced, and the intent is done.
func TestTakeoverFinishesHalfDoneFailover(t *testing.T) {
	live := fakeLive(testCluster())
	live.Hosts["master1"].Reachable, live.Hosts["master1"].Error = false, "connection refused"
	live.Hosts["master2"].ReadOnly = false
	st := savedState{Version: 1, Mode: ModeActive, Writer: "master1", Hosts: map[string]*HostState{},
		Intent: &Intent{Kind: "failover", From: "master1", To: "master2", Phase: PhasePromoting, Epoch: 5}}
	b, _ := json.Marshal(st)
	r := &fakeRaft{leading: true, state: b, epoch: 5}
	w, _ := newNodeWatch(t, live, r)
	w.Start(context.Background())
	w.takeover(context.Background())
	rep := w.Status()
	if rep.Writer != "master2" || !w.leases.Fenced("master1") {
		t.Fatalf("writer %s, master1 fenced %v: want master2 and fenced", rep.Writer, w.leases.Fenced("master1"))
	}
	var saved savedState
	if err := json.Unmarshal(r.State(), &saved); err != nil || saved.Intent != nil {
		t.Errorf("the intent is still committed: %+v %v", saved.Intent, err)
	}
	found := false
	for _, e := range rep.Events {
		found = found || strings.Contains(e.Message, "left at phase \"promoting\"") && strings.Contains(e.Message, "finished")
	}
	if !found {
		t.Errorf("no event tells the half-done failover was finished: %+v", rep.Events)
	}
}

// A follower mirrors the leader's operator decisions: mode and
// ADMIN_OFFLINE, set and cleared.
func TestFollowerMirrorsDecisions(t *testing.T) {
	r := &fakeRaft{}
	w, _ := newNodeWatch(t, fakeLive(testCluster()), r)
	w.Start(context.Background())
	commit := func(st savedState) {
		b, _ := json.Marshal(st)
		r.mu.Lock()
		r.state = b
		r.mu.Unlock()
	}
	commit(savedState{Mode: ModeManual, ModeReason: "operator", Writer: "master1",
		Hosts: map[string]*HostState{"slave1": {State: AdminOffline, Reason: "maintenance"}}})
	w.Round(context.Background())
	rep := w.Status()
	if rep.Mode != ModeManual || w.machine.Hosts["slave1"].State != AdminOffline {
		t.Fatalf("mode %s, slave1 %s: want manual and ADMIN_OFFLINE", rep.Mode, w.machine.Hosts["slave1"].State)
	}
	commit(savedState{Mode: ModeActive, Writer: "master1", Hosts: map[string]*HostState{}})
	w.Round(context.Background())
	if w.Status().Mode != ModeActive || w.machine.Hosts["slave1"].State == AdminOffline {
		t.Fatalf("the follower kept manual mode or ADMIN_OFFLINE after the leader cleared them")
	}
}

// The first leader ever takes the single watch's state file (operator
// decisions survive the move to several nodes) and commits it.
func TestFirstLeaderTakesTheStateFile(t *testing.T) {
	r := &fakeRaft{leading: true}
	w, _ := newNodeWatch(t, fakeLive(testCluster()), r)
	old := savedState{Version: 1, Mode: ModeManual, ModeReason: "operator", Writer: "master1",
		Hosts: map[string]*HostState{"slave2": {State: AdminOffline, Reason: "disk swap"}}}
	b, _ := json.Marshal(old)
	if err := writeAtomic(w.stateFile(), b); err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	w.takeover(context.Background())
	if rep := w.Status(); rep.Mode != ModeManual || w.machine.Hosts["slave2"].State != AdminOffline {
		t.Fatalf("mode %s, slave2 %s: want the state file's manual and ADMIN_OFFLINE", rep.Mode, w.machine.Hosts["slave2"].State)
	}
	var committed savedState
	if err := json.Unmarshal(r.State(), &committed); err != nil || committed.Mode != ModeManual {
		t.Errorf("not committed to raft: %+v %v", committed.Mode, err)
	}
}

// A watch started on a cluster without a writer takes the master that
// `mmm apply` makes writable later; never one of two writable masters.
func TestWriterAppears(t *testing.T) {
	live := fakeLive(testCluster())
	live.Hosts["master1"].ReadOnly = true
	live.VIPs = map[string][]string{}
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	w.Start(context.Background())
	if w.Status().Writer != "" {
		t.Fatalf("writer %q at start with nobody writable", w.Status().Writer)
	}
	two := fakeLive(testCluster())
	two.Hosts["master2"].ReadOnly = false
	w.mu.Lock()
	w.checkWriter(context.Background(), two)
	w.mu.Unlock()
	if got := w.Status().Writer; got != "" {
		t.Fatalf("adopted %q with two writable masters", got)
	}
	w.mu.Lock()
	w.checkWriter(context.Background(), fakeLive(testCluster()))
	w.mu.Unlock()
	if got := w.Status().Writer; got != "master1" {
		t.Fatalf("writer %q, want master1 once it alone is writable", got)
	}
}
