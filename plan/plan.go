// Package plan turns Desired × Live into a Plan: a closed set of typed steps in
// dependency order, each with its exact SQL (secrets redacted) or VIP step. Diff
// is pure; rendering (human, JSON) and saved plan files live beside it.
package plan

import (
	"strings"
	"time"
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
)

// Statement is one SQL statement. Text is what people and plan files see, with
// every secret replaced by <redacted>; the executable form lives in an
// unexported field and so never reaches JSON or a saved plan.
type Statement struct {
	Text string `json:"sql"`
	exec string
}

// SQL makes a statement without secrets.
func SQL(text string) Statement { return Statement{Text: text} }

// SQLWithSecret makes a statement from a template where each "%s" is a secret
// value; values are quoted as SQL string literals.
func SQLWithSecret(template string, secrets ...string) Statement {
	shown, exec := template, template
	for _, s := range secrets {
		shown = strings.Replace(shown, "%s", "<redacted>", 1)
		exec = strings.Replace(exec, "%s", QuoteString(s), 1)
	}
	return Statement{Text: shown, exec: exec}
}

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

// QuoteString quotes s as a MySQL string literal.
func QuoteString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`, "\n", `\n`, "\r", `\r`, "\x1a", `\Z`)
	return "'" + r.Replace(s) + "'"
}

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

	Statements []Statement `json:"statements,omitempty"`
	// VIP steps: the address, interface and agent the step talks to.
	VIP *VIPStep `json:"vip,omitempty"`

	DependsOn []string `json:"depends_on,omitempty"`
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
	Host     string   `json:"host,omitempty"`
	Address  string   `json:"address,omitempty"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
}

// Plan is the ordered set of steps that takes Live to Desired.
type Plan struct {
	FormatVersion int       `json:"format_version"`
	Cluster       string    `json:"cluster"`
	CreatedAt     time.Time `json:"created_at"`
	// Writer is the master that holds (or will hold) the writer role.
	Writer          string `json:"writer"`
	PreferredWriter string `json:"preferred_writer,omitempty"`

	Steps    []Step    `json:"steps"`
	Notes    []string  `json:"notes,omitempty"`
	Problems []Problem `json:"problems,omitempty"`

	// Fingerprint is the live state the plan was made from (see fingerprint.go).
	Fingerprint Fingerprint `json:"fingerprint"`
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
