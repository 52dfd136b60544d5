package agent

import (
	"context"
	"database/sql"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
)

// failsafeLab starts every host's agent, grants master1 the writer and the
// others nothing with a one-second lease each, as a watch does, and then
// stops renewing: the watch is dead.
func failsafeLab(t *testing.T) (*lab.Lab, *Client, *sql.DB) {
	t.Helper()
	l := labtest.Get(t)
	clearVIPs(t, l)
	db, err := l.DB("master1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "SET GLOBAL read_only = OFF"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.ExecContext(ctx, "SET GLOBAL read_only = OFF") })
	for _, h := range l.Cluster().Hosts {
		startAgent(t, l, h.Name)
	}
	c := &Client{Cluster: l.Cluster()}
	for _, h := range l.Cluster().Hosts {
		var roles []RoleIP
		if h.Name == "master1" {
			roles = []RoleIP{{Role: "writer", IP: writerVIP(l)}}
		}
		lease(t, c, h.Name, roles)
	}
	return l, c, db
}

// lease grants host roles with a one-second lease, echoing a fresh nonce.
func lease(t *testing.T, c *Client, host string, roles []RoleIP) {
	t.Helper()
	ctx := context.Background()
	st, err := c.Status(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetRoles(ctx, host, roles, &Lease{TTL: Duration(time.Second), Holder: "watch@test", Nonce: st.Nonce}); err != nil {
		t.Fatalf("lease %s: %v", host, err)
	}
}

// isReadOnly reads read_only, again on a new session when the fence killed
// the test's own (it kills every client session).
func isReadOnly(t *testing.T, db *sql.DB) bool {
	t.Helper()
	var ro bool
	var err error
	for range 3 {
		if err = db.QueryRowContext(context.Background(), "SELECT @@GLOBAL.read_only").Scan(&ro); err == nil {
			return ro
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
	return ro
}

// No watch renews anyone: the writer keeps its role, confirmed by every
// other agent. When a watch acts again but does not renew it, it lets go
// within a lease.
func TestLabFailsafeKeepsTheWriterUntilAWatchActs(t *testing.T) {
	l, c, db := failsafeLab(t)
	ctx := context.Background()
	time.Sleep(3 * time.Second) // three leases without a renewal
	st, err := c.Status(ctx, "master1")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Holds(writerVIP(l)) || st.Lease == nil || !st.Lease.Failsafe {
		t.Fatalf("no watch for three leases: master1 must hold the writer VIP on failsafe: %+v (lease %+v, fence %+v)", st, st.Lease, st.Fence)
	}
	if isReadOnly(t, db) {
		t.Fatal("master1 went read_only although every other agent confirmed")
	}
	if _, err := serverIDVia(t, l, writerVIP(l)); err != nil {
		t.Fatalf("the writer VIP does not answer on failsafe: %v", err)
	}

	// A watch renews slave1 (and not master1): master1's next question is
	// refused, and its roles go when its last confirmation runs out.
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := c.Status(ctx, "slave1")
			if err == nil {
				_, _ = c.SetRoles(ctx, "slave1", nil, &Lease{TTL: Duration(time.Second), Holder: "watch@other", Nonce: st.Nonce})
			}
			time.Sleep(250 * time.Millisecond)
		}
	}()
	defer func() { close(stop); <-renewed }()
	t0 := time.Now()
	for {
		st, err = c.Status(ctx, "master1")
		if err != nil {
			t.Fatal(err)
		}
		if !st.Holds(writerVIP(l)) && st.Fence != nil && st.Fence.Complete {
			break
		}
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("a watch acts elsewhere, yet master1 keeps the writer VIP: %+v (lease %+v)", st, st.Lease)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("master1 fenced %s after a watch renewed slave1: %s", time.Since(t0).Round(time.Millisecond), st.Fence.Why)
	if !strings.Contains(st.Fence.Why, "failsafe") || !strings.Contains(st.Fence.Why, "slave1") {
		t.Errorf("the fence does not say why: %q", st.Fence.Why)
	}
	if !isReadOnly(t, db) {
		t.Error("master1 is still writable after its failsafe ended")
	}
}

// A writer cut off from everyone confirms nothing and fences itself.
func TestLabFailsafeLoneWriterFences(t *testing.T) {
	l, c, db := failsafeLab(t)
	ctx := context.Background()
	time.Sleep(2 * time.Second)
	st, err := c.Status(ctx, "master1")
	if err != nil || !st.Lease.Failsafe {
		t.Fatalf("master1 is not on failsafe before the cut: %+v %v", st, err)
	}
	ns := l.Namespace("master1")
	link := func(state string) {
		if out, err := exec.Command("ip", "-n", ns, "link", "set", "eth0", state).CombinedOutput(); err != nil {
			t.Fatalf("ip link set eth0 %s in %s: %v: %s", state, ns, err, out)
		}
	}
	link("down")
	cut := time.Now()
	restored := false
	defer func() {
		if !restored {
			link("up")
		}
	}()
	time.Sleep(3 * time.Second) // its last confirmation ran out long ago
	link("up")
	restored = true
	var fenced *FenceReport
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err = c.Status(ctx, "master1")
		if err == nil && !st.Holds(writerVIP(l)) && st.Fence != nil && st.Fence.Complete {
			fenced = st.Fence
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("master1, cut off from every other agent, kept the writer VIP: %+v %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if at := fenced.At.Sub(cut); at > 2*time.Second {
		t.Errorf("master1 fenced %s after the cut, want within its last confirmation (a lease)", at.Round(time.Millisecond))
	} else {
		t.Logf("master1 fenced %s after the cut: %s", at.Round(time.Millisecond), fenced.Why)
	}
	if !isReadOnly(t, db) {
		t.Error("the lone writer is still writable")
	}
}
