package watch

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

type noDBs struct{}

func (noDBs) DB(ctx context.Context, host string) (*sql.DB, error) {
	return nil, errors.New("no database in this test")
}

// fakeLive: master1 writable, the rest read-only, slaves replicating from
// master1, the writer VIP on master1.
func fakeLive(c *topology.Cluster) *topology.Live {
	live := &topology.Live{Hosts: map[string]*topology.LiveHost{}, VIPs: map[string][]string{"10.0.0.100": {"master1"}}}
	for _, h := range c.Hosts {
		live.Hosts[h.Name] = &topology.LiveHost{Name: h.Name, Reachable: true, ReadOnly: h.Name != "master1", GTIDExecuted: "0-1-10"}
	}
	return live
}

func newTestWatch(t *testing.T, live func() *topology.Live) (*Watch, string) {
	c := testCluster()
	c.Monitor.Token = topology.NewSecret("monitor-token", "test")
	state := filepath.Join(t.TempDir(), "watch.state")
	w := New(Config{Cluster: c, Inspect: func(context.Context) *topology.Live { return live() }, DBs: noDBs{}, StateFile: state})
	return w, state
}

func TestStartConflictGoesPassive(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*topology.Live)
		mode   Mode
		reason string
		writer string
	}{
		{"consistent", func(*topology.Live) {}, ModeActive, "", "master1"},
		{"two writers", func(l *topology.Live) { l.Hosts["master2"].ReadOnly = false }, ModePassive, "two writable masters: master1 and master2", ""},
		{"VIP on two hosts", func(l *topology.Live) { l.VIPs["10.0.0.100"] = []string{"master1", "master2"} }, ModePassive, "VIP 10.0.0.100 is on master1 and master2", "master1"},
		{"nobody writable: the VIP holder", func(l *topology.Live) { l.Hosts["master1"].ReadOnly = true }, ModeActive, "", "master1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := fakeLive(testCluster())
			tt.modify(live)
			w, _ := newTestWatch(t, func() *topology.Live { return live })
			w.Start(context.Background())
			r := w.Status()
			if r.Mode != tt.mode || !strings.Contains(r.ModeReason, tt.reason) {
				t.Errorf("mode %s (%s), want %s (%s)", r.Mode, r.ModeReason, tt.mode, tt.reason)
			}
			if r.Writer != tt.writer {
				t.Errorf("writer %q, want %q", r.Writer, tt.writer)
			}
		})
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	live := fakeLive(testCluster())
	w, path := newTestWatch(t, func() *topology.Live { return live })
	w.Start(context.Background())
	w.machine.Hosts["slave2"].State = Online
	if err := w.SetMode(ModeManual); err != nil {
		t.Fatal(err)
	}
	if _, err := w.machine.SetOffline("slave2", time.Now()); err != nil {
		t.Fatal(err)
	}
	w.failoverPos["master2"] = "0-2-7"
	w.mu.Lock()
	w.save()
	w.mu.Unlock()
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".watch.state*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}

	w2 := New(Config{Cluster: w.c, Inspect: w.cfg.Inspect, DBs: noDBs{}, StateFile: path})
	w2.Start(context.Background())
	r := w2.Status()
	if r.Mode != ModeManual {
		t.Errorf("mode %s after restart, want manual", r.Mode)
	}
	if st := state2(r, "slave2"); st != AdminOffline {
		t.Errorf("slave2 %s after restart, want ADMIN_OFFLINE", st)
	}
	if st := state2(r, "slave1"); st != Unknown {
		t.Errorf("slave1 %s after restart, want UNKNOWN (checks decide afresh)", st)
	}
	if w2.failoverPos["master2"] != "0-2-7" {
		t.Errorf("failover positions lost: %v", w2.failoverPos)
	}
	// A corrupt state file: the watch starts from reality and says so.
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	w3 := New(Config{Cluster: w.c, Inspect: w.cfg.Inspect, DBs: noDBs{}, StateFile: path})
	w3.Start(context.Background())
	if r := w3.Status(); r.Mode != ModeActive || r.Writer != "master1" {
		t.Errorf("after a corrupt state file: mode %s writer %s", r.Mode, r.Writer)
	}
}

func state2(r Report, host string) State {
	for _, h := range r.Hosts {
		if h.Name == host {
			return h.State
		}
	}
	return ""
}

func TestAPI(t *testing.T) {
	live := fakeLive(testCluster())
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	w.Start(context.Background())
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	ctx := context.Background()

	for _, tok := range []string{"", "wrong", "monitor-token-but-longer"} {
		c := &Client{Base: srv.URL, Token: tok}
		_, err := c.Status(ctx)
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
			t.Errorf("token %q: %v, want 401", tok, err)
		}
	}

	c := &Client{Base: srv.URL, Token: "monitor-token"}
	r, err := c.Status(ctx)
	if err != nil || r.Writer != "master1" || len(r.Hosts) != 4 {
		t.Fatalf("status: %v %+v", err, r)
	}
	if _, err := c.Checks(ctx, "nosuchhost"); err == nil {
		t.Error("checks of an unknown host succeeded")
	}
	checks, err := c.Checks(ctx, "slave1")
	if err != nil || len(checks) != 4 || checks[0].Check != CheckPing {
		t.Errorf("checks slave1: %v %+v", err, checks)
	}
	ok, err := c.Command(ctx, "mode", Command{Mode: "passive"})
	if err != nil || ok.Report.Mode != ModePassive {
		t.Fatalf("mode passive: %v %+v", err, ok)
	}
	if _, err := c.Command(ctx, "mode", Command{Mode: "sleepy"}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := c.Command(ctx, "move-role", Command{Role: "writer", Host: "master2"}); err == nil || !strings.Contains(err.Error(), "passive") {
		t.Errorf("move-role while passive: %v", err)
	}
	if _, err := c.Command(ctx, "move-role", Command{Role: "reader", Host: "slave1"}); err == nil || !strings.Contains(err.Error(), "balanced") {
		t.Errorf("move-role of a balanced role: %v", err)
	}
	if _, err := c.Command(ctx, "set-online", Command{Host: "slave1"}); err == nil {
		t.Error("set-online of an UNKNOWN host succeeded")
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %v %v", err, resp)
	}
	resp.Body.Close()
}

