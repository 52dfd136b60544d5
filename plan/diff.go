package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Options tune Diff.
type Options struct {
	// AllowUnsafe is the operator's consent to unsafe changes. It changes the
	// notes about unsafe steps, and one decision: a writer that is not the
	// role's prefer is switched over to it (design.md: prefer is where
	// `apply --allow-unsafe` moves the writer). The steps are marked unsafe
	// either way.
	AllowUnsafe bool
	// Now stamps Plan.CreatedAt (Diff never reads the clock).
	Now time.Time
	// MoveWriterTo asks for a switchover to this host of the writer role
	// (apply --allow-unsafe with a changed prefer, move-role).
	MoveWriterTo string
	// CatchUpTimeout bounds the wait of a switchover (default 60s).
	CatchUpTimeout time.Duration
	// WatchOwnsRoles is set by `mmm watch` itself: it holds the lease, so a
	// writer move it plans is not one behind its back.
	WatchOwnsRoles bool
	// Writer is the writer `mmm watch` decided on (after a failover it may not
	// be prefer, and its agent may have set it read_only during a cut): Diff
	// serves it, whatever the live read_only flags and prefer say. Empty:
	// Diff chooses (chooseWriter).
	Writer string
}

// DefaultSemiSyncTimeout is the semi-sync master timeout when the file sets
// none. Short on purpose: semi-sync is there so an acknowledged write is on a
// promotable host, not to stall the writer for long when the standby is away
// (after the timeout the writer goes on asynchronously, and says so in its
// status). MariaDB's own default, 10s, would freeze writes for 10s.
const DefaultSemiSyncTimeout = time.Second

// DefaultCatchUpTimeout bounds how long a switchover waits for the new writer
// to apply what the old one wrote.
const DefaultCatchUpTimeout = 60 * time.Second

// Diff computes the steps that take live to desired. It is pure: no I/O, no
// clock (opts.Now), and the same input always gives the same plan.
//
// Step order is execution order and follows four phases, hosts in
// declaration order within each:
//
//  1. server variables (server_id, gtid_strict_mode, auto_increment,
//     semi-sync, read_only ON on every host but the writer; then, last, the
//     writer's read_only OFF, so two masters are never writable at once);
//  2. accounts (create/alter/drop user, grant, revoke; declared users in
//     declaration order) on every reachable host;
//  3. replication (the standby master and the slaves from the writer, then
//     the writer from the standby);
//  4. VIPs (when the agents were asked: live.VIPs != nil).
//
// DependsOn carries the real dependencies so an executor can run steps on
// different hosts in parallel and stop only what depends on a failure.
func Diff(desired *topology.Cluster, live *topology.Live, opts Options) *Plan {
	if opts.CatchUpTimeout == 0 {
		opts.CatchUpTimeout = DefaultCatchUpTimeout
	}
	if live == nil {
		live = &topology.Live{}
	}
	d := &differ{
		c:    desired,
		live: live,
		opts: opts,
		p: &Plan{
			FormatVersion: FormatVersion,
			Cluster:       desired.Name,
			CreatedAt:     opts.Now,
			Steps:         []Step{},
		},
		roleSteps:     true,
		ids:           map[string]bool{},
		replUserSteps: map[string][]string{},
		readOnlySteps: map[string]string{},
		replPlanned:   map[string]bool{},
		replBlocked:   map[string]bool{},
		gtidSteps:     map[string]string{},
		pinned:        map[string]bool{},
		replSteps:     map[string][]string{},
	}
	d.run()
	return d.p
}

type differ struct {
	c    *topology.Cluster
	live *topology.Live
	opts Options
	p    *Plan

	// writer is the master that holds the writer role after the plan;
	// liveWriter the one that held it before ("" on a fresh cluster);
	// switchFrom the healthy writer a switchover demotes.
	writer, liveWriter, switchFrom string
	// roleSteps is false when the writer is unknown (split brain, a master
	// unseen): then no read_only, source or VIP step is planned.
	roleSteps bool

	ids map[string]bool
	// replUserSteps: host -> steps that make the replication account usable there.
	replUserSteps map[string][]string
	// readOnlySteps: host -> its read_only step.
	readOnlySteps map[string]string
	// replPlanned: host -> replication is (re)configured or started by the plan.
	replPlanned map[string]bool
	// replBlocked: host -> a problem keeps the plan from pointing it anywhere.
	replBlocked map[string]bool
	// gtidSteps: host -> its set gtid_slave_pos step.
	gtidSteps map[string]string
	// switchWait is the switchover's catch-up step, which repoints wait for.
	switchWait string
	// pinned: hosts whose GTID position the plan copies into a step.
	pinned map[string]bool
	// replPasswordChanged: hosts where the replication account's password is
	// altered, so replicas of them must be given the new one.
	replPasswordChanged []string
	// replSteps: host -> its replication-phase steps, in order.
	replSteps map[string][]string
}

