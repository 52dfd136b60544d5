package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/mysql-mmm/mmm/internal/topology"
)

func noEnv(string) (string, bool) { return "", false }

// TestExamplesAndModulesValidate: every example directory and every module
// (through a small caller) loads without errors and with no secrets set.
func TestExamplesAndModulesValidate(t *testing.T) {
	dirs, _ := filepath.Glob("../examples/*")
	checked := 0
	for _, dir := range dirs {
		if files, _ := hclFiles(dir); len(files) == 0 {
			continue // ansible/, systemd/: no topology
		}
		checked++
		t.Run(filepath.Base(dir), func(t *testing.T) {
			c, diags := NewLoader(Options{LookupEnv: noEnv}).Load(dir)
			if diags.HasErrors() {
				t.Fatalf("%s does not validate:\n%s", dir, describeAll(diags))
			}
			for _, d := range diags {
				if !strings.HasSuffix(d.Summary, "has no value") {
					t.Errorf("unexpected warning: %s", describe(d))
				}
			}
			if len(c.Hosts) == 0 || c.WriterRole() == nil || c.ReplicationUser() == nil {
				t.Errorf("%s: want hosts, a writer role and a replication user", dir)
			}
		})
	}
	if checked < 3 {
		t.Errorf("validated %d examples; want classic, master-pair and lab", checked)
	}
	modules, _ := filepath.Glob("../modules/*")
	for _, dir := range modules {
		for _, flavor := range []string{"mariadb", "mysql"} {
			t.Run(filepath.Base(dir)+"/"+flavor, func(t *testing.T) {
				src := minimal(flavor) + `
module "m" {
  source               = "` + filepath.Join("..", "..", dir) + `"
  flavor               = "` + flavor + `"
  network              = "10.0.0.%"
  replication_password = env("R")
  monitor_password     = env("M")
  agent_password       = env("A")
}
`
				src = strings.Replace(src, `user = "repl"`, `user = "replication"`, 1)
				c, diags := loadString(t, src, fakeEnv)
				if diags.HasErrors() {
					t.Fatalf("module %s with flavor %s:\n%s", dir, flavor, describeAll(diags))
				}
				if c.User("mmm_monitor", "10.0.0.%") == nil || c.User("mmm_agent", "10.0.0.%") == nil {
					t.Errorf("module did not declare mmm_monitor and mmm_agent")
				}
			})
		}
	}
}

// minimal is a valid cluster for tests to extend.
func minimal(flavor string) string {
	return `
cluster "t" {
  flavor = "` + flavor + `"
}
host "m1" {
  address = "10.0.0.1"
  mode    = "master"
  peer    = "m2"
}
host "m2" {
  address = "10.0.0.2"
  mode    = "master"
  peer    = "m1"
}
replication {
  user = "repl"
}
user "repl" {
  password = env("REPL_PW")
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}
role "writer" {
  mode  = "exclusive"
  hosts = ["m1", "m2"]
  ips   = ["10.0.0.100"]
}
`
}

// loadString loads src as if it were schema/testdata/gen/mmm.hcl, so module
// sources "../../../modules/x" resolve to the repository's modules.
func loadString(t *testing.T, src string, env func(string) (string, bool)) (*topology.Cluster, hcl.Diagnostics) {
	t.Helper()
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return NewLoader(Options{LookupEnv: env}).loadSource(filepath.Join(abs, "testdata", "gen", "mmm.hcl"), []byte(src))
}

