package apply

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// The apply tests have the lab subnet 198.18.2.0/24 to themselves. They run
// in order against one lab: bare servers first, then drift on the converged
// cluster, then the refusals.
func TestMain(m *testing.M) {
	labtest.Main(m, "../examples/lab/mmm.hcl", labtest.Subnet("198.18.2"))
}

func newApplier(c *topology.Cluster) *Applier {
	return &Applier{
		Cluster: c,
		Inspect: func(ctx context.Context) *topology.Live { return inspect.Inspect(ctx, c, inspect.Options{}) },
		Diff: func(l *topology.Live) *plan.Plan {
			return plan.Diff(c, l, plan.Options{Now: time.Now()})
		},
		DBs:      &Pool{Cluster: c},
		LockWait: 2 * time.Second,
	}
}

func planNow(t *testing.T, a *Applier) *plan.Plan {
	t.Helper()
	return a.Diff(a.Inspect(context.Background()))
}

func adminDB(t *testing.T, c *topology.Cluster, host string) *sql.DB {
	t.Helper()
	db, err := conn.Open(context.Background(), c.Host(host), conn.Timeouts{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestApplyLifecycle(t *testing.T) {
	l := labtest.Get(t)
	c := l.Cluster()
	a := newApplier(c)
	defer a.DBs.(*Pool).Close()
	ctx := context.Background()
	whole := t // the agents live until the whole test ends

	t.Run("from bare servers", func(t *testing.T) {
		p := planNow(t, a)
		if p.HasErrors() || p.Changes() == 0 {
			t.Fatalf("fresh plan: errors=%v changes=%d problems=%+v", p.HasErrors(), p.Changes(), p.Problems)
		}
		out, err := a.Apply(ctx, p)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		if out.Result.Count(Applied) != p.Changes() || out.After.Changes() != 0 {
			t.Fatalf("applied %d of %d; %d changes left", out.Result.Count(Applied), p.Changes(), out.After.Changes())
		}
		checkConverged(t, c)
	})

	t.Run("second plan is empty", func(t *testing.T) {
		if p := planNow(t, a); p.Changes() != 0 || len(p.Problems) != 0 {
			t.Fatalf("second plan has %d changes, problems %+v", p.Changes(), p.Problems)
		}
	})

	t.Run("drift repair", func(t *testing.T) {
		mustExec(t, adminDB(t, c, "slave1"), "STOP SLAVE SQL_THREAD")
		mustExec(t, adminDB(t, c, "slave2"), "SET SESSION sql_log_bin = 0",
			"REVOKE DELETE ON shop.* FROM 'app'@'%'", "GRANT CREATE ON shop.* TO 'app'@'%'")
		mustExec(t, adminDB(t, c, "master2"), "SET GLOBAL read_only = OFF")

		p := planNow(t, a)
		got := map[string]bool{}
		for _, s := range p.Steps {
			got[s.Host+" "+string(s.Kind)] = true
		}
		want := map[string]bool{
			"slave1 start_replica": true,
			"slave2 grant":         true,
			"slave2 revoke":        true,
			"master2 set_variable": true,
		}
		if !reflect.DeepEqual(got, want) || len(p.Steps) != 4 {
			t.Fatalf("drift plan steps %v, want exactly %v", stepIDs(p), want)
		}
		if _, err := a.Apply(ctx, p); err != nil {
			t.Fatalf("apply: %v", err)
		}
		if p := planNow(t, a); p.Changes() != 0 {
			t.Fatalf("after repair: %v", stepIDs(p))
		}
		checkConverged(t, c)
	})

	t.Run("stale saved plan is refused", func(t *testing.T) {
		mustExec(t, adminDB(t, c, "slave2"), "STOP SLAVE")
		var saved strings.Builder
		if err := plan.Save(&saved, planNow(t, a)); err != nil {
			t.Fatal(err)
		}
		loaded, err := plan.Load(strings.NewReader(saved.String()))
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, adminDB(t, c, "master2"), "SET GLOBAL read_only = OFF")
		_, err = a.Apply(ctx, loaded)
		if !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), "master2 read_only") {
			t.Fatalf("stale plan: got %v, want ErrStalePlan naming master2 read_only", err)
		}
		if ro := readOnlyOf(t, c, "master2"); ro {
			t.Fatalf("the refused plan changed master2")
		}
		// A fresh plan fixes both.
		if _, err := a.Apply(ctx, planNow(t, a)); err != nil {
			t.Fatalf("apply: %v", err)
		}
	})

	t.Run("a saved plan without drift applies with its secrets re-planned", func(t *testing.T) {
		mustExec(t, adminDB(t, c, "slave1"), "SET SESSION sql_log_bin = 0", "ALTER USER 'app'@'%' IDENTIFIED BY 'not-declared'")
		var saved strings.Builder
		if err := plan.Save(&saved, planNow(t, a)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(saved.String(), "lab-app-secret") {
			t.Fatalf("saved plan holds a secret")
		}
		loaded, _ := plan.Load(strings.NewReader(saved.String()))
		if _, err := a.Apply(ctx, loaded); err != nil {
			t.Fatalf("apply saved plan: %v", err)
		}
		loginAs(t, c.Host("slave1"), "app", "lab-app-secret")
	})

	t.Run("wrong admin password changes nothing", func(t *testing.T) {
		mustExec(t, adminDB(t, c, "slave1"), "STOP SLAVE")
		bad := withAdminPassword(c, "wrong-password")
		b := newApplier(bad)
		defer b.DBs.(*Pool).Close()
		_, err := b.Apply(ctx, planNow(t, a))
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "Access denied") {
			t.Fatalf("got %v, want ErrIncomplete with Access denied", err)
		}
		if running := replicaRunning(t, c, "slave1"); running {
			t.Fatalf("slave1 was started by a refused apply")
		}
	})

	t.Run("unreachable host changes nothing", func(t *testing.T) {
		gone := copyCluster(c)
		gone.Host("slave2").Address = strings.TrimSuffix(l.Subnet().Addr().String(), "0") + "250"
		b := newApplier(gone)
		defer b.DBs.(*Pool).Close()
		_, err := b.Apply(ctx, planNow(t, a))
		if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "slave2") {
			t.Fatalf("got %v, want ErrIncomplete naming slave2", err)
		}
		if running := replicaRunning(t, c, "slave1"); running {
			t.Fatalf("slave1 was started by a refused apply")
		}
	})

	t.Run("replication account that cannot log in is refused", func(t *testing.T) {
		narrow := copyCluster(c)
		for i, u := range narrow.Users {
			if u.Name == narrow.Replication.User {
				cp := *u
				cp.Host = "10.99.0.%"
				narrow.Users[i] = &cp
			}
		}
		b := newApplier(narrow)
		defer b.DBs.(*Pool).Close()
		p := planNow(t, b)
		_, err := b.Apply(ctx, p)
		if !errors.Is(err, ErrPlanProblems) || !strings.Contains(err.Error(), "cannot log in from") {
			t.Fatalf("got %v, want ErrPlanProblems about the replication account", err)
		}
		if running := replicaRunning(t, c, "slave1"); running {
			t.Fatalf("slave1 was started by a refused apply")
		}
	})

	t.Run("a second apply waits for the lock and gives up", func(t *testing.T) {
		hold := &Pool{Cluster: c}
		defer hold.Close()
		lock, err := AcquireLock(ctx, hold, []string{"master1"}, c.Name, time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Apply(ctx, planNow(t, a))
		lock.Release()
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("got %v, want ErrLocked", err)
		}
		if running := replicaRunning(t, c, "slave1"); running {
			t.Fatalf("slave1 was started by an apply that had no lock")
		}
		// With the lock free, the same plan goes through.
		if _, err := a.Apply(ctx, planNow(t, a)); err != nil {
			t.Fatalf("apply after lock release: %v", err)
		}
		checkConverged(t, c)
	})

	t.Run("VIPs: agents place them, clients reach the right servers", func(t *testing.T) {
		labtest.StartAgents(whole)
		client := &agent.Client{Cluster: c}
		a.Agents = client
		a.Inspect = func(ctx context.Context) *topology.Live {
			live := inspect.Inspect(ctx, c, inspect.Options{})
			inspect.Agents(ctx, c, client, live, 5*time.Second)
			return live
		}
		p := planNow(t, a)
		if n := countKind(p, plan.KindAssignVIP); n != 3 {
			t.Fatalf("want 3 VIP assigns, got %v", stepIDs(p))
		}
		if _, err := a.Apply(ctx, p); err != nil {
			t.Fatalf("apply: %v", err)
		}
		writerVIP := c.WriterRole().IPs[0]
		if id := serverIDVia(t, c, writerVIP); id != c.ServerIDFor(c.Host("master1")) {
			t.Fatalf("writer VIP %s reaches server_id %d, want master1's", writerVIP, id)
		}
		seen := map[uint32]bool{}
		for _, ip := range c.Role("reader").IPs {
			id := serverIDVia(t, c, ip)
			if id != c.ServerIDFor(c.Host("slave1")) && id != c.ServerIDFor(c.Host("slave2")) {
				t.Errorf("reader VIP %s reaches server_id %d, not a slave", ip, id)
			}
			seen[id] = true
		}
		if len(seen) != 2 {
			t.Errorf("the reader VIPs reach %d distinct slaves, want 2", len(seen))
		}
		if p := planNow(t, a); p.Changes() != 0 {
			t.Fatalf("after placing VIPs: %v", stepIDs(p))
		}
	})

	t.Run("VIPs: a switchover moves the writer VIP, never on two hosts", func(t *testing.T) {
		writerVIP := c.WriterRole().IPs[0]
		for _, to := range []string{"master2", "master1"} {
			from := map[string]string{"master2": "master1", "master1": "master2"}[to]
			// As an operator does it: change prefer in the file, apply with --allow-unsafe.
			preferred := withPrefer(c, to)
			move := *a
			move.AllowUnsafe = true
			move.Diff = func(l *topology.Live) *plan.Plan {
				return plan.Diff(preferred, l, plan.Options{Now: time.Now(), AllowUnsafe: true})
			}
			stop := make(chan struct{})
			both := make(chan [2]int)
			go func() { n, total := sampleHolders(l, writerVIP, []string{to, from}, stop); both <- [2]int{n, total} }()
			if _, err := move.Apply(ctx, planNow(t, &move)); err != nil {
				close(stop)
				<-both
				t.Fatalf("switchover to %s: %v", to, err)
			}
			start := time.Now()
			var id uint32
			for time.Since(start) < 10*time.Second {
				if id = serverIDViaQuiet(c, writerVIP); id == c.ServerIDFor(c.Host(to)) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			close(stop)
			if r := <-both; r[0] > 0 || r[1] == 0 {
				t.Errorf("switchover to %s: %d of %d samples saw %s on two namespaces", to, r[0], r[1], writerVIP)
			} else {
				t.Logf("switchover to %s: %s on one namespace at most in all %d samples", to, writerVIP, r[1])
			}
			if id != c.ServerIDFor(c.Host(to)) {
				t.Fatalf("after the switchover the writer VIP reaches server_id %d, want %s's", id, to)
			}
			t.Logf("switchover to %s: the client reached the new writer through the VIP %s after apply returned", to, time.Since(start).Round(time.Millisecond))
		}
		// Without a watch, a plain apply leaves the VIPs where they are, and
		// a writer that is not the preferred one stays (a note, no change).
		if p := planNow(t, a); p.Changes() != 0 {
			t.Fatalf("plain plan after switching back: %v", stepIDs(p))
		}
		sticky := newApplier(withPrefer(c, "master2"))
		sticky.Inspect = a.Inspect
		defer sticky.DBs.(*Pool).Close()
		if p := planNow(t, sticky); p.Changes() != 0 || len(p.Notes) == 0 {
			t.Fatalf("prefer changed without --allow-unsafe: steps %v notes %v", stepIDs(p), p.Notes)
		}
	})
}

