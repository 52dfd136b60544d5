package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/flavor"
	"github.com/mysql-mmm/mmm/internal/gtid"
	"github.com/mysql-mmm/mmm/internal/topology"
)

// FailoverOptions describe a writer failover the watch decided on.
type FailoverOptions struct {
	// Dead is the writer that is gone (or, for a forced move, being fenced).
	Dead string
	// Candidate is the master to promote (watch.ChooseCandidate).
	Candidate string
	// Fenced: the caller made sure Dead no longer holds the writer VIPs (its
	// agent's lease surely expired, or the agent confirmed the release), so
	// the plan moves them without a release step on Dead.
	Fenced bool
	// Now stamps the plan.
	Now time.Time
	// CatchUpTimeout bounds the candidate's wait for what it received
	// (default 30s).
	CatchUpTimeout time.Duration
	// Why is the watch's reason, shown as the plan's first note.
	Why string
}

// DefaultFailoverCatchUp bounds how long a failover waits for the candidate
// to apply its relay log.
const DefaultFailoverCatchUp = 30 * time.Second

// Failover plans the promotion of opts.Candidate when the writer opts.Dead is
// gone, with the differ's statement builders and step conventions:
//
//  1. a reachable old writer is set read_only and its client sessions are
//     killed (it may merely be cut off from the monitor);
//  2. the candidate applies everything it received (bounded wait), stops
//     replicating from the old writer, and becomes writable;
//  3. every other reachable replica is pointed at the candidate with GTID
//     auto-positioning, after the candidate caught up; a replica that holds
//     transactions the candidate will not have is ahead of it: it is
//     reported (Problem, with the GTIDs) and left alone;
//  4. the writer VIPs move to the candidate after its read_only OFF (a
//     release step on the old writer first unless opts.Fenced).
//
// Failover is pure, like Diff.
func Failover(desired *topology.Cluster, live *topology.Live, opts FailoverOptions) *Plan {
	if opts.CatchUpTimeout == 0 {
		opts.CatchUpTimeout = DefaultFailoverCatchUp
	}
	if live == nil {
		live = &topology.Live{}
	}
	d := &differ{
		c: desired, live: live,
		p:   &Plan{FormatVersion: FormatVersion, Cluster: desired.Name, CreatedAt: opts.Now, Steps: []Step{}},
		ids: map[string]bool{}, readOnlySteps: map[string]string{}, replSteps: map[string][]string{},
		writer: opts.Candidate, liveWriter: opts.Dead,
	}
	for _, h := range desired.Hosts {
		info := HostInfo{Name: h.Name, Address: hostPort(h), Mode: string(h.Mode)}
		if lh := d.reachable(h); lh != nil {
			info.Reachable = true
		} else if lh := d.liveHost(h.Name); lh != nil {
			info.Error = lh.Error
		}
		d.p.Hosts = append(d.p.Hosts, info)
	}
	d.p.Writer = opts.Candidate
	if role := desired.WriterRole(); role != nil {
		d.p.PreferredWriter = role.Prefer
	}
	if opts.Why != "" {
		d.note("%s", opts.Why)
	}
	d.p.Fingerprint = MakeFingerprint(desired, live)

	cand, dead := desired.Host(opts.Candidate), desired.Host(opts.Dead)
	lc := (*topology.LiveHost)(nil)
	if cand != nil {
		lc = d.reachable(cand)
	}
	if cand == nil || lc == nil || dead == nil || cand == dead {
		d.problem(Problem{Severity: SeverityError, Host: opts.Candidate,
			Summary: fmt.Sprintf("cannot promote %q in place of %q: it is not a reachable declared host other than the old writer", opts.Candidate, opts.Dead)})
		return d.p
	}
	d.note("failover: %s replaces %s as the writer", cand.Name, dead.Name)

	// 1. Fence a reachable old writer.
	var fence []string
	if ld := d.reachable(dead); ld != nil {
		sql := d.dialect(dead)
		if !ld.ReadOnly {
			d.readOnlySteps[dead.Name] = d.add(Step{
				ID: stepID(dead.Name, KindSetVariable, "read_only"), Kind: KindSetVariable, Symbol: Update,
				Host: dead.Name, Subject: hostSubject(dead), Change: "read_only = OFF -> ON",
				Why: "Fence the old writer: it must not accept writes once " + cand.Name + " does.", Statements: sql.setReadOnly(true),
			})
			fence = append(fence, d.readOnlySteps[dead.Name])
		}
		fence = append(fence, d.add(Step{
			ID: stepID(dead.Name, KindKillClients, "clients"), Kind: KindKillClients, Symbol: Update,
			Host: dead.Name, Subject: hostSubject(dead), Change: "disconnect client sessions",
			Why:       "Sessions opened before read_only could still hold transactions.",
			DependsOn: nonEmpty(d.readOnlySteps[dead.Name]),
		}))
	}

	// 2. Promote the candidate.
	csql := d.dialect(cand)
	target := Received(lc)
	var promoteDeps []string
	wait := ""
	if d.reachable(dead) != nil {
		// A reachable old writer (a switchover, or a writer cut off from
		// the monitor alone) may have written until its fence: read its
		// position after the fence, at execution time.
		wait = d.add(Step{
			ID: stepID(cand.Name, KindWaitCatchUp, dead.Name), Kind: KindWaitCatchUp, Symbol: Update,
			Host: cand.Name, Subject: hostSubject(cand), Change: "wait until it applied everything " + dead.Name + " wrote",
			Wait:      &WaitStep{Source: dead.Name, Timeout: Duration(opts.CatchUpTimeout)},
			DependsOn: fence,
		})
		promoteDeps = append(promoteDeps, wait)
	} else if rs := lc.Replica; rs != nil && !target.Empty() {
		wait = d.add(Step{
			ID: stepID(cand.Name, KindWaitCatchUp, "relay_log"), Kind: KindWaitCatchUp, Symbol: Update,
			Host: cand.Name, Subject: hostSubject(cand), Change: "wait until it applied what it received (" + target.String() + ")",
			Why:        "Every transaction the old writer acknowledged reached a promotable host (semi-sync); it must be applied before writes start.",
			Statements: []Statement{waitForGTID(csql, target, opts.CatchUpTimeout)},
		})
		promoteDeps = append(promoteDeps, wait)
	}
	// The new writer stops replicating from a dead old writer, so nothing of
	// it arrives when it returns (possibly with transactions nobody else
	// has). That stop comes last, after the promotion: with the old writer
	// unreachable the IO thread may sit in a network wait, and STOP REPLICA
	// waits for it. A reachable old writer (switchover) is read-only and
	// replicates from the candidate: the master-master channel stays.
	stopAfter := false
	if rs := lc.Replica; d.reachable(dead) == nil && rs != nil && (rs.IORunning != "No" || rs.SQLRunning != "No") {
		stopAfter = true
	}
	// A slave may have received from the dead writer more than the
	// candidate: the writer sends each transaction to every replica at once,
	// and a slave can get it before the semi-sync replica does. Such a
	// transaction may even have been acknowledged (after a semi-sync timeout
	// fell back to asynchronous). The candidate fetches it from that slave
	// before it is promoted: nothing is lost and no slave is left ahead.
	if d.reachable(dead) == nil {
		if donor, donorPos := d.mostAdvancedReplica(cand.Name, dead.Name, target); donor != nil {
			last := d.catchUpFrom(cand, donor, donorPos, lc, wait, opts.CatchUpTimeout)
			promoteDeps = []string{last}
			wait = last
			target = target.Union(donorPos)
			stopAfter = false
		}
	}
	// Semi-sync: with no other promotable host left to acknowledge, the new
	// writer's first transaction would wait the whole semi-sync timeout
	// before the server gives up on it; turn waiting off now (the watch turns
	// it on again when a promotable replica is back).
	if d.c.Replication.SemiSync && lc.SemiSyncMasterEnabled && d.reachable(dead) == nil && !d.otherPromotable(cand.Name, dead.Name) {
		v := csql.semiSyncMasterVar()
		promoteDeps = append(promoteDeps, d.add(Step{
			ID: stepID(cand.Name, KindSetVariable, v), Kind: KindSetVariable, Symbol: Update,
			Host: cand.Name, Subject: hostSubject(cand), Change: v + " = ON -> OFF",
			Why:        "No other host that can become the writer is reachable to acknowledge writes; waiting for one would only delay the first write by the semi-sync timeout.",
			Statements: []Statement{csql.setGlobal(v, false)},
		}))
	}
	if lc.ReadOnly {
		d.readOnlySteps[cand.Name] = d.add(Step{
			ID: stepID(cand.Name, KindSetVariable, "read_only"), Kind: KindSetVariable, Symbol: Update,
			Host: cand.Name, Subject: hostSubject(cand), Change: "read_only = ON -> OFF",
			Why:        cand.Name + " becomes the writer.",
			Statements: csql.setReadOnly(false), DependsOn: append(append([]string{}, fence...), promoteDeps...),
			MakesWritable: true,
		})
	}

	if stopAfter {
		defer func() {
			d.add(Step{
				ID: stepID(cand.Name, KindStopReplica, "replica"), Kind: KindStopReplica, Symbol: Update,
				Host: cand.Name, Subject: hostSubject(cand), Change: "stop replicating from " + dead.Name,
				Why:        "The new writer must not take anything more from the old one when it returns.",
				Statements: []Statement{csql.stopReplica()}, DependsOn: nonEmpty(d.readOnlySteps[cand.Name], wait),
			})
		}()
	}

	// 3. Repoint the other replicas.
	d.repointTo(cand, dead, target, wait, d.reachable(dead) == nil)

	// 4. Writer VIPs.
	if role := desired.WriterRole(); role != nil {
		for _, ip := range role.IPs {
			subject := fmt.Sprintf("vip %s (%s)", ip, role.Name)
			holders := live.VIPs[ip]
			var released []string
			for _, holder := range holders {
				if holder == cand.Name || (holder == dead.Name && opts.Fenced) {
					continue
				}
				// The address leaves its holder only once the new writer is
				// writable: until then clients reaching the read-only old
				// writer get a quick error, while an address on no host
				// swallows their connection attempts until they time out.
				released = append(released, d.add(Step{
					ID: stepID(holder, KindReleaseVIP, ip), Kind: KindReleaseVIP, Symbol: Move,
					Host: holder, Subject: subject, Change: fmt.Sprintf("%s -> %s", holder, cand.Name),
					VIP:       &VIPStep{Role: role.Name, IP: ip, Interface: d.iface(holder), From: holder, To: cand.Name},
					DependsOn: nonEmpty(d.readOnlySteps[holder], d.readOnlySteps[cand.Name]),
				}))
			}
			if contains(holders, cand.Name) {
				continue
			}
			d.add(Step{
				ID: stepID(cand.Name, KindAssignVIP, ip), Kind: KindAssignVIP, Symbol: Move,
				Host: cand.Name, Subject: subject, Change: fmt.Sprintf("%s -> %s", dead.Name, cand.Name),
				VIP:       &VIPStep{Role: role.Name, IP: ip, Interface: d.iface(cand.Name), From: dead.Name, To: cand.Name},
				DependsOn: append(released, nonEmpty(d.readOnlySteps[cand.Name])...),
			})
		}
	}
	return d.p
}

