//go:build linux

package lab

// Agents: `mmm agent` in every host's namespace, so VIPs move for real. This
// file is added by the agent work (issue 6) and kept apart from the lab's
// server code: the lab does not know how an agent is run (the CLI runs its
// own executable, a Go test its test binary), the caller says so with an
// AgentCommand.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// AgentCommand returns the command that runs the agent of host, e.g.
// exec.Command(mmmPath, "agent", "--config", file, "--host", host). Secrets go
// in its Env, never in its arguments.
type AgentCommand func(host string) *exec.Cmd

// agentsFile records the agents' pids in the lab's state dir.
const agentsFile = "agents.json"

// StartAgents starts an agent for every host inside the host's namespace
// (detached, output in <state dir>/<host>/agent.log), waits until each accepts
// connections on its address and agent.port, and records the pids. Agents
// still running from an earlier call are stopped first. Down stops them too,
// with everything else in the namespaces.
func (l *Lab) StartAgents(ctx context.Context, command AgentCommand) (map[string]int, error) {
	if err := l.StopAgents(); err != nil {
		return nil, err
	}
	pids := map[string]int{}
	var errs []error
	for _, h := range l.cluster.Hosts {
		pid, err := l.startAgent(ctx, h.Name, command(h.Name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pids[h.Name] = pid
	}
	if err := writeAgents(l.dir, pids); err != nil {
		errs = append(errs, err)
	}
	return pids, errors.Join(errs...)
}

// AgentLog is the file a host's agent started by StartAgents writes to.
func (l *Lab) AgentLog(host string) string { return filepath.Join(l.dir, host, "agent.log") }

func (l *Lab) startAgent(ctx context.Context, host string, cmd *exec.Cmd) (int, error) {
	h := l.cluster.Host(host)
	dir := filepath.Join(l.dir, host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	logPath := l.AgentLog(host)
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	serverEnv, err := l.agentServerEnv(host)
	if err != nil {
		return 0, err
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, serverEnv...)
	if err := startInNamespace(l.Namespace(host), cmd); err != nil {
		return 0, fmt.Errorf("start agent for %s: %w", host, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	addr := net.JoinHostPort(h.Address, strconv.Itoa(l.cluster.Agent.Port))
	ctx, cancel := context.WithTimeout(ctx, l.opts.StartTimeout)
	defer cancel()
	for {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			l.log.Debug("agent running", "host", host, "pid", cmd.Process.Pid, "addr", addr)
			return cmd.Process.Pid, nil
		}
		select {
		case werr := <-exited:
			b, _ := os.ReadFile(logPath)
			return 0, fmt.Errorf("agent for %s exited (%v):\n%s", host, werr, tail(string(b), 15))
		case <-ctx.Done():
			_ = stopProcess(cmd.Process.Pid, l.opts.StopTimeout, func() bool { return l.agentAlive(host, cmd.Process.Pid) })
			return 0, fmt.Errorf("agent for %s does not accept connections on %s: %w", host, addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// agentServerEnv tells the agent how to stop and start the host's server
// (for the physical clone), as the environment of `mmm agent`: the lab's
// servers are no system service. Stop waits until the process is gone; start
// detaches the server like the lab does, with its output in mariadbd.out.
func (l *Lab) agentServerEnv(host string) ([]string, error) {
	sc, err := l.ServerControl(host)
	if err != nil {
		return nil, err
	}
	return []string{
		"MMM_AGENT_SERVER_STOP=" + sc.Stop,
		"MMM_AGENT_SERVER_START=" + sc.Start,
		"MMM_AGENT_SERVER_DEFAULTS_FILE=" + sc.DefaultsFile,
		"MMM_AGENT_STATE_DIR=" + filepath.Join(l.dir, host, "agent-state"),
	}, nil
}

// ServerCommands are the shell commands that stop and start a lab host's
// server from inside its namespace, and its option file.
type ServerCommands struct {
	Start, Stop, DefaultsFile string
}

// ServerControl says how to stop and start host's server (what its agent
// is given for the physical clone).
func (l *Lab) ServerControl(host string) (ServerCommands, error) {
	h := l.desiredState().host(host)
	if h == nil {
		return ServerCommands{}, fmt.Errorf("lab %s has no host %q", l.id, host)
	}
	bin, err := findProgram("mariadbd")
	if err != nil {
		return ServerCommands{}, err
	}
	pidFile := filepath.Join(h.Dir, "mariadb.pid")
	return ServerCommands{
		Stop:         fmt.Sprintf(`pid=$(cat %[1]q 2>/dev/null) || exit 0; kill "$pid" 2>/dev/null || exit 0; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done`, pidFile),
		Start:        fmt.Sprintf(`setsid %q --defaults-file=%q >>%q 2>&1 </dev/null &`, bin, h.DefaultsFile, filepath.Join(h.Dir, "mariadbd.out")),
		DefaultsFile: h.DefaultsFile,
	}, nil
}

// StopAgents stops the recorded agents by pid (SIGTERM, then SIGKILL after
// StopTimeout). No agents is no error.
func (l *Lab) StopAgents() error {
	pids, err := readAgents(l.dir)
	if err != nil || len(pids) == 0 {
		return err
	}
	var errs []error
	for host, pid := range pids {
		if err := stopProcess(pid, l.opts.StopTimeout, func() bool { return l.agentAlive(host, pid) }); err != nil {
			errs = append(errs, fmt.Errorf("stop agent of %s: %w", host, err))
		}
	}
	if err := os.Remove(filepath.Join(l.dir, agentsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// agentAlive: pid runs and lives in host's namespace, so a reused pid is never
// taken for an agent.
func (l *Lab) agentAlive(host string, pid int) bool {
	return serverAlive(pid, "") && slices.Contains(namespacePids(l.Namespace(host)), pid)
}

func readAgents(dir string) (map[string]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, agentsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var pids map[string]int
	if err := json.Unmarshal(b, &pids); err != nil {
		return nil, nil // torn write of a crashed run; Down finds them by namespace
	}
	return pids, nil
}

func writeAgents(dir string, pids map[string]int) error {
	b, err := json.MarshalIndent(pids, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, agentsFile), append(b, '\n'), 0o644)
}
