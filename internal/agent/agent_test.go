package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

const testToken = "s3cret-agent-token"

// foreign is an address on the interface that the cluster does not declare:
// the agent must never touch it.
var foreign = netip.MustParseAddr("10.9.9.9")

func testCluster() *topology.Cluster {
	admin := topology.Account{User: "root", Password: topology.NewSecret("pw", "test")}
	host := func(name, addr string, mode topology.HostMode) *topology.Host {
		return &topology.Host{Name: name, Address: addr, Port: 3306, Mode: mode, Interface: "eth0", Admin: admin}
	}
	return &topology.Cluster{
		Name:             "shop",
		Flavor:           "mariadb",
		ActiveMasterRole: "writer",
		Hosts: []*topology.Host{
			host("master1", "127.0.0.1", topology.ModeMaster),
			host("master2", "127.0.0.2", topology.ModeMaster),
			host("slave1", "127.0.0.3", topology.ModeSlave),
		},
		Roles: []*topology.Role{
			{Name: "writer", Mode: topology.RoleExclusive, Hosts: []string{"master1", "master2"}, IPs: []string{"192.0.2.100"}},
			{Name: "reader", Mode: topology.RoleBalanced, Hosts: []string{"slave1", "master1"}, IPs: []string{"192.0.2.101", "192.0.2.102"}},
		},
		Agent: topology.Agent{Port: 9989, Token: topology.NewSecret(testToken, `env("MMM_AGENT_TOKEN")`)},
	}
}

// fakeNet is an interface's addresses, with a count of changes.
type fakeNet struct {
	mu        sync.Mutex
	addrs     map[string][]netip.Addr
	changes   int
	announced []netip.Addr
}

func newFakeNet() *fakeNet {
	return &fakeNet{addrs: map[string][]netip.Addr{"eth0": {foreign}}}
}

func (f *fakeNet) List(ctx context.Context, iface string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs[iface]), nil
}

func (f *fakeNet) Ensure(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Contains(f.addrs[iface], ip) {
		return false, nil
	}
	f.addrs[iface] = append(f.addrs[iface], ip)
	f.changes++
	return true, nil
}

func (f *fakeNet) Remove(ctx context.Context, iface string, ip netip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.addrs[iface], ip)
	if i < 0 {
		return false, nil
	}
	f.addrs[iface] = slices.Delete(f.addrs[iface], i, i+1)
	f.changes++
	return true, nil
}

func (f *fakeNet) Announce(ctx context.Context, iface string, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced = append(f.announced, ip)
	return nil
}

func (f *fakeNet) state() (addrs []string, changes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.addrs["eth0"] {
		addrs = append(addrs, a.String())
	}
	slices.Sort(addrs)
	return addrs, f.changes
}

// fakeDB is the local server: a probe state, variables, and the fence's
// SQL steps, each recorded.
type fakeDB struct {
	mu       sync.Mutex
	readOnly bool
	uptime   time.Duration
	state    string
	// roErr is what SetReadOnly returns; roBlock makes it wait for its
	// deadline (a server that cannot take the global read lock).
	roErr    error
	roBlock  bool
	killErr  error
	sessions int // client sessions KillClientSessions finds
	killed   int // KillServer calls
	set      chan struct{}
}

func newFakeDB() *fakeDB {
	return &fakeDB{set: make(chan struct{}, 100), state: ProbeOK, uptime: time.Hour}
}

func (d *fakeDB) Probe(ctx context.Context, timeout time.Duration) (string, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state, "fake"
}

func (d *fakeDB) Vars(ctx context.Context) (ServerVars, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return ServerVars{ReadOnly: d.readOnly, Uptime: d.uptime}, nil
}

