package watch

// The actor: what the watch does once the detector found the writer dead —
// choose, fence, promote on fresh connections, record.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mysql-mmm/mmm/apply"
	"github.com/mysql-mmm/mmm/internal/agent"
	"github.com/mysql-mmm/mmm/internal/topology"
	"github.com/mysql-mmm/mmm/plan"
)

// checkWriter applies the detection rules to the writer's latest facts and
// fails over when it is dead.
func (w *Watch) checkWriter(ctx context.Context, live *topology.Live) {
	if w.writer == "" && !w.adoptWriter(live) {
		return
	}
	f := w.detect(live)
	v, why := f.Verdict, f.Why
	if v != w.verdict || why != w.verdictWhy {
		switch v {
		case WriterAlive:
			if w.verdict != "" && w.verdict != WriterAlive {
				w.log.Info("writer reachable again", "writer", w.writer)
			}
		case WriterUnreachable:
			if w.verdict != WriterUnreachable {
				w.log.Warn("writer unreachable, not failing over", "writer", w.writer, "why", why)
				w.event("writer %s unreachable (no failover): %s", w.writer, why)
			} else {
				w.log.Debug("writer unreachable, not failing over", "writer", w.writer, "why", why)
			}
		case WriterDead:
			w.log.Error("writer dead", "writer", w.writer, "fault", f.Kind, "why", why)
			w.event("writer %s dead (%s): %s", w.writer, f.Kind, why)
		}
	}
	w.verdict, w.verdictWhy = v, why
	if v == WriterDead {
		w.failover(ctx, live, f)
	}
}

// adoptWriter takes as the writer the one writable master of a cluster the
// watch found without one (started before `mmm apply` converged it): reality
// wins, as at start-up. Two writable masters are the second-writer fence's
// business, not a writer to adopt.
func (w *Watch) adoptWriter(live *topology.Live) bool {
	writers := plan.LiveWriters(w.c, live)
	if writers == "" || strings.Contains(writers, "+") {
		return false
	}
	w.setWriter(writers)
	w.log.Warn("a writer appeared: the watch had none and takes the one writable master", "writer", writers)
	w.event("%s is the writer: the watch had none, and it is the one writable master (made so outside the watch, e.g. by mmm apply)", writers)
	w.save()
	return true
}

// detect builds the detector's input from the facts.
func (w *Watch) detect(live *topology.Live) Finding {
	if w.cfg.Agents == nil {
		// No agents, no witnesses: the replicas confirm what the monitor's
		// checks (with their trap period) say.
		lost := !w.tracker.OK(w.writer, CheckPing) || !w.tracker.OK(w.writer, CheckMySQL)
		v, why := JudgeWriter(w.c, w.writer, lost, live)
		return Finding{Verdict: v, Kind: FaultHostLost, Why: why}
	}
	lost, see := replicaViews(w.c, w.writer, live)
	return Detect(DetectInput{
		Now: time.Now(), Writer: w.writer, Facts: w.facts.Get(w.writer),
		ReplicasLost: lost, ReplicasSee: see,
		HostLostAfter: w.hostLostAfter(), Fresh: w.hostLostAfter(), FrozenAfter: 2 * w.probePeriod(),
		Agents: true,
	})
}

