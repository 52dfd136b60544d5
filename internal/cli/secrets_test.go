package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/watch"
)

// TestShowNeedsOnlyTheMonitorToken: mmm show, checks and the commands run
// with the monitor token alone in the environment; without it they say
// which secret is missing and why, and never ask for the passwords.
func TestShowNeedsOnlyTheMonitorToken(t *testing.T) {
	const token = "only-the-monitor-token"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var v any = watch.Report{Mode: watch.ModeActive, Writer: "m1", Hosts: []watch.HostReport{
			{Name: "m1", Address: "10.0.0.1", Mode: "master", State: watch.Online, Since: time.Now(), Writer: true},
		}}
		if r.Method == http.MethodPost {
			v = watch.OK{Message: "OK: mode is manual."}
		}
		_ = json.NewEncoder(w).Encode(v)
	}))
	defer srv.Close()
	listen := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	hcl := `
cluster "t" {
  flavor = "mariadb"
}
defaults {
  admin {
    password = env("MMM_ADMIN_PASSWORD")
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
}
replication {
  user = "repl"
}
user "repl" {
  password = env("MMM_REPL_PASSWORD")
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
  token       = env("MMM_AGENT_TOKEN")
  clone_token = env("MMM_CLONE_TOKEN")
}
monitor {
  listen = "` + listen + `"
  token  = env("MMM_MONITOR_TOKEN")
}
`
	cfg := filepath.Join(dir, "mmm.hcl")
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"MMM_ADMIN_PASSWORD", "MMM_REPL_PASSWORD", "MMM_AGENT_TOKEN", "MMM_CLONE_TOKEN", "MMM_MONITOR_TOKEN", "MMM_ENV_FILE"} {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}

	// Without the monitor token: the error names it and why.
	code, _, errOut := runCLI(t, "show", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, `env("MMM_MONITOR_TOKEN") has no value`) || !strings.Contains(errOut, "ask the running watch") ||
		strings.Contains(errOut, "admin password") || strings.Contains(errOut, "MMM_REPL_PASSWORD") {
		t.Fatalf("show without any secret: exit %d\n%s", code, errOut)
	}

	t.Setenv("MMM_MONITOR_TOKEN", token)
	for _, args := range [][]string{{"show"}, {"show", "--json"}, {"mode", "manual"}} {
		code, out, errOut := runCLI(t, append(args, "--config", cfg)...)
		if code != 0 || errOut != "" {
			t.Errorf("%v with only the monitor token: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
		if args[0] == "show" && !strings.Contains(out, "m1") {
			t.Errorf("%v: %s", args, out)
		}
	}
	// plan still needs the passwords, and says so.
	code, _, errOut = runCLI(t, "plan", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "MMM_ADMIN_PASSWORD") || strings.Contains(errOut, "MMM_CLONE_TOKEN") {
		t.Errorf("plan without the passwords: exit %d (want the passwords named, not the clone token: only agents and clones need it)\n%s", code, errOut)
	}
	// plan does not need the monitor token.
	os.Unsetenv("MMM_MONITOR_TOKEN")
	if _, _, errOut = runCLI(t, "plan", "--config", cfg); strings.Contains(errOut, "MMM_MONITOR_TOKEN") {
		t.Errorf("plan asks for the monitor token:\n%s", errOut)
	}
	// mmm agent needs its admin password and its tokens, the clone token too.
	code, _, errOut = runCLI(t, "agent", "--host", "m1", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "MMM_CLONE_TOKEN") || !strings.Contains(errOut, "MMM_AGENT_TOKEN") || strings.Contains(errOut, "MMM_REPL_PASSWORD") {
		t.Errorf("agent without secrets: exit %d\n%s", code, errOut)
	}
}
