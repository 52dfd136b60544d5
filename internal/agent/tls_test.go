package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// TestAllowed is the authorization table: which identity may call which
// endpoint of host master1's agent.
func TestAllowed(t *testing.T) {
	mon, op, self, other := pki.Monitor, pki.Operator, pki.Host("master1"), pki.Host("master2")
	endpoints := []string{"GET /v1/status", "PUT /v1/roles", "POST /v1/fence", "POST /v1/witness", "POST /v1/relay", "POST /v1/failsafe", "GET /v1/backup", "GET /v1/clone", "POST /v1/clone"}
	want := map[pki.Identity][]string{
		mon:   {"GET /v1/status", "PUT /v1/roles", "POST /v1/fence", "POST /v1/witness", "POST /v1/relay"},
		op:    {"GET /v1/status", "PUT /v1/roles", "POST /v1/fence", "POST /v1/clone"},
		self:  {"GET /v1/status"},
		other: {"GET /v1/status", "POST /v1/failsafe", "GET /v1/backup", "GET /v1/clone"},
		{}:    nil, // no identity: nothing
	}
	for id, ok := range want {
		for _, ep := range endpoints {
			method, path, _ := strings.Cut(ep, " ")
			err := allowed(method, path, "master1", id)
			if got, exp := err == nil, contains(ok, ep); got != exp {
				t.Errorf("%q calling %s: allowed=%v, want %v (%v)", id, ep, got, exp, err)
			}
		}
	}
	if err := allowed("DELETE", "/v1/roles", "master1", op); err == nil {
		t.Error("an unknown endpoint was allowed")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tlsAgent serves master1's agent with the tls block's certificates on
// 127.0.0.1 and returns a cluster for its clients (agent.port = the server's).
func tlsAgent(t *testing.T) (h *harness, client func(id pki.Identity) *Client, dir string) {
	t.Helper()
	dir = t.TempDir()
	h = newHarness(t, "master1", func(c *Config) { c.Cluster.TLS.Dir = dir })
	if _, err := pki.Init(h.agent.cluster, dir, false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.agent.Handler())
	cfg, err := h.agent.serverTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	cluster := testCluster()
	cluster.Agent.Port, _ = strconv.Atoi(port)
	cluster.TLS.Dir = dir
	return h, func(id pki.Identity) *Client {
		return &Client{Cluster: cluster, Identity: id, Timeout: 2 * time.Second}
	}, dir
}

func statusCode(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

// TestMutualTLS: with a tls block, every endpoint answers only a client
// certificate of the cluster's CA with the right identity; the token is
// still required.
func TestMutualTLS(t *testing.T) {
	_, client, dir := tlsAgent(t)
	ctx := context.Background()

	if _, err := client(pki.Operator).Status(ctx, "master1"); err != nil {
		t.Fatalf("operator status: %v", err)
	}
	if _, err := client(pki.Monitor).SetRoles(ctx, "master1", nil, nil); err != nil {
		t.Fatalf("monitor roles: %v", err)
	}
	if _, err := client(pki.Host("slave1")).Status(ctx, "master1"); err != nil {
		t.Fatalf("a host's status probe (witness): %v", err)
	}
	if _, err := client(pki.Host("slave1")).SetRoles(ctx, "master1", nil, nil); statusCode(err) != http.StatusForbidden {
		t.Fatalf("a host set roles: %v, want 403", err)
	}
	// The failsafe question: only as the certificate's own host.
	if _, err := client(pki.Host("slave1")).Failsafe(ctx, "master1", FailsafeRequest{Cluster: "shop", From: "master2"}); statusCode(err) != http.StatusForbidden {
		t.Fatalf("slave1 asking the failsafe question as master2: %v, want 403", err)
	}
	if _, err := client(pki.Host("slave1")).Failsafe(ctx, "master1", FailsafeRequest{Cluster: "shop", From: "slave1"}); statusCode(err) == http.StatusForbidden && strings.Contains(err.Error(), "only as itself") {
		t.Fatalf("slave1 asking as itself: %v", err)
	}
	if _, err := client(pki.Operator).Witness(ctx, "master1", []string{"master2"}, 0); statusCode(err) != http.StatusForbidden {
		t.Fatalf("operator witness: %v, want 403", err)
	}
	// master2 is cloning from nobody (its agent does not even run): no backup.
	if _, _, err := client(pki.Host("master2")).Backup(ctx, "master1"); statusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "could not confirm a clone") {
		t.Fatalf("backup to a host that is not cloning: %v, want 403", err)
	}
	if _, _, err := client(pki.Operator).Backup(ctx, "master1"); statusCode(err) != http.StatusForbidden {
		t.Fatalf("backup to the operator: %v, want 403", err)
	}
	if _, err := client(pki.Monitor).Clone(ctx, "master1", "master2", false, nil); statusCode(err) != http.StatusForbidden {
		t.Fatalf("clone from the monitor: %v, want 403", err)
	}

	// Token without the right certificate, certificate without the token.
	wrongToken := client(pki.Operator)
	wc := *wrongToken.Cluster
	wc.Agent.Token = topology.NewSecret("wrong-token-xyz", "test")
	wrongToken.Cluster = &wc
	if _, err := wrongToken.Status(ctx, "master1"); statusCode(err) != http.StatusUnauthorized {
		t.Fatalf("operator certificate with a wrong token: %v, want 401", err)
	}

	caOnly, err := pki.ClientConfig(dir, pki.Operator)
	if err != nil {
		t.Fatal(err)
	}
	caOnly.Certificates = nil // trusts the server, presents nothing
	otherDir := t.TempDir()
	if _, err := pki.Init(testCluster(), otherDir, false); err != nil {
		t.Fatal(err)
	}
	otherCA, err := pki.ClientConfig(otherDir, pki.Operator)
	if err != nil {
		t.Fatal(err)
	}
	otherCA.RootCAs = caOnly.RootCAs // trusts our server, presents another CA's certificate
	for name, cfg := range map[string]*tls.Config{"no certificate": caOnly, "another CA": otherCA} {
		c := client(pki.Operator)
		c.TLSConfig = cfg
		for _, call := range []func() error{
			func() error { _, err := c.Status(ctx, "master1"); return err },
			func() error { _, err := c.SetRoles(ctx, "master1", nil, nil); return err },
			func() error { _, err := c.Fence(ctx, "master1", FenceRequest{}); return err },
			func() error { _, err := c.Witness(ctx, "master1", nil, 0); return err },
			func() error { _, _, err := c.Backup(ctx, "master1"); return err },
			func() error { _, err := c.Clone(ctx, "master1", "master2", false, nil); return err },
		} {
			err := call()
			if err == nil || statusCode(err) != 0 {
				t.Errorf("%s: %v, want a refused handshake (no HTTP answer at all)", name, err)
			}
		}
	}

	// Plain HTTP with the right token: the TLS port answers nothing useful.
	u := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(client(pki.Operator).Cluster.Agent.Port)) + "/v1/status"
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP with the token got an answer")
		}
	}
}