// failover replaces the dead writer: choose, run the pre hook, fence, plan,
// execute (again on fresh connections until the promotion is complete),
// record.
func (w *Watch) failover(ctx context.Context, live *topology.Live, f Finding) {
	dead := w.writer
	why := f.Why
	states := w.states()
	choice := ChooseCandidate(w.c, dead, states, live, w.writerPos)
	if choice.Host == "" {
		msg := "failover of " + dead + " impossible: " + choice.Explain()
		if w.lastFailure != msg {
			w.log.Error("no failover", "why", msg)
			w.event("%s", msg)
		}
		w.lastFailure = msg
		return
	}
	cand := choice.Host
	w.setBusy(fmt.Sprintf("failover of %s to %s since %s", dead, cand, time.Now().Format("15:04:05.000")))
	defer w.setBusy("")
	if msg := w.asyncLoss(dead, cand, live); msg != "" {
		if w.lastFailure != msg {
			w.log.Error("no automatic failover: it would lose acknowledged writes", "why", msg)
			w.event("%s", msg)
		}
		w.lastFailure = msg
		return
	}
	t0 := time.Now()
	w.log.Warn("failover", "dead", dead, "fault", f.Kind, "candidate", cand, "choice", choice.Explain())
	env := []string{"MMM_EVENT=failover", "MMM_CLUSTER=" + w.c.Name, "MMM_OLD_WRITER=" + dead, "MMM_NEW_WRITER=" + cand, "MMM_REASON=" + why}
	if err := runHook(ctx, w.c.Monitor.PreFailover, env, time.Minute); err != nil {
		msg := fmt.Sprintf("failover of %s to %s aborted by the pre_failover hook: %v", dead, cand, err)
		w.log.Error("failover aborted", "why", msg)
		w.event("%s", msg)
		w.lastFailure = msg
		return
	}
	late := releaseLate(f, w.agentAnswers(dead))
	var fence string
	var err error
	if late {
		// No renewal from now on; its VIPs leave it in the plan, right
		// before the new writer takes them.
		w.leases.SetFenced(dead, true)
		fence = lateFence
	} else if fence, err = w.fenceOld(ctx, dead, f); err != nil {
		msg := fmt.Sprintf("failover of %s to %s held: %v", dead, cand, err)
		if w.lastFailure != msg {
			w.log.Error("failover held: the old writer is not fenced", "host", dead, "error", err)
			w.event("%s", msg)
		}
		w.lastFailure = msg
		return
	}
	w.lastFailure = ""
	w.log.Warn("old writer fenced", "host", dead, "how", fence, "took", time.Since(t0).Round(time.Millisecond))
	if err := w.bumpEpoch("failover of " + dead); err != nil {
		msg := fmt.Sprintf("failover of %s to %s stopped after the fence: %v", dead, cand, err)
		w.log.Error("failover stopped: this watch no longer leads", "error", err)
		w.event("%s", msg)
		w.lastFailure = msg
		return
	}
	w.setIntent(&Intent{Kind: "failover", From: dead, To: cand, Phase: PhaseFenced})
	defer func() {
		if w.intent != nil && w.actingNow() {
			w.setIntent(nil)
		}
	}()

	dbs, closeDBs := w.freshDBs()
	defer closeDBs()
	var res execResult
	var p *plan.Plan
	promoted := false
	for attempt := 1; attempt <= 3 && !promoted; attempt++ {
		live = w.freshLive(ctx, dead)
		if late {
			w.addHeld(live, dead)
		}
		if attempt == 1 {
			// What the candidate holds once promoted (with what it fetches
			// from a slave ahead of it): the old writer's own GTIDs beyond
			// that are errant when it returns.
			if pos := plan.FailoverTarget(w.c, live, dead, cand); !pos.Empty() {
				w.failoverPos[dead] = pos.String()
			}
		}
		p = plan.Failover(w.c, live, plan.FailoverOptions{
			Dead: dead, Candidate: cand, Fenced: !late, Now: w.cfg.Now().UTC(),
			Why: fmt.Sprintf("%s; %s; fenced: %s", why, choice.Explain(), fence),
		})
		if attempt == 1 {
			w.promoting(cand)
			w.intent.Phase = PhasePromoting
			w.save()
		}
		res = w.executeWith(ctx, "failover", p, dbs)
		if late && releaseFailed(res, p, dead) {
			// The old writer's agent did not release its VIPs (it stopped
			// answering meanwhile): fence it the usual way, then move them.
			late = false
			if fence, err = w.fenceOld(ctx, dead, f); err != nil {
				msg := fmt.Sprintf("failover of %s to %s held after its promotion: %v", dead, cand, err)
				w.log.Error("failover held: the old writer is not fenced", "host", dead, "error", err)
				w.event("%s", msg)
				w.lastFailure = msg
				return
			}
			w.log.Warn("old writer fenced", "host", dead, "how", fence, "took", time.Since(t0).Round(time.Millisecond))
			continue
		}
		promoted = !res.hasFailed() && resultOf(res, cand+":"+string(plan.KindSetVariable)+":read_only") != apply.Failed
		if p.HasErrors() {
			break
		}
		if !promoted {
			w.log.Warn("failover step failed; again on fresh connections", "attempt", attempt, "error", res.err)
			closeDBs()
			dbs, closeDBs = w.freshDBs()
		}
	}
	if !promoted && !w.writable(ctx, dbs, cand) {
		msg := fmt.Sprintf("failover of %s to %s failed: %v", dead, cand, res.err)
		w.log.Error("failover failed", "error", res.err)
		w.event("%s", msg)
		w.lastFailure = msg
		return
	}
	for _, pr := range p.Problems {
		if pr.Kind == plan.ProblemReplicaAhead && pr.Host != dead {
			w.aheadAfterFailover[pr.Host] = pr.Summary
			w.problems[pr.Host] = pr.Summary
			w.log.Error("replica ahead of the new writer, not repointed", "host", pr.Host, "why", pr.Summary)
			w.event("%s", pr.Summary)
		}
	}
	if !w.semiSyncOff.IsZero() && w.semiSyncHost == dead {
		w.log.Error("the old writer ran without semi-sync acknowledgements before it died: writes it acknowledged in that window may be missing on the new writer", "old", dead, "async_since", w.semiSyncOff.Format(time.RFC3339Nano))
		w.event("WARNING: %s ran asynchronously since %s: writes it acknowledged after that may be missing on %s", dead, w.semiSyncOff.Format(time.TimeOnly), cand)
	}
	w.setWriter(cand)
	if t := w.machine.Fail(dead, fmt.Sprintf("failed over (%s): %s", f.Kind, why), w.cfg.Now()); t != nil {
		w.log.Warn("host state", "host", t.Host, "from", t.From, "to", t.To, "why", t.Reason)
		w.event("%s", t)
	}
	w.verdict, w.verdictWhy = WriterAlive, ""
	// The replicas' IO threads lost the old writer; they were repointed.
	w.tracker.Reset(CheckRepThreads)
	w.tracker.Reset(CheckRepBacklog)
	w.metrics.failovers.Inc()
	w.record(Event{Kind: "failover", Steps: stepTimings(res),
		Message: fmt.Sprintf("failover: %s is the writer in place of %s (%s; %s, took %s)", cand, dead, f.Kind, fence, time.Since(t0).Round(time.Millisecond))})
	w.log.Warn("failover done", "writer", cand, "old", dead, "took", time.Since(t0).Round(time.Millisecond), "errors", res.err)
	w.save()
	env = append(env, "MMM_RESULT=ok")
	if err := runHook(ctx, w.c.Monitor.PostFailover, env, time.Minute); err != nil {
		w.log.Error("post_failover hook failed", "error", err)
	}
}