func (d *fakeDB) SetReadOnly(ctx context.Context) error {
	d.mu.Lock()
	block, err := d.roBlock, d.roErr
	d.mu.Unlock()
	if block {
		<-ctx.Done()
		return fmt.Errorf("SET GLOBAL read_only: %w", ctx.Err())
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.readOnly = true
	d.mu.Unlock()
	d.set <- struct{}{}
	return nil
}

func (d *fakeDB) KillClientSessions(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.sessions
	d.sessions = 0
	return n, nil
}

func (d *fakeDB) KillServer(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.killed++
	if d.killErr != nil {
		return d.killErr
	}
	d.state = ProbeRefused
	return nil
}

func (d *fakeDB) setState(f func(d *fakeDB)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func (d *fakeDB) isReadOnly() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readOnly
}

type harness struct {
	agent *Agent
	net   *fakeNet
	db    *fakeDB
	srv   *httptest.Server
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, host string, opts ...func(*Config)) *harness {
	t.Helper()
	h := &harness{net: newFakeNet(), db: newFakeDB(), logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Config{Cluster: testCluster(), Host: host, Logger: logger, Addresses: h.net, DB: h.db, StateDir: t.TempDir()}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.agent = a
	h.srv = httptest.NewServer(a.Handler())
	t.Cleanup(h.srv.Close)
	t.Cleanup(a.Stop) // ends announcers and the health loop
	t.Cleanup(func() {
		for _, secret := range []string{testToken, "wrong-token-xyz"} {
			if strings.Contains(h.logs.String(), secret) {
				t.Errorf("a token appears in the agent's log:\n%s", h.logs.String())
			}
		}
	})
	return h
}

// start runs the agent's start-up (state file, health loop); Stop at the end.
func (h *harness) start(t *testing.T) {
	t.Helper()
	if err := h.agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.agent.Stop)
}

// nonce is a fresh nonce, as a status answer hands it out.
func (h *harness) nonce(t *testing.T) string {
	t.Helper()
	h.agent.mu.Lock()
	defer h.agent.mu.Unlock()
	st, err := h.agent.status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Nonce
}

// lease is a valid grant: a fresh nonce and the agent's current epoch.
func (h *harness) lease(t *testing.T, ttl time.Duration) *Lease {
	t.Helper()
	h.agent.mu.Lock()
	epoch := h.agent.epoch
	h.agent.mu.Unlock()
	return &Lease{TTL: Duration(ttl), Holder: "watch@test", Epoch: epoch, Nonce: h.nonce(t)}
}

func (h *harness) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	code, b, _ := h.doHeader(t, method, path, token, body, strconv.Itoa(ProtocolVersion))
	return code, b
}