// otherPromotable: a reachable host of the writer role other than cand and
// old, which could acknowledge semi-sync writes.
func (d *differ) otherPromotable(cand, old string) bool {
	role := d.c.WriterRole()
	if role == nil {
		return false
	}
	for _, name := range role.Hosts {
		if name == cand || name == old {
			continue
		}
		if h := d.c.Host(name); h != nil && d.reachable(h) != nil {
			return true
		}
	}
	return false
}

// repointTo points every reachable replica other than the new writer and the
// old one at the new writer, unless it is there already or ahead of it.
//
// checkAhead is false when the old writer is reachable: then the wait step
// makes the new writer hold everything the old one wrote, so no replica can
// be ahead of it once the repoint runs.
func (d *differ) repointTo(w, old *topology.Host, target gtid.Set, wait string, checkAhead bool) {
	repl := d.c.ReplicationUser()
	if repl == nil {
		d.problem(Problem{Severity: SeverityError,
			Summary: fmt.Sprintf("replication.user %q names no declared user", d.c.Replication.User),
			Detail:  "Declare the account replicas connect with; no replica is repointed."})
		return
	}
	port := w.Port
	if port == 0 {
		port = 3306
	}
	for _, h := range d.c.Hosts {
		if h.Name == w.Name || h.Name == old.Name {
			continue
		}
		lh := d.reachable(h)
		if lh == nil {
			continue
		}
		if ahead := Executed(lh).Subtract(target); checkAhead && !ahead.Empty() {
			d.problem(Problem{Severity: SeverityWarning, Kind: ProblemReplicaAhead, Host: h.Name,
				Summary: fmt.Sprintf("%s is ahead of the new writer %s by %s: not repointed", h.Name, w.Name, ahead),
				Detail:  "It holds transactions " + w.Name + " does not have (written on it directly, or received from " + old.Name + " alone). Pointing it at " + w.Name + " would fail or diverge; rebuild it from " + w.Name + " or reconcile the GTIDs by hand."})
			continue
		}
		rs := lh.Replica
		sql := d.dialect(h)
		if rs != nil && sourceName(d.c, rs) == w.Name && strings.EqualFold(rs.UsingGTID, sql.gtidMode()) {
			continue
		}
		var prev []string
		add := func(s Step) {
			s.Host, s.Subject = h.Name, hostSubject(h)
			s.DependsOn = append(nonEmpty(lastOf(prev), wait), s.DependsOn...)
			prev = append(prev, d.add(s))
		}
		if rs != nil && (rs.IORunning != "No" || rs.SQLRunning != "No") {
			add(Step{ID: stepID(h.Name, KindStopReplica, "replica"), Kind: KindStopReplica, Symbol: Update,
				Change: "stop replication to change its source", Statements: []Statement{sql.stopReplica()}})
		}
		from := "none"
		if rs != nil {
			from = sourceName(d.c, rs)
		}
		r := d.c.Replication
		add(Step{ID: stepID(h.Name, KindChangeSource, "replica"), Kind: KindChangeSource, Symbol: Update,
			Change: fmt.Sprintf("source = %s -> %s", from, w.Name),
			Why:    "Failover: every replica follows the new writer, from its own GTID position.",
			Statements: []Statement{sql.changeSource(source{
				Address: w.Address, Port: port, User: repl.Name, Password: repl.Password,
				Retry: r.ConnectRetry, Heartbeat: r.Heartbeat, SSL: r.SSL, SSLCA: r.SSLCA, SSLCert: r.SSLCert, SSLKey: r.SSLKey,
			})}})
		add(Step{ID: stepID(h.Name, KindStartReplica, "replica"), Kind: KindStartReplica, Symbol: Update,
			Change: "replication threads -> running", Statements: []Statement{sql.startReplica()}})
		d.replSteps[h.Name] = prev
	}
}

