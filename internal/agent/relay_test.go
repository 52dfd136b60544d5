package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// serveOn serves h's agent on addr (host:port) instead of httptest's port.
func serveOn(t *testing.T, h *harness, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h.agent.Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)
}

// silentListener accepts connections and never answers: a host whose route
// from the monitor is lost mid-connection, as seen by the monitor.
func silentListener(t *testing.T, addr string) *int32Counter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	n := &int32Counter{}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			n.add()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return n
}

type int32Counter struct {
	mu sync.Mutex
	n  int
}

func (c *int32Counter) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *int32Counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// freePort is a port free on 127.0.0.1 (the test's agents share one port
// on several loopback addresses, as agents share agent.port).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The monitor's way to master1 is lost (its requests hang), slave1's is
// not: a grant and a status request reach master1 through slave1's agent,
// the grant is the one master1 checks (nonce, epoch), and OnPath says so.
// Without Relay the same grant times out.
func TestRelayCarriesTheLeaseWhenTheDirectPathHangs(t *testing.T) {
	port := freePort(t)
	p := strconv.Itoa(port)
	withPort := func(c *Config) { c.Cluster.Agent.Port = port }
	m1 := newHarness(t, "master1", withPort)
	m1.start(t)
	serveOn(t, m1, "127.0.0.1:"+p)
	s1 := newHarness(t, "slave1", withPort)
	serveOn(t, s1, "127.0.0.3:"+p)
	// The monitor's file names master1 at an address that swallows
	// requests: the route the monitor lost. slave1's agent has the true one.
	silent := silentListener(t, "127.0.0.9:"+p)
	cluster := testCluster()
	cluster.Agent.Port = port
	cluster.Host("master1").Address = "127.0.0.9"
	cluster.Host("master2").Address = "127.0.0.8" // nothing listens: refused
	// The relaying agent dials its own file's address for master1; the
	// client maps the address it dials back to master1 by its own file.
	var paths []string
	var pmu sync.Mutex
	c := &Client{Cluster: cluster, Relay: true, HedgeAfter: 50 * time.Millisecond,
		OnPath: func(host, via string) { pmu.Lock(); paths = append(paths, host+" via "+via); pmu.Unlock() }}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.Status(ctx, "master1")
	if err != nil {
		t.Fatalf("status through the relay: %v", err)
	}
	if st.Host != "master1" || st.Nonce == "" {
		t.Fatalf("status: %+v", st)
	}
	lease := &Lease{TTL: Duration(time.Minute), Holder: "watch@test", Nonce: st.Nonce}
	st, err = c.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: "192.0.2.100"}}, lease)
	if err != nil {
		t.Fatalf("grant through the relay: %v", err)
	}
	if !st.Holds("192.0.2.100") || st.Mode != ModeLease {
		t.Fatalf("after the relayed grant: %+v", st)
	}
	if silent.get() == 0 {
		t.Error("the direct path was never tried")
	}
	// The same nonce again (a copy arriving late, by any path): refused.
	_, err = c.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: "192.0.2.100"}}, lease)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict {
		t.Fatalf("a used nonce through the relay: %v", err)
	}
	if !strings.Contains(s1.logs.String(), "relay opened") {
		t.Errorf("slave1's agent did not log the relay:\n%s", s1.logs.String())
	}
	pmu.Lock()
	if len(paths) == 0 || paths[0] != "master1 via slave1" {
		t.Errorf("OnPath calls: %q, want master1 via slave1 first", paths)
	}
	pmu.Unlock()

	// Refused (master2: nothing listens) is the host's own answer: no relay.
	if _, err := c.Status(ctx, "master2"); err == nil {
		t.Error("master2 answered")
	}

	// Without the relay the monitor gets nothing.
	plain := &Client{Cluster: cluster}
	pctx, pcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer pcancel()
	if _, err := plain.Status(pctx, "master1"); err == nil {
		t.Error("a client without Relay reached master1 through the lost path")
	}
}