func countKind(p *plan.Plan, k plan.Kind) int {
	n := 0
	for _, s := range p.Steps {
		if s.Kind == k {
			n++
		}
	}
	return n
}

// sampleHolders counts the samples in which both hosts held ip, and all
// samples, until stop closes. The two namespaces are read one after the
// other, so hosts must be [new holder, old holder]: when the new one already
// has the address and the old one, read later, still has it, they held it at
// the same moment. (The other order would count a clean move that happens
// between the two reads.)
func sampleHolders(l *lab.Lab, ip string, hosts []string, stop <-chan struct{}) (both, total int) {
	for {
		select {
		case <-stop:
			return both, total
		default:
		}
		total++
		n := 0
		for _, h := range hosts {
			out, _ := exec.Command("ip", "netns", "exec", l.Namespace(h), "ip", "-4", "-o", "addr", "show").Output()
			if strings.Contains(string(out), " "+ip+"/") {
				n++
			}
		}
		if n > 1 {
			both++
		}
	}
}

func serverIDVia(t *testing.T, c *topology.Cluster, ip string) uint32 {
	t.Helper()
	id := serverIDViaQuiet(c, ip)
	if id == 0 {
		t.Fatalf("no answer through %s", ip)
	}
	return id
}

func serverIDViaQuiet(c *topology.Cluster, ip string) uint32 {
	h := *c.Host("master1")
	h.Address = ip
	db, err := conn.Open(context.Background(), &h, conn.Timeouts{Connect: time.Second})
	if err != nil {
		return 0
	}
	defer db.Close()
	var id uint32
	if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
		return 0
	}
	return id
}

