// Package plan turns Desired × Live into a Plan: a closed set of typed steps in
// dependency order, each with its exact SQL (secrets redacted) or VIP step. Diff
// is pure; rendering (human, JSON) and saved plan files live beside it.
package plan

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// Symbol is how a step prints, Terraform style.
type Symbol string

const (
	Create Symbol = "+"
	Update Symbol = "~"
	Delete Symbol = "-"
	Move   Symbol = "→"
)

// Kind is the closed set of things a step can do.
type Kind string

const (
	KindCreateUser    Kind = "create_user"
	KindAlterUser     Kind = "alter_user" // password
	KindDropUser      Kind = "drop_user"
	KindGrant         Kind = "grant"
	KindRevoke        Kind = "revoke"
	KindSetVariable   Kind = "set_variable"
	KindChangeSource  Kind = "change_source"
	KindStartReplica  Kind = "start_replica"
	KindStopReplica   Kind = "stop_replica"
	KindResetReplica  Kind = "reset_replica"
	KindAssignVIP     Kind = "assign_vip"
	KindReleaseVIP    Kind = "release_vip"
	KindCloneHost     Kind = "clone_host"
	KindWaitCatchUp   Kind = "wait_catch_up"
	KindKillClients   Kind = "kill_clients"
	KindRestartNeeded Kind = "restart_needed" // reported, never executed
	// KindResetBinlog discards the binary log of a host that never replicated and
	// holds no data (RESET MASTER), so transactions written locally while it was
	// provisioned cannot collide with the writer's GTIDs once it replicates.
	KindResetBinlog Kind = "reset_binlog"
)

// Statement is one SQL statement. Text is what people and plan files see, with
// every secret replaced by <redacted>; the executable form lives in an
// unexported field and so never reaches JSON or a saved plan.
//
// In JSON (plan output and plan files) a Statement is a plain string: its Text.
type Statement struct {
	Text    string
	exec    string
	secrets []string // the values in exec that Text shows as <redacted>
}

// MarshalJSON writes the shown text only; the executable form never leaves the process.
func (s Statement) MarshalJSON() ([]byte, error) { return json.Marshal(s.Text) }

// UnmarshalJSON reads the shown text; a statement read back from a file has no
// secrets (see NeedsSecret).
func (s *Statement) UnmarshalJSON(b []byte) error {
	*s = Statement{}
	return json.Unmarshal(b, &s.Text)
}

// NeedsSecret reports whether the statement shows a redacted secret but no
// longer carries it (it was loaded from a plan file): apply must take the
// executable form from a fresh Diff of the same step ID.
func (s Statement) NeedsSecret() bool {
	return s.exec == "" && strings.Contains(s.Text, Redacted)
}

// Redacted is what a secret looks like in a shown statement.
const Redacted = topology.Redacted

// SQL makes a statement without secrets.
func SQL(text string) Statement { return Statement{Text: text} }

// SQLWithSecret makes a statement from a template where each "%s" is a secret
// value; values are quoted as SQL string literals. The template must contain
// no other "%s": internal/flavor's builders refuse names containing one.
func SQLWithSecret(template string, secrets ...string) Statement {
	if len(secrets) == 0 {
		return SQL(template)
	}
	shown, exec := template, template
	for _, s := range secrets {
		shown = strings.Replace(shown, "%s", Redacted, 1)
		exec = strings.Replace(exec, "%s", flavor.QuoteString(s), 1)
	}
	return Statement{Text: shown, exec: exec, secrets: secrets}
}

// Secrets are the values the executable form holds and Text hides, for
// redacting an error the server quoted the statement in (conn.RedactSecrets).
func (s Statement) Secrets() []string { return s.secrets }

// Exec is the statement to send to the server.
func (s Statement) Exec() string {
	if s.exec != "" {
		return s.exec
	}
	return s.Text
}

// HasSecret reports whether the executable form differs from the shown one; a
// statement loaded from a plan file has lost its secrets and must be re-planned.
func (s Statement) HasSecret() bool { return s.exec != "" }

// Step is one change on one host (or one VIP move).
type Step struct {
	// ID is stable across runs for the same change, e.g.
	// "master2:set_variable:read_only"; DependsOn lists IDs of earlier steps.
	ID      string `json:"id"`
	Kind    Kind   `json:"kind"`
	Symbol  Symbol `json:"action"`
	Host    string `json:"host"`    // where the step runs
	Subject string `json:"subject"` // `user 'app'@'%'`, `host "master2"`, `vip 198.18.0.100 (writer)`
	Change  string `json:"change"`  // "read_only = false -> true"
	Why     string `json:"why,omitempty"`

	// Statements run in order on ONE session of Host (they may set session
	// variables such as sql_log_bin for the ones after them).
	Statements []Statement `json:"sql,omitempty"`
	// VIP steps: the address, interface and agent the step talks to.
	VIP *VIPStep `json:"vip,omitempty"`
	// Wait steps (KindWaitCatchUp): what Host must have applied first.
	Wait *WaitStep `json:"wait,omitempty"`
	// Clone steps (KindCloneHost): where the data comes from (bootstrap.go).
	Clone *CloneStep `json:"clone,omitempty"`

	DependsOn []string `json:"depends_on,omitempty"`
	// MakesWritable: the step lifts read_only on Host (it becomes the
	// writer). The executors' writer guards check, at that moment, that no
	// other master is writable.
	MakesWritable bool `json:"makes_writable,omitempty"`
	// Unsafe steps (demote a healthy writer, drop an account, overwrite data)
	// run only with --allow-unsafe.
	Unsafe       bool   `json:"unsafe,omitempty"`
	UnsafeReason string `json:"unsafe_reason,omitempty"`
}