// TestPlainRequestRefusedWithTLSBlock: a handler behind a server without
// TLS (misconfigured) still refuses: no certificate, no identity.
func TestPlainRequestRefusedWithTLSBlock(t *testing.T) {
	h := newHarness(t, "master1", func(c *Config) { c.Cluster.TLS.Dir = t.TempDir() })
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set(ProtocolHeader, strconv.Itoa(ProtocolVersion))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status without a client certificate: %d, want 403", resp.StatusCode)
	}
}

// TestBackupOnlyToTheCloningHost: master1 serves its backup to master2 only
// while master2's agent says it is cloning from master1.
func TestBackupOnlyToTheCloningHost(t *testing.T) {
	h1, client, dir := tlsAgent(t)
	port := client(pki.Operator).Cluster.Agent.Port
	// master2's agent on 127.0.0.2, the same port, the same CA.
	h2 := newHarness(t, "master2", func(c *Config) { c.Cluster.TLS.Dir = dir })
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	srv := httptest.NewUnstartedServer(h2.agent.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	if srv.TLS, err = h2.agent.serverTLS(); err != nil {
		t.Fatal(err)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// Both agents' peers must reach each other on the test port.
	h1.agent.cluster.Agent.Port, h2.agent.cluster.Agent.Port = port, port
	ctx := context.Background()

	if _, _, err := client(pki.Host("master2")).Backup(ctx, "master1"); statusCode(err) != http.StatusForbidden || !strings.Contains(err.Error(), "runs no clone from master1") {
		t.Fatalf("backup before master2 clones: %v, want 403", err)
	}
	h2.agent.cloneFrom.set("master1")
	// Authorized now: this test agent has no server control, so 501.
	if _, _, err := client(pki.Host("master2")).Backup(ctx, "master1"); statusCode(err) != http.StatusNotImplemented {
		t.Fatalf("backup while master2 clones from master1: %v, want past authorization (501 here)", err)
	}
	// slave1 cannot ride on master2's clone.
	if _, _, err := client(pki.Host("slave1")).Backup(ctx, "master1"); statusCode(err) != http.StatusForbidden {
		t.Fatalf("backup to slave1 while master2 clones: %v, want 403", err)
	}
}
