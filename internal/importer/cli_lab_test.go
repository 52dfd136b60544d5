package importer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/cli"
	"github.com/mysql-mmm/mmm/internal/importer"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// TestImportLiveCommand drives `mmm import live` and `mmm plan` on its
// output as an operator would. It runs after TestImportLive (the package's
// own tests run before these), which converged the lab.
func TestImportLiveCommand(t *testing.T) {
	l := labtest.Get(t)
	c := l.Cluster()
	user := func(name string) *topology.User {
		for _, u := range c.Users {
			if u.Name == name {
				return u
			}
		}
		t.Fatalf("the lab file declares no user %s", name)
		return nil
	}
	t.Setenv(importer.EnvAdminPassword, c.Host("master1").Admin.Password.Value())
	t.Setenv(importer.EnvReplicationPassword, c.ReplicationUser().Password.Value())
	t.Setenv("MMM_PASSWORD_MMM_MONITOR", user("mmm_monitor").Password.Value())
	t.Setenv("MMM_PASSWORD_APP", user("app").Password.Value())
	t.Setenv("MMM_PASSWORD_REPORTING", "lab-reporting-secret")
	t.Setenv(importer.EnvMonitorToken, "token-m")

	out := filepath.Join(t.TempDir(), "mmm.hcl")
	var stdout, stderr bytes.Buffer
	code := cli.Run([]string{"import", "live", "--address", c.Host("master2").Address,
		"--writer-vip", c.Role("writer").IPs[0], "--no-agent", "--name", "lab", "--out", out}, "test", nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("mmm import live: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	t.Logf("mmm import live:\n%s", stdout.String())
	if !strings.Contains(stdout.String(), "no changes: mmm plan on this file") {
		t.Errorf("the report does not say the plan is empty:\n%s", stdout.String())
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("--out file: %v, %v (want mode 0600)", st, err)
	}

	stdout.Reset()
	stderr.Reset()
	code = cli.Run([]string{"plan", "--detailed-exitcode", "--config", out}, "test", nil, &stdout, &stderr)
	if code != 0 {
		t.Errorf("mmm plan on the imported file: exit %d, want 0 (no changes)\n%s%s", code, stdout.String(), stderr.String())
	}

	// a second import to the same file is refused without --force
	stdout.Reset()
	stderr.Reset()
	code = cli.Run([]string{"import", "live", "--address", c.Host("slave2").Address,
		"--writer-vip", c.Role("writer").IPs[0], "--out", out}, "test", nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "--force") {
		t.Errorf("import over an existing --out: exit %d, %s", code, stderr.String())
	}
}