// doHeader sends a request with protocol header proto ("" = none).
func (h *harness) doHeader(t *testing.T, method, path, token, body, proto string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if proto != "" {
		req.Header.Set(ProtocolHeader, proto)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	var eb errorBody
	if json.Unmarshal(b.Bytes(), &eb) == nil && eb.Error != "" {
		return resp.StatusCode, eb.Error, resp.Header
	}
	return resp.StatusCode, b.String(), resp.Header
}

func TestRefusedRequestsChangeNothing(t *testing.T) {
	valid := `{"cluster":"shop","host":"master1","roles":[{"role":"writer","ip":"192.0.2.100"}]}`
	tests := []struct {
		name   string
		method string
		token  string
		body   string
		want   int
		reason string
	}{
		{"no token", "PUT", "", valid, 401, "missing bearer token"},
		{"wrong token", "PUT", "wrong-token-xyz", valid, 401, "wrong token"},
		{"wrong token on status", "GET", "wrong-token-xyz", "", 401, "wrong token"},
		{"token prefix only", "PUT", testToken[:5], valid, 401, "wrong token"},
		{"another cluster", "PUT", testToken, `{"cluster":"other","host":"master1","roles":[]}`, 403, `not "other"`},
		{"another host", "PUT", testToken, `{"cluster":"shop","host":"master2","roles":[]}`, 403, `not "master2"`},
		{"undeclared role", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[{"role":"backup","ip":"192.0.2.100"}]}`, 403, `role "backup" is not declared`},
		{"VIP of another role", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[{"role":"writer","ip":"192.0.2.101"}]}`, 403, "is not a VIP of role"},
		{"undeclared VIP", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[{"role":"writer","ip":"10.9.9.9"}]}`, 403, "is not a VIP of role"},
		{"VIP twice", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[{"role":"writer","ip":"192.0.2.100"}, {"role":"reader","ip":"192.0.2.101"}, {"role":"writer","ip":"192.0.2.100"}]}`, 400, "requested twice"},
		{"malformed JSON", "PUT", testToken, `{"cluster":"shop",`, 400, "malformed JSON"},
		{"unknown field", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[],"force":true}`, 400, "unknown field"},
		{"two values", "PUT", testToken, valid + valid, 400, "more than one value"},
		{"not an IP", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[{"role":"writer","ip":"writer.example"}]}`, 400, "not an IPv4 address"},
		{"zero lease", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[],"lease":{"ttl":"0s"}}`, 400, "lease ttl"},
		{"lease not a duration", "PUT", testToken, `{"cluster":"shop","host":"master1","roles":[],"lease":{"ttl":5}}`, 400, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "master1")
			code, body := h.do(t, tt.method, map[string]string{"GET": "/v1/status", "PUT": "/v1/roles"}[tt.method], tt.token, tt.body)
			if code != tt.want || !strings.Contains(body, tt.reason) {
				t.Fatalf("got %d %s, want %d containing %q", code, body, tt.want, tt.reason)
			}
			if addrs, changes := h.net.state(); changes != 0 || len(addrs) != 1 {
				t.Errorf("a refused request changed the interface: %v (%d changes)", addrs, changes)
			}
			if h.agent.mode != ModeStatic || h.agent.lease != nil {
				t.Errorf("a refused request changed the mode: %s", h.agent.mode)
			}
		})
	}
	t.Run("refused reader on a host outside the role", func(t *testing.T) {
		h := newHarness(t, "master2")
		code, body := h.do(t, "PUT", "/v1/roles", testToken, `{"cluster":"shop","host":"master2","roles":[{"role":"reader","ip":"192.0.2.101"}]}`)
		if code != 403 || !strings.Contains(body, `may not be held by host "master2"`) {
			t.Fatalf("got %d %s", code, body)
		}
	})
}

func TestSetRolesIsDeclarativeAndIdempotent(t *testing.T) {
	h := newHarness(t, "master1")
	ctx := context.Background()
	put := func(roles ...RoleIP) *Status {
		t.Helper()
		st, err := h.agent.setRolesForTest(ctx, roles, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	st := put(RoleIP{"writer", "192.0.2.100"}, RoleIP{"reader", "192.0.2.101"})
	if addrs, _ := h.net.state(); !slices.Equal(addrs, []string{"10.9.9.9", "192.0.2.100", "192.0.2.101"}) {
		t.Fatalf("interface after assign: %v", addrs)
	}
	if len(st.Roles) != 2 || st.Mode != ModeStatic || st.Lease != nil {
		t.Fatalf("status: %+v", st)
	}
	_, changes := h.net.state()
	put(RoleIP{"writer", "192.0.2.100"}, RoleIP{"reader", "192.0.2.101"})
	if _, again := h.net.state(); again != changes || len(h.net.announced) != 2 {
		t.Fatalf("repeating a request changed something: %d changes, announced %v", again-changes, h.net.announced)
	}
	st = put(RoleIP{"reader", "192.0.2.102"})
	if addrs, _ := h.net.state(); !slices.Equal(addrs, []string{"10.9.9.9", "192.0.2.102"}) {
		t.Fatalf("interface after the full set changed: %v", addrs)
	}
	if !st.Holds("192.0.2.102") || st.Holds("192.0.2.100") {
		t.Fatalf("status: %+v", st)
	}
	put()
	if addrs, _ := h.net.state(); !slices.Equal(addrs, []string{"10.9.9.9"}) {
		t.Fatalf("an empty set must release every VIP of the cluster and keep the rest: %v", addrs)
	}
}

// setRolesForTest is PUT /v1/roles without HTTP.
func (a *Agent) setRolesForTest(ctx context.Context, roles []RoleIP, lease *Lease) (*Status, error) {
	st, rerr, err := a.setRoles(ctx, &SetRolesRequest{Cluster: a.cluster.Name, Host: a.host.Name, Roles: roles, Lease: lease})
	if rerr != nil {
		return nil, rerr
	}
	return st, err
}

func TestLeaseExpiryFences(t *testing.T) {
	h := newHarness(t, "master1")
	ctx := context.Background()
	st, err := h.agent.setRolesForTest(ctx, []RoleIP{{"writer", "192.0.2.100"}, {"reader", "192.0.2.101"}}, h.lease(t, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode != ModeLease || st.Lease == nil || st.Lease.Holder != "watch@test" || st.Lease.Expired {
		t.Fatalf("status: %+v", st)
	}
	select {
	case <-h.db.set:
	case <-time.After(10 * time.Second):
		t.Fatal("the lease ran out and read_only was not set")
	}
	waitFor(t, "the fence's report", func() bool { h.agent.mu.Lock(); defer h.agent.mu.Unlock(); return h.agent.lastFence != nil })
	h.agent.mu.Lock()
	st, _ = h.agent.status(ctx)
	h.agent.mu.Unlock()
	if addrs, _ := h.net.state(); !slices.Equal(addrs, []string{"10.9.9.9", "192.0.2.101"}) {
		t.Errorf("after expiry the writer VIP must be gone and the reader VIP stay: %v", addrs)
	}
	if st.Mode != ModeLease || !st.Lease.Expired || st.Lease.ExpiresIn != 0 {
		t.Errorf("status after expiry: %+v", st.Lease)
	}
	if !strings.Contains(h.logs.String(), "FENCED") || !strings.Contains(h.logs.String(), "level=ERROR") {
		t.Errorf("expiry must be logged loudly:\n%s", h.logs.String())
	}
}

func TestLeaseRenewalAndStaticMode(t *testing.T) {
	h := newHarness(t, "master1")
	ctx := context.Background()
	writer := []RoleIP{{"writer", "192.0.2.100"}}
	if _, err := h.agent.setRolesForTest(ctx, writer, h.lease(t, 200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	// A renewal replaces the lease, and a request without one ends lease mode.
	if _, err := h.agent.setRolesForTest(ctx, writer, h.lease(t, time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err := h.agent.setRolesForTest(ctx, writer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode != ModeStatic || st.Lease != nil {
		t.Fatalf("status: %+v", st)
	}
	time.Sleep(400 * time.Millisecond)
	select {
	case <-h.db.set:
		t.Fatal("a replaced lease fenced the host")
	default:
	}
	h.agent.Stop()
	if addrs, _ := h.net.state(); !slices.Contains(addrs, "192.0.2.100") {
		t.Fatalf("stopping in static mode must keep the VIPs: %v", addrs)
	}
}

func TestStopInLeaseModeFences(t *testing.T) {
	h := newHarness(t, "master1")
	if _, err := h.agent.setRolesForTest(context.Background(), []RoleIP{{"writer", "192.0.2.100"}}, h.lease(t, time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.agent.Stop()
	if addrs, _ := h.net.state(); slices.Contains(addrs, "192.0.2.100") {
		t.Fatalf("stopping in lease mode must drop the writer VIP: %v", addrs)
	}
	select {
	case <-h.db.set:
	default:
		t.Fatal("stopping in lease mode must set read_only")
	}
}

func TestSlaveLeaseExpiryDoesNotSetReadOnly(t *testing.T) {
	h := newHarness(t, "slave1")
	if _, err := h.agent.setRolesForTest(context.Background(), []RoleIP{{"reader", "192.0.2.101"}}, h.lease(t, time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.agent.Stop()
	if addrs, _ := h.net.state(); !slices.Contains(addrs, "192.0.2.101") {
		t.Fatalf("a reader VIP is not fenced: %v", addrs)
	}
	select {
	case <-h.db.set:
		t.Fatal("a host outside every exclusive role was set read_only")
	default:
	}
}

func TestClient(t *testing.T) {
	h := newHarness(t, "master1")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.srv.URL, "http://"))
	cluster := testCluster()
	cluster.Agent.Port, _ = strconv.Atoi(port)
	c := &Client{Cluster: cluster}
	ctx := context.Background()

	h.start(t)
	waitFor(t, "a first server probe", func() bool { st, _ := c.Status(ctx, "master1"); return st != nil && st.ReadOnly != nil })
	st, err := c.Status(ctx, "master1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Protocol != ProtocolVersion || len(st.Nonce) < 32 || st.Server == nil || st.Server.State != ProbeOK {
		t.Fatalf("Status: %+v", st)
	}
	st, err = c.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: "192.0.2.100"}}, &Lease{TTL: Duration(time.Hour), Holder: "watch@test", Nonce: st.Nonce})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Holds("192.0.2.100") || st.Mode != ModeLease || st.Lease.Holder != "watch@test" || st.Nonce == "" {
		t.Fatalf("SetRoles status: %+v", st)
	}
	// The answer's nonce serves the next renewal.
	if _, err = c.SetRoles(ctx, "master1", []RoleIP{{Role: "writer", IP: "192.0.2.100"}}, &Lease{TTL: Duration(time.Hour), Holder: "watch@test", Nonce: st.Nonce}); err != nil {
		t.Fatal(err)
	}
	st, err = c.Status(ctx, "master1")
	if err != nil {
		t.Fatal(err)
	}
	if st.ReadOnly == nil || *st.ReadOnly || st.Roles[0] != (HeldRole{Role: "writer", IP: "192.0.2.100", Interface: "eth0"}) {
		t.Fatalf("Status: %+v", st)
	}
	if st, err = c.SetRoles(ctx, "master1", nil, nil); err != nil || len(st.Roles) != 0 || st.Mode != ModeStatic {
		t.Fatalf("SetRoles(nil): %+v, %v", st, err)
	}

	// The agent says why it refused; the token is in no error.
	wrong := testCluster()
	wrong.Agent.Port = cluster.Agent.Port
	wrong.Agent.Token = topology.NewSecret("wrong-token-xyz", "test")
	_, err = (&Client{Cluster: wrong}).Status(ctx, "master1")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || strings.Contains(err.Error(), "wrong-token-xyz") {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := c.Status(ctx, "nosuchhost"); !errors.Is(err, ErrUnknownHost) {
		t.Fatalf("unknown host: %v", err)
	}
	// master1's agent refuses a request for master2 sent to it (the file
	// names master2 at the same address in this test).
	other := testCluster()
	other.Agent.Port = cluster.Agent.Port
	other.Host("master2").Address = "127.0.0.1"
	_, err = (&Client{Cluster: other}).SetRoles(ctx, "master2", nil, nil)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || !strings.Contains(apiErr.Message, `not "master2"`) {
		t.Fatalf("another host: %v", err)
	}
}

func TestNewRefusesWithoutToken(t *testing.T) {
	c := testCluster()
	c.Agent.Token = topology.UnsetSecret(`env("MMM_AGENT_TOKEN")`)
	_, err := New(Config{Cluster: c, Host: "master1", Addresses: newFakeNet(), DB: newFakeDB()})
	if err == nil || !strings.Contains(err.Error(), `env("MMM_AGENT_TOKEN")`) {
		t.Fatalf("New without token: %v", err)
	}
	if _, err := New(Config{Cluster: testCluster(), Host: "nope", Addresses: newFakeNet(), DB: newFakeDB()}); err == nil || !strings.Contains(err.Error(), "master1, master2, slave1") {
		t.Fatalf("New for an unknown host: %v", err)
	}
}

func TestClientTLS(t *testing.T) {
	h := newHarness(t, "master1")
	srv := httptest.NewTLSServer(h.agent.Handler())
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	cluster := testCluster()
	cluster.Agent.Port, _ = strconv.Atoi(port)
	cluster.Agent.TLSCert = filepath.Join(t.TempDir(), "not-on-this-machine.pem")
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())

	if _, err := (&Client{Cluster: cluster}).Status(context.Background(), "master1"); err == nil {
		t.Fatal("a certificate nobody trusts was accepted")
	}
	c := &Client{Cluster: cluster, TLSConfig: &tls.Config{RootCAs: pool}}
	if u, _ := c.URL("master1"); !strings.HasPrefix(u, "https://") {
		t.Fatalf("URL with tls_cert set: %s", u)
	}
	if _, err := c.Status(context.Background(), "master1"); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