func (d *differ) run() {
	for _, h := range d.c.Hosts {
		info := HostInfo{Name: h.Name, Address: hostPort(h), Mode: string(h.Mode)}
		if lh := d.liveHost(h.Name); lh == nil || !lh.Reachable {
			d.unreachable(h)
			info.Error = "not inspected"
			if lh != nil && lh.Error != "" {
				info.Error = lh.Error
			}
		} else {
			info.Reachable = true
		}
		d.p.Hosts = append(d.p.Hosts, info)
	}
	d.chooseWriter()
	d.p.Writer = d.writer
	if !d.roleSteps {
		d.p.Writer = ""
	}

	d.replicationAccount()
	d.variables()
	d.users()
	if d.roleSteps {
		d.replication()
		d.vips()
	}
	d.restartedByClone()
	d.p.Fingerprint = MakeFingerprint(d.c, d.live)
	for name := range d.pinned {
		hf := d.p.Fingerprint.Hosts[name]
		hf.Pinned = true
		d.p.Fingerprint.Hosts[name] = hf
	}
	if n := len(d.p.Unsafe()); n > 0 && !d.opts.AllowUnsafe {
		d.note("%d unsafe step(s) marked [unsafe]; apply refuses them without --allow-unsafe", n)
	}
}

// --- helpers ---------------------------------------------------------------

func (d *differ) liveHost(name string) *topology.LiveHost {
	if d.live.Hosts == nil {
		return nil
	}
	return d.live.Hosts[name]
}

func (d *differ) reachable(h *topology.Host) *topology.LiveHost {
	lh := d.liveHost(h.Name)
	if lh == nil || !lh.Reachable {
		return nil
	}
	return lh
}

func (d *differ) note(format string, args ...any) {
	d.p.Notes = append(d.p.Notes, fmt.Sprintf(format, args...))
}

func (d *differ) problem(p Problem) {
	if p.Host != "" && p.Address == "" {
		if h := d.c.Host(p.Host); h != nil {
			p.Address = hostPort(h)
		}
	}
	d.p.Problems = append(d.p.Problems, p)
}

func hostPort(h *topology.Host) string {
	port := h.Port
	if port == 0 {
		port = 3306
	}
	return h.Address + ":" + strconv.Itoa(port)
}

// add appends a step; IDs are "<host>:<kind>:<subject>" and unique.
func (d *differ) add(s Step) string {
	if s.ID == "" {
		panic("plan: step without ID")
	}
	if d.ids[s.ID] {
		panic("plan: duplicate step ID " + s.ID)
	}
	d.ids[s.ID] = true
	d.p.Steps = append(d.p.Steps, s)
	return s.ID
}

func stepID(host string, kind Kind, subject string) string {
	return host + ":" + string(kind) + ":" + subject
}

func hostSubject(h *topology.Host) string { return fmt.Sprintf("host %q", h.Name) }

func (d *differ) unreachable(h *topology.Host) {
	cause := "not inspected"
	if lh := d.liveHost(h.Name); lh != nil && lh.Error != "" {
		cause = lh.Error
	}
	d.problem(Problem{
		Severity: SeverityWarning,
		Host:     h.Name,
		Summary:  fmt.Sprintf("cannot see %s (%s): %s", h.Name, hostPort(h), cause),
		Detail:   "No database steps are planned for this host and the plan does not know its state; plan again once it is reachable.",
	})
}

// sourceName names the host a replica channel points at: the declared host
// with that address (or name) and port, else "address:port".
func (d *differ) sourceName(r *topology.ReplicaStatus) string { return sourceName(d.c, r) }

