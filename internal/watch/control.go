package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// HostReport is one host as `mmm show` prints it.
type HostReport struct {
	Name    string    `json:"name"`
	Address string    `json:"address"`
	Mode    string    `json:"mode"` // master | slave
	State   State     `json:"state"`
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason,omitempty"`
	Roles   []RoleIP  `json:"roles"`
	Writer  bool      `json:"writer,omitempty"`
	Problem string    `json:"problem,omitempty"`
	Fenced  bool      `json:"fenced,omitempty"`
	// Agent says what is wrong with the host's agent (empty when it answers).
	Agent string `json:"agent,omitempty"`
}

// Report is GET /status.
type Report struct {
	Cluster    string `json:"cluster"`
	Mode       Mode   `json:"mode"`
	ModeReason string `json:"mode_reason,omitempty"`
	Writer     string `json:"writer"`
	// SemiSync is the writer's effective semi-sync state when the file asks
	// for semi-sync: "active", "unknown", or "OFF since …" (fell back to
	// asynchronous replication).
	SemiSync      string       `json:"semi_sync,omitempty"`
	WriterVerdict Verdict      `json:"writer_verdict,omitempty"`
	VerdictWhy    string       `json:"writer_verdict_reason,omitempty"`
	NetworkDown   bool         `json:"network_down,omitempty"`
	LastFailure   string       `json:"last_failure,omitempty"`
	Hosts         []HostReport `json:"hosts"`
	Events        []Event      `json:"events,omitempty"`
	// Busy: the watch is in the middle of this (a failover …); the rest of
	// the report is from before it.
	Busy string `json:"busy,omitempty"`
	// Node is the watch node that answered, Leader the one that acts, and
	// Nodes every node as the answering one sees it (several watch nodes).
	Node   string       `json:"node,omitempty"`
	Leader string       `json:"leader,omitempty"`
	Epoch  uint64       `json:"epoch,omitempty"`
	Nodes  []NodeReport `json:"nodes,omitempty"`
}

// Status reports the watch's view.
//
// It never waits behind a failover or a switchover in progress (which hold
// the watch for as long as their steps run): then it answers the report of
// the last round, with Busy saying what is going on.
func (w *Watch) Status() Report {
	if !w.mu.TryLock() {
		w.busyMu.Lock()
		r, busy := w.lastReport, w.busy
		w.busyMu.Unlock()
		if busy == "" {
			busy = "a round is running"
		}
		r.Busy = busy
		r.Hosts = append([]HostReport(nil), r.Hosts...)
		return r
	}
	defer w.mu.Unlock()
	r := w.report()
	w.busyMu.Lock()
	w.lastReport = r
	w.busyMu.Unlock()
	return r
}

// setBusy says what holds the watch (a failover, a switchover), for Status.
func (w *Watch) setBusy(what string) {
	w.busyMu.Lock()
	w.busy = what
	w.busyMu.Unlock()
}

// report builds the Report. Called with mu held.
func (w *Watch) report() Report {
	r := Report{Cluster: w.c.Name, Mode: w.mode, ModeReason: w.modeReason, Writer: w.writer,
		WriterVerdict: w.verdict, VerdictWhy: w.verdictWhy, NetworkDown: w.netDown, LastFailure: w.lastFailure,
		Events: append([]Event{}, w.history...), SemiSync: w.semiSyncReport()}
	if w.cfg.Raft != nil {
		r.Node, r.Epoch = w.cfg.Raft.Name(), w.epochNow()
		r.Leader, _ = w.cfg.Raft.Leader()
	}
	for _, h := range w.c.Hosts {
		hs := w.machine.Hosts[h.Name]
		roles := w.leases.Held(h.Name)
		if roles == nil {
			roles = []RoleIP{}
		}
		r.Hosts = append(r.Hosts, HostReport{
			Name: h.Name, Address: h.Address, Mode: string(h.Mode), State: hs.State, Since: hs.Since, Reason: hs.Reason,
			Roles: roles, Writer: h.Name == w.writer, Problem: w.problems[h.Name], Fenced: w.leases.Fenced(h.Name),
			Agent: w.agentWarning(h.Name, h.Name == w.writer),
		})
	}
	return r
}

