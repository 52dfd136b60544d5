package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mmm agent --host m1 needs m1's admin password only: another host's own
// admin block may name a secret this machine does not have.
func TestAgentNeedsOnlyItsOwnAdminPassword(t *testing.T) {
	src := `
cluster "t" {
  flavor = "mariadb"
}
defaults {
  admin {
    password = env("ADMIN_M1")
  }
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
  admin {
    password = env("ADMIN_M2")
  }
}
replication {
  user = "repl"
}
user "repl" {
  password = env("REPL_PASSWORD")
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}
role "writer" {
  mode  = "exclusive"
  hosts = ["m1", "m2"]
  ips   = ["10.0.0.100"]
}
agent {
  token = env("AGENT_TOKEN")
}
`
	path := filepath.Join(t.TempDir(), "mmm.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) {
		switch name {
		case "ADMIN_M1":
			return "m1-secret", true
		case "AGENT_TOKEN":
			return "agent-secret", true
		}
		return "", false // ADMIN_M2 is not on m1
	}
	load := func(host string) (string, bool) {
		l := NewLoader(Options{LookupEnv: env, RequireSecrets: true, Host: host,
			Secrets: []string{SecretAdmin, SecretAgentToken}, Purpose: "for mmm agent"})
		c, diags := l.Load(path)
		var b strings.Builder
		_ = l.WriteDiagnostics(&b, diags)
		if diags.HasErrors() {
			return b.String(), false
		}
		if got := c.Host("m1").Admin.Password.Value(); got != "m1-secret" {
			t.Errorf("m1's admin password: %q", got)
		}
		return b.String(), true
	}
	if out, ok := load("m1"); !ok {
		t.Errorf("agent on m1 without m2's admin password: refused\n%s", out)
	}
	if out, ok := load("m2"); ok || !strings.Contains(out, "ADMIN_M2") {
		t.Errorf("agent on m2 without its own admin password: ok=%v\n%s", ok, out)
	}
	if out, ok := load(""); ok || !strings.Contains(out, "ADMIN_M2") {
		t.Errorf("a command for every host without m2's admin password: ok=%v\n%s", ok, out)
	}
}