// The relay opens tunnels only to declared agents other than itself, for
// this cluster.
func TestRelayRefusals(t *testing.T) {
	h := newHarness(t, "slave1")
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{"cluster":"shop","host":"nosuch"}`, 403, "not declared"},
		{`{"cluster":"other","host":"master1"}`, 403, "serves cluster"},
		{`{"cluster":"shop","host":"slave1"}`, 400, "itself"},
		{`{"cluster":"shop","host":"master1","port":1}`, 400, "malformed"},
	} {
		code, body := h.do(t, http.MethodPost, "/v1/relay", testToken, tc.body)
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %s, want %d …%s…", tc.body, code, body, tc.code, tc.msg)
		}
	}
	if code, _ := h.do(t, http.MethodPost, "/v1/relay", "", `{"cluster":"shop","host":"master1"}`); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d", code)
	}
	// master1's agent is not running: the relay says who cannot reach whom.
	code, body := h.do(t, http.MethodPost, "/v1/relay", testToken, `{"cluster":"shop","host":"master2"}`)
	if code != http.StatusBadGateway || !strings.Contains(body, "slave1 cannot reach the agent of master2") {
		t.Errorf("unreachable target: %d %s", code, body)
	}
}

var _ = topology.RoleExclusive

// serveTLSOn serves h's agent over its mutual TLS on addr.
func serveTLSOn(t *testing.T, h *harness, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	cfg, err := h.agent.serverTLS()
	if err != nil {
		t.Fatal(err)
	}
	// As mmm agent serves: HTTP/2 offered too (the relay must ask for 1.1).
	srv := &http.Server{Handler: h.agent.Handler(), TLSConfig: cfg}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { srv.Close() })
}

// With a tls block the tunnel's far end is the target's own TLS: the
// monitor's certificate and the token reach master1 unchanged through
// slave1's agent; an operator may not open a relay.
func TestRelayOverMutualTLS(t *testing.T) {
	port := freePort(t)
	p := strconv.Itoa(port)
	dir := t.TempDir()
	// The monitor's file (master1 at the address whose route it lost) is
	// the one certificates are made from; the agents' files have master1's
	// true address.
	monitorView := testCluster()
	monitorView.Agent.Port = port
	monitorView.Host("master1").Address = "127.0.0.9"
	monitorView.Host("master2").Address = "127.0.0.8"
	monitorView.TLS.Dir = dir
	if _, err := pki.Init(monitorView, dir, false); err != nil {
		t.Fatal(err)
	}
	withTLS := func(c *Config) { c.Cluster.Agent.Port, c.Cluster.TLS.Dir = port, dir }
	m1 := newHarness(t, "master1", withTLS)
	m1.start(t)
	serveTLSOn(t, m1, "127.0.0.1:"+p)
	s1 := newHarness(t, "slave1", withTLS)
	serveTLSOn(t, s1, "127.0.0.3:"+p)
	silentListener(t, "127.0.0.9:"+p)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	mon := &Client{Cluster: monitorView, Identity: pki.Monitor, Relay: true, HedgeAfter: 50 * time.Millisecond}
	st, err := mon.Status(ctx, "master1")
	if err != nil {
		t.Fatalf("status through the relay over TLS: %v", err)
	}
	st, err = mon.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: "192.0.2.100"}},
		&Lease{TTL: Duration(time.Minute), Holder: "watch@test", Nonce: st.Nonce})
	if err != nil || !st.Holds("192.0.2.100") {
		t.Fatalf("grant through the relay over TLS: %+v, %v", st, err)
	}
	if !strings.Contains(s1.logs.String(), "relay opened") || !strings.Contains(s1.logs.String(), "who=monitor") {
		t.Errorf("slave1's agent did not log the monitor's relay:\n%s", s1.logs.String())
	}
	op := &Client{Cluster: monitorView, Identity: pki.Operator, Relay: true, HedgeAfter: 50 * time.Millisecond}
	octx, ocancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer ocancel()
	if _, err := op.Status(octx, "master1"); err == nil {
		t.Error("an operator's certificate opened a relay")
	}
	if !strings.Contains(s1.logs.String(), "may not call POST /v1/relay") {
		t.Errorf("slave1's agent did not refuse the operator's relay:\n%s", s1.logs.String())
	}
}

// delayProxy forwards addr to target, holding every chunk of the answers
// for delay: a slow path. With bodyLag, an answer's body follows its
// header that much later (a large answer on a slow link).
func delayProxy(t *testing.T, addr, target string, delay, bodyLag time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				buf := make([]byte, 32<<10)
				for {
					n, err := u.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						chunk := buf[:n]
						if i := bytes.Index(chunk, []byte("\r\n\r\n")); bodyLag > 0 && i >= 0 {
							if _, werr := c.Write(chunk[:i+4]); werr != nil {
								return
							}
							time.Sleep(bodyLag)
							chunk = chunk[i+4:]
						}
						if _, werr := c.Write(chunk); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
}

// A direct answer that came first stays whole when the relayed copy's 200
// comes after it, while the caller still reads it: the relayed side cuts
// the direct attempt only while that one has not answered.
func TestRelayLateCopyLeavesTheDirectAnswerWhole(t *testing.T) {
	port := freePort(t)
	p := strconv.Itoa(port)
	withPort := func(c *Config) { c.Cluster.Agent.Port = port }
	m1 := newHarness(t, "master1", withPort)
	m1.start(t)
	serveOn(t, m1, "127.0.0.1:"+p)
	s1 := newHarness(t, "slave1", withPort)
	serveOn(t, s1, "127.0.0.3:"+p)
	// The monitor reaches master1 slowly (past the hedge), its answers'
	// bodies later still; slave1 more slowly: the direct answer's header
	// comes first, the relayed 200 while the direct body is on its way.
	delayProxy(t, "127.0.0.9:"+p, "127.0.0.1:"+p, 60*time.Millisecond, 400*time.Millisecond)
	delayProxy(t, "127.0.0.10:"+p, "127.0.0.3:"+p, 80*time.Millisecond, 0)
	cluster := testCluster()
	cluster.Agent.Port = port
	cluster.Host("master1").Address = "127.0.0.9"
	cluster.Host("slave1").Address = "127.0.0.10"
	cluster.Host("master2").Address = "127.0.0.8"
	c := &Client{Cluster: cluster, Relay: true, HedgeAfter: 20 * time.Millisecond}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, via, err := c.send(ctx, "master1", http.MethodGet, "/v1/status", nil)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	defer resp.Body.Close()
	if via != "" || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d via %q, want the direct 200 first", resp.StatusCode, via)
	}
	// The relayed copy answers (its tunnel's two round trips through the
	// slower path end about 250 ms in) before the direct body came.
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("read the direct answer after the relayed copy came: %v", err)
	}
	if st.Host != "master1" {
		t.Errorf("status: %+v", st)
	}
	if !strings.Contains(s1.logs.String(), "relay opened") {
		t.Errorf("the relayed copy was never sent (slave1's log):\n%s", s1.logs.String())
	}
}
