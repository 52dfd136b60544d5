package plan

import (
	"fmt"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// CloneMarkerSchema is the schema internal/clone creates on a target before it
// copies anything and drops after it set gtid_slave_pos: a host holding it is
// a partial clone (a clone was interrupted), which is wiped and redone.
const CloneMarkerSchema = "mmm_clone"

// Clone methods (bootstrap.method).
const (
	CloneLogical  = "logical"
	ClonePhysical = "physical"
)

// CloneStep says how a KindCloneHost step copies the data: from Donor, with
// Method. The step ends by setting the host's gtid_slave_pos to the donor's
// GTID position at the snapshot, so the change_source that follows
// (MASTER_USE_GTID=slave_pos) starts exactly where the copy ends; the plan
// therefore sets no position of its own for a cloned host (FromClone on the
// host's change_source Why says so).
type CloneStep struct {
	Donor  string `json:"donor"`
	Method string `json:"method"`
	// Overwrite: the host holds data that is not a partial clone, and the
	// clone wipes it (the step is unsafe).
	Overwrite bool `json:"overwrite,omitempty"`
	// Tool is how a physical copy is made: ToolMariabackup (streamed between
	// the hosts' agents) or ToolClonePlugin (MySQL's CLONE INSTANCE); ""
	// for the logical method.
	Tool string `json:"tool,omitempty"`
}

// Physical clone tools (CloneStep.Tool).
const (
	ToolMariabackup = "mariabackup"
	ToolClonePlugin = "clone_plugin"
)

// bootstrap decides whether host h (which never replicated: no channel, empty
// gtid_slave_pos, and is not the writer) gets a clone_host step before its
// replication steps. It returns:
//
//   - clone != nil: plan the clone (after the host's reset_binlog, before
//     its change_source), and no gtid_slave_pos step;
//   - handled: a problem was reported and nothing is planned for h (the
//     caller returns);
//   - neither: the caller goes on as for any fresh host.
//
// A host is cloned when it is empty (no user schema) or a partial clone, it
// is a slave or has a bootstrap block, and the writer holds data. A host with
// data of its own is cloned only when its block asks for a bootstrap, and
// that step is unsafe (it would be overwritten): apply refuses it without
// --allow-unsafe.
func (d *differ) bootstrap(h *topology.Host, lh, lw *topology.LiveHost) (clone *Step, handled bool) {
	partial := contains(lh.UserSchemas, CloneMarkerSchema)
	wants := h.Bootstrap != nil || h.Mode == topology.ModeSlave
	if !wants && !partial {
		return nil, false
	}
	empty := len(lh.UserSchemas) == 0
	if empty && (lw == nil || len(lw.UserSchemas) == 0) {
		return nil, false // nothing to copy: replicate from the start
	}
	if !empty && !partial && h.Bootstrap == nil {
		return nil, false // the caller reports "holds data but never replicated"
	}
	method := CloneLogical
	donorName := ""
	if h.Bootstrap != nil {
		donorName = h.Bootstrap.Donor
		if h.Bootstrap.Method != "" {
			method = h.Bootstrap.Method
		}
	}
	block := func(summary, detail string) {
		d.replBlocked[h.Name] = true
		d.problem(Problem{Severity: SeverityWarning, Host: h.Name, Summary: summary, Detail: detail})
	}
	if method != CloneLogical && method != ClonePhysical {
		d.replBlocked[h.Name] = true
		d.problem(Problem{Severity: SeverityError, Host: h.Name,
			Summary: fmt.Sprintf("bootstrap of %s: unknown method %q", h.Name, method),
			Detail:  `method is "logical" or "physical".`})
		return nil, true
	}
	donor, why := d.chooseDonor(h, donorName)
	if donor == "" {
		block(fmt.Sprintf("%s needs a copy of the data but has no donor: %s", h.Name, why),
			"Name a healthy host with bootstrap { donor = \"…\" }; no replication steps are planned for it.")
		return nil, true
	}
	if method == ClonePhysical {
		if summary, detail := d.physicalBlocked(h, lh, donor); summary != "" {
			d.replBlocked[h.Name] = true
			d.problem(Problem{Severity: SeverityError, Host: h.Name, Summary: summary, Detail: detail})
			return nil, true
		}
	}
	s := &Step{
		ID: stepID(h.Name, KindCloneHost, "data"), Kind: KindCloneHost, Symbol: Create,
		Change: fmt.Sprintf("empty -> copy of %s (%s)", donor, method),
		Why:    fmt.Sprintf("It never replicated and %s holds data: copy a consistent snapshot of %s, then replicate from the snapshot's GTID position.", d.writer, donor),
		Clone:  &CloneStep{Donor: donor, Method: method},
	}
	if method == ClonePhysical {
		s.Clone.Tool = ToolMariabackup
		if flavorFor(d.c.Flavor, lh).IsMySQL() {
			s.Clone.Tool = ToolClonePlugin
		}
		s.Why = fmt.Sprintf("It never replicated and %s holds data: copy the data files of %s, then replicate from the copy's GTID position.", d.writer, donor)
	}
	switch {
	case partial:
		s.Change = fmt.Sprintf("partial clone -> copy of %s (%s)", donor, method)
		s.Why = "An earlier clone did not complete (schema " + CloneMarkerSchema + " is there): wipe it and copy again from " + donor + "."
	case !empty:
		s.Clone.Overwrite = true
		s.Change = fmt.Sprintf("data (%s) -> copy of %s (%s)", strings.Join(lh.UserSchemas, ", "), donor, method)
		s.Unsafe, s.UnsafeReason = true, "overwrites the data of "+h.Name
		d.problem(Problem{Severity: SeverityWarning, Host: h.Name,
			Summary: fmt.Sprintf("%s holds data (%s) but never replicated; its bootstrap would overwrite it", h.Name, strings.Join(lh.UserSchemas, ", ")),
			Detail:  "apply refuses the clone without --allow-unsafe; empty the server instead if the data is not needed."})
	}
	return s, true
}

// physicalBlocked says why the physical method cannot run for target h from
// donor ("" when it can). MariaDB copies with mariabackup between the agents
// of both hosts, which therefore must run and answer; MySQL uses its CLONE
// plugin (8.0.17 and later), which needs no agent.
func (d *differ) physicalBlocked(h *topology.Host, lh *topology.LiveHost, donor string) (summary, detail string) {
	f := flavorFor(d.c.Flavor, lh)
	if f.IsMySQL() {
		if !f.MinMySQL(8, 0, 17) {
			return fmt.Sprintf("bootstrap of %s: method \"physical\" needs MySQL 8.0.17 or later (the CLONE plugin); %s runs %s", h.Name, h.Name, lh.Version),
				`Use method = "logical".`
		}
		return "", ""
	}
	if !d.c.Agent.Enabled {
		return fmt.Sprintf("bootstrap of %s: method \"physical\" needs mmm agent on %s and %s, and the file has no agent block", h.Name, donor, h.Name),
			`The agents stream mariabackup between the hosts and restart the new slave's server. Add an agent block and run mmm agent on every data node, or use method = "logical".`
	}
	for _, name := range []string{donor, h.Name} {
		if la := d.live.Agents[name]; la == nil || !la.Reachable {
			why := "it was not asked"
			if la != nil && la.Error != "" {
				why = la.Error
			}
			return fmt.Sprintf("bootstrap of %s: method \"physical\" needs the agent on %s, which does not answer", h.Name, name),
				why + ". Start mmm agent on " + name + " (it streams or receives the copy), or use method = \"logical\"."
		}
	}
	return "", ""
}

// chooseDonor picks the host to copy from: the named one, else a slave that
// replicates from the writer without error (declaration order), else the
// standby master if it does. Never the writer unless named: a logical copy
// reads every row and holds a read lock for a moment.
func (d *differ) chooseDonor(h *topology.Host, named string) (string, string) {
	if named != "" {
		dh := d.c.Host(named)
		switch {
		case dh == nil:
			return "", fmt.Sprintf("bootstrap.donor %q is not a declared host", named)
		case dh.Name == h.Name:
			return "", "a host cannot be its own donor"
		case d.reachable(dh) == nil:
			return "", fmt.Sprintf("donor %s is unreachable", named)
		}
		if ld := d.reachable(dh); contains(ld.UserSchemas, CloneMarkerSchema) {
			return "", fmt.Sprintf("donor %s is itself a partial clone", named)
		}
		return dh.Name, ""
	}
	healthy := func(o *topology.Host) bool {
		lo := d.reachable(o)
		if o.Name == h.Name || o.Name == d.writer || lo == nil || contains(lo.UserSchemas, CloneMarkerSchema) {
			return false
		}
		rs := lo.Replica
		return rs.Running() && rs.LastIOErrno == 0 && rs.LastSQLErrno == 0 && sourceName(d.c, rs) == d.writer
	}
	for _, o := range d.c.Hosts {
		if o.Mode == topology.ModeSlave && healthy(o) {
			return o.Name, ""
		}
	}
	for _, o := range d.c.Hosts {
		if o.Mode == topology.ModeMaster && healthy(o) {
			return o.Name, ""
		}
	}
	return "", "no slave or standby master replicates from " + d.writer + " without error (the writer is never a default donor)"
}

// restartedByClone keeps, for a host that gets a physical copy, only the
// steps before the copy (reset_binlog) and the copy itself: the server
// restarts on the donor's files, which brings the donor's accounts and
// drops every SET GLOBAL, so whatever else was planned from its state now
// would be wrong after it. apply plans that host again once the copy is in
// place and runs the second round under the same lock (PhysicalClones).
func (d *differ) restartedByClone() {
	hosts := PhysicalClones(d.p)
	if len(hosts) == 0 {
		return
	}
	keep := d.p.Steps[:0]
	dropped := map[string]bool{}
	for _, s := range d.p.Steps {
		if hosts[s.Host] && s.Kind != KindCloneHost && s.Kind != KindResetBinlog {
			dropped[s.ID] = true
			continue
		}
		keep = append(keep, s)
	}
	d.p.Steps = keep
	for i := range d.p.Steps {
		s := &d.p.Steps[i]
		var deps []string
		for _, id := range s.DependsOn {
			if !dropped[id] {
				deps = append(deps, id)
			}
		}
		s.DependsOn = deps
	}
	for _, s := range d.p.Steps {
		if s.Kind == KindCloneHost && hosts[s.Host] {
			d.note("%s restarts on the copy of %s: its settings, accounts, read_only and replication are planned again once the copy is in place, and apply runs them in a second round", s.Host, s.Clone.Donor)
		}
	}
}

// PhysicalClones names the hosts a plan gives a physical copy (their
// servers restart on it).
func PhysicalClones(p *Plan) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Steps {
		if s.Kind == KindCloneHost && s.Clone != nil && s.Clone.Method == ClonePhysical {
			out[s.Host] = true
		}
	}
	return out
}