// waitForGTID is a SELECT that returns -1 unless the server applied set
// within timeout (the executor treats -1 as a failed step).
func waitForGTID(sql dialect, set gtid.Set, timeout time.Duration) Statement {
	secs := int(timeout.Seconds())
	if secs < 1 {
		secs = 1
	}
	if sql.mariadb() {
		return SQL(fmt.Sprintf("SELECT MASTER_GTID_WAIT(%s, %d)", flavor.QuoteString(set.String()), secs))
	}
	return SQL(fmt.Sprintf("SELECT IF(WAIT_FOR_EXECUTED_GTID_SET(%s, %d) = 0, 0, -1)", flavor.QuoteString(set.String()), secs))
}

// Executed is the GTID state a host has applied (MariaDB gtid_current_pos,
// MySQL gtid_executed); an unparsable one is empty.
func Executed(lh *topology.LiveHost) gtid.Set {
	s, _ := gtid.Parse(lh.GTIDExecuted)
	if s.Empty() && lh.GTIDCurrentPos != "" {
		s, _ = gtid.Parse(lh.GTIDCurrentPos)
	}
	return s
}

// Received is what a replica has applied plus what it received and not yet
// applied: what it holds once it caught up.
func Received(lh *topology.LiveHost) gtid.Set {
	s := Executed(lh)
	if lh.Replica != nil {
		for _, r := range []string{lh.Replica.RetrievedGTIDSet, lh.Replica.ExecutedGTIDSet} {
			if x, err := gtid.Parse(r); err == nil {
				s = s.Union(x)
			}
		}
	}
	return s
}

