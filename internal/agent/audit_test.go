package agent

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
)

// A role change through the API leaves one audit line (who, from where,
// before and after); repeating the same set leaves none.
func TestRoleChangeAudit(t *testing.T) {
	h := newHarness(t, "master1")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(h.srv.URL, "http://"))
	cluster := testCluster()
	cluster.Agent.Port, _ = strconv.Atoi(port)
	c := &Client{Cluster: cluster}
	ctx := context.Background()
	for _, roles := range [][]RoleIP{
		{{Role: "writer", IP: "192.0.2.100"}},
		{{Role: "writer", IP: "192.0.2.100"}}, // the same: no line
		nil,
	} {
		if _, err := c.SetRoles(ctx, "master1", roles, nil); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, `msg="roles changed"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2:\n%s", len(lines), h.logs.String())
	}
	for i, want := range []string{`after="static [writer=192.0.2.100]"`, `before="static [writer=192.0.2.100]" after="static []"`} {
		if !strings.Contains(lines[i], "who=agent-token remote=127.0.0.1:") || !strings.Contains(lines[i], `request="PUT /v1/roles"`) || !strings.Contains(lines[i], want) {
			t.Errorf("audit line %d: %s\nwant who, remote, request and %s", i, lines[i], want)
		}
	}
}
