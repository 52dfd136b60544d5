package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plan -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test ./plan -update to accept):\n%s", path, got)
	}
}

// goldenPlans are the plans whose rendering and JSON are pinned.
func goldenPlans() map[string]*Plan {
	c := labCluster()
	out := map[string]*Plan{
		"fresh":     Diff(c, freshLive(c), Options{Now: testNow}),
		"converged": Diff(c, convergedLive(c), Options{Now: testNow}),
	}
	live := convergedLive(c)
	live.Hosts["master2"].ReadOnly = false
	live.Hosts["slave2"].Replica.SourceHost = "198.18.0.12"
	out["split_brain"] = Diff(c, live, Options{Now: testNow})

	live = withVIPs(failedOver(c))
	live.Hosts["slave2"] = &topology.LiveHost{Name: "slave2", Error: "dial tcp 198.18.0.14:3306: i/o timeout"}
	out["switchover"] = Diff(c, live, Options{Now: testNow, MoveWriterTo: "master1"})
	return out
}

func TestRenderGolden(t *testing.T) {
	for name, p := range goldenPlans() {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, p); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".golden", b.Bytes())
		})
	}
}

func TestJSONGolden(t *testing.T) {
	for _, name := range []string{"fresh", "converged"} {
		p := goldenPlans()[name]
		var b bytes.Buffer
		if err := WriteJSON(&b, p); err != nil {
			t.Fatal(err)
		}
		golden(t, name+".json.golden", b.Bytes())
	}
}

func TestRenderSummary(t *testing.T) {
	plans := goldenPlans()
	for name, want := range map[string]string{
		"fresh":       "Plan: 16 to add, 28 to change, 0 to destroy.\n",
		"converged":   "No changes. The cluster matches the configuration.\n",
		"split_brain": "No changes planned, but the problems above remain.\n",
	} {
		var b bytes.Buffer
		if err := Render(&b, plans[name]); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(b.String(), want) {
			t.Errorf("%s ends %q, want %q", name, lastLine(b.String()), want)
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// No secret reaches any output: the human plan, the JSON, a saved plan file.
func TestNoSecretLeaks(t *testing.T) {
	c := labCluster()
	live := convergedLive(c)
	for _, lh := range live.Hosts {
		for _, u := range lh.Users {
			u.Password = topology.PasswordMismatch
		}
	}
	plans := goldenPlans()
	plans["passwords"] = Diff(c, live, Options{Now: testNow})
	for name, p := range plans {
		var human, js, saved bytes.Buffer
		if err := Render(&human, p); err != nil {
			t.Fatal(err)
		}
		if err := WriteJSON(&js, p); err != nil {
			t.Fatal(err)
		}
		if err := Save(&saved, p); err != nil {
			t.Fatal(err)
		}
		for what, out := range map[string]string{"rendered": human.String(), "json": js.String(), "saved": saved.String()} {
			for _, s := range allSecrets {
				if strings.Contains(out, s) {
					t.Errorf("%s plan %q: %s output contains a secret", what, name, s)
				}
			}
		}
	}
	// The secrets are really in the plan, for apply to run.
	found := 0
	for _, s := range plans["passwords"].Steps {
		for _, st := range s.Statements {
			if st.HasSecret() {
				found++
				if !strings.Contains(st.Text, Redacted) {
					t.Errorf("%s: statement with a secret shows no %s: %q", s.ID, Redacted, st.Text)
				}
			}
		}
	}
	if found == 0 {
		t.Fatal("no statement carries a secret: the test proves nothing")
	}
}

func TestSaveLoad(t *testing.T) {
	p := goldenPlans()["fresh"]
	var b bytes.Buffer
	if err := Save(&b, p); err != nil {
		t.Fatal(err)
	}
	got, err := Load(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Steps) != len(p.Steps) || got.Writer != p.Writer || got.Fingerprint.Writer != p.Fingerprint.Writer ||
		!got.Fingerprint.Hosts["master1"].Pinned || !got.CreatedAt.Equal(p.CreatedAt) {
		t.Fatalf("round trip lost data: %+v", got)
	}
	for i, s := range got.Steps {
		if s.ID != p.Steps[i].ID || len(s.Statements) != len(p.Steps[i].Statements) || len(s.DependsOn) != len(p.Steps[i].DependsOn) {
			t.Errorf("step %d: %+v, want %+v", i, s, p.Steps[i])
		}
	}
	create := got.Step("master1:create_user:'app'@'%'")
	if !create.Statements[1].NeedsSecret() || create.Statements[1].HasSecret() {
		t.Errorf("a loaded statement must need its secret back: %+v", create.Statements[1])
	}
	if got.Step("master1:set_variable:gtid_strict_mode").Statements[0].NeedsSecret() {
		t.Errorf("a statement without a secret needs none")
	}

	_, err = Load(strings.NewReader(`{"format_version": 99}`))
	if err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Errorf("Load of a future format: %v", err)
	}
}
