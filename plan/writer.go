package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// The writer is sticky: the live one wins over `prefer`, because moving a
// healthy writer drops client connections and is for the operator to ask
// for (apply --allow-unsafe / move-role / monitor { fail_back = true }).
//
//   - exactly one writable candidate: it is the writer;
//   - none writable and every candidate seen: a fresh cluster, prefer;
//   - nothing replicates yet (a fresh cluster, where default read_only=OFF
//     makes every server writable): prefer;
//   - two writable while replication is set up: split brain unless the live
//     state names one unambiguously (every slave that replicates follows it
//     and, when agents were asked, it holds the writer VIPs). Then the other
//     one is a standby made writable by hand: it is set read_only with a
//     warning. Otherwise it is an error and no role, read_only or source step
//     is planned: the operator decides.
func (d *differ) chooseWriter() {
	role := d.c.WriterRole()
	var candidates []string
	if role != nil && len(role.Hosts) > 0 {
		candidates = role.Hosts
	} else {
		for _, h := range d.c.Masters() {
			candidates = append(candidates, h.Name)
		}
	}
	if len(candidates) == 0 {
		d.roleSteps = false
		return
	}
	prefer := candidates[0]
	if role != nil && role.Prefer != "" {
		prefer = role.Prefer
	}
	d.p.PreferredWriter = prefer

	if w := d.opts.Writer; w != "" && contains(candidates, w) {
		d.writer = w
		for _, name := range candidates {
			if lh := d.liveHost(name); lh != nil && lh.Reachable && !lh.ReadOnly {
				d.liveWriter = name
				if name == w {
					break
				}
			}
		}
		return
	}

	var writable, unseen []string
	for _, name := range candidates {
		lh := d.liveHost(name)
		switch {
		case lh == nil || !lh.Reachable:
			unseen = append(unseen, name)
		case !lh.ReadOnly:
			writable = append(writable, name)
		}
	}

	fresh := d.freshCluster()
	switch {
	case fresh && len(unseen) == 0:
		d.writer = prefer
		if len(writable) > 1 {
			d.note("nothing replicates yet and %s are writable: a fresh cluster; %s (prefer) becomes the writer", strings.Join(writable, " and "), prefer)
		}
		if len(writable) == 1 && writable[0] != prefer {
			d.liveWriter = writable[0]
		}
	case len(writable) == 1:
		d.liveWriter = writable[0]
		d.writer = writable[0]
	case len(writable) == 0 && len(unseen) == 0:
		d.writer = prefer
	case len(writable) == 0:
		d.roleSteps = false
		d.problem(Problem{
			Severity: SeverityWarning,
			Summary:  "cannot tell which master is the writer",
			Detail: fmt.Sprintf("No reachable master is writable and %s could not be seen; it may be the writer. "+
				"No read_only, replication source or VIP steps are planned until every master is reachable.", strings.Join(unseen, ", ")),
		})
		return
	default:
		if m := d.writerEvidence(writable); m != "" {
			d.liveWriter = m
			d.writer = m
			var others []string
			for _, w := range writable {
				if w != m {
					others = append(others, w)
				}
			}
			d.problem(Problem{
				Severity: SeverityWarning,
				Host:     others[0],
				Summary:  fmt.Sprintf("standby master %s is writable", strings.Join(others, ", ")),
				Detail: fmt.Sprintf("Every replica follows %s, so it is the writer; the plan sets %s read_only. "+
					"Writes %s accepted meanwhile are in its binary log (look for GTIDs of its server_id).",
					m, strings.Join(others, ", "), strings.Join(others, ", ")),
			})
			break
		}
		d.roleSteps = false
		d.problem(Problem{
			Severity: SeverityError,
			Summary:  fmt.Sprintf("two writable masters: %s", strings.Join(writable, " and ")),
			Detail: "Both accept writes, so their data diverges (split brain) and mmm cannot tell which one the " +
				"clients use. Decide which one is the writer, then set the other read_only by hand " +
				"(SET GLOBAL read_only = ON) or run `mmm move-role " + d.c.ActiveMasterRole + " HOST`. " +
				"No read_only, replication source or VIP steps are planned.",
		})
		return
	}

	// Explicit moves.
	target := ""
	switch {
	case d.opts.MoveWriterTo != "":
		target = d.opts.MoveWriterTo
		if !contains(candidates, target) {
			d.problem(Problem{Severity: SeverityError, Host: target,
				Summary: fmt.Sprintf("cannot move the writer to %s", target),
				Detail:  fmt.Sprintf("%s is not a host of role %q (%s).", target, d.c.ActiveMasterRole, strings.Join(candidates, ", "))})
			return
		}
	case d.c.Monitor.FailBack && d.writer != prefer:
		target = prefer
	case d.opts.AllowUnsafe && d.writer != prefer:
		// The writer is sticky: only an explicit --allow-unsafe (or
		// move-role, or fail_back in the file) takes it back to prefer.
		target = prefer
	}
	if target == "" || target == d.writer {
		if d.writer != prefer {
			d.note("writer is %s, preferred %s (apply --allow-unsafe or mmm move-role moves it back)", d.writer, prefer)
		}
		return
	}
	if lh := d.liveHost(target); lh == nil || !lh.Reachable {
		d.problem(Problem{Severity: SeverityError, Host: target,
			Summary: fmt.Sprintf("cannot move the writer to %s: it is unreachable", target)})
		return
	}
	if leased := d.leasedAgents(); len(leased) > 0 && !d.opts.WatchOwnsRoles {
		d.problem(Problem{Severity: SeverityError, Host: target,
			Summary: fmt.Sprintf("cannot move the writer to %s behind the back of a running mmm watch", target),
			Detail: fmt.Sprintf("The agents on %s hold their roles on a watch's lease, so the watch places the writer. "+
				"Ask it: mmm move-role %s %s.", strings.Join(leased, ", "), d.c.ActiveMasterRole, target)})
		return
	}
	if d.liveWriter != "" {
		d.switchFrom = d.liveWriter
	}
	d.writer = target
}

