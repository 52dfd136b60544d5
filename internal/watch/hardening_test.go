package watch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mysql-mmm/mmm/internal/command"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// A custom check that prints its whole environment shows none of the
// watch's secrets: what /v1/checks would serve is the check's Detail.
func TestCheckPrintingItsEnvironmentShowsNoSecret(t *testing.T) {
	secrets := map[string]string{
		"MMM_ADMIN_PASSWORD":       "admin-s3cret",
		"MMM_MONITOR_TOKEN":        "monitor-s3cret",
		"MMM_AGENT_TOKEN":          "agent-s3cret",
		"MMM_REPLICATION_PASSWORD": "repl-s3cret",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	h := &topology.Host{Name: "master1", Address: "198.18.0.11"}
	// One line, since Detail keeps the first.
	ch := &topology.Check{Name: "env", Command: []string{"/bin/sh", "-c", `env | tr '\n' ' '`}, Timeout: 5 * time.Second}
	r := Custom(context.Background(), ch, h)
	if !r.OK || !strings.Contains(r.Detail, "MMM_HOST=master1") {
		t.Fatalf("got %+v", r)
	}
	for k, v := range secrets {
		if strings.Contains(r.Detail, k) || strings.Contains(r.Detail, v) {
			t.Errorf("the check saw %s: %s", k, r.Detail)
		}
	}
}

// A hook that hangs and leaves a child holding its stdout is killed, with
// the child, at its timeout: the failover (and the watch's round) goes on
// instead of waiting for the child.
func TestHookHangingWithChildHoldingStdout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	t0 := time.Now()
	err := runHook(context.Background(), []string{"/bin/sh", "-c", "sleep 60 & echo $! > " + pidFile + "; sleep 60"}, nil, 500*time.Millisecond)
	took := time.Since(t0)
	t.Logf("hook returned after %s (timeout 500ms, command.WaitDelay %s)", took.Round(time.Millisecond), command.WaitDelay)
	if !errors.Is(err, command.ErrTimeout) {
		t.Errorf("got %v, want a timeout", err)
	}
	// Far below the children's 60s: the run did not wait for them.
	if took > 30*time.Second {
		t.Errorf("the hook held the watch for %s", took)
	}
	b, rerr := os.ReadFile(pidFile)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if rerr != nil || perr != nil {
		t.Fatalf("child pid: %v %v", rerr, perr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if processAlive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL) // the test started it
		t.Errorf("the hook's child %d outlived the timeout", pid)
	}
}

// processAlive: the process exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// Every control command leaves an audit line: who, from where, what, and
// how it ended; never the token.
func TestControlCommandAudit(t *testing.T) {
	var logs bytes.Buffer
	live := fakeLive(testCluster())
	c := testCluster()
	c.Monitor.Token = topology.NewSecret("tok-s3cret", "test")
	w := New(Config{Cluster: c, Inspect: func(context.Context) *topology.Live { return live }, DBs: noDBs{},
		StateFile: filepath.Join(t.TempDir(), "watch.state"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	w.Start(context.Background())
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	cl := &Client{Base: srv.URL, Token: "tok-s3cret"}
	if _, err := cl.Command(context.Background(), "mode", Command{Mode: "passive"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Command(context.Background(), "set-online", Command{Host: "nosuchhost"}); err == nil {
		t.Fatal("set-online of an unknown host succeeded")
	}
	out := logs.String()
	for _, want := range []string{
		`msg="control command done" cluster=`, `who=monitor-token remote=127.0.0.1:`, `command=/v1/mode`, `mode=passive`,
		`msg="control command failed"`, `command=/v1/set-online host=nosuchhost`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "Bearer") {
		t.Errorf("the token is in the log:\n%s", out)
	}
}
