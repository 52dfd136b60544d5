package plan

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Render writes the plan for people, Terraform style: the steps grouped per
// host in declaration order (each host's steps in execution order), each with
// its symbol, subject, change and exact SQL (secrets redacted), then notes,
// problems and the summary line. Colour is left to the caller's terminal.
func Render(w io.Writer, p *Plan) error {
	r := &renderer{w: w}
	if len(p.Steps) > 0 {
		r.line("mmm will perform the following actions:")
		for _, host := range p.stepHosts() {
			r.line("")
			r.line("  # %s", p.hostHeading(host))
			for _, s := range p.Steps {
				if s.Host == host {
					r.step(s)
				}
			}
		}
		r.line("")
	}
	for _, n := range p.Notes {
		r.line("Note: %s", n)
	}
	for _, pr := range p.Problems {
		label := "Warning"
		if pr.Severity == SeverityError {
			label = "Error"
		}
		r.line("%s: %s", label, pr.Summary)
		if pr.Detail != "" {
			for _, l := range wrap(pr.Detail, 100) {
				r.line("  %s", l)
			}
		}
	}
	if len(p.Notes) > 0 || len(p.Problems) > 0 {
		r.line("")
	}
	switch {
	case p.Changes() > 0:
		sum := p.Summary()
		r.line("Plan: %d to add, %d to change, %d to destroy.", sum.Add, sum.Change, sum.Destroy)
	case len(p.Problems) == 0 && len(p.Steps) == 0:
		r.line("No changes. The cluster matches the configuration.")
	default:
		r.line("No changes planned, but the problems above remain.")
	}
	return r.err
}

type renderer struct {
	w   io.Writer
	err error
}

func (r *renderer) line(format string, args ...any) {
	if r.err != nil {
		return
	}
	_, r.err = fmt.Fprintf(r.w, format+"\n", args...)
}

func (r *renderer) step(s Step) {
	sym := string(s.Symbol)
	if s.Kind == KindRestartNeeded {
		sym = "!"
	}
	head := s.Change
	if !strings.HasPrefix(s.Subject, "host ") {
		head = s.Subject + ": " + s.Change
	}
	if s.Unsafe {
		head += "  [unsafe: " + s.UnsafeReason + "]"
	}
	r.line("  %s %s", sym, head)
	if s.Why != "" {
		r.line("      # %s", s.Why)
	}
	for _, st := range s.Statements {
		r.line("      %s", st.Text)
	}
	if s.VIP != nil {
		if s.Kind == KindAssignVIP {
			r.line("      agent %s: add %s/32 on %s, gratuitous ARP", s.Host, s.VIP.IP, s.VIP.Interface)
		} else {
			r.line("      agent %s: remove %s/32 from %s", s.Host, s.VIP.IP, s.VIP.Interface)
		}
	}
	if s.Wait != nil {
		r.line("      wait until %s applied %s's GTID position as of now (at most %s)", s.Host, s.Wait.Source, time.Duration(s.Wait.Timeout))
	}
	if s.Clone != nil {
		switch s.Clone.Tool {
		case ToolMariabackup:
			r.line("      copy %s from %s (physical): mariabackup streamed from %s's agent to %s's, which restarts its server on the copy; then gtid_slave_pos = the backup's GTID position", s.Host, s.Clone.Donor, s.Clone.Donor, s.Host)
		case ToolClonePlugin:
			r.line("      copy %s from %s (physical): CLONE INSTANCE FROM %s; %s restarts on the copy with its GTID set", s.Host, s.Clone.Donor, s.Clone.Donor, s.Host)
		default:
			r.line("      copy %s from %s (%s): consistent snapshot, tables in parallel, checksums; then gtid_slave_pos = the snapshot's GTID position", s.Host, s.Clone.Donor, s.Clone.Method)
		}
	}
	if s.Kind == KindKillClients {
		r.line("      KILL CONNECTION of every client session (not replication threads, not mmm's own)")
	}
}

// stepHosts lists the hosts that have steps: declared order first (as in
// Plan.Hosts), then any others in order of appearance.
func (p *Plan) stepHosts() []string {
	has := map[string]bool{}
	for _, s := range p.Steps {
		has[s.Host] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, h := range p.Hosts {
		if has[h.Name] && !seen[h.Name] {
			out = append(out, h.Name)
			seen[h.Name] = true
		}
	}
	for _, s := range p.Steps {
		if !seen[s.Host] {
			out = append(out, s.Host)
			seen[s.Host] = true
		}
	}
	return out
}

func (p *Plan) hostHeading(name string) string {
	for _, h := range p.Hosts {
		if h.Name == name {
			role := string(h.Mode)
			if name == p.Writer {
				role = "master, writer"
			}
			return fmt.Sprintf("host %q (%s, %s)", name, h.Address, role)
		}
	}
	return fmt.Sprintf("host %q", name)
}

// wrap breaks text into lines of at most width characters at spaces.
func wrap(text string, width int) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			out = append(out, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