// lateFence says how an old writer is fenced when releaseLate.
const lateFence = "no more renewals, and its server is down (nothing listens on its port); its VIPs stay until the new writer is writable, then leave it just before the new writer takes them"

// releaseLate says whether the old writer keeps its VIPs until the new
// writer is writable, then releases them right before the new writer takes
// them (plan.Failover without Fenced), instead of being fenced first. Only
// for a crash seen from two sides (Finding.ServerDown) whose agent answers
// (it releases the VIPs when asked): nothing listens on its server's port,
// so it takes no write, and a restarted server comes up read_only (its
// configuration, docs/fencing.md). Fencing first would leave the address on
// no host for the whole promotion, and a client whose SYN goes to the old
// host meanwhile waits for its connect timeout (Linux drops packets for an
// address a host no longer has, without a reset); kept, it gets a refusal at
// once and retries.
//
// The decision reads the finding, not how recently the agent itself probed
// its server: the replicas or a witness often see the crash first, and mmm
// simulate must predict the same path whichever side saw it first.
func releaseLate(f Finding, agentAnswers bool) bool {
	return f.Verdict == WriterDead && f.Kind == FaultCrash && f.ServerDown && agentAnswers
}

// agentAnswers: host's agent answered within host_lost_after.
func (w *Watch) agentAnswers(host string) bool {
	f := w.facts.Get(host)
	return w.cfg.Agents != nil && f.Agent != nil && !f.AgentOKAt.IsZero() && time.Since(f.AgentOKAt) <= w.hostLostAfter()
}

