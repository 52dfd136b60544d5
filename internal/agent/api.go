// Package agent is `mmm agent`, the daemon on every data node that owns the
// node's virtual IPs (the role of MySQL-MMM's mmm_agentd) and fences its
// server, and the client that plan/apply and watch use to talk to it.
//
// The API is JSON over HTTP(S) on the host's address and agent.port
// (docs/agent.md):
//
//	GET  /v1/status  → Status: the VIPs of this cluster the host holds, the
//	                   mode (static or lease), the lease, the highest grant
//	                   epoch, the server's health and read_only (cached by a
//	                   background probe: the answer never waits on the
//	                   server), the last fence, and a fresh nonce.
//	PUT  /v1/roles   → SetRolesRequest: the FULL role set this host must hold.
//	                   Answers with the Status after the change.
//	POST /v1/fence   → FenceRequest: fence now (epoch and nonce as a lease).
//	                   Answers with the Status, Fence filled.
//	POST /v1/witness → WitnessRequest: probe other hosts' server ports and
//	                   agents from here. Answers with a WitnessReport.
//	GET  /v1/backup, POST /v1/clone: the physical clone (clone.go).
//
// Every request carries "Authorization: Bearer <agent.token>" and
// ProtocolHeader ("X-MMM-Agent-Protocol: 2"); every answer carries
// ProtocolHeader. The answers: 400 for malformed JSON or another protocol
// version (the message names both and what to upgrade), and for a lease
// request without the header (a watch of protocol 1); 401 without the token
// or with a wrong one; 403 for another cluster or host or a VIP the file
// does not declare for that role and host; 409 for a stale grant (epoch or
// nonce, see Lease); 500 when the host could not be changed. A refused
// request changes nothing. Every answer to an authenticated request, errors
// included, carries a fresh nonce.
//
// Modes. A PUT without a lease (from `mmm apply`) puts the agent in static
// mode: the VIPs stay until a later PUT says otherwise. A PUT with a lease
// (from `mmm watch`, which renews it every check period) puts it in lease mode:
// the VIPs of exclusive roles (the writer) are held only until the lease runs
// out. Then the agent fences: it removes them and, on a host that can hold an
// exclusive role, sets its server read_only and kills its client sessions,
// SIGKILLing the server if that fails and agent.fence is "kill" (the
// default); all at error level in the log. Balanced roles (readers) are not
// fenced: a reader VIP on a cut-off slave does no harm. The lease runs until
// the echoed nonce's issue time + TTL, so a watch bounds it in its own clock:
// the arrival of the answer that carried the nonce + TTL (+ margin).
//
// The mode and the highest epoch are persisted in the state directory
// (agent-state.json); an agent that starts after dying in lease mode fences
// at once.
package agent

import (
	"encoding/json"
	"fmt"
	"time"
)

// Mode says who holds the host's roles.
type Mode string

const (
	// ModeStatic: VIPs stay until told otherwise (a cluster run by `mmm apply`).
	ModeStatic Mode = "static"
	// ModeLease: exclusive-role VIPs stay only while a `mmm watch` renews them.
	ModeLease Mode = "lease"
)

// RoleIP is one VIP of a role, as requested.
type RoleIP struct {
	Role string `json:"role"`
	IP   string `json:"ip"`
}

// HeldRole is one VIP the host holds, and where.
type HeldRole struct {
	Role      string `json:"role"`
	IP        string `json:"ip"`
	Interface string `json:"interface"`
}

// ProtocolVersion is the version of the agent API this build speaks. Every
// request and answer carries it in the ProtocolHeader; a watch and an agent of
// different versions refuse each other with a message that says which side
// to upgrade (docs/watch.md, "Upgrading a running cluster").
const ProtocolVersion = 2

// ProtocolHeader carries ProtocolVersion on requests and answers.
const ProtocolHeader = "X-MMM-Agent-Protocol"

// Lease is a request's lease on its exclusive-role VIPs.
//
// Grant protocol (version 2; docs/agent.md, "Grants"): a lease is accepted
// only when
//   - Epoch is at least the highest epoch the agent ever accepted (persisted in
//     its state directory, fsynced when it grows): a deposed watch is refused;
//   - Nonce is one the agent itself handed out (Status.Nonce) less than one
//     lease TTL ago by its monotonic clock, not used before, and not issued
//     before the agent's last fence or start: a request the watch gave up on,
//     delivered late by TCP, is refused.
//
// The lease then runs until the nonce's issue time + TTL, not from the
// request's arrival, so the watch can bound it in its own clock: the arrival
// of the answer that carried the nonce + TTL (+ margin).
type Lease struct {
	TTL    Duration `json:"ttl"`
	Holder string   `json:"holder,omitempty"` // who renews it, for logs and status ("watch@monitor1")
	Epoch  uint64   `json:"epoch,omitempty"`
	Nonce  string   `json:"nonce,omitempty"`
}

// SetRolesRequest is the body of PUT /v1/roles.
type SetRolesRequest struct {
	Cluster string   `json:"cluster"`
	Host    string   `json:"host"`
	Roles   []RoleIP `json:"roles"`
	Lease   *Lease   `json:"lease,omitempty"`
}

// LeaseStatus is the lease the agent holds its exclusive VIPs on.
type LeaseStatus struct {
	Holder    string    `json:"holder,omitempty"`
	TTL       Duration  `json:"ttl"`
	Expires   time.Time `json:"expires"`
	ExpiresIn Duration  `json:"expires_in"` // by the agent's clock; 0 once expired
	Expired   bool      `json:"expired"`
	// Failsafe: the lease ran out, and the exclusive roles stay because
	// every other agent confirmed that no watch acts (docs/fencing.md).
	Failsafe bool `json:"failsafe,omitempty"`
}

