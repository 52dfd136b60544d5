package clone_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// internal/clone has the lab subnet 198.18.8.0/24: the lab file's four hosts
// plus slave3, an operator's new host block with a bootstrap block, empty
// when the lab starts. It is appended to the file rather than kept in a copy
// of it, so the two cannot drift, and the agents read it too.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.8"), labtest.AppendHCL(slave3HCL))
}

const slave3HCL = `host "slave3" {
  address = "198.18.0.15"
  mode    = "slave"
  bootstrap {
    donor = "slave1"
  }
}
`

func without(c *topology.Cluster, name string) *topology.Cluster {
	cc := *c
	cc.Hosts = nil
	for _, h := range c.Hosts {
		if h.Name != name {
			cc.Hosts = append(cc.Hosts, h)
		}
	}
	return &cc
}

func newApplier(c *topology.Cluster) *apply.Applier {
	return &apply.Applier{
		Cluster: c,
		Inspect: func(ctx context.Context) *topology.Live { return inspect.Inspect(ctx, c, inspect.Options{}) },
		Diff: func(l *topology.Live) *plan.Plan {
			return plan.Diff(c, l, plan.Options{Now: time.Now()})
		},
		DBs:        &apply.Pool{Cluster: c},
		LockWait:   5 * time.Second,
		SettleTime: 15 * time.Second,
	}
}

