package inspect

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// The inspect tests have the lab subnet 198.18.1.0/24 to themselves.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.1"))
}

func labCluster(t *testing.T) *topology.Cluster {
	t.Helper()
	return labtest.Get(t).Cluster()
}

func labDB(t *testing.T, host string) *sql.DB {
	t.Helper()
	db, err := labtest.Get(t).DB(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", strings.SplitN(s, " IDENTIFIED", 2)[0], err)
		}
	}
}

// copyCluster copies the cluster and its hosts so a test can change them.
func copyCluster(c *topology.Cluster) *topology.Cluster {
	cp := *c
	cp.Hosts = nil
	for _, h := range c.Hosts {
		hc := *h
		cp.Hosts = append(cp.Hosts, &hc)
	}
	return &cp
}

func TestInspectBareServers(t *testing.T) {
	c := labCluster(t)
	live := Inspect(context.Background(), c, Options{})
	if len(live.Hosts) != len(c.Hosts) {
		t.Fatalf("%d hosts inspected, want %d", len(live.Hosts), len(c.Hosts))
	}
	ids := map[uint32]string{}
	for _, h := range c.Hosts {
		lh := live.Hosts[h.Name]
		if lh == nil || !lh.Reachable {
			t.Fatalf("%s not reachable: %+v", h.Name, lh)
		}
		f, err := flavor.Parse(lh.Version)
		if err != nil || !f.IsMariaDB() {
			t.Errorf("%s: version %q parsed as %v, %v", h.Name, lh.Version, f, err)
		}
		if lh.ServerID == 0 {
			t.Errorf("%s: server_id 0", h.Name)
		}
		if other, dup := ids[lh.ServerID]; dup {
			t.Errorf("%s and %s share server_id %d", h.Name, other, lh.ServerID)
		}
		ids[lh.ServerID] = h.Name
		if !lh.LogBin {
			t.Errorf("%s: log_bin off", h.Name)
		}
		if lh.Replica != nil {
			t.Errorf("%s: replica configured on a bare server: %+v", h.Name, lh.Replica)
		}
		if lh.AutoIncrementIncrement < 1 || lh.AutoIncrementOffset < 1 {
			t.Errorf("%s: auto_increment %d/%d", h.Name, lh.AutoIncrementIncrement, lh.AutoIncrementOffset)
		}
		for _, u := range c.Users {
			lu := lh.Users[u.Key()]
			if lu == nil {
				t.Errorf("%s: declared user %s missing from Users", h.Name, u.Key())
				continue
			}
			if lu.Exists {
				t.Errorf("%s: user %s exists on a bare server", h.Name, u.Key())
			}
		}
		if len(lh.UserSchemas) != 0 {
			t.Errorf("%s: user schemas %v on a bare server", h.Name, lh.UserSchemas)
		}
	}
}

func TestInspectSeesUserAndGrants(t *testing.T) {
	c := labCluster(t)
	app := c.User("app", "%")
	mon := findUser(c, "mmm_monitor")
	if app == nil || mon == nil {
		t.Fatal("lab file lacks the app or mmm_monitor user")
	}
	db := labDB(t, "master1")
	f, _ := flavor.Parse("10.11.0-MariaDB")
	create, _ := f.CreateUser(app.Name, app.Host, app.Password.Value())
	wrong, _ := f.CreateUser(mon.Name, mon.Host, "not-the-declared-password")
	grant, _ := f.Grant(app.Name, app.Host, topology.Grant{On: "shop.*", Privileges: []string{"SELECT", "INSERT", "UPDATE", "DELETE"}})
	exec(t, db, "SET SESSION sql_log_bin = 0", create.SQL(), wrong.SQL(), grant.SQL(), "CREATE DATABASE shop")
	t.Cleanup(func() {
		exec(t, db, "SET SESSION sql_log_bin = 0", f.DropUser(app.Name, app.Host).SQL(),
			f.DropUser(mon.Name, mon.Host).SQL(), "DROP DATABASE shop")
	})

	lh := InspectHost(context.Background(), c, c.Host("master1"), Options{})
	if !lh.Reachable {
		t.Fatal(lh.Error)
	}
	la := lh.Users[app.Key()]
	if !la.Exists || la.Password != topology.PasswordMatch || la.Plugin != flavor.PluginNative {
		t.Errorf("app: %+v", la)
	}
	var want []topology.Grant
	for _, g := range app.Grants {
		want = append(want, flavor.NormalizeGrant(f, g))
	}
	if !reflect.DeepEqual(la.Grants, want) {
		t.Errorf("app grants %+v, want %+v", la.Grants, want)
	}
	if lm := lh.Users[mon.Key()]; !lm.Exists || lm.Password != topology.PasswordMismatch || len(lm.Grants) != 0 {
		t.Errorf("mmm_monitor: %+v", lm)
	}
	if !reflect.DeepEqual(lh.UserSchemas, []string{"shop"}) {
		t.Errorf("user schemas %v, want [shop]", lh.UserSchemas)
	}
}