func TestDefaultsAndConversion(t *testing.T) {
	src := minimal("mariadb") + `
defaults {
  port      = 3307
  interface = "bond0"
  admin {
    user     = "mmm_admin"
    password = env("ADMIN_PW")
  }
}
host "s1" {
  address   = "10.0.0.3"
  server_id = 7
  interface = "eth1"
  admin {
    user = "other"
  }
  bootstrap {
    donor = "m2"
  }
}
user "app" {
  name = "application"
  host = "%"
  password = lower(env("APP_PW"))
  grant "` + "`shop`.`orders`" + `" {
    privileges = ["select (b,a)", "insert", "Usage", "replication client"]
  }
}
monitor {
  check_period = "250ms"
  trap_period  = "1s"
}
check "rep_backlog" {
  max_backlog = 10
}
check "disk" {
  command = ["/usr/local/bin/check-disk", "--min", "10G"]
  timeout = "5s"
}
`
	src = strings.Replace(src, `"replication client"`, `"delete"`, 1)
	env := func(n string) (string, bool) { return "value-of-" + n, true }
	c, diags := loadString(t, src, env)
	if diags.HasErrors() {
		t.Fatal(describeAll(diags))
	}
	m1, s1 := c.Host("m1"), c.Host("s1")
	if m1.Port != 3307 || m1.Interface != "bond0" || m1.Admin.User != "mmm_admin" || m1.Admin.Password.Value() != "value-of-ADMIN_PW" {
		t.Errorf("defaults not applied to m1: %+v", m1)
	}
	if m1.Admin.Password.Source != `env("ADMIN_PW")` {
		t.Errorf("secret source = %q", m1.Admin.Password.Source)
	}
	if s1.Mode != topology.ModeSlave || s1.ServerID != 7 || s1.Interface != "eth1" || s1.Admin.User != "other" ||
		s1.Admin.Password.Value() != "value-of-ADMIN_PW" || s1.Bootstrap == nil || s1.Bootstrap.Donor != "m2" || s1.Bootstrap.Method != "logical" {
		t.Errorf("s1 = %+v (bootstrap %+v)", s1, s1.Bootstrap)
	}
	app := c.User("application", "%")
	if app == nil {
		t.Fatal("user application@% missing")
	}
	if app.Password.Value() != "value-of-app_pw" {
		t.Errorf("lower(env()) = %q", app.Password.Value())
	}
	wantGrant := topology.Grant{On: "shop.orders", Privileges: []string{"DELETE", "INSERT", "SELECT (a, b)"}}
	if len(app.Grants) != 1 || !equalGrant(app.Grants[0], wantGrant) {
		t.Errorf("grants = %+v, want %+v", app.Grants, wantGrant)
	}
	if c.Monitor.CheckPeriod != 250*time.Millisecond || c.Monitor.Listen != DefaultMonitorListen || c.Agent.Port != DefaultAgentPort {
		t.Errorf("monitor/agent = %+v / %+v", c.Monitor, c.Agent)
	}
	checks := map[string]*topology.Check{}
	for _, ch := range c.Checks {
		checks[ch.Name] = ch
	}
	if len(checks) != 5 || checks["rep_backlog"].MaxBacklog != 10 || checks["ping"].Period != 250*time.Millisecond ||
		checks["disk"].Timeout != 5*time.Second || len(checks["disk"].Command) != 3 {
		t.Errorf("checks = %+v", checks)
	}
	if c.ActiveMasterRole != "writer" || c.Replication.ConnectRetry != DefaultConnectRetry {
		t.Errorf("cluster = %+v", c)
	}
}

func TestFenceSettings(t *testing.T) {
	env := func(n string) (string, bool) { return "value-of-" + n, true }
	// Defaults: the agent kills a server it cannot fence otherwise; no hook;
	// host_lost_after 0 (the watch derives it from check_period).
	c, diags := loadString(t, minimal("mariadb")+"agent {\n  port = 9989\n}\nmonitor {\n  check_period = \"250ms\"\n}\n", env)
	if diags.HasErrors() {
		t.Fatal(describeAll(diags))
	}
	if c.Agent.Fence != topology.FenceKill || c.Monitor.FenceHook != nil || c.Monitor.HostLostAfter != 0 {
		t.Errorf("defaults: fence %q, fence_hook %q, host_lost_after %s", c.Agent.Fence, c.Monitor.FenceHook, c.Monitor.HostLostAfter)
	}
	c, diags = loadString(t, minimal("mariadb")+`
agent {
  fence = "read_only"
}
monitor {
  fence_hook      = ["/usr/local/bin/power-off", "--host", env("BMC")]
  host_lost_after = "750ms"
}
`, env)
	if diags.HasErrors() {
		t.Fatal(describeAll(diags))
	}
	if c.Agent.Fence != topology.FenceReadOnly {
		t.Errorf("fence = %q, want read_only", c.Agent.Fence)
	}
	if strings.Join(c.Monitor.FenceHook, " ") != "/usr/local/bin/power-off --host value-of-BMC" {
		t.Errorf("fence_hook = %q", c.Monitor.FenceHook)
	}
	if c.Monitor.HostLostAfter != 750*time.Millisecond {
		t.Errorf("host_lost_after = %s, want 750ms", c.Monitor.HostLostAfter)
	}
	// Without the agent block the agent is off, and fence keeps its default.
	c, diags = loadString(t, minimal("mariadb"), env)
	if diags.HasErrors() || c.Agent.Fence != topology.FenceKill {
		t.Errorf("no agent block: fence %q\n%s", c.Agent.Fence, describeAll(diags))
	}
	// An unset env() in the hook is the usual warning, not "Empty fence_hook".
	_, diags = loadString(t, minimal("mariadb")+"monitor {\n  fence_hook = [env(\"HOOK\")]\n}\n", noEnv)
	for _, d := range diags {
		if strings.Contains(d.Summary, "fence_hook") {
			t.Errorf("unexpected: %s", describe(d))
		}
	}
}

