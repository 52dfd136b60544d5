//go:build unix

package command

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sh(script string, timeout time.Duration, env ...string) Spec {
	return Spec{Argv: []string{"/bin/sh", "-c", script}, Timeout: timeout, Env: env}
}

func TestExitZero(t *testing.T) {
	r := Run(context.Background(), sh("echo fine", 5*time.Second))
	if r.Err != nil || r.ExitCode != 0 || r.Output != "fine\n" {
		t.Errorf("got %+v", r)
	}
}

func TestExitCodeAndLastLine(t *testing.T) {
	r := Run(context.Background(), sh("echo first; echo 'disk 97% full' >&2; exit 3", 5*time.Second))
	if r.ExitCode != 3 || r.Err == nil {
		t.Fatalf("got %+v", r)
	}
	if got, want := r.Err.Error(), "exit status 3: disk 97% full"; got != want {
		t.Errorf("Err = %q, want %q", got, want)
	}
	if r.Output != "first\ndisk 97% full\n" {
		t.Errorf("Output = %q: want stdout and stderr together, in order", r.Output)
	}
}

func TestNotFound(t *testing.T) {
	r := Run(context.Background(), Spec{Argv: []string{"/nonexistent/mmm-check"}})
	if r.Err == nil || r.ExitCode != -1 || !strings.Contains(r.Err.Error(), "/nonexistent/mmm-check") {
		t.Errorf("got %+v", r)
	}
	if r := Run(context.Background(), Spec{}); r.Err == nil {
		t.Errorf("empty argv: got %+v", r)
	}
}

// alive reports whether pid runs: kill -0 succeeds, and it is not a zombie
// (killed, waiting for its new parent to reap it).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: trust kill -0
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// TestTimeoutKillsTheWholeGroup: at the timeout the program and what it
// started go, at once; the result says it timed out.
func TestTimeoutKillsTheWholeGroup(t *testing.T) {
	t0 := time.Now()
	r := Run(context.Background(), sh("sleep 30 & echo $!; sleep 30", 300*time.Millisecond))
	took := time.Since(t0)
	if took > 2*time.Second {
		t.Errorf("took %s; want about the timeout (300ms)", took)
	}
	if r.ExitCode != -1 || !errors.Is(r.Err, ErrTimeout) || r.Err.Error() != "timed out after 300ms" {
		t.Errorf("got %+v", r)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(r.Output))
	if err != nil {
		t.Fatalf("output %q: want the background sleep's pid", r.Output)
	}
	// SIGKILL is delivered at once; the grandchild is reaped by init shortly after.
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL) // ours: the test started it
		t.Errorf("background sleep %d outlived the timeout", pid)
	}
}

// TestGrandchildHoldingOutput: the program exits at once but leaves a process
// holding its stdout; Run returns after WaitDelay, with the program's verdict,
// and the leftover is killed.
func TestGrandchildHoldingOutput(t *testing.T) {
	t0 := time.Now()
	r := Run(context.Background(), sh("sleep 30 & echo $!; exit 0", 10*time.Second))
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("took %s; want about WaitDelay (%s)", took, WaitDelay)
	}
	if r.Err != nil || r.ExitCode != 0 {
		t.Errorf("got %+v; want the program's exit 0", r)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(r.Output))
	if err != nil {
		t.Fatalf("output %q: want the background sleep's pid", r.Output)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("leftover sleep %d still runs", pid)
	}
}

// TestEscapedProcessHoldingOutputPastTimeout: a process outside the group
// (setsid) keeps stdout open; Run still returns shortly after the timeout.
func TestEscapedProcessHoldingOutputPastTimeout(t *testing.T) {
	t0 := time.Now()
	// setsid: a new session, so the group kill does not reach it; it prints its
	// pid and keeps stdout for 30s.
	r := Run(context.Background(), sh("setsid sh -c 'echo $$; exec sleep 30' & sleep 30", 300*time.Millisecond))
	if took := time.Since(t0); took > 300*time.Millisecond+WaitDelay+time.Second {
		t.Errorf("took %s; want the timeout plus WaitDelay", took)
	}
	if !errors.Is(r.Err, ErrTimeout) {
		t.Errorf("got %+v", r)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(r.Output)); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL) // the test started it
	}
}

func TestContextEnd(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	t0 := time.Now()
	r := Run(ctx, sh("sleep 30", 0))
	if took := time.Since(t0); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	if r.ExitCode != -1 || !errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, ErrTimeout) {
		t.Errorf("got %+v", r)
	}
}

// TestEnvironmentIsMinimal: the daemon's secrets stay in the daemon.
func TestEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("MMM_ADMIN_PASSWORD", "s3cret-in-the-daemon")
	t.Setenv("LANG", "C.UTF-8")
	r := Run(context.Background(), Spec{Argv: []string{"env"}, Env: []string{"MMM_HOST=master1", "MMM_ADDRESS=198.18.0.11"}, Timeout: 5 * time.Second})
	if r.Err != nil {
		t.Fatalf("got %+v", r)
	}
	if strings.Contains(r.Output, "MMM_ADMIN_PASSWORD") || strings.Contains(r.Output, "s3cret") {
		t.Errorf("the daemon's environment leaked into the command:\n%s", r.Output)
	}
	for _, want := range []string{"MMM_HOST=master1\n", "MMM_ADDRESS=198.18.0.11\n", "LANG=C.UTF-8\n", "PATH="} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("env lacks %q:\n%s", want, r.Output)
		}
	}
}

func TestOutputKeepsTheEnd(t *testing.T) {
	// 100 KiB of x, then the line that says why.
	r := Run(context.Background(), sh("head -c 102400 /dev/zero | tr '\\0' x; echo; echo 'the reason'; exit 1", 5*time.Second))
	if r.ExitCode != 1 || r.Err.Error() != "exit status 1: the reason" {
		t.Errorf("got exit %d, %v", r.ExitCode, r.Err)
	}
	if !strings.HasPrefix(r.Output, "[… ") || !strings.HasSuffix(r.Output, "the reason\n") {
		t.Errorf("output starts %q, ends %q", r.Output[:20], r.Output[len(r.Output)-20:])
	}
	if body := r.Output[strings.IndexByte(r.Output, '\n')+1:]; len(body) != MaxOutput {
		t.Errorf("kept %d bytes, want %d", len(body), MaxOutput)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 4}
	for _, s := range []string{"ab", "cd", "e", "fghij", "k"} {
		_, _ = b.Write([]byte(s))
	}
	if got := b.String(); got != "[… 7 bytes dropped]\nhijk" {
		t.Errorf("got %q", got)
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	r := Run(context.Background(), Spec{Argv: []string{"pwd"}, Dir: dir, Timeout: 5 * time.Second})
	if r.Err != nil || strings.TrimSpace(r.Output) != dir {
		t.Errorf("got %+v, want %s", r, dir)
	}
}
