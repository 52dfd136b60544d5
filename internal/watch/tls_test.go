package watch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/pki"
	"github.com/mysql-mmm/mmm/internal/topology"
)

func TestControlAllowed(t *testing.T) {
	for _, tc := range []struct {
		path string
		id   pki.Identity
		ok   bool
		want bool
	}{
		{"/v1/status", pki.Operator, true, true},
		{"/v1/move-role", pki.Operator, true, true},
		{"/", pki.Operator, true, true}, // the status page
		{"/v1/status", pki.Monitor, true, false},
		{"/v1/move-role", pki.Monitor, true, false},
		{"/v1/set-online", pki.Host("master1"), true, false},
		{"/metrics", pki.Host("master1"), true, true},
		{"/metrics", pki.Identity{}, false, false},
		{"/v1/status", pki.Identity{}, false, false},
	} {
		if got := controlAllowed(tc.path, tc.id, tc.ok, false) == nil; got != tc.want {
			t.Errorf("%s by %q: allowed=%v, want %v", tc.path, tc.id, got, tc.want)
		}
		// With several watch nodes they forward commands to each other.
		want := tc.want || tc.id == pki.Monitor && tc.ok
		if got := controlAllowed(tc.path, tc.id, tc.ok, true) == nil; got != want {
			t.Errorf("%s by %q with watch nodes: allowed=%v, want %v", tc.path, tc.id, got, want)
		}
	}
}

// TestControlAPIMutualTLS: the control API with a tls block answers the
// operator certificate (and the token), and nothing without a certificate
// of the cluster's CA.
func TestControlAPIMutualTLS(t *testing.T) {
	live := fakeLive(testCluster())
	w, _ := newTestWatch(t, func() *topology.Live { return live })
	dir := t.TempDir()
	w.c.TLS.Dir = dir
	w.c.Monitor.Listen = "127.0.0.1:0"
	if _, err := pki.Init(w.c, dir, false); err != nil {
		t.Fatal(err)
	}
	w.Start(context.Background())
	srv := httptest.NewUnstartedServer(w.Handler())
	cfg, err := ServerTLS(w.c)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()
	w.c.Monitor.Listen = srv.Listener.Addr().String()
	ctx := context.Background()

	c, err := NewClient(w.c, "monitor-token")
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 2 * time.Second
	if r, err := c.Status(ctx); err != nil || r.Writer != "master1" {
		t.Fatalf("operator status: %v", err)
	}
	c.Token = "wrong"
	var ae *APIError
	if _, err := c.Status(ctx); !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
		t.Fatalf("operator certificate with a wrong token: %v, want 401", err)
	}

	// The monitor's own certificate is not an operator's.
	mon, err := pki.ClientConfig(dir, pki.Monitor)
	if err != nil {
		t.Fatal(err)
	}
	c = &Client{Base: c.Base, Token: "monitor-token", Timeout: 2 * time.Second,
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: mon}}}
	if _, err := c.Status(ctx); !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden {
		t.Fatalf("monitor certificate on the control API: %v, want 403", err)
	}
	// No certificate: the handshake fails, on every path.
	noCert := mon.Clone()
	noCert.Certificates = nil
	c.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: noCert}}
	for _, path := range []string{"/v1/status", "/v1/checks", "/metrics", "/"} {
		err := c.do(ctx, http.MethodGet, path, nil, nil)
		if err == nil || errors.As(err, &ae) {
			t.Errorf("%s without a certificate: %v, want no answer", path, err)
		}
	}
	// Plain HTTP: no answer from the API.
	_, port, _ := net.SplitHostPort(w.c.Monitor.Listen)
	plain := &Client{Base: "http://127.0.0.1:" + port, Token: "monitor-token", Timeout: 2 * time.Second}
	if _, err := plain.Status(ctx); err == nil {
		t.Fatal("plain HTTP got a status")
	}
}
