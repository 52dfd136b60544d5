package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(args, "test", strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateExamples(t *testing.T) {
	for _, dir := range []string{"classic", "master-pair", "lab"} {
		code, out, errOut := runCLI(t, "validate", "--config", filepath.Join("..", "..", "examples", dir))
		if code != 0 || !strings.HasPrefix(out, "Success! The configuration is valid") {
			t.Errorf("validate %s: exit %d\nstdout: %s\nstderr: %s", dir, code, out, errOut)
		}
	}
}

func TestValidateInvalid(t *testing.T) {
	path := filepath.Join("..", "..", "schema", "testdata", "invalid", "peer-undeclared.hcl")
	code, _, errOut := runCLI(t, "validate", "--config", path)
	if code != 1 || !strings.Contains(errOut, "Error: Unknown peer") || !strings.Contains(errOut, "peer-undeclared.hcl line 21") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	code, out, _ := runCLI(t, "validate", "--json", "--config", path)
	var diags []map[string]any
	if err := json.Unmarshal([]byte(out), &diags); err != nil {
		t.Fatalf("--json output is not a JSON array: %v\n%s", err, out)
	}
	if code != 1 || len(diags) == 0 {
		t.Fatalf("exit %d, %d diagnostics", code, len(diags))
	}
	found := false
	for _, d := range diags {
		start, _ := d["start"].(map[string]any)
		if d["severity"] == "error" && d["summary"] == "Unknown peer" && start["line"] == float64(21) &&
			strings.HasSuffix(d["filename"].(string), "peer-undeclared.hcl") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Unknown peer error at line 21 in:\n%s", out)
	}
}

// TestValidateHidesSecrets: with the secrets in the environment, neither the
// text nor the JSON output of validate contains them.
func TestValidateHidesSecrets(t *testing.T) {
	const secret = "Sup3r-Secret-Admin-Pw"
	dir := t.TempDir()
	src := `
cluster "t" {
  flavor = "mariadb"
}
defaults {
  admin {
    password = env("MMM_TEST_ADMIN_PASSWORD")
  }
}
host "m1" {
  address = env("MMM_TEST_ADMIN_PASSWORD")
  mode    = "master"
  peer    = "m2"
}
host "m2" {
  address = "10.0.0.2"
  mode    = "master"
  peer    = "m1"
}
user "app" {
  password = "literal-` + secret + `"
}
monitor {
  check_period = env("MMM_TEST_ADMIN_PASSWORD")
}
`
	path := filepath.Join(dir, "mmm.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MMM_TEST_ADMIN_PASSWORD", secret)
	for _, args := range [][]string{{"validate"}, {"validate", "--json"}} {
		code, out, errOut := runCLI(t, append(args, "--config", path)...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1 (the file has errors)", args, code)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("%v printed the secret:\n%s\n%s", args, out, errOut)
		}
		if !strings.Contains(out+errOut, "Invalid duration") {
			t.Errorf("%v: want the diagnostics about the secret values, got:\n%s\n%s", args, out, errOut)
		}
	}
}

func TestFmt(t *testing.T) {
	code, out, errOut := runCLI(t, "fmt", "--check", filepath.Join("..", "..", "examples"), filepath.Join("..", "..", "modules"))
	if code != 0 {
		t.Errorf("examples and modules are not formatted: exit %d\n%s%s", code, out, errOut)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "mmm.hcl")
	ugly := "cluster \"t\" {\n  flavor = \"mariadb\"\n    active_master_role=\"writer\"\n}\n"
	os.WriteFile(path, []byte(ugly), 0o644)

	code, out, _ = runCLI(t, "fmt", "--check", "--diff", dir)
	if code != 1 || !strings.Contains(out, path) || !strings.Contains(out, "-    active_master_role=\"writer\"") ||
		!strings.Contains(out, "+  active_master_role = \"writer\"") || !strings.Contains(out, "@@ -1,4 +1,4 @@") {
		t.Errorf("fmt --check --diff: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(path); string(b) != ugly {
		t.Errorf("--check changed the file")
	}

	code, _, _ = runCLI(t, "fmt", "--config", path)
	b, _ := os.ReadFile(path)
	if code != 0 || !strings.Contains(string(b), "  flavor             = \"mariadb\"\n  active_master_role = \"writer\"") {
		t.Errorf("fmt: exit %d, file:\n%s", code, b)
	}
	if code, _, _ = runCLI(t, "fmt", "--check", path); code != 0 {
		t.Errorf("fmt --check after fmt: exit %d", code)
	}

	os.WriteFile(path, []byte("host \"a\" { address = \"x\" mode = \"y\" }\n"), 0o644)
	if code, _, errOut = runCLI(t, "fmt", path); code != 1 || !strings.Contains(errOut, "Error:") {
		t.Errorf("fmt on a syntax error: exit %d\n%s", code, errOut)
	}
}