// freshCluster: no host has ever replicated.
func (d *differ) freshCluster() bool {
	for _, h := range d.c.Hosts {
		lh := d.liveHost(h.Name)
		if lh == nil || !lh.Reachable {
			continue
		}
		if lh.Replica != nil || lh.GTIDSlavePos != "" {
			return false
		}
	}
	return true
}

// writerEvidence returns the one writable master the live state points at,
// or "" when the evidence is missing or disagrees.
func (d *differ) writerEvidence(writable []string) string {
	votes := map[string]bool{}
	for _, h := range d.c.Hosts {
		if h.Mode != topology.ModeSlave {
			continue
		}
		lh := d.liveHost(h.Name)
		if lh == nil || !lh.Reachable || lh.Replica == nil {
			continue
		}
		votes[d.sourceName(lh.Replica)] = true
	}
	if role := d.c.WriterRole(); role != nil && d.live.VIPs != nil {
		for _, ip := range role.IPs {
			for _, holder := range d.live.VIPs[ip] {
				votes[holder] = true
			}
		}
	}
	if len(votes) != 1 {
		return ""
	}
	for m := range votes {
		if contains(writable, m) {
			return m
		}
	}
	return ""
}

// LiveWriters returns the writable masters of the writer role as seen, sorted,
// joined by "+": "master1", "" (none), "master1+master2" (split brain). It
// depends on live alone so that a fingerprint taken at apply time compares.
func LiveWriters(c *topology.Cluster, live *topology.Live) string {
	var out []string
	for _, h := range c.Masters() {
		lh := live.Hosts[h.Name]
		if lh != nil && lh.Reachable && !lh.ReadOnly {
			out = append(out, h.Name)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "+")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// leasedAgents lists the hosts whose agent holds its roles on a watch's lease.
func (d *differ) leasedAgents() []string {
	var out []string
	for _, h := range d.c.Hosts {
		if la := d.live.Agents[h.Name]; la != nil && la.Reachable && la.Mode == "lease" {
			out = append(out, h.Name)
		}
	}
	return out
}