// CheckReport is one check of one host, for `mmm checks`.
type CheckReport struct {
	Host         string        `json:"host"`
	Check        string        `json:"check"`
	OK           bool          `json:"ok"` // counts as passing (trap period applied)
	LastOK       bool          `json:"last_ok"`
	Detail       string        `json:"detail"`
	LastRun      time.Time     `json:"last_run"`
	Latency      time.Duration `json:"latency_ns"`
	FailingSince *time.Time    `json:"failing_since,omitempty"`
}

// Checks reports the checks of host ("" every host).
func (w *Watch) Checks(host string) ([]CheckReport, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if host != "" && w.c.Host(host) == nil {
		return nil, fmt.Errorf("unknown host %q", host)
	}
	var out []CheckReport
	for _, h := range w.c.Hosts {
		if host != "" && h.Name != host {
			continue
		}
		for _, name := range w.tracker.Checks() {
			st := w.tracker.Status(h.Name, name)
			cr := CheckReport{Host: h.Name, Check: name, OK: w.tracker.OK(h.Name, name), Detail: "not run yet"}
			if st != nil {
				cr.LastOK, cr.Detail, cr.LastRun, cr.Latency = st.Last.OK, st.Last.Detail, st.Last.At, st.Last.Latency
				if !st.FailingSince.IsZero() {
					fs := st.FailingSince
					cr.FailingSince = &fs
				}
			}
			out = append(out, cr)
		}
	}
	return out, nil
}

// SetMode switches between active, manual and passive.
func (w *Watch) SetMode(m Mode) error {
	if _, err := ParseMode(string(m)); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mode != m {
		w.log.Warn("mode changed by the operator", "from", w.mode, "to", m)
		w.event("mode %s -> %s (operator)", w.mode, m)
	}
	w.mode, w.modeReason = m, "set by the operator"
	w.save()
	return nil
}

// SetOnline is mmm_control set_online.
func (w *Watch) SetOnline(ctx context.Context, host string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastLive == nil {
		return errors.New("the watch has not inspected the cluster yet")
	}
	in := w.inputs(w.lastLive)[host]
	t, err := w.machine.SetOnline(host, in, w.cfg.Now())
	if err != nil {
		return err
	}
	if t != nil {
		w.log.Info("host state", "host", host, "from", t.From, "to", t.To, "why", t.Reason)
		w.event("%s", t)
		if w.mode != ModePassive {
			w.moveReaders(ctx, w.lastLive)
		}
	}
	w.save()
	return nil
}

// SetOffline is mmm_control set_offline. The writer first hands its role to
// the other master (a planned switchover); when that is impossible the host
// stays as it is.
func (w *Watch) SetOffline(ctx context.Context, host string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if host == w.writer {
		target := ""
		if role := w.c.WriterRole(); role != nil {
			for _, h := range role.Hosts {
				if h != host && w.machine.Hosts[h] != nil && w.machine.Hosts[h].State == Online {
					target = h
					break
				}
			}
		}
		if target == "" {
			return fmt.Errorf("%s is the writer and no other master is ONLINE to take over; it stays", host)
		}
		if err := w.switchover(ctx, target); err != nil {
			return fmt.Errorf("%s is the writer and handing the role to %s failed: %w", host, target, err)
		}
	}
	t, err := w.machine.SetOffline(host, w.cfg.Now())
	if err != nil {
		return err
	}
	if t != nil {
		w.log.Info("host state", "host", host, "from", t.From, "to", t.To, "why", t.Reason)
		w.event("%s", t)
		if w.mode != ModePassive && w.lastLive != nil {
			w.moveReaders(ctx, w.lastLive)
		}
	}
	w.save()
	return nil
}

