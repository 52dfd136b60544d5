package cmtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// buildMMM builds the mmm binary for tests that need no lab.
func buildMMM(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mmm")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/mmm").CombinedOutput()
	if err != nil {
		t.Fatalf("build mmm: %v\n%s", err, out)
	}
	return bin
}

// A valid topology but for one mistake (a peer that names no host, on
// brokenLine), and badly formatted.
const brokenHCL = `cluster "ci" {
  flavor = "mariadb"
}
defaults {
  admin {
    user     = "root"
    password = env("MMM_ADMIN_PASSWORD")
  }
}
host "db1" {
  address = "127.0.0.1"
  mode    = "master"
  peer    = "db9"
}
host "db2" {
  address   =    "127.0.0.2"
  mode    = "master"
  peer    = "db1"
}
role "writer" {
  mode  = "exclusive"
  hosts = ["db1", "db2"]
  ips   = ["127.0.0.100"]
}
replication {
  user = "replication"
}
user "replication" {
  host     = "127.0.0.%"
  password = env("MMM_REPLICATION_PASSWORD")
  grant "*.*" {
    privileges = ["REPLICATION SLAVE"]
  }
}
`

var brokenLine = strconv.Itoa(strings.Count(brokenHCL[:strings.Index(brokenHCL, `"db9"`)], "\n") + 1)

// TestCIExamples runs examples/ci's pre-commit hook in a git repository and
// its annotation converter on mmm validate --json, on a broken file.
func TestCIExamples(t *testing.T) {
	python := requireTool(t, "python3", "python3")
	git := requireTool(t, "git", "git")
	mmm := buildMMM(t)
	ci := examplesDir(t, "ci")
	repo := t.TempDir()
	env := toolEnv(t.TempDir(), "MMM="+mmm, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	if err := os.MkdirAll(filepath.Join(repo, "mmm"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(repo, "mmm", "cluster.hcl"), brokenHCL)
	for _, args := range [][]string{{"init", "-q"}, {"add", "mmm/cluster.hcl"}} {
		if r := run(t, env, repo, git, args...); r.code != 0 {
			t.Fatalf("git %v: %s%s", args, r.stdout, r.stderr)
		}
	}

	t.Run("the pre-commit hook refuses the broken file", func(t *testing.T) {
		r := run(t, env, repo, filepath.Join(ci, "pre-commit"))
		out := r.stdout + r.stderr
		if r.code != 1 {
			t.Fatalf("hook exit %d, want 1\n%s", r.code, out)
		}
		for _, want := range []string{"mmm/cluster.hcl", "line " + brokenLine, "db9", "fmt"} {
			if !strings.Contains(out, want) {
				t.Errorf("hook output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("validate --json becomes GitHub annotations on the file's line", func(t *testing.T) {
		v := run(t, env, repo, mmm, "validate", "--json", "--config", "mmm")
		if v.code != 1 {
			t.Fatalf("validate exit %d, want 1\n%s%s", v.code, v.stdout, v.stderr)
		}
		writeFile(t, filepath.Join(repo, "validate.json"), v.stdout)
		cmd := exec.Command(python, filepath.Join(ci, "mmm-annotate"), "--format", "github")
		cmd.Dir, cmd.Env = repo, env
		cmd.Stdin = strings.NewReader(v.stdout)
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("annotate: %v (want exit 1)\n%s", err, out)
		}
		re := regexp.MustCompile(`(?m)^::error file=mmm/cluster\.hcl,line=` + brokenLine + `,col=\d+,endLine=` + brokenLine + `,endColumn=\d+,title=mmm%3A [^:]+::.*db9`)
		if !re.Match(out) {
			t.Fatalf("no error annotation on mmm/cluster.hcl line %s:\n%s", brokenLine, out)
		}
	})

	t.Run("and a GitLab Code Quality report", func(t *testing.T) {
		v := run(t, env, repo, mmm, "validate", "--json", "--config", "mmm")
		cmd := exec.Command(python, filepath.Join(ci, "mmm-annotate"), "--format", "gitlab")
		cmd.Dir, cmd.Env = repo, env
		cmd.Stdin = strings.NewReader(v.stdout)
		out, _ := cmd.Output()
		var report []struct {
			Severity string `json:"severity"`
			Location struct {
				Path  string `json:"path"`
				Lines struct {
					Begin int `json:"begin"`
				} `json:"lines"`
			} `json:"location"`
		}
		if err := json.Unmarshal(out, &report); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		found := false
		for _, r := range report {
			found = found || (r.Severity == "major" && r.Location.Path == "mmm/cluster.hcl" && strconv.Itoa(r.Location.Lines.Begin) == brokenLine)
		}
		if !found {
			t.Fatalf("no major issue on mmm/cluster.hcl:%s: %s", brokenLine, out)
		}
	})

	t.Run("the hook passes once the file is fixed and formatted", func(t *testing.T) {
		fixed := strings.Replace(brokenHCL, `"db9"`, `"db2"`, 1)
		writeFile(t, filepath.Join(repo, "mmm", "cluster.hcl"), fixed)
		if r := run(t, env, repo, mmm, "fmt", "mmm"); r.code != 0 {
			t.Fatalf("fmt: %s%s", r.stdout, r.stderr)
		}
		if r := run(t, env, repo, git, "add", "mmm/cluster.hcl"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		if r := run(t, env, repo, filepath.Join(ci, "pre-commit")); r.code != 0 {
			t.Fatalf("hook exit %d on a fixed file\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}