func findUser(c *topology.Cluster, name string) *topology.User {
	for _, u := range c.Users {
		if u.Name == name {
			return u
		}
	}
	return nil
}

func TestInspectReplica(t *testing.T) {
	c := labCluster(t)
	repl := c.ReplicationUser()
	master, slave := c.Host("master1"), c.Host("slave1")
	mdb, sdb := labDB(t, "master1"), labDB(t, "slave1")
	f, _ := flavor.Parse("10.11.0-MariaDB")
	create, _ := f.CreateUser(repl.Name, repl.Host, repl.Password.Value())
	grant, _ := f.Grant(repl.Name, repl.Host, topology.Grant{On: "*.*", Privileges: []string{"REPLICATION SLAVE"}})
	exec(t, mdb, "SET SESSION sql_log_bin = 0", create.SQL(), grant.SQL())
	change, err := f.ChangeSource(flavor.SourceOptions{
		Host: master.Address, Port: master.Port, User: repl.Name, Password: repl.Password.Value(),
		GTID: true, ConnectRetry: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The lab's servers have GTIDs of their own in domain 0 and run
	// gtid_strict_mode, so the replica starts from the master's position, as
	// a bootstrapped slave would.
	masterPos := queryString(t, mdb, "SELECT @@gtid_binlog_pos")
	startAt, err := f.SetGTIDSlavePos(masterPos)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, sdb, startAt.SQL(), change.SQL(), f.StartReplica().SQL())
	t.Cleanup(func() {
		exec(t, sdb, f.StopReplica().SQL(), f.ResetReplicaAll().SQL())
		own, _ := f.SetGTIDSlavePos(queryString(t, sdb, "SELECT @@gtid_binlog_pos"))
		exec(t, sdb, own.SQL())
		exec(t, mdb, "SET SESSION sql_log_bin = 0", f.DropUser(repl.Name, repl.Host).SQL())
	})

	var r *topology.ReplicaStatus
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		lh := InspectHost(context.Background(), c, slave, Options{})
		if !lh.Reachable {
			t.Fatal(lh.Error)
		}
		if r = lh.Replica; r.Running() {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r == nil || !r.Running() {
		t.Fatalf("replica never ran: %+v", r)
	}
	if r.SourceHost != master.Address || r.SourcePort != master.Port || r.SourceUser != repl.Name || !flavor.UsesGTID(r) {
		t.Errorf("replica status %+v", r)
	}
	if r.SecondsBehind == nil || r.LastSQLErrno != 0 || r.LastIOErrno != 0 {
		t.Errorf("running replica with unknown lag or errors: %+v", r)
	}
	if r.ConnectRetry != 1 {
		t.Errorf("connect retry %d, want 1", r.ConnectRetry)
	}
}

func queryString(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func TestInspectWrongAdminPassword(t *testing.T) {
	c := copyCluster(labCluster(t))
	for _, h := range c.Hosts {
		h.Admin.Password = topology.NewSecret("wrong-password", "test")
	}
	lh := InspectHost(context.Background(), c, c.Host("master1"), Options{})
	if lh.Reachable {
		t.Fatal("reachable with a wrong admin password")
	}
	want := fmt.Sprintf("inspect master1 (%s:%d): Access denied for user 'root'@", lh.Address, lh.Port)
	if !strings.HasPrefix(lh.Error, want) || !strings.Contains(lh.Error, "check the admin user and password") {
		t.Errorf("error %q\nwant prefix %q and the admin-password cause", lh.Error, want)
	}
	if strings.Contains(lh.Error, "wrong-password") {
		t.Error("the error shows the password")
	}
}

func TestInspectUnreachable(t *testing.T) {
	l := labtest.Get(t)
	c := copyCluster(l.Cluster())
	prefix := l.Subnet().Addr().As4()
	ghost := c.Hosts[0]
	ghost.Address = fmt.Sprintf("%d.%d.%d.250", prefix[0], prefix[1], prefix[2])
	refused := c.Hosts[1]
	refused.Port = 3307

	live := Inspect(context.Background(), c, Options{Timeouts: conn.Timeouts{Connect: 500 * time.Millisecond}})
	g := live.Hosts[ghost.Name]
	if g.Reachable || !strings.Contains(g.Error, "no answer within 500ms") {
		t.Errorf("host without a server: reachable=%v error %q, want the timeout cause", g.Reachable, g.Error)
	}
	r := live.Hosts[refused.Name]
	if r.Reachable || !strings.Contains(r.Error, "nothing listens there") {
		t.Errorf("closed port: reachable=%v error %q, want the refused cause", r.Reachable, r.Error)
	}
	for _, h := range c.Hosts[2:] {
		if !live.Hosts[h.Name].Reachable {
			t.Errorf("%s unreachable because others are: %s", h.Name, live.Hosts[h.Name].Error)
		}
	}
}

// A source whose semi-sync wait times out falls back to asynchronous
// replication, and inspect says so (the watch reports it).
func TestInspectSemiSyncFallback(t *testing.T) {
	c := labCluster(t)
	mdb := labDB(t, "master1")
	exec(t, mdb, "SET GLOBAL rpl_semi_sync_master_timeout = 100", "SET GLOBAL rpl_semi_sync_master_enabled = ON")
	t.Cleanup(func() {
		exec(t, mdb, "SET GLOBAL rpl_semi_sync_master_enabled = OFF", "SET GLOBAL rpl_semi_sync_master_timeout = 10000",
			"SET SESSION sql_log_bin = 0", "DROP DATABASE IF EXISTS semisync_probe")
	})
	lh := InspectHost(context.Background(), c, c.Host("master1"), Options{})
	if !lh.Reachable || !lh.SemiSyncMasterEnabled || lh.SemiSyncSourceActive == nil || !*lh.SemiSyncSourceActive {
		t.Fatalf("semi-sync enabled and waiting: enabled %v active %v (%s)", lh.SemiSyncMasterEnabled, lh.SemiSyncSourceActive, lh.Error)
	}
	// No replica acknowledges: the commit waits the timeout, then the
	// source goes asynchronous.
	exec(t, mdb, "CREATE DATABASE semisync_probe")
	lh = InspectHost(context.Background(), c, c.Host("master1"), Options{})
	if lh.SemiSyncSourceActive == nil || *lh.SemiSyncSourceActive {
		t.Fatalf("after an unacknowledged commit: active %v, want false", lh.SemiSyncSourceActive)
	}
}

// The watch's per-round read: two statements on a kept connection, the same
// picture as a full read for what a round acts on, and never the accounts.
func TestReaderHealthIsCheap(t *testing.T) {
	c := labCluster(t)
	h := c.Host("slave1")
	ctx := context.Background()
	r := NewReader(c, h, Options{SkipAccounts: true})
	defer r.Close()
	full := r.Full(ctx)
	if !full.Reachable {
		t.Fatalf("full read: %s", full.Error)
	}
	if !full.AccountsUnread || full.Users != nil {
		t.Errorf("a reader's full read read the accounts: unread=%v users=%v", full.AccountsUnread, full.Users)
	}

	counter := labDB(t, "slave1")
	questions := func() int64 {
		var name string
		var v int64
		if err := counter.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Questions'").Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Uptime counts whole seconds: a server the lab started within the
	// last second says 0, which the assertion below would take for a read
	// without it.
	for deadline := time.Now().Add(3 * time.Second); ; {
		var name string
		var up int64
		if err := counter.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &up); err != nil {
			t.Fatal(err)
		}
		if up > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.Health(ctx) // the first one after a full read may still take the long way
	const reads = 20
	before := questions()
	var health *topology.LiveHost
	for range reads {
		health = r.Health(ctx)
		if !health.Reachable {
			t.Fatalf("health read: %s", health.Error)
		}
	}
	// The second counter read counts itself.
	sent := questions() - before - 1
	t.Logf("%d health reads sent %d statements", reads, sent)
	if sent > 2*reads {
		t.Errorf("%d health reads sent %d statements, want at most %d (two each)", reads, sent, 2*reads)
	}

	// What a round acts on is the same as the full read's.
	for _, f := range []struct {
		name       string
		full, then any
	}{
		{"read_only", full.ReadOnly, health.ReadOnly},
		{"server_id", full.ServerID, health.ServerID},
		{"gtid_current_pos", full.GTIDCurrentPos, health.GTIDCurrentPos},
		{"semi-sync replica", full.SemiSyncSlaveEnabled, health.SemiSyncSlaveEnabled},
		{"version", full.Version, health.Version},
		{"schemas", full.UserSchemas, health.UserSchemas},
		{"replica", full.Replica != nil, health.Replica != nil},
	} {
		if !reflect.DeepEqual(f.full, f.then) {
			t.Errorf("%s: full read %v, health read %v", f.name, f.full, f.then)
		}
	}
	if health.Uptime <= 0 {
		t.Errorf("health read without the server's uptime: %d", health.Uptime)
	}
	if full.Replica != nil && health.Replica.HeartbeatPeriod != full.Replica.HeartbeatPeriod {
		t.Errorf("heartbeat: full %v, health %v", full.Replica.HeartbeatPeriod, health.Replica.HeartbeatPeriod)
	}
}