func TestHooks(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	if err := runHook(context.Background(), []string{"/bin/sh", "-c", "echo $MMM_OLD_WRITER $MMM_NEW_WRITER > " + out}, []string{"MMM_OLD_WRITER=master1", "MMM_NEW_WRITER=master2"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != "master1 master2" {
		t.Errorf("hook saw %q", b)
	}
	if err := runHook(context.Background(), []string{"/bin/sh", "-c", "echo refusing; exit 3"}, nil, time.Minute); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("failing hook: %v", err)
	}
	if err := runHook(context.Background(), nil, nil, time.Minute); err != nil {
		t.Errorf("no hook: %v", err)
	}
}

func TestFailingPreHookAbortsFailover(t *testing.T) {
	live := fakeLive(testCluster())
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	w.c.Monitor.PreFailover = []string{"/bin/sh", "-c", "echo not now; exit 1"}
	w.Start(context.Background())
	for _, h := range w.machine.Hosts {
		h.State = Online
	}
	live.Hosts["master2"].Replica = &topology.ReplicaStatus{SourceHost: "10.0.0.11", IORunning: "Connecting", SQLRunning: "Yes", LastIOErrno: 2003}
	w.mu.Lock()
	w.failover(context.Background(), live, Finding{Verdict: WriterDead, Kind: FaultCrash, Why: "test"})
	w.mu.Unlock()
	r := w.Status()
	if r.Writer != "master1" || !strings.Contains(r.LastFailure, "aborted by the pre_failover hook") || !strings.Contains(r.LastFailure, "not now") {
		t.Fatalf("writer %s, last failure %q", r.Writer, r.LastFailure)
	}
	if f := w.leases.FencedList(); len(f) != 0 {
		t.Errorf("fenced %v although the failover was aborted", f)
	}
}

// The writer's semi-sync falling back to asynchronous replication is said
// at once (event, status), as is its return; nothing is said without
// semi_sync in the file.
func TestFollowSemiSync(t *testing.T) {
	live := fakeLive(testCluster())
	on, off := true, false
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	w.c.Replication.SemiSync = true
	w.Start(context.Background())
	live.Hosts["master1"].SemiSyncMasterEnabled = true
	round := func(active *bool) Report {
		live.Hosts["master1"].SemiSyncSourceActive = active
		w.mu.Lock()
		w.lastLive = live
		w.followSemiSync(live)
		w.mu.Unlock()
		return w.Status()
	}
	if r := round(&on); r.SemiSync != "active" {
		t.Errorf("semi-sync %q, want active", r.SemiSync)
	}
	r := round(&off)
	if !strings.HasPrefix(r.SemiSync, "OFF since") || !strings.Contains(r.SemiSync, "master1 alone") {
		t.Errorf("semi-sync %q, want OFF since …", r.SemiSync)
	}
	if last := r.Events[len(r.Events)-1].Message; !strings.Contains(last, "semi-sync OFF on master1") {
		t.Errorf("last event %q, want the fallback", last)
	}
	n := len(r.Events)
	if r := round(&off); len(r.Events) != n {
		t.Errorf("the fallback was reported again: %v", r.Events[n:])
	}
	if r := round(nil); !strings.HasPrefix(r.SemiSync, "OFF since") {
		t.Errorf("an unread status forgot the fallback: %q", r.SemiSync)
	}
	r = round(&on)
	if r.SemiSync != "active" || !strings.Contains(r.Events[len(r.Events)-1].Message, "semi-sync active again on master1") {
		t.Errorf("semi-sync %q, last event %q; want active again", r.SemiSync, r.Events[len(r.Events)-1].Message)
	}

	// The source side turned off (a failover with no other promotable
	// host does that): no acknowledgement is waited for either.
	live.Hosts["master1"].SemiSyncMasterEnabled = false
	if r := round(nil); !strings.HasPrefix(r.SemiSync, "OFF since") || !strings.Contains(r.Events[len(r.Events)-1].Message, "its source side is off") {
		t.Errorf("semi-sync %q with the source side off, want OFF since … (its source side is off)", r.SemiSync)
	}
	live.Hosts["master1"].SemiSyncMasterEnabled = true
	round(&on)

	w.c.Replication.SemiSync = false
	if r := round(&off); r.SemiSync != "" {
		t.Errorf("semi-sync %q without semi_sync in the file, want nothing", r.SemiSync)
	}
}