// MoveRole is mmm_control move_role: the writer moves by a planned
// switchover (read_only and kill on the old writer, the new one catches up,
// becomes writable, takes the VIP; replicas follow). Without force the
// target must be ONLINE; with force a REPLICATION_DELAY or _FAIL one will do.
func (w *Watch) MoveRole(ctx context.Context, role, host string, force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.c.Role(role)
	if r == nil {
		return fmt.Errorf("unknown role %q", role)
	}
	if r.Mode != topology.RoleExclusive {
		return fmt.Errorf("role %q is balanced: its IPs follow the ONLINE hosts; move hosts with set-offline/set-online", role)
	}
	if !contains(r.Hosts, host) {
		return fmt.Errorf("%s is not a host of role %q (%s)", host, role, strings.Join(r.Hosts, ", "))
	}
	if w.mode == ModePassive {
		return errors.New("the watch is passive: it changes nothing (`mmm mode active` or `manual` first)")
	}
	if host == w.writer {
		return nil
	}
	st := w.machine.Hosts[host].State
	switch {
	case st == Online:
	case force && (st == ReplicationDelay || st == ReplicationFail):
	default:
		return fmt.Errorf("%s is %s: the role moves only to an ONLINE host (--force also accepts REPLICATION_DELAY and REPLICATION_FAIL)", host, st)
	}
	return w.switchover(ctx, host)
}

// switchover moves the writer to target, the old writer being reachable.
func (w *Watch) switchover(ctx context.Context, target string) error {
	old := w.writer
	if old == "" {
		return errors.New("no writer to move from")
	}
	live := w.cfg.Inspect(ctx)
	w.lastLive = live
	if lh := live.Hosts[old]; lh == nil || !lh.Reachable {
		return fmt.Errorf("the writer %s is not reachable: a switchover needs it (a dead writer is failed over automatically in active mode)", old)
	}
	p := plan.Failover(w.c, live, plan.FailoverOptions{Dead: old, Candidate: target, Now: w.cfg.Now().UTC(),
		CatchUpTimeout: 30 * time.Second, Why: fmt.Sprintf("move-role: %s hands the writer role to %s", old, target)})
	t0 := time.Now()
	w.setBusy(fmt.Sprintf("switchover from %s to %s since %s", old, target, t0.Format("15:04:05.000")))
	defer w.setBusy("")
	if err := w.bumpEpoch("switchover to " + target); err != nil {
		return err
	}
	w.setIntent(&Intent{Kind: "switchover", From: old, To: target, Phase: PhaseStarted})
	defer func() {
		if w.intent != nil && w.actingNow() {
			w.setIntent(nil)
		}
	}()
	w.promoting(target)
	res := w.execute(ctx, "switchover", p)
	if st := resultOf(res, target+":"+string(plan.KindSetVariable)+":read_only"); st != "applied" && (st != "" || res.hasFailed()) {
		w.event("switchover %s -> %s failed: %v", old, target, res.err)
		return fmt.Errorf("switchover failed: %w", res.err)
	}
	w.setWriter(target)
	w.tracker.Reset(CheckRepThreads)
	w.tracker.Reset(CheckRepBacklog)
	w.record(Event{Kind: "switchover", Steps: stepTimings(res),
		Message: fmt.Sprintf("switchover: %s is the writer in place of %s (took %s)", target, old, time.Since(t0).Round(time.Millisecond))})
	w.save()
	if res.err != nil {
		return fmt.Errorf("%s is the writer, but some steps failed: %w", target, res.err)
	}
	return nil
}

