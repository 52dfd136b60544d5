package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mysql-mmm/mmm/internal/cli"
	"github.com/mysql-mmm/mmm/internal/lab"
	"github.com/mysql-mmm/mmm/internal/lab/labtest"
)

// The CLI scripts have the lab subnet 198.18.5.0/24 to themselves.
const (
	labSubnet  = "198.18.5"
	labExample = "../../examples/lab/mmm.hcl"
)

// labConfig is the lab's topology file: examples/lab/mmm.hcl moved to
// labSubnet. The scripts get it as $LAB_CONFIG (and MMM_CONFIG).
var labConfig string

// TestMain lets testscript re-run this test binary as `mmm` (testscript.Main
// must own os.Exit for that), and starts the lab only around the tests of the
// top-level run, never in those re-runs.
func TestMain(m *testing.M) {
	testscript.Main(withLab{m}, map[string]func(){
		"mmm": func() { os.Exit(cli.Main(os.Args[1:], "test")) },
	})
}

type withLab struct{ m *testing.M }

func (w withLab) Run() int {
	dir, err := os.MkdirTemp("", "mmm-script-lab")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	labConfig = filepath.Join(dir, "mmm.hcl")
	if err := writeLabConfig(labConfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The file is already in labSubnet, so no labtest.Subnet: the lab and the
	// mmm commands read the very same file, and a file that missed an address
	// fails the lab's one-/24 check instead of passing unnoticed.
	return labtest.RunWith(w.m, labConfig)
}

// writeLabConfig copies the lab example with its 198.18.0.x addresses (hosts,
// VIPs, user host patterns, monitor) moved to labSubnet, as labtest.Subnet
// would move them in memory. A text rewrite keeps the file a file the CLI
// reads like any user's.
func writeLabConfig(path string) error {
	src, err := os.ReadFile(labExample)
	if err != nil {
		return err
	}
	out := strings.ReplaceAll(string(src), "198.18.0.", labSubnet+".")
	return os.WriteFile(path, []byte(out), 0o644)
}

// labScript names the scripts that need the lab: they start with two digits
// and run one after another in that order, each on the state the previous
// one left.
var labScript = regexp.MustCompile(`^[0-9][0-9]_`)

func scripts(t *testing.T, lab bool) []string {
	t.Helper()
	all, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range all {
		if labScript.MatchString(filepath.Base(f)) == lab {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatal("no scripts in testdata/script")
	}
	return out
}

// TestScripts runs the scripts that need no server (in parallel).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Files:               scripts(t, false),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("EXAMPLES", mustAbs(t, "../../examples"))
			return nil
		},
	})
}

// TestLabScripts runs the numbered scripts against the lab, in order. Each
// gets a testscript.Run of its own: within one Run, scripts are parallel.
func TestLabScripts(t *testing.T) {
	l := labtest.Get(t)
	startAgents(t, l)
	addrs := map[string]string{}
	for _, h := range l.Cluster().Hosts {
		addrs[strings.ToUpper(h.Name)] = h.Address
	}
	for _, file := range scripts(t, true) {
		ok := t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			testscript.Run(t, testscript.Params{
				Files:               []string{file},
				RequireExplicitExec: true,
				RequireUniqueNames:  true,
				Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exits": cmdExits},
				Setup: func(e *testscript.Env) error {
					e.Setenv("LAB_CONFIG", labConfig)
					e.Setenv("MMM_CONFIG", labConfig)
					// $MASTER1, $SLAVE2, …: the hosts' addresses, for the
					// mariadb client.
					for name, addr := range addrs {
						e.Setenv(name, addr)
					}
					return nil
				},
			})
		})
		if !ok {
			// The next scripts start from the state this one should have left.
			t.Fatalf("%s failed; the later lab scripts depend on it and are not run", file)
		}
	}
}

// startAgents runs `mmm agent --host NAME` in every host's namespace, as on a
// real data node: plan and apply ask the agents which VIPs they hold.
// testscript put the mmm command (this test binary under that name) on PATH.
func startAgents(t *testing.T, l *lab.Lab) {
	t.Helper()
	mmm, err := exec.LookPath("mmm")
	if err != nil {
		t.Fatalf("the mmm command testscript installs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = l.StartAgents(ctx, func(host string) *exec.Cmd {
		return exec.Command(mmm, "agent", "--config", labConfig, "--host", host)
	})
	t.Cleanup(func() {
		if err := l.StopAgents(); err != nil {
			t.Errorf("stop agents: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("start agents: %v", err)
	}
}

// cmdExits is "exits CODE program [args...]": exec that also checks the exit
// code, which plan --detailed-exitcode makes part of the contract (exec and
// ! exec only tell zero from non-zero).
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exits (give the code instead)")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits CODE program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: code %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			ts.Fatalf("exits: %v", err)
		}
		got = exitErr.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
