// Package ui is the watch's status page: the live topology as a drawing,
// the hosts' states and roles, replication lag, the event timeline and
// banners, served on the watch's control address next to its API.
//
// It draws only what the watch already knows. The watch hands it a View
// (built from its report and the probes' latest facts), so the page costs
// the servers nothing: no query is ever sent on its behalf. The package
// imports nothing of mmm's own (the watch imports it), and the same drawing
// code renders `mmm show --format dot|svg`.
package ui

import (
	"regexp"
	"strings"
	"time"
)

// View is one picture of the cluster as the watch sees it.
type View struct {
	Cluster    string `json:"cluster"`
	Mode       string `json:"mode"` // active | passive | manual
	ModeReason string `json:"mode_reason,omitempty"`
	Writer     string `json:"writer"`
	// SemiSync is the writer's semi-sync state when the file asks for it:
	// "active", "unknown", or "OFF since …" (fell back to asynchronous).
	SemiSync      string `json:"semi_sync,omitempty"`
	WriterVerdict string `json:"writer_verdict,omitempty"`
	VerdictWhy    string `json:"writer_verdict_reason,omitempty"`
	// NetworkDown: none of the monitor's ping_ips answers; the watch is the
	// one cut off and changes nothing.
	NetworkDown bool     `json:"network_down,omitempty"`
	PingIPs     []string `json:"ping_ips,omitempty"`
	LastFailure string   `json:"last_failure,omitempty"`
	// Busy: the watch is in the middle of this (a failover …).
	Busy string `json:"busy,omitempty"`
	// Node is the watch node serving the page and Leader the one that acts
	// (several watch nodes; both "" for a single watch).
	Node   string    `json:"node,omitempty"`
	Leader string    `json:"leader,omitempty"`
	Hosts  []Host    `json:"hosts"`
	Events []Event   `json:"events,omitempty"`
	At     time.Time `json:"at"`
}

// Host is one host of the cluster.
type Host struct {
	Name    string    `json:"name"`
	Address string    `json:"address"`
	Mode    string    `json:"mode"` // master | slave
	Peer    string    `json:"peer,omitempty"`
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason,omitempty"`
	Roles   []Role    `json:"roles"`
	Writer  bool      `json:"writer,omitempty"`
	Problem string    `json:"problem,omitempty"`
	Fenced  bool      `json:"fenced,omitempty"`
	Agent   string    `json:"agent,omitempty"`
	// ReadOnly is the server's read_only as last inspected (nil: not known).
	ReadOnly *bool `json:"read_only,omitempty"`
	// Replication is the host's replication channel as last inspected (nil:
	// none, or the server did not answer).
	Replication *Replication `json:"replication,omitempty"`
}

// Role is a role's IP held by a host.
type Role struct {
	Role string `json:"role"`
	IP   string `json:"ip"`
}

// Replication is a replica's channel.
type Replication struct {
	// Source is the source's host name, or its address when it is not a
	// host of the file.
	Source string `json:"source"`
	IO     string `json:"io"`  // Yes | No | Connecting
	SQL    string `json:"sql"` // Yes | No
	// LagSeconds is Seconds_Behind_Master (nil: NULL, unknown).
	LagSeconds *int64 `json:"lag_seconds,omitempty"`
	// Behind is how many transactions the source executed that the replica
	// did not (the GTID distance; nil when a position is unknown).
	Behind   *uint64 `json:"behind,omitempty"`
	SemiSync bool    `json:"semi_sync,omitempty"` // the replica side is enabled
	Error    string  `json:"error,omitempty"`     // the last IO or SQL error
}

// Running says whether both threads run.
func (r *Replication) Running() bool { return r != nil && r.IO == "Yes" && r.SQL == "Yes" }

// Event is one decision or change the watch recorded.
type Event struct {
	At      time.Time `json:"at"`
	Message string    `json:"message"`
	// Kind groups the timeline (see EventKind).
	Kind string `json:"kind"`
	// Steps of a failover or switchover, with their timings.
	Steps []Step `json:"steps,omitempty"`
}

// Step is one executed step of a writer move.
type Step struct {
	ID     string  `json:"id"`
	Host   string  `json:"host"`
	Status string  `json:"status"`
	TookMS float64 `json:"took_ms"`
}

// EventKind sorts an event's message into what the timeline shows it as:
// state, failover, writer, switchover, semi-sync, network, fence, mode,
// agent or other, for the events that carry no kind of their own (the
// watch types only its writer moves). It only picks a colour and a label;
// nothing decides on it.
func EventKind(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case transition.MatchString(msg):
		return "state"
	case strings.Contains(m, "semi-sync"):
		return "semi-sync"
	case strings.HasPrefix(m, "failover"), strings.Contains(m, " dead ("):
		return "failover"
	case strings.HasPrefix(m, "writer "):
		return "writer"
	case strings.Contains(m, "switchover"), strings.Contains(m, "fail-back"):
		return "switchover"
	case strings.HasPrefix(m, "network"):
		return "network"
	case strings.Contains(m, "fence"):
		return "fence"
	case strings.HasPrefix(m, "mode "), strings.HasPrefix(m, "passive"), strings.HasPrefix(m, "started in"):
		return "mode"
	case strings.Contains(m, "agent"):
		return "agent"
	}
	return "other"
}

// transition is a host state change as the watch words it ("slave1:
// ONLINE -> REPLICATION_FAIL (why)").
var transition = regexp.MustCompile(`^\S+: [A-Z_]+ -> [A-Z_]+`)

// Host returns the named host (nil if none).
func (v *View) Host(name string) *Host {
	for i := range v.Hosts {
		if v.Hosts[i].Name == name {
			return &v.Hosts[i]
		}
	}
	return nil
}

// Sample is one point of the page's charts: per host, replication lag and
// the latency of the monitor's probes.
type Sample struct {
	At    time.Time             `json:"at"`
	Hosts map[string]HostSample `json:"hosts"`
}

// HostSample is one host in a Sample.
type HostSample struct {
	Lag *int64 `json:"lag,omitempty"` // seconds behind its source
	// PingMS is the server greeting probe's round trip, InspectMS how long
	// the last inspection took (the ping and mysql checks), in milliseconds.
	PingMS    float64 `json:"ping_ms,omitempty"`
	InspectMS float64 `json:"inspect_ms,omitempty"`
}