func adminDB(t testing.TB, c *topology.Cluster, host string) *sql.DB {
	t.Helper()
	db, err := conn.Open(context.Background(), c.Host(host), conn.Timeouts{Query: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range stmts {
		if _, err := c.ExecContext(ctx, s); err != nil {
			t.Fatalf("%.200s: %v", s, err)
		}
	}
}

// loadData writes 20 tables of 50,000 rows, a table of blobs with every byte
// value, tables without a primary key or with a composite one, BIT columns,
// utf8mb4 and latin1 text, a view, a routine, a trigger and an account.
func loadData(t testing.TB, db *sql.DB, schema string, tables, rowsPerTable int) {
	t.Helper()
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS " + schema,
		"USE " + schema,
	}
	for i := 1; i <= tables; i++ {
		stmts = append(stmts,
			fmt.Sprintf("CREATE TABLE t%02d (id BIGINT PRIMARY KEY, n INT NOT NULL, s VARCHAR(64), d DATETIME, p DECIMAL(10,2), f DOUBLE, KEY (n)) ENGINE=InnoDB", i),
			fmt.Sprintf("INSERT INTO t%02d SELECT seq, seq %% 1000, MD5(seq), '2024-01-01' + INTERVAL seq SECOND, seq / 7, seq / 3.0 FROM seq_1_to_%d", i, rowsPerTable))
	}
	stmts = append(stmts,
		"CREATE TABLE blobs (id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB, note TEXT CHARACTER SET utf8mb4, flags BIT(5), l VARCHAR(20) CHARACTER SET latin1)",
		"INSERT INTO blobs (b, note, flags, l) SELECT UNHEX(REPEAT(CONCAT(SHA2(seq, 256), '00270A0D5C1A22'), 64)), CONCAT('naïve ☃ 🐬 ', seq), seq % 32, CONCAT('café ', seq) FROM seq_1_to_3000",
		"INSERT INTO blobs (id, b, note) VALUES (0, '', NULL)",
		"CREATE TABLE nokey (a INT, b VARCHAR(10))",
		"INSERT INTO nokey SELECT seq % 10, NULL FROM seq_1_to_1000",
		"CREATE TABLE pairs (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
		"INSERT INTO pairs SELECT seq, CHAR(65 + seq % 26), seq FROM seq_1_to_5000",
		"CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(20), qty INT, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))",
		"CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT)",
		"CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (order_id) VALUES (NEW.id)",
		"CREATE VIEW big_orders AS SELECT id, qty FROM orders WHERE qty > 5",
		"CREATE VIEW biggest AS SELECT MAX(qty) AS m FROM big_orders",
		"CREATE PROCEDURE add_order(q INT) INSERT INTO orders (item, qty) VALUES ('proc', q)",
		"CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN 2 * x",
		"CREATE USER IF NOT EXISTS 'reporting'@'198.18.%' IDENTIFIED BY 'reporting-pw'",
		"GRANT SELECT ON "+schema+".* TO 'reporting'@'198.18.%'",
	)
	mustExec(t, db, stmts...)
}

// writer inserts orders on the writer until stopped.
type writer struct {
	stop    chan struct{}
	done    sync.WaitGroup
	written atomic.Int64
	err     atomic.Value
}

func startWrites(t *testing.T, db *sql.DB, schema string) *writer {
	w := &writer{stop: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := db.ExecContext(ctx, "INSERT INTO "+schema+".orders (item, qty) VALUES (?, ?)", fmt.Sprintf("item%d", i), i%10)
			if err == nil && i%5 == 0 {
				_, err = db.ExecContext(ctx, "UPDATE "+schema+".t01 SET n = n + 1 WHERE id = ?", i%50000+1)
			}
			cancel()
			if err != nil {
				w.err.Store(err)
				return
			}
			w.written.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func (w *writer) Stop(t *testing.T) {
	close(w.stop)
	w.done.Wait()
	if err, _ := w.err.Load().(error); err != nil {
		t.Errorf("writes on the writer failed: %v", err)
	}
}

func waitCaughtUp(t *testing.T, src, dst *sql.DB, name string) {
	t.Helper()
	var pos string
	if err := src.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	var rc sql.NullInt64
	if err := dst.QueryRow("SELECT MASTER_GTID_WAIT(?, 120)", pos).Scan(&rc); err != nil || !rc.Valid || rc.Int64 != 0 {
		t.Fatalf("%s did not reach %s: %v %v", name, pos, rc, err)
	}
}

func checksums(t *testing.T, db *sql.DB, schema string) map[string]string {
	t.Helper()
	tables, err := db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", schema)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		_ = tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	out := map[string]string{}
	for _, n := range names {
		var tbl string
		var sum sql.NullString
		if err := db.QueryRow("CHECKSUM TABLE "+flavor.QuoteIdent(schema)+"."+flavor.QuoteIdent(n)).Scan(&tbl, &sum); err != nil {
			t.Fatal(err)
		}
		out[n] = sum.String
	}
	return out
}

// equalsWriter waits until slave3 caught up with master1 and checks that it
// replicates without error and that every table of shop has the writer's
// checksum.
func equalsWriter(t *testing.T, c *topology.Cluster, m1, s3 *sql.DB) {
	t.Helper()
	waitCaughtUp(t, m1, s3, "slave3")
	lh := inspect.InspectHost(context.Background(), c, c.Host("slave3"), inspect.Options{})
	if lh.Replica == nil || !lh.Replica.Running() || lh.Replica.LastSQLErrno != 0 || lh.Replica.LastIOErrno != 0 {
		t.Fatalf("slave3 replica: %+v", lh.Replica)
	}
	want, got := checksums(t, m1, "shop"), checksums(t, s3, "shop")
	if len(want) < 20 {
		t.Fatalf("only %d tables on the writer", len(want))
	}
	for tbl, sum := range want {
		if got[tbl] != sum {
			t.Errorf("table shop.%s: checksum %s on slave3, %s on master1", tbl, got[tbl], sum)
		}
	}
}

func cloneStep(p *plan.Plan, host string) *plan.Step {
	for i := range p.Steps {
		if p.Steps[i].Kind == plan.KindCloneHost && p.Steps[i].Host == host {
			return &p.Steps[i]
		}
	}
	return nil
}

func TestBootstrapSlave3(t *testing.T) {
	l := labtest.Get(t)
	c5 := l.Cluster()
	c4 := without(c5, "slave3")
	ctx := context.Background()

	a4 := newApplier(c4)
	defer a4.DBs.(*apply.Pool).Close()
	p := a4.Diff(a4.Inspect(ctx))
	if _, err := a4.Apply(ctx, p); err != nil {
		t.Fatalf("apply the 4-host cluster: %v", err)
	}

	m1, s1, s3 := adminDB(t, c5, "master1"), adminDB(t, c5, "slave1"), adminDB(t, c5, "slave3")
	t0 := time.Now()
	loadData(t, m1, "shop", 20, 50_000)
	waitCaughtUp(t, m1, s1, "slave1")
	t.Logf("loaded 1,009,000 rows on master1 and replicated in %s", time.Since(t0).Round(time.Millisecond))

	w := startWrites(t, m1, "shop")
	stopped := false
	defer func() {
		if !stopped {
			w.Stop(t)
		}
	}()

	a5 := newApplier(c5)
	defer a5.DBs.(*apply.Pool).Close()

	t.Run("interrupted clone", func(t *testing.T) {
		p := a5.Diff(a5.Inspect(ctx))
		cs := cloneStep(p, "slave3")
		if cs == nil || cs.Clone.Donor != "slave1" || cs.Unsafe {
			t.Fatalf("want a safe clone step from slave1 for slave3; steps: %+v problems: %+v", p.Steps, p.Problems)
		}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { // cancel as soon as rows arrive on slave3
			for cctx.Err() == nil {
				var n sql.NullInt64
				_ = s3.QueryRowContext(cctx, "SELECT SUM(TABLE_ROWS) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'").Scan(&n)
				if n.Int64 > 50_000 {
					cancel()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		if _, err := a5.Apply(cctx, p); err == nil {
			t.Fatal("apply with a clone cancelled midway succeeded")
		}
		var marker int
		if err := s3.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", clone.MarkerSchema).Scan(&marker); err != nil || marker != 1 {
			t.Fatalf("slave3 is not marked as a partial clone (%d, %v)", marker, err)
		}
	})

	t.Run("re-run converges", func(t *testing.T) {
		p := a5.Diff(a5.Inspect(ctx))
		cs := cloneStep(p, "slave3")
		if cs == nil || !strings.HasPrefix(cs.Change, "partial clone") || cs.Unsafe {
			t.Fatalf("want a safe re-clone of the partial clone; steps %+v", p.Steps)
		}
		t0 := time.Now()
		out, err := a5.Apply(ctx, p)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		t.Logf("apply with the clone took %s; %d orders written meanwhile", time.Since(t0).Round(time.Millisecond), w.written.Load())
		if out.After.Changes() != 0 {
			t.Fatalf("not converged: %+v", out.After.Steps)
		}
	})

	t.Run("replicates and equals the writer", func(t *testing.T) {
		w.Stop(t)
		stopped = true
		if w.written.Load() == 0 {
			t.Fatal("no writes went on during the clone")
		}
		equalsWriter(t, c5, m1, s3)
		var n int
		if err := s3.QueryRow("SELECT COUNT(*) FROM mysql.user WHERE User = 'reporting'").Scan(&n); err != nil || n != 1 {
			t.Errorf("account reporting not copied (%d, %v)", n, err)
		}
		var m, two sql.NullInt64
		if err := s3.QueryRow("SELECT (SELECT m FROM shop.biggest), shop.twice(1)").Scan(&m, &two); err != nil || two.Int64 != 2 {
			t.Errorf("views/functions on slave3: %v %v %v", m, two, err)
		}
		var trig int
		if err := s3.QueryRow("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'shop'").Scan(&trig); err != nil || trig != 1 {
			t.Errorf("trigger not copied (%d, %v)", trig, err)
		}
		if p := a5.Diff(a5.Inspect(ctx)); p.Changes() != 0 {
			t.Errorf("plan after the bootstrap has changes: %+v", p.Steps)
		}
	})
}
