package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is the agent's clock under a test's control.
type fakeClock struct {
	mu sync.Mutex
	t  time.Duration
}

func (c *fakeClock) now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t += d
}

var writerOnly = []RoleIP{{"writer", "192.0.2.100"}}

func TestGrantRules(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the lease to send, after whatever it did first.
		prepare func(t *testing.T, h *harness, clk *fakeClock) *Lease
		want    string
	}{
		{"stale epoch", func(t *testing.T, h *harness, clk *fakeClock) *Lease {
			l := h.lease(t, time.Second)
			l.Epoch = 5
			if _, err := h.agent.setRolesForTest(context.Background(), writerOnly, l); err != nil {
				t.Fatal(err)
			}
			l = h.lease(t, time.Second)
			l.Epoch = 4
			return l
		}, "stale grant: epoch 4 < 5 accepted"},
		{"nonce too old", func(t *testing.T, h *harness, clk *fakeClock) *Lease {
			l := h.lease(t, time.Second)
			clk.advance(3200 * time.Millisecond)
			return l
		}, "stale grant: nonce issued 3.2s ago, lease is 1s"},
		{"nonce reused", func(t *testing.T, h *harness, clk *fakeClock) *Lease {
			l := h.lease(t, time.Minute)
			if _, err := h.agent.setRolesForTest(context.Background(), writerOnly, l); err != nil {
				t.Fatal(err)
			}
			return l
		}, "nonce already used"},
		{"nonce older than an accepted one", func(t *testing.T, h *harness, clk *fakeClock) *Lease {
			old := h.lease(t, time.Minute)
			if _, err := h.agent.setRolesForTest(context.Background(), writerOnly, h.lease(t, time.Minute)); err != nil {
				t.Fatal(err)
			}
			return old
		}, "nonce already used"},
		{"nonce from before a fence", func(t *testing.T, h *harness, clk *fakeClock) *Lease {
			l := h.lease(t, time.Minute)
			st, rerr, err := h.agent.fenceRequest(context.Background(), &FenceRequest{Cluster: "shop", Host: "master1", Nonce: h.nonce(t), Why: "test"})
			if rerr != nil || err != nil || st.Fence == nil {
				t.Fatalf("fence: %v %v", rerr, err)
			}
			return l
		}, "stale grant: nonce unknown (issued before this agent's fence at"},
		{"nonce never issued", func(t *testing.T, h *harness, clk *fakeClock) *Lease {
			l := h.lease(t, time.Minute)
			l.Nonce = "00112233445566778899aabbccddeeff"
			return l
		}, "stale grant: nonce unknown"},
		{"no nonce", func(t *testing.T, h *harness, clk *fakeClock) *Lease {
			l := h.lease(t, time.Minute)
			l.Nonce = ""
			return l
		}, "stale grant: no nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "master1")
			clk := &fakeClock{t: time.Hour}
			h.agent.now = clk.now
			l := tt.prepare(t, h, clk)
			h.agent.mu.Lock()
			mode, lease, epoch := h.agent.mode, h.agent.lease, h.agent.epoch
			h.agent.mu.Unlock()
			addrs, changes := h.net.state()

			body := `{"cluster":"shop","host":"master1","roles":[{"role":"writer","ip":"192.0.2.100"},{"role":"reader","ip":"192.0.2.101"}],"lease":` + mustJSON(t, l) + `}`
			code, msg := h.do(t, "PUT", "/v1/roles", testToken, body)
			if code != http.StatusConflict || !strings.Contains(msg, tt.want) {
				t.Fatalf("got %d %q, want 409 containing %q", code, msg, tt.want)
			}
			if a2, c2 := h.net.state(); c2 != changes || !slices.Equal(a2, addrs) {
				t.Errorf("a refused grant changed the interface: %v -> %v", addrs, a2)
			}
			h.agent.mu.Lock()
			defer h.agent.mu.Unlock()
			if h.agent.mode != mode || h.agent.lease != lease || h.agent.epoch != epoch {
				t.Errorf("a refused grant changed the agent's state")
			}
			if !strings.Contains(h.logs.String(), "stale grant refused") || !strings.Contains(h.logs.String(), "level=WARN") {
				t.Errorf("the refusal is not logged:\n%s", h.logs.String())
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLeaseEndsAtNonceIssuePlusTTL(t *testing.T) {
	h := newHarness(t, "master1")
	clk := &fakeClock{t: time.Hour}
	h.agent.now = clk.now
	l := h.lease(t, time.Second)
	clk.advance(300 * time.Millisecond) // the request spent 300ms on its way
	st, err := h.agent.setRolesForTest(context.Background(), writerOnly, l)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(st.Lease.ExpiresIn); got != 700*time.Millisecond {
		t.Fatalf("lease expires in %s, want 700ms (nonce issue + TTL, not arrival + TTL)", got)
	}
	h.agent.mu.Lock()
	end := h.agent.lease.end
	h.agent.mu.Unlock()
	if end != time.Hour+time.Second {
		t.Fatalf("lease end %s, want %s", end, time.Hour+time.Second)
	}
	// A nonce older than the TTL at arrival cannot start a lease.
	l = h.lease(t, time.Second)
	clk.advance(time.Second)
	if _, err := h.agent.setRolesForTest(context.Background(), writerOnly, l); err == nil || !strings.Contains(err.Error(), "stale grant") {
		t.Fatalf("a nonce exactly one TTL old: %v", err)
	}
}

func TestProtocolVersion(t *testing.T) {
	h := newHarness(t, "master1")
	// Every answer carries the header, errors too.
	for _, tc := range []struct{ token, proto string }{{testToken, "2"}, {"", "2"}, {testToken, ""}} {
		_, _, hdr := h.doHeader(t, "GET", "/v1/status", tc.token, "", tc.proto)
		if hdr.Get(ProtocolHeader) != "2" {
			t.Errorf("answer without %s: %v", ProtocolHeader, hdr)
		}
	}
	lease := `{"cluster":"shop","host":"master1","roles":[],"lease":{"ttl":"1s","nonce":"x"}}`
	static := `{"cluster":"shop","host":"master1","roles":[]}`
	for _, tc := range []struct {
		name, proto, body string
		want              int
		msg               []string
	}{
		{"newer caller", "3", static, 400, []string{"protocol 3", "speaks 2", "upgrade mmm on host master1"}},
		{"older caller", "1", static, 400, []string{"protocol 1", "speaks 2", "upgrade mmm on the caller"}},
		{"lease from an old watch", "", lease, 400, []string{"protocol 1", "speaks 2", "upgrade mmm on the watch"}},
		{"static from an old apply", "", static, 200, nil},
	} {
		code, msg, _ := h.doHeader(t, "PUT", "/v1/roles", testToken, tc.body, tc.proto)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, msg, tc.want)
		}
		for _, m := range tc.msg {
			if !strings.Contains(msg, m) {
				t.Errorf("%s: %q does not say %q", tc.name, msg, m)
			}
		}
	}

	// The client refuses an agent of another protocol.
	for _, tc := range []struct {
		header string
		want   string
	}{
		{"", "agent on master1 speaks protocol 1, this mmm speaks 2: upgrade mmm on master1"},
		{"3", "agent on master1 speaks protocol 3, this mmm speaks 2: upgrade this mmm"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(ProtocolHeader) != "2" {
				t.Errorf("the client did not send %s", ProtocolHeader)
			}
			if tc.header != "" {
				w.Header().Set(ProtocolHeader, tc.header)
			}
			_, _ = w.Write([]byte(`{"cluster":"shop","host":"master1","mode":"static","roles":[]}`))
		}))
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
		c := testCluster()
		c.Agent.Port, _ = strconv.Atoi(port)
		_, err := (&Client{Cluster: c}).Status(context.Background(), "master1")
		var pe *ProtocolError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("agent answering %q: %v, want a *ProtocolError saying %q", tc.header, err, tc.want)
		}
		srv.Close()
	}
}

func TestEpochPersistedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	withDir := func(c *Config) { c.StateDir = dir }
	h := newHarness(t, "master1", withDir)
	h.start(t)
	l := h.lease(t, time.Hour)
	l.Epoch = 7
	if _, err := h.agent.setRolesForTest(context.Background(), writerOnly, l); err != nil {
		t.Fatal(err)
	}
	st, found, err := loadState(dir)
	if err != nil || !found || st.Epoch != 7 || st.Mode != ModeLease {
		t.Fatalf("state file after epoch 7: %+v %v %v", st, found, err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		t.Fatal(err)
	}
	h.agent.Stop()

	h2 := newHarness(t, "master1", withDir)
	h2.start(t)
	h2.agent.mu.Lock()
	epoch := h2.agent.epoch
	h2.agent.mu.Unlock()
	if epoch != 7 {
		t.Fatalf("epoch after restart: %d, want 7", epoch)
	}
	l = h2.lease(t, time.Hour)
	l.Epoch = 6
	if _, err := h2.agent.setRolesForTest(context.Background(), writerOnly, l); err == nil || !strings.Contains(err.Error(), "epoch 6 < 7 accepted") {
		t.Fatalf("epoch 6 after a restart that knew 7: %v", err)
	}
	// Nonces do not survive: the first agent's nonce is unknown to the second.
	if _, err := h2.agent.setRolesForTest(context.Background(), writerOnly, &Lease{TTL: Duration(time.Hour), Epoch: 7, Nonce: h.nonce(t)}); err == nil || !strings.Contains(err.Error(), "nonce unknown") {
		t.Fatalf("a nonce of the previous process: %v", err)
	}
}