func sourceName(c *topology.Cluster, r *topology.ReplicaStatus) string {
	if r == nil {
		return ""
	}
	for _, h := range c.Hosts {
		port := h.Port
		if port == 0 {
			port = 3306
		}
		if (r.SourceHost == h.Address || r.SourceHost == h.Name) && (r.SourcePort == port || r.SourcePort == 0) {
			return h.Name
		}
	}
	return r.SourceHost + ":" + strconv.Itoa(r.SourcePort)
}

// sourceOf is the host h replicates from: the writer for everyone else, the
// standby (the writer's peer) for the writer: MMM's master-master, in which
// the standby's binary log (log_slave_updates) holds every write, so slaves
// can follow it after a failover. The writer ignores its own events coming
// back (same server_id), which is what keeps the pair from looping; mmm
// therefore insists on distinct server_ids.
func (d *differ) sourceOf(h *topology.Host) *topology.Host {
	if h.Name != d.writer {
		return d.c.Host(d.writer)
	}
	w := d.c.Host(d.writer)
	if w.Peer != "" {
		return d.c.Host(w.Peer)
	}
	var others []*topology.Host
	for _, m := range d.c.Masters() {
		if m.Name != w.Name {
			others = append(others, m)
		}
	}
	if len(others) == 1 {
		return others[0]
	}
	return nil
}

// --- phase 1: variables ----------------------------------------------------