// PlaceVIPs plans the VIP moves that take the holders seen in live.VIPs to
// placement (VIP -> host, "" none), for the given roles only: the watch's
// reader moves. Releases come before assigns; nothing else is planned.
func PlaceVIPs(desired *topology.Cluster, live *topology.Live, placement map[string]string, roles []string, now time.Time, why string) *Plan {
	d := newNarrowDiffer(desired, live, now, why)
	var releases, assigns []Step
	for _, role := range desired.Roles {
		if !contains(roles, role.Name) {
			continue
		}
		for _, ip := range role.IPs {
			want := placement[ip]
			holders := append([]string{}, live.VIPs[ip]...)
			sort.Strings(holders)
			subject := fmt.Sprintf("vip %s (%s)", ip, role.Name)
			var released []string
			for _, holder := range holders {
				if holder == want {
					continue
				}
				s := Step{ID: stepID(holder, KindReleaseVIP, ip), Kind: KindReleaseVIP, Symbol: Move,
					Host: holder, Subject: subject, Change: fmt.Sprintf("%s -> %s", holder, orDefault(want, "none")),
					VIP: &VIPStep{Role: role.Name, IP: ip, Interface: d.iface(holder), From: holder, To: want}}
				releases = append(releases, s)
				released = append(released, s.ID)
			}
			if want == "" || contains(holders, want) {
				continue
			}
			from := ""
			if len(holders) > 0 {
				from = holders[0]
			}
			assigns = append(assigns, Step{ID: stepID(want, KindAssignVIP, ip), Kind: KindAssignVIP, Symbol: Move,
				Host: want, Subject: subject, Change: fmt.Sprintf("%s -> %s", orDefault(from, "none"), want),
				VIP:       &VIPStep{Role: role.Name, IP: ip, Interface: d.iface(want), From: from, To: want},
				DependsOn: released})
		}
	}
	for _, s := range releases {
		d.add(s)
	}
	for _, s := range assigns {
		d.add(s)
	}
	return d.p
}