// addHeld makes live say host holds what the watch last granted it, beside
// what its agent last reported, so the plan releases all of it.
func (w *Watch) addHeld(live *topology.Live, host string) {
	if live.VIPs == nil {
		return
	}
	for _, r := range w.leases.Held(host) {
		if !contains(live.VIPs[r.IP], host) {
			live.VIPs[r.IP] = append(live.VIPs[r.IP], host)
		}
	}
}

// releaseFailed: a step releasing one of host's VIPs failed or did not run.
func releaseFailed(res execResult, p *plan.Plan, host string) bool {
	for _, s := range p.Steps {
		if s.Kind == plan.KindReleaseVIP && s.Host == host {
			if r := resultOf(res, s.ID); r == apply.Failed || r == apply.NotRun {
				return true
			}
		}
	}
	return false
}

// writable reads whether host is writable now (a failover whose later steps
// failed still made it the writer once read_only is off).
func (w *Watch) writable(ctx context.Context, dbs apply.Databases, host string) bool {
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	db, err := dbs.DB(qctx, host)
	if err != nil {
		return false
	}
	var ro int
	return db.QueryRowContext(qctx, "SELECT @@global.read_only").Scan(&ro) == nil && ro == 0
}

// freshDBs opens new connections for one failover: a pooled connection to a
// host that just failed may be dead and cost seconds.
func (w *Watch) freshDBs() (apply.Databases, func()) {
	if w.cfg.FailoverDBs == nil {
		return w.cfg.DBs, func() {}
	}
	dbs := w.cfg.FailoverDBs()
	return dbs, func() {
		if c, ok := dbs.(interface{ Close() }); ok {
			c.Close()
		}
	}
}

// freshLive inspects every host but the fenced old writer again, in
// parallel (each with its own deadline), for the failover plan; the old
// writer counts as unreachable: it is fenced, nothing is asked of it.
func (w *Watch) freshLive(ctx context.Context, dead string) *topology.Live {
	live := w.liveFromFacts(time.Now())
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range w.c.Hosts {
		if h.Name == dead {
			continue
		}
		wg.Go(func() {
			// A reader of its own: a fresh connection, not the probe
			// loop's (which may be stuck on a dead one).
			ictx, cancel := context.WithTimeout(ctx, w.inspectTimeout())
			r := w.newReader(h.Name)
			lh := r.Full(ictx)
			r.Close()
			cancel()
			mu.Lock()
			live.Hosts[h.Name] = lh
			mu.Unlock()
		})
	}
	wg.Wait()
	if lh := live.Hosts[dead]; lh != nil {
		cp := *lh
		cp.Reachable, cp.Error = false, dead+" is fenced"
		live.Hosts[dead] = &cp
	}
	return live
}