// variables plans server settings. Settings made with SET GLOBAL do not
// survive a restart: the server's configuration must carry them too
// (read_only = ON everywhere in the configuration is the safe choice: the
// writer is made writable by mmm, never by a restart).
func (d *differ) variables() {
	masters := d.c.Masters()
	for _, h := range d.c.Hosts {
		lh := d.reachable(h)
		if lh == nil {
			continue
		}
		sql := d.dialect(h)
		isMaster := h.Mode == topology.ModeMaster
		subject := hostSubject(h)
		setVar := func(name, from, to, why string, stmts ...Statement) string {
			return d.add(Step{
				ID: stepID(h.Name, KindSetVariable, name), Kind: KindSetVariable, Symbol: Update,
				Host: h.Name, Subject: subject, Change: fmt.Sprintf("%s = %s -> %s", name, from, to),
				Why: why, Statements: stmts,
			})
		}
		restart := func(name, from, to, why string) {
			d.add(Step{
				ID: stepID(h.Name, KindRestartNeeded, name), Kind: KindRestartNeeded, Symbol: Update,
				Host: h.Name, Subject: subject, Change: fmt.Sprintf("%s = %s -> %s (needs a restart)", name, from, to),
				Why: why,
			})
			d.problem(Problem{Severity: SeverityWarning, Host: h.Name,
				Summary: fmt.Sprintf("%s needs a restart: %s = %s, want %s", h.Name, name, from, to),
				Detail:  why + " Set it in the server's configuration and restart the server; mmm does not restart servers."})
		}

		if isMaster && !lh.LogBin {
			restart("log_bin", "OFF", "ON", "A master must write a binary log for its peer and the slaves to replicate from.")
		}
		if isMaster && !lh.LogSlaveUpdates {
			restart("log_slave_updates", "OFF", "ON", "A master must log what it replicates so slaves can follow it after a failover.")
		}
		if want := d.c.ServerIDFor(h); want != 0 && lh.ServerID != want {
			from, to := strconv.FormatUint(uint64(lh.ServerID), 10), strconv.FormatUint(uint64(want), 10)
			why := "server_ids must differ: replication drops events carrying its own server_id, which is what stops the masters' loop."
			if sql.mariadb() {
				setVar("server_id", from, to, why+" Runtime only: also set server_id = "+to+" in the server's configuration.",
					sql.setGlobal("server_id", want))
			} else {
				restart("server_id", from, to, why)
			}
		}
		if sql.mariadb() {
			if !lh.GTIDStrictMode {
				setVar("gtid_strict_mode", "OFF", "ON", "Refuse out-of-order GTIDs instead of silently diverging.",
					sql.setGlobal("gtid_strict_mode", true))
			}
		} else if !strings.EqualFold(lh.GTIDMode, "ON") || !lh.GTIDStrictMode {
			restart("gtid_mode", orDefault(lh.GTIDMode, "OFF"), "ON", "mmm replicates with GTID auto-positioning (gtid_mode = ON, enforce_gtid_consistency = ON).")
		}

		// Two masters interleave auto-increment values (MMM practice), so rows
		// inserted on both during a switchover, or by a stray write on the
		// standby, never collide: increment = number of masters, offset =
		// position among the masters (1, 2). SET GLOBAL applies to new sessions.
		if isMaster && len(masters) > 1 {
			inc, off := len(masters), 0
			for i, m := range masters {
				if m == h {
					off = i + 1
				}
			}
			if lh.AutoIncrementIncrement != inc {
				setVar("auto_increment_increment", strconv.Itoa(lh.AutoIncrementIncrement), strconv.Itoa(inc),
					"Masters interleave auto-increment values so their rows never collide.",
					sql.setGlobal("auto_increment_increment", inc))
			}
			if lh.AutoIncrementOffset != off {
				setVar("auto_increment_offset", strconv.Itoa(lh.AutoIncrementOffset), strconv.Itoa(off),
					"Masters interleave auto-increment values so their rows never collide.",
					sql.setGlobal("auto_increment_offset", off))
			}
		}

		d.semiSync(h, lh, sql, setVar)
		d.netTimeout(h, lh, sql, setVar)

		if d.roleSteps && h.Name != d.writer && !lh.ReadOnly {
			why := "Only the writer (" + d.writer + ") accepts writes."
			step := Step{
				ID: stepID(h.Name, KindSetVariable, "read_only"), Kind: KindSetVariable, Symbol: Update,
				Host: h.Name, Subject: subject, Change: "read_only = OFF -> ON", Why: why,
				Statements: sql.setReadOnly(true),
			}
			if h.Name == d.switchFrom {
				step.Unsafe, step.UnsafeReason = true, "demotes a healthy writer"
				step.Why = fmt.Sprintf("Switchover: %s hands the writer role to %s.", h.Name, d.writer)
			}
			d.readOnlySteps[h.Name] = d.add(step)
		} else if d.roleSteps && h.Name != d.writer && !sql.mariadb() && !lh.SuperReadOnly {
			d.readOnlySteps[h.Name] = d.add(Step{
				ID: stepID(h.Name, KindSetVariable, "read_only"), Kind: KindSetVariable, Symbol: Update,
				Host: h.Name, Subject: subject, Change: "super_read_only = OFF -> ON",
				Why: "Only the writer (" + d.writer + ") accepts writes, even from accounts with SUPER.", Statements: sql.setReadOnly(true),
			})
		}
	}
	if !d.roleSteps {
		return
	}

	// A switchover: the old writer is read_only now; stop its clients, let the
	// new writer apply everything, and only then make it writable.
	var writerDeps []string
	if d.switchFrom != "" {
		old := d.c.Host(d.switchFrom)
		kill := d.add(Step{
			ID: stepID(old.Name, KindKillClients, "clients"), Kind: KindKillClients, Symbol: Update,
			Host: old.Name, Subject: hostSubject(old), Change: "disconnect client sessions",
			Why:       "Sessions opened before read_only could still hold transactions; the writer role moves to " + d.writer + ".",
			DependsOn: nonEmpty(d.readOnlySteps[old.Name]),
			Unsafe:    true, UnsafeReason: "demotes a healthy writer",
		})
		d.switchWait = d.add(Step{
			ID: stepID(d.writer, KindWaitCatchUp, old.Name), Kind: KindWaitCatchUp, Symbol: Update,
			Host: d.writer, Subject: hostSubject(d.c.Host(d.writer)), Change: "wait until it applied everything " + old.Name + " wrote",
			Wait:      &WaitStep{Source: old.Name, Timeout: Duration(d.opts.CatchUpTimeout)},
			DependsOn: []string{kill},
			Unsafe:    true, UnsafeReason: "demotes a healthy writer",
		})
		writerDeps = append(writerDeps, d.switchWait)
		if lh := d.liveHost(d.writer); lh != nil && (lh.Replica == nil || !lh.Replica.Running() || sourceName(d.c, lh.Replica) != old.Name) {
			d.problem(Problem{Severity: SeverityWarning, Host: d.writer,
				Summary: fmt.Sprintf("%s does not replicate from %s: the switchover's catch-up wait will time out", d.writer, old.Name)})
		}
	}
	w := d.c.Host(d.writer)
	lw := d.reachable(w)
	if lw == nil || !lw.ReadOnly {
		return
	}
	for _, m := range d.c.Hosts {
		if id := d.readOnlySteps[m.Name]; id != "" && m.Mode == topology.ModeMaster {
			writerDeps = append(writerDeps, id)
		}
	}
	why := w.Name + " is the writer."
	if d.liveWriter == "" {
		why = w.Name + " becomes the writer (prefer)."
	}
	d.readOnlySteps[w.Name] = d.add(Step{
		ID: stepID(w.Name, KindSetVariable, "read_only"), Kind: KindSetVariable, Symbol: Update,
		Host: w.Name, Subject: hostSubject(w), Change: "read_only = ON -> OFF", Why: why,
		Statements: d.dialect(w).setReadOnly(false), DependsOn: writerDeps, MakesWritable: true,
		Unsafe: d.switchFrom != "", UnsafeReason: unsafeIf(d.switchFrom != "", "demotes a healthy writer"),
	})
}