// Fence plans read_only ON and a kill of client sessions on host, a master
// that is writable while another one is the writer (an old writer restarted
// with read_only OFF in its configuration). Its sessions are killed only
// when read_only was OFF: they may hold writes.
func Fence(desired *topology.Cluster, live *topology.Live, host string, now time.Time, why string) *Plan {
	d := newNarrowDiffer(desired, live, now, why)
	h := desired.Host(host)
	if h == nil {
		d.problem(Problem{Severity: SeverityError, Summary: fmt.Sprintf("cannot fence %q: no such host", host)})
		return d.p
	}
	lh := d.reachable(h)
	if lh == nil || lh.ReadOnly {
		return d.p
	}
	ro := d.add(Step{
		ID: stepID(h.Name, KindSetVariable, "read_only"), Kind: KindSetVariable, Symbol: Update,
		Host: h.Name, Subject: hostSubject(h), Change: "read_only = OFF -> ON", Why: why,
		Statements: d.dialect(h).setReadOnly(true),
	})
	d.add(Step{
		ID: stepID(h.Name, KindKillClients, "clients"), Kind: KindKillClients, Symbol: Update,
		Host: h.Name, Subject: hostSubject(h), Change: "disconnect client sessions",
		Why: "Sessions opened while it was writable could still hold transactions.", DependsOn: []string{ro},
	})
	return d.p
}

// newNarrowDiffer starts a plan of a few chosen steps (the watch's VIP moves,
// fencing): the hosts as seen, the reason as a note, the fingerprint.
func newNarrowDiffer(desired *topology.Cluster, live *topology.Live, now time.Time, why string) *differ {
	d := &differ{
		c: desired, live: live,
		p:   &Plan{FormatVersion: FormatVersion, Cluster: desired.Name, CreatedAt: now, Steps: []Step{}},
		ids: map[string]bool{},
	}
	for _, h := range desired.Hosts {
		d.p.Hosts = append(d.p.Hosts, HostInfo{Name: h.Name, Address: hostPort(h), Mode: string(h.Mode), Reachable: d.reachable(h) != nil})
	}
	if why != "" {
		d.note("%s", why)
	}
	d.p.Fingerprint = MakeFingerprint(desired, live)
	return d
}

