package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// A declared ALL PRIVILEGES, or an alias such as REPLICATION CLIENT, must
// compare equal to what the server reports (expanded, in its own names), so a
// converged account plans nothing.
func TestDeclaredGrantsInServerForm(t *testing.T) {
	c := labCluster()
	app := c.User("app", "%")
	app.Grants = []topology.Grant{{On: "`shop`.*", Privileges: []string{"all privileges"}}}
	live := convergedLive(c) // live grants: the server's expanded form
	p := Diff(c, live, Options{Now: time.Unix(0, 0)})
	for _, s := range p.Steps {
		t.Errorf("unexpected step %s: %s", s.ID, s.Change)
	}
	// And a drift inside the expansion is still seen.
	lu := live.Hosts["slave1"].Users[app.Key()]
	lu.Grants[0].Privileges = lu.Grants[0].Privileges[1:]
	p = Diff(c, live, Options{Now: time.Unix(0, 0)})
	if len(p.Steps) != 1 || p.Steps[0].Kind != KindGrant || p.Steps[0].Host != "slave1" {
		t.Fatalf("want one grant on slave1, got %v", p.Steps)
	}
}

// While a watch holds the roles (agents in lease mode), apply must not move
// the writer behind its back: the plan refuses and names mmm move-role.
func TestNoWriterMoveUnderAWatch(t *testing.T) {
	c := labCluster()
	live := withVIPs(convergedLive(c))
	live.Agents = map[string]*topology.LiveAgent{}
	for _, h := range c.Hosts {
		live.Agents[h.Name] = &topology.LiveAgent{Reachable: true, Mode: "lease"}
	}
	p := Diff(c, live, Options{Now: time.Unix(0, 0), MoveWriterTo: "master2"})
	if !p.HasErrors() || len(p.Steps) != 0 {
		t.Fatalf("want an error and no steps, got steps %v problems %+v", p.Steps, p.Problems)
	}
	if !strings.Contains(p.Problems[0].Detail, "mmm move-role writer master2") {
		t.Errorf("detail does not point to move-role: %s", p.Problems[0].Detail)
	}
}