// fenceOld makes sure the old writer can neither hold the writer VIP nor
// take writes, before anything is promoted, and says how:
//   - its agent answers: it fences the host now (VIP dropped, read_only and
//     client sessions killed, or the server SIGKILLed when read_only cannot
//     be set) and reports it complete;
//   - its agent answered until the host was lost: the lease it holds is
//     enforced by the agent itself; wait until every grant ever sent to it
//     surely ran out (leases.Bound);
//   - its agent was dead before: nobody enforces the lease; only
//     monitor.fence_hook (power off) may fence it. Without one, no
//     promotion: an error says why.
//
// Renewals to old stop first, so the bound cannot move while we wait.
func (w *Watch) fenceOld(ctx context.Context, old string, f Finding) (string, error) {
	w.leases.SetFenced(old, true)
	if w.cfg.Agents == nil {
		return "no agents: VIPs are not managed", nil
	}
	facts := w.facts.Get(old)
	now := time.Now()
	agentUp := facts.Agent != nil && now.Sub(facts.AgentOKAt) <= w.hostLostAfter()
	var agentErr error
	if agentUp {
		st, err := w.agentFence(ctx, old, f.Why)
		if err == nil && st.Fence != nil && st.Fence.Complete {
			w.leases.SetHeld(old, fromAgentRoles(st.Roles))
			return "its agent fenced it (" + describeFence(st.Fence) + ")", nil
		}
		agentErr = err
		if err == nil && st.Fence != nil {
			agentErr = fmt.Errorf("its agent's fence is incomplete: %s", describeFence(st.Fence))
		}
		w.log.Warn("the old writer's agent could not fence it", "host", old, "error", agentErr)
	}
	// The lease is enforced by an agent that was alive while the host was:
	// it answered within one lease of the host's last answer.
	last := facts.LastContact()
	enforced := !facts.AgentOKAt.IsZero() && !facts.AgentOKAt.Before(last.Add(-w.lease()))
	if !facts.AgentFailSince.IsZero() && facts.ServerAnsweredAt().After(facts.AgentFailSince) {
		// Its agent failed while its server still answered: dead or stuck
		// before the host was lost. Nobody drops the VIP or sets read_only
		// when the lease runs out.
		enforced = false
	}
	if last.IsZero() && w.agentsUpAtStart[old] {
		// This watch process never heard of the host (it was lost while the
		// watch restarted); the previous process saw its agent answer.
		enforced = true
	}
	if enforced && (agentErr == nil || f.Kind == FaultHostLost || f.Kind == FaultCrash) {
		// A renewal that checked "fenced" just before SetFenced may still
		// be taking its nonce: let it finish, so the bound is final.
		w.leases.lockHost(old)()
		bound := w.leases.Bound(old)
		// Grants a previous watch process sent echo nonces issued before we
		// started: they ran out one lease (+ margin) after our start.
		if b := w.started.Add(w.lease() + leaseMargin(w.lease())); b.After(bound) {
			bound = b
		}
		if w.c.Agent.Failsafe {
			// It may hold its roles on failsafe (no watch renewed it, every
			// other agent confirmed): until a lease after the others are
			// renewed again without a break.
			fb, ok := w.leases.FailsafeBound(old, time.Now())
			if !ok {
				w.leases.SetFenced(old, false)
				return "", fmt.Errorf("no other agent is renewed by this watch now, so %s may hold its roles on failsafe (agent.failsafe): no promotion until the watch reaches the other agents", old)
			}
			if fb.After(bound) {
				bound = fb
			}
		}
		if wait := time.Until(bound); wait > 0 {
			w.log.Info("waiting until every grant sent to the old writer ran out", "host", old, "wait", wait.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(wait):
			}
		}
		w.leases.Forget(old)
		return fmt.Sprintf("its lease ran out (every grant sent to it ended by %s; its agent fences the host at lease end)", bound.Format("15:04:05.000")), nil
	}
	if hook := w.c.Monitor.FenceHook; len(hook) > 0 {
		h := w.c.Host(old)
		env := []string{"MMM_EVENT=fence", "MMM_CLUSTER=" + w.c.Name, "MMM_HOST=" + old, "MMM_ADDRESS=" + h.Address, "MMM_REASON=" + f.Why}
		t0 := time.Now()
		if err := runHook(ctx, hook, env, 30*time.Second); err != nil {
			w.leases.SetFenced(old, false)
			return "", fmt.Errorf("fence_hook failed for %s: %w", old, err)
		}
		w.leases.Forget(old)
		w.event("fence_hook fenced %s in %s", old, time.Since(t0).Round(time.Millisecond))
		return "fence_hook confirmed it is off", nil
	}
	w.leases.SetFenced(old, false)
	if agentErr != nil {
		return "", fmt.Errorf("%s's agent could not fence it (%v) and monitor.fence_hook is not set", old, agentErr)
	}
	return "", fmt.Errorf("%s's agent stopped answering at %s, before the host was lost, so nothing enforces its lease (its VIP and a writable server may still serve clients); set monitor.fence_hook to power it off, or fence it by hand and run `mmm move-role`",
		old, facts.AgentOKAt.Format("15:04:05.000"))
}

