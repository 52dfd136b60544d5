// Package agent is `mmm agent`, the daemon on every data node that owns the
// node's virtual IPs (the role of MySQL-MMM's mmm_agentd), and the client that
// plan/apply and watch use to talk to it.
//
// The API is JSON over HTTP(S) on the host's address and agent.port:
//
//	GET /v1/status  → Status: the VIPs of this cluster the host holds, the mode
//	                  (static or lease) and the local server's read_only.
//	PUT /v1/roles   → SetRolesRequest: the FULL role set this host must hold.
//	                  Answers with the Status after the change.
//
// Every request carries "Authorization: Bearer <agent.token>". The answers:
// 401 without the token or with a wrong one; 403 for another cluster or host
// or a VIP the file does not declare for that role and host; 400 for malformed
// JSON; 500 when the host could not be changed. A refused request changes
// nothing.
//
// Modes. A PUT without a lease (from `mmm apply`) puts the agent in static
// mode: the VIPs stay until a later PUT says otherwise. A PUT with a lease
// (from `mmm watch`, which renews it every check period) puts it in lease mode:
// the VIPs of exclusive roles (the writer) are held only until the lease runs
// out. Then the agent removes them and, on a host that can hold an exclusive
// role, sets its server read_only, and logs it at error level. Balanced roles
// (readers) are not fenced: a reader VIP on a cut-off slave does no harm.
// The lease runs from the moment the agent received the request, so a watch
// that wants to know the lease surely ended waits TTL after the answer to its
// last renewal.
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

// Lease is a request's lease on its exclusive-role VIPs.
type Lease struct {
	TTL    Duration `json:"ttl"`
	Holder string   `json:"holder,omitempty"` // who renews it, for logs and status ("watch@monitor1")
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
}

// Status is what GET /v1/status and PUT /v1/roles answer.
type Status struct {
	Cluster string       `json:"cluster"`
	Host    string       `json:"host"`
	Mode    Mode         `json:"mode"`
	Roles   []HeldRole   `json:"roles"`           // read from the interface, not from memory
	Lease   *LeaseStatus `json:"lease,omitempty"` // nil in static mode
	// ReadOnly is the local server's @@read_only, read for GET /v1/status only
	// (nil in PUT answers, or when the server could not be asked:
	// ReadOnlyError says why).
	ReadOnly      *bool  `json:"read_only,omitempty"`
	ReadOnlyError string `json:"read_only_error,omitempty"`
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