// mostAdvancedReplica returns the reachable replica (other than cand and
// old) that holds everything target holds and more, with a binary log of
// what it applied (log_bin, log_slave_updates), the most advanced of them;
// nil when none.
func (d *differ) mostAdvancedReplica(cand, old string, target gtid.Set) (*topology.Host, gtid.Set) {
	var best *topology.Host
	var bestPos gtid.Set
	for _, h := range d.c.Hosts {
		if h.Name == cand || h.Name == old {
			continue
		}
		lh := d.reachable(h)
		if lh == nil || !lh.LogBin || !lh.LogSlaveUpdates {
			continue
		}
		pos := Executed(lh)
		if !pos.Contains(target) || target.Contains(pos) {
			continue
		}
		if best == nil || (pos.Contains(bestPos) && !bestPos.Contains(pos)) {
			best, bestPos = h, pos
		}
	}
	return best, bestPos
}

// catchUpFrom plans the candidate's detour through donor: replicate from it
// (GTID auto-positioning) until it applied donorPos, then stop. It returns
// the last step's ID.
func (d *differ) catchUpFrom(cand, donor *topology.Host, donorPos gtid.Set, lc *topology.LiveHost, after string, timeout time.Duration) string {
	repl := d.c.ReplicationUser()
	if repl == nil {
		return after
	}
	sql := d.dialect(cand)
	port := donor.Port
	if port == 0 {
		port = 3306
	}
	var prev []string
	add := func(s Step) {
		s.Host, s.Subject = cand.Name, hostSubject(cand)
		s.DependsOn = append(nonEmpty(lastOf(prev), after), s.DependsOn...)
		prev = append(prev, d.add(s))
	}
	why := fmt.Sprintf("%s received from the old writer transactions %s never got (%s); %s takes them from %s before it becomes the writer.",
		donor.Name, cand.Name, donorPos.Subtract(Received(lc)), cand.Name, donor.Name)
	if rs := lc.Replica; rs != nil && (rs.IORunning != "No" || rs.SQLRunning != "No") {
		add(Step{ID: stepID(cand.Name, KindStopReplica, "catch-up"), Kind: KindStopReplica, Symbol: Update,
			Change: "stop replicating from the old writer", Why: why, Statements: []Statement{sql.stopReplica()}})
	}
	r := d.c.Replication
	add(Step{ID: stepID(cand.Name, KindChangeSource, "catch-up"), Kind: KindChangeSource, Symbol: Update,
		Change: "source -> " + donor.Name + " (to catch up)", Why: why,
		Statements: []Statement{sql.changeSource(source{
			Address: donor.Address, Port: port, User: repl.Name, Password: repl.Password,
			Retry: r.ConnectRetry, Heartbeat: r.Heartbeat, SSL: r.SSL, SSLCA: r.SSLCA, SSLCert: r.SSLCert, SSLKey: r.SSLKey,
		})}})
	add(Step{ID: stepID(cand.Name, KindStartReplica, "catch-up"), Kind: KindStartReplica, Symbol: Update,
		Change: "replicate from " + donor.Name, Statements: []Statement{sql.startReplica()}})
	add(Step{ID: stepID(cand.Name, KindWaitCatchUp, donor.Name), Kind: KindWaitCatchUp, Symbol: Update,
		Change:     "wait until it applied " + donorPos.String() + " from " + donor.Name,
		Statements: []Statement{waitForGTID(sql, donorPos, min(timeout, 10*time.Second))}})
	add(Step{ID: stepID(cand.Name, KindStopReplica, "caught-up"), Kind: KindStopReplica, Symbol: Update,
		Change: "stop replicating from " + donor.Name, Statements: []Statement{sql.stopReplica()}})
	return lastOf(prev)
}

// FailoverTarget is the GTID position the candidate holds when Failover's
// steps made it the writer, before any write of its own: what it received,
// plus what it fetches from the most advanced slave (when the old writer is
// unreachable). A returning old writer's own transactions beyond it are
// errant.
func FailoverTarget(desired *topology.Cluster, live *topology.Live, dead, candidate string) gtid.Set {
	d := newNarrowDiffer(desired, live, time.Time{}, "")
	cand := desired.Host(candidate)
	if cand == nil {
		return gtid.Set{}
	}
	lc := d.reachable(cand)
	if lc == nil {
		return gtid.Set{}
	}
	target := Received(lc)
	if old := desired.Host(dead); old != nil && d.reachable(old) == nil {
		if donor, pos := d.mostAdvancedReplica(candidate, dead, target); donor != nil {
			target = target.Union(pos)
		}
	}
	return target
}