// VIPStep is an address move carried out by a host's agent.
type VIPStep struct {
	Role      string `json:"role"`
	IP        string `json:"ip"`
	Interface string `json:"interface"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
}

// WaitStep says: wait until Host has applied everything Source had written
// when the wait starts (read Source's GTID position at that moment, after the
// steps this one depends on, then MASTER_GTID_WAIT / WAIT_FOR_EXECUTED_GTID_SET
// on Host), for at most Timeout; fail the step when the time runs out.
type WaitStep struct {
	Source  string   `json:"source"`
	Timeout Duration `json:"timeout"`
}

// Duration is a time.Duration that reads and writes as "30s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Severity of a Problem.
type Severity string

const (
	SeverityError   Severity = "error"   // the plan must not be applied
	SeverityWarning Severity = "warning" // the plan is incomplete or risky
)

// Problem is something the diff could not resolve or could not see: an
// unreachable host, two writable masters, a setting that needs a restart.
type Problem struct {
	Severity Severity `json:"severity"`
	// Kind names the problems a program acts on ("" for the others).
	Kind    ProblemKind `json:"kind,omitempty"`
	Host    string      `json:"host,omitempty"`
	Address string      `json:"address,omitempty"`
	Summary string      `json:"summary"`
	Detail  string      `json:"detail,omitempty"`
}

// ProblemKind names a problem the watch (or a script) acts on.
type ProblemKind string

// ProblemReplicaAhead: a failover leaves this replica alone, because it holds
// transactions the new writer lacks.
const ProblemReplicaAhead ProblemKind = "replica_ahead"

// FormatVersion is the version of the JSON schema (docs/plan-json.md) of
// `mmm plan --json` and of saved plan files. Bump it on any incompatible change.
const FormatVersion = 1

// Plan is the ordered set of steps that takes Live to Desired.
type Plan struct {
	FormatVersion int       `json:"format_version"`
	Cluster       string    `json:"cluster"`
	CreatedAt     time.Time `json:"created_at"`
	// Writer is the master that holds (or will hold) the writer role.
	Writer          string `json:"writer"`
	PreferredWriter string `json:"preferred_writer,omitempty"`

	// Hosts are the declared hosts in order, with what the plan saw of them.
	Hosts []HostInfo `json:"hosts"`

	Steps    []Step    `json:"steps"`
	Notes    []string  `json:"notes,omitempty"`
	Problems []Problem `json:"problems,omitempty"`

	// Fingerprint is the live state the plan was made from (see fingerprint.go).
	Fingerprint Fingerprint `json:"fingerprint"`
}

// HostInfo is one declared host as the plan saw it.
type HostInfo struct {
	Name      string `json:"name"`
	Address   string `json:"address"` // host:port
	Mode      string `json:"mode"`    // master | slave
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"` // why it could not be seen
}

// HasErrors reports whether any problem forbids applying the plan.
func (p *Plan) HasErrors() bool {
	for _, pr := range p.Problems {
		if pr.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Changes counts the steps that change something.
func (p *Plan) Changes() int {
	n := 0
	for _, s := range p.Steps {
		if s.Kind != KindRestartNeeded {
			n++
		}
	}
	return n
}

// Summary counts the changing steps by symbol, for "Plan: 1 to add, 2 to
// change, 0 to destroy." VIP moves count as changes.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// Summary counts p's changing steps.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, st := range p.Steps {
		if st.Kind == KindRestartNeeded {
			continue
		}
		switch st.Symbol {
		case Create:
			s.Add++
		case Delete:
			s.Destroy++
		default:
			s.Change++
		}
	}
	return s
}

// Unsafe returns the steps that need --allow-unsafe.
func (p *Plan) Unsafe() []Step {
	var out []Step
	for _, s := range p.Steps {
		if s.Unsafe {
			out = append(out, s)
		}
	}
	return out
}

// Step returns the step with the given ID, or nil.
func (p *Plan) Step(id string) *Step {
	for i := range p.Steps {
		if p.Steps[i].ID == id {
			return &p.Steps[i]
		}
	}
	return nil
}