// Status is what GET /v1/status and PUT /v1/roles answer.
type Status struct {
	Cluster string       `json:"cluster"`
	Host    string       `json:"host"`
	Mode    Mode         `json:"mode"`
	Roles   []HeldRole   `json:"roles"`           // read from the interface, not from memory
	Lease   *LeaseStatus `json:"lease,omitempty"` // nil in static mode
	// ReadOnly is the local server's @@read_only as the background probe
	// last read it (at most ~1s old; nil when unknown or stale:
	// ReadOnlyError says why).
	ReadOnly      *bool  `json:"read_only,omitempty"`
	ReadOnlyError string `json:"read_only_error,omitempty"`

	// Protocol is the agent's ProtocolVersion (0: an agent older than 2).
	Protocol int `json:"protocol,omitempty"`
	// Nonce is fresh in every answer: the next lease request must echo it
	// (or another unused nonce younger than one lease).
	Nonce string `json:"nonce,omitempty"`
	// Epoch is the highest grant epoch the agent accepted.
	Epoch uint64 `json:"epoch,omitempty"`
	// Server is the agent's own view of its server, from a probe that runs
	// in the background (the answer never waits on the server).
	Server *ServerHealth `json:"server,omitempty"`
	// Fence is the agent's last fence, if any since it started.
	Fence *FenceReport `json:"fence,omitempty"`
}

// Probe outcomes, for ServerHealth.State and WitnessResult.
const (
	ProbeOK      = "ok"      // answered (the server greeted / the agent answered)
	ProbeRefused = "refused" // connection refused: nothing listens (process gone)
	ProbeTimeout = "timeout" // no answer at all: host or network lost
	ProbeFrozen  = "frozen"  // TCP connected but the server never greeted (stopped, hung)
	ProbeError   = "error"   // anything else (detail says)
)

// ServerHealth is the agent's local probe of its own server: TCP connect and
// the server's greeting, every ~100 ms with a short deadline.
type ServerHealth struct {
	State  string   `json:"state"`            // ProbeOK, ProbeRefused, ProbeFrozen, ProbeTimeout, ProbeError
	Detail string   `json:"detail,omitempty"` // the error, for people
	Age    Duration `json:"age"`              // since the probe's result was taken
	// Since is how long the server has been in State (by the agent's clock).
	Since Duration `json:"since"`
	// Restarts counts the server restarts the agent saw (a new server after
	// refused or a lower uptime); a restart without a writer lease is fenced.
	Restarts int `json:"restarts,omitempty"`
}

// FenceReport is what a fence did, step by step.
type FenceReport struct {
	At             time.Time `json:"at"`
	Ago            Duration  `json:"ago"`
	Why            string    `json:"why"`
	Epoch          uint64    `json:"epoch,omitempty"`
	VIPsDropped    []string  `json:"vips_dropped,omitempty"`
	ReadOnly       bool      `json:"read_only"`                 // read_only was set (or the server was down)
	SessionsKilled int       `json:"sessions_killed,omitempty"` // client sessions killed after read_only
	ServerKilled   bool      `json:"server_killed,omitempty"`   // read_only could not be set in time: SIGKILL
	ServerDown     bool      `json:"server_down,omitempty"`     // nothing answered on the server port
	Error          string    `json:"error,omitempty"`           // what could not be done
	// Complete: no VIP left, and the server is read_only, killed or down.
	Complete bool `json:"complete"`
}

// FenceRequest is the body of POST /v1/fence: the watch asks the agent to
// fence its host now (a frozen server its agent confirmed, a failover). It
// carries the same epoch and nonce rules as a lease.
type FenceRequest struct {
	Cluster string `json:"cluster"`
	Host    string `json:"host"`
	Epoch   uint64 `json:"epoch"`
	Nonce   string `json:"nonce"`
	Why     string `json:"why"`
	// TTL bounds the nonce's age (default: the agent's current lease TTL,
	// else monitor.lease, else 1s).
	TTL Duration `json:"ttl,omitempty"`
}

// WitnessTarget is a host the witness probes from where it stands.
type WitnessTarget struct {
	Host string `json:"host"` // a host of the topology (address and ports come from the file)
}

// WitnessRequest is the body of POST /v1/witness.
type WitnessRequest struct {
	Cluster string          `json:"cluster"`
	Targets []WitnessTarget `json:"targets"`
	// Timeout bounds each probe (default 250ms, at most 5s).
	Timeout Duration `json:"timeout"`
}

// WitnessResult is one target seen from the witness.
type WitnessResult struct {
	Host   string `json:"host"`
	Server string `json:"server"` // ProbeOK … of TCP connect + greeting on the server port
	Agent  string `json:"agent"`  // ProbeOK … of the target's agent (GET /v1/status)
	// TargetServer is the target agent's own probe of its server
	// (its Status.Server.State), when its agent answered.
	TargetServer string   `json:"target_server,omitempty"`
	Detail       string   `json:"detail,omitempty"`
	Took         Duration `json:"took"`
}

// WitnessReport answers POST /v1/witness.
type WitnessReport struct {
	Witness string          `json:"witness"` // the answering agent's host
	Results []WitnessResult `json:"results"`
}

// Holds reports whether the status lists ip.
func (s *Status) Holds(ip string) bool {
	for _, r := range s.Roles {
		if r.IP == ip {
			return true
		}
	}
	return false
}

// errorBody is every non-2xx answer.
type errorBody struct {
	Error string `json:"error"`
	// Nonce is fresh in every refusal of an authenticated request, as in a
	// Status, so a refused grant can be retried at once.
	Nonce string `json:"nonce,omitempty"`
}

// Duration is a time.Duration written in JSON as Go's duration string ("1.5s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"1s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