func equalGrant(a, b topology.Grant) bool {
	return a.On == b.On && a.WithGrantOption == b.WithGrantOption && strings.Join(a.Privileges, "|") == strings.Join(b.Privileges, "|")
}

func TestCanonicalObject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"*.*", "*.*"}, {"shop.*", "shop.*"}, {"`shop`.`orders`", "shop.orders"}, {" a.b ", "a.b"},
		{"shop", ""}, {"*.orders", ""}, {"a.b.c", ""}, {".x", ""}, {"a b.c", ""},
	}
	for _, tt := range tests {
		got, ok := canonicalObject(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("canonicalObject(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestVariables(t *testing.T) {
	src := `
variable "admin_password" {
  sensitive = true
}
variable "network" {
  default = "10.0.0.%"
}
` + minimal("mariadb") + `
defaults {
  admin {
    password = var.admin_password
  }
}
`
	src = strings.Replace(src, `password = env("REPL_PW")`, "password = env(\"REPL_PW\")\n  host = var.network", 1)
	// unset: a warning in validate, an error for commands that connect
	_, diags := loadString(t, src, fakeEnv)
	if diags.HasErrors() || !hasSummary(diags, "var.admin_password has no value") {
		t.Errorf("want a warning for the unset variable, got:\n%s", describeAll(diags))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "mmm.hcl")
	os.WriteFile(path, []byte(src), 0o600)
	_, diags = NewLoader(Options{LookupEnv: fakeEnv, RequireSecrets: true}).Load(path)
	if !diags.HasErrors() || !hasSummary(diags, "var.admin_password has no value") {
		t.Errorf("RequireSecrets: want an error, got:\n%s", describeAll(diags))
	}
	// MMM_VAR_x and --var (which wins)
	env := func(n string) (string, bool) {
		switch n {
		case "MMM_VAR_admin_password":
			return "from-env-var", true
		case "MMM_VAR_network":
			return "192.168.%", true
		}
		return fakeEnv(n)
	}
	c, diags := NewLoader(Options{LookupEnv: env, Vars: map[string]string{"network": "172.16.%"}, RequireSecrets: true}).Load(path)
	if diags.HasErrors() {
		t.Fatal(describeAll(diags))
	}
	if pw := c.Hosts[0].Admin.Password; pw.Value() != "from-env-var" || pw.Source != "var.admin_password" {
		t.Errorf("admin password = %q from %q", pw.Value(), pw.Source)
	}
	if c.Users[0].Host != "172.16.%" {
		t.Errorf("--var did not win over MMM_VAR_: host = %q", c.Users[0].Host)
	}
}

func hasSummary(diags hcl.Diagnostics, s string) bool {
	for _, d := range diags {
		if strings.Contains(d.Summary, s) {
			return true
		}
	}
	return false
}

func TestFileFunction(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "secrets"), 0o700)
	os.WriteFile(filepath.Join(dir, "secrets", "repl"), []byte("file-secret\n"), 0o600)
	src := strings.Replace(minimal("mysql"), `env("REPL_PW")`, `file("secrets/repl")`, 1) + `
agent {
  token = file("secrets/missing")
}
`
	path := filepath.Join(dir, "mmm.hcl")
	os.WriteFile(path, []byte(src), 0o600)
	c, diags := NewLoader(Options{LookupEnv: noEnv}).Load(path)
	if diags.HasErrors() || !hasSummary(diags, `file("secrets/missing") has no value`) {
		t.Fatalf("want only a warning for the missing file:\n%s", describeAll(diags))
	}
	if pw := c.ReplicationUser().Password; pw.Value() != "file-secret" || pw.Source != `file("secrets/repl")` {
		t.Errorf("file() = %q from %q (trailing newline must go)", pw.Value(), pw.Source)
	}
	if c.Agent.Token.Set || c.Agent.Token.Source != `file("secrets/missing")` {
		t.Errorf("missing file: token = %+v", c.Agent.Token)
	}
}

