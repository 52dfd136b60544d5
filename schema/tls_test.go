package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSAdvice: validate (Options.Advise) warns about a cluster on the
// network without a tls block; with one, the cluster has its dir.
func TestTLSAdvice(t *testing.T) {
	src, err := os.ReadFile("testdata/invalid/bad-fence.hcl")
	if err != nil {
		t.Fatal(err)
	}
	base := string(src[:strings.Index(string(src), "agent {")]) + "agent {\n  token = env(\"T\")\n}\n"
	for _, tc := range []struct {
		name, extra string
		advise      bool
		warning     string
	}{
		{"no tls, validate", "", true, "No TLS"},
		{"no tls, plan", "", false, ""},
		{"tls block, plain MySQL sessions", "tls {\n  dir = \"/etc/mmm/tls\"\n}\n", true, "MySQL sessions without TLS"},
		{"tls block and admin tls", "tls {\n  dir = \"/etc/mmm/tls\"\n}\n", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mmm.hcl")
			text := base + tc.extra
			if tc.name == "tls block and admin tls" {
				text = strings.Replace(text, "    password = env(\"ADMIN_PW\")\n", "    password = env(\"ADMIN_PW\")\n    tls      = \"verify\"\n", 1)
			}
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			l := NewLoader(Options{LookupEnv: fakeEnv, Advise: tc.advise})
			c, diags := l.Load(path)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var got []string
			for _, d := range diags {
				got = append(got, d.Summary)
			}
			if (tc.warning == "") != (len(got) == 0) || (tc.warning != "" && !strings.Contains(strings.Join(got, "|"), tc.warning)) {
				t.Errorf("diagnostics %q, want %q", got, tc.warning)
			}
			if tc.extra != "" && c.TLS.Dir != "/etc/mmm/tls" {
				t.Errorf("tls dir %q", c.TLS.Dir)
			}
		})
	}
}
