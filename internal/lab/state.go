package lab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stateFile is the lab's record of what it created, in the lab's state dir. Down
// and a later Up read it to find the servers' pids and the names to remove.
const stateFile = "lab.json"

// State is what a lab records about itself.
type State struct {
	ID      string       `json:"id"`
	Subnet  string       `json:"subnet"`
	Bridge  string       `json:"bridge"`
	Monitor string       `json:"monitor"` // the root namespace's address on the bridge
	Hosts   []*HostState `json:"hosts"`
	// WatchNodes are the monitor nodes that have a namespace of their own
	// (those not on the root namespace's address), so Down and a later Up
	// find their namespaces and veths.
	WatchNodes []*WatchNodeState `json:"watch_nodes,omitempty"`
}

// HostState is one host of a running lab.
type HostState struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	Veth         string `json:"veth"`      // root-namespace end, a port of the bridge
	Interface    string `json:"interface"` // namespace end, carries the address
	Address      string `json:"address"`
	Port         int    `json:"port"`
	ServerID     uint32 `json:"server_id"`
	Dir          string `json:"dir"`
	PID          int    `json:"pid"`
	DefaultsFile string `json:"defaults_file"`
	// TLSDir is the cluster's tls dir when it has one: the server then
	// serves DIR/NAME.pem (mmm tls init's host certificate) to TLS clients.
	TLSDir string `json:"tls_dir,omitempty"`
}

func (s *State) host(name string) *HostState {
	for _, h := range s.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

func readState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		// A torn write of a crashed run: treat as no state; Up cleans up by name.
		return nil, nil
	}
	return &s, nil
}

func writeState(dir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

// livePID is the pid of the host's server: the one the lab started, or the
// one in its pid file when something else restarted it (the agent's physical
// clone stops and starts the server); 0 when none runs.
func (h *HostState) livePID() int {
	if serverAlive(h.PID, h.DefaultsFile) {
		return h.PID
	}
	b, err := os.ReadFile(filepath.Join(h.Dir, "mariadb.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !serverAlive(pid, h.DefaultsFile) {
		return 0
	}
	return pid
}

// serverAlive reports whether pid is a running (not zombie) process whose command
// line names defaultsFile, so a pid reused by another program is never taken for
// (or stopped as) one of our servers.
func serverAlive(pid int, defaultsFile string) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Field 3, after the parenthesised command name, is the state.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	if defaultsFile == "" {
		return true
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return strings.Contains(string(cmdline), "--defaults-file="+defaultsFile)
}

// stopProcess sends SIGTERM, waits up to grace for the process to go, then
// SIGKILLs it. check says whether it still runs (and is still ours).
func stopProcess(pid int, grace time.Duration, check func() bool) error {
	return signalProcess(pid, syscall.SIGTERM, grace, check)
}

// signalProcess is stopProcess with another first signal (the chaos suite
// stops a watch node with SIGKILL or SIGINT, not only SIGTERM).
func signalProcess(pid int, sig syscall.Signal, grace time.Duration, check func() bool) error {
	if !check() {
		return nil
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop pid %d (%v): %w", pid, sig, err)
	}
	if waitGone(grace, check) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill pid %d: %w", pid, err)
	}
	if waitGone(5*time.Second, check) {
		return nil
	}
	return fmt.Errorf("pid %d still runs after SIGKILL", pid)
}

func waitGone(d time.Duration, alive func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !alive() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !alive()
}
