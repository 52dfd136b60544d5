package importer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/conn"
	"github.com/mysql-mmm/mmm/internal/inspect"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
	"github.com/mysql-mmm/mmm/schema"
)

// The importer tests have the lab subnet 198.18.15.0/24 to themselves. The
// lab's file runs without agents: VIPs are not what import live adopts.
func TestMain(m *testing.M) {
	labtest.Main(m, "../../examples/lab/mmm.hcl", labtest.Subnet("198.18.15"),
		labtest.Modify(func(c *topology.Cluster) { c.Agent.Enabled = false }))
}

func labExec(t *testing.T, c *topology.Cluster, host string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := conn.Open(ctx, c.Host(host), conn.Timeouts{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %s: %v", host, s, err)
		}
	}
}

// planSteps plans the file at path against the servers as `mmm plan` does
// (without agents) and returns its steps as the import lists them.
func planSteps(t *testing.T, path string, env map[string]string) []string {
	t.Helper()
	loader := schema.NewLoader(schema.Options{RequireSecrets: true, LookupEnv: func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}})
	c, diags := loader.Load(path)
	if diags.HasErrors() {
		t.Fatalf("load the imported file: %v", diags)
	}
	ctx := context.Background()
	p := plan.Diff(c, inspect.Inspect(ctx, c, inspect.Options{}), plan.Options{Now: time.Now()})
	for _, pr := range p.Problems {
		t.Errorf("plan problem: %s: %s", pr.Summary, pr.Detail)
	}
	var out []string
	for _, s := range p.Steps {
		out = append(out, StepLine(s))
	}
	sort.Strings(out)
	return out
}

func TestImportLive(t *testing.T) {
	l := labtest.Get(t)
	c := l.Cluster()
	ctx := context.Background()

	// converge the lab with its own file, as `mmm apply` would
	a := &apply.Applier{
		Cluster:  c,
		Inspect:  func(ctx context.Context) *topology.Live { return inspect.Inspect(ctx, c, inspect.Options{}) },
		Diff:     func(live *topology.Live) *plan.Plan { return plan.Diff(c, live, plan.Options{Now: time.Now()}) },
		DBs:      &apply.Pool{Cluster: c},
		LockWait: 5 * time.Second,
	}
	defer a.DBs.(*apply.Pool).Close()
	out, err := a.Apply(ctx, a.Diff(a.Inspect(ctx)))
	if err != nil {
		t.Fatalf("apply the lab file: %v", err)
	}
	if out.After != nil && out.After.Changes() > 0 {
		t.Fatalf("the lab did not converge: %d steps left", out.After.Changes())
	}

	// an account the file does not declare, which import must find, and
	// one setting mmm wants otherwise, which import must list
	const reportingPassword = "lab-reporting-secret"
	for _, h := range c.Hosts {
		labExec(t, c, h.Name, "SET SESSION sql_log_bin = 0",
			"CREATE USER IF NOT EXISTS 'reporting'@'198.18.15.%' IDENTIFIED BY '"+reportingPassword+"'",
			"GRANT SELECT ON shop.* TO 'reporting'@'198.18.15.%'")
	}
	labExec(t, c, "slave2", "SET GLOBAL slave_net_timeout = 60")
	defer labExec(t, c, "slave2", "SET GLOBAL slave_net_timeout = 4")
	// and a slave on binary log positions, as MySQL-MMM 2 ran them
	labExec(t, c, "slave1", "STOP SLAVE", "CHANGE MASTER TO MASTER_USE_GTID = no", "START SLAVE")
	defer labExec(t, c, "slave1", "STOP SLAVE", "CHANGE MASTER TO MASTER_USE_GTID = slave_pos, MASTER_HEARTBEAT_PERIOD = 1", "START SLAVE")

	env := map[string]string{
		EnvAdminPassword:           c.Host("master1").Admin.Password.Value(),
		EnvReplicationPassword:     c.ReplicationUser().Password.Value(),
		"MMM_PASSWORD_MMM_MONITOR": findUser(t, c, "mmm_monitor").Password.Value(),
		"MMM_PASSWORD_APP":         findUser(t, c, "app").Password.Value(),
		"MMM_PASSWORD_REPORTING":   reportingPassword,
		EnvAgentToken:              "token-a",
		EnvMonitorToken:            "token-m",
	}
	writerVIP := c.Role("writer").IPs[0]
	readerVIPs := c.Role("reader").IPs
	// from a slave: discovery goes up to the writer and down to the others
	f, findings, err := FromLive(ctx, LiveOptions{
		Address:       c.Host("slave1").Address + ":3306",
		AdminUser:     c.Host("slave1").Admin.User,
		AdminPassword: env[EnvAdminPassword],
		Cluster:       "lab",
		WriterVIP:     writerVIP,
		ReaderVIPs:    readerVIPs,
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
	})
	if err != nil {
		t.Fatalf("import live: %v", err)
	}
	var report strings.Builder
	findings.Write(&report)
	t.Logf("report:\n%s", report.String())
	if findings.HasProblems() {
		t.Errorf("import live reported problems:\n%s", report.String())
	}
	src := Render(f)
	t.Logf("imported:\n%s", src)
	checkGenerated(t, src)
	for _, secret := range env {
		if strings.Contains(string(src), secret) || strings.Contains(report.String(), secret) {
			t.Errorf("a secret is in the output")
		}
	}

	// the topology is the lab's: same hosts, modes, writer, replication user
	var hosts []string
	for _, h := range f.Hosts {
		hosts = append(hosts, h.Name+"="+h.Address+"/"+h.Mode+"/"+h.Peer)
	}
	var want []string
	for _, h := range c.Hosts {
		want = append(want, h.Name+"="+h.Address+"/"+string(h.Mode)+"/"+h.Peer)
	}
	if strings.Join(hosts, " ") != strings.Join(want, " ") {
		t.Errorf("hosts:\n  %s\nwant\n  %s", strings.Join(hosts, "\n  "), strings.Join(want, "\n  "))
	}
	if f.Replication.User != c.Replication.User || !f.Replication.SemiSync {
		t.Errorf("replication %+v, want user %s with semi-sync", f.Replication, c.Replication.User)
	}
	var accounts []string
	for _, u := range f.Users {
		accounts = append(accounts, topology.AccountKey(u.Name, u.Host))
	}
	sort.Strings(accounts)
	wantAccounts := []string{"'app'@'%'", "'mmm_monitor'@'198.18.15.%'", "'replication'@'198.18.15.%'", "'reporting'@'198.18.15.%'"}
	if strings.Join(accounts, " ") != strings.Join(wantAccounts, " ") {
		t.Errorf("accounts %v, want %v", accounts, wantAccounts)
	}

	// mmm plan on the imported file: exactly the steps import listed
	path := filepath.Join(t.TempDir(), "mmm.hcl")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	steps := planSteps(t, path, env)
	var listed []string
	for _, fd := range findings {
		if fd.Key == "plan" && !strings.HasPrefix(fd.Message, "no changes") {
			listed = append(listed, fd.Message)
		}
	}
	sort.Strings(listed)
	if strings.Join(steps, "\n") != strings.Join(listed, "\n") {
		t.Errorf("mmm plan on the imported file:\n  %s\nimport listed:\n  %s", strings.Join(steps, "\n  "), strings.Join(listed, "\n  "))
	}
	// what mmm changes: slave2's timeout, slave1's channel to GTID; nothing else
	var other []string
	netTimeout, gtid := false, false
	for _, s := range steps {
		switch {
		case strings.HasPrefix(s, `~ slave2: host "slave2" slave_net_timeout = 60 -> 4`):
			netTimeout = true
		case strings.HasPrefix(s, `~ slave1: host "slave1" source = master1 -> master1`) && strings.Contains(s, "GTID mode No"):
			gtid = true
		case strings.HasPrefix(s, "~ slave1: "):
		default:
			other = append(other, s)
		}
	}
	if !netTimeout || !gtid || len(other) > 0 {
		t.Errorf("plan steps:\n  %s\nwant slave2's slave_net_timeout and slave1's switch to GTID only", strings.Join(steps, "\n  "))
	}
}

