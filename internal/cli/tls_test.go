package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSInit: mmm tls init writes the CA and one certificate per machine,
// says where each goes, keeps them on a second run and makes a new CA only
// with --force.
func TestTLSInit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tls")
	cfg := filepath.Join("..", "..", "examples", "lab", "mmm.hcl")
	code, stdout, stderr := runCLI(t, "tls", "init", "--config", cfg, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"new  CA", "host master1 (198.18.0.11), for mmm agent: ca.pem, master1.pem, master1-key.pem",
		"the monitor (mmm watch", "operators' machines", `tls { dir = "/etc/mmm/tls" }`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "master1.pem", "slave2-key.pem", "monitor.pem", "operator-key.pem"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	ca, _ := os.ReadFile(filepath.Join(out, "ca.pem"))
	code, stdout, _ = runCLI(t, "tls", "init", "--config", cfg, "--out", out)
	if code != 0 || strings.Contains(stdout, "new ") || strings.Count(stdout, "kept") != 7 {
		t.Errorf("second run: exit %d, want everything kept:\n%s", code, stdout)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "ca.pem")); string(again) != string(ca) {
		t.Error("the CA changed without --force")
	}
	if code, stdout, _ = runCLI(t, "tls", "init", "--config", cfg, "--out", out, "--force"); code != 0 || strings.Contains(stdout, "kept") {
		t.Errorf("--force: exit %d, want everything new:\n%s", code, stdout)
	}
}