func TestStartUpFence(t *testing.T) {
	for _, tc := range []struct {
		name      string
		state     *persisted
		wantFence bool
	}{
		{"first start", nil, false},
		{"static mode", &persisted{Epoch: 3, Mode: ModeStatic}, false},
		{"lease mode", &persisted{Epoch: 3, Mode: ModeLease, Holder: "watch@old"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.state != nil {
				if err := saveState(dir, *tc.state); err != nil {
					t.Fatal(err)
				}
			}
			h := newHarness(t, "master1", func(c *Config) { c.StateDir = dir })
			_, _ = h.net.Ensure(context.Background(), "eth0", netipMust("192.0.2.100"))
			_, _ = h.net.Ensure(context.Background(), "eth0", netipMust("192.0.2.101"))
			h.start(t)
			addrs, _ := h.net.state()
			h.agent.mu.Lock()
			fence, mode := h.agent.lastFence, h.agent.mode
			h.agent.mu.Unlock()
			if !tc.wantFence {
				if fence != nil || !slices.Contains(addrs, "192.0.2.100") || h.db.isReadOnly() || mode != ModeStatic {
					t.Fatalf("fenced at start in static mode: %v, read_only %v, %+v", addrs, h.db.isReadOnly(), fence)
				}
				return
			}
			if fence == nil || !fence.Complete || slices.Contains(addrs, "192.0.2.100") || !slices.Contains(addrs, "192.0.2.101") || !h.db.isReadOnly() {
				t.Fatalf("start after a lease: %v, read_only %v, %+v", addrs, h.db.isReadOnly(), fence)
			}
			if mode != ModeLease || h.db.killed != 0 {
				t.Fatalf("mode %s, server killed %d times", mode, h.db.killed)
			}
		})
	}
}

