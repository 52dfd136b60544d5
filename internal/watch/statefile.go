package watch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// savedState is the state file: what must survive a restart of the watch.
// Reality (who is writable, who holds a VIP) is read again at start-up and
// wins over it; the file keeps what reality cannot tell: operator decisions
// (mode, ADMIN_OFFLINE), flap history, and the failover positions that
// expose errant transactions on a returning old writer.
type savedState struct {
	Version     int                   `json:"version"`
	Mode        Mode                  `json:"mode"`
	ModeReason  string                `json:"mode_reason,omitempty"`
	Writer      string                `json:"writer,omitempty"`
	Hosts       map[string]*HostState `json:"hosts"`
	FailoverPos map[string]string     `json:"failover_positions,omitempty"`
	Fenced      []string              `json:"fenced,omitempty"`
	Ahead       map[string]string     `json:"ahead_after_failover,omitempty"`
	// Epoch is the last grant epoch (docs/watch.md, "Grants").
	Epoch uint64 `json:"epoch,omitempty"`
	// AgentsUp: the hosts whose agent answered lately, so a watch restarted
	// while a host is lost knows whether its lease is enforced.
	AgentsUp []string `json:"agents_up,omitempty"`
	// Intent: a failover or switchover in progress (several watch nodes).
	Intent *Intent `json:"intent,omitempty"`
}

func loadState(path string) (*savedState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// writeAtomic writes the file next to its final name and renames it, so a
// crash leaves the old state or the new one, never half of one.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable only once the directory is: the epoch must
	// never go back after a power loss.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (w *Watch) snapshot() *savedState {
	st := &savedState{Version: 1, Mode: w.mode, ModeReason: w.modeReason, Writer: w.writer,
		Hosts: map[string]*HostState{}, FailoverPos: w.failoverPos, Ahead: w.aheadAfterFailover, Epoch: w.epoch.Load(), Intent: w.intent}
	for n, hs := range w.machine.Hosts {
		cp := *hs
		st.Hosts[n] = &cp
	}
	st.Fenced = w.leases.FencedList()
	if w.cfg.Agents != nil {
		now := time.Now()
		for _, h := range w.c.Hosts {
			if f := w.facts.Get(h.Name); !f.AgentOKAt.IsZero() && now.Sub(f.AgentOKAt) <= w.hostLostAfter() {
				st.AgentsUp = append(st.AgentsUp, h.Name)
			} else if f.AgentOKAt.IsZero() && w.agentsUpAtStart[h.Name] {
				st.AgentsUp = append(st.AgentsUp, h.Name) // not seen yet by this process
			}
		}
	}
	return st
}

// stateRefresh bounds how old the state file's last_seen may be.
const stateRefresh = 10 * time.Second

// withoutLastSeen is st with every host's last_seen and last_uptime cleared.
func withoutLastSeen(st *savedState) *savedState {
	cp := *st
	cp.Hosts = make(map[string]*HostState, len(st.Hosts))
	for n, hs := range st.Hosts {
		h := *hs
		h.LastUptime, h.LastSeen = 0, time.Time{}
		cp.Hosts[n] = &h
	}
	return &cp
}

// save writes the state file (errors are logged: the watch goes on).
func (w *Watch) save() {
	path := w.stateFile()
	if w.cfg.Raft != nil {
		if !w.actingNow() {
			return // only the leader commits
		}
		path = "raft"
	}
	if path == "" {
		return
	}
	st := w.snapshot()
	// Each round moves every host's last_seen and last_uptime on: a pair
	// that is consistent however old it is (a restart is judged by uptime
	// against the time elapsed since). So a round that changed nothing else
	// writes nothing, and those two are written at least every
	// stateRefresh: no write and no fsync four times a second.
	key, err := json.Marshal(withoutLastSeen(st))
	if err == nil && bytes.Equal(key, w.savedState) && time.Since(w.savedAt) < stateRefresh {
		return
	}
	b, err := json.MarshalIndent(st, "", "  ")
	switch {
	case err != nil:
	case w.cfg.Raft != nil:
		err = w.saveReplicated(b)
	default:
		err = writeAtomic(path, b)
	}
	if err == nil {
		w.savedState, w.savedAt = key, time.Now()
	}
	if err != nil {
		w.log.Error("cannot write the state file", "file", path, "error", err)
	}
}

// restore takes the saved state. Host states other than ADMIN_OFFLINE start
// UNKNOWN again (the checks decide afresh), but keep their flap history.
func (w *Watch) restore(st *savedState) {
	if st.Mode != "" {
		w.mode, w.modeReason = st.Mode, st.ModeReason
	}
	w.setWriter(st.Writer)
	if st.Epoch > w.epoch.Load() {
		w.epoch.Store(st.Epoch)
	}
	for n, hs := range st.Hosts {
		cur := w.machine.Hosts[n]
		if cur == nil || hs == nil {
			continue
		}
		cur.Flaps = hs.Flaps
		if hs.State == AdminOffline {
			cur.State, cur.Since, cur.Reason = AdminOffline, hs.Since, hs.Reason
		}
	}
	for k, v := range st.FailoverPos {
		w.failoverPos[k] = v
	}
	for k, v := range st.Ahead {
		w.aheadAfterFailover[k] = v
	}
	for _, h := range st.AgentsUp {
		w.agentsUpAtStart[h] = true
	}
	for _, h := range st.Fenced {
		w.leases.SetFenced(h, true)
	}
}
