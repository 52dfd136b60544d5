package schema

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// fakeEnv sets every environment variable but MMM_VAR_*, so the fixtures'
// env() calls produce no "has no value" warnings and each file shows only its
// mistake.
func fakeEnv(name string) (string, bool) {
	if strings.HasPrefix(name, "MMM_VAR_") {
		return "", false
	}
	return "fixture-secret-value", true
}

type expectation struct {
	line     int
	severity hcl.DiagnosticSeverity
	text     string
}

var markerRE = regexp.MustCompile(`#\s*(ERROR|WARNING):\s*(.+?)\s*$`)

func readExpectations(t *testing.T, path string) []expectation {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []expectation
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		m := markerRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		sev := hcl.DiagError
		if m[1] == "WARNING" {
			sev = hcl.DiagWarning
		}
		out = append(out, expectation{line, sev, m[2]})
	}
	return out
}

// TestInvalidFixtures loads every file in testdata/invalid. Each marks the
// diagnostics it must produce on the offending line with `# ERROR: <text>` or
// `# WARNING: <text>` (text: a substring of the summary). Every marker must
// be met by a diagnostic in that file on that line, and every diagnostic must
// be marked: a fixture shows its mistake and nothing else.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d invalid fixtures; the issue asks for at least 30", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".hcl"), func(t *testing.T) {
			want := readExpectations(t, path)
			if len(want) == 0 {
				t.Fatalf("%s has no # ERROR: or # WARNING: marker", path)
			}
			l := NewLoader(Options{LookupEnv: fakeEnv})
			c, diags := l.Load(path)
			if diags.HasErrors() != (c == nil) {
				t.Errorf("cluster is nil=%v with errors=%v; want nil exactly when there are errors", c == nil, diags.HasErrors())
			}
			met := make([]bool, len(want))
			for _, d := range diags {
				matched := false
				for i, w := range want {
					if d.Subject != nil && d.Subject.Filename == path && d.Subject.Start.Line == w.line &&
						d.Severity == w.severity && strings.Contains(d.Summary, w.text) {
						met[i], matched = true, true
					}
				}
				if !matched {
					t.Errorf("unexpected diagnostic: %s", describe(d))
				}
				if d.Detail == "" {
					t.Errorf("diagnostic without detail (the fix): %s", describe(d))
				}
			}
			for i, w := range want {
				if !met[i] {
					t.Errorf("line %d: no %s containing %q; got:\n%s", w.line, sevName(w.severity), w.text, describeAll(diags))
				}
			}
		})
	}
}

func sevName(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

func describe(d *hcl.Diagnostic) string {
	where := "(no subject)"
	if d.Subject != nil {
		where = d.Subject.String()
	}
	return where + ": " + sevName(d.Severity) + ": " + d.Summary + ": " + d.Detail
}

func describeAll(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		b.WriteString("  " + describe(d) + "\n")
	}
	return b.String()
}