// checkConverged verifies the acceptance of a converged cluster from the
// servers themselves.
func checkConverged(t *testing.T, c *topology.Cluster) {
	t.Helper()
	ctx := context.Background()
	live := inspect.Inspect(ctx, c, inspect.Options{})
	writer := plan.LiveWriters(c, live)
	if writer != "master1" {
		t.Fatalf("writable masters: %q, want master1", writer)
	}
	for _, h := range c.Hosts {
		lh := live.Hosts[h.Name]
		if lh.ReadOnly != (h.Name != "master1") {
			t.Errorf("%s read_only = %v", h.Name, lh.ReadOnly)
		}
		wantSource := c.Host("master1")
		if h.Name == "master1" {
			wantSource = c.Host("master2")
		}
		rs := lh.Replica
		if rs == nil || rs.SourceHost != wantSource.Address || !rs.Running() || rs.UsingGTID != "Slave_Pos" ||
			rs.LastIOErrno != 0 || rs.LastSQLErrno != 0 {
			t.Errorf("%s replica = %+v, want running from %s with GTID and no error", h.Name, rs, wantSource.Name)
		}
		f, _ := flavor.Parse(lh.Version)
		for _, u := range c.Users {
			lu := lh.Users[u.Key()]
			if lu == nil || !lu.Exists || lu.Password != topology.PasswordMatch {
				t.Errorf("%s: account %s = %+v", h.Name, u.Key(), lu)
				continue
			}
			var want []topology.Grant
			for _, g := range u.Grants {
				want = append(want, flavor.NormalizeGrant(f, g))
			}
			if !reflect.DeepEqual(lu.Grants, want) {
				t.Errorf("%s: %s grants %+v, want %+v", h.Name, u.Key(), lu.Grants, want)
			}
		}
	}
	for _, h := range c.Hosts {
		loginAs(t, h, "app", "lab-app-secret")
	}

	// A row written on the writer reaches every host.
	w := adminDB(t, c, "master1")
	marker := fmt.Sprintf("row-%d", time.Now().UnixNano())
	mustExec(t, w, "CREATE DATABASE IF NOT EXISTS shop",
		"CREATE TABLE IF NOT EXISTS shop.probe (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))",
		"INSERT INTO shop.probe (v) VALUES ('"+marker+"')")
	start := time.Now()
	for _, h := range c.Hosts {
		db := adminDB(t, c, h.Name)
		for {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM shop.probe WHERE v = ?", marker).Scan(&n); err == nil && n == 1 {
				break
			}
			if time.Since(start) > 15*time.Second {
				t.Fatalf("the row written on master1 never reached %s", h.Name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("row written on master1 was on every host after %s", time.Since(start).Round(time.Millisecond))
}

func loginAs(t *testing.T, h *topology.Host, user, password string) {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd, cfg.Timeout = "tcp", conn.Addr(h), user, password, 2*time.Second
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	if err := db.PingContext(context.Background()); err != nil {
		t.Errorf("log in as %s on %s: %v", user, h.Name, err)
	}
}

func readOnlyOf(t *testing.T, c *topology.Cluster, host string) bool {
	t.Helper()
	var ro int
	if err := adminDB(t, c, host).QueryRow("SELECT @@global.read_only").Scan(&ro); err != nil {
		t.Fatal(err)
	}
	return ro == 1
}

func replicaRunning(t *testing.T, c *topology.Cluster, host string) bool {
	t.Helper()
	lh := inspect.InspectHost(context.Background(), c, c.Host(host), inspect.Options{})
	return lh.Replica.Running()
}

func stepIDs(p *plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.ID)
	}
	return out
}

func copyCluster(c *topology.Cluster) *topology.Cluster {
	cp := *c
	cp.Hosts = nil
	for _, h := range c.Hosts {
		hc := *h
		cp.Hosts = append(cp.Hosts, &hc)
	}
	cp.Users = append([]*topology.User(nil), c.Users...)
	return &cp
}

func withAdminPassword(c *topology.Cluster, pw string) *topology.Cluster {
	cp := copyCluster(c)
	for _, h := range cp.Hosts {
		h.Admin.Password = topology.NewSecret(pw, "test")
	}
	return cp
}

// withPrefer is c with the writer role preferring host.
func withPrefer(c *topology.Cluster, host string) *topology.Cluster {
	cp := copyCluster(c)
	cp.Roles = nil
	for _, r := range c.Roles {
		rc := *r
		if r.Name == c.ActiveMasterRole {
			rc.Prefer = host
		}
		cp.Roles = append(cp.Roles, &rc)
	}
	return cp
}