// reconcile repoints replicas that follow the wrong source (a host that was
// away during a failover, a returning old writer) and starts the channels of
// returning old writers, using plan.Diff restricted to those steps. It never
// restarts a stopped replica thread otherwise (that is the operator's call,
// as in MMM), and never touches a host with a problem (errant GTIDs).
func (w *Watch) reconcile(ctx context.Context, live *topology.Live) {
	if w.writer == "" || w.verdict == WriterDead {
		return
	}
	if stale := w.staleHosts(); len(stale) > 0 {
		// A step just changed them: wait for a look taken after it rather
		// than redo (or undo) it on what was seen before.
		w.log.Debug("reconcile waits for a fresh look", "hosts", stale)
		return
	}
	// First, and whatever else is wrong: no master but the writer is writable.
	for _, m := range w.c.Masters() {
		lh := live.Hosts[m.Name]
		if m.Name == w.writer || lh == nil || !lh.Reachable || lh.ReadOnly {
			continue
		}
		why := fmt.Sprintf("%s is writable but %s is the writer: fence it", m.Name, w.writer)
		w.log.Error("second writable master", "host", m.Name, "writer", w.writer)
		w.event("%s", why)
		w.execute(ctx, "fence", plan.Fence(w.c, live, m.Name, w.cfg.Now().UTC(), why))
		lh.ReadOnly = true
	}
	// The diff below is the round's costliest part: run it when what it
	// decides on changed, when a change of the watch's own asks for it, and
	// every reconcile period as a backstop (docs/watch.md, "Cost").
	now := w.cfg.Now()
	key := w.reconcileInput(live)
	if !w.reconcileDue && key == w.reconcileKey && now.Sub(w.lastReconcile) < w.reconcilePeriod() {
		return
	}
	w.reconcileKey, w.reconcileDue, w.lastReconcile = key, false, now
	// Diff serves the watch's writer, whatever prefer or the live read_only
	// flags say: after a failover the writer is not prefer, and its agent
	// may have set it read_only while the monitor could not renew its lease.
	d := plan.Diff(w.c, live, plan.Options{Now: w.cfg.Now().UTC(), Writer: w.writer})
	if d.Writer != w.writer {
		return
	}
	keep := map[string]bool{}
	var steps []plan.Step
	for _, s := range d.Steps {
		ok := false
		_, rejoining := w.failoverPos[s.Host]
		peerProblem := false
		if s.Host == w.writer {
			if h := w.c.Host(s.Host); h != nil && h.Peer != "" {
				_, peerRejoining := w.failoverPos[h.Peer]
				// The writer replicates from a returning old writer only once
				// that one is seen fenced (read_only) and free of errant
				// transactions: otherwise what it wrote after its fence, or
				// while frozen, would spread to every host.
				pl := live.Hosts[h.Peer]
				peerFenced := pl != nil && pl.Reachable && pl.ReadOnly
				peerProblem = w.problems[h.Peer] != "" || (peerRejoining && (w.machine.Hosts[h.Peer].State == HardOffline || !peerFenced))
			}
		}
		switch {
		case s.Kind == plan.KindSetVariable && s.ID == s.Host+":set_variable:read_only" && s.Host != w.writer:
			ok = true // fence: read_only ON on a non-writer
		case s.Kind == plan.KindSetVariable && s.ID == s.Host+":set_variable:read_only" && s.Host == w.writer:
			// The writer is read-only: its agent fenced it when its lease ran
			// out (the monitor was cut off from it for a while). Diff agrees it
			// is the writer, so no other master is writable: lift it again.
			ok = w.machine.Hosts[s.Host].State == Online && !w.leases.Fenced(s.Host)
		case w.problems[s.Host] != "" || peerProblem:
		case s.Kind == plan.KindSetVariable && s.Host == w.writer && strings.Contains(s.ID, "semi_sync_master") && strings.HasSuffix(s.Change, "OFF -> ON"):
			// Semi-sync back on once the writer's peer can acknowledge again
			// (failover turned it off when no promotable host was left).
			h := w.c.Host(s.Host)
			ok = h != nil && h.Peer != "" && w.machine.Hosts[h.Peer] != nil && w.machine.Hosts[h.Peer].State == Online
		case s.Kind == plan.KindSetVariable && !strings.HasSuffix(s.ID, ":gtid_slave_pos") && !strings.HasSuffix(s.ID, ":gtid_purged"):
			// Settings a restart lost (SET GLOBAL does not survive one): the
			// semi-sync replica side above all, without which the writer's
			// acknowledgements mean nothing.
			ok = true
		case s.Kind == plan.KindChangeSource:
			ok = true
		case s.Kind == plan.KindStopReplica || s.Kind == plan.KindStartReplica:
			ok = rejoining || (s.Host == w.writer && peerRejoining(w, s.Host)) || keepsChain(d, s, keep)
		}
		if !ok {
			continue
		}
		for _, dep := range s.DependsOn {
			if !keep[dep] && d.Step(dep) != nil && d.Step(dep).Host != s.Host {
				ok = false
			}
		}
		if ok {
			keep[s.ID] = true
			s.DependsOn = keptOnly(s.DependsOn, keep)
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return
	}
	p := *d
	p.Steps = steps
	p.Notes = append([]string{"watch: repoint replicas to the writer " + w.writer}, p.Notes...)
	w.execute(ctx, "reconcile", &p)
}

// reconcileInput is what the reconcile decides on, as a string: the
// writer, each host's state, problem and rejoin bookkeeping, and the live
// fields its kept steps change (read_only, the settings a restart loses,
// the replication source and threads). Equal inputs give an equal diff.
func (w *Watch) reconcileInput(live *topology.Live) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %v;", w.writer, w.leases.Fenced(w.writer))
	for _, h := range w.c.Hosts {
		var state State
		if hs := w.machine.Hosts[h.Name]; hs != nil {
			state = hs.State
		}
		_, rejoining := w.failoverPos[h.Name]
		fmt.Fprintf(&b, "%s %s %q %q %v ", h.Name, state, w.problems[h.Name], w.aheadAfterFailover[h.Name], rejoining)
		lh := live.Hosts[h.Name]
		if lh == nil || !lh.Reachable {
			b.WriteString("-;")
			continue
		}
		fmt.Fprintf(&b, "%v %v %v %v %v %d %d %d", lh.ReadOnly, lh.SuperReadOnly, lh.SemiSyncMasterEnabled, lh.SemiSyncSlaveEnabled,
			lh.LogSlaveUpdates, lh.AutoIncrementIncrement, lh.AutoIncrementOffset, lh.ReplicaNetTimeout)
		if r := lh.Replica; r != nil {
			fmt.Fprintf(&b, " %s:%d %s %s %s %s", r.SourceHost, r.SourcePort, r.SourceUser, r.UsingGTID, r.IORunning, r.SQLRunning)
		}
		b.WriteString(";")
	}
	return b.String()
}

