//go:build linux

package lab

// What the chaos suite (internal/chaos) needs beyond the rest of the lab:
// one host's recorded state, the agents' pids, and the restart of one agent
// after the suite killed it, recorded so that StopAgents and Down still stop
// it by pid.

import (
	"context"
	"fmt"
	"os/exec"
)

// HostState returns what the lab recorded about host (namespace, interface,
// data dir, defaults file, the pid it started), or an error when the lab has
// no such host running.
func (l *Lab) HostState(host string) (*HostState, error) {
	s, err := readState(l.dir)
	if err != nil {
		return nil, err
	}
	if s == nil || s.host(host) == nil {
		return nil, fmt.Errorf("lab %s has no recorded host %q", l.id, host)
	}
	return s.host(host), nil
}

// ServerPID is the pid of host's running mariadbd (the one the lab started,
// or the one in its pid file after a restart), 0 when none runs.
func (l *Lab) ServerPID(host string) int {
	h, err := l.HostState(host)
	if err != nil {
		return 0
	}
	return h.livePID()
}

// AgentPIDs returns the recorded agents' pids by host.
func (l *Lab) AgentPIDs() (map[string]int, error) { return readAgents(l.dir) }

// AgentAlive reports whether pid is host's agent and still runs.
func (l *Lab) AgentAlive(host string, pid int) bool { return l.agentAlive(host, pid) }

// StartAgent starts the agent of one host (after it died or was killed),
// the way StartAgents does, and records its pid beside the others. An agent
// of host still running is stopped first.
func (l *Lab) StartAgent(ctx context.Context, host string, cmd *exec.Cmd) (int, error) {
	pids, err := readAgents(l.dir)
	if err != nil {
		return 0, err
	}
	if pids == nil {
		pids = map[string]int{}
	}
	if old := pids[host]; old > 0 {
		if err := stopProcess(old, l.opts.StopTimeout, func() bool { return l.agentAlive(host, old) }); err != nil {
			return 0, err
		}
	}
	pid, err := l.startAgent(ctx, host, cmd)
	if err != nil {
		return 0, err
	}
	pids[host] = pid
	return pid, writeAgents(l.dir, pids)
}
