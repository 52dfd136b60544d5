package clone_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/clone"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// withMethod is c with host's bootstrap method changed (the agents do not
// read it: apply decides the method).
func withMethod(c *topology.Cluster, host, method string) *topology.Cluster {
	cc := *c
	cc.Hosts = nil
	for _, h := range c.Hosts {
		if h.Name == host {
			hh := *h
			b := *h.Bootstrap
			b.Method = method
			hh.Bootstrap = &b
			h = &hh
		}
		cc.Hosts = append(cc.Hosts, h)
	}
	return &cc
}

// ensureData converges the four-host cluster and loads the test data on the
// writer, unless an earlier test of the package did.
func ensureData(t *testing.T, c4 *topology.Cluster, m1, s1 *sql.DB) {
	t.Helper()
	ctx := context.Background()
	a4 := newApplier(c4)
	defer a4.DBs.(*apply.Pool).Close()
	if _, err := a4.Apply(ctx, a4.Diff(a4.Inspect(ctx))); err != nil {
		t.Fatalf("apply the 4-host cluster: %v", err)
	}
	var n int
	if err := m1.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		loadData(t, m1, "shop", 20, 50_000)
	}
	waitCaughtUp(t, m1, s1, "slave1")
}

// emptyHost makes host a server that never replicated and holds no data,
// as a freshly installed one (an earlier test may have cloned it).
func emptyHost(t *testing.T, db *sql.DB) {
	t.Helper()
	mustExec(t, db, "STOP ALL SLAVES", "RESET SLAVE ALL", "SET SESSION sql_log_bin = 0")
	rows, err := db.Query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') AND SCHEMA_NAME NOT LIKE '#mysql50#%'")
	if err != nil {
		t.Fatal(err)
	}
	var drop []string
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		drop = append(drop, "DROP DATABASE `"+s+"`")
	}
	rows.Close()
	mustExec(t, db, append(append([]string{"SET SESSION sql_log_bin = 0"}, drop...),
		"RESET MASTER", "SET GLOBAL gtid_slave_pos = ''", "SET GLOBAL read_only = OFF")...)
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestBootstrapPhysical is the acceptance of the physical method on MariaDB:
// slave3, empty, with bootstrap { method = "physical" }, gets a mariabackup
// of slave1 streamed between the agents while the writer takes writes; a
// `mmm apply` killed (SIGKILL) mid-copy leaves slave3 as it was, the re-run
// converges, and slave3 replicates with every table's checksum equal to the
// writer's.
func TestBootstrapPhysical(t *testing.T) {
	l := labtest.Get(t)
	bin, config := labtest.StartAgents(t)
	c5 := withMethod(l.Cluster(), "slave3", plan.ClonePhysical)
	// The same file with slave3's bootstrap method physical, for mmm apply.
	text, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	from := "    donor = \"slave1\"\n  }"
	if strings.Count(string(text), from) != 1 {
		t.Fatalf("the lab file has no single bootstrap block %q", from)
	}
	physicalConfig := filepath.Join(t.TempDir(), "physical.hcl")
	text = []byte(strings.Replace(string(text), from, "    donor  = \"slave1\"\n    method = \"physical\"\n  }", 1))
	if err := os.WriteFile(physicalConfig, text, 0o600); err != nil {
		t.Fatal(err)
	}
	c4 := without(c5, "slave3")
	ctx := context.Background()

	m1, s1, s3 := adminDB(t, c5, "master1"), adminDB(t, c5, "slave1"), adminDB(t, c5, "slave3")
	ensureData(t, c4, m1, s1)
	emptyHost(t, s3)

	w := startWrites(t, m1, "shop")
	stopped := false
	defer func() {
		if !stopped {
			w.Stop(t)
		}
	}()

	a5 := newApplier(c5)
	agents := &agent.Client{Cluster: c5}
	a5.Agents = agents
	a5.Inspect = func(ctx context.Context) *topology.Live {
		live := inspect.Inspect(ctx, c5, inspect.Options{})
		inspect.Agents(ctx, c5, agents, live, 3*time.Second)
		return live
	}
	defer a5.DBs.(*apply.Pool).Close()
	var notes []string
	a5.Progress = func(e apply.Event) {
		if e.Note != "" {
			notes = append(notes, e.Note)
		}
	}
	var datadir string
	if err := s3.QueryRow("SELECT @@datadir").Scan(&datadir); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(datadir, ".mmm-clone")
	// A data directory on a mount point of its own has lost+found, which the
	// server lists as a database (#mysql50#lost+found): still an empty server.
	if err := os.MkdirAll(filepath.Join(datadir, "lost+found"), 0o700); err != nil {
		t.Fatal(err)
	}

	t.Run("mmm apply killed mid-copy leaves the target as it was", func(t *testing.T) {
		p := a5.Diff(a5.Inspect(ctx))
		cs := cloneStep(p, "slave3")
		if cs == nil || cs.Clone.Method != plan.ClonePhysical || cs.Clone.Tool != plan.ToolMariabackup || cs.Unsafe {
			t.Fatalf("want a safe mariabackup clone step for slave3; steps: %+v problems: %+v", p.Steps, p.Problems)
		}
		// The real thing: mmm apply as an operator runs it, killed with
		// SIGKILL once the copy is under way on slave3.
		cmd := exec.Command(bin, "apply", "--config", physicalConfig, "--auto-approve")
		var output bytes.Buffer
		cmd.Stdout, cmd.Stderr = &output, &output
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var seen int64
	poll:
		for {
			select {
			case err := <-exited:
				t.Fatalf("mmm apply ended (%v) before the copy could be killed:\n%s", err, output.String())
			case <-time.After(5 * time.Millisecond):
				if seen = dirBytes(work); seen > 8<<20 {
					break poll
				}
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
		t.Logf("mmm apply killed after %d bytes arrived on slave3", seen)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Stat(work); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the partial copy %s is still there", work)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var schemas int
		if err := s3.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') AND SCHEMA_NAME NOT LIKE '#mysql50#%'").Scan(&schemas); err != nil || schemas != 0 {
			t.Fatalf("slave3 after the interrupted copy: %d user schemas (%v), want an untouched empty server", schemas, err)
		}
	})

	t.Run("re-run converges", func(t *testing.T) {
		p := a5.Diff(a5.Inspect(ctx))
		if cs := cloneStep(p, "slave3"); cs == nil || cs.Clone.Method != plan.ClonePhysical {
			t.Fatalf("want the physical clone again; steps %+v problems %+v", p.Steps, p.Problems)
		}
		t0 := time.Now()
		out, err := a5.Apply(ctx, p)
		if err != nil {
			t.Fatalf("apply: %v", err)
		}
		t.Logf("apply with the physical copy took %s; %d orders written meanwhile", time.Since(t0).Round(time.Millisecond), w.written.Load())
		if out.Second == nil || out.Second.Step("slave3:change_source:replica") == nil {
			t.Errorf("no second round pointing slave3 at the writer: %+v", out.Second)
		}
		if out.After.Changes() != 0 {
			t.Fatalf("not converged: %+v", out.After.Steps)
		}
		t.Logf("apply said: %q", notes)
		if n := strings.Join(notes, "\n"); !regexp.MustCompile(`slave3: copy verified: (2\d|[3-9]\d|\d{3,}) table`).MatchString(n) || !strings.Contains(n, "checksums of slave1") {
			t.Errorf("no verification of the copy against slave1 reported: %q", notes)
		}
	})

	t.Run("replicates and equals the writer", func(t *testing.T) {
		w.Stop(t)
		stopped = true
		if w.written.Load() == 0 {
			t.Fatal("no writes went on during the copy")
		}
		equalsWriter(t, c5, m1, s3)
		var marker int
		if err := s3.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'mmm_clone'").Scan(&marker); err != nil || marker != 0 {
			t.Errorf("the marker schema is still on slave3 (%d, %v)", marker, err)
		}
		if _, err := os.Stat(work); !os.IsNotExist(err) {
			t.Errorf("the work directory %s is still there (%v)", work, err)
		}
		if _, err := os.Stat(filepath.Join(datadir, ".mmm-old")); !os.IsNotExist(err) {
			t.Errorf("slave3's old data directory is still there (%v)", err)
		}
		if p := a5.Diff(a5.Inspect(ctx)); p.Changes() != 0 {
			t.Errorf("plan after the bootstrap has changes: %+v", p.Steps)
		}
	})

	t.Run("a differing table is named and the copy marked partial", func(t *testing.T) {
		// A row changed behind replication's back on slave3 only.
		mustExec(t, s3, "SET SESSION sql_log_bin = 0", "UPDATE shop.t07 SET n = n + 1 WHERE id = 4242")
		v, err := clone.VerifyReplicas(ctx, c5.Host("slave1"), c5.Host("slave3"), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Mismatches) != 1 || v.Mismatches[0] != "shop.t07" || v.Tables < 20 {
			t.Fatalf("verification %+v, want only shop.t07 named among %d+ tables", v, 20)
		}
		// Both resumed (the IO thread takes a moment to connect again).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			lh := inspect.InspectHost(ctx, c5, c5.Host("slave1"), inspect.Options{})
			if lh.Replica != nil && lh.Replica.Running() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("slave1 does not replicate after the verification: %+v", lh.Replica)
			}
		}
		if err := clone.MarkPartial(ctx, c5.Host("slave3")); err != nil {
			t.Fatal(err)
		}
		p := a5.Diff(a5.Inspect(ctx))
		if cs := cloneStep(p, "slave3"); cs == nil || !strings.HasPrefix(cs.Change, "partial clone") || cs.Unsafe {
			t.Errorf("after MarkPartial, want a safe redo of the copy; steps %+v problems %+v", p.Steps, p.Problems)
		}
	})

	t.Run("a copy the server does not start on is rolled back", func(t *testing.T) {
		// slave3 is a partial clone now (above). Its start command fails
		// once, right after the swap: the server must come back on its own
		// files, and the copy must be out of the way.
		sc, err := l.ServerControl("slave3")
		if err != nil {
			t.Fatal(err)
		}
		flag := filepath.Join(t.TempDir(), "fail-next-start")
		if err := os.WriteFile(flag, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		ns := l.Namespace("slave3")
		srv := &clone.LocalServer{
			Host:         c5.Host("slave3"),
			StartCommand: fmt.Sprintf(`if [ -e %q ]; then rm -f %q; echo refusing to start; exit 1; fi; ip netns exec %s sh -c '%s'`, flag, flag, ns, sc.Start),
			StopCommand:  sc.Stop,
			DefaultsFile: sc.DefaultsFile,
			StateDir:     t.TempDir(),
			StartTimeout: time.Minute,
		}
		src := func(ctx context.Context) (io.ReadCloser, int64, error) { return agents.Backup(ctx, "slave1") }
		_, err = srv.Restore(ctx, "slave1", src, false, nil)
		if err == nil || !strings.Contains(err.Error(), "does not start on the copy") || !strings.Contains(err.Error(), "runs on its own data again") {
			t.Fatalf("Restore = %v, want a rollback", err)
		}
		t.Logf("Restore: %v", err)
		var marker int
		if err := s3.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'mmm_clone'").Scan(&marker); err != nil || marker != 1 {
			t.Errorf("slave3 is not back on its own files (a partial clone with the marker): %d, %v", marker, err)
		}
		for _, dir := range []string{".mmm-old", ".mmm-clone"} {
			if _, err := os.Stat(filepath.Join(datadir, dir)); !os.IsNotExist(err) {
				t.Errorf("%s is still there after the rollback (%v)", dir, err)
			}
		}
		if _, err := os.Stat(filepath.Join(srv.StateDir, "clone-swap.json")); !os.IsNotExist(err) {
			t.Errorf("the swap journal is still there after the rollback (%v)", err)
		}
	})
}