func peerRejoining(w *Watch, host string) bool {
	h := w.c.Host(host)
	if h == nil || h.Peer == "" {
		return false
	}
	_, ok := w.failoverPos[h.Peer]
	return ok
}

// keepsChain: a stop/start around a kept change_source of the same host.
func keepsChain(d *plan.Plan, s plan.Step, keep map[string]bool) bool {
	if s.Kind == plan.KindStartReplica {
		for _, dep := range s.DependsOn {
			if keep[dep] {
				return true
			}
		}
		return false
	}
	// stop_replica comes before its change_source: keep it when one follows.
	return d.Step(s.Host+":"+string(plan.KindChangeSource)+":replica") != nil
}

func keptOnly(ids []string, keep map[string]bool) []string {
	var out []string
	for _, id := range ids {
		if keep[id] {
			out = append(out, id)
		}
	}
	return out
}

// promoting clears what keeps host's lease from being renewed, before a plan
// makes it the writer: an old writer that came back ONLINE is still "fenced"
// until a later round sees it replicate, and a new writer whose lease is not
// renewed would lose the writer VIP (and be set read_only by its own agent)
// one lease after its promotion.
func (w *Watch) promoting(host string) {
	w.leases.SetFenced(host, false)
	delete(w.failoverPos, host)
}

// afterRound clears the rejoin bookkeeping of an old writer that is ONLINE
// and replicates from the writer again.
// followSemiSync watches the writer's effective semi-sync state when the
// file asks for semi-sync: a writer that waited the timeout in vain falls
// back to asynchronous replication, and what it acknowledges meanwhile may
// exist on it alone. That is said loudly (log, event, status, metric), as is
// the return of acknowledgements; a failover meanwhile names the window.
func (w *Watch) followSemiSync(live *topology.Live) {
	if !w.c.Replication.SemiSync || w.writer == "" {
		w.semiSyncOff, w.semiSyncHost = time.Time{}, ""
		return
	}
	if w.semiSyncHost != w.writer {
		w.semiSyncOff, w.semiSyncHost = time.Time{}, w.writer
	}
	active, known, why := writerSemiSync(live.Hosts[w.writer])
	if !known {
		return
	}
	now := w.cfg.Now()
	switch {
	case !active && w.semiSyncOff.IsZero():
		w.semiSyncOff = now
		w.log.Error("the writer runs without semi-sync: writes acknowledged now may exist on the writer alone", "writer", w.writer, "why", why)
		w.event("semi-sync OFF on %s (%s): asynchronous until a promotable host acknowledges again; a failover now may lose acknowledged writes", w.writer, why)
	case active && !w.semiSyncOff.IsZero():
		w.log.Info("semi-sync acknowledgements are back on the writer", "writer", w.writer, "off_for", now.Sub(w.semiSyncOff).Round(time.Millisecond).String())
		w.event("semi-sync active again on %s (it was off for %s)", w.writer, now.Sub(w.semiSyncOff).Round(time.Millisecond))
		w.semiSyncOff = time.Time{}
	}
}