// TestSecretsNeverPrinted: secrets from env(), file(), --var and literal
// ones appear in no rendered output: text diagnostics (with snippets) and JSON.
func TestSecretsNeverPrinted(t *testing.T) {
	const envSecret = "s3cr3t-from-env"
	const literal = "literal-pass-123"
	const varSecret = "s3cr3t-from-var"
	src := `
variable "token" {
  sensitive = true
}
` + minimal("mariadb") + `
host "s1" {
  address = env("ADDR")
  port    = env("PORT")
}
user "app" {
  password = "` + literal + `"
  host     = env("ADMIN_PW")
}
agent {
  token = var.token
}
monitor {
  check_period = env("ADMIN_PW")
  listen       = format("%s:x", env("ADMIN_PW"))
  token        = "` + literal + `"
}
check "x" {
  command = [env("ADMIN_PW"), "--password", var.token]
  timeout = var.token
}
`
	env := func(n string) (string, bool) {
		switch n {
		case "ADDR":
			return envSecret + "-addr", true
		case "PORT":
			return envSecret, true
		}
		return envSecret, true
	}
	path := filepath.Join(t.TempDir(), "mmm.hcl")
	os.WriteFile(path, []byte(src), 0o600)
	l := NewLoader(Options{LookupEnv: env, Vars: map[string]string{"token": varSecret}})
	_, diags := l.Load(path)
	if len(diags) < 5 {
		t.Fatalf("want several diagnostics about these values, got:\n%s", describeAll(diags))
	}
	var text bytes.Buffer
	if err := l.WriteDiagnostics(&text, diags); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(l.JSONDiagnostics(diags))
	for name, out := range map[string]string{"text": text.String(), "json": string(js)} {
		for _, s := range []string{envSecret, literal, varSecret} {
			if strings.Contains(out, s) {
				t.Errorf("%s output contains the secret %q:\n%s", name, s, out)
			}
		}
	}
	if !strings.Contains(text.String(), "Secret written in the file") {
		t.Errorf("want the literal-secret warning:\n%s", text.String())
	}
}

// host_lost_after below two probe periods is legal but warned about, with
// its place in the file.
func TestHostLostAfterWarning(t *testing.T) {
	env := func(n string) (string, bool) { return "v", true }
	_, diags := loadString(t, minimal("mariadb")+"monitor {\n  check_period    = \"250ms\"\n  host_lost_after = \"300ms\"\n}\n", env)
	if diags.HasErrors() {
		t.Fatal(describeAll(diags))
	}
	found := false
	for _, d := range diags {
		if d.Summary == "host_lost_after shorter than two check periods" && d.Subject != nil && d.Subject.Start.Line > 0 && strings.Contains(d.Detail, "500ms") {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning naming the line and the minimum:\n%s", describeAll(diags))
	}
	_, diags = loadString(t, minimal("mariadb")+"monitor {\n  check_period    = \"250ms\"\n  host_lost_after = \"750ms\"\n}\n", env)
	if len(diags) != 0 {
		t.Errorf("750ms at 250ms periods: %s", describeAll(diags))
	}
}