// semiSync: with replication.semi_sync the masters wait (up to the timeout)
// for an acknowledgement, and only hosts that can be promoted (the writer
// role's) acknowledge, so an acknowledged write is always on a candidate.
// Without semi_sync both sides are turned off.
func (d *differ) semiSync(h *topology.Host, lh *topology.LiveHost, sql dialect, setVar func(name, from, to, why string, stmts ...Statement) string) {
	want := d.c.Replication.SemiSync
	isMaster := h.Mode == topology.ModeMaster
	promotable := isMaster
	if role := d.c.WriterRole(); role != nil && len(role.Hosts) > 0 {
		promotable = contains(role.Hosts, h.Name)
	}
	wantMaster := want && isMaster
	wantSlave := want && promotable
	if lh.SemiSyncMasterEnabled != wantMaster {
		v := sql.semiSyncMasterVar()
		stmts := []Statement{sql.setGlobal(v, wantMaster)}
		if wantMaster {
			timeout := d.c.Replication.SemiSyncTimeout
			if timeout == 0 {
				timeout = DefaultSemiSyncTimeout
			}
			stmts = append(stmts, sql.setGlobal(sql.semiSyncTimeoutVar(), timeout.Milliseconds()))
		}
		setVar(v, onOff(lh.SemiSyncMasterEnabled), onOff(wantMaster),
			"Semi-sync: a write is acknowledged once a promotable host has it.", stmts...)
	}
	if lh.SemiSyncSlaveEnabled != wantSlave {
		v := sql.semiSyncSlaveVar()
		stmts := []Statement{sql.setGlobal(v, wantSlave)}
		if lh.Replica != nil && lh.Replica.IORunning == "Yes" {
			stmts = append(stmts, sql.restartIOThread()...)
		}
		why := "Semi-sync: only hosts that can become the writer acknowledge writes."
		setVar(v, onOff(lh.SemiSyncSlaveEnabled), onOff(wantSlave), why, stmts...)
	}
}

// ReplicaNetTimeout is the slave_net_timeout mmm sets on every host, for a
// replication heartbeat of heartbeat (0: the server's default of half the
// timeout). Replicas confirm that a writer is dead only once their IO thread
// lost it, and with the server default of 60s a writer whose host vanished
// (no TCP reset) would be confirmed dead after a minute; four heartbeats
// without a word is a lost source.
func ReplicaNetTimeout(heartbeat time.Duration) int {
	if heartbeat <= 0 {
		return 4
	}
	secs := int(math.Ceil(4 * heartbeat.Seconds()))
	if secs < 2 {
		secs = 2
	}
	return secs
}

// netTimeout plans slave_net_timeout; a running IO thread is restarted in the
// same step, since the timeout is taken when it connects.
func (d *differ) netTimeout(h *topology.Host, lh *topology.LiveHost, sql dialect, setVar func(name, from, to, why string, stmts ...Statement) string) {
	want := ReplicaNetTimeout(d.c.Replication.Heartbeat)
	if lh.ReplicaNetTimeout == want {
		return
	}
	v := sql.f.ReplicaNetTimeoutVar()
	stmts := []Statement{sql.setGlobal(v, want)}
	if lh.Replica != nil && lh.Replica.IORunning == "Yes" {
		stmts = append(stmts, sql.restartIOThread()...)
	}
	setVar(v, strconv.Itoa(lh.ReplicaNetTimeout), strconv.Itoa(want),
		"A replica must notice a silent source within seconds, so a dead writer is confirmed quickly (server default: 60s).", stmts...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nonEmpty(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func unsafeIf(cond bool, reason string) string {
	if cond {
		return reason
	}
	return ""
}