// agentFence asks old's agent to fence its host now.
func (w *Watch) agentFence(ctx context.Context, old, why string) (*agent.Status, error) {
	unlock := w.leases.lockHost(old)
	defer unlock()
	// The agent's escalation: read_only (~300ms), then SIGKILL and its
	// confirmation.
	fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	n, err := w.nonceFor(fctx, old)
	if err != nil {
		return nil, err
	}
	return w.cfg.Agents.Fence(fctx, old, agent.FenceRequest{Cluster: w.c.Name, Host: old, Epoch: w.epochNow(), Nonce: n, Why: why})
}

func describeFence(r *agent.FenceReport) string {
	var parts []string
	if len(r.VIPsDropped) > 0 {
		parts = append(parts, "dropped "+strings.Join(r.VIPsDropped, ", "))
	}
	switch {
	case r.ServerKilled:
		parts = append(parts, "server killed (read_only could not be set in time)")
	case r.ServerDown:
		parts = append(parts, "server down")
	case r.ReadOnly:
		parts = append(parts, "read_only set")
	}
	if r.SessionsKilled > 0 {
		parts = append(parts, fmt.Sprintf("%d sessions killed", r.SessionsKilled))
	}
	if r.Error != "" {
		parts = append(parts, "error: "+r.Error)
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, "; ")
}

// asyncLoss refuses a promotion that would lose writes the old writer
// acknowledged without semi-sync: when it ran asynchronously before it
// failed (its promotable peer was away), what it acknowledged may exist on
// it alone, so the candidate must hold everything the old writer was last
// seen to have written. With semi-sync acknowledging, an acknowledged write
// is on the candidate by construction and no such check is needed (the old
// writer's last position may hold commits nobody acknowledged).
func (w *Watch) asyncLoss(dead, cand string, live *topology.Live) string {
	if w.semiSyncOff.IsZero() || w.semiSyncHost != dead || w.writerPos.Empty() {
		return ""
	}
	lc := live.Hosts[cand]
	if lc == nil || !lc.Reachable {
		return ""
	}
	have := plan.Received(lc)
	missing := w.writerPos.Subtract(have)
	if missing.Empty() {
		return ""
	}
	// A slave that has it all: the candidate fetches it from there before
	// its promotion (plan.Failover's catch-up).
	for _, h := range w.c.Hosts {
		lh := live.Hosts[h.Name]
		if h.Name == dead || h.Name == cand || lh == nil || !lh.Reachable || !lh.LogBin || !lh.LogSlaveUpdates {
			continue
		}
		if pos := plan.Executed(lh); pos.Contains(have) && pos.Contains(w.writerPos) {
			return ""
		}
	}
	return fmt.Sprintf("failover of %s to %s refused: %s ran without semi-sync acknowledgements since %s, and %s lacks %s that %s wrote and may have acknowledged; promoting it would lose them. Bring %s back: it stays the writer and nothing is lost (promoting %s anyway is an operator's decision)",
		dead, cand, dead, w.semiSyncOff.Format("15:04:05.000"), cand, missing, dead, dead, cand)
}
