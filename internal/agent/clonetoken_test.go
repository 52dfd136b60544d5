package agent

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// TestCloneToken: with agent.clone_token set, the backup stream and the
// clone need it on top of the agent token; the other endpoints do not (a
// watch without it still places VIPs).
func TestCloneToken(t *testing.T) {
	const cloneToken = "clone-token-for-operators"
	h := newHarness(t, "master1", func(c *Config) {
		c.Cluster.Agent.CloneToken = topology.NewSecret(cloneToken, "test")
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.srv.URL, "http://"))
	client := func(withCloneToken bool) *Client {
		c := testCluster()
		c.Agent.Port, _ = strconv.Atoi(port)
		if withCloneToken {
			c.Agent.CloneToken = topology.NewSecret(cloneToken, "test")
		}
		return &Client{Cluster: c}
	}
	ctx := context.Background()
	watchLike := client(false)
	if _, err := watchLike.SetRoles(ctx, "master1", nil, nil); err != nil {
		t.Fatalf("roles without the clone token: %v", err)
	}
	if _, _, err := watchLike.Backup(ctx, "master1"); statusCode(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), "clone token") {
		t.Fatalf("backup without the clone token: %v, want 401", err)
	}
	if _, err := watchLike.Clone(ctx, "master1", "master2", false, nil); statusCode(err) != http.StatusUnauthorized {
		t.Fatalf("clone without the clone token: %v, want 401", err)
	}
	// With it: past authentication (this test agent has no server control: 501).
	if _, _, err := client(true).Backup(ctx, "master1"); statusCode(err) != http.StatusNotImplemented {
		t.Fatalf("backup with the clone token: %v, want 501 (authenticated)", err)
	}
	if strings.Contains(h.logs.String(), cloneToken) {
		t.Errorf("the clone token appears in the agent's log")
	}
}
