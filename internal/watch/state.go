// Package watch is `mmm watch`: health checks, MMM 2's host states, role
// placement and writer failover. The pure parts (check verdicts with trap
// periods, the state machine, role placement, candidate choice, the writer's
// detection rule) are separate from the daemon that feeds them, and every
// change the daemon makes is a plan from package plan executed by package
// apply.
package watch

import (
	"fmt"
	"sort"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// State is a host's state, as in MMM 2.
type State string

const (
	Unknown          State = "UNKNOWN" // before the first check after start-up
	Online           State = "ONLINE"
	AdminOffline     State = "ADMIN_OFFLINE"
	HardOffline      State = "HARD_OFFLINE"
	AwaitingRecovery State = "AWAITING_RECOVERY"
	ReplicationDelay State = "REPLICATION_DELAY"
	ReplicationFail  State = "REPLICATION_FAIL"
)

// States lists every state, for metrics.
var States = []State{Unknown, Online, AdminOffline, HardOffline, AwaitingRecovery, ReplicationDelay, ReplicationFail}

// Input is what the checks say of one host in one round, trap periods applied
// (a check that fails for less than its trap period still passes here).
type Input struct {
	Ping, MySQL, RepThreads, RepBacklog bool
	// Custom is false when a custom check failed: the host is unusable.
	Custom bool
	// Uptime is the server's uptime (0 unknown); a host that was away for a
	// moment without restarting comes back ONLINE at once, as in MMM.
	Uptime time.Duration
	// Problem keeps the host out of ONLINE whatever the checks say: errant
	// transactions, a replica ahead of the writer. It names the GTIDs.
	Problem string
	// Failing: the host's last ping or mysql check failed, trap period or
	// not. Its replicas' replication is not judged meanwhile: a source going
	// down is the source's failure, not theirs (a slave keeps its reader
	// role while the writer fails over).
	Failing bool
}

// Alive: the monitor reaches the host and its server answers.
func (in Input) Alive() bool { return in.Ping && in.MySQL && in.Custom }

// HostState is the state of one host and what led to it.
type HostState struct {
	State  State     `json:"state"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason,omitempty"`
	// Flaps are the times the host left ONLINE, within flap_duration.
	Flaps []time.Time `json:"flaps,omitempty"`
	// LastUptime is the server's uptime when the host was last seen ONLINE,
	// at LastSeen: a host back with an uptime that kept counting since did
	// not restart.
	LastUptime time.Duration `json:"last_uptime,omitempty"`
	LastSeen   time.Time     `json:"last_seen,omitempty"`
}

// Transition is one state change.
type Transition struct {
	Host     string
	From, To State
	Reason   string
}

func (t Transition) String() string {
	return fmt.Sprintf("%s: %s -> %s (%s)", t.Host, t.From, t.To, t.Reason)
}

// Machine holds every host's state and moves it by MMM 2's rules.
type Machine struct {
	Cluster *topology.Cluster
	Hosts   map[string]*HostState
}

// NewMachine starts every declared host UNKNOWN.
func NewMachine(c *topology.Cluster, now time.Time) *Machine {
	m := &Machine{Cluster: c, Hosts: map[string]*HostState{}}
	for _, h := range c.Hosts {
		m.Hosts[h.Name] = &HostState{State: Unknown, Since: now}
	}
	return m
}

// quickReturn: a host away for less than this without a server restart comes
// back ONLINE at once (MMM's 60 seconds).
const quickReturn = 60 * time.Second

// Step applies one round of inputs. activeMaster is the host holding the
// writer role ("" none): it is never demoted for its own replication state,
// and slaves' replication is judged only while it is ONLINE.
func (m *Machine) Step(now time.Time, in map[string]Input, activeMaster string) []Transition {
	var out []Transition
	names := make([]string, 0, len(m.Hosts))
	for n := range m.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	// Peers are judged on the states at the start of the round.
	before := map[string]State{}
	for _, n := range names {
		before[n] = m.Hosts[n].State
	}
	for _, name := range names {
		hs := m.Hosts[name]
		input, ok := in[name]
		if !ok {
			continue
		}
		to, reason := m.next(name, hs, input, in, before, activeMaster, now)
		if input.Uptime > 0 && hs.State == Online && input.Alive() {
			hs.LastUptime, hs.LastSeen = input.Uptime, now
		}
		if to == hs.State {
			if reason != "" {
				hs.Reason = reason
			}
			continue
		}
		out = append(out, Transition{Host: name, From: hs.State, To: to, Reason: reason})
		m.set(name, to, reason, now)
	}
	return out
}

func (m *Machine) set(name string, to State, reason string, now time.Time) {
	hs := m.Hosts[name]
	// An operator's set_offline (maintenance) is no flap: only leaving
	// ONLINE on the checks' word counts.
	if hs.State == Online && to != Online && to != AdminOffline {
		hs.Flaps = append(hs.Flaps, now)
	}
	hs.State, hs.Since, hs.Reason = to, now, reason
}

// peerOK: the host's replication source (a master's peer, a slave's active
// master) is ONLINE; otherwise its replication checks say nothing about it.
func (m *Machine) peerOK(name string, before map[string]State, in map[string]Input, activeMaster string) bool {
	h := m.Cluster.Host(name)
	if h == nil {
		return false
	}
	peer := h.Peer
	if h.Mode == topology.ModeSlave || peer == "" {
		peer = activeMaster
	}
	if peer == "" || before[peer] != Online {
		return false
	}
	if pin, ok := in[peer]; ok && (!pin.Alive() || pin.Failing) {
		return false
	}
	return true
}

// Flapping reports whether the host left ONLINE flap_count times within
// flap_duration: then it is not set ONLINE automatically.
func (m *Machine) Flapping(name string, now time.Time) bool {
	hs := m.Hosts[name]
	mon := m.Cluster.Monitor
	if hs == nil || mon.FlapCount <= 0 {
		return false
	}
	n := 0
	for _, t := range hs.Flaps {
		if mon.FlapDuration <= 0 || now.Sub(t) <= mon.FlapDuration {
			n++
		}
	}
	return n >= mon.FlapCount
}

func (m *Machine) next(name string, hs *HostState, in Input, all map[string]Input, before map[string]State, activeMaster string, now time.Time) (State, string) {
	isActive := name == activeMaster
	repOK := in.RepThreads && in.RepBacklog
	down := func() string {
		return fmt.Sprintf("ping: %s, mysql: %s, custom: %s", okStr(in.Ping), okStr(in.MySQL), okStr(in.Custom))
	}
	switch hs.State {
	case AdminOffline:
		return AdminOffline, ""

	case Unknown:
		// First look after start-up: classify without waiting for
		// auto_set_online, so a watch restart keeps a healthy cluster as is.
		switch {
		case !in.Alive():
			return HardOffline, down()
		case in.Problem != "":
			return AwaitingRecovery, in.Problem
		case !isActive && !in.RepThreads:
			return ReplicationFail, "replication threads not running"
		case !isActive && !in.RepBacklog:
			return ReplicationDelay, "replication backlog too big"
		}
		return Online, "checks passed at start-up"

	case Online:
		if !in.Alive() {
			return HardOffline, down()
		}
		if isActive {
			return Online, "" // never demoted for its own replication
		}
		if in.Problem != "" {
			return ReplicationFail, in.Problem
		}
		if !m.peerOK(name, before, all, activeMaster) {
			return Online, ""
		}
		if !in.RepThreads {
			return ReplicationFail, "replication threads not running"
		}
		if !in.RepBacklog {
			return ReplicationDelay, "replication backlog too big"
		}
		return Online, ""

	case AwaitingRecovery:
		if !in.Alive() {
			return HardOffline, down()
		}
		if in.Problem != "" {
			return AwaitingRecovery, in.Problem
		}
		if isActive {
			// The writer itself is back and nobody took over (no candidate,
			// or a failover refused to lose writes): the cluster has no
			// other writer, so it serves again at once, whatever its own
			// replication from a peer that may still be away says.
			return Online, "the writer is back and no other host took over"
		}
		if !repOK {
			return AwaitingRecovery, "replication not healthy yet"
		}
		flapping := m.Flapping(name, now)
		if !flapping && m.didNotRestart(hs, in, now) && now.Sub(hs.Since) < quickReturn {
			return Online, fmt.Sprintf("back within a minute without a restart (uptime %s, %s when last seen ONLINE %s ago)",
				in.Uptime, hs.LastUptime, now.Sub(hs.LastSeen).Round(time.Second))
		}
		auto := m.Cluster.Monitor.AutoSetOnline
		if auto > 0 && now.Sub(hs.Since) >= auto {
			if flapping {
				return AwaitingRecovery, fmt.Sprintf("flapping (left ONLINE %d times within %s): set it online by hand", m.Cluster.Monitor.FlapCount, m.Cluster.Monitor.FlapDuration)
			}
			return Online, fmt.Sprintf("healthy for auto_set_online (%s)", auto)
		}
		return AwaitingRecovery, ""

	case ReplicationFail, ReplicationDelay:
		if !in.Alive() {
			return HardOffline, down()
		}
		if in.Problem != "" {
			return ReplicationFail, in.Problem
		}
		if repOK || isActive {
			return Online, "replication healthy again"
		}
		if hs.State == ReplicationDelay && !in.RepThreads {
			return ReplicationFail, "replication threads not running"
		}
		if hs.State == ReplicationFail && in.RepThreads && !in.RepBacklog {
			return ReplicationDelay, "replication running, backlog too big"
		}
		return hs.State, ""

	case HardOffline:
		// Back only once its last checks passed, not merely while their
		// trap period hides a failure (a failed-over writer is set
		// HARD_OFFLINE before its checks noticed).
		if in.Alive() && !in.Failing {
			return AwaitingRecovery, "reachable again"
		}
		return HardOffline, ""
	}
	return hs.State, ""
}

// didNotRestart: the server's uptime kept counting since the host was last
// seen ONLINE (uptime has a resolution of one second).
func (m *Machine) didNotRestart(hs *HostState, in Input, now time.Time) bool {
	if hs.LastUptime <= 0 || hs.LastSeen.IsZero() || in.Uptime <= 0 {
		return false
	}
	return in.Uptime+2*time.Second >= hs.LastUptime+now.Sub(hs.LastSeen)
}

func okStr(b bool) string {
	if b {
		return "OK"
	}
	return "ERROR"
}

// SetOnline is mmm_control set_online: an AWAITING_RECOVERY or ADMIN_OFFLINE
// host whose checks pass goes ONLINE (flapping or not: the operator decides).
func (m *Machine) SetOnline(name string, in Input, now time.Time) (*Transition, error) {
	hs := m.Hosts[name]
	if hs == nil {
		return nil, fmt.Errorf("unknown host %q", name)
	}
	if hs.State == Online {
		return nil, nil
	}
	if hs.State != AwaitingRecovery && hs.State != AdminOffline {
		return nil, fmt.Errorf("host %s is %s: only AWAITING_RECOVERY and ADMIN_OFFLINE hosts can be set online", name, hs.State)
	}
	if !in.Alive() {
		return nil, fmt.Errorf("host %s is not reachable (ping: %s, mysql: %s)", name, okStr(in.Ping), okStr(in.MySQL))
	}
	if in.Problem != "" {
		return nil, fmt.Errorf("host %s cannot go online: %s", name, in.Problem)
	}
	t := Transition{Host: name, From: hs.State, To: Online, Reason: "set online by the operator"}
	m.set(name, Online, t.Reason, now)
	return &t, nil
}

// Fail marks a host HARD_OFFLINE at once: the watch failed it over (its
// checks may not have trapped yet). It counts as a flap.
func (m *Machine) Fail(name, reason string, now time.Time) *Transition {
	hs := m.Hosts[name]
	if hs == nil || hs.State == HardOffline || hs.State == AdminOffline {
		return nil
	}
	t := Transition{Host: name, From: hs.State, To: HardOffline, Reason: reason}
	m.set(name, HardOffline, reason, now)
	return &t
}

// SetOffline is mmm_control set_offline: the host gives up its roles and
// stays ADMIN_OFFLINE until set online.
func (m *Machine) SetOffline(name string, now time.Time) (*Transition, error) {
	hs := m.Hosts[name]
	if hs == nil {
		return nil, fmt.Errorf("unknown host %q", name)
	}
	if hs.State == AdminOffline {
		return nil, nil
	}
	if hs.State == HardOffline || hs.State == Unknown {
		return nil, fmt.Errorf("host %s is %s: only a host the monitor sees can be set offline", name, hs.State)
	}
	t := Transition{Host: name, From: hs.State, To: AdminOffline, Reason: "set offline by the operator"}
	m.set(name, AdminOffline, t.Reason, now)
	return &t, nil
}