func TestFenceEscalation(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fenceMode  string
		db         func(d *fakeDB)
		wantKilled bool
		complete   bool
		check      func(t *testing.T, r *FenceReport)
	}{
		{"read_only set, sessions killed", "", func(d *fakeDB) { d.sessions = 3 }, false, true, func(t *testing.T, r *FenceReport) {
			if !r.ReadOnly || r.SessionsKilled != 3 {
				t.Errorf("report: %+v", r)
			}
		}},
		{"read_only hangs, kill mode", "kill", func(d *fakeDB) { d.roBlock = true }, true, true, nil},
		{"read_only fails, default mode kills", "", func(d *fakeDB) { d.roErr = errors.New("access denied") }, true, true, nil},
		{"read_only hangs, read_only mode", "read_only", func(d *fakeDB) { d.roBlock = true }, false, false, func(t *testing.T, r *FenceReport) {
			if r.Error == "" {
				t.Errorf("an incomplete fence must say why: %+v", r)
			}
		}},
		{"server down", "", func(d *fakeDB) { d.roErr = ErrServerDown }, false, true, func(t *testing.T, r *FenceReport) {
			if !r.ServerDown {
				t.Errorf("report: %+v", r)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "master1", func(c *Config) { c.Cluster.Agent.Fence = tc.fenceMode })
			if _, err := h.agent.setRolesForTest(context.Background(), writerOnly, h.lease(t, time.Hour)); err != nil {
				t.Fatal(err)
			}
			h.db.setState(tc.db)
			start := time.Now()
			st, rerr, err := h.agent.fenceRequest(context.Background(), &FenceRequest{Cluster: "shop", Host: "master1", Nonce: h.nonce(t), Why: "frozen"})
			if rerr != nil || err != nil {
				t.Fatal(rerr, err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the fence took %s", took)
			}
			r := st.Fence
			if r == nil || r.Complete != tc.complete || r.ServerKilled != tc.wantKilled || (h.db.killed > 0) != tc.wantKilled {
				t.Fatalf("fence report %+v, KillServer called %d times", r, h.db.killed)
			}
			if !slices.Equal(r.VIPsDropped, []string{"192.0.2.100"}) || st.Holds("192.0.2.100") {
				t.Errorf("the writer VIP must be dropped: %+v", st)
			}
			if st.Mode != ModeLease || st.Lease == nil || !st.Lease.Expired || !strings.Contains(r.Why, "frozen") {
				t.Errorf("after a fence: lease mode, expired lease: %+v %+v", st.Lease, r)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func TestServerHealthAndRestart(t *testing.T) {
	h := newHarness(t, "master1")
	h.start(t)
	ctx := context.Background()
	status := func() *Status {
		h.agent.mu.Lock()
		defer h.agent.mu.Unlock()
		st, err := h.agent.status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitFor(t, "server ok with read_only", func() bool {
		st := status()
		return st.Server != nil && st.Server.State == ProbeOK && st.ReadOnly != nil && !*st.ReadOnly
	})
	h.db.setState(func(d *fakeDB) { d.state = ProbeFrozen })
	waitFor(t, "server frozen", func() bool { return status().Server.State == ProbeFrozen })
	if st := status(); st.ReadOnly != nil && time.Duration(st.Server.Age) > time.Second {
		t.Errorf("stale status: %+v", st.Server)
	}
	// It restarts: a lower uptime. Without a writer lease, it is set read_only.
	h.db.setState(func(d *fakeDB) { d.state, d.uptime = ProbeOK, time.Second })
	waitFor(t, "restart seen", func() bool { return status().Server.Restarts == 1 })
	waitFor(t, "read_only after restart", h.db.isReadOnly)
	if !strings.Contains(h.logs.String(), "server restarted") {
		t.Errorf("the restart is not logged:\n%s", h.logs.String())
	}
}

func TestRestartWithWriterLeaseKeepsServer(t *testing.T) {
	h := newHarness(t, "master1")
	h.start(t)
	if _, err := h.agent.setRolesForTest(context.Background(), writerOnly, h.lease(t, time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "uptime read", func() bool { h.agent.hmu.Lock(); defer h.agent.hmu.Unlock(); return h.agent.health.hasUptime })
	h.db.setState(func(d *fakeDB) { d.uptime = time.Second })
	waitFor(t, "restart seen", func() bool { h.agent.hmu.Lock(); defer h.agent.hmu.Unlock(); return h.agent.health.restarts == 1 })
	time.Sleep(50 * time.Millisecond)
	if h.db.isReadOnly() {
		t.Fatal("the writer's restarted server was set read_only under a valid lease")
	}
}

func TestAnnouncements(t *testing.T) {
	count := func(h *harness, ip string) int {
		h.net.mu.Lock()
		defer h.net.mu.Unlock()
		n := 0
		for _, a := range h.net.announced {
			if a.String() == ip {
				n++
			}
		}
		return n
	}

	h := newHarness(t, "master1")
	h.agent.announceRefresh = 300 * time.Millisecond
	if _, err := h.agent.setRolesForTest(context.Background(), []RoleIP{{"writer", "192.0.2.100"}, {"reader", "192.0.2.101"}}, h.lease(t, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(h, "192.0.2.100"); n != 1 {
		t.Fatalf("the first GARP goes out before the answer: %d", n)
	}
	time.Sleep(150 * time.Millisecond)
	if n := count(h, "192.0.2.100"); n != 3 {
		t.Fatalf("burst of 3 within 100ms: %d", n)
	}
	time.Sleep(1500 * time.Millisecond) // second burst at ~1.1s, a refresh at ~1.48s
	w, r := count(h, "192.0.2.100"), count(h, "192.0.2.101")
	if w < 7 || r != 6 {
		t.Fatalf("after 1.65s: writer %d (want 6 + refreshes), reader %d (want 6, no refresh)", w, r)
	}
	// Fenced: never again.
	if _, rerr, err := h.agent.fenceRequest(context.Background(), &FenceRequest{Cluster: "shop", Host: "master1", Nonce: h.nonce(t)}); rerr != nil || err != nil {
		t.Fatal(rerr, err)
	}
	after := count(h, "192.0.2.100")
	time.Sleep(800 * time.Millisecond)
	if n := count(h, "192.0.2.100"); n != after {
		t.Fatalf("%d GARPs for a VIP the agent dropped", n-after)
	}

	// Released by a request during the burst: the rest of the burst is not sent.
	h2 := newHarness(t, "master1")
	if _, err := h2.agent.setRolesForTest(context.Background(), writerOnly, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h2.agent.setRolesForTest(context.Background(), nil, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1300 * time.Millisecond)
	if n := count(h2, "192.0.2.100"); n != 1 {
		t.Fatalf("a released VIP was announced %d times", n)
	}
	// An expired lease stops the refresh even before the fence ran.
	h3 := newHarness(t, "master1")
	if _, err := h3.agent.setRolesForTest(context.Background(), writerOnly, h3.lease(t, 200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := count(h3, "192.0.2.100"); n != 3 {
		t.Fatalf("GARPs after the lease expired: %d (want the first burst only)", n)
	}
}

func TestWitness(t *testing.T) {
	// master1's "server": a listener that greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go serveGreetings(ln)
	_, sport, _ := net.SplitHostPort(ln.Addr().String())
	h := newHarness(t, "master1", func(c *Config) {
		c.Cluster.Host("master1").Port, _ = strconv.Atoi(sport)
	})
	h.start(t)
	_, aport, _ := net.SplitHostPort(strings.TrimPrefix(h.srv.URL, "http://"))
	h.agent.cluster.Agent.Port, _ = strconv.Atoi(aport)
	c := testCluster()
	c.Agent.Port = h.agent.cluster.Agent.Port
	start := time.Now()
	rep, err := (&Client{Cluster: c}).Witness(context.Background(), "master1", []string{"master1", "master2"}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the witness took %s", took)
	}
	if rep.Witness != "master1" || len(rep.Results) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	if r := rep.Results[0]; r.Host != "master1" || r.Server != ProbeOK || r.Agent != ProbeOK || r.TargetServer != ProbeOK {
		t.Errorf("master1 seen from itself: %+v", r)
	}
	if r := rep.Results[1]; r.Host != "master2" || r.Server != ProbeRefused || r.Agent != ProbeRefused {
		t.Errorf("master2 (nothing listens): %+v", r)
	}
}

// serveGreetings answers every connection with a MariaDB greeting.
func serveGreetings(ln net.Listener) {
	greeting := append([]byte{10}, []byte("10.11.6-MariaDB\x00")...)
	pkt := append([]byte{byte(len(greeting)), 0, 0, 0}, greeting...)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write(pkt)
		c.Close()
	}
}

func TestProbeServer(t *testing.T) {
	ctx := context.Background()
	greet, _ := net.Listen("tcp", "127.0.0.1:0")
	defer greet.Close()
	go serveGreetings(greet)
	silent, _ := net.Listen("tcp", "127.0.0.1:0") // accepts (backlog), never greets
	defer silent.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	sock := filepath.Join(t.TempDir(), "s.sock")
	unixLn, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer unixLn.Close()
	go serveGreetings(unixLn)

	for _, tc := range []struct{ addr, state, detail string }{
		{greet.Addr().String(), ProbeOK, "10.11.6-MariaDB"},
		{sock, ProbeOK, "10.11.6-MariaDB"},
		{silent.Addr().String(), ProbeFrozen, "no greeting"},
		{closedAddr, ProbeRefused, ""},
		{filepath.Join(t.TempDir(), "none.sock"), ProbeRefused, ""},
	} {
		start := time.Now()
		state, detail := ProbeServer(ctx, tc.addr, 200*time.Millisecond)
		if state != tc.state || !strings.Contains(detail, tc.detail) {
			t.Errorf("%s: %s %q, want %s %q", tc.addr, state, detail, tc.state, tc.detail)
		}
		if took := time.Since(start); took > 400*time.Millisecond {
			t.Errorf("%s: took %s", tc.addr, took)
		}
	}
}

func TestKeepSession(t *testing.T) {
	for _, tc := range []struct {
		user, command string
		keep          bool
	}{
		{"repl", "Binlog Dump GTID", true},
		{"repl", "Binlog Dump", true},
		{"system user", "Slave_IO", true},
		{"system user", "Slave_SQL", true},
		{"event_scheduler", "Daemon", true},
		{"root", "Query", false},
		{"app", "Sleep", false},
		{"admin", "Connect", false},
	} {
		if got := keepSession(tc.user, tc.command); got != tc.keep {
			t.Errorf("keepSession(%q, %q) = %v", tc.user, tc.command, got)
		}
	}
}

func TestReadServerOptions(t *testing.T) {
	f := filepath.Join(t.TempDir(), "my.cnf")
	_ = os.WriteFile(f, []byte("[client]\nsocket = /wrong\n[mariadbd]\ndatadir = /data\nsocket=/run/m.sock\npid_file = m.pid\n"), 0o644)
	socket, pid, err := readServerOptions(f)
	if err != nil || socket != "/run/m.sock" || pid != "/data/m.pid" {
		t.Fatalf("%q %q %v", socket, pid, err)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
