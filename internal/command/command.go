// Package command runs the external programs a topology names (custom checks,
// the pre/post failover hooks, the fence hook) so that none of them can stall
// or leak into the daemon that runs it:
//
//   - the program gets a minimal environment (PATH, HOME, LANG, LC_ALL, TZ when
//     set, plus Spec.Env), never the daemon's own, which holds secrets such as
//     MMM_ADMIN_PASSWORD;
//   - it runs in its own process group, and at its timeout (or when ctx ends)
//     the whole group gets SIGKILL, so `sh -c 'slow & slower'` leaves nothing;
//   - whatever the group left running when the program exits is killed too: a
//     hook that must start something lasting detaches it (setsid, systemd-run);
//   - a process that keeps stdout open after the program ended (one that
//     escaped the group) costs at most WaitDelay, not the daemon's round;
//   - output (stdout and stderr together) is capped at MaxOutput, keeping the
//     end, where programs say why they failed.
package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// MaxOutput is how much of a command's output Result keeps (the last part).
const MaxOutput = 64 << 10

// WaitDelay is how long Run waits for the output to close after the program
// exited or was killed, before it closes the pipe itself.
const WaitDelay = 250 * time.Millisecond

// DefaultPath is PATH when the daemon's own environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spec is one command to run.
type Spec struct {
	// Argv is the program and its arguments; no shell is involved.
	Argv []string
	// Env is KEY=VALUE pairs added to the minimal environment (they win over it).
	Env []string
	// Timeout bounds the run (0: only ctx bounds it).
	Timeout time.Duration
	// Dir is the working directory ("" : the daemon's).
	Dir string
}

// Result is how a command ended.
type Result struct {
	// Output is stdout and stderr as the program interleaved them, at most
	// MaxOutput bytes: the end of it, after a "[… N bytes dropped]" line when cut.
	Output string
	// ExitCode is the program's exit status; -1 when it did not exit by itself
	// (killed at the timeout, by a signal, or never started).
	ExitCode int
	// Err is nil exactly when the program exited 0. Otherwise it says why:
	// "timed out after 2s", "exit status 3: <last line of output>",
	// "killed by signal terminated", or why it could not start.
	Err error
}

// ErrTimeout is wrapped by Result.Err when the command ran past Spec.Timeout.
var ErrTimeout = errors.New("timed out")

// Run runs s and waits for it, for at most s.Timeout (and while ctx lasts)
// plus WaitDelay.
func Run(ctx context.Context, s Spec) Result {
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		return Result{ExitCode: -1, Err: errors.New("no command")}
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.Timeout, fmt.Errorf("%w after %s", ErrTimeout, s.Timeout))
		defer cancel()
	}
	out := &tailBuffer{max: MaxOutput}
	cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Env = environment(s.Env)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out, out // one writer: one pipe, the program's own order
	cmd.WaitDelay = WaitDelay
	ownGroup(cmd) // and cmd.Cancel kills the group

	err := cmd.Start()
	if err != nil {
		return Result{ExitCode: -1, Err: fmt.Errorf("start %s: %w", s.Argv[0], err)}
	}
	err = cmd.Wait()
	// Whatever the program left behind in its group goes with it.
	killGroup(cmd)

	r := Result{Output: out.String(), ExitCode: cmd.ProcessState.ExitCode()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil && (err != nil || r.ExitCode != 0):
		// Killed by us (the group, at the deadline or when ctx ended).
		r.ExitCode = -1
		if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
			r.Err = cause
		} else {
			r.Err = fmt.Errorf("stopped: %w", cause)
		}
	case errors.Is(err, exec.ErrWaitDelay):
		// Exited 0, but something kept its output open past WaitDelay: the
		// program's verdict stands.
		r.Err = nil
	case errors.As(err, &exitErr) && r.ExitCode == -1:
		r.Err = fmt.Errorf("killed by signal %s%s", signalOf(exitErr), lastLineSuffix(r.Output))
	case r.ExitCode != 0:
		r.Err = fmt.Errorf("exit status %d%s", r.ExitCode, lastLineSuffix(r.Output))
	case err != nil:
		r.Err = err
	}
	return r
}

// environment is the minimal environment plus extra (which wins).
func environment(extra []string) []string {
	env := []string{"PATH=" + DefaultPath}
	if p, ok := os.LookupEnv("PATH"); ok && p != "" {
		env[0] = "PATH=" + p
	}
	for _, k := range []string{"HOME", "LANG", "LC_ALL", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	// exec.Cmd keeps the last value of a duplicated key.
	return append(env, extra...)
}

// LastLine is the last non-empty line of output, at most 200 bytes.
func LastLine(output string) string {
	s := strings.TrimRight(output, "\r\n\t ")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func lastLineSuffix(output string) string {
	if l := LastLine(output); l != "" {
		return ": " + l
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it. exec.Cmd calls Write from
// one goroutine (Stdout and Stderr are the same writer), and reads it only
// after Wait.
type tailBuffer struct {
	max     int
	buf     []byte
	dropped int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.max {
		b.dropped += int64(len(b.buf) + len(p) - b.max)
		b.buf = append(b.buf[:0], p[len(p)-b.max:]...)
		return n, nil
	}
	if over := len(b.buf) + len(p) - b.max; over > 0 {
		b.dropped += int64(over)
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

func (b *tailBuffer) String() string {
	if b.dropped == 0 {
		return string(b.buf)
	}
	return fmt.Sprintf("[… %d bytes dropped]\n", b.dropped) + string(b.buf)
}