// writerSemiSync reads the writer's semi-sync state: active when its source
// side is on and waiting for acknowledgements; inactive, with why, when it
// fell back to asynchronous replication or the source side is off (a
// failover with no other promotable host turns it off). known is false when
// the writer was not seen or did not say.
func writerSemiSync(lh *topology.LiveHost) (active, known bool, why string) {
	switch {
	case lh == nil || !lh.Reachable:
		return false, false, ""
	case !lh.SemiSyncMasterEnabled:
		return false, true, "its source side is off"
	case lh.SemiSyncSourceActive == nil:
		return false, false, ""
	case !*lh.SemiSyncSourceActive:
		return false, true, "no promotable host acknowledged within the timeout"
	}
	return true, true, ""
}

// semiSyncReport is the writer's semi-sync state for Report.
func (w *Watch) semiSyncReport() string {
	switch {
	case !w.c.Replication.SemiSync || w.writer == "":
		return ""
	case !w.semiSyncOff.IsZero():
		return fmt.Sprintf("OFF since %s: asynchronous, acknowledged writes may exist on %s alone", w.semiSyncOff.Format(time.TimeOnly), w.writer)
	}
	if w.lastLive != nil {
		if active, known, _ := writerSemiSync(w.lastLive.Hosts[w.writer]); known && active {
			return "active"
		}
	}
	return "unknown"
}

func (w *Watch) afterRound(live *topology.Live) {
	for host := range w.failoverPos {
		hs := w.machine.Hosts[host]
		lh := live.Hosts[host]
		if hs == nil || hs.State != Online || lh == nil || !lh.Reachable || lh.Replica == nil || !lh.Replica.Running() {
			continue
		}
		if wh := w.c.Host(w.writer); wh != nil && (lh.Replica.SourceHost == wh.Address || lh.Replica.SourceHost == wh.Name) {
			delete(w.failoverPos, host)
			w.leases.SetFenced(host, false)
			w.event("%s rejoined as a replica of %s", host, w.writer)
		}
	}
}

// agentWarning says what is wrong with host's agent, for `mmm show`: an
// agent that does not answer while its server does cannot enforce the lease
// of the writer, so the watch will not fail such a writer over without
// monitor.fence_hook.
func (w *Watch) agentWarning(host string, writer bool) string {
	if w.cfg.Agents == nil {
		return ""
	}
	f := w.facts.Get(host)
	if f.AgentErr == nil || f.AgentAt.IsZero() || f.AgentOKAt.After(f.AgentAt) {
		if f.AgentVia != "" {
			return fmt.Sprintf("the monitor reaches %s's agent only through %s's agent (relay): its own way to %s is lost; the lease goes through the relay", host, f.AgentVia, host)
		}
		return ""
	}
	// Only while its server answers: a host that is gone as a whole is the
	// detector's business, not a dead agent.
	if answered := f.ServerAnsweredAt(); time.Since(answered) > w.hostLostAfter() || !answered.After(f.AgentOKAt) {
		return ""
	}
	since := "never answered"
	if !f.AgentOKAt.IsZero() {
		since = "not answering since " + f.AgentOKAt.Format(time.TimeOnly)
	}
	msg := fmt.Sprintf("agent %s: %s (%v)", since, host, f.AgentErr)
	if writer {
		msg += "; the writer's lease is NOT enforced: if this host is lost, no failover without monitor.fence_hook"
		if len(w.c.Monitor.FenceHook) > 0 {
			msg = fmt.Sprintf("agent %s: %s (%v); the writer's lease is not enforced: a lost host will be fenced by monitor.fence_hook before a failover", since, host, f.AgentErr)
		}
	}
	return msg
}
