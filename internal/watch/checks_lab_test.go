package watch_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/internal/watch"
)

// TestWatchChecksKeepSecretsAndCadence runs the watch on the lab with two
// custom checks: one prints its whole environment, one hangs and leaves a
// child holding its stdout. The first shows none of the watch's secrets in
// what /v1/checks serves; the second is killed, child and all, at its
// timeout every period while the watch's rounds go on.
func TestWatchChecksKeepSecretsAndCadence(t *testing.T) {
	t.Setenv("MMM_ADMIN_PASSWORD", "watch-env-s3cret")
	t.Setenv("MMM_MONITOR_TOKEN", "watch-env-token-s3cret")
	k := setUp(t)
	k.stopWatch()

	pids := filepath.Join(t.TempDir(), "children")
	c := *k.c
	c.Checks = append(append([]*topology.Check(nil), k.c.Checks...),
		&topology.Check{Name: "print_env", Period: 500 * time.Millisecond, Timeout: 2 * time.Second,
			Command: []string{"/bin/sh", "-c", `env | tr '\n' ' '`}},
		&topology.Check{Name: "hang", Period: 500 * time.Millisecond, Timeout: 300 * time.Millisecond,
			Command: []string{"/bin/sh", "-c", "sleep 600 & echo $! >> " + pids + "; sleep 600"}},
	)
	k.c = &c
	t.Cleanup(func() { killLeftovers(t, pids) })
	k.startWatch()

	period := c.Monitor.CheckPeriod
	var lastRound time.Time
	var gaps []time.Duration
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(period)
		checks, err := k.w.Checks("master1")
		if err != nil {
			t.Fatal(err)
		}
		for _, cr := range checks {
			if cr.Check == watch.CheckMySQL && !cr.LastRun.IsZero() {
				if !lastRound.IsZero() && cr.LastRun.After(lastRound) {
					gaps = append(gaps, cr.LastRun.Sub(lastRound))
				}
				lastRound = cr.LastRun
			}
		}
	}
	k.stopWatch()
	t.Logf("mysql check on master1 every %v (check_period %s, a hanging check with timeout 300ms every 500ms)", gaps, period)
	if len(gaps) < 3 {
		t.Errorf("only %d rounds seen in 6s with check_period %s", len(gaps)+1, period)
	}

	checks, err := k.w.Checks("")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"watch-env-s3cret", "watch-env-token-s3cret", c.Monitor.Token.Value(), c.Agent.Token.Value()}
	for _, h := range c.Hosts {
		secrets = append(secrets, h.Admin.Password.Value())
	}
	seen := map[string]bool{}
	for _, cr := range checks {
		switch cr.Check {
		case "print_env":
			seen[cr.Check] = true
			if !strings.Contains(cr.Detail, "MMM_HOST="+cr.Host) {
				t.Errorf("%s print_env: %q, want the environment", cr.Host, cr.Detail)
			}
			for _, s := range secrets {
				if s != "" && strings.Contains(cr.Detail, s) {
					t.Errorf("%s print_env shows a secret: %s", cr.Host, cr.Detail)
				}
			}
		case "hang":
			seen[cr.Check] = true
			if cr.LastOK || !strings.Contains(cr.Detail, "no answer within 300ms") {
				t.Errorf("%s hang: ok %v, %q; want a timeout", cr.Host, cr.LastOK, cr.Detail)
			}
		}
	}
	if !seen["print_env"] || !seen["hang"] {
		t.Fatalf("custom checks missing from the report: %+v", checks)
	}
	b, _ := os.ReadFile(pids)
	n := len(strings.Fields(string(b)))
	alive := aliveOf(strings.Fields(string(b)))
	t.Logf("the hanging check started %d children; alive after the watch stopped: %d", n, len(alive))
	if n == 0 {
		t.Error("the hanging check never ran")
	}
	if len(alive) > 0 {
		t.Errorf("children of the hanging check outlived their timeout: %v", alive)
	}
}

// aliveOf returns the pids that still run (zombies excepted), after giving the
// kernel a moment to deliver the last kill.
func aliveOf(pids []string) []int {
	var alive []int
	deadline := time.Now().Add(2 * time.Second)
	for {
		alive = alive[:0]
		for _, p := range pids {
			pid, err := strconv.Atoi(p)
			if err != nil {
				continue
			}
			stat, err := os.ReadFile("/proc/" + p + "/stat")
			if err != nil {
				continue
			}
			s := string(stat)
			if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] == 'Z' {
				continue
			}
			alive = append(alive, pid)
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killLeftovers kills the hanging check's children that are still there (the
// test started them), so a failing run leaves nothing behind.
func killLeftovers(t *testing.T, pids string) {
	b, _ := os.ReadFile(pids)
	for _, pid := range aliveOf(strings.Fields(string(b))) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