func findUser(t *testing.T, c *topology.Cluster, name string) *topology.User {
	t.Helper()
	for _, u := range c.Users {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("the lab file declares no user %s", name)
	return nil
}

// TestImportLiveThroughVIP starts from the writer's virtual IP: the writer
// must be declared by its own address, never the VIP.
func TestImportLiveThroughVIP(t *testing.T) {
	l := labtest.Get(t)
	c := l.Cluster()
	vip := c.Role("writer").IPs[0]
	ns := l.Namespace("master1")
	ipAddr := func(op string) error {
		return exec.Command("ip", "netns", "exec", ns, "ip", "addr", op, vip+"/32", "dev", c.Host("master1").Interface).Run()
	}
	if err := ipAddr("add"); err != nil {
		t.Fatalf("add %s to master1: %v", vip, err)
	}
	defer func() {
		if err := ipAddr("del"); err != nil {
			t.Errorf("remove %s from master1: %v", vip, err)
		}
	}()
	f, findings, err := FromLive(context.Background(), LiveOptions{
		Address: vip, AdminUser: "root", AdminPassword: c.Host("master1").Admin.Password.Value(),
		WriterVIP: vip, NoAgent: true,
	})
	if err != nil {
		t.Fatalf("import live through the VIP: %v", err)
	}
	var report strings.Builder
	findings.Write(&report)
	if findings.HasProblems() {
		t.Errorf("problems:\n%s", report.String())
	}
	for _, h := range f.Hosts {
		if want := c.Host(h.Name); want == nil || h.Address != want.Address {
			t.Errorf("host %s at %s, want the lab's %v", h.Name, h.Address, want)
		}
	}
}
